/* kvm_vcpu: one thread per vCPU, the run/pause protocol, exit handling and throttling.
 *
 * A vCPU thread loops: park while the guest is paused, else KVM_RUN and handle the exit.
 * pause() must really stop the vCPUs (the engine's final pass needs stable memory), so it
 * kicks each one out of KVM_RUN: it sets kvm_run.immediate_exit (covers a kick that lands
 * just before the ioctl) and sends KVM_KICK_SIGNAL (covers a vCPU already in guest mode),
 * then waits until every thread has parked.  After an I/O or MMIO exit KVM completes the
 * instruction only on the next KVM_RUN, so a thread re-enters once with immediate_exit
 * set before parking; only then are the registers save_state reads consistent.
 *
 * Every exit the program does not cause on purpose (HLT outside the idle workload,
 * shutdown, MMIO, unknown ports, internal errors, a fault reported by the program's
 * exception stubs) stops all vCPUs and records one clear error for kvm_guest_error() and
 * info(); nothing waits forever on a dead guest.
 *
 * Auto-converge follows QEMU: a throttle thread ticks every 10 ms / (1 - pct) and asks
 * each vCPU to sleep pct / (1 - pct) * 10 ms, kicking it out of the guest to do so.
 *
 * The only process-wide state is the no-op handler of KVM_KICK_SIGNAL, installed once; a
 * handler is needed so the signal interrupts KVM_RUN instead of killing the process. */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>

#define KVM_KICK_SIGNAL   (SIGRTMIN + 6)
#define THROTTLE_SLICE_NS 10000000ll /* QEMU's CPU_THROTTLE_TIMESLICE_NS */
#define PAUSE_RETRY_US    100000     /* re-kick laggards every 100 ms */
#define PAUSE_GIVE_UP_US  10000000   /* then give up with an error after 10 s */

static void kick_handler(int sig)
{
    (void)sig; /* only there so the signal interrupts KVM_RUN */
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void kick_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(KVM_KICK_SIGNAL, &sa, NULL);
}

static void kick(KvmVcpu *c)
{
    if (!c->run)
        return; /* creation failed before this vCPU existed */
    __atomic_store_n(&c->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (c->thread_started)
        pthread_kill(c->thread, KVM_KICK_SIGNAL);
}

void kvm_guest_fail_locked(KvmGuest *g, GError *e)
{
    if (!g->error)
        g->error = e;
    else
        g_error_free(e);
    g->want_run = false;
    for (unsigned v = 0; v < g->spec.vcpus; v++)
        kick(&g->vcpus[v]);
    g_cond_broadcast(&g->cond);
    g_cond_broadcast(&g->progress_cond);
}

static void G_GNUC_PRINTF(2, 3) fail(KvmGuest *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    kvm_guest_fail_locked(g, g_error_new_literal(MB_ERROR, MB_ERR_GENERIC, msg));
    g_free(msg);
}

static uint64_t vcpu_rip(KvmVcpu *c)
{
    struct kvm_regs r;
    return ioctl(c->fd, KVM_GET_REGS, &r) == 0 ? r.rip : 0;
}

static const char *vector_name(unsigned v)
{
    static const char *const names[] = { "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                         "#DF", "#MF", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
                                         "#MF", "#AC", "#MC", "#XM", "#VE", "#CP" };
    return v < G_N_ELEMENTS(names) ? names[v] : "exception";
}

/* The program's fault stub reported `vector`; RSI points at its frame. */
static void report_fault(KvmVcpu *c, uint32_t vector)
{
    KvmGuest *g = c->g;
    struct kvm_regs r;
    struct kvm_sregs sr;
    uint64_t frame[3] = { vector, 0, 0 }; /* vector, error code, rip */
    if (ioctl(c->fd, KVM_GET_REGS, &r) == 0) {
        uint8_t *p = kvm_gpa_host(g, r.rsi);
        if (p && kvm_gpa_host(g, r.rsi + sizeof(frame) - 1))
            memcpy(frame, p, sizeof(frame));
    }
    char extra[64] = "";
    if (vector == 14 && ioctl(c->fd, KVM_GET_SREGS, &sr) == 0)
        g_snprintf(extra, sizeof(extra), ", address 0x%llx", (unsigned long long)sr.cr2);
    fail(g, "vCPU %u: guest program fault %s (vector %u, error code 0x%llx) at rip 0x%llx%s",
         c->index, vector_name(vector), vector, (unsigned long long)frame[1],
         (unsigned long long)frame[2], extra);
}

static void on_progress(KvmVcpu *c, uint32_t val)
{
    KvmGuest *g = c->g;
    uint64_t old = c->progress;
    uint64_t nv = (old & ~0xffffffffull) | val;
    if (nv < old)
        nv += 1ull << 32;
    c->progress = nv;
    c->reports++;
    if (g->progress_waiters)
        g_cond_broadcast(&g->progress_cond);
}

static void on_io(KvmVcpu *c)
{
    KvmGuest *g = c->g;
    struct kvm_run *run = c->run;
    c->needs_completion = true;
    if (run->io.direction == KVM_EXIT_IO_OUT && run->io.size == 4 && run->io.count == 1) {
        uint32_t val;
        memcpy(&val, (uint8_t *)run + run->io.data_offset, 4);
        switch (run->io.port) {
        case KVM_ABI_PORT_PROGRESS: on_progress(c, val); return;
        case KVM_ABI_PORT_FAULT: report_fault(c, val); return;
        case KVM_ABI_PORT_BADPARAM:
            fail(g, "vCPU %u: the guest program does not know workload/fault kind %u", c->index,
                 val);
            return;
        }
    }
    fail(g, "vCPU %u: unexpected I/O %s of %u bytes on port 0x%x at rip 0x%llx", c->index,
         run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read", run->io.size, run->io.port,
         (unsigned long long)vcpu_rip(c));
}

/* Handles the exit in c->run; g->lock held (dropped around a dirty-ring harvest). */
static void handle_exit(KvmVcpu *c)
{
    KvmGuest *g = c->g;
    struct kvm_run *run = c->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO: on_io(c); break;
    case KVM_EXIT_HLT:
        if (g->spec.workload != KVM_ABI_WL_IDLE) {
            fail(g, "vCPU %u: the guest program halted unexpectedly at rip 0x%llx", c->index,
                 (unsigned long long)vcpu_rip(c));
            break;
        }
        /* No interrupts exist to wake it: wait for the next pause. */
        c->halted = true;
        while (!g->quit && g->want_run && !g->error)
            g_cond_wait(&g->cond, &g->lock);
        c->halted = false;
        break;
    case KVM_EXIT_MMIO:
        c->needs_completion = true;
        fail(g,
             "vCPU %u: unexpected MMIO %s of %u bytes at guest-physical 0x%llx (no memory "
             "there), rip 0x%llx",
             c->index, run->mmio.is_write ? "write" : "read", run->mmio.len,
             (unsigned long long)run->mmio.phys_addr, (unsigned long long)vcpu_rip(c));
        break;
    case KVM_EXIT_SHUTDOWN:
        fail(g, "vCPU %u: the guest triple-faulted (KVM_EXIT_SHUTDOWN) at rip 0x%llx", c->index,
             (unsigned long long)vcpu_rip(c));
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        fail(g, "vCPU %u: KVM internal error (suberror %u) at rip 0x%llx", c->index,
             run->internal.suberror, (unsigned long long)vcpu_rip(c));
        break;
    case KVM_EXIT_FAIL_ENTRY:
        fail(g, "vCPU %u: KVM could not enter the guest (hardware reason 0x%llx)", c->index,
             (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        break;
    case KVM_EXIT_DIRTY_RING_FULL:
        g->ring_full_exits++;
        g_mutex_unlock(&g->lock);
        kvm_dirty_harvest(g);
        g_mutex_lock(&g->lock);
        break;
    case KVM_EXIT_INTR: break;
    default:
        fail(g, "vCPU %u: unexpected KVM exit reason %u at rip 0x%llx", c->index, run->exit_reason,
             (unsigned long long)vcpu_rip(c));
    }
}

/* Sleeps a throttle share, cut short by pause or quit; g->lock held. */
static void throttle_sleep(KvmVcpu *c)
{
    KvmGuest *g = c->g;
    gint64 start = g_get_monotonic_time();
    gint64 end = start + c->throttle_ns / 1000;
    c->throttle_ns = 0;
    while (!g->quit && g->want_run && !g->error && g_get_monotonic_time() < end)
        g_cond_wait_until(&g->cond, &g->lock, end);
    c->throttled_ns += (uint64_t)(g_get_monotonic_time() - start) * 1000;
}

static void *vcpu_thread(void *arg)
{
    KvmVcpu *c = arg;
    KvmGuest *g = c->g;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KVM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    g_mutex_lock(&g->lock);
    while (!g->quit) {
        bool stop = !g->want_run || g->error;
        if (stop && !(c->needs_completion && !g->error)) {
            c->stopped = true;
            g_cond_broadcast(&g->cond);
            while (!g->quit && (!g->want_run || g->error))
                g_cond_wait(&g->cond, &g->lock);
            c->stopped = false;
            continue;
        }
        if (!stop && c->throttle_ns > 0) {
            throttle_sleep(c);
            continue;
        }
        /* stop here means: only complete the pending I/O, then come back and park. */
        __atomic_store_n(&c->run->immediate_exit, stop ? 1 : 0, __ATOMIC_SEQ_CST);
        g_mutex_unlock(&g->lock);
        int r = ioctl(c->fd, KVM_RUN, 0);
        int e = errno;
        g_mutex_lock(&g->lock);
        c->needs_completion = false;
        if (r < 0) {
            if (e != EINTR && e != EAGAIN)
                fail(g, "vCPU %u: KVM_RUN failed: %s", c->index, g_strerror(e));
            continue;
        }
        c->exits++;
        handle_exit(c);
    }
    c->stopped = true;
    g_cond_broadcast(&g->cond);
    g_mutex_unlock(&g->lock);
    return NULL;
}

static void *throttle_thread(void *arg)
{
    KvmGuest *g = arg;
    g_mutex_lock(&g->lock);
    while (!g->quit) {
        int pct = g->throttle_pct;
        if (pct <= 0) {
            g_cond_wait(&g->cond, &g->lock);
            continue;
        }
        int64_t period = THROTTLE_SLICE_NS * 100 / (100 - pct);
        int64_t sleep = THROTTLE_SLICE_NS * pct / (100 - pct);
        gint64 end = g_get_monotonic_time() + period / 1000;
        while (!g->quit && g->throttle_pct == pct && g_get_monotonic_time() < end)
            g_cond_wait_until(&g->cond, &g->lock, end);
        if (g->quit || g->throttle_pct != pct || !g->want_run || g->error)
            continue;
        for (unsigned v = 0; v < g->spec.vcpus; v++) {
            g->vcpus[v].throttle_ns = sleep;
            kick(&g->vcpus[v]);
        }
    }
    g_mutex_unlock(&g->lock);
    return NULL;
}

static bool all_stopped(KvmGuest *g)
{
    for (unsigned v = 0; v < g->spec.vcpus; v++)
        if (g->vcpus[v].thread_started && !g->vcpus[v].stopped)
            return false;
    return true;
}

bool kvm_vcpus_start(KvmGuest *g, GError **err)
{
    pthread_once(&kick_once, kick_install);
    int r = pthread_create(&g->throttle_thread, NULL, throttle_thread, g);
    if (r != 0) {
        mb_error_set(err, "kvm: cannot start the throttle thread: %s", g_strerror(r));
        return false;
    }
    g->throttle_started = true;
    for (unsigned v = 0; v < g->spec.vcpus; v++) {
        KvmVcpu *c = &g->vcpus[v];
        r = pthread_create(&c->thread, NULL, vcpu_thread, c);
        if (r != 0) {
            mb_error_set(err, "kvm: cannot start vCPU thread %u: %s", v, g_strerror(r));
            return false;
        }
        g_mutex_lock(&g->lock);
        c->thread_started = true;
        g_mutex_unlock(&g->lock);
    }
    g_mutex_lock(&g->lock);
    while (!all_stopped(g))
        g_cond_wait(&g->cond, &g->lock);
    g_mutex_unlock(&g->lock);
    return true;
}

void kvm_vcpus_stop(KvmGuest *g)
{
    g_mutex_lock(&g->lock);
    g->quit = true;
    g->want_run = false;
    for (unsigned v = 0; g->vcpus && v < g->spec.vcpus; v++)
        kick(&g->vcpus[v]);
    g_cond_broadcast(&g->cond);
    g_cond_broadcast(&g->progress_cond);
    g_mutex_unlock(&g->lock);
    for (unsigned v = 0; g->vcpus && v < g->spec.vcpus; v++) {
        KvmVcpu *c = &g->vcpus[v];
        if (c->thread_started)
            pthread_join(c->thread, NULL);
        c->thread_started = false;
    }
    if (g->throttle_started)
        pthread_join(g->throttle_thread, NULL);
    g->throttle_started = false;
}

void kvm_vcpus_run(KvmGuest *g)
{
    g_mutex_lock(&g->lock);
    if (!g->error && g->state_ready && !g->quit) {
        g->want_run = true;
        g_cond_broadcast(&g->cond);
    }
    g_mutex_unlock(&g->lock);
}

void kvm_vcpus_pause(KvmGuest *g)
{
    g_mutex_lock(&g->lock);
    g->want_run = false;
    g_cond_broadcast(&g->cond);
    gint64 give_up = g_get_monotonic_time() + PAUSE_GIVE_UP_US;
    while (!all_stopped(g)) {
        for (unsigned v = 0; v < g->spec.vcpus; v++)
            if (!g->vcpus[v].stopped)
                kick(&g->vcpus[v]);
        gint64 now = g_get_monotonic_time();
        if (now >= give_up) {
            fail(g, "kvm: a vCPU did not stop within %d s", PAUSE_GIVE_UP_US / 1000000);
            break;
        }
        g_cond_wait_until(&g->cond, &g->lock, MIN(now + PAUSE_RETRY_US, give_up));
    }
    g_mutex_unlock(&g->lock);
}

bool kvm_vcpus_running(KvmGuest *g)
{
    g_mutex_lock(&g->lock);
    bool r = g->want_run && !g->error;
    g_mutex_unlock(&g->lock);
    return r;
}

void kvm_vcpus_set_throttle(KvmGuest *g, int pct)
{
    g_mutex_lock(&g->lock);
    g->throttle_pct = CLAMP(pct, 0, 99);
    g_cond_broadcast(&g->cond);
    g_mutex_unlock(&g->lock);
}
