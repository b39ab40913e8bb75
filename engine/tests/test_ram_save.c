/* Unit tests for mig_ram_save: RAM saving against a fake guest, a fake driver and an
 * in-memory sink, without the rest of the engine.
 *
 * The fake guest has two small RAM blocks whose pages the test writes itself (a write marks
 * the page in the guest's own dirty log, as KVM's would), so every page and every dirty
 * bitmap is known.  The fake driver (MigRamOps) logs each callback as one letter, so the
 * order of pass boundaries, rate-limit calls and publications can be asserted.  The stream
 * goes to a memfd and is parsed back record by record: what was sent, as what (zero or
 * full page), and with which bytes. */
#include "mb_bitmap.h"
#include "mb_error.h"
#include "mb_util.h"
#include "mig_ram.h"
#include "mig_wire.h"
#include "schema.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE    MB_TARGET_PAGE_SIZE
#define NBLOCKS 2
static const uint64_t block_pages[NBLOCKS] = { 40, 12 };
static const char *const block_names[NBLOCKS] = { "pc.ram", "vga.ram" };

/* ---- the fake guest ---- */

typedef struct {
    MbGuest g;
    MbRamBlock blocks[NBLOCKS];
    uint8_t *mem[NBLOCKS];
    uint64_t *dirty[NBLOCKS]; /* the guest's own log since the last sync */
    bool log_on;
    int64_t now;
    int throttle;
    unsigned syncs;
} FakeGuest;

static int64_t fg_now(MbGuest *g)
{
    return ((FakeGuest *)g)->now;
}

static void fg_wait_until(MbGuest *g, int64_t t)
{
    FakeGuest *fg = (FakeGuest *)g;
    if (t > fg->now)
        fg->now = t;
}

static void fg_nop(MbGuest *g)
{
}

static bool fg_is_running(MbGuest *g)
{
    return true;
}

static void fg_set_throttle(MbGuest *g, int pct)
{
    ((FakeGuest *)g)->throttle = pct;
}

static bool fg_log_start(MbGuest *g, GError **err)
{
    ((FakeGuest *)g)->log_on = true;
    return true;
}

static void fg_log_stop(MbGuest *g)
{
    ((FakeGuest *)g)->log_on = false;
}

static uint64_t fg_log_sync(MbGuest *g, uint64_t *const *bitmaps)
{
    FakeGuest *fg = (FakeGuest *)g;
    uint64_t n = 0;

    fg->syncs++;
    for (unsigned b = 0; b < NBLOCKS; b++) {
        n += mb_bitmap_or_count(bitmaps[b], fg->dirty[b], block_pages[b]);
        mb_bitmap_zero(fg->dirty[b], block_pages[b]);
    }
    return n;
}

static const uint8_t *fg_page_read(MbGuest *g, unsigned b, uint64_t page, uint8_t *scratch)
{
    return ((FakeGuest *)g)->mem[b] + page * PAGE;
}

static uint8_t *fg_page_host(MbGuest *g, unsigned b, uint64_t page)
{
    return NULL;
}

static GBytes *fg_save_state(MbGuest *g)
{
    return g_bytes_new(NULL, 0);
}

static bool fg_load_state(MbGuest *g, const uint8_t *d, size_t len, GError **err)
{
    return true;
}

static bool fg_verify(MbGuest *g, GError **err)
{
    return true;
}

static const char *fg_describe(MbGuest *g)
{
    return "fake";
}

static json_object *fg_info(MbGuest *g)
{
    return NULL;
}

static void fg_free(MbGuest *g)
{
    FakeGuest *fg = (FakeGuest *)g;
    for (unsigned b = 0; b < NBLOCKS; b++) {
        g_free(fg->mem[b]);
        g_free(fg->dirty[b]);
    }
    g_free(fg);
}

static const MbGuestOps fake_ops = {
    .now = fg_now,
    .wait_until = fg_wait_until,
    .run = fg_nop,
    .pause = fg_nop,
    .is_running = fg_is_running,
    .set_throttle = fg_set_throttle,
    .dirty_log_start = fg_log_start,
    .dirty_log_stop = fg_log_stop,
    .dirty_log_sync = fg_log_sync,
    .page_read = fg_page_read,
    .page_host = fg_page_host,
    .save_state = fg_save_state,
    .load_state = fg_load_state,
    .verify = fg_verify,
    .describe = fg_describe,
    .info = fg_info,
    .free = fg_free,
};

/* The guest writes `fill` over a whole page (0 makes it a zero page). */
static void fg_write(FakeGuest *fg, unsigned b, uint64_t page, uint8_t fill)
{
    memset(fg->mem[b] + page * PAGE, fill, PAGE);
    /* A distinct last byte, so a page is never mistaken for another with the same fill. */
    if (fill)
        fg->mem[b][page * PAGE + PAGE - 1] = (uint8_t)(page + 1);
    if (fg->log_on)
        fg->dirty[b][page / 64] |= 1ull << (page % 64);
}

/* Every fourth page is zero, the others hold a pattern. */
static FakeGuest *fake_guest_new(void)
{
    FakeGuest *fg = g_new0(FakeGuest, 1);

    fg->g.ops = &fake_ops;
    fg->g.kind = "fake";
    fg->g.virtual_time = true;
    fg->g.nblocks = NBLOCKS;
    fg->g.blocks = fg->blocks;
    fg->now = 5 * 1000000; /* 5 ms */
    for (unsigned b = 0; b < NBLOCKS; b++) {
        g_strlcpy(fg->blocks[b].name, block_names[b], sizeof(fg->blocks[b].name));
        fg->blocks[b].size = block_pages[b] * PAGE;
        fg->blocks[b].host_page_size = PAGE;
        fg->mem[b] = g_malloc0(block_pages[b] * PAGE);
        fg->dirty[b] = mb_bitmap_new(block_pages[b]);
        for (uint64_t p = 0; p < block_pages[b]; p++)
            fg_write(fg, b, p, p % 4 == 0 ? 0 : (uint8_t)(0x10 + b * 0x40 + p));
    }
    return fg;
}

/* ---- the fake driver ---- */

typedef struct {
    GString *log;         /* one letter per callback: R rate limit, W wait, L link, U publish,
                             P pass, T throttle */
    GArray *passes;       /* MigRamPass */
    GArray *sync_at_pass; /* dirty_sync_count seen by each pass callback */
    GArray *rem_at_pass;  /* counters->remaining seen by each pass callback */
    MigCounters *c;
} FakeDriver;

static void drv_rate_limit(void *opaque)
{
    g_string_append_c(((FakeDriver *)opaque)->log, 'R');
}

static void drv_wait_until(void *opaque, int64_t t)
{
    g_string_append_c(((FakeDriver *)opaque)->log, 'W');
}

static void drv_charge_link(void *opaque, size_t bytes)
{
    g_string_append_c(((FakeDriver *)opaque)->log, 'L');
}

static void drv_publish(void *opaque)
{
    g_string_append_c(((FakeDriver *)opaque)->log, 'U');
}

static void drv_pass(void *opaque, const MigRamPass *p)
{
    FakeDriver *d = opaque;
    g_string_append_c(d->log, 'P');
    g_array_append_val(d->passes, *p);
    g_array_append_val(d->sync_at_pass, d->c->dirty_sync_count);
    g_array_append_val(d->rem_at_pass, d->c->remaining);
}

static void drv_throttle(void *opaque, int pct)
{
    g_string_append_c(((FakeDriver *)opaque)->log, 'T');
}

static const MigRamOps drv_ops = {
    .rate_limit = drv_rate_limit,
    .wait_until = drv_wait_until,
    .charge_link = drv_charge_link,
    .publish = drv_publish,
    .pass = drv_pass,
    .throttle = drv_throttle,
};

/* ---- one RAM saver with everything around it ---- */

typedef struct {
    Schema *schema;
    MigCaps caps;
    MigParams params;
    MigCounters c;
    FakeGuest *fg;
    FakeDriver drv;
    int sink; /* a second descriptor of the memfd the stream goes to */
    MigFile *f;
    MigRam *r;
} Rig;

static void rig_init(Rig *t)
{
    GError *err = NULL;

    memset(t, 0, sizeof(*t));
    t->schema = schema_new(NULL);
    g_assert_true(schema_load_builtin(t->schema, "core.json", &err));
    g_assert_true(schema_load_builtin(t->schema, "migration-5.0.json", &err));
    g_assert_true(schema_finish(t->schema, &err));
    g_assert_true(mig_caps_init(&t->caps, t->schema, &err));
    g_assert_true(mig_params_init(&t->params, t->schema, true, &err));
    t->fg = fake_guest_new();
    t->drv.log = g_string_new(NULL);
    t->drv.passes = g_array_new(FALSE, TRUE, sizeof(MigRamPass));
    t->drv.sync_at_pass = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    t->drv.rem_at_pass = g_array_new(FALSE, TRUE, sizeof(uint64_t));
    t->drv.c = &t->c;
    int fd = memfd_create("ram-save-sink", MFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    t->sink = dup(fd);
    t->f = mig_file_new(chan_new_fd(fd, "memfd"), true);
    MigRamConfig cfg = { .guest = &t->fg->g,
                         .file = t->f,
                         .counters = &t->c,
                         .caps = &t->caps,
                         .params = &t->params,
                         .v5 = true,
                         .ops = &drv_ops,
                         .opaque = &t->drv };
    t->r = mig_ram_new(&cfg);
}

static void rig_clear(Rig *t)
{
    mig_ram_free(t->r);
    g_assert_false(t->fg->log_on); /* free stops the dirty log */
    mig_file_close(t->f);
    close(t->sink);
    mb_guest_free(&t->fg->g);
    g_string_free(t->drv.log, TRUE);
    g_array_free(t->drv.passes, TRUE);
    g_array_free(t->drv.sync_at_pass, TRUE);
    g_array_free(t->drv.rem_at_pass, TRUE);
    mig_params_clear(&t->params);
    mig_caps_clear(&t->caps);
    schema_free(t->schema);
}

/* The callback log since the last call (then forgotten). */
static gchar *take_log(Rig *t)
{
    gchar *s = g_strdup(t->drv.log->str);
    g_string_truncate(t->drv.log, 0);
    return s;
}

/* Everything written to the stream so far. */
static GBytes *sink_bytes(Rig *t)
{
    mig_file_flush(t->f);
    g_assert_null(mig_file_error(t->f));
    off_t len = lseek(t->sink, 0, SEEK_END);
    uint8_t *buf = g_malloc(len > 0 ? (size_t)len : 1);
    g_assert_cmpint(pread(t->sink, buf, (size_t)len, 0), ==, len);
    return g_bytes_new_take(buf, (size_t)len);
}

/* ---- reading the stream back ---- */

typedef struct {
    unsigned block;
    uint64_t page;
    bool zero;
} Rec;

static uint64_t be64_at(const uint8_t *p)
{
    return mb_ld_be64(p);
}

/* The setup payload: MEM_SIZE, each block's name and size, EOS.  Returns its length. */
static size_t parse_setup(const uint8_t *p, size_t len)
{
    size_t pos = 8;
    uint64_t total = 0;

    for (unsigned b = 0; b < NBLOCKS; b++)
        total += block_pages[b] * PAGE;
    g_assert_cmpuint(len, >=, 8);
    g_assert_cmphex(be64_at(p), ==, total | RAM_SAVE_FLAG_MEM_SIZE);
    for (unsigned b = 0; b < NBLOCKS; b++) {
        size_t n = p[pos++];
        g_assert_cmpuint(n, ==, strlen(block_names[b]));
        g_assert_cmpint(memcmp(p + pos, block_names[b], n), ==, 0);
        pos += n;
        g_assert_cmpuint(be64_at(p + pos), ==, block_pages[b] * PAGE);
        pos += 8;
    }
    g_assert_cmphex(be64_at(p + pos), ==, RAM_SAVE_FLAG_EOS);
    return pos + 8;
}

/* Page records from `pos` up to and including the next EOS, appended to `out`; checks each
 * full page's bytes against the guest's memory now.  Returns the position after EOS. */
static size_t parse_pages(Rig *t, const uint8_t *p, size_t len, size_t pos, int *last_block,
                          GArray *out)
{
    for (;;) {
        g_assert_cmpuint(pos + 8, <=, len);
        uint64_t v = be64_at(p + pos);
        uint64_t flags = v & (PAGE - 1), offset = v & ~(uint64_t)(PAGE - 1);
        pos += 8;
        if (flags & RAM_SAVE_FLAG_EOS) {
            g_assert_cmphex(flags, ==, RAM_SAVE_FLAG_EOS);
            return pos;
        }
        if (!(flags & RAM_SAVE_FLAG_CONTINUE)) {
            size_t n = p[pos++];
            *last_block = -1;
            for (unsigned b = 0; b < NBLOCKS; b++)
                if (n == strlen(block_names[b]) && !memcmp(p + pos, block_names[b], n))
                    *last_block = (int)b;
            g_assert_cmpint(*last_block, >=, 0);
            pos += n;
        }
        g_assert_cmpint(*last_block, >=, 0); /* CONTINUE needs a block before it */
        Rec rec = { .block = (unsigned)*last_block, .page = offset / PAGE };
        g_assert_cmpuint(rec.page, <, block_pages[rec.block]);
        const uint8_t *mem = t->fg->mem[rec.block] + rec.page * PAGE;
        if (flags & RAM_SAVE_FLAG_ZERO) {
            g_assert_cmphex(flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE, ==, RAM_SAVE_FLAG_ZERO);
            g_assert_cmpuint(p[pos++], ==, 0);
            g_assert_true(mb_buffer_is_zero(mem, PAGE));
            rec.zero = true;
        } else {
            g_assert_cmphex(flags & ~(uint64_t)RAM_SAVE_FLAG_CONTINUE, ==, RAM_SAVE_FLAG_PAGE);
            g_assert_cmpuint(pos + PAGE, <=, len);
            g_assert_cmpint(memcmp(p + pos, mem, PAGE), ==, 0);
            pos += PAGE;
        }
        g_array_append_val(out, rec);
    }
}

static unsigned count_zero(GArray *recs)
{
    unsigned n = 0;
    for (guint i = 0; i < recs->len; i++)
        n += g_array_index(recs, Rec, i).zero;
    return n;
}

/* Asserts that `recs` holds each (block, page) of `want` exactly once and nothing else. */
static void assert_sent_exactly(GArray *recs, const Rec *want, size_t nwant)
{
    g_assert_cmpuint(recs->len, ==, nwant);
    for (size_t w = 0; w < nwant; w++) {
        unsigned seen = 0;
        for (guint i = 0; i < recs->len; i++) {
            const Rec *r = &g_array_index(recs, Rec, i);
            seen += r->block == want[w].block && r->page == want[w].page;
        }
        g_assert_cmpuint(seen, ==, 1);
    }
}

static size_t total_pages(void)
{
    size_t n = 0;
    for (unsigned b = 0; b < NBLOCKS; b++)
        n += block_pages[b];
    return n;
}

/* ---- tests ---- */

/* Setup syncs once (pass 1) and writes the block list; the bulk pass sends every page
 * once, in block order, zero pages as ZERO records; the counters add up to the stream. */
static void test_bulk_pass(void)
{
    Rig t;
    rig_init(&t);

    mig_ram_save_setup(t.r);
    g_autofree gchar *log_setup = take_log(&t);
    g_assert_cmpstr(log_setup, ==, "P");
    g_assert_true(t.fg->log_on);
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 1);
    g_assert_cmpuint(mig_ram_dirty_pages(t.r), ==, total_pages());
    g_assert_cmpuint(mig_ram_total(t.r), ==, total_pages() * PAGE);

    g_autoptr(GBytes) setup = sink_bytes(&t);
    size_t setup_len = parse_setup(g_bytes_get_data(setup, NULL), g_bytes_get_size(setup));
    g_assert_cmpuint(setup_len, ==, g_bytes_get_size(setup));

    /* Unlimited stream, frozen clock: one round sends everything, then finds nothing. */
    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    g_autoptr(GBytes) all = sink_bytes(&t);
    const uint8_t *p = g_bytes_get_data(all, NULL);
    size_t len = g_bytes_get_size(all);
    GArray *recs = g_array_new(FALSE, TRUE, sizeof(Rec));
    int last = -1;
    g_assert_cmpuint(parse_pages(&t, p, len, setup_len, &last, recs), ==, len);

    g_assert_cmpuint(recs->len, ==, total_pages());
    guint i = 0;
    for (unsigned b = 0; b < NBLOCKS; b++)
        for (uint64_t pg = 0; pg < block_pages[b]; pg++, i++) {
            const Rec *r = &g_array_index(recs, Rec, i);
            g_assert_cmpuint(r->block, ==, b);
            g_assert_cmpuint(r->page, ==, pg);
            g_assert_cmpint(r->zero, ==, pg % 4 == 0);
        }
    unsigned zeros = count_zero(recs);
    g_assert_cmpuint(zeros, ==, 10 + 3); /* pages 0,4,..,36 and 0,4,8 */
    g_assert_cmpuint(t.c.duplicate, ==, zeros);
    g_assert_cmpuint(t.c.normal, ==, total_pages() - zeros);
    g_assert_cmpuint(mig_ram_transferred_pages(t.r), ==, total_pages());
    /* transferred counts every byte of the iterate payload, EOS included (not setup's). */
    g_assert_cmpuint(t.c.transferred, ==, len - setup_len);
    g_assert_cmpuint(mig_ram_dirty_pages(t.r), ==, 0);

    /* One rate-limit call per target page sent, then one publication at the end. */
    g_autofree gchar *log_iter = take_log(&t);
    g_autofree gchar *want = g_strnfill(total_pages(), 'R');
    g_autofree gchar *want_u = g_strconcat(want, "U", NULL);
    g_assert_cmpstr(log_iter, ==, want_u);
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 1);

    g_array_free(recs, TRUE);
    rig_clear(&t);
}

/* Between passes, a sync picks up exactly what the guest wrote and the next round re-sends
 * exactly those pages with their new contents (a page that became zero as ZERO); the
 * completion pass syncs once more and sends the rest. */
static void test_dirty_sync_between_passes(void)
{
    Rig t;
    rig_init(&t);

    mig_ram_save_setup(t.r);
    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    g_autoptr(GBytes) before = sink_bytes(&t);
    size_t mark = g_bytes_get_size(before);
    uint64_t normal0 = t.c.normal, dup0 = t.c.duplicate, xfer0 = t.c.transferred;
    g_free(take_log(&t));

    /* The guest writes four pages, one of them twice, one of them to zero. */
    t.fg->now += 1500 * 1000000ll; /* 1.5 s: a full sync period */
    fg_write(t.fg, 0, 3, 0x77);
    fg_write(t.fg, 0, 10, 0x00); /* was data, is now a zero page */
    fg_write(t.fg, 0, 11, 0x78);
    fg_write(t.fg, 0, 11, 0x79);
    fg_write(t.fg, 1, 5, 0x7a);

    /* Nothing dirty in the migration bitmap, so pending syncs (pass 2). */
    g_assert_cmpuint(mig_ram_pending(t.r, 1), ==, 4 * PAGE);
    g_autofree gchar *log_pending = take_log(&t);
    g_assert_cmpstr(log_pending, ==, "P");
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 2);
    g_assert_cmpuint(t.c.remaining, ==, 4 * PAGE);
    const MigRamPass *p2 = &g_array_index(t.drv.passes, MigRamPass, 1);
    g_assert_cmpuint(p2->pass, ==, 2);
    g_assert_cmpuint(p2->new_dirty_pages, ==, 4);
    g_assert_cmpint(p2->time_ms, ==, t.fg->now / 1000000);
    g_assert_cmpint(p2->throttle_pct, ==, 0);
    /* The driver sees the counters of the pass it is told about. */
    g_assert_cmpuint(g_array_index(t.drv.sync_at_pass, uint64_t, 1), ==, 2);
    g_assert_cmpuint(g_array_index(t.drv.rem_at_pass, uint64_t, 1), ==, 4 * PAGE);
    /* 4 pages in the 1.5 s since the first sync (QEMU's per-second rate). */
    g_assert_cmpuint(t.c.dirty_pages_rate, ==, 4 * 1000 / 1500);

    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    g_autoptr(GBytes) after = sink_bytes(&t);
    GArray *recs = g_array_new(FALSE, TRUE, sizeof(Rec));
    int last = -1;
    size_t end =
        parse_pages(&t, g_bytes_get_data(after, NULL), g_bytes_get_size(after), mark, &last, recs);
    g_assert_cmpuint(end, ==, g_bytes_get_size(after));
    const Rec want[] = { { 0, 3, false }, { 0, 10, true }, { 0, 11, false }, { 1, 5, false } };
    assert_sent_exactly(recs, want, G_N_ELEMENTS(want));
    g_assert_cmpuint(count_zero(recs), ==, 1);
    g_assert_cmpuint(t.c.normal - normal0, ==, 3);
    g_assert_cmpuint(t.c.duplicate - dup0, ==, 1);
    g_assert_cmpuint(t.c.transferred - xfer0, ==, end - mark);
    g_autofree gchar *log_iter = take_log(&t);
    g_assert_cmpstr(log_iter, ==, "RRRRU");

    /* Completion: sync (pass 3) and send what was written meanwhile. */
    fg_write(t.fg, 1, 0, 0x55);
    size_t mark2 = end;
    mig_ram_save_complete(t.r);
    g_autofree gchar *log_complete = take_log(&t);
    g_assert_cmpstr(log_complete, ==, "PR");
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 3);
    g_autoptr(GBytes) final = sink_bytes(&t);
    g_array_set_size(recs, 0);
    end =
        parse_pages(&t, g_bytes_get_data(final, NULL), g_bytes_get_size(final), mark2, &last, recs);
    g_assert_cmpuint(end, ==, g_bytes_get_size(final));
    const Rec want3[] = { { 1, 0, false } };
    assert_sent_exactly(recs, want3, G_N_ELEMENTS(want3));
    g_assert_cmpuint(t.drv.passes->len, ==, 3);
    g_assert_cmpuint(t.fg->syncs, ==, 3);

    g_array_free(recs, TRUE);
    rig_clear(&t);
}

/* With a rate limit, a round stops when the window's budget is used up (without finishing
 * the pass) and the next round resumes where it stopped: every page still goes out once. */
static void test_rate_limited_rounds(void)
{
    Rig t;
    rig_init(&t);

    mig_ram_save_setup(t.r);
    g_autoptr(GBytes) setup = sink_bytes(&t);
    size_t pos = g_bytes_get_size(setup);
    mig_file_set_rate_limit(t.f, 5 * PAGE);
    g_free(take_log(&t));

    GArray *recs = g_array_new(FALSE, TRUE, sizeof(Rec));
    int last = -1, rounds = 0, res;
    do {
        /* The driver's new window (QEMU's migration_update_counters). */
        mig_file_reset_rate_limit(t.f);
        res = mig_ram_save_iterate(t.r);
        g_assert_cmpint(res, >=, 0);
        rounds++;
        g_autofree gchar *log = take_log(&t);
        g_assert_true(g_str_has_suffix(log, "U"));
        g_assert_cmpuint(strspn(log, "R"), ==, strlen(log) - 1);
        g_assert_cmpuint(rounds, <, 100);
    } while (res == 0);
    g_autoptr(GBytes) all = sink_bytes(&t);
    const uint8_t *p = g_bytes_get_data(all, NULL);
    size_t len = g_bytes_get_size(all);
    while (pos < len)
        pos = parse_pages(&t, p, len, pos, &last, recs);
    g_assert_cmpuint(pos, ==, len);

    /* 39 full pages of 4 KiB at 20 KiB a window: several rounds, each stopped by the limit. */
    g_assert_cmpint(rounds, >=, 39 / 5);
    g_assert_cmpuint(recs->len, ==, total_pages());
    guint i = 0;
    for (unsigned b = 0; b < NBLOCKS; b++)
        for (uint64_t pg = 0; pg < block_pages[b]; pg++, i++) {
            g_assert_cmpuint(g_array_index(recs, Rec, i).block, ==, b);
            g_assert_cmpuint(g_array_index(recs, Rec, i).page, ==, pg);
        }
    g_assert_cmpuint(t.c.normal + t.c.duplicate, ==, total_pages());
    /* No pass boundary inside the rounds: only setup synced. */
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 1);
    g_assert_cmpuint(t.drv.passes->len, ==, 1);

    g_array_free(recs, TRUE);
    rig_clear(&t);
}

/* A dirty-log failure at setup is latched on the stream, with no pass announced. */
static bool fail_start(MbGuest *g, GError **err)
{
    g_set_error_literal(err, MB_ERROR, MB_ERR_GENERIC, "dirty log unavailable");
    return false;
}

static void test_setup_dirty_log_error(void)
{
    Rig t;
    rig_init(&t);
    MbGuestOps ops = fake_ops;
    ops.dirty_log_start = fail_start;
    t.fg->g.ops = &ops;

    mig_ram_save_setup(t.r);
    g_assert_nonnull(mig_file_error(t.f));
    g_assert_cmpstr(mig_file_error(t.f)->message, ==, "dirty log unavailable");
    g_autofree gchar *log = take_log(&t);
    g_assert_cmpstr(log, ==, "");
    g_assert_cmpuint(t.c.dirty_sync_count, ==, 0);
    t.fg->g.ops = &fake_ops;
    rig_clear(&t);
}

static void count_discard(void *opaque, unsigned block, uint64_t page, uint64_t npages)
{
    *(uint64_t *)opaque += npages;
}

/* Postcopy recovery (QEMU's ram_dirty_bitmap_reload): the destination received a prefix of
 * the postcopy records; its received bitmaps make exactly the pages it lacks dirty again,
 * the scan starts over, the first record names its block, and the record count becomes the
 * records that arrived.  A merge that lost a page (or sent a received one again) fails
 * here, as the destination's final verification would. */
static void test_postcopy_resume(void)
{
    Rig t;
    rig_init(&t);

    mig_ram_save_setup(t.r);
    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    t.fg->now += 1500 * 1000000ll;
    fg_write(t.fg, 0, 2, 0x21);
    fg_write(t.fg, 0, 17, 0x22);
    fg_write(t.fg, 0, 30, 0x23);
    fg_write(t.fg, 1, 1, 0x24);
    fg_write(t.fg, 1, 9, 0x25);
    uint64_t discarded = 0;
    mig_ram_postcopy_start(t.r, count_discard, &discarded);
    g_assert_cmpuint(discarded, ==, 5);
    g_autoptr(GBytes) before = sink_bytes(&t);
    size_t mark = g_bytes_get_size(before);
    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    g_assert_cmpuint(mig_ram_postcopy_records(t.r), ==, 5);
    g_assert_cmpuint(mig_ram_dirty_pages(t.r), ==, 0);
    g_autoptr(GBytes) sent = sink_bytes(&t);
    GArray *recs = g_array_new(FALSE, TRUE, sizeof(Rec));
    int last = -1;
    size_t end =
        parse_pages(&t, g_bytes_get_data(sent, NULL), g_bytes_get_size(sent), mark, &last, recs);
    g_assert_cmpuint(recs->len, ==, 5);

    /* The stream broke after the first two records: the destination has everything but
     * the last three pages sent. */
    uint64_t *received[NBLOCKS];
    for (unsigned b = 0; b < NBLOCKS; b++) {
        received[b] = mb_bitmap_new(block_pages[b]);
        mb_bitmap_fill(received[b], block_pages[b]);
    }
    for (guint i = 2; i < recs->len; i++) {
        const Rec *r = &g_array_index(recs, Rec, i);
        mb_bit_clear(received[r->block], r->page);
    }
    Rec lost[3];
    memcpy(lost, &g_array_index(recs, Rec, 2), sizeof(lost));
    g_assert_cmpuint(mig_ram_postcopy_resume(t.r, received), ==, 2);
    g_assert_cmpuint(mig_ram_dirty_pages(t.r), ==, 3);
    mig_ram_set_file(t.r, t.f);
    g_assert_cmpint(mig_ram_save_iterate(t.r), ==, 1);
    g_autoptr(GBytes) again = sink_bytes(&t);
    const uint8_t *p = g_bytes_get_data(again, NULL);
    /* a new stream: the first record names its block (no CONTINUE) */
    g_assert_cmphex(be64_at(p + end) & RAM_SAVE_FLAG_CONTINUE, ==, 0);
    g_array_set_size(recs, 0);
    last = -1;
    g_assert_cmpuint(parse_pages(&t, p, g_bytes_get_size(again), end, &last, recs), ==,
                     g_bytes_get_size(again));
    assert_sent_exactly(recs, lost, G_N_ELEMENTS(lost));
    g_assert_cmpuint(mig_ram_postcopy_records(t.r), ==, 5);
    for (unsigned b = 0; b < NBLOCKS; b++)
        g_free(received[b]);
    g_array_free(recs, TRUE);
    rig_clear(&t);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ram_save/bulk_pass", test_bulk_pass);
    g_test_add_func("/ram_save/dirty_sync_between_passes", test_dirty_sync_between_passes);
    g_test_add_func("/ram_save/rate_limited_rounds", test_rate_limited_rounds);
    g_test_add_func("/ram_save/setup_dirty_log_error", test_setup_dirty_log_error);
    g_test_add_func("/ram_save/postcopy_resume", test_postcopy_resume);
    return g_test_run();
}
