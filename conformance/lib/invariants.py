"""Statistics invariants checked in every migration test (issue: conformance, statistics)."""

# Members of MigrationInfo present per source state (QEMU's fill_source_migration_info).
DETAILED = {"active", "cancelling", "postcopy-active", "pre-switchover", "device",
            "postcopy-paused", "postcopy-recover"}


def check_info_shape(info):
    st = info.get("status")
    keys = set(info) - {"socket-address"}
    if st is None:
        assert keys <= {"status"}, info
        return
    if st in DETAILED:
        assert {"status", "setup-time", "total-time", "expected-downtime", "ram"} <= keys, info
        assert "downtime" not in keys and "error-desc" not in keys, info
    elif st == "completed" and "ram" in info:
        assert {"status", "setup-time", "total-time", "downtime", "ram"} <= keys, info
        assert "expected-downtime" not in keys and "disk" not in keys, info
        assert info["ram"]["remaining"] == 0 and info["ram"]["dirty-pages-rate"] == 0, info
    elif st == "failed":
        assert keys <= {"status", "error-desc"}, info
    elif st in ("setup", "cancelled", "colo", "wait-unplug"):
        assert keys == {"status"}, info
    if "ram" in info:
        ram = info["ram"]
        assert ram["normal-bytes"] == ram["normal"] * ram["page-size"], ram
        assert ram["skipped"] == 0
        assert ram["page-size"] == 4096
        assert info["setup-time"] <= info["total-time"], info
        if "downtime" in info:
            assert info["downtime"] <= info["total-time"], info


class StatsWatcher:
    """Accumulates query-migrate samples of one migration and checks monotonicity."""

    def __init__(self):
        self.samples = []

    def add(self, info):
        check_info_shape(info)
        if "ram" in info and self.samples:
            prev = self.samples[-1]["ram"]
            assert info["ram"]["transferred"] >= prev["transferred"], "transferred went down"
            assert info["ram"]["dirty-sync-count"] >= prev["dirty-sync-count"]
            assert info["ram"]["total"] == prev["total"]
        if "ram" in info:
            self.samples.append(info)
        return info


def check_completed(info, events, ram_size=None):
    """The final source info plus the source's events of a completed migration."""
    check_info_shape(info)
    assert info["status"] == "completed"
    ram = info["ram"]
    if ram_size is not None:
        assert ram["total"] == ram_size
    passes = [e["data"]["pass"] for e in events if e["event"] == "MIGRATION_PASS"]
    assert passes == list(range(1, len(passes) + 1)), passes
    assert ram["dirty-sync-count"] == len(passes), (ram["dirty-sync-count"], passes)
    assert ram["transferred"] >= ram["normal"] * 4096
