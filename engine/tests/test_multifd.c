/* Unit tests for mig_multifd over real unix sockets: pages of several passes land where
 * they belong with every method, a source that closes its channels after the last SYNC is
 * a normal end (the destination may still be loading its main stream then), a close
 * before a SYNC fails the next sync, and a corrupt or truncated packet fails the whole
 * receiver once. */
#include "mb_error.h"
#include "mb_util.h"
#include "mig_multifd.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAGE   4096
#define NPAGES 300 /* more than two packets of 128 pages per pass */

typedef struct {
    uint8_t *mem;  /* NPAGES destination pages, block 0 */
    int errors;    /* on_error calls */
    int stores;    /* pages copied in by host_page */
    int places;    /* places given by place_page */
    bool in_place; /* place_page gives places */
} Dest;

static bool host_page(void *opaque, unsigned block, uint64_t page, const uint8_t *data)
{
    Dest *d = opaque;
    if (block != 0 || page >= NPAGES)
        return false;
    memcpy(d->mem + page * PAGE, data, PAGE);
    g_atomic_int_inc(&d->stores);
    return true;
}

static uint8_t *place_page(void *opaque, unsigned block, uint64_t page)
{
    Dest *d = opaque;
    g_assert(block == 0 && page < NPAGES); /* offsets are checked before */
    if (!d->in_place)
        return NULL;
    g_atomic_int_inc(&d->places);
    return d->mem + page * PAGE;
}

static void on_error(void *opaque)
{
    g_atomic_int_inc(&((Dest *)opaque)->errors);
}

static const char *const names[] = { "pc.ram" };
static const uint64_t sizes[] = { (uint64_t)NPAGES * PAGE };

static MigMultifdConfig config(MigMultifdMethod method)
{
    MigMultifdConfig c = { .channels = 3, .method = method, .level = 1, .page_count = 128 };
    memset(c.uuid, 0x5a, sizeof c.uuid);
    c.block_names = names;
    c.block_sizes = sizes;
    c.nblocks = 1;
    return c;
}

/* A connected sender/receiver pair through a unix listener in a fresh directory. */
typedef struct {
    gchar *dir;
    MigMultifdSend *send;
    MigMultifdRecv *recv;
    Dest dest;
} Pair;

static void pair_open_with(Pair *p, MigMultifdMethod method, bool in_place)
{
    MigMultifdConfig c = config(method);
    GError *err = NULL;
    p->dir = g_dir_make_tmp("mbmultifd-XXXXXX", &err);
    g_assert_no_error(err);
    gchar *uri_text = g_strdup_printf("unix:%s/s", p->dir);
    ChanUri uri;
    g_assert_true(chan_uri_parse(uri_text, &uri, &err));
    ChanListener *l = chan_listen(&uri, 8, &err);
    g_assert_no_error(err);
    p->dest = (Dest){ .mem = g_malloc0((size_t)NPAGES * PAGE), .in_place = in_place };
    p->recv = mig_multifd_recv_new(&c, host_page, on_error, &p->dest);
    mig_multifd_recv_set_place(p->recv, place_page);
    /* Connecting only needs the listen backlog, so the sender is made before accepting. */
    p->send = mig_multifd_send_new(&c, &uri, &err);
    g_assert_no_error(err);
    for (unsigned i = 0; i < c.channels; i++) {
        Chan *ch = chan_listener_accept(l, &err);
        g_assert_no_error(err);
        g_assert_true(mig_multifd_recv_add_channel(p->recv, ch, &err));
    }
    g_assert_true(mig_multifd_recv_ready(p->recv));
    chan_listener_free(l);
    chan_uri_clear(&uri);
    g_free(uri_text);
}

static void pair_open(Pair *p, MigMultifdMethod method)
{
    pair_open_with(p, method, false);
}

static void pair_close(Pair *p)
{
    mig_multifd_send_free(p->send);
    mig_multifd_recv_free(p->recv);
    g_free(p->dest.mem);
    gchar *sock = g_build_filename(p->dir, "s", NULL);
    g_unlink(sock);
    g_free(sock);
    g_rmdir(p->dir);
    g_free(p->dir);
}

static void fill(uint8_t *page, unsigned pass, uint64_t n)
{
    for (unsigned i = 0; i < PAGE; i += 8)
        memcpy(page + i, &(uint64_t){ (n * 2654435761u) ^ (pass << 20) ^ (i / 64) }, 8);
}

/* One pass: every page with this pass's content (odd passes only every third page), then
 * the SYNC on both sides. */
static void pass(Pair *p, unsigned k, uint8_t *expect)
{
    uint8_t page[PAGE];
    GError *err = NULL;
    for (uint64_t n = 0; n < NPAGES; n++) {
        if (k % 2 && n % 3)
            continue;
        fill(page, k, n);
        memcpy(expect + n * PAGE, page, PAGE);
        g_assert_cmpint(mig_multifd_queue_page(p->send, 0, n * PAGE, page), >=, 0);
    }
    g_assert_cmpint(mig_multifd_sync(p->send), >=, 0);
    g_assert_true(mig_multifd_recv_sync(p->recv, &err));
    g_assert_no_error(err);
}

static void test_passes_and_clean_close(gconstpointer data)
{
    Pair p;
    pair_open(&p, (MigMultifdMethod)GPOINTER_TO_INT(data));
    uint8_t *expect = g_malloc0((size_t)NPAGES * PAGE);
    for (unsigned k = 0; k < 4; k++) {
        pass(&p, k, expect);
        g_assert_true(memcmp(p.dest.mem, expect, (size_t)NPAGES * PAGE) == 0);
    }
    /* The source completes and closes its channels while the destination is still busy
     * elsewhere: that is its normal end, not a channel failure. */
    mig_multifd_send_free(p.send);
    p.send = NULL;
    GError *err = NULL;
    g_assert_false(mig_multifd_recv_sync(p.recv, &err)); /* returns once they have closed */
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "multifd: channel closed by the source before its sync");
    g_error_free(err);
    g_assert_null(mig_multifd_recv_error(p.recv));
    g_free(expect);
    pair_close(&p);
    g_assert_cmpint(p.dest.errors, ==, 0); /* after the join: no channel failed */
}

/* Uncompressed packets are read straight into the places the guest gives (no page goes
 * through the store callback); compressed ones, and pages without a place, are stored. */
static void test_in_place(gconstpointer data)
{
    MigMultifdMethod method = (MigMultifdMethod)GPOINTER_TO_INT(data);
    Pair p;
    pair_open_with(&p, method, true);
    uint8_t *expect = g_malloc0((size_t)NPAGES * PAGE);
    for (unsigned k = 0; k < 4; k++) {
        pass(&p, k, expect);
        g_assert_true(memcmp(p.dest.mem, expect, (size_t)NPAGES * PAGE) == 0);
    }
    if (method == MIG_MULTIFD_NONE) {
        g_assert_cmpint(p.dest.stores, ==, 0);
        g_assert_cmpint(p.dest.places, ==, NPAGES * 2 + 2 * ((NPAGES + 2) / 3));
    } else {
        g_assert_cmpint(p.dest.places, ==, 0);
        g_assert_cmpint(p.dest.stores, >, 0);
    }
    /* A guest that gives no place (a sim destination in store=model): copied instead. */
    p.dest.in_place = false;
    int stores = p.dest.stores;
    pass(&p, 4, expect);
    g_assert_true(memcmp(p.dest.mem, expect, (size_t)NPAGES * PAGE) == 0);
    g_assert_cmpint(p.dest.stores, ==, stores + NPAGES);
    g_free(expect);
    pair_close(&p);
    g_assert_cmpint(p.dest.errors, ==, 0);
}

/* A receiver whose channels are socketpairs this test writes raw bytes into. */
typedef struct {
    MigMultifdRecv *recv;
    Dest dest;
    int peer[3];
} Raw;

static void raw_open(Raw *r)
{
    MigMultifdConfig c = config(MIG_MULTIFD_NONE);
    r->dest = (Dest){ .mem = g_malloc0((size_t)NPAGES * PAGE) };
    r->recv = mig_multifd_recv_new(&c, host_page, on_error, &r->dest);
    for (unsigned i = 0; i < c.channels; i++) {
        int sv[2];
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        uint8_t hello[64] = { 0 };
        mb_st_be32(hello, MIG_MULTIFD_MAGIC);
        mb_st_be32(hello + 4, MIG_MULTIFD_VERSION);
        memcpy(hello + 8, c.uuid, 16);
        hello[24] = (uint8_t)i;
        g_assert_cmpint(write(sv[1], hello, sizeof hello), ==, sizeof hello);
        GError *err = NULL;
        g_assert_true(mig_multifd_recv_add_channel(r->recv, chan_new_fd(sv[0], "test"), &err));
        r->peer[i] = sv[1];
    }
}

static void raw_close(Raw *r)
{
    mig_multifd_recv_free(r->recv);
    for (unsigned i = 0; i < 3; i++)
        if (r->peer[i] >= 0)
            close(r->peer[i]);
    g_free(r->dest.mem);
}

/* Garbage where a packet header belongs fails the receiver with QEMU's text, once. */
static void test_bad_magic_fails_once(void)
{
    Raw r;
    raw_open(&r);
    uint8_t junk[320 + 8 * 128];
    memset(junk, 0xff, sizeof junk);
    g_assert_cmpint(write(r.peer[1], junk, sizeof junk), ==, sizeof junk);
    GError *err = NULL;
    g_assert_false(mig_multifd_recv_sync(r.recv, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==,
                    "multifd: received packet magic ffffffff and expected magic 11223344");
    g_error_free(err);
    raw_close(&r); /* joins the threads: on_error runs on the failing one, maybe late */
    g_assert_cmpint(r.dest.errors, ==, 1); /* the shutdown of the others adds nothing */
}

/* A source dying inside a packet is a failure, unlike a close between packets. */
static void test_truncated_packet_fails(void)
{
    Raw r;
    raw_open(&r);
    uint8_t half[100] = { 0x11, 0x22, 0x33, 0x44 };
    g_assert_cmpint(write(r.peer[2], half, sizeof half), ==, sizeof half);
    close(r.peer[2]);
    r.peer[2] = -1;
    GError *err = NULL;
    g_assert_false(mig_multifd_recv_sync(r.recv, &err));
    g_assert_cmpstr(err->message, ==, "unexpected end of stream");
    g_error_free(err);
    raw_close(&r);
    g_assert_cmpint(r.dest.errors, ==, 1);
}

/* A clean close before the SYNC: no channel error, but the sync cannot succeed. */
static void test_close_before_sync(void)
{
    Raw r;
    raw_open(&r);
    close(r.peer[0]);
    r.peer[0] = -1;
    GError *err = NULL;
    g_assert_false(mig_multifd_recv_sync(r.recv, &err));
    g_assert_cmpstr(err->message, ==, "multifd: channel closed by the source before its sync");
    g_error_free(err);
    g_assert_null(mig_multifd_recv_error(r.recv));
    raw_close(&r);
    g_assert_cmpint(r.dest.errors, ==, 0);
}

/* A codec that cannot start (a zlib level zlib refuses) fails the setup with QEMU's text
 * before any connection is made, and frees everything (ASan checks the leaks). */
static void test_codec_init_failure(void)
{
    MigMultifdConfig c = config(MIG_MULTIFD_ZLIB);
    GError *err = NULL;
    ChanUri uri;

    c.level = 42;
    g_assert_true(chan_uri_parse("unix:/nonexistent/mbmultifd", &uri, &err));
    g_assert_null(mig_multifd_send_new(&c, &uri, &err));
    g_assert_error(err, MB_ERROR, MB_ERR_GENERIC);
    g_assert_cmpstr(err->message, ==, "multifd 0: deflate init failed");
    g_clear_error(&err);
    chan_uri_clear(&uri);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_data_func("/multifd/none", GINT_TO_POINTER(MIG_MULTIFD_NONE),
                         test_passes_and_clean_close);
    g_test_add_data_func("/multifd/zlib", GINT_TO_POINTER(MIG_MULTIFD_ZLIB),
                         test_passes_and_clean_close);
    g_test_add_data_func("/multifd/zstd", GINT_TO_POINTER(MIG_MULTIFD_ZSTD),
                         test_passes_and_clean_close);
    g_test_add_data_func("/multifd/none-in-place", GINT_TO_POINTER(MIG_MULTIFD_NONE),
                         test_in_place);
    g_test_add_data_func("/multifd/zstd-in-place", GINT_TO_POINTER(MIG_MULTIFD_ZSTD),
                         test_in_place);
    g_test_add_func("/multifd/bad-magic", test_bad_magic_fails_once);
    g_test_add_func("/multifd/truncated-packet", test_truncated_packet_fails);
    g_test_add_func("/multifd/close-before-sync", test_close_before_sync);
    g_test_add_func("/multifd/codec-init-failure", test_codec_init_failure);
    return g_test_run();
}
