"""A whole migration over each transport: events, run states, statistics, verification.

Every reply and event here also goes through the recorder (state machine, query-migrate
shape, statistics invariants at completion)."""
import socket

import pytest

from lib.expect import expect_error, expect_ok, runstate_after_migration, set_caps, \
    wait_status
from lib.mig import finish_pair, prepare_pair, start_pair


@pytest.mark.covers("command:query-migrate")
def test_query_migrate_before_anything(vm):
    assert vm.qmp.call("query-migrate") == {}


def event_names(events, names=("MIGRATION", "MIGRATION_PASS", "STOP", "RESUME")):
    out = []
    for e in events:
        if e["event"] in names:
            d = e.get("data") or {}
            out.append((e["event"], d.get("status", d.get("pass"))))
    return out


@pytest.mark.covers("command:migrate", "arg:migrate.uri", "command:migrate-incoming",
                    "arg:migrate-incoming.uri", "event:MIGRATION", "data:MIGRATION.status",
                    "event:MIGRATION_PASS", "data:MIGRATION_PASS.pass", "status:setup",
                    "status:active", "status:completed", "cap:events", "info:status",
                    "info:downtime", "event:STOP", "event:RESUME")
@pytest.mark.parametrize("transport", ["unix", "tcp", "exec"])
def test_migration_completes(vms, transport):
    src, dst = start_pair(vms, transport=transport)
    finish_pair(src, dst)
    sev, dev = src.qmp.drain_events(), dst.qmp.drain_events()
    # source event order: setup, pass 1, active, ..., STOP, last pass, completed
    names = event_names(sev, ("MIGRATION", "MIGRATION_PASS", "STOP"))
    assert names[:3] == [("MIGRATION", "setup"), ("MIGRATION_PASS", 1), ("MIGRATION", "active")]
    assert names[-1] == ("MIGRATION", "completed")
    assert names[-2][0] == "MIGRATION_PASS"
    stop_at = names.index(("STOP", None))
    assert stop_at < len(names) - 2
    # destination: setup (listening started; always emitted), active, RESUME, completed
    assert event_names(dev, ("MIGRATION", "RESUME")) == [
        ("MIGRATION", "setup"), ("MIGRATION", "active"), ("RESUME", None),
        ("MIGRATION", "completed")]
    assert runstate_after_migration(src.qmp) == "postmigrate"
    st = dst.qmp.call("query-status")
    assert st["status"] == "running" and st["running"] is True


@pytest.mark.covers("info:socket-address")
def test_tcp_port0_reports_real_port(vms):
    src, dst, uri = prepare_pair(vms, transport="tcp")
    sa = dst.qmp.call("query-migrate")["socket-address"]
    assert sa[0]["type"] == "inet" and sa[0]["host"] == "127.0.0.1" and sa[0]["port"] != "0"
    assert uri.endswith(":" + sa[0]["port"])


def test_ipv6(vms):
    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    src, dst = start_pair(vms, transport="tcp6")
    finish_pair(src, dst)


@pytest.mark.covers("command:getfd", "command:closefd")
def test_fd_transport(vms):
    """QEMU's /migration/fd_proto: a socketpair passed with getfd on both sides."""
    dst = vms(incoming="defer")
    src = vms()
    for vm in (src, dst):
        set_caps(vm.qmp, events=True)
    if vms.target.converge:
        src.qmp.call("migrate-set-parameters", vms.target.converge)
    a, b = socket.socketpair()
    try:
        expect_ok(dst.qmp.cmd("getfd", {"fdname": "fd-mig"}, send_fd=a.fileno()))
        expect_ok(dst.qmp.cmd("migrate-incoming", {"uri": "fd:fd-mig"}))
        expect_ok(src.qmp.cmd("getfd", {"fdname": "fd-mig"}, send_fd=b.fileno()))
        expect_ok(src.qmp.cmd("migrate", {"uri": "fd:fd-mig"}))
    finally:
        a.close()
        b.close()
    finish_pair(src, dst)
    # migration consumed the fd on both sides
    for vm in (src, dst):
        expect_error(vm.qmp.cmd("closefd", {"fdname": "fd-mig"}),
                     "File descriptor named 'fd-mig' not found")


@pytest.mark.covers("ram:transferred", "ram:remaining", "ram:total", "ram:duplicate",
                    "ram:skipped", "ram:normal", "ram:normal-bytes", "ram:dirty-pages-rate",
                    "ram:mbps", "ram:dirty-sync-count", "ram:postcopy-requests",
                    "ram:page-size", "ram:multifd-bytes", "ram:pages-per-second", "info:ram",
                    "info:setup-time", "info:total-time", "info:expected-downtime")
def test_stats_while_active(vms):
    src, dst = start_pair(vms, params={"downtime-limit": 1, "max-bandwidth": 4 << 20})
    wait_status(src.qmp, "active")
    seen = []
    for _ in range(20):
        info = src.qmp.call("query-migrate")
        if info.get("status") == "active":
            seen.append(info)
            assert set(info["ram"]) >= {"transferred", "remaining", "total", "duplicate",
                                        "skipped", "normal", "normal-bytes", "dirty-pages-rate",
                                        "mbps", "dirty-sync-count", "postcopy-requests",
                                        "page-size", "multifd-bytes", "pages-per-second"}
            assert info["ram"]["multifd-bytes"] == 0, "no multifd: nothing on its channels"
    assert seen, "never saw the migration active"
    src.qmp.call("migrate_cancel")
    assert wait_status(src.qmp, "cancelled") == "cancelled"


@pytest.mark.sim_only("determinism of the simulated guest")
def test_sim_runs_are_identical(vms):
    """Two migrations of the same sim guest give the same figures (guest time only)."""
    results = []
    for k in range(2):
        src, dst = start_pair(vms, name=f"run{k}")
        finish_pair(src, dst)
        info = src.qmp.call("query-migrate")
        results.append((info["total-time"], info["downtime"], info["ram"]))
        src.qmp.call("quit")
        dst.qmp.call("quit")
    assert results[0] == results[1]
