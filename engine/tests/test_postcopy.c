/* Unit tests for postcopy's pure pieces: the return-path message codec, the source's request
 * queue and send schedule, the destination's link model and the blocktime / latency
 * arithmetic. */
#include "mb_error.h"
#include "mb_util.h"
#include "mig_pc_model.h"
#include "mig_pc_queue.h"
#include "mig_pc_stats.h"
#include "mig_retpath.h"
#include "mig_wire.h"

#include <string.h>

/* ---- return-path codec ---- */

static void decode_whole(const uint8_t *buf, size_t n, MigRpMsg *m, GError **err, bool *ok)
{
    uint16_t type = mb_ld_be16(buf), len = mb_ld_be16(buf + 2);
    g_assert_cmpuint(n, ==, 4u + len);
    *ok = mig_rp_check_header(type, len, err) && mig_rp_decode(type, buf + 4, len, m, err);
}

static void test_codec_roundtrip(void)
{
    uint8_t buf[MIG_RP_MAX_LEN];
    MigRpMsg m;
    bool ok;

    size_t n = mig_rp_encode_req(buf, "pc.ram", 0x12345000, 4096);
    g_assert_cmpuint(n, ==, 4 + 13 + 6);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok);
    g_assert_cmpuint(m.type, ==, MIG_RP_REQ_PAGES_ID);
    g_assert_cmpuint(m.start, ==, 0x12345000);
    g_assert_cmpuint(m.len, ==, 4096);
    g_assert_true(m.has_name);
    g_assert_cmpstr(m.name, ==, "pc.ram");

    n = mig_rp_encode_req(buf, NULL, 8192, 4096);
    g_assert_cmpuint(n, ==, 16);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_REQ_PAGES && !m.has_name && m.start == 8192);

    n = mig_rp_encode_u32(buf, MIG_RP_SHUT, 1);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_SHUT && m.value == 1);

    n = mig_rp_encode_mb_send(buf, 77, 2, 0x1234567890);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.record == 77 && m.block == 2 && m.page == 0x1234567890);
    n = mig_rp_encode_mb_horizon(buf, UINT64_MAX);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_MB_HORIZON && m.record == UINT64_MAX);
    n = mig_rp_encode_mb_cursor(buf, 41, 1, 7);
    g_assert_cmpuint(n, ==, 24);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_MB_CURSOR && m.record == 41 && m.block == 1 &&
                  m.page == 7);
    GError *err = NULL;
    g_assert_false(mig_rp_check_header(MIG_RP_MB_CURSOR, 8, &err));
    g_assert_nonnull(strstr(err->message, "'MB_CURSOR'"));
    g_clear_error(&err);

    /* the recovery handshake: RECV_BITMAP naming a block, RESUME_ACK(1) */
    n = mig_rp_encode_recv_bitmap(buf, "pc.ram");
    g_assert_cmpuint(n, ==, 4 + 1 + 6);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_RECV_BITMAP && m.has_name);
    g_assert_cmpstr(m.name, ==, "pc.ram");
    n = mig_rp_encode_u32(buf, MIG_RP_RESUME_ACK, 1);
    decode_whole(buf, n, &m, NULL, &ok);
    g_assert_true(ok && m.type == MIG_RP_RESUME_ACK && m.value == 1);
}

static void test_codec_rejects(void)
{
    GError *err = NULL;
    MigRpMsg m;
    uint8_t p[32] = { 0 };

    g_assert_false(mig_rp_check_header(0, 0, &err));
    g_assert_cmpstr(err->message, ==, "RP: Received invalid message 0x0000 length 0x0000");
    g_clear_error(&err);
    g_assert_false(mig_rp_check_header(MIG_RP_MAX, 4, &err));
    g_clear_error(&err);
    g_assert_false(mig_rp_check_header(MIG_RP_SHUT, 5, &err));
    g_assert_cmpstr(err->message, ==,
                    "RP: Received 'SHUT' message (0x0001) with incorrect length 5 expecting 4");
    g_clear_error(&err);
    g_assert_false(mig_rp_check_header(MIG_RP_MB_HORIZON, 4, &err));
    g_clear_error(&err);
    /* REQ_PAGES_ID whose name length disagrees with the message length */
    p[12] = 5;
    g_assert_false(mig_rp_decode(MIG_RP_REQ_PAGES_ID, p, 13 + 4, &m, &err));
    g_assert_cmpstr(err->message, ==, "RP: Req_Page_id with length 17 expecting 18");
    g_clear_error(&err);
    g_assert_false(mig_rp_decode(MIG_RP_REQ_PAGES_ID, p, 12, &m, &err));
    g_clear_error(&err);
    g_assert_false(mig_rp_decode(MIG_RP_RECV_BITMAP, p, 0, &m, &err));
    g_clear_error(&err);
}

/* ---- source request queue / schedule ---- */

static bool never(void *opaque)
{
    return false;
}

static bool always(void *opaque)
{
    return true;
}

/* The received bitmap of postcopy recovery: QEMU's layout (be64 size rounded to 8 bytes,
 * little-endian bitmap, be64 end mark), padding bits dropped, each malformed blob refused. */
static void test_recv_bitmap(void)
{
    const uint64_t npages = 70; /* two words, the second one partial */
    uint64_t rx[2] = { 0x8000000000000001ULL, 0xffffffffffffffffULL }, back[2];
    uint8_t buf[64];
    GError *err = NULL;

    g_assert_cmpuint(mig_rp_bitmap_size(npages), ==, 16);
    g_assert_cmpuint(mig_rp_bitmap_size(64), ==, 8);
    g_assert_cmpuint(mig_rp_bitmap_size(0), ==, 0);
    size_t n = mig_rp_bitmap_encode(buf, rx, npages);
    g_assert_cmpuint(n, ==, mig_rp_bitmap_blob_len(npages));
    g_assert_cmpuint(n, ==, 32);
    g_assert_cmpuint(mb_ld_be64(buf), ==, 16);
    g_assert_cmpuint(buf[8], ==, 0x01);  /* page 0: bit 0 of the first byte */
    g_assert_cmpuint(buf[15], ==, 0x80); /* page 63 */
    g_assert_cmpuint(buf[16], ==, 0x3f); /* pages 64..69, the padding stays 0 */
    g_assert_cmpuint(buf[17], ==, 0);
    g_assert_cmpuint(mb_ld_be64(buf + 24), ==, MIG_RP_BITMAP_END);
    g_assert_true(mig_rp_bitmap_decode(buf, n, "pc.ram", npages, back, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(back[0], ==, rx[0]);
    g_assert_cmpuint(back[1], ==, 0x3f);

    /* another block size: the size field no longer matches */
    g_assert_false(mig_rp_bitmap_decode(buf, n, "pc.ram", 200, back, &err));
    g_assert_cmpstr(err->message, ==, "ramblock 'pc.ram' bitmap size mismatch (0x10 != 0x20)");
    g_clear_error(&err);
    /* cut short: every length below the whole blob is refused, nothing read past it */
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *p = g_malloc(cut ? cut : 1);
        memcpy(p, buf, cut);
        g_assert_false(mig_rp_bitmap_decode(p, cut, "pc.ram", npages, back, &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
        g_free(p);
    }
    /* a wrong end mark */
    buf[31] ^= 1;
    g_assert_false(mig_rp_bitmap_decode(buf, n, "pc.ram", npages, back, &err));
    g_assert_true(g_str_has_prefix(err->message, "ramblock 'pc.ram' end mark incorrect: 0x"));
    g_clear_error(&err);
    /* an absurd size field cannot overflow the length checks */
    mb_st_be64(buf, UINT64_MAX - 7);
    g_assert_false(mig_rp_bitmap_decode(buf, n, "pc.ram", UINT64_MAX - 63, back, &err));
    g_clear_error(&err);
}

static void test_queue_schedule(void)
{
    MigPcQueue *q = mig_pc_queue_new();
    unsigned b;
    uint64_t p;

    mig_pc_queue_count_request(q, 0, 4096);
    mig_pc_queue_count_request(q, 1, 4096);
    /* asked again after a recovery: counted once */
    mig_pc_queue_count_request(q, 1, 4096);
    g_assert_cmpuint(mig_pc_queue_requests(q), ==, 2);
    /* nothing settled: giving up answers "background" */
    g_assert_false(mig_pc_queue_next(q, 0, &b, &p, always, NULL));
    mig_pc_queue_claim(q, 1, 0, 42);
    mig_pc_queue_claim(q, 3, 1, 7);
    mig_pc_queue_horizon(q, 4);
    g_assert_false(mig_pc_queue_next(q, 0, &b, &p, never, NULL)); /* background */
    g_assert_true(mig_pc_queue_urgent(q, 1, never, NULL));
    g_assert_true(mig_pc_queue_next(q, 1, &b, &p, never, NULL));
    g_assert_true(b == 0 && p == 42);
    g_assert_false(mig_pc_queue_urgent(q, 2, never, NULL));
    g_assert_false(mig_pc_queue_next(q, 2, &b, &p, never, NULL));
    g_assert_true(mig_pc_queue_next(q, 3, &b, &p, never, NULL));
    g_assert_true(b == 1 && p == 7);
    /* the horizon never goes back */
    mig_pc_queue_horizon(q, 2);
    g_assert_false(mig_pc_queue_next(q, 3, &b, &p, never, NULL));
    /* a claim of a record already passed is dropped */
    mig_pc_queue_claim(q, 3, 0, 1);
    mig_pc_queue_horizon(q, UINT64_MAX);
    g_assert_false(mig_pc_queue_next(q, 5, &b, &p, never, NULL));
    /* a recovery rewinds: claims and horizon go, the destination sends them again */
    mig_pc_queue_rewind(q);
    g_assert_false(mig_pc_queue_next(q, 2, &b, &p, always, NULL));
    mig_pc_queue_claim(q, 2, 1, 9);
    mig_pc_queue_horizon(q, 3);
    g_assert_true(mig_pc_queue_next(q, 2, &b, &p, never, NULL));
    g_assert_true(b == 1 && p == 9);
    mig_pc_queue_free(q);
}

/* ---- destination link model ---- */

typedef struct {
    uint64_t record[8], page[8];
    unsigned n;
} Sent;

static void on_sent(void *opaque, uint64_t record, uint64_t page)
{
    Sent *s = opaque;
    s->record[s->n] = record;
    s->page[s->n++] = page;
}

static void test_model(void)
{
    /* 10 missing pages, 1 ms per record, 5 ms one way. */
    uint64_t pages[] = { 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 };
    Sent sent = { 0 };
    MigPcModelConfig cfg = { .start_ns = 1000000000,
                             .latency_ns = 5000000,
                             .bandwidth = 4096000,
                             .record_bytes = 4096,
                             .pages = pages,
                             .n = 10,
                             .on_request_sent = on_sent,
                             .opaque = &sent };
    MigPcModel *m = mig_pc_model_new(&cfg);
    bool req;
    const int64_t ms = 1000000, t0 = 1000000000;

    g_assert_false(mig_pc_model_missing(m, 9));
    g_assert_true(mig_pc_model_missing(m, 19));
    /* never missing: no wait, no request */
    g_assert_cmpint(mig_pc_model_touch(m, 3, t0, &req), ==, t0);
    g_assert_false(req);
    /* page 19 at t0: the request reaches the source at t0+5 ms; records 0..4 started before
     * then (the link is never idle), so 19 is record 5, sent 6..7 ms after t0... well:
     * records 0-4 end at 1..5 ms; record 5 (19) ends at 6 ms and arrives 5 ms later. */
    g_assert_cmpint(mig_pc_model_touch(m, 19, t0, &req), ==, t0 + 11 * ms);
    g_assert_true(req);
    g_assert_cmpuint(sent.n, ==, 1);
    g_assert_cmpuint(sent.record[0], ==, 5);
    g_assert_cmpuint(sent.page[0], ==, 19);
    /* a second touch waits for the same page without a new request */
    g_assert_cmpint(mig_pc_model_touch(m, 19, t0 + ms, &req), ==, t0 + 11 * ms);
    g_assert_false(req);
    /* page 10 went first: it arrived at 1 + 5 ms */
    g_assert_cmpint(mig_pc_model_touch(m, 10, t0 + 20 * ms, &req), ==, t0 + 20 * ms);
    g_assert_false(req);
    g_assert_cmpuint(mig_pc_model_requests(m), ==, 1);
    /* 10 records, 1 ms each, the last arrives 5 ms after it left */
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 15 * ms);
    g_assert_true(mig_pc_model_done_by(m, t0 + 15 * ms));
    g_assert_cmpuint(mig_pc_model_sent(m), ==, 10);
    g_assert_true(mig_pc_model_requested(m, 19));
    g_assert_false(mig_pc_model_requested(m, 10));
    mig_pc_model_free(m);

    /* a rate change (max-postcopy-bandwidth) re-times the records not started yet, in the
     * same order: at 2 ms records 0 and 1 have started; from record 2 on, 0.5 ms each */
    sent.n = 0;
    m = mig_pc_model_new(&cfg);
    g_assert_cmpint(mig_pc_model_touch(m, 19, t0, &req), ==, t0 + 11 * ms);
    mig_pc_model_set_bandwidth(m, 8192000, t0 + 2 * ms);
    /* records 2, 3, 4 (pages 12..14) end at 2.5, 3, 3.5 ms; 19 (record 5) cannot start
     * before its request reached the source (5 ms): it ends at 5.5 ms, arrives at 10.5 */
    g_assert_cmpint(mig_pc_model_touch(m, 19, t0 + ms, &req), ==, t0 + 10500000);
    g_assert_cmpint(mig_pc_model_touch(m, 12, t0, &req), ==, t0 + 7500000);
    g_assert_cmpuint(sent.record[0], ==, 5); /* the order did not change */
    /* the rest: 4 more records of 0.5 ms after 5.5 ms, the last arrives at 12.5 ms */
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 12500000);
    mig_pc_model_free(m);

    /* QEMU's order: after a requested page the background pass goes on after it and wraps
     * round to the pages it skipped.  Page 17 requested at t0 is record 5 (records 0-4,
     * pages 10-14, started before the request reached the source); then 18, 19, and round
     * to 15, 16. */
    sent.n = 0;
    m = mig_pc_model_new(&cfg);
    g_assert_cmpint(mig_pc_model_touch(m, 17, t0, &req), ==, t0 + 11 * ms);
    g_assert_true(req);
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 15 * ms);
    const uint64_t order[] = { 10, 11, 12, 13, 14, 17, 18, 19, 15, 16 };
    for (uint64_t r = 0; r < 10; r++)
        g_assert_cmpuint(mig_pc_model_record_page(m, r), ==, order[r]);
    /* page 15 now arrives last but one: record 8 ends at 9 ms, + 5 ms */
    g_assert_cmpint(mig_pc_model_touch(m, 15, t0, &req), ==, t0 + 14 * ms);
    mig_pc_model_free(m);

    /* A change ahead of the link waits there: at 3 ms (no record placed yet), the records
     * that start from 3 ms on go at 0.5 ms each; the same change made once the link is
     * past 3 ms re-times the same records, so both give the same arrivals (the
     * destination applies the source's time whenever the command is read). */
    sent.n = 0;
    m = mig_pc_model_new(&cfg);
    mig_pc_model_set_bandwidth(m, 8192000, t0 + 3 * ms);
    /* records 0-2 (1 ms each) end at 3 ms; 7 more of 0.5 ms: the last arrives 6.5 + 5 */
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 11500000);
    g_assert_cmpint(mig_pc_model_touch(m, 13, t0 + 20 * ms, &req), ==, t0 + 20 * ms);
    mig_pc_model_free(m);
    m = mig_pc_model_new(&cfg);
    mig_pc_model_advance(m, t0 + 8 * ms);
    mig_pc_model_set_bandwidth(m, 8192000, t0 + 3 * ms);
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 11500000);
    mig_pc_model_free(m);
    /* two changes, the later one read first: each applies from its own time */
    m = mig_pc_model_new(&cfg);
    mig_pc_model_set_bandwidth(m, 4096000, t0 + 5 * ms);
    mig_pc_model_set_bandwidth(m, 8192000, t0 + 3 * ms);
    /* 0-2 end at 3 ms, 3-6 at 0.5 ms end at 5 ms, 7-9 at 1 ms end at 8 ms, +5 */
    g_assert_cmpint(mig_pc_model_end(m), ==, t0 + 13 * ms);
    mig_pc_model_free(m);

    /* an infinite link delivers everything at once */
    cfg.bandwidth = 0;
    cfg.latency_ns = 0;
    cfg.on_request_sent = NULL;
    m = mig_pc_model_new(&cfg);
    g_assert_cmpint(mig_pc_model_touch(m, 15, t0, &req), ==, t0);
    g_assert_cmpint(mig_pc_model_end(m), ==, t0);
    mig_pc_model_free(m);
}

/* ---- blocktime and latency ---- */

static void test_blocktime(void)
{
    MigPcStats *s = mig_pc_stats_new(2);

    /* vCPU 0 blocked 0-10 and 20-30, vCPU 1 5-25: all blocked 5-10 and 20-25 */
    mig_pc_stats_stall(s, 0, 0, 10);
    mig_pc_stats_stall(s, 0, 20, 30);
    mig_pc_stats_stall(s, 1, 5, 25);
    mig_pc_stats_stall(s, 7, 0, 100); /* no such vCPU: ignored */
    mig_pc_stats_stall(s, 1, 40, 40); /* empty */
    g_assert_cmpint(mig_pc_stats_vcpu_ns(s, 0), ==, 20);
    g_assert_cmpint(mig_pc_stats_vcpu_ns(s, 1), ==, 20);
    g_assert_cmpint(mig_pc_stats_all_blocked_ns(s), ==, 10);
    /* touching intervals do not overlap */
    mig_pc_stats_stall(s, 0, 50, 60);
    mig_pc_stats_stall(s, 1, 60, 70);
    g_assert_cmpint(mig_pc_stats_all_blocked_ns(s), ==, 10);
    mig_pc_stats_free(s);

    s = mig_pc_stats_new(1);
    mig_pc_stats_stall(s, 0, 100, 300);
    g_assert_cmpint(mig_pc_stats_all_blocked_ns(s), ==, 200);
    mig_pc_stats_free(s);
}

static void test_latency(void)
{
    MigPcStats *s = mig_pc_stats_new(1);
    MigPcLatency l;

    mig_pc_stats_latency_summary(s, &l);
    g_assert_cmpuint(l.count, ==, 0);
    g_assert_cmpint(l.p99, ==, 0);
    /* 1..100 us */
    for (int i = 100; i >= 1; i--)
        mig_pc_stats_latency(s, (int64_t)i * 1000);
    mig_pc_stats_latency_summary(s, &l);
    g_assert_cmpuint(l.count, ==, 100);
    g_assert_cmpint(l.p50, ==, 50000);
    g_assert_cmpint(l.p99, ==, 99000);
    g_assert_cmpint(l.max, ==, 100000);
    /* buckets: [0,2) us holds 1, [2,4) 2 and 3, [4,8) 4..7, ..., [64,128) 64..100 */
    g_assert_cmpuint(l.hist[0], ==, 1);
    g_assert_cmpuint(l.hist[1], ==, 2);
    g_assert_cmpuint(l.hist[2], ==, 4);
    g_assert_cmpuint(l.hist[6], ==, 37);
    json_object *o = mig_pc_stats_json(s);
    g_assert_cmpint(json_object_array_length(json_object_object_get(
                        json_object_object_get(o, "latency-us"), "histogram-log2")),
                    ==, 7);
    json_object_put(o);
    mig_pc_stats_free(s);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/postcopy/codec-roundtrip", test_codec_roundtrip);
    g_test_add_func("/postcopy/codec-rejects", test_codec_rejects);
    g_test_add_func("/postcopy/recv-bitmap", test_recv_bitmap);
    g_test_add_func("/postcopy/queue-schedule", test_queue_schedule);
    g_test_add_func("/postcopy/model", test_model);
    g_test_add_func("/postcopy/blocktime", test_blocktime);
    g_test_add_func("/postcopy/latency", test_latency);
    return g_test_run();
}
