/* mb_progress: rate-limited single-line progress on a TTY, and the migration line's text
 * (see mb_progress.h for the definitions of percent and ETA). */
#include "mb_progress.h"
#include "mb_util.h"

#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_WIDTH 20

void mb_progress_init(MbProgress *p)
{
    p->tty = isatty(STDERR_FILENO) && !g_getenv("MIGBENCH_NO_PROGRESS");
    p->last_ns = 0;
    p->last_len = 0;
}

/* Columns of the terminal on stderr; a line must stay shorter to be redrawn in place. */
static int terminal_columns(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
        return ws.ws_col;
    return 80;
}

void mb_progress_update(MbProgress *p, const char *fmt, ...)
{
    if (!p->tty)
        return;
    int64_t now = mb_monotonic_ns();
    if (p->last_ns && now - p->last_ns < 100000000)
        return;
    p->last_ns = now;

    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n >= (int)sizeof(line))
        n = sizeof(line) - 1;
    if (n > terminal_columns() - 1)
        n = terminal_columns() - 1;
    fprintf(stderr, "\r%.*s%*s", n, line, p->last_len > n ? p->last_len - n : 0, "");
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

int mb_progress_mig_percent(const MbMigProgress *m)
{
    if (!m->total)
        return 0;
    uint64_t clean = m->remaining >= m->total ? 0 : m->total - m->remaining;
    /* Rounded down: 100% only when nothing remains. */
    return (int)((double)clean * 100.0 / (double)m->total);
}

double mb_progress_mig_eta_s(const MbMigProgress *m)
{
    double send = m->mbps * 1e6 / 8; /* bytes per second */
    double dirty = (double)m->dirty_rate * (double)(m->page_size ? m->page_size : 4096);

    if (m->remaining == 0)
        return 0;
    if (send <= 0 || dirty >= send)
        return -1;
    return (double)m->remaining / (send - dirty);
}

static void fmt_eta(char *buf, size_t len, double s)
{
    if (s < 0)
        g_snprintf(buf, len, "--");
    else if (s < 60)
        g_snprintf(buf, len, "%.1fs", s);
    else if (s < 3600)
        g_snprintf(buf, len, "%dm%02ds", (int)s / 60, (int)s % 60);
    else if (s < 100 * 3600.0)
        g_snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)s % 3600 / 60);
    else
        g_snprintf(buf, len, ">99h");
}

char *mb_progress_format_mig(char *buf, size_t len, const MbMigProgress *m)
{
    int pct = mb_progress_mig_percent(m);
    int filled = pct * BAR_WIDTH / 100;
    char bar[BAR_WIDTH + 1], rate[32], eta[16], sent[32], rem[32], down[48] = "";

    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '-';
    bar[BAR_WIDTH] = 0;
    mb_fmt_bytes(rate, sizeof(rate), m->mbps * 1e6 / 8);
    fmt_eta(eta, sizeof(eta), mb_progress_mig_eta_s(m));
    if (m->expected_downtime_ms >= 0)
        g_snprintf(down, sizeof(down), "  expected downtime %" G_GINT64_FORMAT " ms",
                   m->expected_downtime_ms);
    g_snprintf(buf, len,
               "pass %" G_GUINT64_FORMAT " [%s] %3d%%  %s/s  ETA %s  sent %s  remaining %s  "
               "dirty %" G_GUINT64_FORMAT " pages/s%s",
               m->pass, bar, pct, rate, eta,
               mb_fmt_bytes(sent, sizeof(sent), (double)m->transferred),
               mb_fmt_bytes(rem, sizeof(rem), (double)m->remaining), m->dirty_rate, down);
    return buf;
}
