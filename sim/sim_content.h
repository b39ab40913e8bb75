/* sim_content: the bytes of a simulated page, a pure function of
 * (content seed, block, page, version, class).
 *
 * The simulator keeps no page memory on the source: it regenerates a page whenever the
 * engine reads it, and the destination checks every received page by regenerating it.
 * Classes (see TraceClass): zero; random (incompressible); text (words from a small
 * vocabulary, ~3.3x with zlib level 1); sparse (a random base fixed per page plus a
 * version counter and a few version-dependent bytes, so consecutive versions differ in at
 * most ~16 bytes, which is what XBZRLE exploits).  Generation is integer-only, so the
 * bytes are the same on every machine. */
#ifndef SIM_CONTENT_H
#define SIM_CONTENT_H

#include "trace.h"

#include <stdbool.h>
#include <stdint.h>

#define SIM_PAGE_SIZE   4096
#define SIM_TEXT_CORPUS 65536

typedef struct {
    uint64_t seed;
    TraceMix init;
    uint8_t text[SIM_TEXT_CORPUS]; /* derived from the seed at init */
    /* Disk blocks: the share (percent) of 1 MiB chunks holding data in the base image;
     * SIM_CONTENT_NOT_DISK for RAM blocks. */
    uint8_t disk_used[TRACE_MAX_BLOCKS];
} SimContent;

#define SIM_CONTENT_NOT_DISK 0xff
#define SIM_DISK_CHUNK_PAGES 256 /* 1 MiB: QEMU's block-migration chunk */

/* Prepares the generator for a content seed and an initial-class mix (~50 us). */
void sim_content_init(SimContent *c, uint64_t seed, const TraceMix *init);
/* Makes `block` a disk whose base image has data in used_pct percent of its 1 MiB chunks
 * (chosen by a hash of seed, block and chunk); the pages of the other chunks are zero. */
void sim_content_set_disk(SimContent *c, unsigned block, unsigned used_pct);
/* The class (1..4) of a page before its first write. */
int sim_content_initial_class(const SimContent *c, unsigned block, uint64_t page);
/* Writes the SIM_PAGE_SIZE bytes of a page into out.  cls is 1..4, or 0 for the page's
 * initial class. */
void sim_content_page(const SimContent *c, unsigned block, uint64_t page, uint32_t version, int cls,
                      uint8_t *out);
/* True when the SIM_PAGE_SIZE bytes at mem are exactly what sim_content_page would write
 * for the same arguments (every byte compared: one wrong byte fails), without building the
 * page where the class allows (random and text pages are compared as they are generated);
 * scratch (SIM_PAGE_SIZE bytes) is used for the other classes. */
bool sim_content_page_equals(const SimContent *c, unsigned block, uint64_t page, uint32_t version,
                             int cls, const uint8_t *mem, uint8_t *scratch);

#endif
