/* trace: dirty-page traces, the one format every guest workload travels in.
 *
 * A trace is a header (page size, RAM blocks, vCPUs, duration, content seed and mix,
 * recording method, provenance) followed by epochs: a virtual timestamp and the page writes
 * that happened up to it.  docs/trace-format.md describes the bytes.
 *
 * Everything that produces epochs is a TraceSource: a file (or memory) reader and the
 * synthetic generator expose the same stream, so the simulator replays either one and a
 * generated workload is bit-for-bit what `migbench trace gen` writes.  Streams are read one
 * epoch at a time with bounded memory (an epoch holds at most TRACE_EPOCH_MAX_EVENTS
 * events; longer bursts are split into several epochs with the same timestamp).
 *
 * All functions report failures as GError in the MB_ERROR domain; errors about a file name
 * the byte offset where the problem is. */
#ifndef TRACE_H
#define TRACE_H

#include <glib.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Version 2 added disk blocks (block flag bit 1); a trace without a disk block is still
 * written as version 1, so every version-1 reader keeps reading it. */
#define TRACE_FORMAT_VERSION      2
#define TRACE_FORMAT_VERSION_DISK 2 /* the first version that may hold disk blocks */
#define TRACE_MAX_BLOCKS          64
#define TRACE_BLOCK_NAME_MAX      255
#define TRACE_MAX_VCPUS           4096
#define TRACE_EPOCH_MAX_EVENTS    65536
#define TRACE_PROVENANCE_MAX      (1u << 20)

/* Content class of a written page.  KEEP (only in events) keeps the page's class. */
typedef enum {
    TRACE_CLASS_KEEP = 0,
    TRACE_CLASS_ZERO = 1,   /* all zero bytes */
    TRACE_CLASS_RANDOM = 2, /* incompressible */
    TRACE_CLASS_TEXT = 3,   /* text-like, compresses about 3-4x with zlib */
    TRACE_CLASS_SPARSE = 4, /* a fixed random base with a few bytes changing per version */
} TraceClass;
#define TRACE_NCLASSES 4 /* real classes are 1..TRACE_NCLASSES */

/* How a trace was made (stored in the header). */
typedef enum {
    TRACE_METHOD_SYNTHETIC = 0,  /* `trace gen` or the simulator's built-in workloads */
    TRACE_METHOD_UFFD_WP = 1,    /* userfaultfd async write-protect + PAGEMAP_SCAN */
    TRACE_METHOD_SOFT_DIRTY = 2, /* clear_refs + pagemap bit 55 */
    TRACE_METHOD_MEM_HASH = 3,   /* page-content hashing of /proc/PID/mem */
    TRACE_METHOD_CONVERTED = 4,  /* `trace convert` from the text form */
    TRACE_METHOD_KVM = 5,        /* a KVM guest's dirty log (kvm/) */
} TraceMethod;
#define TRACE_NMETHODS 6

/* Class names: "keep", "zero", "random", "text", "sparse"; NULL when out of range. */
const char *trace_class_name(int cls);
/* Returns the class for a name (including "keep" and "-" for keep), or -1. */
int trace_class_from_name(const char *name);
/* Method names: "synthetic", "uffd-wp", "soft-dirty", "mem-hash", "converted", "kvm". */
const char *trace_method_name(int method);
int trace_method_from_name(const char *name);

/* A content mix: percent weights of zero, random, text, sparse (index cls-1), sum 100. */
typedef struct {
    uint8_t pct[TRACE_NCLASSES];
} TraceMix;

/* Parses "zero:40,text:30,random:10,sparse:20" (percent, summing to 100; parts joined by
 * ',', '+' or '/', so that a mix fits inside a comma-separated guest spec as
 * "zero:40+text:30+random:10+sparse:20") or a single class name ("text" = 100% text).
 * False with an error naming the bad part (or the sum). */
bool trace_mix_parse(const char *s, TraceMix *mix, GError **err);
/* Formats as "zero:40,random:10,text:30,sparse:20" into buf; returns buf. */
char *trace_mix_format(const TraceMix *mix, char *buf, size_t len);
/* Picks a class (1..4) from a 64-bit hash, by the mix weights.  Pure function. */
static inline int trace_mix_pick(const TraceMix *mix, uint64_t h)
{
    unsigned r = (unsigned)(((h >> 32) * 100) >> 32), acc = 0;
    for (int i = 0; i < TRACE_NCLASSES - 1; i++) {
        acc += mix->pct[i];
        if (r < acc)
            return i + 1;
    }
    return TRACE_NCLASSES;
}

/* A RAM block, or (disk set) a disk of the guest: writes to a disk block are disk writes in
 * page-size units, dirtying the disk rather than RAM.  Disk blocks come after every RAM
 * block (trace_header_validate), so RAM block indexes are the same with or without disks. */
typedef struct {
    char name[TRACE_BLOCK_NAME_MAX + 1];
    uint64_t size; /* bytes, a non-zero multiple of the page size */
    bool shared;
    bool disk;        /* a disk (version 2), never shared */
    uint8_t used_pct; /* disk: percent of 1 MiB chunks holding data in the base image (the
                         content before any write); the others are zero (0..100) */
} TraceBlock;

typedef struct {
    uint32_t version;    /* format version (set by the reader; the writer writes the current) */
    uint32_t page_size;  /* a power of two, 512 .. 1 GiB; the simulator needs 4096 */
    uint32_t nvcpus;     /* 1 .. TRACE_MAX_VCPUS */
    int64_t duration_ns; /* every epoch's time is in [0, duration_ns] */
    uint64_t content_seed;
    TraceMix init_mix; /* class of a page before its first write (by page hash) */
    TraceMethod method;
    unsigned nblocks;   /* 1 .. TRACE_MAX_BLOCKS */
    TraceBlock *blocks; /* owned, g_new */
    char *provenance;   /* owned, UTF-8 text: "key: value" lines; never NULL once set */
} TraceHeader;

/* Fills defaults: page size 4096, 1 vCPU, no blocks, empty provenance, init mix all zero. */
void trace_header_init(TraceHeader *h);
/* Frees what the header owns; leaves defaults that own nothing (provenance NULL), so the
 * header may be dropped or passed to trace_header_init() again. */
void trace_header_clear(TraceHeader *h);
/* Deep copy into an uninitialised dst. */
void trace_header_copy(TraceHeader *dst, const TraceHeader *src);
/* Appends a block (name truncated to TRACE_BLOCK_NAME_MAX). */
void trace_header_add_block(TraceHeader *h, const char *name, uint64_t size, bool shared);
/* Replaces the provenance text (copied). */
void trace_header_set_provenance(TraceHeader *h, const char *text);
/* Checks every field's range; the error names the field. */
bool trace_header_validate(const TraceHeader *h, GError **err);
/* Pages in block b. */
static inline uint64_t trace_block_pages(const TraceHeader *h, unsigned b)
{
    return h->blocks[b].size / h->page_size;
}
/* RAM bytes: the RAM blocks only (disks excluded). */
uint64_t trace_header_total_size(const TraceHeader *h);
/* Number of RAM blocks (the first ones) and of disk blocks (the rest). */
unsigned trace_header_ram_blocks(const TraceHeader *h);
static inline unsigned trace_header_disks(const TraceHeader *h)
{
    return h->nblocks - trace_header_ram_blocks(h);
}
/* Appends a disk block (name truncated); `used_pct` as in TraceBlock. */
void trace_header_add_disk(TraceHeader *h, const char *name, uint64_t size, unsigned used_pct);
/* The format version a header needs: 1, or 2 when it has a disk block. */
uint32_t trace_header_min_version(const TraceHeader *h);
/* A 64-bit digest of the header's canonical encoding (identity of a trace). */
uint64_t trace_header_digest(const TraceHeader *h);
/* Human-readable summary, several lines. */
void trace_header_print(const TraceHeader *h, FILE *out);
/* JSON object with every header field (new reference). */
json_object *trace_header_json(const TraceHeader *h);

/* One page write.  `page` is relative to `block`. */
typedef struct {
    uint64_t page;
    uint32_t vcpu;
    uint16_t block;
    uint8_t cls; /* TraceClass */
} TraceEvent;

/* One epoch: the writes made up to virtual time t_ns (in trace time).  `ev` stays valid
 * until the next call on the same source. */
typedef struct {
    int64_t t_ns;
    size_t n; /* 1 .. TRACE_EPOCH_MAX_EVENTS */
    const TraceEvent *ev;
} TraceEpoch;

/* ---- sources ---- */
typedef struct TraceSource TraceSource;

/* Opens a trace file for streaming.  The header is read and checked here; epochs are
 * decoded and checked block by block as they are read. */
TraceSource *trace_open_file(const char *path, GError **err);
/* Same, from memory (not copied: data must outlive the source).  `name` is used in errors. */
TraceSource *trace_open_memory(const void *data, size_t len, const char *name, GError **err);

const TraceHeader *trace_source_header(TraceSource *s);
/* The next epoch: 1 and *ep filled, 0 at the clean end, -1 with *err set on corrupt or
 * truncated input (the error names the byte offset). */
int trace_source_next(TraceSource *s, TraceEpoch *ep, GError **err);
/* Restarts at the first epoch.  False with *err on I/O error. */
bool trace_source_rewind(TraceSource *s, GError **err);
/* File path for file sources, NULL for memory and generated sources. */
const char *trace_source_path(TraceSource *s);
/* A short name for messages: the file's base name, or the workload name. */
const char *trace_source_name(TraceSource *s);
void trace_source_free(TraceSource *s);

/* Reads the whole stream once and checks it (checksums, ranges, end marker).  Leaves the
 * source rewound.  Counts are returned when the pointers are not NULL. */
bool trace_source_check(TraceSource *s, uint64_t *events, uint64_t *epochs, GError **err);

/* ---- writer ---- */
typedef struct TraceWriter TraceWriter;

/* Creates `path` (written as path.tmp and renamed into place by trace_writer_finish).  The
 * header is validated and copied.  zstd `level` 0 means the default (3). */
TraceWriter *trace_writer_new(const char *path, const TraceHeader *h, int level, GError **err);
/* Appends the writes made up to time t_ns (non-decreasing, <= duration).  Any number of
 * events; long lists are split into several epochs.  Each event is range-checked. */
bool trace_writer_add(TraceWriter *w, int64_t t_ns, const TraceEvent *ev, size_t n, GError **err);
uint64_t trace_writer_events(const TraceWriter *w);
/* Flushes, writes the end marker, renames into place, frees w (also on failure, when the
 * partial file is removed). */
bool trace_writer_finish(TraceWriter *w, GError **err);
/* Drops everything written and frees w. */
void trace_writer_abort(TraceWriter *w);

/* ---- synthetic generator ---- */
typedef enum {
    TRACE_GEN_IDLE,
    TRACE_GEN_UNIFORM,
    TRACE_GEN_HOTSPOT,
    TRACE_GEN_ZIPF,
    TRACE_GEN_SEQ,
    TRACE_GEN_PHASES,
} TraceGenKind;

/* A size either absolute (bytes) or a share of the guest (basis points, 10000 = 100%). */
typedef struct {
    bool relative;
    uint64_t value;
} TraceGenAmount;

typedef struct {
    TraceGenKind kind;
    uint64_t size;       /* guest RAM, one block "pc.ram" */
    uint64_t rate;       /* page writes per second x page size (bytes/s) */
    uint64_t seed;       /* generator and content seed */
    unsigned vcpus;      /* writes are spread over vCPUs */
    int64_t duration_ns; /* trace length */
    int64_t epoch_ns;    /* epoch spacing */
    TraceMix mix;        /* class given to written pages (per page, stable) */
    TraceMix init;       /* class of pages before their first write */
    TraceGenAmount hot;  /* hotspot: hot set size */
    unsigned hot_share;  /* hotspot: percent of writes going to the hot set */
    unsigned skew_milli; /* zipf: exponent s x 1000 */
    uint64_t from, to;   /* seq: byte range swept */
    unsigned phases;     /* phases: number of phases */
    TraceGenAmount ws;   /* uniform, phases: working-set size */
    /* A disk "drive0" after the RAM (0 = none): disk_rate bytes/s of 4 KiB writes, in
     * sequential runs of 1 MiB from random places of a working set of disk_ws at a
     * seed-chosen place; disk_used percent of its 1 MiB
     * chunks hold data in the base image.  Disk writes come from their own random stream,
     * so the RAM writes are the same with or without a disk. */
    uint64_t disk;
    uint64_t disk_rate;
    unsigned disk_used;
    TraceGenAmount disk_ws;
} TraceGenParams;

#define TRACE_GEN_DISK_NAME "drive0"

/* Names: "idle", "uniform", "hotspot", "zipf", "seq", "phases". */
bool trace_gen_kind_from_name(const char *name, TraceGenKind *kind);
const char *trace_gen_kind_name(TraceGenKind kind);
/* The documented defaults for a workload (docs/sim.md). */
void trace_gen_params_init(TraceGenParams *p, TraceGenKind kind);
/* Sets one option by name: size, rate, seed, vcpus, duration, epoch, mix, init, hot, share,
 * skew, from, to, phases, ws, disk, disk-rate, disk-used, disk-ws.  False with an error naming the
 * option. */
bool trace_gen_params_set(TraceGenParams *p, const char *key, const char *value, GError **err);
/* True when `key` is a generator option name. */
bool trace_gen_is_option(const char *key);
/* Checks consistency (ranges against the size etc.).  Called by trace_gen_new. */
bool trace_gen_params_check(const TraceGenParams *p, GError **err);
/* Canonical one-line form, "hotspot size=1073741824 rate=8388608 ...", g_free. */
char *trace_gen_params_describe(const TraceGenParams *p);
/* Help text listing the workloads, options and defaults. */
const char *trace_gen_help(void);
/* A source generating the workload on the fly, deterministic by seed, with a header equal
 * to what `trace gen` writes. */
TraceSource *trace_gen_new(const TraceGenParams *p, GError **err);

/* ---- analysis and text form ---- */
typedef struct TraceStats TraceStats;
/* One pass over the source (rewound before and after).  `window_ns` 0 picks ~20 windows. */
TraceStats *trace_stats_compute(TraceSource *s, int64_t window_ns, GError **err);
void trace_stats_print(const TraceStats *st, FILE *out);
json_object *trace_stats_json(const TraceStats *st);
uint64_t trace_stats_events(const TraceStats *st);
uint64_t trace_stats_distinct_pages(const TraceStats *st);
/* Whether every page stays zero (initial mix 100% zero, no write of another class): a
 * migration of such a trace moves no page data.  Printed as a warning; "all-zero" in
 * JSON. */
bool trace_stats_all_zero(const TraceStats *st);
void trace_stats_free(TraceStats *st);

/* Writes the text form (docs/trace-format.md) of at most max_events events (0 = all). */
bool trace_text_dump(TraceSource *s, FILE *out, uint64_t max_events, GError **err);
/* Converts `in` (the text/CSV form, or a binary trace) into `out`: binary, or the text form
 * when out ends in .txt or .csv.  Errors name the input line.  Rows without a class
 * column get a class from TRACE_CONVERT_DEFAULT_MIX (or a "# mix" line), fixed per page;
 * a "# method" a migbench does not know is kept as provenance ("method: NAME"). */
bool trace_convert(const char *in, const char *out, GError **err);

/* The class mix of written pages in rows without a class column. */
#define TRACE_CONVERT_DEFAULT_MIX "zero:5,random:15,text:30,sparse:50"

typedef struct {
    const TraceMix *mix; /* in: class mix for rows without a class column (wins over a
                            "# mix" line); NULL = "# mix" or TRACE_CONVERT_DEFAULT_MIX */
    bool all_zero;       /* out: every page of the result is zero (its initial content
                            and every write): a migration of it moves no page data */
} TraceConvertOptions;
/* trace_convert() with options; `opts` may be NULL. */
bool trace_convert_opts(const char *in, const char *out, TraceConvertOptions *opts, GError **err);

/* ---- recording real programs ---- */
typedef struct {
    pid_t pid;                /* attach to a running process, or 0 */
    char **argv;              /* or start this command (NULL-terminated) */
    int64_t interval_ns;      /* sampling interval (default 50 ms when 0) */
    int64_t duration_ns;      /* stop after this long (0 = until the process exits) */
    const char *output;       /* trace file to write */
    int method;               /* a TraceMethod to force, or -1 for the best that works */
    const char *preload_path; /* the preload library; NULL = the copy built into migbench */
    bool handle_signals;      /* SIGINT/SIGTERM end the recording cleanly (CLI) */
    bool progress;            /* live progress line on a TTY */
    /* Called after the baseline (samples = 0) and after every sample, from the recording
     * thread; lets tests and tools act in step with the recorder.  May be NULL. */
    void (*on_sample)(void *opaque, uint64_t samples);
    void *opaque;
} TraceRecordOptions;

typedef struct {
    TraceMethod method;
    uint64_t samples, events, pages;
    int64_t duration_ns;
    int exit_status; /* of a started command: wait status, or -1 */
} TraceRecordResult;

/* Records a trace of the process's writes.  The method is the first one whose self-test
 * passes (uffd-wp needs a started command), unless forced. */
bool trace_record(const TraceRecordOptions *o, TraceRecordResult *res, GError **err);
/* Self-test of one recording method on this kernel: true when it works. */
bool trace_record_selftest(TraceMethod method, GError **err);

#endif
