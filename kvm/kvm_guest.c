/* kvm_guest: the KVM virtual machine behind engine/guest.h's MbGuestOps, and the small
 * public accessors of kvm.h.
 *
 * This file only wires things together: creation (spec -> VM -> program -> threads),
 * teardown, the clock (CLOCK_MONOTONIC: a real guest runs in real time), memory access by
 * pointer into the guest's RAM mappings, and the reports (describe/info).  The work lives
 * in kvm_vm, kvm_vcpu, kvm_dirty, kvm_state and kvm_verify. */
#include "kvm_int.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <time.h>

static int64_t op_now(MbGuest *g)
{
    (void)g;
    return mb_monotonic_ns();
}

static void op_wait_until(MbGuest *g, int64_t t_ns)
{
    if (t_ns <= op_now(g))
        return;
    struct timespec ts = { .tv_sec = t_ns / 1000000000, .tv_nsec = t_ns % 1000000000 };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void op_run(MbGuest *g)
{
    kvm_vcpus_run(kvm_guest_of(g));
}

static void op_pause(MbGuest *g)
{
    kvm_vcpus_pause(kvm_guest_of(g));
}

static bool op_is_running(MbGuest *g)
{
    return kvm_vcpus_running(kvm_guest_of(g));
}

static void op_set_throttle(MbGuest *g, int pct)
{
    kvm_vcpus_set_throttle(kvm_guest_of(g), pct);
}

static bool op_dirty_log_start(MbGuest *g, GError **err)
{
    return kvm_dirty_start(kvm_guest_of(g), err);
}

static void op_dirty_log_stop(MbGuest *g)
{
    kvm_dirty_stop(kvm_guest_of(g));
}

static uint64_t op_dirty_log_sync(MbGuest *g, uint64_t *const *bitmaps)
{
    return kvm_dirty_sync(kvm_guest_of(g), bitmaps);
}

static const uint8_t *op_page_read(MbGuest *g, unsigned block, uint64_t page, uint8_t *scratch)
{
    KvmGuest *k = kvm_guest_of(g);
    (void)scratch;
    g_assert(block < g->nblocks && page < k->slots[block].npages);
    return k->slots[block].hva + page * MB_TARGET_PAGE_SIZE;
}

static uint8_t *op_page_host(MbGuest *g, unsigned block, uint64_t page)
{
    KvmGuest *k = kvm_guest_of(g);
    if (!k->incoming)
        return NULL;
    g_assert(block < g->nblocks && page < k->slots[block].npages);
    return k->slots[block].hva + page * MB_TARGET_PAGE_SIZE;
}

static GBytes *op_save_state(MbGuest *g)
{
    return kvm_state_save(kvm_guest_of(g));
}

static bool op_load_state(MbGuest *g, const uint8_t *data, size_t len, GError **err)
{
    return kvm_state_load(kvm_guest_of(g), data, len, err);
}

static bool op_verify(MbGuest *g, GError **err)
{
    return kvm_verify(kvm_guest_of(g), err);
}

static const char *op_describe(MbGuest *g)
{
    return kvm_guest_of(g)->desc;
}

static json_object *op_info(MbGuest *g)
{
    KvmGuest *k = kvm_guest_of(g);
    const KvmSpec *s = &k->spec;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "workload", json_object_new_string(kvm_workload_name(s->workload)));
    json_object_object_add(o, "vcpus", json_object_new_int(s->vcpus));
    json_object_object_add(o, "mem", json_object_new_int64((int64_t)s->mem));
    json_object_object_add(o, "slots", json_object_new_int(s->slots));
    json_object_object_add(o, "dirty-mode",
                           json_object_new_string(kvm_dirty_mode_name(k->dirty_mode)));
    json_object_object_add(o, "incoming", json_object_new_boolean(k->incoming));
    json_object_object_add(
        o, "progress-unit",
        json_object_new_string(s->workload == KVM_ABI_WL_MARKER ? "sweeps" : "writes"));
    json_object *prog = json_object_new_array();
    uint64_t total = 0, reports = 0, exits = 0, throttled = 0;
    g_mutex_lock(&k->lock);
    for (unsigned v = 0; v < s->vcpus; v++) {
        KvmVcpu *c = &k->vcpus[v];
        json_object_array_add(prog, json_object_new_int64((int64_t)c->progress));
        total += c->progress;
        reports += c->reports;
        exits += c->exits;
        throttled += c->throttled_ns;
    }
    json_object_object_add(o, "running", json_object_new_boolean(k->want_run && !k->error));
    json_object_object_add(o, "throttle-percentage", json_object_new_int(k->throttle_pct));
    if (k->error)
        json_object_object_add(o, "error", json_object_new_string(k->error->message));
    uint64_t ring_full = k->ring_full_exits;
    g_mutex_unlock(&k->lock);
    json_object_object_add(o, "progress", prog);
    json_object_object_add(o, "progress-total", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "reports", json_object_new_int64((int64_t)reports));
    json_object_object_add(o, "exits", json_object_new_int64((int64_t)exits));
    json_object_object_add(o, "throttled-ms",
                           json_object_new_int64((int64_t)(throttled / 1000000)));
    json_object_object_add(o, "ring-full-exits", json_object_new_int64((int64_t)ring_full));
    return o;
}

static void op_free(MbGuest *g)
{
    KvmGuest *k = kvm_guest_of(g);
    kvm_vcpus_stop(k);
    kvm_vm_destroy(k);
    g_mutex_clear(&k->lock);
    g_mutex_clear(&k->ring_lock);
    g_cond_clear(&k->cond);
    g_cond_clear(&k->progress_cond);
    g_clear_error(&k->error);
    g_free(k);
}

static const MbGuestOps kvm_ops = {
    .now = op_now,
    .wait_until = op_wait_until,
    .run = op_run,
    .pause = op_pause,
    .is_running = op_is_running,
    .set_throttle = op_set_throttle,
    .dirty_log_start = op_dirty_log_start,
    .dirty_log_stop = op_dirty_log_stop,
    .dirty_log_sync = op_dirty_log_sync,
    .page_read = op_page_read,
    .page_host = op_page_host,
    .save_state = op_save_state,
    .load_state = op_load_state,
    .verify = op_verify,
    .describe = op_describe,
    .info = op_info,
    .free = op_free,
};

void kvm_guest_describe_update(KvmGuest *k)
{
    char mem[32], extra[64] = "";
    const KvmSpec *s = &k->spec;
    mb_fmt_bytes(mem, sizeof(mem), (double)s->mem);
    if (s->workload == KVM_ABI_WL_RANDOM)
        g_snprintf(extra, sizeof(extra), " seed=%llu", (unsigned long long)s->seed);
    else if (s->workload == KVM_ABI_WL_HOTSPOT)
        g_snprintf(extra, sizeof(extra), " hot=%u%%/%u%% seed=%llu", s->hot_pct, s->hotw_pct,
                   (unsigned long long)s->seed);
    g_snprintf(k->desc, sizeof(k->desc), "kvm %s %s %u vCPU%s %u slot%s dirty=%s%s",
               k->incoming && !k->state_ready ? "incoming" : kvm_workload_name(s->workload), mem,
               s->vcpus, s->vcpus == 1 ? "" : "s", s->slots, s->slots == 1 ? "" : "s",
               kvm_dirty_mode_name(k->dirty_mode), extra);
}

MbGuest *kvm_guest_new(const char *spec, bool incoming, GError **err)
{
    KvmSpec s;
    if (!kvm_spec_parse(spec, &s, err))
        return NULL;
    /* Fail now, naming the size, rather than be OOM-killed while the stream arrives (a
     * destination) or while the guest first touches its RAM (a source). */
    uint64_t avail = mb_host_mem_available();
    if (avail && s.mem > avail) {
        char need[32], have[32];
        mb_fmt_bytes(need, sizeof(need), (double)s.mem);
        mb_fmt_bytes(have, sizeof(have), (double)avail);
        mb_error_set(err, "kvm: guest RAM %s does not fit: this host has %s available", need, have);
        return NULL;
    }
    KvmGuest *k = g_new0(KvmGuest, 1);
    k->base.ops = &kvm_ops;
    k->base.kind = "kvm";
    k->base.virtual_time = false;
    k->spec = s;
    k->incoming = incoming;
    k->kvm_fd = k->vm_fd = -1;
    g_mutex_init(&k->lock);
    g_mutex_init(&k->ring_lock);
    g_cond_init(&k->cond);
    g_cond_init(&k->progress_cond);
    if (!kvm_vm_create(k, err) || (!incoming && !kvm_vm_load_program(k, err)) ||
        !kvm_vcpus_start(k, err)) {
        op_free(&k->base);
        return NULL;
    }
    k->state_ready = !incoming;
    kvm_guest_describe_update(k);
    return &k->base;
}

bool kvm_guest_is_kvm(const MbGuest *g)
{
    return g && g->ops == &kvm_ops;
}

const char *kvm_guest_error(MbGuest *g)
{
    KvmGuest *k = kvm_guest_of(g);
    g_mutex_lock(&k->lock);
    const char *m = k->error ? k->error->message : NULL; /* never freed before free() */
    g_mutex_unlock(&k->lock);
    return m;
}

/* The vCPU furthest from its target, as reports still missing; 0 when all arrived. */
static uint64_t reports_missing(KvmGuest *k, const uint64_t *target)
{
    uint64_t m = 0;
    for (unsigned v = 0; v < k->spec.vcpus; v++)
        if (k->vcpus[v].reports < target[v])
            m = MAX(m, target[v] - k->vcpus[v].reports);
    return m;
}

bool kvm_guest_wait_progress(MbGuest *g, uint64_t more, int64_t timeout_ns, GError **err)
{
    KvmGuest *k = kvm_guest_of(g);
    gint64 end = g_get_monotonic_time() + timeout_ns / 1000;
    uint64_t *target = g_new(uint64_t, k->spec.vcpus);
    bool ok = false;
    g_mutex_lock(&k->lock);
    for (unsigned v = 0; v < k->spec.vcpus; v++)
        target[v] = k->vcpus[v].reports + more;
    k->progress_waiters++;
    for (;;) {
        if (k->error) {
            g_set_error_literal(err, MB_ERROR, k->error->code, k->error->message);
            break;
        }
        uint64_t missing = reports_missing(k, target);
        if (missing == 0) {
            ok = true;
            break;
        }
        if (k->quit || g_get_monotonic_time() >= end) {
            char t[32];
            mb_fmt_duration(t, sizeof(t), timeout_ns);
            mb_error_set(err,
                         "kvm: the guest did not report progress %llu more times per "
                         "vCPU within %s (%llu missing, guest %s)",
                         (unsigned long long)more, t, (unsigned long long)missing,
                         k->want_run ? "running" : "paused");
            break;
        }
        g_cond_wait_until(&k->progress_cond, &k->lock, end);
    }
    k->progress_waiters--;
    g_mutex_unlock(&k->lock);
    g_free(target);
    return ok;
}

uint64_t kvm_guest_progress(MbGuest *g)
{
    KvmGuest *k = kvm_guest_of(g);
    uint64_t n = 0;
    g_mutex_lock(&k->lock);
    for (unsigned v = 0; v < k->spec.vcpus; v++)
        n += k->vcpus[v].progress;
    g_mutex_unlock(&k->lock);
    return n;
}

int kvm_guest_throttle(MbGuest *g)
{
    KvmGuest *k = kvm_guest_of(g);
    g_mutex_lock(&k->lock);
    int pct = k->throttle_pct;
    g_mutex_unlock(&k->lock);
    return pct;
}

const char *kvm_guest_dirty_mode(MbGuest *g)
{
    return kvm_dirty_mode_name(kvm_guest_of(g)->dirty_mode);
}
