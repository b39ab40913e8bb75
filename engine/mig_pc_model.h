/* mig_pc_model: the postcopy link, in virtual time, as the destination of a sim guest sees it.
 *
 * After the switch to postcopy the source sends the pages still missing on the destination
 * in its scan order (the background pass), and serves page requests ahead of it.  A sim
 * destination needs to know, deterministically, when each page arrives: not when the real
 * bytes happened to cross the socket (wall-clock timing), but when they would on the
 * simulated link.  This model answers that: one FIFO link of `bandwidth` bytes/s and one-way
 * `latency`, each page one record of `record_bytes`; a request made at t reaches the source
 * at t + latency and is sent as soon as the record on the link (and earlier requests) are
 * out (requests in the order they reach the source); it arrives a record time plus the
 * latency later.  As in QEMU, the background pass goes on after the last page sent, a
 * requested one included, and wraps round past the end.  The model never rewrites what it placed on
 * the link, so the record order it settles is what the source follows (mig_pc_dest.h).  Pure
 * computation, no threads (engine/tests/test_postcopy.c). */
#ifndef MIG_PC_MODEL_H
#define MIG_PC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct MigPcModel MigPcModel;

typedef struct {
    int64_t start_ns;      /* virtual time at which the source starts the background pass */
    int64_t latency_ns;    /* one way */
    uint64_t bandwidth;    /* bytes/s on the link; 0 = infinite */
    uint64_t record_bytes; /* link bytes of one page record */
    const uint64_t *pages; /* the missing pages (global numbers), ascending = scan order */
    uint64_t n;
    /* Optional: record number `record` (0-based, in link order) carries `page` because it
     * was requested (the background pass carries the others). */
    void (*on_request_sent)(void *opaque, uint64_t record, uint64_t page);
    void *opaque;
} MigPcModelConfig;

/* A model with nothing sent yet.  Copies the page list. */
MigPcModel *mig_pc_model_new(const MigPcModelConfig *cfg);
void mig_pc_model_free(MigPcModel *m);

/* Whether `page` was missing at the switch (is in the list). */
bool mig_pc_model_missing(const MigPcModel *m, uint64_t page);
/* A vCPU touches `page` at virtual time t.  Returns when the page is there (t if it already
 * is, or was never missing); *requested is set when this touch sends a page request (the
 * first touch of a page that has not arrived by t; later touches wait for the same one). */
int64_t mig_pc_model_touch(MigPcModel *m, uint64_t page, int64_t t, bool *requested);
/* Lets the link send every record that starts before t. */
void mig_pc_model_advance(MigPcModel *m, int64_t t);
/* True when every page has arrived by t. */
bool mig_pc_model_done_by(MigPcModel *m, int64_t t);
/* Arrival time of the last page (the link runs to the end); start_ns when nothing is missing. */
int64_t mig_pc_model_end(MigPcModel *m);
/* The source's postcopy rate changed (max-postcopy-bandwidth) at virtual time t: every
 * record that starts at or after t goes at `bandwidth` (bytes/s, 0 = infinite) until a
 * later change.  t may be behind the link (records placed already are re-timed, in the
 * order already settled) or ahead of it (the change waits there for the first record that
 * starts after it).  A function of (bandwidth, t) and what the model placed, not of when
 * the call comes. */
void mig_pc_model_set_bandwidth(MigPcModel *m, uint64_t bandwidth, int64_t t);
/* The page (global number) record `record` (< mig_pc_model_sent) carries. */
uint64_t mig_pc_model_record_page(const MigPcModel *m, uint64_t record);
/* Records placed on the link so far: the order of every record before this one is final
 * (a later request is always placed after it). */
uint64_t mig_pc_model_sent(const MigPcModel *m);
/* Whether a touch of `page` sent a request for it (postcopy recovery asks again for those
 * that have not arrived). */
bool mig_pc_model_requested(const MigPcModel *m, uint64_t page);
/* Requests sent so far. */
uint64_t mig_pc_model_requests(const MigPcModel *m);

#endif
