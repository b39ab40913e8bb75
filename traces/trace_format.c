/* trace_format: the trace header (fields, validation, canonical encoding, digest, printing),
 * class/method/mix names, and the generic TraceSource entry points.
 *
 * The header encoding is canonical (one byte string per header), so its digest identifies a
 * trace: the simulator puts it into saved state and a destination refuses state from a
 * different trace. */
#include "trace_impl.h"

#include "mb_error.h"
#include "mb_util.h"

#include <string.h>
#include <zlib.h>

static const char *const class_names[] = { "keep", "zero", "random", "text", "sparse" };
static const char *const method_names[] = { "synthetic", "uffd-wp",   "soft-dirty",
                                            "mem-hash",  "converted", "kvm" };

const char *trace_class_name(int cls)
{
    return cls >= 0 && cls <= TRACE_NCLASSES ? class_names[cls] : NULL;
}

int trace_class_from_name(const char *name)
{
    if (!strcmp(name, "-"))
        return TRACE_CLASS_KEEP;
    for (int i = 0; i <= TRACE_NCLASSES; i++)
        if (!g_ascii_strcasecmp(name, class_names[i]))
            return i;
    return -1;
}

const char *trace_method_name(int method)
{
    return method >= 0 && method < TRACE_NMETHODS ? method_names[method] : NULL;
}

int trace_method_from_name(const char *name)
{
    for (int i = 0; i < TRACE_NMETHODS; i++)
        if (!g_ascii_strcasecmp(name, method_names[i]))
            return i;
    return -1;
}

bool trace_mix_parse(const char *s, TraceMix *mix, GError **err)
{
    TraceMix m = { { 0 } };
    unsigned sum = 0;

    int single = trace_class_from_name(s);
    if (single > 0) {
        m.pct[single - 1] = 100;
        *mix = m;
        return true;
    }
    /* ',' on its own command-line option; '+' or '/' where commas already separate
     * options (a guest spec: sim:uniform,init=zero:90+sparse:10). */
    gchar **parts = g_strsplit_set(s, ",+/", -1);
    for (int i = 0; parts[i]; i++) {
        char *colon = strchr(parts[i], ':');
        uint64_t v = 0;
        int cls = -1;
        if (colon) {
            *colon = 0;
            cls = trace_class_from_name(parts[i]);
            *colon = ':';
        }
        if (cls <= 0 || !mb_parse_u64(colon + 1, &v) || v > 100 || m.pct[cls - 1]) {
            mb_error_set(err,
                         "invalid content mix part '%s' in '%s' (expected CLASS:PERCENT with "
                         "CLASS one of zero, random, text, sparse, each once, e.g. "
                         "zero:40+random:10+text:30+sparse:20)",
                         parts[i], s);
            g_strfreev(parts);
            return false;
        }
        m.pct[cls - 1] = (uint8_t)v;
        sum += (unsigned)v;
    }
    g_strfreev(parts);
    if (sum != 100) {
        mb_error_set(err,
                     "invalid content mix '%s': percentages of zero, random, text, sparse "
                     "add up to %u, not 100 (e.g. zero:40+random:10+text:30+sparse:20)",
                     s, sum);
        return false;
    }
    *mix = m;
    return true;
}

char *trace_mix_format(const TraceMix *mix, char *buf, size_t len)
{
    g_snprintf(buf, len, "zero:%u,random:%u,text:%u,sparse:%u", mix->pct[0], mix->pct[1],
               mix->pct[2], mix->pct[3]);
    return buf;
}

/* ---- header ---- */

/* The defaults of every field; the provenance stays NULL (nothing allocated). */
static void trace_header_init_fields(TraceHeader *h)
{
    memset(h, 0, sizeof(*h));
    h->version = 1; /* the writer and reader set the real one */
    h->page_size = 4096;
    h->nvcpus = 1;
    h->init_mix.pct[0] = 100;
}

void trace_header_init(TraceHeader *h)
{
    trace_header_init_fields(h);
    h->provenance = g_strdup("");
}

void trace_header_clear(TraceHeader *h)
{
    g_free(h->blocks);
    g_free(h->provenance);
    /* Only defaults that own nothing: a cleared header may simply be dropped. */
    trace_header_init_fields(h);
}

void trace_header_copy(TraceHeader *dst, const TraceHeader *src)
{
    *dst = *src;
    dst->blocks = g_memdup2(src->blocks, sizeof(TraceBlock) * src->nblocks);
    dst->provenance = g_strdup(src->provenance ? src->provenance : "");
}

void trace_header_add_block(TraceHeader *h, const char *name, uint64_t size, bool shared)
{
    h->blocks = g_renew(TraceBlock, h->blocks, h->nblocks + 1);
    TraceBlock *b = &h->blocks[h->nblocks++];
    memset(b, 0, sizeof(*b));
    g_strlcpy(b->name, name, sizeof(b->name));
    b->size = size;
    b->shared = shared;
}

void trace_header_set_provenance(TraceHeader *h, const char *text)
{
    g_free(h->provenance);
    h->provenance = g_strdup(text ? text : "");
}

void trace_header_add_disk(TraceHeader *h, const char *name, uint64_t size, unsigned used_pct)
{
    trace_header_add_block(h, name, size, false);
    h->blocks[h->nblocks - 1].disk = true;
    h->blocks[h->nblocks - 1].used_pct = (uint8_t)MIN(used_pct, 255u);
    h->version = MAX(h->version, TRACE_FORMAT_VERSION_DISK);
}

unsigned trace_header_ram_blocks(const TraceHeader *h)
{
    unsigned n = 0;
    while (n < h->nblocks && !h->blocks[n].disk)
        n++;
    return n;
}

uint32_t trace_header_min_version(const TraceHeader *h)
{
    return trace_header_ram_blocks(h) < h->nblocks ? TRACE_FORMAT_VERSION_DISK : 1;
}

uint64_t trace_header_total_size(const TraceHeader *h)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < h->nblocks; i++)
        if (!h->blocks[i].disk)
            n += h->blocks[i].size;
    return n;
}

bool trace_header_validate(const TraceHeader *h, GError **err)
{
    unsigned sum = 0;

    if (h->page_size < 512 || h->page_size > (1u << 30) || (h->page_size & (h->page_size - 1))) {
        mb_error_set(err, "page size %u is not a power of two between 512 and 1 GiB", h->page_size);
        return false;
    }
    if (h->nvcpus < 1 || h->nvcpus > TRACE_MAX_VCPUS) {
        mb_error_set(err, "vCPU count %u out of range 1..%u", h->nvcpus, TRACE_MAX_VCPUS);
        return false;
    }
    if (h->duration_ns < 0) {
        mb_error_set(err, "negative duration");
        return false;
    }
    for (int i = 0; i < TRACE_NCLASSES; i++)
        sum += h->init_mix.pct[i];
    if (sum != 100) {
        mb_error_set(err, "initial content mix adds up to %u%%, not 100%%", sum);
        return false;
    }
    if ((unsigned)h->method >= TRACE_NMETHODS) {
        mb_error_set(err, "unknown recording method %d", (int)h->method);
        return false;
    }
    if (h->nblocks < 1 || h->nblocks > TRACE_MAX_BLOCKS) {
        mb_error_set(err, "block count %u out of range 1..%u", h->nblocks, TRACE_MAX_BLOCKS);
        return false;
    }
    for (unsigned i = 0; i < h->nblocks; i++) {
        const TraceBlock *b = &h->blocks[i];
        size_t nl = strnlen(b->name, sizeof(b->name));
        if (nl == 0 || nl > TRACE_BLOCK_NAME_MAX) {
            mb_error_set(err, "block %u has an empty or overlong name", i);
            return false;
        }
        if (b->size == 0 || b->size % h->page_size ||
            b->size / h->page_size > (1ULL << TRACE_MAX_PAGE_BITS)) {
            mb_error_set(err,
                         "block '%s' size %" G_GUINT64_FORMAT
                         " is not a non-zero multiple of the page size (at most 2^%d pages)",
                         b->name, b->size, TRACE_MAX_PAGE_BITS);
            return false;
        }
        if (b->disk && b->used_pct > 100) {
            mb_error_set(err, "disk block '%s' used share %u%% is over 100%%", b->name,
                         b->used_pct);
            return false;
        }
        if (b->disk && b->shared) {
            mb_error_set(err, "disk block '%s' cannot be shared", b->name);
            return false;
        }
        if (!b->disk && i > 0 && h->blocks[i - 1].disk) {
            mb_error_set(err, "RAM block '%s' after a disk block (disks come last)", b->name);
            return false;
        }
        if (i == 0 && b->disk) {
            mb_error_set(err, "the first block '%s' is a disk: a trace needs a RAM block", b->name);
            return false;
        }
        for (unsigned j = 0; j < i; j++) {
            if (!strcmp(h->blocks[j].name, b->name)) {
                mb_error_set(err, "duplicate block name '%s'", b->name);
                return false;
            }
        }
    }
    if (!h->provenance || strlen(h->provenance) > TRACE_PROVENANCE_MAX ||
        !g_utf8_validate(h->provenance, -1, NULL)) {
        mb_error_set(err, "provenance text is missing, longer than %u bytes or not UTF-8",
                     TRACE_PROVENANCE_MAX);
        return false;
    }
    return true;
}

static void put_be32(GByteArray *a, uint32_t v)
{
    uint8_t b[4];
    mb_st_be32(b, v);
    g_byte_array_append(a, b, 4);
}

static void put_be64(GByteArray *a, uint64_t v)
{
    uint8_t b[8];
    mb_st_be64(b, v);
    g_byte_array_append(a, b, 8);
}

/* Body: u32 page_size, u32 nvcpus, i64 duration, u64 seed, u8 init[4], u8 method,
 * u8 reserved[3], u16 nblocks, { u8 namelen, name, u64 size, u8 flags }*, u32 prov_len, prov */
static void encode_body(const TraceHeader *h, GByteArray *a)
{
    uint8_t b[8] = { 0 };

    put_be32(a, h->page_size);
    put_be32(a, h->nvcpus);
    put_be64(a, (uint64_t)h->duration_ns);
    put_be64(a, h->content_seed);
    g_byte_array_append(a, h->init_mix.pct, TRACE_NCLASSES);
    b[0] = (uint8_t)h->method;
    g_byte_array_append(a, b, 4);
    mb_st_be16(b, (uint16_t)h->nblocks);
    g_byte_array_append(a, b, 2);
    for (unsigned i = 0; i < h->nblocks; i++) {
        const TraceBlock *blk = &h->blocks[i];
        uint8_t nl = (uint8_t)strnlen(blk->name, TRACE_BLOCK_NAME_MAX);
        g_byte_array_append(a, &nl, 1);
        g_byte_array_append(a, (const uint8_t *)blk->name, nl);
        put_be64(a, blk->size);
        uint8_t flags = (blk->shared ? 1 : 0) | (blk->disk ? 2 : 0);
        g_byte_array_append(a, &flags, 1);
        if (blk->disk) /* version 2: the base image's used share */
            g_byte_array_append(a, &blk->used_pct, 1);
    }
    size_t pl = strlen(h->provenance ? h->provenance : "");
    put_be32(a, (uint32_t)pl);
    g_byte_array_append(a, (const uint8_t *)(h->provenance ? h->provenance : ""), (guint)pl);
}

GByteArray *trace_header_encode(const TraceHeader *h)
{
    GByteArray *a = g_byte_array_new();
    GByteArray *body = g_byte_array_new();

    encode_body(h, body);
    g_byte_array_append(a, (const uint8_t *)TRACE_MAGIC, TRACE_MAGIC_LEN); /* with NUL */
    put_be32(a, trace_header_min_version(h));
    put_be32(a, body->len);
    g_byte_array_append(a, body->data, body->len);
    put_be32(a, (uint32_t)crc32(0, a->data, a->len));
    g_byte_array_unref(body);
    return a;
}

uint64_t trace_header_digest(const TraceHeader *h)
{
    GByteArray *body = g_byte_array_new();
    uint64_t d = 0x6d6274726163655fULL; /* "mbtrace_" */

    encode_body(h, body);
    size_t i = 0;
    for (; i + 8 <= body->len; i += 8)
        d = mb_hash3(d, mb_ld_be64(body->data + i), i);
    uint64_t tail = 0;
    for (; i < body->len; i++)
        tail = tail << 8 | body->data[i];
    d = mb_hash3(d, tail, body->len);
    g_byte_array_unref(body);
    return d;
}

bool trace_header_decode_body(const uint8_t *p, size_t len, uint64_t base, const char *what,
                              TraceHeader *h, GError **err)
{
    const uint8_t *start = p, *end = p + len;
#define NEED(n, field)                                                                             \
    do {                                                                                           \
        if ((size_t)(end - p) < (size_t)(n)) {                                                     \
            mb_error_set(err, "%s: header truncated at offset %" G_GUINT64_FORMAT " (%s)", what,   \
                         base + (uint64_t)(p - start), field);                                     \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

    trace_header_clear(h);
    NEED(36, "fixed fields");
    h->page_size = mb_ld_be32(p);
    h->nvcpus = mb_ld_be32(p + 4);
    h->duration_ns = (int64_t)mb_ld_be64(p + 8);
    h->content_seed = mb_ld_be64(p + 16);
    memcpy(h->init_mix.pct, p + 24, TRACE_NCLASSES);
    h->method = (TraceMethod)p[28];
    unsigned nblocks = mb_ld_be16(p + 32);
    p += 34;
    if (nblocks < 1 || nblocks > TRACE_MAX_BLOCKS) {
        mb_error_set(err, "%s: block count %u out of range at offset %" G_GUINT64_FORMAT, what,
                     nblocks, base + 32);
        goto fail;
    }
    for (unsigned i = 0; i < nblocks; i++) {
        NEED(1, "block name length");
        unsigned nl = *p++;
        NEED(nl + 9, "block");
        char name[TRACE_BLOCK_NAME_MAX + 1];
        memcpy(name, p, nl);
        name[nl] = 0;
        if (strlen(name) != nl || nl == 0) {
            mb_error_set(err, "%s: bad block name at offset %" G_GUINT64_FORMAT, what,
                         base + (uint64_t)(p - start));
            goto fail;
        }
        p += nl;
        uint64_t size = mb_ld_be64(p);
        uint8_t flags = p[8];
        p += 9;
        if (flags & ~3u) {
            mb_error_set(err, "%s: unknown block flags 0x%x at offset %" G_GUINT64_FORMAT, what,
                         flags, base + (uint64_t)(p - start) - 1);
            goto fail;
        }
        trace_header_add_block(h, name, size, flags & 1);
        if (flags & 2) {
            NEED(1, "disk used share");
            h->blocks[h->nblocks - 1].disk = true;
            h->blocks[h->nblocks - 1].used_pct = *p++;
        }
    }
    NEED(4, "provenance length");
    uint32_t pl = mb_ld_be32(p);
    p += 4;
    if (pl > TRACE_PROVENANCE_MAX) {
        mb_error_set(err, "%s: provenance length %u too large at offset %" G_GUINT64_FORMAT, what,
                     pl, base + (uint64_t)(p - start) - 4);
        goto fail;
    }
    NEED(pl, "provenance");
    g_free(h->provenance);
    h->provenance = g_strndup((const char *)p, pl);
    if (strlen(h->provenance) != pl) {
        mb_error_set(err, "%s: provenance contains NUL bytes at offset %" G_GUINT64_FORMAT, what,
                     base + (uint64_t)(p - start));
        goto fail;
    }
    p += pl;
    if (p != end) {
        mb_error_set(err,
                     "%s: %zu unexpected bytes at the end of the header at offset "
                     "%" G_GUINT64_FORMAT,
                     what, (size_t)(end - p), base + (uint64_t)(p - start));
        goto fail;
    }
    GError *verr = NULL;
    if (!trace_header_validate(h, &verr)) {
        mb_error_set(err, "%s: invalid header at offset %" G_GUINT64_FORMAT ": %s", what, base,
                     verr->message);
        g_error_free(verr);
        goto fail;
    }
    return true;
fail:
    trace_header_clear(h);
    return false;
#undef NEED
}

void trace_header_print(const TraceHeader *h, FILE *out)
{
    char b1[32], b2[32], mix[64];

    fprintf(out, "format version:  %u\n", h->version);
    fprintf(out, "method:          %s\n", trace_method_name(h->method));
    fprintf(out, "page size:       %u\n", h->page_size);
    fprintf(out, "vCPUs:           %u\n", h->nvcpus);
    fprintf(out, "duration:        %s\n", mb_fmt_duration(b1, sizeof(b1), h->duration_ns));
    fprintf(out, "content seed:    %" G_GUINT64_FORMAT "\n", h->content_seed);
    fprintf(out, "initial content: %s\n", trace_mix_format(&h->init_mix, mix, sizeof(mix)));
    unsigned nram = trace_header_ram_blocks(h);
    fprintf(out, "RAM:             %s in %u block%s\n",
            mb_fmt_bytes(b2, sizeof(b2), (double)trace_header_total_size(h)), nram,
            nram == 1 ? "" : "s");
    for (unsigned i = 0; i < h->nblocks; i++) {
        if (i == nram)
            fprintf(out, "disks:           %u\n", h->nblocks - nram);
        fprintf(out, "  %-14s %s (%" G_GUINT64_FORMAT " pages)%s", h->blocks[i].name,
                mb_fmt_bytes(b1, sizeof(b1), (double)h->blocks[i].size), trace_block_pages(h, i),
                h->blocks[i].shared ? " shared" : "");
        if (h->blocks[i].disk)
            fprintf(out, " base %u%% used", h->blocks[i].used_pct);
        fputc('\n', out);
    }
    if (h->provenance && *h->provenance) {
        fprintf(out, "provenance:\n");
        gchar **lines = g_strsplit(h->provenance, "\n", -1);
        for (int i = 0; lines[i]; i++)
            if (*lines[i])
                fprintf(out, "  %s\n", lines[i]);
        g_strfreev(lines);
    }
}

json_object *trace_header_json(const TraceHeader *h)
{
    json_object *o = json_object_new_object();
    json_object *blocks = json_object_new_array();
    json_object *mix = json_object_new_object();

    json_object_object_add(o, "version", json_object_new_int64(h->version));
    json_object_object_add(o, "method", json_object_new_string(trace_method_name(h->method)));
    json_object_object_add(o, "page-size", json_object_new_int64(h->page_size));
    json_object_object_add(o, "vcpus", json_object_new_int64(h->nvcpus));
    json_object_object_add(o, "duration-ns", json_object_new_int64(h->duration_ns));
    json_object_object_add(o, "content-seed", json_object_new_uint64(h->content_seed));
    for (int i = 0; i < TRACE_NCLASSES; i++)
        json_object_object_add(mix, trace_class_name(i + 1),
                               json_object_new_int64(h->init_mix.pct[i]));
    json_object_object_add(o, "initial-mix", mix);
    json_object_object_add(o, "size", json_object_new_uint64(trace_header_total_size(h)));
    for (unsigned i = 0; i < h->nblocks; i++) {
        json_object *b = json_object_new_object();
        json_object_object_add(b, "name", json_object_new_string(h->blocks[i].name));
        json_object_object_add(b, "size", json_object_new_uint64(h->blocks[i].size));
        json_object_object_add(b, "shared", json_object_new_boolean(h->blocks[i].shared));
        if (h->blocks[i].disk) {
            json_object_object_add(b, "disk", json_object_new_boolean(true));
            json_object_object_add(b, "used-pct", json_object_new_int(h->blocks[i].used_pct));
        }
        json_object_array_add(blocks, b);
    }
    json_object_object_add(o, "blocks", blocks);
    json_object_object_add(o, "provenance", json_object_new_string(h->provenance));
    return o;
}

/* ---- generic source entry points ---- */

const TraceHeader *trace_source_header(TraceSource *s)
{
    return &s->hdr;
}

int trace_source_next(TraceSource *s, TraceEpoch *ep, GError **err)
{
    return s->ops->next(s, ep, err);
}

bool trace_source_rewind(TraceSource *s, GError **err)
{
    return s->ops->rewind(s, err);
}

const char *trace_source_path(TraceSource *s)
{
    return s->path;
}

const char *trace_source_name(TraceSource *s)
{
    return s->name ? s->name : "trace";
}

void trace_source_free(TraceSource *s)
{
    if (!s)
        return;
    g_free(s->hdr.blocks);
    g_free(s->hdr.provenance);
    g_free(s->path);
    g_free(s->name);
    s->ops->free(s);
}

bool trace_source_check(TraceSource *s, uint64_t *events, uint64_t *epochs, GError **err)
{
    TraceEpoch ep;
    uint64_t nev = 0, nep = 0;
    int rc;

    if (!trace_source_rewind(s, err))
        return false;
    while ((rc = trace_source_next(s, &ep, err)) > 0) {
        nev += ep.n;
        nep++;
    }
    if (rc < 0)
        return false;
    if (events)
        *events = nev;
    if (epochs)
        *epochs = nep;
    return trace_source_rewind(s, err);
}
