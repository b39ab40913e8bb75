"""A whole migration over each transport: events, run states, statistics, verification."""
import os
import socket

import pytest

from lib.expect import expect_error, expect_ok, set_caps, wait_status
from lib.invariants import StatsWatcher, check_completed, check_info_shape
from lib.mig import prepare_pair, start_pair
from lib.statemachine import check_sequence, statuses


@pytest.mark.covers("command:query-migrate")
def test_query_migrate_before_anything(vm):
    assert vm.qmp.call("query-migrate") == {}


def run_to_completion(src, dst, request):
    """Waits for both sides to finish, sampling stats; checks events and invariants."""
    watcher = StatsWatcher()
    st = wait_status(src.qmp, ("completed", "failed"))
    info = watcher.add(src.qmp.call("query-migrate"))
    assert st == "completed", info
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed", \
        dst.qmp.call("query-migrate")
    src_events = src.qmp.drain_events()
    dst_events = dst.qmp.drain_events()
    check_sequence(statuses(src_events), "source", test=request.node.nodeid)
    check_sequence(statuses(dst_events), "destination", test=request.node.nodeid)
    check_completed(info, src_events)
    return info, src_events, dst_events


@pytest.mark.covers("command:migrate", "command:migrate-incoming", "event:MIGRATION",
                    "event:MIGRATION_PASS", "status:setup", "status:active", "status:completed",
                    "cap:events")
@pytest.mark.parametrize("transport", ["unix", "tcp", "exec"])
def test_migration_completes(vms, request, transport):
    src, dst = start_pair(vms, transport=transport)
    info, sev, dev = run_to_completion(src, dst, request)
    # source event order: setup, pass 1, active, ..., STOP, last pass, completed
    names = [(e["event"], e.get("data", {}).get("status", e.get("data", {}).get("pass")))
             for e in sev if e["event"] in ("MIGRATION", "MIGRATION_PASS", "STOP")]
    assert names[:3] == [("MIGRATION", "setup"), ("MIGRATION_PASS", 1), ("MIGRATION", "active")]
    assert names[-1] == ("MIGRATION", "completed")
    assert names[-2][0] == "MIGRATION_PASS"
    stop_at = names.index(("STOP", None))
    assert stop_at < len(names) - 2
    # destination: setup (listening started; always emitted), active, RESUME, completed
    dnames = [(e["event"], e.get("data", {}).get("status")) for e in dev
              if e["event"] in ("MIGRATION", "RESUME")]
    assert dnames == [("MIGRATION", "setup"), ("MIGRATION", "active"), ("RESUME", None),
                      ("MIGRATION", "completed")]
    assert src.qmp.call("query-status")["status"] == "postmigrate"
    st = dst.qmp.call("query-status")
    assert st["status"] == "running" and st["running"] is True


def test_tcp_port0_reports_real_port(vms):
    src, dst, uri = prepare_pair(vms, transport="tcp")
    sa = dst.qmp.call("query-migrate")["socket-address"]
    assert sa[0]["type"] == "inet" and sa[0]["host"] == "127.0.0.1" and sa[0]["port"] != "0"
    assert uri.endswith(":" + sa[0]["port"])


def test_ipv6(vms, request):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    src, dst = start_pair(vms, transport="tcp6")
    run_to_completion(src, dst, request)


@pytest.mark.covers("command:getfd", "command:closefd")
def test_fd_transport(vms, request):
    """QEMU's /migration/fd_proto: a socketpair passed with getfd on both sides."""
    dst = vms(incoming="defer")
    src = vms()
    for vm in (src, dst):
        set_caps(vm.qmp, events=True)
    a, b = socket.socketpair()
    try:
        expect_ok(dst.qmp.cmd("getfd", {"fdname": "fd-mig"}, send_fd=a.fileno()))
        expect_ok(dst.qmp.cmd("migrate-incoming", {"uri": "fd:fd-mig"}))
        expect_ok(src.qmp.cmd("getfd", {"fdname": "fd-mig"}, send_fd=b.fileno()))
        expect_ok(src.qmp.cmd("migrate", {"uri": "fd:fd-mig"}))
    finally:
        a.close()
        b.close()
    run_to_completion(src, dst, request)
    # migration consumed the fd on both sides
    for vm in (src, dst):
        expect_error(vm.qmp.cmd("closefd", {"fdname": "fd-mig"}),
                     "File descriptor named 'fd-mig' not found")


def test_stats_while_active(vms):
    src, dst = start_pair(vms, params={"downtime-limit": 1, "max-bandwidth": 4 << 20})
    watcher = StatsWatcher()
    for _ in range(20):
        info = watcher.add(src.qmp.call("query-migrate"))
        if info.get("status") == "active":
            assert set(info["ram"]) >= {"transferred", "remaining", "total", "duplicate",
                                        "skipped", "normal", "normal-bytes", "dirty-pages-rate",
                                        "mbps", "dirty-sync-count", "postcopy-requests",
                                        "page-size", "multifd-bytes", "pages-per-second"}
    src.qmp.call("migrate_cancel")
    assert wait_status(src.qmp, "cancelled") == "cancelled"


@pytest.mark.migbench_only("determinism of the simulated guest")
def test_sim_runs_are_identical(vms):
    """Two migrations of the same sim guest give the same figures (guest time only)."""
    results = []
    for _ in range(2):
        src, dst = start_pair(vms)
        wait_status(src.qmp, "completed")
        wait_status(dst.qmp, "completed")
        info = src.qmp.call("query-migrate")
        results.append((info["total-time"], info["downtime"], info["ram"]))
        src.qmp.call("quit")
        dst.qmp.call("quit")
    assert results[0] == results[1]
