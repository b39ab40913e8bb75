/* mb_util: small helpers every room needs: big-endian access, unit parsing and printing,
 * a deterministic PRNG, and monotonic time.  Nothing here has state. */
#ifndef MB_UTIL_H
#define MB_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- big-endian loads and stores (the migration stream is big-endian) ---- */
static inline void mb_st_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}
static inline void mb_st_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}
static inline void mb_st_be64(uint8_t *p, uint64_t v)
{
    mb_st_be32(p, (uint32_t)(v >> 32));
    mb_st_be32(p + 4, (uint32_t)v);
}
static inline uint16_t mb_ld_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t mb_ld_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t mb_ld_be64(const uint8_t *p)
{
    return (uint64_t)mb_ld_be32(p) << 32 | mb_ld_be32(p + 4);
}

/* ---- deterministic PRNG: splitmix64 for seeding, xoshiro256** for streams ----
 * Used wherever a result must be a pure function of a seed (sim content, trace gen). */
typedef struct {
    uint64_t s[4];
} MbRand;

static inline uint64_t mb_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
/* A stateless 64-bit mix of up to three values (for per-page seeds). */
static inline uint64_t mb_hash3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t x = a ^ 0x243f6a8885a308d3ULL;
    uint64_t h = mb_splitmix64(&x);
    x = h ^ b;
    h = mb_splitmix64(&x);
    x = h ^ c;
    return mb_splitmix64(&x);
}
static inline void mb_rand_seed(MbRand *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = mb_splitmix64(&seed);
}
static inline uint64_t mb_rand_next(MbRand *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}
/* Uniform in [0, n) without modulo bias worth caring about (Lemire's multiply-shift). */
static inline uint64_t mb_rand_below(MbRand *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)mb_rand_next(r) * n) >> 64);
}
/* Uniform double in [0, 1). */
static inline double mb_rand_double(MbRand *r)
{
    return (double)(mb_rand_next(r) >> 11) * 0x1.0p-53;
}

/* ---- units ---- */
/* Parse a byte size: "4096", "64K", "1M", "1G", "2T", "1GiB", "1GB" (all binary, QEMU-style).
 * Returns false (and sets err) on garbage or overflow. */
bool mb_parse_size(const char *s, uint64_t *out, GError **err);
/* Parse a duration into nanoseconds: "250" (ms), "50ms", "100us", "2s", "1.5s", "10ns". */
bool mb_parse_duration(const char *s, int64_t *out_ns, GError **err);
/* Parse a bandwidth into bytes per second: "1G" (bytes/s), "10Gbit", "100Mbit", "1GB/s",
 * "125M/s".  Bits are decimal (network convention), bytes binary. */
bool mb_parse_bandwidth(const char *s, uint64_t *out_bps, GError **err);
/* Parse an unsigned or signed decimal integer, whole string. */
bool mb_parse_u64(const char *s, uint64_t *out);
bool mb_parse_i64(const char *s, int64_t *out);

/* Human formatting into a caller buffer; returns buf.  "1.50 GiB", "12.3 ms". */
char *mb_fmt_bytes(char *buf, size_t len, double bytes);
char *mb_fmt_duration(char *buf, size_t len, int64_t ns);

/* ---- time ---- */
/* CLOCK_MONOTONIC in ns.  Only for wall-clock things (pace, progress, KVM guest clock):
 * sim results must never depend on it. */
int64_t mb_monotonic_ns(void);
/* CLOCK_REALTIME in ns (QMP event timestamps). */
int64_t mb_realtime_ns(void);
/* CPU time (user + system) of the whole process so far, all threads, in ns.  For reports
 * of what a migration costs the host; like wall time, never a sim result. */
int64_t mb_process_cpu_ns(void);

/* ---- host ---- */
/* MemAvailable of /proc/meminfo in bytes (what can be allocated without swapping out or
 * being OOM-killed), or 0 when it cannot be read.  For fail-early checks only. */
uint64_t mb_host_mem_available(void);
/* This process's peak resident set (VmHWM of /proc/self/status) in bytes, or 0. */
uint64_t mb_peak_rss(void);

/* Returns true when every byte of buf is zero (QEMU's buffer_is_zero). */
bool mb_buffer_is_zero(const void *buf, size_t len);

/* UUIDs in QEMU's text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (out: 37 bytes). */
void mb_uuid_format(const uint8_t uuid[16], char out[37]);
bool mb_uuid_parse(const char *s, uint8_t out[16]);

#endif
