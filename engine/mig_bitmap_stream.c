/* mig_bitmap_stream: dirty bitmaps on the migration stream (see mig_bitmap_stream.h). */
#include "mig_bitmap_stream.h"

#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"

#include <string.h>

#define FLAG_EOS         0x01
#define FLAG_ZEROES      0x02
#define FLAG_BITMAP_NAME 0x04
#define FLAG_DEVICE_NAME 0x08
#define FLAG_START       0x10
#define FLAG_COMPLETE    0x20
#define FLAG_BITS        0x40
#define FLAG_EXTRA       0x80
#define START_ENABLED    0x01
#define START_PERSISTENT 0x02
#define CHUNK_BITS       8192 /* 1 KiB of bitmap per record */
#define SECTOR           512

typedef struct {
    char disk[MB_BLOCK_NAME_MAX + 1];
    char name[256];
} Last;

/* The record header: flags, and the names that changed since the previous record. */
static void put_header(MigFile *f, Last *last, const MigBitmapCopy *c, uint8_t flags)
{
    bool dev = strcmp(last->disk, c->disk_name) != 0;
    bool bm = dev || strcmp(last->name, c->name) != 0;
    if (dev)
        flags |= FLAG_DEVICE_NAME;
    if (bm)
        flags |= FLAG_BITMAP_NAME;
    mig_put_byte(f, flags);
    if (dev) {
        mig_put_counted_string(f, c->disk_name);
        g_strlcpy(last->disk, c->disk_name, sizeof(last->disk));
    }
    if (bm) {
        mig_put_counted_string(f, c->name);
        g_strlcpy(last->name, c->name, sizeof(last->name));
    }
}

unsigned mig_bitmap_save_setup(MigBitmaps *b, MigFile *f)
{
    unsigned n = b ? mig_bitmaps_begin(b) : 0;
    Last last = { { 0 }, { 0 } };

    for (unsigned i = 0; i < n; i++) {
        MigBitmapCopy c;
        mig_bitmaps_copy(b, i, &c);
        put_header(f, &last, &c, FLAG_START);
        mig_put_be32(f, c.granularity);
        mig_put_byte(f, (c.enabled ? START_ENABLED : 0) | (c.persistent ? START_PERSISTENT : 0));
        mig_bitmap_copy_clear(&c);
    }
    mig_put_byte(f, FLAG_EOS);
    return n;
}

/* Little-endian 64-bit words of bits [first, first + n) (QEMU's hbitmap serialization). */
static size_t serialize(const MigBitmapCopy *c, uint64_t first, uint64_t n, uint8_t *out)
{
    size_t words = (size_t)((n + 63) / 64);
    memset(out, 0, words * 8);
    for (uint64_t i = 0; i < n; i++)
        if (mb_bit_test(c->bits, first + i))
            out[i / 8] |= (uint8_t)(1u << (i % 8));
    return words * 8;
}

void mig_bitmap_save_complete(MigBitmaps *b, MigFile *f, unsigned count)
{
    Last last = { { 0 }, { 0 } };
    uint8_t buf[CHUNK_BITS / 8];

    for (unsigned i = 0; i < count; i++) {
        MigBitmapCopy c;
        mig_bitmaps_copy(b, i, &c);
        for (uint64_t first = 0; c.name && first < c.nbits; first += CHUNK_BITS) {
            uint64_t n = MIN((uint64_t)CHUNK_BITS, c.nbits - first);
            uint64_t start = first * c.granularity;
            /* the last bit may cover less than its granularity: the disk ends there */
            uint64_t bytes = MIN(n * c.granularity, c.disk_size - start);
            size_t len = serialize(&c, first, n, buf);
            bool zero = mb_buffer_is_zero(buf, len);
            put_header(f, &last, &c, zero ? FLAG_ZEROES : FLAG_BITS);
            mig_put_be64(f, start / SECTOR);
            mig_put_be32(f, (uint32_t)(bytes / SECTOR));
            if (!zero) {
                mig_put_be64(f, len);
                mig_put_buffer(f, buf, len);
            }
        }
        mig_bitmap_copy_clear(&c);
    }
    for (unsigned i = 0; i < count; i++) {
        MigBitmapCopy c;
        mig_bitmaps_copy(b, i, &c);
        if (c.name)
            put_header(f, &last, &c, FLAG_COMPLETE);
        mig_bitmap_copy_clear(&c);
    }
    mig_put_byte(f, FLAG_EOS);
}

void mig_bitmap_save_cleanup(MigBitmaps *b)
{
    if (b)
        mig_bitmaps_end(b);
}

/* ---- destination ---- */

bool mig_bitmap_load(MigBitmaps *b, MigFile *f, GError **err)
{
    char disk[256] = { 0 }, name[256] = { 0 };
    uint8_t *buf = NULL;
    bool ok = true;

    for (;;) {
        unsigned flags = mig_get_byte(f);
        if (mig_file_error(f))
            break; /* the caller reports the stream error */
        if (flags & FLAG_EXTRA) {
            mb_error_set(err, "Unknown dirty bitmap flags: 0x%x", flags);
            ok = false;
            break;
        }
        if (flags & FLAG_DEVICE_NAME)
            mig_get_counted_string(f, disk);
        if (flags & FLAG_BITMAP_NAME)
            mig_get_counted_string(f, name);
        if (flags & FLAG_EOS)
            break;
        if (!*disk || !*name) {
            mb_error_set(err, "Error: dirty bitmap record without a %s name",
                         *disk ? "bitmap" : "device");
            ok = false;
            break;
        }
        if (!b) {
            mb_error_set(err, "Error: unknown block device '%s'", disk);
            ok = false;
            break;
        }
        if (flags & FLAG_START) {
            uint32_t gran = mig_get_be32(f);
            unsigned sf = mig_get_byte(f);
            if (mig_file_error(f))
                break;
            if (!mig_bitmaps_create_incoming(b, disk, name, gran, sf & START_ENABLED,
                                             sf & START_PERSISTENT, err)) {
                ok = false;
                break;
            }
        } else if (flags & (FLAG_BITS | FLAG_ZEROES)) {
            uint64_t first_byte = mig_get_be64(f) * SECTOR;
            uint64_t nr_bytes = (uint64_t)mig_get_be32(f) * SECTOR;
            uint32_t gran = mig_bitmaps_granularity(b, disk, name);
            if (!gran) {
                mb_error_set(err, "Error: unknown dirty bitmap '%s' for block device '%s'", name,
                             disk);
                ok = false;
                break;
            }
            if (flags & FLAG_ZEROES)
                continue; /* a new bitmap is clear already */
            uint64_t nbits = (nr_bytes + gran - 1) / gran;
            uint64_t want = (nbits + 63) / 64 * 8;
            uint64_t len = mig_get_be64(f);
            if (mig_file_error(f))
                break;
            if (len != want || first_byte % gran || len > CHUNK_BITS / 8 * 64) {
                mb_error_set(err,
                             "Migrated bitmap granularity doesn't match the destination "
                             "bitmap '%s' granularity",
                             name);
                ok = false;
                break;
            }
            buf = g_realloc(buf, len ? len : 1);
            if (!mig_get_buffer(f, buf, len))
                break;
            uint64_t *bits = mb_bitmap_new(nbits);
            for (uint64_t i = 0; i < nbits; i++)
                if (buf[i / 8] & (1u << (i % 8)))
                    mb_bit_set(bits, i);
            ok = mig_bitmaps_set_bits(b, disk, name, first_byte / gran, bits, nbits, err);
            g_free(bits);
            if (!ok)
                break;
        } else if (flags & FLAG_COMPLETE) {
            mig_bitmaps_finish_incoming(b, disk, name);
        } else {
            mb_error_set(err, "Unknown dirty bitmap flags: 0x%x", flags);
            ok = false;
            break;
        }
    }
    g_free(buf);
    return ok;
}
