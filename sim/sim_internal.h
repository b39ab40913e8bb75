/* sim_internal: the simulator's pieces and how they fit (not for other rooms).
 *
 *   sim_spec.c     "hotspot,size=1G,seed=7" or "PATH,loop=off" -> a TraceSource + options
 *   sim_replay.c   per-page metadata, lazy replay of epochs, dirty log, incoming memory
 *   sim_content.c  page bytes from (seed, block, page, version, class)
 *   sim_guest.c    the MbGuestOps: clock, run state, throttle, page access, verify, info
 *   sim_state.c    save_state / load_state blobs
 *
 * Per-page metadata is one uint32_t: version (28 bits, wraps) << 4 | class (0 = the page's
 * initial class, else a TraceClass).  With the dirty log (1 bit) and its summary (1 bit per
 * 64 pages) that is ~4.1 bytes per page, committed lazily: a 1 TiB guest reserves ~1.1 GiB
 * of address space and touches only what the workload writes. */
#ifndef SIM_INTERNAL_H
#define SIM_INTERNAL_H

#include "guest.h"
#include "sim.h"
#include "sim_content.h"
#include "trace.h"

#define SIM_META_CLASS_MASK 15u
#define SIM_META_VERSION(m) ((m) >> 4)

/* How an incoming guest keeps what it receives (docs/sim.md).  mem: the pages themselves,
 * as a real destination does (needed to apply XBZRLE deltas and compressed pages in
 * place).  model: a 32-bit digest per page, checked against the content model at verify
 * time, so a 1 TiB destination needs ~4 bytes per page instead of the pages.  auto: mem
 * up to SIM_STORE_AUTO_MEM_MAX bytes of RAM, model above. */
typedef enum { SIM_STORE_AUTO, SIM_STORE_MEM, SIM_STORE_MODEL } SimStore;
#define SIM_STORE_AUTO_MEM_MAX ((uint64_t)2 << 30)

/* What an incoming guest's disks are before a migration writes into them (disk-image=):
 * shared: the source's image itself, on shared storage (migration without blk/inc; the
 * default); base: a local overlay on the shared base image (what block-incremental
 * needs); empty: a new zeroed image (a full copy, blk).  A disk page that no migration
 * wrote reads accordingly: the source's content, the base image's, or zeroes. */
typedef enum { SIM_DISK_SHARED, SIM_DISK_BASE, SIM_DISK_EMPTY } SimDiskImage;

typedef struct {
    bool is_file;
    char *path;         /* trace file */
    TraceGenParams gen; /* built-in workload */
    bool has_seed;      /* seed= given: content seed override for files */
    uint64_t seed;
    bool loop; /* default on */
    int64_t warmup_ns;
    SimStore store;
    bool prefault; /* store=mem: populate incoming memory ahead of the stream (default on) */
    SimDiskImage disk_image; /* disk-image= (incoming guests) */
    char *failover;          /* failover=ID: a virtio-net failover primary device, or NULL */
    int64_t unplug_delay_ns; /* unplug-delay=DUR: guest time the guest takes to unplug it */
} SimSpec;

/* Parses a spec (the text after "sim:"); empty means "hotspot". */
bool sim_spec_parse(const char *spec, SimSpec *out, GError **err);
void sim_spec_clear(SimSpec *s);
/* Opens the trace or generator the spec names.  Files are checked in full here, and their
 * event count is returned in *file_events (0 for generators). */
TraceSource *sim_spec_open(const SimSpec *s, uint64_t *file_events, GError **err);

typedef struct {
    uint64_t npages;
    uint32_t *meta;
    uint64_t *dirty;   /* dirty log, NULL while logging is off */
    uint64_t *summary; /* bit w set when dirty[w] may be non-zero */
    uint8_t *mem;      /* incoming guests, store=mem: the received memory */
    uint64_t *written; /* incoming: pages that may be non-zero (set atomically) */
    uint32_t *digest;  /* store=model: digest of each written page, 0 = all zero */
    uint64_t *recv;    /* incoming disks: pages received (or written here); the others
                          read as the base image (disk-base=shared) or zero */
} SimBlock;

typedef struct {
    TraceSource *src; /* owned */
    TraceHeader hdr;  /* effective header (content seed override applied) */
    SimContent *content;
    unsigned nblocks; /* RAM blocks then disks */
    unsigned nram;    /* RAM blocks (the dirty log covers these only) */
    SimBlock *blk;
    SimDiskImage disk_image; /* incoming disks (SimSpec) */
    bool loop;
    bool logging;
    bool mem_mode;   /* incoming memory holds the pages (until verified or written on) */
    bool model_mode; /* incoming digests stand for the pages (until verified) */
    /* cursor */
    int64_t tt;          /* trace time reached */
    int64_t loop_offset; /* added to the source's epoch times in the current loop */
    uint64_t loop_count; /* completed loops */
    uint64_t epoch_pos;  /* epochs applied in the current loop */
    uint64_t loop_events;
    bool have_pending, exhausted;
    TraceEpoch pending;
    uint64_t events_applied;
    GError *error;                  /* sticky replay error (I/O on a trace file) */
    uint8_t scratch[SIM_PAGE_SIZE]; /* page generation for digests (under replay_lock) */
    GThread *prefault;              /* store=mem: populates incoming memory ahead */
    bool prefault_stop;             /* (atomic) asks it to end early */
} SimReplay;

/* Takes ownership of src.  incoming guests get lazily committed memory per block. */
bool sim_replay_init(SimReplay *r, TraceSource *src, const SimSpec *spec, bool incoming,
                     GError **err);
void sim_replay_free(SimReplay *r);
/* Applies every epoch with time <= tt (trace time); errors become r->error. */
void sim_replay_advance(SimReplay *r, int64_t tt);
/* True when sim_replay_advance(tt) would apply something. */
bool sim_replay_due(const SimReplay *r, int64_t tt);
/* Rebuilds metadata from scratch up to a cursor (load_state). */
bool sim_replay_seek(SimReplay *r, uint64_t loop_count, uint64_t epoch_pos, int64_t loop_offset,
                     int64_t tt, GError **err);
void sim_replay_log_start(SimReplay *r);
void sim_replay_log_stop(SimReplay *r);
/* ORs and clears the log (a NULL bitmap skips its block); returns the newly set bits. */
uint64_t sim_replay_log_sync(SimReplay *r, uint64_t *const *bitmaps);
/* The page's content class (resolved, 1..4) and version. */
int sim_replay_page_class(const SimReplay *r, unsigned b, uint64_t page, uint32_t *version);
/* Incoming guests: writes the model's bytes into the memory of shared blocks.  Shared
 * memory is there on both sides of a migration (QEMU's x-ignore-shared relies on it), so
 * the destination has it whether the engine sends those blocks or not. */
void sim_replay_fill_shared(SimReplay *r);
/* Drops incoming memory (or digests): pages are generated from metadata from now on. */
void sim_replay_drop_memory(SimReplay *r);
/* The digest store=model keeps of a page: 0 for an all-zero page, else non-zero. */
uint32_t sim_page_digest(const uint8_t *page);
/* Which store an incoming guest of `bytes` RAM uses; false with a clear error when
 * store=mem cannot fit in this host's available memory. */
bool sim_store_choose(SimStore asked, uint64_t bytes, SimStore *out, GError **err);
/* ORs and clears the write log of disk block `b` (>= nram: disks log always). */
uint64_t sim_replay_disk_sync(SimReplay *r, unsigned b, uint64_t *bitmap);
/* Pages per resolved class (index cls-1), RAM blocks only. */
void sim_replay_count_classes(const SimReplay *r, uint64_t counts[TRACE_NCLASSES]);

/* Lazily committed zeroed memory (MAP_NORESERVE); NULL on failure. */
void *sim_lazy_alloc(size_t bytes);
void sim_lazy_free(void *p, size_t bytes);

typedef struct {
    MbGuest base;
    SimSpec spec;
    bool incoming;
    char *describe;
    uint64_t identity; /* trace header digest with the effective content seed */
    uint64_t rate;     /* nominal dirty rate, bytes/s */
    GMutex clock_lock; /* vt, tt, tt_rem, running, throttle */
    int64_t vt, tt, tt_rem;
    bool running;
    int throttle;
    /* The failover primary (spec.failover), under clock_lock: plugged, or unplug requested
     * and done at guest time fo_done_at.  Destinations start with it hidden (unplugged). */
    bool fo_plugged, fo_unplugging;
    int64_t fo_done_at;
    GMutex replay_lock; /* rep */
    SimReplay rep;
} SimGuest;

/* sim_state.c */
GBytes *sim_state_save(SimGuest *g);
bool sim_state_load(SimGuest *g, const uint8_t *data, size_t len, GError **err);
/* Brings the replay up to the current trace time (caller holds replay_lock). */
void sim_guest_catch_up(SimGuest *g);

#endif
