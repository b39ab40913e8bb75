/* mig_pc_queue: the source's postcopy request queue and send schedule.
 *
 * The return-path thread hands over what the destination says: page requests (counted:
 * postcopy-requests), which record of the postcopy pass carries a requested page (MB_SEND),
 * and up to which record the order is settled (MB_HORIZON).  The migration thread asks,
 * before each postcopy page record, whether that record is a requested page (served ahead
 * of the background pass) or the next background page; it waits until the destination has
 * settled that record, so the order on the wire (and so every figure of a sim run) does not
 * depend on when the real messages happened to arrive.  Thread-safe (one lock). */
#ifndef MIG_PC_QUEUE_H
#define MIG_PC_QUEUE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct MigPcQueue MigPcQueue;

MigPcQueue *mig_pc_queue_new(void);
void mig_pc_queue_free(MigPcQueue *q);

/* A page request arrived (REQ_PAGES / REQ_PAGES_ID) for byte `start` of `block`.  A
 * request for the same place is counted once: after a postcopy recovery the destination
 * asks again for what it still waits for, and whether the first request got through
 * before the break depends on timing. */
void mig_pc_queue_count_request(MigPcQueue *q, unsigned block, uint64_t start);
/* Postcopy recovery: the claims and the horizon are forgotten; the destination sends again
 * those of the records from where the source resumes. */
void mig_pc_queue_rewind(MigPcQueue *q);
/* Requests counted so far. */
uint64_t mig_pc_queue_requests(MigPcQueue *q);
/* Record `record` carries `page` of `block` (claims come in increasing record order). */
void mig_pc_queue_claim(MigPcQueue *q, uint64_t record, unsigned block, uint64_t page);
/* Records below `records` are settled.  UINT64_MAX: everything is (the destination needs
 * nothing more, or can tell nothing more). */
void mig_pc_queue_horizon(MigPcQueue *q, uint64_t records);

/* Before record `record`: waits until it is settled (or `stop(opaque)` says to give up,
 * checked at least every 50 ms of wall time), then returns true with the requested page it
 * carries, or false when it is a background record (or on giving up). */
bool mig_pc_queue_next(MigPcQueue *q, uint64_t record, unsigned *block, uint64_t *page,
                       bool (*stop)(void *opaque), void *opaque);
/* Like mig_pc_queue_next without taking the claim: true when record `record` carries a
 * requested page (it then goes out even when the rate limit is used up). */
bool mig_pc_queue_urgent(MigPcQueue *q, uint64_t record, bool (*stop)(void *opaque), void *opaque);

#endif
