"""The legal MigrationStatus transitions of QEMU 4.0/5.0 (../shared/spec §1.2, §1.3, copied
into docs/conformance.md), per side and schema version.

Every MIGRATION event a test receives and every status query-migrate returns is checked
against this model by lib/recorder.py, in every test; the edges seen are recorded with the
test that saw them, for the coverage report (docs/conformance-matrix.md)."""
from collections import deque

FINAL = ("completed", "failed", "cancelled")

_SOURCE_COMMON = {
    ("none", "setup"), ("completed", "setup"), ("failed", "setup"), ("cancelled", "setup"),
    ("setup", "failed"), ("setup", "active"),
    ("active", "completed"), ("active", "pre-switchover"), ("pre-switchover", "device"),
    ("pre-switchover", "postcopy-active"), ("device", "completed"), ("active", "failed"),
    ("device", "failed"), ("active", "postcopy-active"), ("postcopy-active", "failed"),
    ("postcopy-active", "postcopy-paused"), ("postcopy-paused", "postcopy-recover"),
    ("postcopy-recover", "postcopy-active"), ("postcopy-recover", "postcopy-paused"),
    ("postcopy-active", "completed"), ("active", "colo"), ("colo", "completed"),
    ("cancelling", "cancelled"),
}
# migrate_cancel: 5.0 cancels every "running" state (cancelling included: a second cancel
# emits a second 'cancelling'); 4.0 every "setup_or_active" state.
_CANCEL_50 = {"setup", "active", "postcopy-active", "postcopy-paused", "postcopy-recover",
              "pre-switchover", "device", "wait-unplug", "cancelling"}
_CANCEL_40 = {"setup", "active", "postcopy-active", "postcopy-paused", "postcopy-recover",
              "pre-switchover", "device"}

SOURCE_EDGES = {
    "5.0": _SOURCE_COMMON | {("setup", "wait-unplug"), ("wait-unplug", "active")}
    | {(s, "cancelling") for s in _CANCEL_50},
    "4.0-dev": _SOURCE_COMMON | {(s, "cancelling") for s in _CANCEL_40},
}
DEST_EDGES = {
    ("none", "active"), ("active", "completed"), ("active", "failed"),
    ("active", "postcopy-active"), ("postcopy-active", "completed"),
    ("postcopy-active", "failed"), ("postcopy-active", "postcopy-paused"),
    ("postcopy-paused", "postcopy-recover"), ("postcopy-recover", "postcopy-active"),
    # A break while recovering: migbench pauses again; QEMU 5.0 only leaves postcopy-active
    # (postcopy_pause_incoming), so it stays in postcopy-recover (docs/quirks.md).
    ("postcopy-recover", "postcopy-paused"),
    ("active", "colo"), ("colo", "completed"),
}

# The feature an edge needs; edges without an entry need only precopy.
_FEATURE_STATES = {"postcopy-active": "postcopy", "postcopy-paused": "postcopy",
                   "postcopy-recover": "postcopy-recovery", "colo": "colo",
                   "wait-unplug": "failover"}


def edge_feature(edge):
    """The feature an edge (side, from, to) needs, or None."""
    _, a, b = edge
    fa, fb = _FEATURE_STATES.get(a), _FEATURE_STATES.get(b)
    # postcopy-recover needs recovery on top of postcopy, whichever end it is.
    if "postcopy-recovery" in (fa, fb):
        return "postcopy-recovery"
    return fb or fa


def rules_version(schema_version):
    """Graph used for a served schema: 4.0-dev's, or 5.0's (5.0 and later)."""
    return "4.0-dev" if schema_version == "4.0-dev" else "5.0"


def edges(side, schema_version):
    return SOURCE_EDGES[rules_version(schema_version)] if side == "source" else DEST_EDGES


def all_edges(schema_version):
    """Every edge as (side, from, to), sorted, for the report."""
    out = [("source",) + e for e in edges("source", schema_version)]
    out += [("destination",) + e for e in DEST_EDGES]
    order = {"source": 0, "destination": 1}
    return sorted(out, key=lambda e: (order[e[0]], e[1], e[2]))


def reachable(side, schema_version, a, b):
    """Whether status b can follow status a (possibly through unseen states)."""
    if a == b:
        return True
    g = {}
    for x, y in edges(side, schema_version):
        g.setdefault(x, set()).add(y)
    seen, todo = {a}, deque([a])
    while todo:
        for y in g.get(todo.popleft(), ()):
            if y == b:
                return True
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return False


# Every edge seen in this session: {(side, from, to): {test ids}}.
SEEN = {}


class Machine:
    """One side's state as told by its MIGRATION events.  `state` is None while unknown
    (events were off, or the process was started mid-way); the next event anchors it."""

    def __init__(self, side, schema_version, state="none", quirks=()):
        self.side = side
        self.version = schema_version
        self.state = state
        self.history = []
        self.quirks = set(quirks)
        self.repeats = []  # quirk 'failed-announced-twice': the repeated events seen

    def advance(self, status, test=None):
        """Applies one MIGRATION event; raises AssertionError on an illegal transition.
        The destination's 'setup' event (listening started; emitted whatever the events
        capability says) is not a state change."""
        if self.side == "destination" and status == "setup":
            assert self.state in (None, "none", "postcopy-paused"), \
                f"destination: 'setup' event in state {self.state} ({self.history})"
            self.history.append(status)
            return
        if (self.state == status == "failed" and self.side == "source"
                and "failed-announced-twice" in self.quirks):
            # QEMU fails a migration from more than one thread (a multifd channel and the
            # migration thread): each reads the state, then swaps it to 'failed' with the
            # value it read as the expected one, so the second swap of failed -> failed
            # succeeds too and announces 'failed' again.  Not an edge; recorded, allowed.
            self.repeats.append((status, test))
            self.history.append(status)
            return
        if self.state is not None:
            assert (self.state, status) in edges(self.side, self.version), \
                f"{self.side}: illegal transition {self.state} -> {status} " \
                f"(statuses so far: {self.history})"
            SEEN.setdefault((self.side, self.state, status), set()).add(test or "?")
        self.history.append(status)
        self.state = status


def check_sequence(statuses, side="source", start="none", test=None, schema_version="5.0"):
    """Asserts that a sequence of MIGRATION statuses follows legal edges (kept for tests
    that check a sequence of their own; the recorder checks every sequence anyway)."""
    m = Machine(side, schema_version, start)
    for st in statuses:
        m.advance(st, test)
    return m.state


def statuses(events):
    return [e["data"]["status"] for e in events if e["event"] == "MIGRATION"]
