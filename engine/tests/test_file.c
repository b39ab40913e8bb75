/* Unit tests for MigFile's cross-thread controls (QEMU's qemu_file_set_rate_limit and
 * qemu_file_shutdown): a QMP handler on the main thread changes the rate limit or shuts
 * the stream down while the migration thread is using it.  The thread polls
 * mig_file_rate_limited() exactly as the source's iterate loop does; under ThreadSanitizer
 * (docs/contributing.md) these tests are what proves the two fields are shared safely. */
#include "chan.h"
#include "mig_file.h"

#include <glib.h>
#include <sys/socket.h>

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

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/file/rate-limit-from-another-thread", test_rate_limit_from_another_thread);
    g_test_add_func("/file/shutdown-from-another-thread", test_shutdown_from_another_thread);
    return g_test_run();
}
