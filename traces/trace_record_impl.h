/* trace_record_impl: what the recorder's two files share.
 *
 *   trace_record.c          starting/attaching, the sampling loop, writing the trace
 *   trace_record_methods.c  reading the target: maps, the three dirty-page methods, page
 *                           classification, the address-to-trace-page map, self-tests
 *
 * A process's address space is sparse and changes, a trace's RAM is dense and fixed, so
 * every writable mapping the recorder meets gets trace pages in a growing "extent" map:
 * private mappings in block 0 ("ram"), shared ones in block 1 ("shared"), in the order they
 * are first seen.  The provenance lists the map (so a test can find its own buffer). */
#ifndef TRACE_RECORD_IMPL_H
#define TRACE_RECORD_IMPL_H

#include "trace_impl.h"

#include <sys/types.h>

#define REC_BLOCK_RAM    0
#define REC_BLOCK_SHARED 1
#define REC_FP_WORDS     8 /* content fingerprint: 8 hashes of 512-byte chunks */

typedef struct {
    uint64_t start, end; /* virtual addresses */
    bool shared;
    char name[128];
} RecRegion;

typedef struct {
    uint64_t start, end;
    unsigned block;
    uint64_t page0;    /* first trace page */
    uint32_t *fp;      /* REC_FP_WORDS per page, lazily committed */
    uint64_t *seen;    /* fp valid */
    uint64_t *written; /* written at least once (for the distinct-page count) */
    char name[128];
} RecExtent;

typedef struct {
    pid_t pid;
    TraceMethod method;
    int mem_fd, pagemap_fd, clear_refs_fd, uffd;
    GArray *regions;    /* RecRegion: current writable mappings */
    GArray *registered; /* RecRegion: ranges registered with the userfaultfd */
    GArray *extents;    /* RecExtent, sorted by start, disjoint */
    uint64_t next_page[2];
    GArray *events; /* TraceEvent of the current sample */
    uint8_t *buf;   /* read buffer */
    uint64_t *pm;   /* pagemap buffer */
    void *vec;      /* PAGEMAP_SCAN output */
    bool baseline;  /* this sample only records fingerprints */
    uint64_t distinct, register_failures;
} RecState;

void rec_state_init(RecState *s, pid_t pid, TraceMethod method);
void rec_state_clear(RecState *s);
/* Opens /proc/PID/{mem,pagemap,clear_refs} as the method needs, closing earlier ones: they
 * stay bound to the address space they were opened on, so an exec needs new ones. */
bool rec_open_proc(RecState *s, GError **err);
/* Re-reads /proc/PID/maps into s->regions and extends the extent map. */
bool rec_read_maps(RecState *s, GError **err);
/* Takes a userfaultfd created in the target: enables async write-protect, registers and
 * write-protects every writable mapping.  Takes ownership of uffd. */
bool rec_uffd_attach(RecState *s, int uffd, GError **err);
/* One sample with s->method: appends the pages written since the last sample to
 * s->events (none when s->baseline).  Re-reads the maps first. */
bool rec_sample(RecState *s, GError **err);
/* The extent map as provenance lines. */
void rec_describe_map(const RecState *s, GString *out);

#endif
