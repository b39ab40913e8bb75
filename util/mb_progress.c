/* mb_progress: rate-limited single-line progress on a TTY (see mb_progress.h). */
#include "mb_progress.h"
#include "mb_util.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void mb_progress_init(MbProgress *p)
{
    p->tty = isatty(STDERR_FILENO) && !g_getenv("MIGBENCH_NO_PROGRESS");
    p->last_ns = 0;
    p->last_len = 0;
}

void mb_progress_update(MbProgress *p, const char *fmt, ...)
{
    if (!p->tty)
        return;
    int64_t now = mb_monotonic_ns();
    if (p->last_ns && now - p->last_ns < 100000000)
        return;
    p->last_ns = now;

    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n >= (int)sizeof(line))
        n = sizeof(line) - 1;
    fprintf(stderr, "\r%s%*s", line, p->last_len > n ? p->last_len - n : 0, "");
    fflush(stderr);
    p->last_len = n;
}

void mb_progress_done(MbProgress *p)
{
    if (!p->tty || !p->last_len)
        return;
    fprintf(stderr, "\r%*s\r", p->last_len, "");
    fflush(stderr);
    p->last_len = 0;
}
