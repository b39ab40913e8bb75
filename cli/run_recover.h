/* run_recover: postcopy recovery during a `migbench run`, as a management layer does it.
 *
 * A scenario can break a postcopy migration at an exact point (a migrate-pause action the
 * source runs itself) and ask for its recovery with a {"at": {"status": "postcopy-paused"},
 * "execute": "migrate-recover"} action.  migrate-recover is a destination command, so the
 * source cannot run it: the run driver takes those actions out of the source's scenario
 * (run_recover_take) and, each time the source reports postcopy-paused, waits for the
 * destination to be paused too, gives it migrate-recover on a new channel and the source
 * migrate with resume=true (run_recover_now).  Neither side's guest clock moves while the
 * run driver does this, so a run with a break and a recovery stays deterministic
 * (docs/scenarios.md, docs/sim.md). */
#ifndef RUN_RECOVER_H
#define RUN_RECOVER_H

#include "run_vm.h"

#include <json-c/json.h>
#include <stdbool.h>

/* Moves the migrate-recover actions out of `actions` (a scenario's array, modified in
 * place) and returns how many there were; -1 with err for one that is not at status
 * postcopy-paused. */
int run_recover_take(json_object *actions, GError **err);

/* One recovery: waits (up to 30 s) until the destination is postcopy-paused, then
 * migrate-recover there on a new channel for `transport` (unix: a new socket in `dir`,
 * tcp: a new port) and migrate resume=true on the source.  `n` numbers the channel. */
bool run_recover_now(RunVm *src, RunVm *dst, const char *transport, const char *dir, int n,
                     GError **err);

#endif
