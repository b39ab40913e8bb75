/* mig_announce: self-announcement after an incoming migration (QEMU's net/announce.c).
 *
 * QEMU sends a RARP frame per NIC in `announce-rounds` rounds so switches learn where the
 * guest went; the first round at once, round k after initial + (k - 1) x step ms, capped at
 * max (50/550/5/100 give 0, 50, 200, 450, 800 ms).  migbench's guests have one virtual NIC,
 * so each round "sends" one 60-byte frame; the rounds and their times go into the
 * destination's report.  Times are guest time: computed at once for sim guests, really
 * waited for (cancellably) for KVM guests. */
#ifndef MIG_ANNOUNCE_H
#define MIG_ANNOUNCE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigEngine MigEngine;

/* The delay before each round, in ms from the first, for the given parameters; returns
 * the number of rounds written to `at_ms` (at most `max_rounds`). */
unsigned mig_announce_schedule(uint64_t initial, uint64_t max, uint64_t rounds, uint64_t step,
                               int64_t *at_ms, unsigned max_rounds);

/* Runs the announcement of a completed incoming migration and returns what happened as
 * JSON ({"rounds": [{"round", "time-ms"}...], "frames", "bytes"}).  `stop` is polled while
 * waiting in real time. */
json_object *mig_announce_run(MigEngine *e, const bool *stop);

#endif
