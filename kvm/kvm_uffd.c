/* kvm_uffd: missing guest pages on a postcopy destination, through userfaultfd
 * (kvm_uffd.h says what and why).
 *
 * One lock guards the per-page request bits and the blocktime state; the placed bits are
 * written under it too but read without it (atomics), since vCPU-side checks are hot.
 * A fault is recorded as a block only if its page is not placed yet, checked under the
 * lock; placing sets the bit under the same lock before it ends the blocks on that page,
 * so a fault message read after its page arrived never counts as a block. */
#include "kvm_uffd.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UFFD_PAGE 4096ULL

typedef struct {
    uint8_t *base;
    uint64_t npages;
    uint64_t *placed;    /* bit per page; atomic */
    uint64_t *requested; /* bit per page; under lock */
} Range;

typedef struct {
    pid_t tid;    /* 0: not named yet */
    bool blocked; /* waiting for (range, page) */
    unsigned range;
    uint64_t page;
    int64_t since;  /* ns */
    int64_t sum_ns; /* finished blocks */
} Vcpu;

struct KvmUffd {
    int fd, stop_fd;
    KvmUffdOps ops;
    void *opaque;
    GArray *ranges; /* Range */
    GThread *thread;
    GMutex lock;
    unsigned nvcpus, nblocked;
    Vcpu *vcpu;
    int64_t all_since, all_ns; /* every vCPU blocked at once */
    uint64_t requests, placed;
};

static int uffd_open(void)
{
    return (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
}

/* Opens and handshakes a userfaultfd with thread ids in fault messages; -1 with an error. */
static int uffd_open_api(GError **err)
{
    int fd = uffd_open();
    if (fd < 0) {
        int e = errno;
        if (e == ENOSYS)
            mb_error_set(err, "postcopy needs userfaultfd, which this kernel does not have "
                              "(CONFIG_USERFAULTFD)");
        else if (e == EPERM)
            mb_error_set(err, "postcopy needs userfaultfd, which this process may not use: "
                              "run as root, or with CAP_SYS_PTRACE, or set "
                              "vm.unprivileged_userfaultfd=1");
        else
            mb_error_set(err, "userfaultfd: %s", g_strerror(e));
        return -1;
    }
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_THREAD_ID };
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        mb_error_set(err, "userfaultfd: the kernel refuses thread ids in fault messages (%s)",
                     g_strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

bool kvm_uffd_available(GError **err)
{
    int fd = uffd_open_api(err);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

KvmUffd *kvm_uffd_new(unsigned nvcpus, const KvmUffdOps *ops, void *opaque, GError **err)
{
    g_assert(nvcpus >= 1 && ops && ops->request);
    int fd = uffd_open_api(err);
    if (fd < 0)
        return NULL;
    int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop < 0) {
        mb_error_set(err, "eventfd: %s", g_strerror(errno));
        close(fd);
        return NULL;
    }
    KvmUffd *u = g_new0(KvmUffd, 1);
    u->fd = fd;
    u->stop_fd = stop;
    u->ops = *ops;
    u->opaque = opaque;
    u->ranges = g_array_new(FALSE, TRUE, sizeof(Range));
    g_mutex_init(&u->lock);
    u->nvcpus = nvcpus;
    u->vcpu = g_new0(Vcpu, nvcpus);
    return u;
}

bool kvm_uffd_register(KvmUffd *u, void *base, uint64_t len, GError **err)
{
    g_assert(!u->thread);
    g_assert(((uintptr_t)base % UFFD_PAGE) == 0 && len % UFFD_PAGE == 0 && len > 0);
    struct uffdio_register reg = {
        .range = { .start = (uintptr_t)base, .len = len },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    if (ioctl(u->fd, UFFDIO_REGISTER, &reg) != 0) {
        mb_error_set(err, "userfaultfd: cannot register %llu bytes at %p: %s",
                     (unsigned long long)len, base, g_strerror(errno));
        return false;
    }
    if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)) || !(reg.ioctls & (1ULL << _UFFDIO_ZEROPAGE))) {
        mb_error_set(err, "userfaultfd: the kernel cannot fill pages of this mapping");
        return false;
    }
    Range r = { .base = base, .npages = len / UFFD_PAGE };
    r.placed = mb_bitmap_new(r.npages);
    r.requested = mb_bitmap_new(r.npages);
    g_array_append_val(u->ranges, r);
    return true;
}

unsigned kvm_uffd_nranges(const KvmUffd *u)
{
    return u->ranges->len;
}

static Range *range_at(KvmUffd *u, unsigned i)
{
    g_assert(i < u->ranges->len);
    return &g_array_index(u->ranges, Range, i);
}

static bool test_placed(const Range *r, uint64_t page)
{
    return __atomic_load_n(&r->placed[page / 64], __ATOMIC_ACQUIRE) & (1ULL << (page % 64));
}

/* Ends vCPU c's block at `now`; under the lock. */
static void end_block(KvmUffd *u, Vcpu *c, int64_t now)
{
    if (u->nblocked == u->nvcpus)
        u->all_ns += now - u->all_since;
    u->nblocked--;
    c->blocked = false;
    c->sum_ns += now - c->since;
}

/* A fault on (range, page) by thread `tid`: count the block, ask for the page once. */
static void on_fault(KvmUffd *u, uint64_t addr, pid_t tid)
{
    unsigned ri;
    Range *r = NULL;
    for (ri = 0; ri < u->ranges->len; ri++) {
        r = range_at(u, ri);
        if (addr >= (uintptr_t)r->base && addr < (uintptr_t)r->base + r->npages * UFFD_PAGE)
            break;
    }
    if (ri == u->ranges->len)
        return; /* not ours: cannot happen with the ranges we registered */
    uint64_t page = (addr - (uintptr_t)r->base) / UFFD_PAGE;
    bool ask = false;

    g_mutex_lock(&u->lock);
    if (!test_placed(r, page)) {
        int64_t now = mb_monotonic_ns();
        for (unsigned v = 0; v < u->nvcpus; v++) {
            Vcpu *c = &u->vcpu[v];
            if (c->tid != tid || (c->blocked && c->range == ri && c->page == page))
                continue; /* not this vCPU, or the same wait reported twice */
            /* Still marked blocked on another page: the fill woke it before placed() ran,
             * and it has faulted again since.  That block is over. */
            if (c->blocked)
                end_block(u, c, now);
            c->blocked = true;
            c->range = ri;
            c->page = page;
            c->since = now;
            if (++u->nblocked == u->nvcpus)
                u->all_since = now;
        }
        if (!(r->requested[page / 64] & (1ULL << (page % 64)))) {
            r->requested[page / 64] |= 1ULL << (page % 64);
            u->requests++;
            ask = true;
        }
    }
    g_mutex_unlock(&u->lock);
    /* Outside the lock: the owner may place pages (taking it) from within request. */
    if (ask)
        u->ops.request(u->opaque, ri, page);
}

static gpointer fault_thread(gpointer data)
{
    KvmUffd *u = data;
    struct pollfd p[2] = { { .fd = u->fd, .events = POLLIN },
                           { .fd = u->stop_fd, .events = POLLIN } };

    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            g_error("kvm_uffd: poll: %s", g_strerror(errno));
        }
        if (p[1].revents)
            return NULL;
        struct uffd_msg msg[16];
        ssize_t n = read(u->fd, msg, sizeof(msg));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            g_error("kvm_uffd: read: %s", g_strerror(errno));
        }
        for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++)
            if (msg[i].event == UFFD_EVENT_PAGEFAULT)
                on_fault(u, msg[i].arg.pagefault.address, (pid_t)msg[i].arg.pagefault.feat.ptid);
    }
}

bool kvm_uffd_start(KvmUffd *u, GError **err)
{
    g_assert(!u->thread);
    u->thread = g_thread_try_new("uffd-fault", fault_thread, u, err);
    return u->thread != NULL;
}

void kvm_uffd_name_vcpu(KvmUffd *u, unsigned vcpu)
{
    g_assert(vcpu < u->nvcpus);
    g_mutex_lock(&u->lock);
    u->vcpu[vcpu].tid = (pid_t)syscall(SYS_gettid);
    g_mutex_unlock(&u->lock);
}

/* Records (range, page) as placed and ends the blocks that waited for it. */
static void placed(KvmUffd *u, unsigned ri, Range *r, uint64_t page)
{
    g_mutex_lock(&u->lock);
    if (!test_placed(r, page)) {
        __atomic_fetch_or(&r->placed[page / 64], 1ULL << (page % 64), __ATOMIC_RELEASE);
        u->placed++;
    }
    int64_t now = mb_monotonic_ns();
    for (unsigned v = 0; v < u->nvcpus; v++) {
        Vcpu *c = &u->vcpu[v];
        if (c->blocked && c->range == ri && c->page == page)
            end_block(u, c, now);
    }
    g_mutex_unlock(&u->lock);
}

/* A fill that found the page present (EEXIST) does not wake anyone: wake explicitly, in
 * case a thread faulted on it between the two fills. */
static void wake(KvmUffd *u, uintptr_t addr)
{
    struct uffdio_range wr = { .start = addr, .len = UFFD_PAGE };
    (void)ioctl(u->fd, UFFDIO_WAKE, &wr);
}

static bool fill(KvmUffd *u, unsigned ri, uint64_t page, const void *data, GError **err)
{
    Range *r = range_at(u, ri);
    g_assert(page < r->npages);
    uintptr_t addr = (uintptr_t)r->base + page * UFFD_PAGE;
    int rc, e;

    if (test_placed(r, page))
        return true;
    do {
        if (data) {
            struct uffdio_copy c = { .dst = addr, .src = (uintptr_t)data, .len = UFFD_PAGE };
            rc = ioctl(u->fd, UFFDIO_COPY, &c);
        } else {
            struct uffdio_zeropage z = { .range = { .start = addr, .len = UFFD_PAGE } };
            rc = ioctl(u->fd, UFFDIO_ZEROPAGE, &z);
        }
        e = errno;
    } while (rc != 0 && e == EAGAIN); /* the mapping changed under the fill: try again */
    if (rc != 0 && e != EEXIST) {
        mb_error_set(err, "userfaultfd: cannot place page %llu of range %u: %s",
                     (unsigned long long)page, ri, g_strerror(e));
        return false;
    }
    if (rc != 0)
        wake(u, addr);
    placed(u, ri, r, page);
    return true;
}

bool kvm_uffd_place(KvmUffd *u, unsigned range, uint64_t page, const void *data, GError **err)
{
    g_assert(data);
    return fill(u, range, page, data, err);
}

bool kvm_uffd_place_zero(KvmUffd *u, unsigned range, uint64_t page, GError **err)
{
    return fill(u, range, page, NULL, err);
}

bool kvm_uffd_is_placed(KvmUffd *u, unsigned range, uint64_t page)
{
    Range *r = range_at(u, range);
    g_assert(page < r->npages);
    return test_placed(r, page);
}

uint64_t kvm_uffd_requests(KvmUffd *u)
{
    g_mutex_lock(&u->lock);
    uint64_t n = u->requests;
    g_mutex_unlock(&u->lock);
    return n;
}

uint64_t kvm_uffd_placed(KvmUffd *u)
{
    g_mutex_lock(&u->lock);
    uint64_t n = u->placed;
    g_mutex_unlock(&u->lock);
    return n;
}

uint32_t kvm_uffd_blocktime(KvmUffd *u, uint32_t *per_vcpu)
{
    g_mutex_lock(&u->lock);
    for (unsigned v = 0; per_vcpu && v < u->nvcpus; v++)
        per_vcpu[v] = (uint32_t)(u->vcpu[v].sum_ns / 1000000);
    uint32_t all = (uint32_t)(u->all_ns / 1000000);
    g_mutex_unlock(&u->lock);
    return all;
}

void kvm_uffd_free(KvmUffd *u)
{
    if (!u)
        return;
    if (u->thread) {
        uint64_t one = 1;
        if (write(u->stop_fd, &one, sizeof(one)) != sizeof(one))
            g_error("kvm_uffd: cannot stop the fault thread: %s", g_strerror(errno));
        g_thread_join(u->thread);
    }
    close(u->fd); /* unregisters every range and wakes whoever still waits */
    close(u->stop_fd);
    for (unsigned i = 0; i < u->ranges->len; i++) {
        Range *r = range_at(u, i);
        g_free(r->placed);
        g_free(r->requested);
    }
    g_array_free(u->ranges, TRUE);
    g_mutex_clear(&u->lock);
    g_free(u->vcpu);
    g_free(u);
}
