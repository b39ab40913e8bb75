"""Statistics: the figures query-migrate reports, against what they must be.

The recorder already checks, in every test: counters never go down within a migration,
total is the guest's RAM, normal-bytes = normal x page-size, remaining is 0 at completion,
setup-time and downtime never exceed total-time, dirty-sync-count follows MIGRATION_PASS,
mbps agrees with the bytes of the whole migration at completion, and pages-per-second can
carry mbps.  These tests add exact expectations in sim mode (the content model predicts the
zero pages), the rates over time, and the per-version counter rules."""
import pytest

from lib import simmodel
from lib.expect import expect_ok, query_after_pass, runstate_after_migration, wait_status
from lib.mig import converge, finish_pair, migrate_again, prepare_pair, start_pair

PAGE = 4096
SIM_ONLY = pytest.mark.sim_only("exact expectations from the sim guest's content model")


def sim_idle(size_mib, seed, init=None):
    spec = f"sim:idle,size={size_mib}M,seed={seed}"
    return spec + (f",init={init}" if init else "")


@SIM_ONLY
@pytest.mark.parametrize("seed,init", [(3, None), (11, None), (7, "zero"), (9, "random"),
                                       (5, "sparse")],
                         ids=["seed3", "seed11", "all-zero", "all-random", "all-sparse"])
def test_idle_guest_sends_predicted_zero_pages(vms, seed, init):
    """A guest that never writes: every page goes exactly once, the zero ones (as the
    content model computes them, independently of migbench) as zero pages."""
    size = 32
    guest = sim_idle(size, seed, init)
    src, dst = start_pair(vms, src_kw={"guest": guest}, dst_kw={"guest": guest})
    finish_pair(src, dst)
    ram = src.qmp.call("query-migrate")["ram"]
    pages = size << 8
    want = simmodel.initial_classes(seed, pages, simmodel.parse_mix(init) if init else None)
    assert ram["duplicate"] == want["zero"], (ram, want)
    assert ram["normal"] == pages - want["zero"], (ram, want)
    assert ram["total"] == size << 20
    # each record is an 8-byte header plus the page (4096) or one fill byte; the rest is
    # one block name and the end-of-section markers of the rounds
    payload = ram["normal"] * (PAGE + 8) + ram["duplicate"] * 9
    assert 0 <= ram["transferred"] - payload <= 1024, (ram["transferred"], payload)


@SIM_ONLY
def test_dirty_pages_rate_matches_the_guest(vms):
    """sim:uniform writes rate/4 KiB pages a second spread over all of RAM: over a 1 s
    period nearly every write dirties a new page."""
    guest = "sim:uniform,size=64M,rate=4M,seed=2"
    # A link fast enough that a dirtied page is soon sent and can be dirtied anew (a page
    # still waiting to be sent is not counted again); pause-before-switchover holds the
    # figures when the migration converges (at completion the rate reads 0).
    src, dst = start_pair(vms, caps={"pause_before_switchover": True},
                          params={"downtime-limit": 1, "max-bandwidth": 32 << 20},
                          src_kw={"guest": guest}, dst_kw={"guest": guest})
    assert wait_status(src.qmp, ("pre-switchover", "failed")) == "pre-switchover"
    info = src.qmp.call("query-migrate")
    rate = info["ram"]["dirty-pages-rate"]
    nominal = (4 << 20) // PAGE
    # the rate is computed at syncs that close a >= 1 s period
    assert info["total-time"] >= 1000, info
    assert 0.8 * nominal <= rate <= nominal, (rate, nominal)
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
    finish_pair(src, dst)


def rate_guest(vms):
    """A guest that dirties memory faster than a 16 MiB/s link can carry."""
    if vms.target.is_migbench and not vms.target.kvm:
        g = "sim:uniform,size=64M,rate=64M,seed=4"
        return {"src_kw": {"guest": g}, "dst_kw": {"guest": g}}
    return {}


@pytest.mark.covers("ram:mbps", "ram:pages-per-second", "ram:transferred")
def test_mbps_and_pages_per_second_agree_with_transferred_over_time(vms):
    """Over whole passes the bytes transferred per ms of total-time, the mbps of each
    100 ms window and pages-per-second tell the same rate, and it is the link's."""
    link = 16 << 20
    src, dst = start_pair(vms, params={"downtime-limit": 1, "max-bandwidth": link},
                          **rate_guest(vms))
    src.qmp.wait_event("MIGRATION_PASS", match={"pass": 2}, timeout=60, keep=True)
    first = src.qmp.call("query-migrate")
    samples = []
    while True:
        info = src.qmp.call("query-migrate")
        assert info["status"] == "active", info
        samples.append(info)
        if info["total-time"] - first["total-time"] >= 3000 and len(samples) >= 8:
            break
        src.qmp.wait_activity(0.2)  # a pass event, or a fifth of a second
    last = samples[-1]
    ms = last["total-time"] - first["total-time"]
    rate = (last["ram"]["transferred"] - first["ram"]["transferred"]) / ms * 1000  # bytes/s
    assert 0.75 * link <= rate <= 1.1 * link, (rate, link)
    # mbps and pages-per-second describe the last closed window (>= 100 ms) before a reply:
    # the replies in the first 250 ms describe windows that began before `first` (on QEMU
    # the one holding the end of the bulk pass, a burst of zero pages at CPU speed), so
    # they are not rates of this interval
    inside = [s for s in samples if s["total-time"] - first["total-time"] >= 250]
    assert len(inside) >= 5, [s["total-time"] for s in samples]
    mbps = [s["ram"]["mbps"] for s in inside]
    mean_mbps = sum(mbps) / len(mbps)
    assert 0.6 * rate <= mean_mbps * 1e6 / 8 <= 1.4 * rate, (mbps, rate)
    pps = sum(s["ram"]["pages-per-second"] for s in inside) / len(inside)
    # pages-per-second counts every page sent, zero pages (duplicate) included: compare it
    # with the pages counted over the same interval, not with the bytes (a TCG firmware
    # guest sends mostly zero pages, which cost almost no bytes)
    pages = (last["ram"]["normal"] - first["ram"]["normal"]
             + last["ram"]["duplicate"] - first["ram"]["duplicate"])
    page_rate = pages / ms * 1000
    assert 0.5 * page_rate <= pps <= 2.0 * page_rate, (pps, page_rate)
    expect_ok(src.qmp.cmd("migrate_cancel"))
    wait_status(src.qmp, "cancelled")


@pytest.mark.covers("info:expected-downtime", "param:downtime-limit")
def test_expected_downtime_starts_as_the_limit(vms):
    """expected-downtime is the downtime limit until a window measures a dirty rate; a
    paused guest dirties nothing, so it stays there."""
    src = vms(paused=True)
    _, dst, uri = prepare_pair(vms, src=src, params={"downtime-limit": 123,
                                                       "max-bandwidth": 40960})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(src.qmp, ("active", "failed")) == "active"
    for _ in range(3):
        info = src.qmp.call("query-migrate")
        assert info["expected-downtime"] == 123, info
        assert info["ram"]["dirty-pages-rate"] == 0
    expect_ok(src.qmp.cmd("migrate_cancel"))
    wait_status(src.qmp, "cancelled")


def test_counters_per_migration(vms, target):
    """5.0 zeroes the RAM counters at each migrate; 4.0 never does (spec §5.2).

    The second migration runs with the guest stopped, so it sends each page exactly once
    (the bulk pass) whatever the guest did before: a reset shows about one guest's worth of
    pages, accumulation at least two.  Comparing against the first migration's figures
    instead would depend on how much the running guest dirtied, which differs from target to
    target (a TCG guest dirties far more than KVM or the sim)."""
    src, dst = start_pair(vms)
    finish_pair(src, dst)
    first = src.qmp.call("query-migrate")["ram"]
    if target.version == "7.2":
        # 6.0+ refuse to migrate from postmigrate; and `cont` still in finish-migrate
        # (the run state moves on after the final MIGRATION event) is refused.
        assert runstate_after_migration(src.qmp) == "postmigrate"
        expect_ok(src.qmp.cmd("cont"))
    expect_ok(src.qmp.cmd("stop"))
    migrate_again(vms, src, "again", converge(vms))
    second = src.qmp.call("query-migrate")["ram"]
    guest_pages = second["total"] // second["page-size"]
    sent = second["normal"] + second["duplicate"]
    if target.v5:
        assert guest_pages <= sent < 1.5 * guest_pages, (first, second)
        assert second["transferred"] >= second["normal"] * second["page-size"], second
    else:
        first_sent = first["normal"] + first["duplicate"]
        assert sent >= first_sent + guest_pages, (first, second)
        assert second["dirty-sync-count"] >= first["dirty-sync-count"] + 2, (first, second)


@pytest.mark.covers("info:xbzrle-cache", "xbzrle:cache-size", "xbzrle:bytes", "xbzrle:pages",
                    "xbzrle:cache-miss", "xbzrle:cache-miss-rate", "xbzrle:overflow",
                    "info:compression", "compression:pages", "compression:busy",
                    "compression:busy-rate", "compression:compressed-size",
                    "compression:compression-rate", "cap:xbzrle", "cap:compress")
@pytest.mark.parametrize("caps", [{"xbzrle": True}, {"compress": True},
                                  {"xbzrle": True, "compress": True}, {}],
                         ids=["xbzrle", "compress", "both", "neither"])
def test_feature_statistics_appear_with_their_capability(vms, caps):
    """xbzrle-cache and compression are in query-migrate exactly while their capability
    is on, with every member of XBZRLECacheStats / CompressionStats."""
    src, dst = start_pair(vms, caps=caps, params={"downtime-limit": 1, "max-bandwidth": 1 << 20,
                                                  "xbzrle-cache-size": 1 << 22})
    assert wait_status(src.qmp, ("active", "failed")) == "active"
    info = src.qmp.call("query-migrate")
    assert ("xbzrle-cache" in info) == bool(caps.get("xbzrle"))
    assert ("compression" in info) == bool(caps.get("compress"))
    if "xbzrle-cache" in info:
        assert info["xbzrle-cache"]["cache-size"] == 1 << 22
        assert set(vms.target.qapi.member_names("XBZRLECacheStats")) <= set(info["xbzrle-cache"])
    if "compression" in info:
        assert set(vms.target.qapi.member_names("CompressionStats")) <= set(info["compression"])
    expect_ok(src.qmp.cmd("migrate_cancel"))
    wait_status(src.qmp, "cancelled")


@pytest.mark.covers("info:cpu-throttle-percentage", "cap:auto-converge",
                    "param:cpu-throttle-initial", "param:cpu-throttle-increment",
                    "param:max-cpu-throttle")
def test_throttle_starts_at_the_initial_value(vms):
    """QEMU's /migration/auto_converge: the first throttle reported is cpu-throttle-initial;
    it never exceeds max-cpu-throttle; it is shown only while non-zero."""
    params = {"downtime-limit": 1, "max-bandwidth": 16 << 20, "cpu-throttle-initial": 5,
              "cpu-throttle-increment": 50, "max-cpu-throttle": 95}
    src, dst = start_pair(vms, caps={"auto_converge": True}, params=params, **rate_guest(vms))
    seen = []
    for p in range(2, 40):
        src.qmp.wait_event("MIGRATION_PASS", match={"pass": p}, timeout=60)
        info = query_after_pass(src.qmp, p)
        if "cpu-throttle-percentage" in info:
            seen.append(info["cpu-throttle-percentage"])
            if len(seen) >= 2 and seen[-1] > seen[0]:
                break
    assert seen and seen[0] == 5, seen
    assert all(5 <= t <= 95 for t in seen), seen
    expect_ok(src.qmp.cmd("migrate_cancel"))
    wait_status(src.qmp, "cancelled")
    assert "cpu-throttle-percentage" not in src.qmp.call("query-migrate")
