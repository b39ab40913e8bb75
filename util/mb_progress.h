/* mb_progress: one live status line on a terminal, silent otherwise.
 *
 * Long jobs (run, sweep, trace record) call mb_progress_update() as often as they like;
 * the line is redrawn at most 10 times a second and only when stderr is a TTY, so piping
 * output into a file or a test never sees control characters. */
#ifndef MB_PROGRESS_H
#define MB_PROGRESS_H

#include <stdbool.h>
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

#endif
