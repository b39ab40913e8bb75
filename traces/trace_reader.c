/* trace_reader: a TraceSource over a trace file or a memory buffer.
 *
 * Reads one block at a time (bounded memory: one compressed and one raw block plus one
 * epoch of events) and checks everything it reads: magic, version, checksums, sizes, event
 * ranges, time order, block chaining (each block's base time is the previous block's last
 * epoch time, so a lost or repeated block is caught) and the end marker (so truncation at a
 * block boundary is caught too).  Every error names the byte offset; nothing in the input
 * can make it read out of bounds or allocate more than the format's limits. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

typedef struct {
    TraceSource base;
    int fd;             /* file input, or -1 */
    const uint8_t *mem; /* memory input */
    uint64_t size;      /* input length */
    uint64_t data_off;  /* first block */
    uint64_t off;       /* next block */
    ZSTD_DCtx *dctx;
    uint8_t *comp, *raw; /* grown to the largest block met, up to the format's limits */
    size_t comp_cap, comp_size, raw_size;
    const uint8_t *rp, *rend; /* decode position in the current block */
    uint64_t blk_off;         /* offset of the current block, for messages */
    uint32_t blk_epochs_left, blk_events_left;
    int64_t last_t;
    uint64_t prev_page;
    unsigned prev_block, prev_vcpu;
    uint64_t *block_pages;
    TraceEvent *ev;
    size_t ev_size;
    uint64_t total_events, total_epochs;
    bool ended, failed;
} TraceReader;

static const char *rname(TraceReader *r)
{
    return r->base.path ? r->base.path : r->base.name;
}

/* Reads exactly n bytes at off; false with a "truncated" error naming `what`. */
static bool read_at(TraceReader *r, uint64_t off, void *buf, size_t n, const char *what,
                    GError **err)
{
    if (off > r->size || r->size - off < n) {
        mb_error_set(err,
                     "%s: truncated at offset %" G_GUINT64_FORMAT ": %s needs %zu bytes, "
                     "the input ends at %" G_GUINT64_FORMAT,
                     rname(r), off, what, n, r->size);
        return false;
    }
    if (r->mem) {
        memcpy(buf, r->mem + off, n);
        return true;
    }
    uint8_t *p = buf;
    while (n) {
        ssize_t k = pread(r->fd, p, n, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            mb_error_set(err, "%s: read error at offset %" G_GUINT64_FORMAT ": %s", rname(r), off,
                         k < 0 ? g_strerror(errno) : "unexpected end of file");
            return false;
        }
        p += k;
        off += (uint64_t)k;
        n -= (size_t)k;
    }
    return true;
}

static bool read_header(TraceReader *r, GError **err)
{
    uint8_t fixed[TRACE_HDR_FIXED];

    if (r->size < TRACE_MAGIC_LEN || !read_at(r, 0, fixed, TRACE_MAGIC_LEN, "magic", NULL) ||
        memcmp(fixed, TRACE_MAGIC, TRACE_MAGIC_LEN) != 0) {
        mb_error_set(err, "%s: not a migbench trace (bad magic at offset 0)", rname(r));
        return false;
    }
    if (!read_at(r, 0, fixed, sizeof(fixed), "header", err))
        return false;
    uint32_t version = mb_ld_be32(fixed + 8), body_len = mb_ld_be32(fixed + 12);
    if (version < 1 || version > TRACE_FORMAT_VERSION) {
        mb_error_set(err,
                     "%s: unsupported trace format version %u at offset 8 (this migbench "
                     "reads version %u)",
                     rname(r), version, TRACE_FORMAT_VERSION);
        return false;
    }
    if (body_len > TRACE_PROVENANCE_MAX + 64 + TRACE_MAX_BLOCKS * (TRACE_BLOCK_NAME_MAX + 10)) {
        mb_error_set(err, "%s: header length %u too large at offset 12", rname(r), body_len);
        return false;
    }
    size_t total = TRACE_HDR_FIXED + body_len + 4;
    uint8_t *buf = g_malloc(total);
    bool ok = read_at(r, 0, buf, total, "header", err);
    if (ok && (uint32_t)crc32(0, buf, (uInt)(total - 4)) != mb_ld_be32(buf + total - 4)) {
        mb_error_set(err, "%s: header checksum mismatch at offset %zu", rname(r), total - 4);
        ok = false;
    }
    if (ok)
        ok = trace_header_decode_body(buf + TRACE_HDR_FIXED, body_len, TRACE_HDR_FIXED, rname(r),
                                      &r->base.hdr, err);
    g_free(buf);
    if (!ok)
        return false;
    r->base.hdr.version = version;
    if (version < trace_header_min_version(&r->base.hdr)) {
        mb_error_set(err, "%s: a version %u trace cannot hold disk blocks (at offset 8)", rname(r),
                     version);
        return false;
    }
    r->data_off = total;
    r->block_pages = g_new(uint64_t, r->base.hdr.nblocks);
    for (unsigned i = 0; i < r->base.hdr.nblocks; i++)
        r->block_pages[i] = trace_block_pages(&r->base.hdr, i);
    return true;
}

static bool reader_rewind(TraceSource *s, GError **err)
{
    TraceReader *r = (TraceReader *)s;

    r->off = r->data_off;
    r->rp = r->rend = NULL;
    r->blk_epochs_left = r->blk_events_left = 0;
    r->last_t = 0;
    r->total_events = r->total_epochs = 0;
    r->ended = r->failed = false;
    return true;
}

static bool read_end(TraceReader *r, GError **err)
{
    uint8_t e[TRACE_END_LEN];

    if (!read_at(r, r->off, e, sizeof(e), "end marker", err))
        return false;
    if ((uint32_t)crc32(0, e, 28) != mb_ld_be32(e + 28)) {
        mb_error_set(err, "%s: end marker checksum mismatch at offset %" G_GUINT64_FORMAT, rname(r),
                     r->off + 28);
        return false;
    }
    if (mb_ld_be64(e + 4) != r->total_events || mb_ld_be64(e + 12) != r->total_epochs ||
        (int64_t)mb_ld_be64(e + 20) != r->last_t) {
        mb_error_set(err,
                     "%s: end marker at offset %" G_GUINT64_FORMAT " does not match the "
                     "blocks read (a block is missing or repeated)",
                     rname(r), r->off);
        return false;
    }
    if (r->off + TRACE_END_LEN != r->size) {
        mb_error_set(err, "%s: unexpected data after the end marker at offset %" G_GUINT64_FORMAT,
                     rname(r), r->off + TRACE_END_LEN);
        return false;
    }
    r->ended = true;
    return true;
}

/* Loads the next block; returns 1, 0 at the end marker, -1 on error. */
static int load_block(TraceReader *r, GError **err)
{
    uint8_t h[TRACE_BLOCK_HDR];

    if (r->off == r->size) {
        mb_error_set(err, "%s: truncated at offset %" G_GUINT64_FORMAT ": no end marker", rname(r),
                     r->off);
        return -1;
    }
    if (!read_at(r, r->off, h, 4, "block magic", err))
        return -1;
    if (!memcmp(h, TRACE_END_MAGIC, 4))
        return read_end(r, err) ? 0 : -1;
    if (memcmp(h, TRACE_BLOCK_MAGIC, 4) != 0) {
        mb_error_set(err, "%s: bad block magic at offset %" G_GUINT64_FORMAT, rname(r), r->off);
        return -1;
    }
    if (!read_at(r, r->off, h, sizeof(h), "block header", err))
        return -1;
    uint32_t raw_len = mb_ld_be32(h + 4), comp_len = mb_ld_be32(h + 8);
    uint32_t nepochs = mb_ld_be32(h + 12), nevents = mb_ld_be32(h + 16);
    int64_t base = (int64_t)mb_ld_be64(h + 20);
    if (raw_len == 0 || raw_len > TRACE_BLOCK_RAW_MAX || comp_len == 0 || comp_len > r->comp_cap ||
        nepochs == 0 || nevents < nepochs ||
        (uint64_t)nevents > (uint64_t)nepochs * TRACE_EPOCH_MAX_EVENTS) {
        mb_error_set(err,
                     "%s: block header at offset %" G_GUINT64_FORMAT " has impossible sizes "
                     "(raw %u, compressed %u, %u epochs, %u events)",
                     rname(r), r->off, raw_len, comp_len, nepochs, nevents);
        return -1;
    }
    if (comp_len > r->comp_size) {
        r->comp_size = MAX(comp_len, 2 * r->comp_size);
        r->comp = g_realloc(r->comp, MIN(r->comp_size, r->comp_cap));
        r->comp_size = MIN(r->comp_size, r->comp_cap);
    }
    if (raw_len > r->raw_size) {
        g_free(r->raw);
        r->raw_size = MIN(MAX(raw_len, 2 * r->raw_size), TRACE_BLOCK_RAW_MAX);
        r->raw = g_malloc(r->raw_size);
    }
    if (!read_at(r, r->off + sizeof(h), r->comp, comp_len, "block payload", err))
        return -1;
    uLong crc = crc32(0, h, 28);
    crc = crc32(crc, r->comp, comp_len);
    if ((uint32_t)crc != mb_ld_be32(h + 28)) {
        mb_error_set(err, "%s: block checksum mismatch at offset %" G_GUINT64_FORMAT, rname(r),
                     r->off);
        return -1;
    }
    if (base != r->last_t) {
        mb_error_set(err,
                     "%s: block at offset %" G_GUINT64_FORMAT " does not follow the "
                     "previous one (base time %" G_GINT64_FORMAT ", expected %" G_GINT64_FORMAT ")",
                     rname(r), r->off, base, r->last_t);
        return -1;
    }
    size_t got = ZSTD_decompressDCtx(r->dctx, r->raw, raw_len, r->comp, comp_len);
    if (ZSTD_isError(got) || got != raw_len) {
        mb_error_set(err,
                     "%s: block at offset %" G_GUINT64_FORMAT " does not decompress to its "
                     "declared %u bytes%s%s",
                     rname(r), r->off, raw_len, ZSTD_isError(got) ? ": " : "",
                     ZSTD_isError(got) ? ZSTD_getErrorName(got) : "");
        return -1;
    }
    r->blk_off = r->off;
    r->off += sizeof(h) + comp_len;
    r->rp = r->raw;
    r->rend = r->raw + raw_len;
    r->blk_epochs_left = nepochs;
    r->blk_events_left = nevents;
    r->prev_page = 0;
    r->prev_block = r->prev_vcpu = 0;
    return 1;
}

static int corrupt(TraceReader *r, const uint8_t *at, const char *what, GError **err)
{
    mb_error_set(err,
                 "%s: corrupt epoch data in the block at offset %" G_GUINT64_FORMAT
                 " (byte %zu of its decompressed payload): %s",
                 rname(r), r->blk_off, (size_t)(at - r->raw), what);
    r->failed = true;
    return -1;
}

static int reader_next(TraceSource *s, TraceEpoch *ep, GError **err)
{
    TraceReader *r = (TraceReader *)s;
    const TraceHeader *h = &s->hdr;

    if (r->ended)
        return 0;
    if (r->failed) {
        mb_error_set(err, "%s: the trace is corrupt (see the first error)", rname(r));
        return -1;
    }
    while (r->rp == r->rend) {
        if (r->rp && (r->blk_epochs_left || r->blk_events_left))
            return corrupt(r, r->rp, "fewer epochs or events than the block header says", err);
        int rc = load_block(r, err);
        if (rc <= 0) {
            r->failed = rc < 0;
            return rc;
        }
    }
    const uint8_t *p = r->rp, *end = r->rend, *at = p;
    uint64_t dt, n, v;
    if (!r->blk_epochs_left)
        return corrupt(r, p, "more epochs than the block header says", err);
    if (!(p = trace_get_varint(p, end, &dt)) || !(p = trace_get_varint(p, end, &n)))
        return corrupt(r, at, "truncated epoch header", err);
    if (dt > (uint64_t)(h->duration_ns - r->last_t))
        return corrupt(r, at, "epoch time beyond the trace duration", err);
    if (n == 0 || n > TRACE_EPOCH_MAX_EVENTS || n > r->blk_events_left)
        return corrupt(r, at, "bad event count", err);

    uint64_t prev = r->prev_page;
    unsigned blk = r->prev_block, vcpu = r->prev_vcpu;
    uint64_t pages = r->block_pages[blk < h->nblocks ? blk : 0];
    if (n > r->ev_size) {
        r->ev_size = MIN(MAX(n, 2 * r->ev_size), TRACE_EPOCH_MAX_EVENTS);
        r->ev = g_renew(TraceEvent, r->ev, r->ev_size);
    }
    TraceEvent *ev = r->ev;
    for (uint64_t i = 0; i < n; i++) {
        at = p;
        if (!(p = trace_get_varint(p, end, &v)))
            return corrupt(r, at, "truncated event", err);
        if (v & 2) {
            uint64_t b;
            if (!(p = trace_get_varint(p, end, &b)) || b >= h->nblocks)
                return corrupt(r, at, "bad block number", err);
            blk = (unsigned)b;
            pages = r->block_pages[blk];
        }
        if (v & 1) {
            uint64_t c;
            if (!(p = trace_get_varint(p, end, &c)) || c >= h->nvcpus)
                return corrupt(r, at, "bad vCPU number", err);
            vcpu = (unsigned)c;
        }
        unsigned cls = (v >> 2) & 7;
        uint64_t page = prev + (uint64_t)trace_unzigzag(v >> 5);
        if (cls > TRACE_NCLASSES)
            return corrupt(r, at, "unknown content class", err);
        if (page >= pages)
            return corrupt(r, at, "page number out of range", err);
        ev[i].page = page;
        ev[i].vcpu = vcpu;
        ev[i].block = (uint16_t)blk;
        ev[i].cls = (uint8_t)cls;
        prev = page;
    }
    r->rp = p;
    r->prev_page = prev;
    r->prev_block = blk;
    r->prev_vcpu = vcpu;
    r->last_t += (int64_t)dt;
    r->blk_epochs_left--;
    r->blk_events_left -= (uint32_t)n;
    r->total_events += n;
    r->total_epochs++;
    ep->t_ns = r->last_t;
    ep->n = n;
    ep->ev = r->ev;
    return 1;
}

static void reader_free(TraceSource *s)
{
    TraceReader *r = (TraceReader *)s;

    if (r->fd >= 0)
        close(r->fd);
    ZSTD_freeDCtx(r->dctx);
    g_free(r->comp);
    g_free(r->raw);
    g_free(r->ev);
    g_free(r->block_pages);
    g_free(r);
}

static const TraceSourceOps reader_ops = {
    .next = reader_next,
    .rewind = reader_rewind,
    .free = reader_free,
};

static TraceSource *reader_open(TraceReader *r, GError **err)
{
    r->base.ops = &reader_ops;
    trace_header_init(&r->base.hdr);
    r->dctx = ZSTD_createDCtx();
    if (!r->dctx) {
        mb_error_set(err, "cannot create a zstd decompression context");
        trace_source_free(&r->base);
        return NULL;
    }
    r->comp_cap = ZSTD_compressBound(TRACE_BLOCK_RAW_MAX);
    if (!read_header(r, err)) {
        trace_source_free(&r->base);
        return NULL;
    }
    reader_rewind(&r->base, NULL);
    return &r->base;
}

TraceSource *trace_open_file(const char *path, GError **err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        mb_error_set(err, "%s: cannot open: %s", path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        mb_error_set(err, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    TraceReader *r = g_new0(TraceReader, 1);
    r->fd = fd;
    r->size = (uint64_t)st.st_size;
    r->base.path = g_strdup(path);
    r->base.name = g_path_get_basename(path);
    return reader_open(r, err);
}

TraceSource *trace_open_memory(const void *data, size_t len, const char *name, GError **err)
{
    TraceReader *r = g_new0(TraceReader, 1);

    r->fd = -1;
    r->mem = data ? data : (const uint8_t *)"";
    r->size = len;
    r->base.name = g_strdup(name ? name : "trace");
    return reader_open(r, err);
}
