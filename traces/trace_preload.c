/* trace_preload: the small library `migbench trace record` preloads into the command it
 * records (LD_PRELOAD).  It must not depend on anything but libc, and is built without
 * sanitizers, since it is loaded into arbitrary programs.
 *
 * Why it exists: a userfaultfd acts on the memory of the process that created it, so the
 * write-protect tracking (UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN) needs a userfaultfd created
 * inside the recorded process.  The constructor creates one and hands it to the recorder
 * over the inherited socket (SCM_RIGHTS), then waits until the recorder has registered and
 * write-protected the process's memory, so recording starts before main().  The destructor
 * tells the recorder the process is exiting and waits for its last sample, so the final
 * writes are not lost whatever the timing.
 *
 * Only the process the recorder started (MIGBENCH_REC_PID) talks to the recorder; children
 * that inherit LD_PRELOAD do nothing.  Messages: "hello <pid> <errno>" (+ the fd when errno
 * is 0), "exit <pid>"; the recorder answers each with one byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static int rec_sock(void)
{
    const char *fd = getenv("MIGBENCH_REC_FD"), *pid = getenv("MIGBENCH_REC_PID");
    if (!fd || !pid || atol(pid) != (long)getpid())
        return -1;
    return atoi(fd);
}

static void send_msg(int sock, const char *text, int fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec io = { (void *)text, strlen(text) };
    struct msghdr m;

    memset(&m, 0, sizeof(m));
    memset(ctl, 0, sizeof(ctl));
    m.msg_iov = &io;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        m.msg_control = ctl;
        m.msg_controllen = sizeof(ctl);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    while (sendmsg(sock, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void wait_reply(int sock)
{
    char b;
    while (recv(sock, &b, 1, 0) < 0 && errno == EINTR)
        ;
}

__attribute__((constructor)) static void rec_start(void)
{
    int sock = rec_sock();
    if (sock < 0)
        return;
    int saved = errno;
    int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (uffd < 0 && errno == EINVAL) /* kernels before 5.11 lack UFFD_USER_MODE_ONLY */
        uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    char msg[64];
    snprintf(msg, sizeof(msg), "hello %ld %d", (long)getpid(), uffd < 0 ? errno : 0);
    send_msg(sock, msg, uffd);
    if (uffd >= 0)
        close(uffd); /* the recorder holds its own reference */
    wait_reply(sock);
    errno = saved;
}

__attribute__((destructor)) static void rec_exit(void)
{
    int sock = rec_sock();
    if (sock < 0)
        return;
    int saved = errno;
    char msg[64];
    snprintf(msg, sizeof(msg), "exit %ld", (long)getpid());
    send_msg(sock, msg, -1);
    wait_reply(sock);
    errno = saved;
}
