/* mb_util: unit parsing/printing, clocks and zero detection (see mb_util.h). */
#include "mb_util.h"
#include "mb_error.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

bool mb_parse_u64(const char *s, uint64_t *out)
{
    char *end;

    if (!s || !*s || *s == '-' || *s == '+' || g_ascii_isspace(*s))
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

bool mb_parse_i64(const char *s, int64_t *out)
{
    char *end;

    if (!s || !*s || g_ascii_isspace(*s))
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* Splits "12.5Gbit" into a number and a suffix; returns false if no number. */
static bool split_number(const char *s, double *num, const char **suffix)
{
    char *end;

    if (!s || !*s || g_ascii_isspace(*s) || *s == '-')
        return false;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return false;
    *num = v;
    *suffix = end;
    return true;
}

static int binary_shift(char c)
{
    switch (g_ascii_toupper(c)) {
    case 'K': return 10;
    case 'M': return 20;
    case 'G': return 30;
    case 'T': return 40;
    case 'P': return 50;
    default: return -1;
    }
}

bool mb_parse_size(const char *s, uint64_t *out, GError **err)
{
    double v;
    const char *suf;
    int shift = 0;

    if (!split_number(s, &v, &suf))
        goto bad;
    if (*suf) {
        if (g_ascii_toupper(*suf) == 'B' && suf[1] == 0) {
            shift = 0;
        } else {
            shift = binary_shift(*suf);
            if (shift < 0)
                goto bad;
            const char *rest = suf + 1;
            if (*rest && g_ascii_strcasecmp(rest, "iB") && g_ascii_strcasecmp(rest, "B"))
                goto bad;
        }
    }
    v = ldexp(v, shift);
    if (v >= 18446744073709551616.0 || v != floor(v))
        goto bad;
    *out = (uint64_t)v;
    return true;
bad:
    mb_error_set(err, "invalid size '%s' (expected e.g. 4096, 64M, 1G)", s ? s : "");
    return false;
}

bool mb_parse_duration(const char *s, int64_t *out_ns, GError **err)
{
    double v, mul;
    const char *suf;

    if (!split_number(s, &v, &suf))
        goto bad;
    if (!*suf || !strcmp(suf, "ms"))
        mul = 1e6;
    else if (!strcmp(suf, "s"))
        mul = 1e9;
    else if (!strcmp(suf, "us"))
        mul = 1e3;
    else if (!strcmp(suf, "ns"))
        mul = 1;
    else if (!strcmp(suf, "min"))
        mul = 60e9;
    else
        goto bad;
    v *= mul;
    if (v > 9.2e18)
        goto bad;
    *out_ns = (int64_t)llround(v);
    return true;
bad:
    mb_error_set(err, "invalid duration '%s' (expected e.g. 50ms, 2s, 100us)", s ? s : "");
    return false;
}

bool mb_parse_bandwidth(const char *s, uint64_t *out_bps, GError **err)
{
    double v;
    const char *suf;

    if (!split_number(s, &v, &suf))
        goto bad;
    if (*suf) {
        /* Bits: decimal prefixes, as link speeds are quoted. */
        static const struct {
            const char *name;
            double mul;
        } bits[] = { { "bit", 1 / 8.0 },
                     { "Kbit", 1e3 / 8 },
                     { "Mbit", 1e6 / 8 },
                     { "Gbit", 1e9 / 8 },
                     { "Tbit", 1e12 / 8 } };
        bool found = false;
        for (size_t i = 0; i < G_N_ELEMENTS(bits); i++) {
            if (!g_ascii_strcasecmp(suf, bits[i].name)) {
                v *= bits[i].mul;
                found = true;
            }
        }
        if (!found) {
            /* Bytes: binary prefixes, optional "B", "iB", "/s", "B/s". */
            char tmp[16];
            g_strlcpy(tmp, suf, sizeof(tmp));
            size_t n = strlen(tmp);
            if (n >= 2 && !strcmp(tmp + n - 2, "/s"))
                tmp[n - 2] = 0;
            uint64_t bytes;
            char num[64];
            g_snprintf(num, sizeof(num), "1%s", tmp);
            if (!mb_parse_size(num, &bytes, NULL))
                goto bad;
            v *= (double)bytes;
        }
    }
    if (v >= 1.8e19)
        goto bad;
    *out_bps = (uint64_t)llround(v);
    return true;
bad:
    mb_error_set(err, "invalid bandwidth '%s' (expected e.g. 10Gbit, 1G/s, 125M)", s ? s : "");
    return false;
}

char *mb_fmt_bytes(char *buf, size_t len, double bytes)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int u = 0;

    while (fabs(bytes) >= 1024 && u < 5) {
        bytes /= 1024;
        u++;
    }
    if (u == 0)
        g_snprintf(buf, len, "%.0f B", bytes);
    else
        g_snprintf(buf, len, "%.2f %s", bytes, units[u]);
    return buf;
}

char *mb_fmt_duration(char *buf, size_t len, int64_t ns)
{
    double a = fabs((double)ns);

    if (a >= 1e9)
        g_snprintf(buf, len, "%.2f s", ns / 1e9);
    else if (a >= 1e6)
        g_snprintf(buf, len, "%.1f ms", ns / 1e6);
    else if (a >= 1e3)
        g_snprintf(buf, len, "%.1f us", ns / 1e3);
    else
        g_snprintf(buf, len, "%" G_GINT64_FORMAT " ns", ns);
    return buf;
}

int64_t mb_monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t mb_process_cpu_ns(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

int64_t mb_realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A "Key:   N kB" line of a /proc file, in bytes (0 when absent). */
static uint64_t proc_kib_field(const char *path, const char *key)
{
    char *text = NULL;
    uint64_t kib = 0;

    if (!g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    const char *p = strstr(text, key);
    if (!p || sscanf(p + strlen(key), " %" SCNu64, &kib) != 1)
        kib = 0;
    g_free(text);
    return kib * 1024;
}

uint64_t mb_host_mem_available(void)
{
    return proc_kib_field("/proc/meminfo", "MemAvailable:");
}

uint64_t mb_peak_rss(void)
{
    return proc_kib_field("/proc/self/status", "VmHWM:");
}

bool mb_buffer_is_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t i = 0;

    /* Word-at-a-time with an early exit; pages are 8-byte aligned in practice. */
    if (((uintptr_t)p & 7) == 0) {
        for (; i + 32 <= len; i += 32) {
            uint64_t a, b, c, d;
            memcpy(&a, p + i, 8);
            memcpy(&b, p + i + 8, 8);
            memcpy(&c, p + i + 16, 8);
            memcpy(&d, p + i + 24, 8);
            if (a | b | c | d)
                return false;
        }
    }
    for (; i < len; i++)
        if (p[i])
            return false;
    return true;
}

void mb_uuid_format(const uint8_t u[16], char out[37])
{
    g_snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
               u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
               u[13], u[14], u[15]);
}

bool mb_uuid_parse(const char *s, uint8_t out[16])
{
    int n = 0;

    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int hi = g_ascii_xdigit_value(s[i]), lo = g_ascii_xdigit_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[n++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return n == 16;
}
