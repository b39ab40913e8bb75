"""The legal MigrationStatus transitions of QEMU 4.0/5.0 (spec §1.2, §1.3), used to check
every MIGRATION event sequence a test sees, and to report which edges tests exercised."""

SOURCE_EDGES = {
    ("none", "setup"), ("completed", "setup"), ("failed", "setup"), ("cancelled", "setup"),
    ("setup", "failed"), ("setup", "active"), ("setup", "wait-unplug"), ("wait-unplug", "active"),
    ("active", "completed"), ("active", "pre-switchover"), ("pre-switchover", "device"),
    ("pre-switchover", "postcopy-active"), ("device", "completed"), ("active", "failed"),
    ("device", "failed"), ("active", "postcopy-active"), ("postcopy-active", "failed"),
    ("postcopy-active", "postcopy-paused"), ("postcopy-paused", "postcopy-recover"),
    ("postcopy-recover", "postcopy-active"), ("postcopy-recover", "postcopy-paused"),
    ("postcopy-active", "completed"), ("active", "colo"), ("colo", "completed"),
    ("cancelling", "cancelled"),
}
CANCELLABLE = {"setup", "active", "postcopy-active", "postcopy-paused", "postcopy-recover",
               "pre-switchover", "device", "wait-unplug", "cancelling"}
SOURCE_EDGES |= {(s, "cancelling") for s in CANCELLABLE}

DEST_EDGES = {
    ("none", "active"), ("active", "completed"), ("active", "failed"),
    ("active", "postcopy-active"), ("postcopy-active", "completed"),
    ("postcopy-active", "failed"), ("postcopy-active", "postcopy-paused"),
    ("postcopy-paused", "postcopy-recover"), ("postcopy-recover", "postcopy-active"),
    ("active", "colo"), ("colo", "completed"),
}

# Every edge a test run saw, for the coverage report: {(side, from, to): {test ids}}.
SEEN = {}


def check_sequence(statuses, side="source", start="none", test=None):
    """Asserts that a sequence of MIGRATION statuses follows legal edges.  The destination's
    unconditional 'setup' events (listening started) are not state changes and are skipped."""
    edges = SOURCE_EDGES if side == "source" else DEST_EDGES
    cur = start
    for st in statuses:
        if side == "destination" and st == "setup":
            continue
        assert (cur, st) in edges, f"{side}: illegal transition {cur} -> {st} in {statuses}"
        SEEN.setdefault((side, cur, st), set()).add(test or "?")
        cur = st
    return cur


def statuses(events):
    return [e["data"]["status"] for e in events if e["event"] == "MIGRATION"]
