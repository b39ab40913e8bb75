/* mig_file: a buffered migration stream on a Chan (QEMU's QEMUFile).
 *
 * Writes are buffered (32 KiB, like QEMU's IO_BUF_SIZE; up to 256 KiB where the owner allows
 * big writes, see big_writes) and counted: `pos` is QEMU's
 * qemu_ftell (every byte put), `bytes_xfer` the bytes since the last rate-limit reset.  The
 * first I/O error sticks (later puts are dropped, gets return zeros) and is reported once,
 * as in QEMU, so callers check mig_file_error() at safe points instead of after every put.
 * A flush hook lets the engine charge the simulated link for each chunk sent. */
#ifndef MIG_FILE_H
#define MIG_FILE_H

#include "chan.h"

#include <glib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MIG_FILE_BUF       262144     /* the buffer; reads fill up to this much */
#define MIG_FILE_SMALL     32768      /* bytes per write by default: QEMU's IO_BUF_SIZE */
#define MIG_FILE_BIG_LIMIT (8u << 20) /* rate-limit windows at least this big allow big writes */

typedef struct MigFile {
    Chan *chan; /* owned */
    bool writable;
    /* Writes of up to MIG_FILE_BUF bytes instead of MIG_FILE_SMALL while the rate limit is
     * off or at least MIG_FILE_BIG_LIMIT per window: an eighth of the syscalls and of the
     * reader's wake-ups per MiB.  Only where nothing observes the write boundaries (the
     * on_flush hook charges a simulated link per write, so a source sets it only when no
     * link is simulated).  Set and read by the thread that writes. */
    bool big_writes;
    bool held; /* between mig_file_reserve and mig_put_reserved */
    uint8_t buf[MIG_FILE_BUF];
    size_t len;   /* write: bytes buffered; read: bytes valid in buf */
    size_t rpos;  /* read: next byte in buf */
    uint64_t pos; /* bytes put/got since open */
    uint64_t bytes_xfer;
    /* Bytes per rate-limit window; 0 = unlimited.  Atomic: set by QMP handlers on the main
     * thread (migrate-set-parameters max-bandwidth) while the migration thread reads it. */
    _Atomic uint64_t xfer_limit;
    GError *error; /* sticky first error */
    void (*on_flush)(void *opaque, size_t bytes);
    void *opaque;
    /* Atomic: set by mig_file_shutdown from any thread (cancel on the main thread, a
     * failing multifd channel's thread) while the thread doing the I/O reads it. */
    atomic_bool shutdown_requested;
} MigFile;

MigFile *mig_file_new(Chan *chan, bool writable);
/* Flushes (writable), closes the channel, frees.  NULL is a no-op. */
void mig_file_close(MigFile *f);

void mig_put_byte(MigFile *f, uint8_t v);
void mig_put_be16(MigFile *f, uint16_t v);
void mig_put_be32(MigFile *f, uint32_t v);
void mig_put_be64(MigFile *f, uint64_t v);
void mig_put_buffer(MigFile *f, const void *p, size_t len);
/* u8 length + bytes (QEMU's idstr / counted string); strings over 255 bytes are cut. */
void mig_put_counted_string(MigFile *f, const char *s);
void mig_file_flush(MigFile *f);
/* Zero-copy puts: returns room for `len` (<= MIG_FILE_SMALL) bytes at the end of the write
 * buffer, or NULL when they would not fit in the current write or after an error (then
 * use mig_put_buffer: write boundaries never move).  The caller fills the room's tail, puts at most
 * `len` bytes the usual way (nothing is written out until the reservation ends, so they land at the
 * room's start), and must end the reservation with mig_put_reserved(f, n): it puts the n bytes that
 * follow those puts, already in place (as mig_put_buffer of them would). */
uint8_t *mig_file_reserve(MigFile *f, size_t len);
void mig_put_reserved(MigFile *f, size_t n);

uint8_t mig_get_byte(MigFile *f);
uint16_t mig_get_be16(MigFile *f);
uint32_t mig_get_be32(MigFile *f);
uint64_t mig_get_be64(MigFile *f);
/* Reads exactly len bytes (zeros and an error on a short stream). */
bool mig_get_buffer(MigFile *f, void *p, size_t len);
/* When the next `len` bytes are already buffered, returns a pointer to them and consumes
 * them (no copy); NULL otherwise (use mig_get_buffer). */
const uint8_t *mig_get_buffered(MigFile *f, size_t len);
/* Next byte without consuming it; -1 at end of stream or error. */
int mig_peek_byte(MigFile *f);
/* Reads a counted string into buf (at least 256 bytes); returns its length. */
size_t mig_get_counted_string(MigFile *f, char *buf);

/* The sticky error, or NULL. */
const GError *mig_file_error(MigFile *f);
void mig_file_set_error(MigFile *f, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* True while the rate-limit budget of the current window is used up, or on error. */
bool mig_file_rate_limited(MigFile *f);
void mig_file_reset_rate_limit(MigFile *f);
void mig_file_set_rate_limit(MigFile *f, uint64_t bytes_per_window);
/* Makes blocked and future I/O fail (any thread). */
void mig_file_shutdown(MigFile *f);

#endif
