/* mig_pc_stats: what the vCPUs of a postcopy destination waited for, and how long page
 * requests took.
 *
 * QEMU's postcopy-blocktime is the time during which *all* vCPUs were blocked at once and
 * postcopy-vcpu-blocktime the per-vCPU sums (docs/features.md); beyond the 5.0 schema the run
 * report shows each request's round trip as p50/p99/max and a log2-microsecond histogram
 * (QEMU's much later postcopy-latency-dist).  Times are ns of the guest clock (virtual in
 * sim).  Pure arithmetic, one thread (engine/tests/test_postcopy.c). */
#ifndef MIG_PC_STATS_H
#define MIG_PC_STATS_H

#include <json-c/json.h>
#include <stdint.h>

#define MIG_PC_HIST_BUCKETS 32 /* bucket i: latencies in [2^i, 2^(i+1)) us; 0 also takes < 1 us */

typedef struct MigPcStats MigPcStats;

MigPcStats *mig_pc_stats_new(unsigned nvcpus);
void mig_pc_stats_free(MigPcStats *s);

/* vCPU `vcpu` (< nvcpus; others are ignored) was blocked during [from, to).  The intervals
 * of one vCPU must not overlap (a vCPU waits for one page at a time). */
void mig_pc_stats_stall(MigPcStats *s, unsigned vcpu, int64_t from, int64_t to);
/* One page request took `ns` from the fault to the page's arrival. */
void mig_pc_stats_latency(MigPcStats *s, int64_t ns);

unsigned mig_pc_stats_nvcpus(const MigPcStats *s);
/* Sum of the stalls of one vCPU. */
int64_t mig_pc_stats_vcpu_ns(const MigPcStats *s, unsigned vcpu);
/* Total time during which every vCPU was blocked at once. */
int64_t mig_pc_stats_all_blocked_ns(const MigPcStats *s);

typedef struct {
    uint64_t count;
    int64_t p50, p99, max; /* ns; 0 when count is 0 (nearest-rank percentiles) */
    uint64_t hist[MIG_PC_HIST_BUCKETS];
} MigPcLatency;
void mig_pc_stats_latency_summary(const MigPcStats *s, MigPcLatency *out);

/* {"requests", "blocktime-ms", "vcpu-blocktime-ms": [...], "latency-us": {"p50", "p99",
 * "max", "histogram": [...]}} for reports (new object). */
json_object *mig_pc_stats_json(const MigPcStats *s);

#endif
