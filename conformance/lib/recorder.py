"""The recorder: every QMP exchange of every test goes through it, and it checks them.

Each VM of a test has one VmRecorder, fed by every QMP connection to that VM (lib/qmp.py
calls on_command / on_event).  It checks, as the traffic happens:

- every MIGRATION event against the state machine (lib/statemachine.py), per side: a VM
  started with an incoming URI is a destination until its incoming migration ends, then a
  source; the destination's unconditional 'setup' event is not a transition;
- every MIGRATION_PASS: consecutive pass numbers, the first one 1 (5.0; 4.0's counters
  go on from the previous migration), emitted while the source is migrating;
- every query-migrate reply: its members for its state (lib/invariants.py), its status
  reachable from the status the previous reply showed, and, per migration, counters that
  never go down, total constant, dirty-sync-count in step with the MIGRATION_PASS events,
  and mbps against pages-per-second;

and at the end of the test (finish()), for every migration that completed: total is the
guest's RAM, dirty-sync-count equals the number of passes, mbps agrees with the bytes
sent.  It also collects the schema elements the traffic exercised (lib/observe.py)."""
from . import invariants, observe, statemachine
from .expect import poll_until
from .statemachine import FINAL, Machine

# Set by conftest for the running test (edges and observed elements are credited to it).
CURRENT = {"test": None, "observed": None, "schema": None}


class Run:
    """One outgoing migration (from a 'migrate' command to its end)."""

    def __init__(self, anchored, first_pass):
        self.anchored = anchored  # events were on from its start: every pass is seen
        self.first_pass = first_pass  # the pass number its first MIGRATION_PASS must have
        self.passes = []
        self.samples = []  # query-migrate replies with 'ram'
        self.final = None  # 'completed' / 'failed' / 'cancelled' once seen
        self.completed_event = False
        self.by_event = False  # opened by its 'setup' event
        self.by_command = False  # its 'migrate' command was seen
        self.resumed = False  # a postcopy recovery reconnected it (a new stream)
        # block migration (blk/inc, the block capability): disk chunks share the stream, so
        # mbps is not RAM bytes alone
        self.block = False


class VmRecorder:
    def __init__(self, vm, target, incoming):
        self.vm = vm
        self.target = target
        self.version = target.version
        self.was_destination = incoming is not None
        self.dest = Machine("destination", self.version, "none" if incoming == "defer" else None,
                            quirks=target.quirks)
        self.src = Machine("source", self.version, "none", quirks=target.quirks)
        self.caps = {}
        self.events_on = False
        self.primary = None
        self.runs = []
        self.last_query = {"source": None, "destination": None}
        self.migrate_sent = False
        self.incoming_sent = False
        self.last_count = 0  # last dirty-sync-count / pass number seen (4.0 accumulates)

    # ---- helpers ----
    def ctx(self):
        return invariants.Ctx(self.version, self.caps, self.was_destination,
                              self.target.quirks, self.target.qapi)

    def _in_destination_phase(self):
        return self.was_destination and self.dest.state not in ("completed", "failed") \
            and not self.migrate_sent

    @property
    def run(self):
        return self.runs[-1] if self.runs else None

    def _observe(self, elems):
        if CURRENT["observed"] is not None:
            CURRENT["observed"].update(elems)

    # ---- commands ----
    def before_command(self, client, name, args):
        if name == "migrate":
            self.vm.ensure_ready()  # a booted guest migrates once it dirties memory

    def on_command(self, client, name, args, reply):
        schema = CURRENT["schema"]
        if schema is not None:
            self._observe(observe.command(schema, name, args, reply))
        ok = isinstance(reply, dict) and "return" in reply
        if name == "migrate-set-capabilities" and ok:
            for c in (args or {}).get("capabilities", []):
                self._set_cap(c.get("capability"), c.get("state"))
        elif name == "query-migrate-capabilities" and ok:
            for c in reply["return"]:
                self._set_cap(c["capability"], c["state"], queried=True)
        elif name == "migrate-incoming" and ok:
            self.incoming_sent = True
        elif name == "migrate" and not (args or {}).get("resume"):
            self._migrate_sent(ok)
            a = args or {}
            if ok and self.run is not None and (a.get("blk") or a.get("inc") or
                                                self.caps.get("block")):
                self.run.block = True
        elif name == "query-migrate" and ok:
            self.on_query(reply["return"])

    def _set_cap(self, cap, state, queried=False):
        if cap == "x-multifd":
            cap = "multifd"
        self.caps[cap] = bool(state)
        if cap == "events":
            if state and not self.events_on and not queried:
                # Events come from now on; what happened before they did is unknown.
                if self.migrate_sent:
                    self.src.state = None
                if self.dest.state not in FINAL and (self.incoming_sent or
                                                     self.dest.state is None):
                    self.dest.state = None
            self.events_on = bool(state)

    def _first_pass(self):
        """The number the next migration's first MIGRATION_PASS must carry: 1 in 5.0; in
        4.0 the counters go on, so last count + 1 when every earlier pass was seen."""
        if invariants.Ctx(self.version).v5:
            return 1
        if all(r.anchored for r in self.runs):
            return self.last_count + 1
        return None

    def _migrate_sent(self, ok):
        if self._in_destination_phase() and not ok:
            return  # "Guest is waiting for an incoming migration": nothing happened
        r = self.run
        fresh = r is not None and r.by_event and not r.by_command
        if fresh:
            r.by_command = True  # its 'setup' event came before the reply, as it must
        elif ok:
            assert not self.events_on, \
                "migrate succeeded with events on, but no MIGRATION 'setup' event came " \
                "before its reply (QEMU emits it inside the command)"
            self.runs.append(Run(False, None))
            self.run.by_command = True
        if ok or fresh:
            self.migrate_sent = True

    # ---- events ----
    def on_event(self, client, ev):
        if client is not self.primary:
            return  # every connection gets every event; one copy is checked
        schema = CURRENT["schema"]
        if schema is not None:
            self._observe(observe.event(schema, ev))
        name = ev.get("event")
        test = CURRENT["test"]
        if name == "MIGRATION":
            st = ev["data"]["status"]
            if self._in_destination_phase():
                self.dest.advance(st, test)
                return
            if st == "setup":
                run = Run(True, self._first_pass())
                run.by_event = True
                self.runs.append(run)
            self.src.advance(st, test)
            if st == "postcopy-recover" and self.run is not None:
                self.run.resumed = True
            if st in FINAL and self.run is not None:
                self.run.final = st
                if st == "completed":
                    self.run.completed_event = True
        elif name == "MIGRATION_PASS":
            p = ev["data"]["pass"]
            assert not self._in_destination_phase(), f"MIGRATION_PASS on a destination: {ev}"
            # QEMU may fail the migration from another thread (a multifd channel that
            # cannot connect) while the migration thread finishes its first sync, so there
            # a pass can be announced after 'failed'; migbench orders them.
            # (COLO: every checkpoint syncs the dirty log, with its MIGRATION_PASS.)
            ok_states = (None, "setup", "active", "device", "postcopy-active", "cancelling",
                         "colo")
            if not self.target.is_migbench:
                ok_states += ("failed",)
            assert self.src.state in ok_states, \
                f"MIGRATION_PASS {p} while the source is {self.src.state}"
            r = self.run
            if r is None:
                return
            if r.anchored:
                want = r.passes[-1] + 1 if r.passes else r.first_pass
                assert want is None or p == want, \
                    f"MIGRATION_PASS {p}, expected {want} (passes so far {r.passes})"
            r.passes.append(p)
            self.last_count = max(self.last_count, p)

    # ---- query-migrate ----
    def on_query(self, info):
        ctx = self.ctx()
        side = invariants.check_info(info, ctx)
        if side is None:
            return
        st = info["status"]
        prev = self.last_query[side]
        if prev is not None:
            assert statemachine.reachable(side, self.version, prev, st), \
                f"{side}: query-migrate showed {prev}, then {st}: no such path"
        self.last_query[side] = st
        if side == "destination":
            if st in ("completed", "failed"):
                self.dest.state = st if self.dest.state is None else self.dest.state
            return
        if "ram" not in info:
            if st in FINAL and self.run is not None:
                self.run.final = self.run.final or st
            return
        r = self.run
        if r is None:  # a migration this recorder did not see start
            r = Run(False, None)
            self.runs.append(r)
        if r.samples:
            invariants.check_monotonic(r.samples[-1], info)
        elif len(self.runs) > 1 and not ctx.v5:
            # 4.0 never resets the RAM counters: a new migration goes on from the last.
            last = next((x.samples[-1] for x in reversed(self.runs[:-1]) if x.samples), None)
            if last is not None:
                for k in invariants.COUNTERS:
                    if k in last["ram"]:
                        assert info["ram"][k] >= last["ram"][k], \
                            f"4.0 accumulates ram.{k}: {last['ram'][k]} -> {info['ram'][k]}"
        seen = r.passes[-1] if r.passes else (r.first_pass - 1 if r.first_pass else None)
        if r.anchored and seen is not None:
            # The count is incremented, then the event emitted: a reply after a
            # MIGRATION_PASS shows at least its number, at most one more.  migbench queues
            # events before a reply whose state it has read, so that holds to the letter.
            # QEMU 6.0+ runs a command in a bottom half and sends its reply from the
            # dispatcher coroutine later; the migration thread may sync and emit in between,
            # so its event can overtake a reply read one sync earlier.
            count = info["ram"]["dirty-sync-count"]
            low = seen if self.target.is_migbench else seen - 1
            assert low <= count <= seen + 1, \
                f"dirty-sync-count {count} but the MIGRATION_PASS events say {seen}"
        if "disk" in info:
            r.block = True
        if st in invariants.DETAILED and not r.block:
            invariants.check_window_rates(info)
        r.samples.append(info)
        self.last_count = max(self.last_count, info["ram"]["dirty-sync-count"])
        if st in FINAL:
            r.final = st

    # ---- end of test ----
    def finish(self, deadline_s=10.0):
        """Final checks of every completed migration; the VM must still be up to fetch
        what is missing (a last reply, a late event)."""
        c = self.primary
        alive = self.vm.alive() and c is not None and c.sock is not None
        if alive:
            try:
                c.poll_events()
            except Exception:
                alive = False
        for r in self.runs:
            if r.final != "completed" or not r.samples:
                continue
            if alive and r.anchored and not r.completed_event:
                # The state changed before the event went out; it must come.
                c.wait_event("MIGRATION", timeout=deadline_s, match={"status": "completed"},
                             keep=True)
            last = r.samples[-1]
            if alive and r is self.run and (last.get("status") != "completed" or
                                            invariants.is_provisional(last, self.ctx())):
                last = self._final_reply(deadline_s)
            if last is None or last.get("status") != "completed":
                continue
            self.check_completed(r, last)

    def _final_reply(self, deadline_s):
        """QEMU publishes the final times a moment after 'completed' and signals nothing
        when it does: poll for them (bounded)."""
        return poll_until(lambda: self.primary.call("query-migrate"),
                          lambda i: not invariants.is_provisional(i, self.ctx()), deadline_s)

    def check_completed(self, r, info):
        ram = info["ram"]
        want = self.target.ram_total(self.vm)
        if want is not None:
            assert ram["total"] == want, f"ram.total {ram['total']} != guest RAM {want}"
        if r.anchored:
            last_pass = r.passes[-1] if r.passes else None
            assert ram["dirty-sync-count"] == last_pass, \
                f"dirty-sync-count {ram['dirty-sync-count']} at completion, but the " \
                f"MIGRATION_PASS events were {r.passes}"
            if invariants.Ctx(self.version).v5:
                assert len(r.passes) == ram["dirty-sync-count"], r.passes
        if (invariants.Ctx(self.version).v5 or r is self.runs[0]) and not r.resumed \
                and not r.block:
            # (4.0's transferred also counts the earlier migrations of this process; after
            # a postcopy recovery, mbps counts only the stream of the last connection)
            invariants.check_completed_mbps(info, self.target.stream_overhead)
