/* trace_record: `migbench trace record`, traces of real programs on this machine.
 *
 * Either starts a command (with the preload library, trace_preload.c, which hands the
 * recorder a userfaultfd from inside the process and synchronises the first and last
 * samples with it) or attaches to a running process (--pid; then uffd-wp is impossible and
 * soft-dirty or mem-hash is used).  Every interval it takes a sample with the chosen method
 * (trace_record_methods.c) and appends the written pages as one epoch.
 *
 * The trace's RAM layout is only known at the end (mappings come and go), so epochs go to a
 * provisional trace first and are copied, streaming, into the final file with the real
 * header.  The preload library is embedded in the binary (trace_preload_blob.S) and written
 * to a private temporary directory at record time, so `migbench` records wherever it runs. */
#include "trace_record_impl.h"

#include "mb_error.h"
#include "mb_progress.h"
#include "mb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern const uint8_t trace_preload_blob[], trace_preload_blob_end[];
extern char **environ;

#define HELLO_TIMEOUT_NS (5 * 1000000000LL)

typedef struct {
    const TraceRecordOptions *o;
    RecState st;
    int64_t interval;
    pid_t pid;
    bool child, started, gone, reaped, exiting;
    int sock, pidfd, sigfd;
    sigset_t oldmask;
    char *tmpdir, *preload;
    TraceWriter *w;
    char *raw_path;
    int64_t t0, t_end;
    uint64_t samples, events;
    int exit_status;
    GString *notes;
    MbProgress prog;
} Rec;

/* ---- starting the command ---- */

static bool write_preload(Rec *r, GError **err)
{
    if (r->o->preload_path) {
        r->preload = g_strdup(r->o->preload_path);
        return true;
    }
    GError *e = NULL;
    r->tmpdir = g_dir_make_tmp("migbench-record-XXXXXX", &e);
    if (!r->tmpdir) {
        mb_error_set(err, "cannot create a temporary directory: %s", e->message);
        g_error_free(e);
        return false;
    }
    r->preload = g_build_filename(r->tmpdir, "libmbpreload.so", NULL);
    if (!g_file_set_contents(r->preload, (const char *)trace_preload_blob,
                             trace_preload_blob_end - trace_preload_blob, &e) ||
        g_chmod(r->preload, 0755) != 0) {
        mb_error_set(err, "cannot write the preload library: %s", e ? e->message : "chmod");
        g_clear_error(&e);
        return false;
    }
    return true;
}

/* Writes a decimal number into buf (async-signal-safe, for the child after fork). */
static void put_num(char *buf, long v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *buf++ = tmp[--n];
    *buf = 0;
}

static bool start_child(Rec *r, GError **err)
{
    int sv[2];
    if (!write_preload(r, err))
        return false;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        mb_error_set(err, "socketpair: %s", g_strerror(errno));
        return false;
    }
    /* The environment, prepared before fork: only async-signal-safe work after it. */
    GPtrArray *env = g_ptr_array_new_with_free_func(g_free);
    const char *old_preload = g_getenv("LD_PRELOAD");
    for (char **e = environ; *e; e++)
        if (!g_str_has_prefix(*e, "LD_PRELOAD=") && !g_str_has_prefix(*e, "MIGBENCH_REC_"))
            g_ptr_array_add(env, g_strdup(*e));
    g_ptr_array_add(env, old_preload && *old_preload
                             ? g_strdup_printf("LD_PRELOAD=%s:%s", r->preload, old_preload)
                             : g_strdup_printf("LD_PRELOAD=%s", r->preload));
    g_ptr_array_add(env, g_strdup_printf("MIGBENCH_REC_FD=%d", sv[1]));
    char *pidvar = g_strdup("MIGBENCH_REC_PID=0000000000000000000000");
    g_ptr_array_add(env, pidvar);
    g_ptr_array_add(env, NULL);
    char **argv = r->o->argv;

    pid_t pid = fork();
    if (pid == 0) {
        fcntl(sv[1], F_SETFD, 0); /* the child end survives exec */
        put_num(pidvar + strlen("MIGBENCH_REC_PID="), (long)getpid());
        sigprocmask(SIG_SETMASK, &r->oldmask, NULL); /* the child is single-threaded */
        execvpe(argv[0], argv, (char **)env->pdata);
        char msg[32] = "execfail ";
        put_num(msg + 9, errno);
        send(sv[1], msg, strlen(msg), MSG_NOSIGNAL);
        _exit(127);
    }
    int fork_errno = errno;
    g_ptr_array_unref(env);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        mb_error_set(err, "fork: %s", g_strerror(fork_errno));
        return false;
    }
    r->pid = pid;
    r->child = true;
    r->sock = sv[0];
    return true;
}

/* ---- the provisional and the final trace ---- */

static bool open_raw(Rec *r, GError **err)
{
    TraceHeader h;
    trace_header_init(&h);
    h.duration_ns = INT64_MAX;
    trace_header_add_block(&h, "ram", 1ULL << 44, false);
    trace_header_add_block(&h, "shared", 1ULL << 44, true);
    h.method = r->st.method;
    r->raw_path = g_strdup_printf("%s.rec", r->o->output);
    r->w = trace_writer_new(r->raw_path, &h, 1, err);
    trace_header_clear(&h);
    return r->w != NULL;
}

static void provenance(Rec *r, GString *p)
{
    struct utsname u;
    GDateTime *now = g_date_time_new_now_utc();
    gchar *date = g_date_time_format_iso8601(now);
    char iv[32];

    if (r->child) {
        gchar *cmd = g_strjoinv(" ", r->o->argv);
        gchar *cwd = g_get_current_dir();
        g_string_append_printf(p, "command: %s\ncwd: %s\n", cmd, cwd);
        g_free(cmd);
        g_free(cwd);
    } else {
        gchar *comm = NULL, *path = g_strdup_printf("/proc/%d/comm", (int)r->pid);
        g_file_get_contents(path, &comm, NULL, NULL);
        g_string_append_printf(p, "pid: %d (%s)\n", (int)r->pid, comm ? g_strstrip(comm) : "?");
        g_free(comm);
        g_free(path);
    }
    g_string_append_printf(p, "method: %s\n", trace_method_name(r->st.method));
    g_string_append_printf(p, "interval: %s\n", mb_fmt_duration(iv, sizeof(iv), r->interval));
    g_string_append_printf(p, "date: %s\n", date);
    if (uname(&u) == 0)
        g_string_append_printf(p, "host: Linux %s %s\n", u.release, u.machine);
    g_string_append_printf(p, "tool: migbench %s\n", MB_VERSION);
    g_string_append_printf(p, "samples: %" G_GUINT64_FORMAT "\n", r->samples);
    if (r->child && WIFEXITED(r->exit_status))
        g_string_append_printf(p, "exit: status %d\n", WEXITSTATUS(r->exit_status));
    else if (r->child && WIFSIGNALED(r->exit_status))
        g_string_append_printf(p, "exit: signal %d\n", WTERMSIG(r->exit_status));
    g_string_append(p, r->notes->str);
    rec_describe_map(&r->st, p);
    g_free(date);
    g_date_time_unref(now);
}

static bool write_final(Rec *r, GError **err)
{
    TraceHeader h;
    GString *prov = g_string_new("");
    bool ok = trace_writer_finish(r->w, err);
    r->w = NULL;
    if (!ok)
        return false;

    trace_header_init(&h);
    h.method = r->st.method;
    h.duration_ns = MAX(r->t_end - r->t0, 1);
    h.content_seed = 1;
    for (unsigned b = 0; b < 2; b++) {
        uint64_t pages = (r->st.next_page[b] + 511) / 512 * 512;
        if (b == REC_BLOCK_RAM || pages)
            trace_header_add_block(&h, b ? "shared" : "ram", MAX(pages, 512) * 4096, b != 0);
    }
    provenance(r, prov);
    trace_header_set_provenance(&h, prov->str);
    g_string_free(prov, TRUE);

    TraceSource *raw = trace_open_file(r->raw_path, err);
    TraceWriter *w = raw ? trace_writer_new(r->o->output, &h, 0, err) : NULL;
    TraceEpoch ep;
    int rc = 0;
    ok = w != NULL;
    while (ok && (rc = trace_source_next(raw, &ep, err)) > 0)
        ok = trace_writer_add(w, MIN(ep.t_ns, h.duration_ns), ep.ev, ep.n, err);
    ok = ok && rc == 0;
    if (w)
        ok = ok ? trace_writer_finish(w, err) : (trace_writer_abort(w), false);
    trace_source_free(raw);
    g_remove(r->raw_path);
    trace_header_clear(&h);
    return ok;
}

/* ---- sampling ---- */

static bool take_sample(Rec *r, GError **err)
{
    GError *e = NULL;
    int64_t t = mb_monotonic_ns() - r->t0; /* the writes found happened before the scan */
    if (!rec_sample(&r->st, &e)) {
        struct pollfd p = { r->pidfd, POLLIN, 0 };
        if (r->exiting || poll(&p, 1, 0) == 1) { /* the process is (nearly) gone: the end */
            g_error_free(e);
            r->gone = true;
            return true;
        }
        g_propagate_error(err, e);
        return false;
    }
    if (!r->st.baseline) {
        r->samples++;
        if (r->st.events->len &&
            !trace_writer_add(r->w, t, (TraceEvent *)r->st.events->data, r->st.events->len, err))
            return false;
        r->events += r->st.events->len;
    }
    r->st.baseline = false;
    if (r->o->progress) {
        char b1[32];
        mb_progress_update(&r->prog,
                           "recording pid %d (%s): %s, %" G_GUINT64_FORMAT
                           " samples, %" G_GUINT64_FORMAT " writes, %" G_GUINT64_FORMAT " pages",
                           (int)r->pid, trace_method_name(r->st.method),
                           mb_fmt_duration(b1, sizeof(b1), t), r->samples,
                           trace_writer_events(r->w), r->st.distinct);
    }
    if (r->o->on_sample)
        r->o->on_sample(r->o->opaque, r->samples);
    return true;
}

/* Starts sampling: opens /proc and takes the baseline. */
static bool begin(Rec *r, int uffd, GError **err)
{
    if (!rec_open_proc(&r->st, err))
        return false;
    if (r->st.method == TRACE_METHOD_UFFD_WP && !rec_uffd_attach(&r->st, uffd, err))
        return false;
    if (r->st.method == TRACE_METHOD_SOFT_DIRTY && write(r->st.clear_refs_fd, "4", 1) != 1) {
        mb_error_set(err, "cannot clear soft-dirty bits: %s", g_strerror(errno));
        return false;
    }
    r->st.baseline = true;
    r->started = true;
    return take_sample(r, err);
}

static void fall_back(Rec *r, const char *why)
{
    g_string_append_printf(r->notes, "note: uffd-wp unavailable (%s); used mem-hash\n", why);
    r->st.method = TRACE_METHOD_MEM_HASH;
}

/* Handles one message from the preload library.  Returns false on a fatal error. */
static bool on_message(Rec *r, GError **err)
{
    char buf[128];
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec io = { buf, sizeof(buf) - 1 };
    struct msghdr m = {
        .msg_iov = &io, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
    };
    ssize_t n = recvmsg(r->sock, &m, MSG_CMSG_CLOEXEC);
    int fd = -1;
    if (n <= 0) { /* the process closed it (or exec'd without the library) */
        close(r->sock);
        r->sock = -1;
        return true;
    }
    buf[n] = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    bool ok = true;
    if (g_str_has_prefix(buf, "execfail ")) {
        mb_error_set(err, "cannot run '%s': %s", r->o->argv[0], g_strerror(atoi(buf + 9)));
        ok = false;
    } else if (g_str_has_prefix(buf, "hello ")) {
        int uerr = atoi(strchr(buf + 6, ' ') ? strchr(buf + 6, ' ') + 1 : "0");
        if (r->st.method == TRACE_METHOD_UFFD_WP && (fd < 0 || uerr)) {
            if (r->o->method == TRACE_METHOD_UFFD_WP) {
                mb_error_set(err, "uffd-wp: the process could not create a userfaultfd: %s",
                             g_strerror(uerr ? uerr : EBADF));
                ok = false;
            } else {
                fall_back(r, "no userfaultfd in the process");
            }
        }
        if (ok && r->started) {
            /* The process exec'd: a new address space, new /proc files, a new userfaultfd. */
            g_string_append_printf(r->notes,
                                   "note: the process executed a new program after "
                                   "%" G_GUINT64_FORMAT " samples\n",
                                   r->samples);
            ok = rec_open_proc(&r->st, err);
            if (ok && r->st.method == TRACE_METHOD_UFFD_WP) {
                ok = rec_uffd_attach(&r->st, fd, err);
                fd = -1;
            }
        } else if (ok && !r->started) {
            ok = begin(r, r->st.method == TRACE_METHOD_UFFD_WP ? fd : -1, err);
            if (r->st.method == TRACE_METHOD_UFFD_WP)
                fd = -1;
        }
    } else if (g_str_has_prefix(buf, "exit ") && r->started) {
        ok = take_sample(r, err); /* the last look at the process's memory */
        r->exiting = true;
    }
    if (fd >= 0)
        close(fd);
    send(r->sock, "g", 1, MSG_NOSIGNAL);
    return ok;
}

static TraceMethod choose_method(const TraceRecordOptions *o, GString *notes, GError **err)
{
    static const TraceMethod order[] = { TRACE_METHOD_UFFD_WP, TRACE_METHOD_SOFT_DIRTY,
                                         TRACE_METHOD_MEM_HASH };
    if (o->method >= 0) {
        if (o->method == TRACE_METHOD_UFFD_WP && !o->argv) {
            mb_error_set(err, "uffd-wp needs the recorder to start the command (-- COMMAND): it "
                              "cannot reach into a running process");
            return (TraceMethod)-1;
        }
        return trace_record_selftest((TraceMethod)o->method, err) ? (TraceMethod)o->method
                                                                  : (TraceMethod)-1;
    }
    for (unsigned i = 0; i < G_N_ELEMENTS(order); i++) {
        GError *e = NULL;
        if (order[i] == TRACE_METHOD_UFFD_WP && !o->argv)
            continue;
        if (trace_record_selftest(order[i], &e))
            return order[i];
        g_string_append_printf(notes, "note: %s\n", e->message);
        g_error_free(e);
    }
    mb_error_set(err, "no recording method works on this machine");
    return (TraceMethod)-1;
}

static bool run_loop(Rec *r, GError **err)
{
    int64_t start = mb_monotonic_ns(), next = start + r->interval;
    for (;;) {
        int64_t now = mb_monotonic_ns();
        if (r->o->duration_ns && now - r->t0 >= r->o->duration_ns)
            return true;
        if (!r->started && r->child && now - start > HELLO_TIMEOUT_NS) {
            /* No word from the library (a static binary?): sample from outside. */
            if (r->o->method == TRACE_METHOD_UFFD_WP) {
                mb_error_set(err, "uffd-wp: the preload library did not start in the process "
                                  "(statically linked?)");
                return false;
            }
            if (r->st.method == TRACE_METHOD_UFFD_WP)
                fall_back(r, "the preload library did not start");
            if (!begin(r, -1, err))
                return false;
            next = now + r->interval;
        }
        if (r->started && now >= next) {
            if (!take_sample(r, err))
                return false;
            next = MAX(next + r->interval, mb_monotonic_ns());
        }
        struct pollfd fds[3] = { { r->pidfd, POLLIN, 0 },
                                 { r->sock, POLLIN, 0 },
                                 { r->sigfd, POLLIN, 0 } };
        int64_t wait_ns = r->started ? next - mb_monotonic_ns() : 100000000;
        if (r->o->duration_ns)
            wait_ns = MIN(wait_ns, r->t0 + r->o->duration_ns - mb_monotonic_ns());
        int rc = poll(fds, 3, (int)CLAMP(wait_ns / 1000000 + 1, 0, 1000));
        if (rc < 0 && errno != EINTR) {
            mb_error_set(err, "poll: %s", g_strerror(errno));
            return false;
        }
        if (rc <= 0)
            continue;
        if (fds[1].revents && !on_message(r, err))
            return false;
        if (fds[2].revents) {
            struct signalfd_siginfo si;
            if (read(r->sigfd, &si, sizeof(si)) > 0)
                g_string_append_printf(r->notes, "note: stopped by signal %u\n", si.ssi_signo);
            return true;
        }
        if (fds[0].revents) {
            r->gone = true;
            return true;
        }
    }
}

static void reap(Rec *r)
{
    if (!r->child || r->reaped)
        return;
    r->reaped = true;
    if (!r->gone) {
        struct pollfd p = { r->pidfd, POLLIN, 0 };
        kill(r->pid, SIGTERM);
        if (poll(&p, 1, 2000) == 0)
            kill(r->pid, SIGKILL);
    }
    while (waitpid(r->pid, &r->exit_status, 0) < 0 && errno == EINTR)
        ;
}

bool trace_record(const TraceRecordOptions *o, TraceRecordResult *res, GError **err)
{
    Rec r = { .o = o, .sock = -1, .pidfd = -1, .sigfd = -1, .exit_status = -1 };
    bool ok = false;

    if ((o->pid > 0) == (o->argv != NULL && o->argv[0] != NULL)) {
        mb_error_set(err, "record: give either a process id or a command");
        return false;
    }
    if (!o->output) {
        mb_error_set(err, "record: no output file");
        return false;
    }
    r.notes = g_string_new("");
    r.interval = o->interval_ns > 0 ? o->interval_ns : 50000000;
    mb_progress_init(&r.prog);
    TraceMethod method = choose_method(o, r.notes, err);
    rec_state_init(&r.st, o->pid, method);
    pthread_sigmask(SIG_SETMASK, NULL, &r.oldmask);
    if ((int)method < 0)
        goto out;
    if (o->handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
        r.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
    }
    if (o->argv && !start_child(&r, err))
        goto out;
    if (!o->argv)
        r.pid = o->pid;
    r.st.pid = r.pid;
    r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
    if (r.pidfd < 0) {
        mb_error_set(err, "process %d: %s", (int)r.pid, g_strerror(errno));
        goto out;
    }
    r.t0 = mb_monotonic_ns();
    if (!open_raw(&r, err))
        goto out;
    if (!r.child && !begin(&r, -1, err))
        goto out;
    ok = run_loop(&r, err);
    if (ok && !r.child && !r.gone)
        ok = take_sample(&r, err); /* attached: one last look before stopping */
    r.t_end = mb_monotonic_ns();
    if (r.sock >= 0) { /* unblock the process if it waits for us */
        close(r.sock);
        r.sock = -1;
    }
    reap(&r);
    if (ok && !r.started) {
        mb_error_set(err, "record: the process ended before recording could start");
        ok = false;
    }
    if (ok)
        ok = write_final(&r, err);
out:
    if (o->progress)
        mb_progress_done(&r.prog);
    if (r.sock >= 0)
        close(r.sock);
    reap(&r);
    if (r.w)
        trace_writer_abort(r.w);
    if (r.raw_path)
        g_remove(r.raw_path);
    if (r.pidfd >= 0)
        close(r.pidfd);
    if (r.sigfd >= 0) {
        close(r.sigfd);
        pthread_sigmask(SIG_SETMASK, &r.oldmask, NULL);
    }
    if (r.tmpdir) {
        g_remove(r.preload);
        g_rmdir(r.tmpdir);
    }
    if (res) {
        res->method = r.st.method;
        res->samples = r.samples;
        res->events = r.events;
        res->pages = r.st.distinct;
        res->duration_ns = r.t_end - r.t0;
        res->exit_status = r.child ? r.exit_status : -1;
    }
    rec_state_clear(&r.st);
    g_free(r.tmpdir);
    g_free(r.preload);
    g_free(r.raw_path);
    g_string_free(r.notes, TRUE);
    return ok;
}
