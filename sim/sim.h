/* sim: the deterministic simulated guest.
 *
 * It replays a dirty-page trace (a file, or a built-in workload generated on the fly) in
 * virtual time and computes page contents from (seed, block, page, version, class), so a
 * migration of a 1 TiB guest runs on a small machine and every figure is a pure function of
 * (trace, parameters, seed).  docs/sim.md has the spec grammar and the defaults. */
#ifndef SIM_H
#define SIM_H

#include "guest.h"

#include <glib.h>
#include <stdbool.h>

/* Creates a simulated guest from `spec`, the text after "sim:" on the command line:
 *   ""  or  "hotspot"                       the default guest (1 GiB hotspot workload)
 *   "WORKLOAD[,opt=val...]"                 idle, uniform, hotspot, zipf, seq, phases
 *   "PATH[,opt=val...]", "file=PATH[,...]"  a trace file
 * with options seed=N, loop=on|off, warmup=DUR, and for workloads the generator options of
 * `migbench trace gen` (size=, rate=, hot=, ...).
 * `incoming` guests (destinations) hold real memory for received pages and start paused;
 * source guests hold metadata only and start running.
 * Returns NULL with *err set on a bad spec or an unreadable/corrupt trace.  Free with
 * mb_guest_free(). */
MbGuest *sim_guest_new(const char *spec, bool incoming, GError **err);

#endif
