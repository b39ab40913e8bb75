/* Unit tests for MigFile's cross-thread controls (QEMU's qemu_file_set_rate_limit and
 * qemu_file_shutdown): a QMP handler on the main thread changes the rate limit or shuts
 * the stream down while the migration thread is using it.  The thread polls
 * mig_file_rate_limited() exactly as the source's iterate loop does; under ThreadSanitizer
 * (docs/contributing.md) these tests are what proves the two fields are shared safely. */
#include "chan.h"
#include "mig_file.h"

#include <glib.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEADLINE_US (10 * G_USEC_PER_SEC)

typedef struct {
    MigFile *f;
    gboolean limited; /* what the thread saw before its deadline */
} Poller;

/* The migration thread's view: waits (with a deadline) until the file says stop. */
static gpointer poll_limited(gpointer opaque)
{
    Poller *p = opaque;
    gint64 end = g_get_monotonic_time() + DEADLINE_US;

    while (!(p->limited = mig_file_rate_limited(p->f)) && g_get_monotonic_time() < end)
        g_thread_yield();
    return NULL;
}

static MigFile *socket_file(int *peer)
{
    int sv[2];
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    *peer = sv[1];
    return mig_file_new(chan_new_fd(sv[0], "test"), true);
}

static void test_rate_limit_from_another_thread(void)
{
    int peer;
    MigFile *f = socket_file(&peer);
    uint8_t page[1000] = { 0 };

    mig_put_buffer(f, page, sizeof(page));    /* buffered: counts towards the window */
    g_assert_false(mig_file_rate_limited(f)); /* no limit yet */
    Poller p = { .f = f };
    GThread *t = g_thread_new("poller", poll_limited, &p);
    mig_file_set_rate_limit(f, 100); /* max-bandwidth lowered during the migration */
    g_thread_join(t);
    g_assert_true(p.limited);
    mig_file_reset_rate_limit(f); /* a new window: budget back */
    g_assert_false(mig_file_rate_limited(f));
    g_assert_null(mig_file_error(f));
    mig_file_close(f);
    close(peer);
}

static void test_shutdown_from_another_thread(void)
{
    int peer;
    MigFile *f = socket_file(&peer);

    Poller p = { .f = f };
    GThread *t = g_thread_new("poller", poll_limited, &p);
    mig_file_shutdown(f); /* migrate_cancel */
    g_thread_join(t);
    g_assert_true(p.limited);
    /* Later I/O fails and the error sticks. */
    mig_put_byte(f, 1);
    mig_file_flush(f);
    g_assert_nonnull(mig_file_error(f));
    g_assert_true(mig_file_rate_limited(f));
    mig_file_close(f);
    close(peer);
}

/* ---- write sizes and zero-copy puts ---- */

typedef struct {
    int fd;
    GByteArray *got;
} Drain;

/* The peer: reads everything until the end of the stream. */
static gpointer drain(gpointer opaque)
{
    Drain *d = opaque;
    uint8_t buf[65536];
    ssize_t n;
    while ((n = read(d->fd, buf, sizeof(buf))) > 0)
        g_byte_array_append(d->got, buf, (guint)n);
    return NULL;
}

static void record_write(void *opaque, size_t bytes)
{
    g_array_append_val((GArray *)opaque, bytes);
}

static void put_pattern(MigFile *f, size_t n, uint8_t *next)
{
    uint8_t b[1000];
    while (n) {
        size_t k = MIN(n, sizeof(b));
        for (size_t i = 0; i < k; i++)
            b[i] = (*next)++;
        mig_put_buffer(f, b, k);
        n -= k;
    }
}

/* 32 KiB writes by default and under a small rate limit, 256 KiB with big_writes; a
 * reservation keeps its bytes in place even when a new rate limit shrinks the write size
 * meanwhile, and the peer receives every byte in order. */
static void test_write_sizes_and_reserve(void)
{
    int peer;
    MigFile *f = socket_file(&peer);
    GArray *writes = g_array_new(false, false, sizeof(size_t));
    Drain d = { peer, g_byte_array_new() };
    GThread *t = g_thread_new("drain", drain, &d);
    uint8_t next = 0;
    f->on_flush = record_write;
    f->opaque = writes;

    put_pattern(f, 40000, &next); /* default: one 32 KiB write */
    g_assert_cmpuint(writes->len, ==, 1);
    g_assert_cmpuint(g_array_index(writes, size_t, 0), ==, MIG_FILE_SMALL);
    mig_file_flush(f);

    f->big_writes = true;
    put_pattern(f, 300000, &next); /* no rate limit: 256 KiB writes */
    g_assert_cmpuint(writes->len, ==, 3);
    g_assert_cmpuint(g_array_index(writes, size_t, 2), ==, MIG_FILE_BUF);
    mig_file_flush(f);
    mig_file_set_rate_limit(f, 1000); /* a small limit: 32 KiB again */
    put_pattern(f, 40000, &next);
    g_assert_cmpuint(g_array_index(writes, size_t, writes->len - 1), ==, MIG_FILE_SMALL);
    mig_file_flush(f);

    /* A reservation that does not fit the current write is refused: writes never move. */
    mig_file_set_rate_limit(f, 1000);
    put_pattern(f, 30000, &next);
    g_assert_null(mig_file_reserve(f, 8 + 4096));
    mig_file_flush(f);
    mig_file_set_rate_limit(f, 0);
    put_pattern(f, 100000, &next);
    guint before = writes->len;
    uint8_t *room = mig_file_reserve(f, 8 + 4096);
    g_assert_nonnull(room);
    g_assert_cmpuint(writes->len, ==, before); /* fits: nothing written yet */
    for (unsigned i = 0; i < 4096; i++)
        room[8 + i] = (uint8_t)(next + 8 + i);
    mig_file_set_rate_limit(f, 1000); /* shrinks the write size under the reservation */
    put_pattern(f, 8, &next);         /* the header: lands at the room's start */
    g_assert_cmpuint(writes->len, ==, before);
    mig_put_reserved(f, 4096);
    next = (uint8_t)(next + 4096);
    g_assert_cmpuint(writes->len, ==, before + 1); /* over the small size now: written */
    g_assert_cmpuint(f->pos, ==, 40000 + 300000 + 40000 + 30000 + 100000 + 8 + 4096);
    g_assert_null(mig_file_error(f));

    mig_file_close(f);
    g_thread_join(t);
    g_assert_cmpuint(d.got->len, ==, 40000 + 300000 + 40000 + 30000 + 100000 + 8 + 4096);
    for (guint i = 0; i < d.got->len; i++)
        if (d.got->data[i] != (uint8_t)i)
            g_error("byte %u is %u, not %u", i, d.got->data[i], (uint8_t)i);
    g_byte_array_unref(d.got);
    g_array_unref(writes);
    close(peer);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/file/rate-limit-from-another-thread", test_rate_limit_from_another_thread);
    g_test_add_func("/file/shutdown-from-another-thread", test_shutdown_from_another_thread);
    g_test_add_func("/file/write-sizes-and-reserve", test_write_sizes_and_reserve);
    return g_test_run();
}
