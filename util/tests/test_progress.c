/* Unit tests for the migration progress line of `migbench run` (mb_progress_format_mig):
 * percent through the bulk pass and later passes, throughput, ETA from the net drain rate,
 * "--" when a migration is not converging, and the exact text. */
#include "mb_progress.h"

#include <glib.h>
#include <string.h>

#define MiB (1024ULL * 1024)

static MbMigProgress bulk(void)
{
    /* 1 GiB guest, bulk pass, 256 MiB still unsent, 80 Mbit/s = 10 MB/s, no dirty rate
     * measured yet (QEMU reports 0 until the end of the first pass). */
    return (MbMigProgress){ .pass = 1,
                            .total = 1024 * MiB,
                            .transferred = 768 * MiB,
                            .remaining = 256 * MiB,
                            .dirty_rate = 0,
                            .page_size = 4096,
                            .mbps = 80.0,
                            .expected_downtime_ms = -1 };
}

static void test_percent(void)
{
    MbMigProgress m = bulk();

    g_assert_cmpint(mb_progress_mig_percent(&m), ==, 75);
    m.remaining = 1; /* one byte left is not done */
    g_assert_cmpint(mb_progress_mig_percent(&m), ==, 99);
    m.remaining = 0;
    g_assert_cmpint(mb_progress_mig_percent(&m), ==, 100);
    m.remaining = 2048 * MiB; /* more dirty than RAM cannot be: clamp */
    g_assert_cmpint(mb_progress_mig_percent(&m), ==, 0);
    m.total = 0;
    g_assert_cmpint(mb_progress_mig_percent(&m), ==, 0);
}

static void test_eta(void)
{
    MbMigProgress m = bulk();

    /* 256 MiB at 10 MB/s */
    g_assert_cmpfloat_with_epsilon(mb_progress_mig_eta_s(&m), 256.0 * MiB / 1e7, 1e-9);
    /* later pass: 1000 pages/s dirtied (4.096 MB/s) leaves 5.904 MB/s of net drain */
    m.pass = 3;
    m.dirty_rate = 1000;
    g_assert_cmpfloat_with_epsilon(mb_progress_mig_eta_s(&m), 256.0 * MiB / 5.904e6, 1e-9);
    /* dirtying as fast as the link sends: never converges at these rates */
    m.dirty_rate = 2442; /* 10.002 MB/s */
    g_assert_cmpfloat(mb_progress_mig_eta_s(&m), <, 0);
    /* nothing measured yet */
    m = bulk();
    m.mbps = 0;
    g_assert_cmpfloat(mb_progress_mig_eta_s(&m), <, 0);
    m.remaining = 0;
    g_assert_cmpfloat(mb_progress_mig_eta_s(&m), ==, 0);
}

static void test_line(void)
{
    MbMigProgress m = bulk();
    char buf[512];

    g_assert_cmpstr(mb_progress_format_mig(buf, sizeof(buf), &m), ==,
                    "pass 1 [###############-----]  75%  9.54 MiB/s  ETA 26.8s  sent 768.00 MiB  "
                    "remaining 256.00 MiB  dirty 0 pages/s");
    m.pass = 7;
    m.remaining = 300 * MiB;
    m.dirty_rate = 5000; /* 20.48 MB/s against 10 MB/s: not converging */
    m.expected_downtime_ms = 31457;
    g_assert_cmpstr(mb_progress_format_mig(buf, sizeof(buf), &m), ==,
                    "pass 7 [##############------]  70%  9.54 MiB/s  ETA --  sent 768.00 MiB  "
                    "remaining 300.00 MiB  dirty 5000 pages/s  expected downtime 31457 ms");
    m.dirty_rate = 100;
    m.remaining = 30 * 1024 * MiB; /* long ETAs read as minutes and hours */
    m.total = 64 * 1024 * MiB;
    m.mbps = 8000;
    g_assert_nonnull(strstr(mb_progress_format_mig(buf, sizeof(buf), &m), " ETA 32.2s "));
    m.mbps = 80;
    g_assert_nonnull(strstr(mb_progress_format_mig(buf, sizeof(buf), &m), " ETA 55m58s "));
    m.mbps = 8;
    g_assert_nonnull(strstr(mb_progress_format_mig(buf, sizeof(buf), &m), " ETA 15h09m "));
    /* a short buffer is cut, never overrun */
    g_assert_cmpstr(mb_progress_format_mig(buf, 10, &m), ==, "pass 7 [#");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/progress/percent", test_percent);
    g_test_add_func("/progress/eta", test_eta);
    g_test_add_func("/progress/line", test_line);
    return g_test_run();
}
