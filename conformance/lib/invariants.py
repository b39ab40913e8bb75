"""query-migrate invariants, checked on every reply of every test (lib/recorder.py calls
them) and on every whole migration the recorder saw.

Shape (spec §5.1, QEMU's fill_source_migration_info / fill_destination_migration_info):
which MigrationInfo members appear in which state.  Statistics (spec §5.2, §5.3): the RAM
counters of one migration never go down, total is the guest's RAM, normal-bytes is
normal x page-size, remaining is 0 at completion, setup-time and downtime do not exceed
total-time, mbps agrees with the bytes sent over the time spent, pages-per-second with mbps,
and dirty-sync-count with the MIGRATION_PASS events."""

from . import qapi

PAGE_SIZE = 4096

# Source states in which QEMU fills in the times and the RAM statistics.
DETAILED = {"active", "cancelling", "postcopy-active", "pre-switchover", "device",
            "postcopy-paused", "postcopy-recover"}
STATUS_ONLY = {"setup", "cancelled", "colo", "wait-unplug"}
# Statuses only a source ever has (a destination goes none -> active -> ...).
SOURCE_ONLY = {"setup", "cancelling", "cancelled", "pre-switchover", "device", "wait-unplug"}

# Members later QEMU versions added (allowed on targets serving those versions).
LATER_RAM = {"7.2": {"precopy-bytes", "downtime-bytes", "postcopy-bytes",
                     "dirty-sync-missed-zero-copy"}}
LATER_INFO = {"7.2": {"blocked-reasons", "vfio"}}
LATER_STATS = {"7.2": {"xbzrle-cache": {"encoding-rate"}}}
COUNTERS = ("transferred", "duplicate", "normal", "normal-bytes", "dirty-sync-count",
            "postcopy-requests", "multifd-bytes")


class Ctx:
    """What a reply is checked against: the served schema (version and QAPI definitions),
    the VM's capabilities as the test set them, whether the VM was a destination, and the
    target's quirks."""

    def __init__(self, version, caps=None, was_destination=False, quirks=(), schema=None):
        self.version = version
        self.caps = caps or {}
        self.was_destination = was_destination
        self.quirks = set(quirks)
        if schema is None:
            schema = qapi.load("4.0-dev" if version == "4.0-dev" else "5.0")
        self.schema = schema

    def members(self, struct):
        return set(self.schema.member_names(struct))

    @property
    def v5(self):
        return self.version != "4.0-dev"


def side_of(info, ctx):
    """Which side's state a reply shows: 'source', 'destination' or None (nothing)."""
    st = info.get("status")
    if st is None:
        return None
    if "ram" in info or st in SOURCE_ONLY:
        return "source"
    if ctx.was_destination and st in ("active", "completed", "failed", "postcopy-active",
                                      "postcopy-paused", "postcopy-recover", "colo"):
        return "destination"
    return "source"


def is_provisional(info, ctx):
    """QEMU sets 'completed' before it computes the final times (migration_iteration_finish
    runs later; migbench keeps that order), so a query in between reads total-time 0 (and,
    in precopy, downtime 0) next to the real setup-time.  Such a reply is a real answer,
    checked for shape but not for times; the final one is checked."""
    if shows_completed_times(info, ctx) and info.get("total-time") == 0:
        return True
    return ("completed-before-times" in ctx.quirks and info.get("status") == "completed"
            and info.get("total-time") == 0 and info.get("setup-time", 0) > 0)


def shows_completed_times(info, ctx):
    """QEMU (7.2) reads the state once for the reply's status and again to choose the
    times: a reply at the moment of completion can say 'active' (or 'device') next to
    completed's times (downtime, and total-time still 0).  Quirk 'status-read-twice'."""
    return ("status-read-twice" in ctx.quirks and info.get("status") in DETAILED
            and "downtime" in info and "expected-downtime" not in info)


def _check_socket_address(sa):
    assert isinstance(sa, list), sa
    for a in sa:
        assert a.get("type") in ("inet", "unix", "vsock", "fd"), sa
        if a["type"] == "inet":
            assert isinstance(a["host"], str) and a["port"].isdigit(), sa
        if a["type"] == "unix":
            assert isinstance(a["path"], str), sa


def _check_ram(ram, ctx, state):
    want = ctx.members("MigrationStats")
    extra = set(ram) - want - LATER_RAM.get(ctx.version, set())
    assert want <= set(ram), f"ram lacks {sorted(want - set(ram))}: {ram}"
    assert not extra, f"ram has members the schema does not: {sorted(extra)}"
    for k, v in ram.items():
        if k == "mbps":
            assert isinstance(v, (int, float)), ram
        else:
            assert isinstance(v, int) and v >= 0, f"ram.{k} = {v!r}"
    assert ram["page-size"] == PAGE_SIZE, ram
    assert ram["normal-bytes"] == ram["normal"] * ram["page-size"], \
        f"normal-bytes {ram['normal-bytes']} != normal {ram['normal']} x page-size"
    assert ram["skipped"] == 0, "skipped is always 0 (legacy)"
    assert ram["remaining"] <= ram["total"], ram
    assert ram["remaining"] % PAGE_SIZE == 0, ram
    if state == "completed":
        assert ram["remaining"] == 0, f"remaining must be 0 at completion: {ram}"
        assert ram["dirty-pages-rate"] == 0, f"dirty-pages-rate must be 0 at completion: {ram}"
    # Every normal page put 4096 bytes on the wire, every zero page at least 9.  (QEMU
    # reads its counters one by one while the migration thread updates them, so only its
    # final ones are sure to agree.)
    if state == "completed" or "counters-read-live" not in ctx.quirks:
        assert ram["transferred"] >= ram["normal-bytes"] + 9 * ram["duplicate"], ram


def _check_stats_struct(name, got, want, ctx):
    extra = set(got) - want - LATER_STATS.get(ctx.version, {}).get(name, set())
    assert want <= set(got) and not extra, f"{name} members {sorted(got)} != {sorted(want)}"
    for k, v in got.items():
        if (name, k) == ("compression", "compressed-size") and \
                "compressed-size-may-be-negative" in ctx.quirks:
            continue
        assert isinstance(v, (int, float)) and v >= 0, f"{name}.{k} = {v!r}"


def check_info(info, ctx):
    """Checks one query-migrate reply; returns its side (see side_of)."""
    assert isinstance(info, dict), info
    if "socket-address" in info:
        _check_socket_address(info["socket-address"])
    keys = set(info) - {"socket-address"} - LATER_INFO.get(ctx.version, set())
    st = info.get("status")
    side = side_of(info, ctx)
    if st is None:
        assert not keys, f"members without a status: {info}"
        return side
    if side == "destination":
        allowed = {"status", "error-desc"} if st == "failed" else {"status"}
        if st == "completed":
            allowed |= {"postcopy-blocktime", "postcopy-vcpu-blocktime"}
        assert keys <= allowed, f"destination in {st}: unexpected {sorted(keys - allowed)}"
        return side
    if st in STATUS_ONLY:
        assert keys == {"status"}, f"source in {st} shows status only: {info}"
        return side
    if st == "failed":
        assert keys <= {"status", "error-desc"}, f"failed shows status, error-desc: {info}"
        if "error-desc" in info:
            assert isinstance(info["error-desc"], str) and info["error-desc"], info
        return side
    if st in DETAILED or st == "completed":
        base = {"status", "setup-time", "total-time", "ram"}
        done = st == "completed" or shows_completed_times(info, ctx)
        base |= {"downtime"} if done else {"expected-downtime"}
        assert base <= keys, f"source in {st} lacks {sorted(base - keys)}: {info}"
        optional = {"xbzrle-cache", "compression", "cpu-throttle-percentage"}
        if st != "completed":
            optional.add("disk")
        extra = keys - base - optional
        assert not extra, f"source in {st}: unexpected {sorted(extra)} in {info}"
        for cap, member in (("xbzrle", "xbzrle-cache"), ("compress", "compression")):
            if cap in ctx.caps:
                assert (member in info) == bool(ctx.caps[cap]), \
                    f"{member} must appear exactly when {cap} is on ({ctx.caps[cap]}): {info}"
        if "xbzrle-cache" in info:
            _check_stats_struct("xbzrle-cache", info["xbzrle-cache"],
                                ctx.members("XBZRLECacheStats"), ctx)
        if "compression" in info:
            _check_stats_struct("compression", info["compression"],
                                ctx.members("CompressionStats"), ctx)
        if "cpu-throttle-percentage" in info:
            assert 1 <= info["cpu-throttle-percentage"] <= 99, info
        for k in ("setup-time", "total-time", "downtime", "expected-downtime"):
            if k in info:
                assert isinstance(info[k], int) and info[k] >= 0, f"{k} = {info[k]!r}"
        _check_ram(info["ram"], ctx, st)
        if not is_provisional(info, ctx):
            assert info["setup-time"] <= info["total-time"], \
                f"setup-time {info['setup-time']} > total-time {info['total-time']}"
            if "downtime" in info:
                assert info["downtime"] <= info["total-time"], \
                    f"downtime {info['downtime']} > total-time {info['total-time']}"
        return side
    raise AssertionError(f"unknown status {st!r}")


def check_window_rates(info):
    """mbps and pages-per-second come from the same >= 100 ms window (QEMU's
    migration_update_counters): the bytes of a window cannot exceed what its pages can
    carry (a page is at most 4096 bytes plus a header of 8 + 1 + 255 bytes), plus the
    framing of the window's rounds."""
    ram = info["ram"]
    if "pages-per-second" not in ram or ram["mbps"] <= 0:
        return
    max_bytes_per_s = ram["pages-per-second"] * (PAGE_SIZE + 264) + 125000  # +1 Mbit/s
    assert ram["mbps"] * 1e6 / 8 <= max_bytes_per_s * 1.05, \
        f"mbps {ram['mbps']} is more than pages-per-second {ram['pages-per-second']} can carry"


def check_completed_mbps(info, overhead_limit):
    """At completion QEMU computes mbps = bytes x 8 / (total-time - setup-time) / 1000 with
    bytes = everything written on the migration stream(s).  The RAM bytes (transferred)
    are part of those; the rest is framing and device state (at most overhead_limit)."""
    ram = info["ram"]
    span = info["total-time"] - info["setup-time"]
    if span <= 0:
        return
    implied = ram["mbps"] * span * 1000 / 8
    assert implied >= ram["transferred"] * 0.999 - 16, \
        f"mbps {ram['mbps']} over {span} ms is {implied:.0f} bytes, less than the " \
        f"{ram['transferred']} bytes transferred"
    assert implied <= ram["transferred"] * 1.001 + overhead_limit, \
        f"mbps {ram['mbps']} over {span} ms is {implied:.0f} bytes, far more than the " \
        f"{ram['transferred']} bytes transferred"


def check_monotonic(prev, cur, accumulate_check=True):
    """Two samples of one migration (cur after prev)."""
    a, b = prev["ram"], cur["ram"]
    for k in COUNTERS:
        if k in a and k in b:
            assert b[k] >= a[k], f"ram.{k} went down: {a[k]} -> {b[k]}"
    assert a["total"] == b["total"], f"ram.total changed: {a['total']} -> {b['total']}"
    assert cur["total-time"] >= prev["total-time"] or cur.get("status") == "completed", \
        f"total-time went down: {prev['total-time']} -> {cur['total-time']}"


# Backwards-compatible helpers for tests that sample a migration themselves.
def check_info_shape(info, version="5.0"):
    return check_info(info, Ctx(version, was_destination=True))


class StatsWatcher:
    """Samples of one migration, checked pairwise (the recorder does this for every test;
    kept for tests that want the samples)."""

    def __init__(self, version="5.0"):
        self.samples = []
        self.ctx = Ctx(version, was_destination=True)

    def add(self, info):
        check_info(info, self.ctx)
        if "ram" in info and self.samples:
            check_monotonic(self.samples[-1], info)
        if "ram" in info:
            self.samples.append(info)
        return info
