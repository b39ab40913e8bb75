"""query-migrate, state by state: exactly the members QEMU presents in each (spec §5.1).

(The recorder checks the shape of every reply of every test; these tests walk a source and
a destination through the states on purpose and spell each member set out.)"""
import pytest

from lib.expect import expect_ok, set_caps, wait_status
from lib.mig import converge, finish_pair, never_converge, prepare_pair
from lib.peers import FullListener

DETAILED = {"status", "setup-time", "total-time", "expected-downtime", "ram"}
FINAL = {"status", "setup-time", "total-time", "downtime", "ram"}


def keys(info):
    return set(info)


@pytest.mark.covers("status:setup", "status:cancelling", "status:cancelled")
def test_source_setup_cancelling_cancelled(vms):
    src = vms()
    set_caps(src.qmp, events=True)
    peer = FullListener(vms.path("full.sock"))
    try:
        expect_ok(src.qmp.cmd("migrate", {"uri": peer.uri}))
        assert src.qmp.call("query-migrate") == {"status": "setup"}
        expect_ok(src.qmp.cmd("migrate_cancel"))
        info = src.qmp.call("query-migrate")
        assert info["status"] == "cancelling" and keys(info) == DETAILED, info
    finally:
        peer.release()
    assert wait_status(src.qmp, ("cancelled", "failed")) == "cancelled"
    assert src.qmp.call("query-migrate") == {"status": "cancelled"}


@pytest.mark.covers("status:active", "status:pre-switchover", "status:device",
                    "status:completed", "info:downtime", "info:expected-downtime")
def test_source_active_preswitchover_completed(vms):
    src, dst, uri = prepare_pair(vms, caps={"pause_before_switchover": True},
                                 params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(src.qmp, ("active", "failed")) == "active"
    info = src.qmp.call("query-migrate")
    assert keys(info) == DETAILED, info
    assert set(info["ram"]) >= set(vms.target.qapi.member_names("MigrationStats"))
    src.qmp.call("migrate-set-parameters", converge(vms))
    assert wait_status(src.qmp, ("pre-switchover", "failed")) == "pre-switchover"
    info = src.qmp.call("query-migrate")
    assert info["status"] == "pre-switchover" and keys(info) == DETAILED, info
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
    finish_pair(src, dst)
    info = src.qmp.call("query-migrate")
    assert keys(info) == FINAL, info
    assert info["ram"]["remaining"] == 0 and info["ram"]["dirty-pages-rate"] == 0


@pytest.mark.covers("status:failed", "info:error-desc")
def test_source_failed(vms):
    src = vms()
    set_caps(src.qmp, events=True)
    expect_ok(src.qmp.cmd("migrate", {"uri": f"unix:{vms.path('nobody.sock')}"}))
    assert wait_status(src.qmp, ("failed", "completed")) == "failed"
    info = src.qmp.call("query-migrate")
    assert keys(info) == {"status", "error-desc"}, info


@pytest.mark.covers("info:socket-address")
@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_destination_states(vms, transport):
    """Listening: only socket-address (the state is still none); connected: active;
    finished: completed, the listener gone."""
    src, dst, uri = prepare_pair(vms, transport=transport, params=never_converge(vms))
    info = dst.qmp.call("query-migrate")
    assert keys(info) == {"socket-address"}, info
    sa = info["socket-address"]
    assert len(sa) == 1 and sa[0]["type"] == ("unix" if transport == "unix" else "inet")
    if transport == "unix":
        assert sa[0]["path"] == uri[len("unix:"):]
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(dst.qmp, ("active", "failed")) == "active"
    info = dst.qmp.call("query-migrate")
    assert info["status"] == "active" and keys(info) <= {"status", "socket-address"}, info
    src.qmp.call("migrate-set-parameters", converge(vms))
    finish_pair(src, dst)
    info = dst.qmp.call("query-migrate")
    assert info == {"status": "completed"}
