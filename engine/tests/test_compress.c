/* Unit tests for mig_compress: records the threads produce decode back to the pages, the
 * virtual-time model is deterministic, bad data fails without touching the page, and a
 * deflate stream that cannot start fails the stream instead of crashing. */
#include "chan.h"
#include "mb_util.h"
#include "mig_compress.h"
#include "mig_stream.h"

#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

/* Compresses `n` pages through the threads into a pipe-backed MigFile and returns the bytes
 * written (the caller frees). */
static GBytes *compress_pages(unsigned threads, bool virt, bool wait, int n, uint64_t *busy)
{
    int fds[2];
    g_assert_cmpint(pipe2(fds, O_NONBLOCK), ==, 0); /* drained without blocking below */
    MigFile *f = mig_file_new(chan_new_fd(fds[1], "pipe"), true);
    MigCompress *c = mig_compress_new(threads, 1, wait, virt);
    MigCompressFlushed acc = { 0 };
    uint8_t page[4096];
    int64_t now = 0;
    GByteArray *out = g_byte_array_new();

    *busy = 0;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 4096; k++)
            page[k] = (uint8_t)(i % 3 == 0 ? 0 : (k * 7 + i) % 251 / 8);
        int64_t until;
        while (!mig_compress_page(c, f, (uint64_t)i << 12, page, now, &until, &acc)) {
            if (!until) {
                (*busy)++;
                break;
            }
            now = until;
        }
        now += 2000; /* the main thread spends 2 us per page in this model */
        /* Drain the pipe as we go so the writer never blocks. */
        mig_file_flush(f);
        uint8_t buf[65536];
        ssize_t r;
        while ((r = read(fds[0], buf, sizeof(buf))) > 0)
            g_byte_array_append(out, buf, (guint)r);
    }
    int64_t until;
    mig_compress_flush(c, f, now, &until, &acc);
    mig_file_close(f);
    uint8_t buf[65536];
    ssize_t r;
    while ((r = read(fds[0], buf, sizeof(buf))) > 0)
        g_byte_array_append(out, buf, (guint)r);
    close(fds[0]);
    mig_compress_free(c);
    g_assert_cmpuint(acc.pages + acc.duplicate + *busy, ==, (uint64_t)n);
    return g_byte_array_free_to_bytes(out);
}

static void test_records_decode(void)
{
    uint64_t busy;
    GBytes *b = compress_pages(4, false, true, 60, &busy);
    gsize len;
    const uint8_t *p = g_bytes_get_data(b, &len);
    size_t pos = 0;
    int seen = 0;
    MigDecompress *d = mig_decompress_new(2);
    uint8_t *pages = g_malloc0(60 * 4096);
    while (pos < len) {
        uint64_t hdr = mb_ld_be64(p + pos);
        pos += 8;
        g_assert_true(hdr & RAM_SAVE_FLAG_CONTINUE);
        uint64_t idx = hdr >> 12;
        if (hdr & RAM_SAVE_FLAG_ZERO) {
            g_assert_cmpuint(p[pos], ==, 0);
            pos++;
            g_assert_cmpuint(idx % 3, ==, 0);
        } else {
            g_assert_true(hdr & RAM_SAVE_FLAG_COMPRESS_PAGE);
            uint32_t l = mb_ld_be32(p + pos);
            pos += 4;
            mig_decompress_page(d, pages + idx * 4096, p + pos, l);
            pos += l;
        }
        seen++;
    }
    g_assert_true(mig_decompress_wait(d, NULL));
    for (int i = 0; i < 60; i++)
        if (i % 3)
            for (int k = 0; k < 4096; k += 511)
                g_assert_cmpuint(pages[i * 4096 + k], ==, (uint8_t)((k * 7 + i) % 251 / 8));
    g_assert_cmpint(seen, ==, 60);
    mig_decompress_free(d);
    g_free(pages);
    g_bytes_unref(b);
}

static void test_virtual_model_is_deterministic(void)
{
    uint64_t busy1, busy2;
    GBytes *a = compress_pages(3, true, false, 200, &busy1);
    GBytes *b = compress_pages(3, true, false, 200, &busy2);
    g_assert_true(g_bytes_equal(a, b));
    /* 3 threads at 15 us per page against one page per 2 us: some find no free thread */
    g_assert_cmpuint(busy1, >, 0);
    g_assert_cmpuint(busy1, ==, busy2);
    g_bytes_unref(a);
    g_bytes_unref(b);
}

static void test_bad_data_leaves_page(void)
{
    MigDecompress *d = mig_decompress_new(1);
    uint8_t page[4096];
    memset(page, 0x77, sizeof(page));
    const uint8_t junk[] = { 1, 2, 3, 4, 5 };
    mig_decompress_page(d, page, junk, sizeof(junk));
    GError *err = NULL;
    g_assert_false(mig_decompress_wait(d, &err));
    g_assert_cmpstr(err->message, ==, "decompress data failed");
    g_error_free(err);
    for (int i = 0; i < 4096; i++)
        g_assert_cmpuint(page[i], ==, 0x77);
    /* a short but valid stream is not a page either */
    uint8_t small[100];
    uLongf n = sizeof(small);
    uint8_t src[10] = { 0 };
    compress2(small, &n, src, sizeof(src), 1);
    mig_decompress_page(d, page, small, (uint32_t)n);
    g_assert_false(mig_decompress_wait(d, NULL));
    mig_decompress_free(d);
}

/* A deflate stream that cannot start (here: a level zlib refuses) fails the migration with
 * a clear stream error; no page reaches the threads and nothing crashes or leaks. */
static void test_init_failure_is_a_stream_error(void)
{
    int fds[2];
    g_assert_cmpint(pipe2(fds, O_NONBLOCK), ==, 0);
    MigFile *f = mig_file_new(chan_new_fd(fds[1], "pipe"), true);
    MigCompress *c = mig_compress_new(2, 42, true, true);
    MigCompressFlushed acc = { 0 };
    uint8_t page[4096];
    int64_t until = -1;

    memset(page, 7, sizeof(page));
    g_assert_false(mig_compress_page(c, f, 0, page, 0, &until, &acc));
    g_assert_cmpint(until, ==, 0); /* no wait asked for: the caller must not loop */
    g_assert_nonnull(mig_file_error(f));
    g_assert_cmpstr(mig_file_error(f)->message, ==,
                    "compress thread 0: deflate init failed: stream error");
    mig_compress_flush(c, f, 0, &until, &acc);
    g_assert_cmpint(until, ==, 0);
    g_assert_cmpuint(acc.pages + acc.duplicate + acc.transferred, ==, 0);
    mig_compress_free(c);
    mig_file_close(f);
    close(fds[0]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/compress/records-decode", test_records_decode);
    g_test_add_func("/compress/virtual-model-deterministic", test_virtual_model_is_deterministic);
    g_test_add_func("/compress/bad-data", test_bad_data_leaves_page);
    g_test_add_func("/compress/init-failure", test_init_failure_is_a_stream_error);
    return g_test_run();
}
