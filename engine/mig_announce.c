/* mig_announce: the self-announce schedule and its execution (see mig_announce.h). */
#include "mig_announce.h"
#include "mb_util.h"
#include "mig_internal.h"

#define RARP_FRAME_BYTES 60

unsigned mig_announce_schedule(uint64_t initial, uint64_t max, uint64_t rounds, uint64_t step,
                               int64_t *at_ms, unsigned max_rounds)
{
    unsigned n = 0;
    int64_t t = 0;

    /* QEMU: after the round that leaves `left` rounds, wait initial + (rounds - left - 1) x
     * step, capped at max. */
    for (uint64_t left = rounds; left > 0 && n < max_rounds; left--) {
        at_ms[n++] = t;
        if (left > 1) {
            int64_t d = (int64_t)initial + (int64_t)(rounds - (left - 1) - 1) * (int64_t)step;
            if (d < 0 || d > (int64_t)max)
                d = (int64_t)max;
            t += d;
        }
    }
    return n;
}

json_object *mig_announce_run(MigEngine *e, const bool *stop)
{
    int64_t at[1000];
    unsigned n = mig_announce_schedule(
        mig_params_num(&e->params, MP_ANNOUNCE_INITIAL),
        mig_params_num(&e->params, MP_ANNOUNCE_MAX), mig_params_num(&e->params, MP_ANNOUNCE_ROUNDS),
        mig_params_num(&e->params, MP_ANNOUNCE_STEP), at, G_N_ELEMENTS(at));
    json_object *o = json_object_new_object(), *list = json_object_new_array();
    int64_t t0 = mb_guest_now(e->guest), sent = 0;

    for (unsigned i = 0; i < n; i++) {
        int64_t when = t0 + at[i] * 1000000;
        if (!e->guest->virtual_time) {
            /* Real time: wait for the round, a little at a time so a stop is seen. */
            while (mb_guest_now(e->guest) < when && !__atomic_load_n(stop, __ATOMIC_RELAXED))
                g_usleep((gulong)MIN(10000, (when - mb_guest_now(e->guest)) / 1000 + 1));
            if (__atomic_load_n(stop, __ATOMIC_RELAXED))
                break;
            when = mb_guest_now(e->guest);
        }
        json_object *r = json_object_new_object();
        json_object_object_add(r, "round", json_object_new_int((int)i + 1));
        json_object_object_add(r, "time-ms", json_object_new_int64((when - t0) / 1000000));
        json_object_array_add(list, r);
        sent++;
    }
    json_object_object_add(o, "rounds", list);
    json_object_object_add(o, "frames", json_object_new_int64(sent));
    json_object_object_add(o, "bytes", json_object_new_int64(sent * RARP_FRAME_BYTES));
    return o;
}
