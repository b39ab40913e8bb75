/* mig_multifd: multifd channels, source and destination (see mig_multifd.h). */
#include "mig_multifd.h"
#include "mb_error.h"
#include "mb_util.h"

#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define PAGE         4096u
#define FLAG_SYNC    1u
#define METHOD_SHIFT 1

static size_t header_len(const MigMultifdConfig *c)
{
    return c->seed_format ? 284 + 8 * (size_t)c->page_count : 320 + 8 * (size_t)c->page_count;
}

static size_t hello_len(const MigMultifdConfig *c)
{
    return c->seed_format ? 25 : 64;
}

/* ===================================================================== source */

typedef struct {
    struct MigMultifdSend *m;
    unsigned id;
    Chan *chan;
    GThread *th;
    /* the job, guarded by m->lock */
    bool pending;
    bool sync;
    uint32_t used;
    int block;
    uint64_t *offsets;
    uint8_t *pages;
    uint64_t packet_num;
    uint64_t wire; /* bytes the finished job really wrote (compressed) */
    /* thread-private */
    uint8_t *packet;
    uint8_t *zbuf;
    size_t zbuf_size;
    z_stream zs;
    ZSTD_CCtx *zc;
    uint64_t written;
} MfSend;

struct MigMultifdSend {
    MigMultifdConfig cfg;
    MfSend *ch;
    GMutex lock;
    GCond cond;
    bool quit;
    GError *error;
    /* the packet being filled by the migration thread */
    int cur_block;
    uint32_t cur_used;
    uint64_t *cur_offsets;
    uint8_t *cur_pages;
    unsigned next;
    uint64_t packet_num;
    uint64_t wire_ready; /* wire bytes of jobs known to be finished */
};

static void fill_header(MfSend *ch, uint8_t *p, uint32_t flags, uint32_t next_size)
{
    const MigMultifdConfig *c = &ch->m->cfg;
    size_t pos = 0;

    memset(p, 0, header_len(c));
    mb_st_be32(p + pos, MIG_MULTIFD_MAGIC), pos += 4;
    mb_st_be32(p + pos, MIG_MULTIFD_VERSION), pos += 4;
    mb_st_be32(p + pos, flags), pos += 4;
    mb_st_be32(p + pos, c->page_count), pos += 4;
    mb_st_be32(p + pos, ch->used), pos += 4;
    if (!c->seed_format)
        mb_st_be32(p + pos, next_size), pos += 4;
    mb_st_be64(p + pos, ch->packet_num), pos += 8;
    if (!c->seed_format)
        pos += 32; /* reserved */
    if (ch->used && ch->block >= 0)
        g_strlcpy((char *)p + pos, c->block_names[ch->block], 256);
    pos += 256;
    for (uint32_t i = 0; i < ch->used; i++)
        mb_st_be64(p + pos + 8 * i, ch->offsets[i]);
}

/* Compresses the job's pages into ch->zbuf; returns the size or -1. */
static int64_t compress_pages(MfSend *ch, GError **err)
{
    const MigMultifdConfig *c = &ch->m->cfg;
    size_t out = 0;

    if (c->method == MIG_MULTIFD_ZLIB) {
        for (uint32_t i = 0; i < ch->used; i++) {
            ch->zs.next_in = ch->pages + (size_t)i * PAGE;
            ch->zs.avail_in = PAGE;
            ch->zs.next_out = ch->zbuf + out;
            ch->zs.avail_out = (uInt)(ch->zbuf_size - out);
            int ret;
            do {
                ret = deflate(&ch->zs, i == ch->used - 1 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            } while (ret == Z_OK && ch->zs.avail_in && ch->zs.avail_out);
            if (ret != Z_OK || ch->zs.avail_in) {
                mb_error_set(err, "multifd %u: deflate returned %d instead of Z_OK", ch->id, ret);
                return -1;
            }
            out = ch->zbuf_size - ch->zs.avail_out;
        }
        return (int64_t)out;
    }
    ZSTD_outBuffer ob = { ch->zbuf, ch->zbuf_size, 0 };
    for (uint32_t i = 0; i < ch->used; i++) {
        ZSTD_inBuffer ib = { ch->pages + (size_t)i * PAGE, PAGE, 0 };
        ZSTD_EndDirective mode = i == ch->used - 1 ? ZSTD_e_flush : ZSTD_e_continue;
        size_t r;
        do {
            r = ZSTD_compressStream2(ch->zc, &ob, &ib, mode);
        } while (!ZSTD_isError(r) && (ib.pos < ib.size || (mode == ZSTD_e_flush && r > 0)) &&
                 ob.pos < ob.size);
        if (ZSTD_isError(r) || ib.pos < ib.size || (mode == ZSTD_e_flush && r > 0)) {
            mb_error_set(err, "multifd %u: compressStream error %s", ch->id,
                         ZSTD_isError(r) ? ZSTD_getErrorName(r) : "output full");
            return -1;
        }
    }
    return (int64_t)ob.pos;
}

static bool send_job(MfSend *ch, GError **err)
{
    const MigMultifdConfig *c = &ch->m->cfg;
    uint32_t flags = ch->sync ? FLAG_SYNC : 0;
    int64_t size = (int64_t)ch->used * PAGE;
    const uint8_t *data = ch->pages;

    if (ch->used && c->method != MIG_MULTIFD_NONE) {
        size = compress_pages(ch, err);
        if (size < 0)
            return false;
        data = ch->zbuf;
    }
    if (ch->used)
        flags |= (uint32_t)c->method << METHOD_SHIFT;
    fill_header(ch, ch->packet, flags, ch->used ? (uint32_t)size : 0);
    if (!chan_write_all(ch->chan, ch->packet, header_len(c), err))
        return false;
    ch->written = header_len(c) + (ch->used ? (uint64_t)size : 0);
    return !ch->used || chan_write_all(ch->chan, data, (size_t)size, err);
}

static gpointer send_thread(gpointer opaque)
{
    MfSend *ch = opaque;
    MigMultifdSend *m = ch->m;

    g_mutex_lock(&m->lock);
    for (;;) {
        while (!ch->pending && !m->quit)
            g_cond_wait(&m->cond, &m->lock);
        if (m->quit)
            break;
        g_mutex_unlock(&m->lock);
        GError *err = NULL;
        bool ok = send_job(ch, &err);
        g_mutex_lock(&m->lock);
        if (!ok) {
            if (!m->error)
                m->error = err;
            else
                g_error_free(err);
            m->quit = true;
        }
        ch->pending = false;
        ch->sync = false;
        ch->wire += ch->written;
        g_cond_broadcast(&m->cond);
    }
    g_mutex_unlock(&m->lock);
    return NULL;
}

static bool send_hello(const MigMultifdConfig *c, Chan *chan, unsigned id, GError **err)
{
    uint8_t h[64] = { 0 };

    mb_st_be32(h, MIG_MULTIFD_MAGIC);
    mb_st_be32(h + 4, MIG_MULTIFD_VERSION);
    memcpy(h + 8, c->uuid, 16);
    h[24] = (uint8_t)id;
    return chan_write_all(chan, h, hello_len(c), err);
}

MigMultifdSend *mig_multifd_send_new(const MigMultifdConfig *cfg, const ChanUri *uri, GError **err)
{
    if (uri->scheme != CHAN_TCP && uri->scheme != CHAN_UNIX) {
        mb_error_set(err, "multifd needs a tcp or unix migration URI");
        return NULL;
    }
    MigMultifdSend *m = g_new0(MigMultifdSend, 1);
    m->cfg = *cfg;
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->cur_block = -1;
    m->cur_offsets = g_new0(uint64_t, cfg->page_count);
    m->cur_pages = g_malloc((size_t)cfg->page_count * PAGE);
    m->ch = g_new0(MfSend, cfg->channels);
    for (unsigned i = 0; i < cfg->channels; i++) {
        MfSend *ch = &m->ch[i];
        ch->m = m;
        ch->id = i;
        ch->block = -1;
        ch->offsets = g_new0(uint64_t, cfg->page_count);
        ch->pages = g_malloc((size_t)cfg->page_count * PAGE);
        ch->packet = g_malloc(header_len(cfg));
        if (cfg->method != MIG_MULTIFD_NONE) {
            ch->zbuf_size = (size_t)cfg->page_count * PAGE * 2 + 1024;
            ch->zbuf = g_malloc(ch->zbuf_size);
        }
        /* A codec that cannot start fails the setup with QEMU 5.0's texts. */
        if (cfg->method == MIG_MULTIFD_ZLIB && deflateInit(&ch->zs, cfg->level) != Z_OK) {
            mb_error_set(err, "multifd %u: deflate init failed", i);
            mig_multifd_send_free(m);
            return NULL;
        }
        if (cfg->method == MIG_MULTIFD_ZSTD) {
            ch->zc = ZSTD_createCCtx();
            if (!ch->zc) {
                mb_error_set(err, "multifd %u: zstd createCStream failed", i);
                mig_multifd_send_free(m);
                return NULL;
            }
            size_t rc = ZSTD_CCtx_setParameter(ch->zc, ZSTD_c_compressionLevel, cfg->level);
            if (ZSTD_isError(rc)) {
                mb_error_set(err, "multifd %u: initCStream failed with error %s", i,
                             ZSTD_getErrorName(rc));
                mig_multifd_send_free(m);
                return NULL;
            }
        }
    }
    for (unsigned i = 0; i < cfg->channels; i++) {
        MfSend *ch = &m->ch[i];
        ch->chan = chan_connect(uri, err);
        if (!ch->chan || (cfg->wrap && !cfg->wrap(cfg->wrap_opaque, ch->chan, err)) ||
            !send_hello(cfg, ch->chan, i, err)) {
            mig_multifd_send_free(m);
            return NULL;
        }
        ch->th = g_thread_new("multifd-send", send_thread, ch);
    }
    return m;
}

/* Waits until channel `ch` is idle; false when the channels have failed.  Lock held. */
static bool wait_idle(MigMultifdSend *m, MfSend *ch)
{
    while (ch->pending && !m->quit)
        g_cond_wait(&m->cond, &m->lock);
    /* Collected only here, where the set of finished jobs is fixed by program order. */
    m->wire_ready += ch->wire;
    ch->wire = 0;
    return !m->quit;
}

uint64_t mig_multifd_take_wire_bytes(MigMultifdSend *m)
{
    uint64_t w = m->wire_ready;
    m->wire_ready = 0;
    return w;
}

/* QEMU's multifd_send_pages: the current packet to the next channel (round robin). */
static int64_t send_pages(MigMultifdSend *m)
{
    MfSend *ch = &m->ch[m->next];
    uint32_t used = m->cur_used;

    g_mutex_lock(&m->lock);
    if (!wait_idle(m, ch)) {
        g_mutex_unlock(&m->lock);
        return -1;
    }
    uint64_t *o = ch->offsets;
    uint8_t *p = ch->pages;
    ch->offsets = m->cur_offsets;
    ch->pages = m->cur_pages;
    m->cur_offsets = o;
    m->cur_pages = p;
    ch->used = used;
    ch->block = m->cur_block;
    ch->sync = false;
    ch->packet_num = m->packet_num++;
    ch->pending = true;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    m->cur_used = 0;
    m->cur_block = -1;
    m->next = (m->next + 1) % m->cfg.channels;
    return (int64_t)used * PAGE + (int64_t)header_len(&m->cfg);
}

int64_t mig_multifd_queue_page(MigMultifdSend *m, unsigned block, uint64_t offset,
                               const uint8_t *page)
{
    int64_t bytes = 0;

    if (m->cur_block >= 0 && m->cur_block != (int)block) {
        bytes = send_pages(m);
        if (bytes < 0)
            return -1;
    }
    m->cur_block = (int)block;
    m->cur_offsets[m->cur_used] = offset;
    uint8_t *slot = m->cur_pages + (size_t)m->cur_used * PAGE;
    if (page != slot) /* not already made in place (mig_multifd_page_slot) */
        memcpy(slot, page, PAGE);
    if (++m->cur_used == m->cfg.page_count) {
        int64_t more = send_pages(m);
        if (more < 0)
            return -1;
        bytes += more;
    }
    return bytes;
}

uint8_t *mig_multifd_page_slot(MigMultifdSend *m, unsigned block)
{
    if (m->cur_block >= 0 && m->cur_block != (int)block)
        return NULL; /* queueing it hands the current packet over first */
    return m->cur_pages + (size_t)m->cur_used * PAGE;
}

int64_t mig_multifd_sync(MigMultifdSend *m)
{
    int64_t bytes = 0;

    if (m->cur_used) {
        bytes = send_pages(m);
        if (bytes < 0)
            return -1;
    }
    g_mutex_lock(&m->lock);
    for (unsigned i = 0; i < m->cfg.channels; i++) {
        MfSend *ch = &m->ch[i];
        if (!wait_idle(m, ch))
            goto fail;
        ch->used = 0;
        ch->block = -1;
        ch->sync = true;
        ch->packet_num = m->packet_num++;
        ch->pending = true;
        bytes += (int64_t)header_len(&m->cfg);
    }
    g_cond_broadcast(&m->cond);
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (!wait_idle(m, &m->ch[i]))
            goto fail;
    g_mutex_unlock(&m->lock);
    return bytes;
fail:
    g_mutex_unlock(&m->lock);
    return -1;
}

const GError *mig_multifd_send_error(MigMultifdSend *m)
{
    g_mutex_lock(&m->lock);
    const GError *e = m->error;
    g_mutex_unlock(&m->lock);
    return e;
}

void mig_multifd_send_shutdown(MigMultifdSend *m)
{
    g_mutex_lock(&m->lock);
    m->quit = true;
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (m->ch[i].chan)
            chan_shutdown(m->ch[i].chan);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

void mig_multifd_send_free(MigMultifdSend *m)
{
    if (!m)
        return;
    g_mutex_lock(&m->lock);
    m->quit = true;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (m->ch[i].th)
            g_thread_join(m->ch[i].th);
    for (unsigned i = 0; i < m->cfg.channels; i++) {
        MfSend *ch = &m->ch[i];
        chan_close(ch->chan);
        if (m->cfg.method == MIG_MULTIFD_ZLIB)
            deflateEnd(&ch->zs);
        ZSTD_freeCCtx(ch->zc);
        g_free(ch->offsets);
        g_free(ch->pages);
        g_free(ch->packet);
        g_free(ch->zbuf);
    }
    g_free(m->ch);
    g_free(m->cur_offsets);
    g_free(m->cur_pages);
    if (m->error)
        g_error_free(m->error);
    g_cond_clear(&m->cond);
    g_mutex_clear(&m->lock);
    g_free(m);
}

/* ================================================================ destination */

typedef struct {
    struct MigMultifdRecv *m;
    unsigned id;
    Chan *chan;
    GThread *th;
    bool closed; /* the source closed it between packets; its thread has ended */
    uint8_t *packet;
    uint8_t *pages;
    struct iovec *iov; /* page_count: where the pages of a packet are read in place */
    uint8_t *zbuf;
    size_t zbuf_size;
    z_stream zs;
    ZSTD_DCtx *zd;
} MfRecv;

struct MigMultifdRecv {
    MigMultifdConfig cfg;
    MigMultifdStoreFn store;
    MigMultifdPlaceFn place; /* may be NULL */
    void (*on_error)(void *opaque);
    void *opaque;
    MfRecv *ch;
    unsigned connected;
    GMutex lock;
    GCond cond;
    unsigned synced;     /* channels waiting at the current sync */
    unsigned closed;     /* channels the source closed (MfRecv.closed) */
    uint64_t generation; /* bumped when the main thread releases a sync */
    bool quit;
    GError *error;
};

MigMultifdRecv *mig_multifd_recv_new(const MigMultifdConfig *cfg, MigMultifdStoreFn store,
                                     void (*on_error)(void *opaque), void *opaque)
{
    MigMultifdRecv *m = g_new0(MigMultifdRecv, 1);
    m->cfg = *cfg;
    m->store = store;
    m->on_error = on_error;
    m->opaque = opaque;
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->ch = g_new0(MfRecv, cfg->channels);
    return m;
}

void mig_multifd_recv_set_place(MigMultifdRecv *m, MigMultifdPlaceFn place)
{
    m->place = place;
}

/* A failed channel fails the whole incoming migration at once: every channel is shut
 * down (so the source's writes fail too) and the owner is told (it shuts down the main
 * stream, which the loader may be blocked on). */
static bool recv_fail(MigMultifdRecv *m, GError *err)
{
    g_mutex_lock(&m->lock);
    bool first = !m->error;
    if (first)
        m->error = err;
    else
        g_error_free(err);
    m->quit = true;
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (m->ch[i].chan)
            chan_shutdown(m->ch[i].chan);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    if (first && m->on_error)
        m->on_error(m->opaque);
    return false;
}

static bool decompress(MfRecv *ch, uint32_t in_size, uint32_t used, GError **err)
{
    const MigMultifdConfig *c = &ch->m->cfg;
    size_t expected = (size_t)used * PAGE;

    if (c->method == MIG_MULTIFD_ZLIB) {
        ch->zs.next_in = ch->zbuf;
        ch->zs.avail_in = in_size;
        ch->zs.next_out = ch->pages;
        ch->zs.avail_out = (uInt)expected;
        int ret;
        do {
            ret = inflate(&ch->zs, Z_SYNC_FLUSH);
        } while (ret == Z_OK && ch->zs.avail_in && ch->zs.avail_out);
        if (ret != Z_OK && ret != Z_BUF_ERROR) {
            mb_error_set(err, "multifd %u: inflate returned %d instead of Z_OK", ch->id, ret);
            return false;
        }
        if (ch->zs.avail_out || ch->zs.avail_in) {
            mb_error_set(err, "multifd %u: packet size received %zu size expected %zu", ch->id,
                         expected - ch->zs.avail_out, expected);
            return false;
        }
        return true;
    }
    ZSTD_inBuffer ib = { ch->zbuf, in_size, 0 };
    ZSTD_outBuffer ob = { ch->pages, expected, 0 };
    while (ib.pos < ib.size) {
        size_t r = ZSTD_decompressStream(ch->zd, &ob, &ib);
        if (ZSTD_isError(r)) {
            mb_error_set(err, "multifd %u: decompressStream returned %s", ch->id,
                         ZSTD_getErrorName(r));
            return false;
        }
        if (ob.pos == ob.size && ib.pos < ib.size) {
            /* A flushed frame may leave an empty block: drain it without output room. */
            ZSTD_outBuffer none = { NULL, 0, 0 };
            r = ZSTD_decompressStream(ch->zd, &none, &ib);
            if (ZSTD_isError(r) || ib.pos < ib.size)
                break;
        }
    }
    if (ob.pos != expected || ib.pos != ib.size) {
        mb_error_set(err, "multifd %u: packet size received %zu size expected %zu", ch->id, ob.pos,
                     expected);
        return false;
    }
    return true;
}

/* The pages of an uncompressed packet read in place, one readv per wake-up instead of a
 * read into ch->pages and a copy of each page: *placed when done so (false with err on a
 * read failure).  Not placed (and nothing read) when the receiver has no place callback,
 * the guest gives no place for a page, or an offset is bad (the copying path then
 * reports it with QEMU's text). */
static bool read_in_place(MfRecv *ch, unsigned block, const uint8_t *offsets, uint32_t used,
                          bool *placed, GError **err)
{
    MigMultifdRecv *m = ch->m;
    uint64_t max = m->cfg.block_sizes[block];

    *placed = false;
    if (!m->place)
        return true;
    for (uint32_t i = 0; i < used; i++) {
        uint64_t off = mb_ld_be64(offsets + 8 * i);
        uint8_t *host =
            off < max && !(off & (PAGE - 1)) ? m->place(m->opaque, block, off / PAGE) : NULL;
        if (!host)
            return true;
        ch->iov[i] = (struct iovec){ .iov_base = host, .iov_len = PAGE };
    }
    *placed = true;
    return chan_readv_full(ch->chan, ch->iov, (int)used, err);
}

/* Reads one packet and places its pages; *sync set for a SYNC packet, *eof when the
 * source closed the channel between packets (its normal end, as in QEMU: the channels
 * close when the source completes, which may be before this side's main stream is
 * loaded, so a clean close is not an error by itself). */
static bool recv_packet(MfRecv *ch, bool *sync, bool *eof, GError **err)
{
    const MigMultifdConfig *c = &ch->m->cfg;
    uint8_t *p = ch->packet;
    size_t pos = 0;

    ssize_t n = chan_read(ch->chan, p, header_len(c), err);
    if (n <= 0) {
        *eof = n == 0;
        return false;
    }
    if (!chan_read_full(ch->chan, p + n, header_len(c) - (size_t)n, err))
        return false;
    uint32_t magic = mb_ld_be32(p), version = mb_ld_be32(p + 4), flags = mb_ld_be32(p + 8);
    uint32_t alloc = mb_ld_be32(p + 12), used = mb_ld_be32(p + 16), next_size = 0;
    pos = 20;
    if (!c->seed_format)
        next_size = mb_ld_be32(p + pos), pos += 4;
    pos += 8; /* packet_num */
    if (!c->seed_format)
        pos += 32;
    if (magic != MIG_MULTIFD_MAGIC) {
        mb_error_set(err, "multifd: received packet magic %x and expected magic %x", magic,
                     MIG_MULTIFD_MAGIC);
        return false;
    }
    if (version != MIG_MULTIFD_VERSION) {
        mb_error_set(err, "multifd: received packet version %u and expected version %u", version,
                     MIG_MULTIFD_VERSION);
        return false;
    }
    if (alloc > c->page_count) {
        mb_error_set(err, "multifd: received packet with size %u and expected a maximum size of %u",
                     alloc, c->page_count);
        return false;
    }
    if (used > alloc) {
        mb_error_set(err,
                     "multifd: received packet with %u pages and expected maximum pages are %u",
                     used, alloc);
        return false;
    }
    *sync = flags & FLAG_SYNC;
    if (!used)
        return true;
    uint32_t method = (flags >> METHOD_SHIFT) & 7;
    if (method != (uint32_t)c->method) {
        mb_error_set(err, "multifd %u: flags received %x flags expected %x", ch->id,
                     flags & ~FLAG_SYNC, (uint32_t)c->method << METHOD_SHIFT);
        return false;
    }
    char name[257];
    memcpy(name, p + pos, 256);
    name[256] = 0;
    pos += 256;
    int block = -1;
    for (unsigned b = 0; b < c->nblocks; b++)
        if (!strcmp(c->block_names[b], name))
            block = (int)b;
    if (block < 0) {
        mb_error_set(err, "multifd: unknown ram block %s", name);
        return false;
    }
    /* Uncompressed pages whose places the guest gives are read straight there. */
    bool placed = false;
    if (c->method == MIG_MULTIFD_NONE &&
        !read_in_place(ch, (unsigned)block, p + pos, used, &placed, err))
        return false;
    if (placed)
        return true;
    /* Otherwise the pages arrive whole before any is placed. */
    if (c->method == MIG_MULTIFD_NONE) {
        if (!chan_read_full(ch->chan, ch->pages, (size_t)used * PAGE, err))
            return false;
    } else {
        if (next_size > ch->zbuf_size) {
            mb_error_set(err, "multifd %u: compressed packet of %u bytes is too large", ch->id,
                         next_size);
            return false;
        }
        if (!chan_read_full(ch->chan, ch->zbuf, next_size, err) ||
            !decompress(ch, next_size, used, err))
            return false;
    }
    for (uint32_t i = 0; i < used; i++) {
        uint64_t off = mb_ld_be64(p + pos + 8 * i);
        uint64_t max = c->block_sizes[block];
        if (off >= max || (off & (PAGE - 1)) ||
            !ch->m->store(ch->m->opaque, (unsigned)block, off / PAGE,
                          ch->pages + (size_t)i * PAGE)) {
            mb_error_set(
                err, "multifd: offset too long %" G_GUINT64_FORMAT " (max %" G_GINT64_MODIFIER "x)",
                off, max);
            return false;
        }
    }
    return true;
}

static gpointer recv_thread(gpointer opaque)
{
    MfRecv *ch = opaque;
    MigMultifdRecv *m = ch->m;

    for (;;) {
        GError *err = NULL;
        bool sync = false, eof = false;
        if (!recv_packet(ch, &sync, &eof, &err)) {
            g_mutex_lock(&m->lock);
            bool quiet = m->quit; /* shut down by the owner: not a failure */
            if (eof) {
                ch->closed = true;
                m->closed++;
                g_cond_broadcast(&m->cond);
            }
            g_mutex_unlock(&m->lock);
            if (!eof && !quiet)
                recv_fail(m, err);
            else if (err)
                g_error_free(err);
            return NULL;
        }
        if (!sync)
            continue;
        g_mutex_lock(&m->lock);
        m->synced++;
        g_cond_broadcast(&m->cond);
        uint64_t gen = m->generation;
        while (m->generation == gen && !m->quit)
            g_cond_wait(&m->cond, &m->lock);
        bool quit = m->quit;
        g_mutex_unlock(&m->lock);
        if (quit)
            return NULL;
    }
}

bool mig_multifd_recv_add_channel(MigMultifdRecv *m, Chan *c, GError **err)
{
    const MigMultifdConfig *cfg = &m->cfg;
    uint8_t h[64];

    if (!chan_read_full(c, h, hello_len(cfg), err)) {
        chan_close(c);
        return false;
    }
    uint32_t magic = mb_ld_be32(h), version = mb_ld_be32(h + 4);
    unsigned id = h[24];
    const char *problem = NULL;
    char got[37], want[37];
    if (magic != MIG_MULTIFD_MAGIC) {
        mb_error_set(err, "multifd: received packet magic %x expected %x", magic,
                     MIG_MULTIFD_MAGIC);
        problem = "";
    } else if (version != MIG_MULTIFD_VERSION) {
        mb_error_set(err, "multifd: received packet version %u expected %u", version,
                     MIG_MULTIFD_VERSION);
        problem = "";
    } else if (memcmp(h + 8, cfg->uuid, 16)) {
        mb_uuid_format(h + 8, got);
        mb_uuid_format(cfg->uuid, want);
        mb_error_set(err, "multifd: received uuid '%s' and expected uuid '%s' for channel %u", got,
                     want, id);
        problem = "";
    } else if (id >= cfg->channels || m->ch[id].chan) {
        mb_error_set(err, "multifd: received channel id %u is greater than number of channels %u",
                     id, cfg->channels);
        problem = "";
    }
    if (problem) {
        chan_close(c);
        return false;
    }
    MfRecv *ch = &m->ch[id];
    ch->m = m;
    ch->id = id;
    ch->chan = c;
    ch->packet = g_malloc(header_len(cfg));
    ch->pages = g_malloc((size_t)cfg->page_count * PAGE);
    ch->iov = g_new(struct iovec, cfg->page_count);
    if (cfg->method != MIG_MULTIFD_NONE) {
        ch->zbuf_size = (size_t)cfg->page_count * PAGE * 2 + 1024;
        ch->zbuf = g_malloc(ch->zbuf_size);
    }
    /* A codec that cannot start fails the channel with QEMU 5.0's texts.  The channel
     * stays owned by `m` (freed with it; inflateEnd of a failed stream is harmless). */
    if (cfg->method == MIG_MULTIFD_ZLIB && inflateInit(&ch->zs) != Z_OK) {
        mb_error_set(err, "multifd %u: inflate init failed", id);
        return false;
    }
    if (cfg->method == MIG_MULTIFD_ZSTD && !(ch->zd = ZSTD_createDCtx())) {
        mb_error_set(err, "multifd %u: zstd createDStream failed", id);
        return false;
    }
    if (++m->connected == cfg->channels)
        for (unsigned i = 0; i < cfg->channels; i++)
            m->ch[i].th = g_thread_new("multifd-recv", recv_thread, &m->ch[i]);
    return true;
}

GError *mig_multifd_recv_error(MigMultifdRecv *m)
{
    g_mutex_lock(&m->lock);
    GError *e = m->error ? g_error_copy(m->error) : NULL;
    g_mutex_unlock(&m->lock);
    return e;
}

bool mig_multifd_recv_ready(MigMultifdRecv *m)
{
    return m->connected == m->cfg.channels;
}

bool mig_multifd_recv_sync(MigMultifdRecv *m, GError **err)
{
    g_mutex_lock(&m->lock);
    while (m->synced < m->cfg.channels && !m->quit && !m->closed)
        g_cond_wait(&m->cond, &m->lock);
    /* A channel closed before its SYNC packet arrived can never sync: the source ended
     * the migration without finishing this round. */
    bool ok = !m->quit && m->synced == m->cfg.channels;
    if (!ok && m->error)
        g_propagate_error(err, g_error_copy(m->error));
    else if (!ok && m->closed)
        mb_error_set(err, "multifd: channel closed by the source before its sync");
    else if (!ok)
        mb_error_set(err, "multifd channels were shut down");
    m->synced = 0;
    m->generation++;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return ok;
}

void mig_multifd_recv_shutdown(MigMultifdRecv *m)
{
    g_mutex_lock(&m->lock);
    m->quit = true;
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (m->ch[i].chan)
            chan_shutdown(m->ch[i].chan);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

void mig_multifd_recv_free(MigMultifdRecv *m)
{
    if (!m)
        return;
    mig_multifd_recv_shutdown(m);
    /* Every thread is joined before any channel goes: a failing thread shuts down all of
     * its siblings' channels. */
    for (unsigned i = 0; i < m->cfg.channels; i++)
        if (m->ch[i].th)
            g_thread_join(m->ch[i].th);
    for (unsigned i = 0; i < m->cfg.channels; i++) {
        MfRecv *ch = &m->ch[i];
        chan_close(ch->chan);
        if (m->cfg.method == MIG_MULTIFD_ZLIB && ch->packet)
            inflateEnd(&ch->zs);
        ZSTD_freeDCtx(ch->zd);
        g_free(ch->packet);
        g_free(ch->pages);
        g_free(ch->iov);
        g_free(ch->zbuf);
    }
    g_free(m->ch);
    if (m->error)
        g_error_free(m->error);
    g_cond_clear(&m->cond);
    g_mutex_clear(&m->lock);
    g_free(m);
}
