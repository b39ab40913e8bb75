/* mig_file: buffered, counted, error-latching stream over a Chan (see mig_file.h). */
#include "mig_file.h"
#include "mb_error.h"
#include "mb_util.h"

#include <stdarg.h>
#include <string.h>

MigFile *mig_file_new(Chan *chan, bool writable)
{
    MigFile *f = g_new0(MigFile, 1);
    f->chan = chan;
    f->writable = writable;
    return f;
}

void mig_file_flush(MigFile *f)
{
    if (!f->writable || !f->len)
        return;
    if (!f->error) {
        GError *err = NULL;
        if (!chan_write_all(f->chan, f->buf, f->len, &err))
            f->error = err;
        else if (f->on_flush)
            f->on_flush(f->opaque, f->len);
    }
    f->len = 0;
}

void mig_file_close(MigFile *f)
{
    if (!f)
        return;
    mig_file_flush(f);
    chan_close(f->chan);
    g_clear_error(&f->error);
    g_free(f);
}

/* Bytes to buffer before writing (see big_writes). */
static size_t write_size(MigFile *f)
{
    if (!f->big_writes)
        return MIG_FILE_SMALL;
    uint64_t limit = atomic_load_explicit(&f->xfer_limit, memory_order_relaxed);
    return limit == 0 || limit >= MIG_FILE_BIG_LIMIT ? MIG_FILE_BUF : MIG_FILE_SMALL;
}

void mig_put_buffer(MigFile *f, const void *p, size_t len)
{
    const uint8_t *s = p;
    /* Inside a reservation nothing is written out (the reserved bytes must stay put even
     * if a new rate limit shrinks the write size meanwhile); it fits by contract. */
    size_t at = f->held ? MIG_FILE_BUF : write_size(f);

    f->pos += len;
    f->bytes_xfer += len;
    if (f->error)
        return;
    while (len) {
        /* at may have shrunk below what is buffered (a new rate limit): write it out */
        size_t n = f->len < at ? MIN(len, at - f->len) : 0;
        memcpy(f->buf + f->len, s, n);
        f->len += n;
        s += n;
        len -= n;
        if (f->len >= at)
            mig_file_flush(f);
    }
}

uint8_t *mig_file_reserve(MigFile *f, size_t len)
{
    g_assert(f->writable && len <= MIG_FILE_SMALL);
    /* No early write: the writes stay exactly as mig_put_buffer would make them (a
     * simulated link is charged per write), the caller copies the odd record that
     * straddles two writes. */
    if (f->error || f->len + len > write_size(f))
        return NULL;
    f->held = true;
    return f->buf + f->len;
}

void mig_put_reserved(MigFile *f, size_t n)
{
    g_assert(f->held);
    f->held = false;
    f->pos += n;
    f->bytes_xfer += n;
    if (f->error)
        return;
    g_assert(f->len + n <= MIG_FILE_BUF);
    f->len += n;
    if (f->len >= write_size(f))
        mig_file_flush(f);
}

void mig_put_byte(MigFile *f, uint8_t v)
{
    mig_put_buffer(f, &v, 1);
}

void mig_put_be16(MigFile *f, uint16_t v)
{
    uint8_t b[2];
    mb_st_be16(b, v);
    mig_put_buffer(f, b, 2);
}

void mig_put_be32(MigFile *f, uint32_t v)
{
    uint8_t b[4];
    mb_st_be32(b, v);
    mig_put_buffer(f, b, 4);
}

void mig_put_be64(MigFile *f, uint64_t v)
{
    uint8_t b[8];
    mb_st_be64(b, v);
    mig_put_buffer(f, b, 8);
}

void mig_put_counted_string(MigFile *f, const char *s)
{
    size_t n = MIN(strlen(s), 255);
    mig_put_byte(f, (uint8_t)n);
    mig_put_buffer(f, s, n);
}

/* Refills the read buffer; false at end of stream or error (error then set). */
static bool fill(MigFile *f)
{
    if (f->error)
        return false;
    GError *err = NULL;
    ssize_t n = chan_read(f->chan, f->buf, MIG_FILE_BUF, &err);
    if (n < 0) {
        f->error = err;
        return false;
    }
    if (n == 0) {
        f->error = g_error_new(MB_ERROR, MB_ERR_GENERIC, "unexpected end of stream");
        return false;
    }
    f->len = (size_t)n;
    f->rpos = 0;
    return true;
}

bool mig_get_buffer(MigFile *f, void *p, size_t len)
{
    uint8_t *d = p;

    while (len) {
        if (f->rpos == f->len && !fill(f)) {
            memset(d, 0, len);
            return false;
        }
        size_t n = MIN(len, f->len - f->rpos);
        memcpy(d, f->buf + f->rpos, n);
        f->rpos += n;
        f->pos += n;
        d += n;
        len -= n;
    }
    return true;
}

const uint8_t *mig_get_buffered(MigFile *f, size_t len)
{
    if (f->error || f->len - f->rpos < len)
        return NULL;
    const uint8_t *p = f->buf + f->rpos;
    f->rpos += len;
    f->pos += len;
    return p;
}

int mig_peek_byte(MigFile *f)
{
    if (f->rpos == f->len && !fill(f))
        return -1;
    return f->buf[f->rpos];
}

uint8_t mig_get_byte(MigFile *f)
{
    uint8_t v;
    mig_get_buffer(f, &v, 1);
    return v;
}

uint16_t mig_get_be16(MigFile *f)
{
    uint8_t b[2];
    mig_get_buffer(f, b, 2);
    return mb_ld_be16(b);
}

uint32_t mig_get_be32(MigFile *f)
{
    uint8_t b[4];
    mig_get_buffer(f, b, 4);
    return mb_ld_be32(b);
}

uint64_t mig_get_be64(MigFile *f)
{
    uint8_t b[8];
    mig_get_buffer(f, b, 8);
    return mb_ld_be64(b);
}

size_t mig_get_counted_string(MigFile *f, char *buf)
{
    size_t n = mig_get_byte(f);
    mig_get_buffer(f, buf, n);
    buf[n] = 0;
    return n;
}

const GError *mig_file_error(MigFile *f)
{
    return f->error;
}

void mig_file_set_error(MigFile *f, const char *fmt, ...)
{
    va_list ap;

    if (f->error)
        return;
    va_start(ap, fmt);
    f->error = g_error_new_valist(MB_ERROR, MB_ERR_GENERIC, fmt, ap);
    va_end(ap);
}

bool mig_file_rate_limited(MigFile *f)
{
    if (f->error || atomic_load(&f->shutdown_requested))
        return true;
    uint64_t limit = atomic_load_explicit(&f->xfer_limit, memory_order_relaxed);
    return limit > 0 && f->bytes_xfer > limit;
}

void mig_file_reset_rate_limit(MigFile *f)
{
    f->bytes_xfer = 0;
}

void mig_file_set_rate_limit(MigFile *f, uint64_t bytes_per_window)
{
    atomic_store_explicit(&f->xfer_limit, bytes_per_window, memory_order_relaxed);
}

void mig_file_shutdown(MigFile *f)
{
    atomic_store(&f->shutdown_requested, true);
    chan_shutdown(f->chan);
}
