/* mb_progress: one live status line on a terminal, silent otherwise, and the text of the
 * migration progress line of `migbench run`.
 *
 * Long jobs (run, sweep, trace record) call mb_progress_update() as often as they like;
 * the line is redrawn at most 10 times a second and only when stderr is a TTY, so piping
 * output into a file or a test never sees control characters.  The line is cut to the
 * terminal's width: a line that wrapped could not be redrawn in place.
 *
 * The migration line is a pure function of query-migrate's figures (mb_progress_format_mig),
 * so it is unit tested without a terminal.  Its percent and ETA must stay honest for
 * migrations that may never converge:
 *   percent   (total - remaining) / total: during the bulk pass (pass 1) the share of RAM
 *             sent at least once, afterwards the share that is clean on the destination.
 *             It may go down when the guest dirties faster than the link sends.
 *   throughput  query-migrate's mbps (bytes per second of guest time).
 *   ETA       remaining / (throughput - dirty rate): the time to drain what is left at the
 *             current rates, in guest time (virtual in sim; wall time for KVM or --pace 1).
 *             "--" when the dirty rate is not below the throughput (not converging), or
 *             nothing was measured yet.  During the bulk pass the dirty rate is not
 *             measured yet (QEMU reports 0), so the ETA is that of the pass alone. */
#ifndef MB_PROGRESS_H
#define MB_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool tty;
    int64_t last_ns;
    int last_len;
} MbProgress;

void mb_progress_init(MbProgress *p);
/* Redraws the line (rate-limited) with a printf-style text. */
void mb_progress_update(MbProgress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Erases the line so normal output can follow. */
void mb_progress_done(MbProgress *p);

/* The figures of one query-migrate reply ("ram" and the top level) the line shows. */
typedef struct {
    uint64_t pass;                /* ram.dirty-sync-count */
    uint64_t total;               /* ram.total, bytes */
    uint64_t transferred;         /* ram.transferred, bytes */
    uint64_t remaining;           /* ram.remaining, bytes */
    uint64_t dirty_rate;          /* ram.dirty-pages-rate, pages per second */
    uint64_t page_size;           /* ram.page-size (4096 when absent) */
    double mbps;                  /* ram.mbps, megabits (1e6) per second */
    int64_t expected_downtime_ms; /* expected-downtime, < 0 when absent */
} MbMigProgress;

/* Writes the progress line for `m` into buf (always NUL-terminated, cut to `len`), e.g.
 *   "pass 2 [########------------]  41%  54.07 MiB/s  ETA 11.1s  sent 1.10 GiB  remaining
 *    600.00 MiB  dirty 1200 pages/s  expected downtime 300 ms"
 * with the most useful figures first, so a cut to the terminal width loses the least.
 * Returns buf. */
char *mb_progress_format_mig(char *buf, size_t len, const MbMigProgress *m);

/* The percent done of `m` (0..100) as defined above; 0 when total is 0. */
int mb_progress_mig_percent(const MbMigProgress *m);
/* The ETA of `m` in seconds as defined above, or a negative value for "--". */
double mb_progress_mig_eta_s(const MbMigProgress *m);

#endif
