/* trace_writer: streams epochs into a trace file (format in trace_impl.h and
 * docs/trace-format.md).
 *
 * Epochs are delta-encoded into a raw buffer that is compressed and written as one
 * checksummed block whenever it reaches ~256 KiB, so memory stays bounded however long the
 * trace is.  The file is written under a temporary name and renamed into place at the end,
 * so a crashed or aborted writer never leaves a half trace behind under the real name. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* Worst-case encoded size of one event and of an epoch's fixed part. */
#define EVENT_MAX_BYTES 30
#define EPOCH_MAX_BYTES 20

struct TraceWriter {
    TraceHeader hdr;
    char *path, *tmp;
    int fd;
    int level;
    ZSTD_CCtx *cctx;
    uint8_t *raw, *comp; /* grown as needed up to TRACE_BLOCK_RAW_MAX */
    size_t raw_len, raw_cap, comp_cap;
    uint32_t blk_epochs, blk_events;
    int64_t blk_base, last_t;
    uint64_t prev_page;
    unsigned prev_block, prev_vcpu;
    uint64_t total_events, total_epochs;
};

static bool write_all(TraceWriter *w, const void *buf, size_t len, GError **err)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            mb_error_set(err, "%s: write failed: %s", w->tmp, g_strerror(errno));
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void writer_free(TraceWriter *w)
{
    if (w->fd >= 0)
        close(w->fd);
    ZSTD_freeCCtx(w->cctx);
    g_free(w->raw);
    g_free(w->comp);
    g_free(w->path);
    g_free(w->tmp);
    trace_header_clear(&w->hdr);
    g_free(w);
}

TraceWriter *trace_writer_new(const char *path, const TraceHeader *h, int level, GError **err)
{
    GError *verr = NULL;

    if (!trace_header_validate(h, &verr)) {
        mb_error_set(err, "%s: %s", path, verr->message);
        g_error_free(verr);
        return NULL;
    }
    TraceWriter *w = g_new0(TraceWriter, 1);
    trace_header_copy(&w->hdr, h);
    w->hdr.version = trace_header_min_version(h);
    w->path = g_strdup(path);
    w->tmp = g_strdup_printf("%s.tmp", path);
    w->level = level ? level : 3;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        mb_error_set(err, "%s: cannot create: %s", w->tmp, g_strerror(errno));
        writer_free(w);
        return NULL;
    }
    w->cctx = ZSTD_createCCtx();
    if (!w->cctx) {
        mb_error_set(err, "%s: cannot create a zstd compression context", w->tmp);
        unlink(w->tmp);
        writer_free(w);
        return NULL;
    }
    GByteArray *hdr = trace_header_encode(&w->hdr);
    bool ok = write_all(w, hdr->data, hdr->len, err);
    g_byte_array_unref(hdr);
    if (!ok) {
        unlink(w->tmp);
        writer_free(w);
        return NULL;
    }
    return w;
}

static bool flush_block(TraceWriter *w, GError **err)
{
    if (!w->blk_epochs)
        return true;
    size_t bound = ZSTD_compressBound(w->raw_len);
    if (bound > w->comp_cap) {
        g_free(w->comp);
        w->comp_cap = MAX(bound, 2 * w->comp_cap);
        w->comp = g_malloc(w->comp_cap);
    }
    size_t clen = ZSTD_compressCCtx(w->cctx, w->comp, w->comp_cap, w->raw, w->raw_len, w->level);
    if (ZSTD_isError(clen)) {
        mb_error_set(err, "%s: zstd: %s", w->tmp, ZSTD_getErrorName(clen));
        return false;
    }
    uint8_t h[TRACE_BLOCK_HDR];
    memcpy(h, TRACE_BLOCK_MAGIC, 4);
    mb_st_be32(h + 4, (uint32_t)w->raw_len);
    mb_st_be32(h + 8, (uint32_t)clen);
    mb_st_be32(h + 12, w->blk_epochs);
    mb_st_be32(h + 16, w->blk_events);
    mb_st_be64(h + 20, (uint64_t)w->blk_base);
    uLong crc = crc32(0, h, 28);
    crc = crc32(crc, w->comp, (uInt)clen);
    mb_st_be32(h + 28, (uint32_t)crc);
    if (!write_all(w, h, sizeof(h), err) || !write_all(w, w->comp, clen, err))
        return false;
    w->raw_len = 0;
    w->blk_epochs = w->blk_events = 0;
    w->blk_base = w->last_t;
    w->prev_page = 0;
    w->prev_block = w->prev_vcpu = 0;
    return true;
}

static bool check_event(TraceWriter *w, const TraceEvent *e, size_t i, GError **err)
{
    if (e->block >= w->hdr.nblocks) {
        mb_error_set(err, "%s: event %zu: block %u out of range (%u blocks)", w->path, i, e->block,
                     w->hdr.nblocks);
        return false;
    }
    if (e->page >= trace_block_pages(&w->hdr, e->block)) {
        mb_error_set(err,
                     "%s: event %zu: page %" G_GUINT64_FORMAT
                     " out of range for block '%s' (%" G_GUINT64_FORMAT " pages)",
                     w->path, i, e->page, w->hdr.blocks[e->block].name,
                     trace_block_pages(&w->hdr, e->block));
        return false;
    }
    if (e->vcpu >= w->hdr.nvcpus) {
        mb_error_set(err, "%s: event %zu: vCPU %u out of range (%u vCPUs)", w->path, i, e->vcpu,
                     w->hdr.nvcpus);
        return false;
    }
    if (e->cls > TRACE_NCLASSES) {
        mb_error_set(err, "%s: event %zu: unknown content class %u", w->path, i, e->cls);
        return false;
    }
    return true;
}

static void encode_epoch(TraceWriter *w, int64_t t, const TraceEvent *ev, size_t n)
{
    uint8_t *p = w->raw + w->raw_len;

    p = trace_put_varint(p, (uint64_t)(t - w->last_t));
    p = trace_put_varint(p, n);
    uint64_t prev = w->prev_page;
    unsigned blk = w->prev_block, vcpu = w->prev_vcpu;
    for (size_t i = 0; i < n; i++) {
        const TraceEvent *e = &ev[i];
        unsigned nb = e->block != blk, nv = e->vcpu != vcpu;
        uint64_t v =
            trace_zigzag((int64_t)(e->page - prev)) << 5 | (uint64_t)e->cls << 2 | nb << 1 | nv;
        p = trace_put_varint(p, v);
        if (nb)
            p = trace_put_varint(p, e->block);
        if (nv)
            p = trace_put_varint(p, e->vcpu);
        prev = e->page;
        blk = e->block;
        vcpu = e->vcpu;
    }
    w->prev_page = prev;
    w->prev_block = blk;
    w->prev_vcpu = vcpu;
    w->raw_len = (size_t)(p - w->raw);
    w->blk_epochs++;
    w->blk_events += (uint32_t)n;
    w->last_t = t;
    w->total_epochs++;
    w->total_events += n;
}

bool trace_writer_add(TraceWriter *w, int64_t t_ns, const TraceEvent *ev, size_t n, GError **err)
{
    if (t_ns < w->last_t || t_ns > w->hdr.duration_ns) {
        mb_error_set(err,
                     "%s: epoch time %" G_GINT64_FORMAT " ns is before the previous epoch "
                     "(%" G_GINT64_FORMAT ") or after the duration (%" G_GINT64_FORMAT ")",
                     w->path, t_ns, w->last_t, w->hdr.duration_ns);
        return false;
    }
    for (size_t i = 0; i < n; i++)
        if (!check_event(w, &ev[i], i, err))
            return false;
    while (n) {
        size_t k = MIN(n, (size_t)TRACE_EPOCH_MAX_EVENTS);
        if (w->raw_len + EPOCH_MAX_BYTES + k * EVENT_MAX_BYTES > TRACE_BLOCK_RAW_MAX ||
            w->blk_events + k > UINT32_MAX / 2)
            if (!flush_block(w, err))
                return false;
        size_t need = w->raw_len + EPOCH_MAX_BYTES + k * EVENT_MAX_BYTES;
        if (need > w->raw_cap) {
            w->raw_cap = MIN(MAX(need, 2 * w->raw_cap), (size_t)TRACE_BLOCK_RAW_MAX);
            w->raw = g_realloc(w->raw, w->raw_cap);
        }
        encode_epoch(w, t_ns, ev, k);
        ev += k;
        n -= k;
        if (w->raw_len >= TRACE_BLOCK_RAW_GOAL && !flush_block(w, err))
            return false;
    }
    return true;
}

uint64_t trace_writer_events(const TraceWriter *w)
{
    return w->total_events;
}

bool trace_writer_finish(TraceWriter *w, GError **err)
{
    uint8_t e[TRACE_END_LEN];
    bool ok = flush_block(w, err);

    if (ok) {
        memcpy(e, TRACE_END_MAGIC, 4);
        mb_st_be64(e + 4, w->total_events);
        mb_st_be64(e + 12, w->total_epochs);
        mb_st_be64(e + 20, (uint64_t)w->last_t);
        mb_st_be32(e + 28, (uint32_t)crc32(0, e, 28));
        ok = write_all(w, e, sizeof(e), err);
    }
    if (ok && close(w->fd) != 0) {
        mb_error_set(err, "%s: close failed: %s", w->tmp, g_strerror(errno));
        ok = false;
    }
    w->fd = -1;
    if (ok && rename(w->tmp, w->path) != 0) {
        mb_error_set(err, "%s: cannot rename into place: %s", w->path, g_strerror(errno));
        ok = false;
    }
    if (!ok)
        unlink(w->tmp);
    writer_free(w);
    return ok;
}

void trace_writer_abort(TraceWriter *w)
{
    if (!w)
        return;
    unlink(w->tmp);
    writer_free(w);
}
