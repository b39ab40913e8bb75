"""Transitions of the migration state machine, each driven on purpose with an exact trigger.

The recorder checks every event sequence of every test against the model
(lib/statemachine.py) and records the edges each test took; these tests make sure every
edge of the precopy graph is taken at least once (test_zz_completeness checks that)."""
import pytest

from lib.expect import FINAL, expect_error, expect_ok, runstate_after_migration, set_caps, \
    wait_status
from lib.mig import converge, finish_pair, migrate_again, prepare_pair, start_pair
from lib.peers import DrainingDestination, FullListener
from lib.statemachine import statuses

# Switch over after the first 100 ms window, with nearly all RAM still to send: 1 MiB/s lets
# ~100 KiB out in that window, and QEMU's maximum downtime limit times the bandwidth
# measured in it dwarfs any guest here.
SWITCH_AT_ONCE = {"downtime-limit": 2000000, "max-bandwidth": 1 << 20}


def migration_statuses(vm):
    """The MIGRATION statuses so far, once the event of the current final state is in:
    the state is published a moment before its event goes out (QEMU's migrate_set_state
    too), so a query can report 'cancelled' before the event has arrived."""
    st = vm.qmp.call("query-migrate").get("status")
    if st in FINAL:
        vm.qmp.wait_event("MIGRATION", match={"status": st}, timeout=30, keep=True)
    return statuses(vm.qmp.drain_events("MIGRATION"))


@pytest.mark.covers("status:setup", "status:cancelling", "status:cancelled")
def test_cancel_in_setup_and_cancel_while_cancelling(vms, target):
    """A source whose connect blocks stays in setup; cancel moves it to cancelling, and a
    second cancel while still cancelling emits a second 'cancelling' in 5.0 (it is a
    "running" state there) and nothing in 4.0 (not "setup_or_active")."""
    src = vms()
    set_caps(src.qmp, events=True)
    peer = FullListener(vms.path("full.sock"))
    try:
        expect_ok(src.qmp.cmd("migrate", {"uri": peer.uri}))
        assert src.qmp.call("query-migrate") == {"status": "setup"}
        expect_ok(src.qmp.cmd("migrate_cancel"))
        assert src.qmp.call("query-migrate")["status"] == "cancelling"
        expect_ok(src.qmp.cmd("migrate_cancel"))
        assert src.qmp.call("query-migrate")["status"] == "cancelling"
    finally:
        peer.release()
    assert wait_status(src.qmp, ("cancelled", "failed", "completed")) == "cancelled"
    want = ["setup", "cancelling", "cancelling", "cancelled"] if target.v5 else \
        ["setup", "cancelling", "cancelled"]
    assert migration_statuses(src) == want
    assert src.qmp.call("query-status")["status"] == "running"


def test_migrate_again_after_completion(vms, target):
    """completed -> setup: a source that completed can migrate again.  4.0/5.0 migrate
    straight from postmigrate; QEMU 6.0 and later refuse until the VM is continued."""
    src, dst = start_pair(vms)
    finish_pair(src, dst)
    assert runstate_after_migration(src.qmp) == "postmigrate"
    if target.version == "7.2":
        expect_error(src.qmp.cmd("migrate", {"uri": "unix:/nonexistent"}),
                     "Can't migrate the vm that was paused due to previous migration")
        expect_ok(src.qmp.cmd("cont"))
    migrate_again(vms, src, "second")
    assert migration_statuses(src)[-1] == "completed"


def test_migrate_again_after_failure(vms):
    """failed -> setup: after a refused connection the source migrates normally."""
    src = vms()
    set_caps(src.qmp, events=True)
    expect_ok(src.qmp.cmd("migrate", {"uri": f"unix:{vms.path('nobody.sock')}"}))
    assert wait_status(src.qmp, ("failed", "completed")) == "failed"
    migrate_again(vms, src, "retry")
    st = migration_statuses(src)
    assert st[:2] == ["setup", "failed"] and st[2] == "setup" and st[-1] == "completed"


@pytest.mark.covers("status:device", "status:pre-switchover")
def test_device_state_write_fails(vms):
    """device -> failed: the destination goes away while the source waits in
    pre-switchover; after migrate-continue the final writes fail."""
    src = vms()
    set_caps(src.qmp, events=True, pause_before_switchover=True)
    src.qmp.call("migrate-set-parameters", SWITCH_AT_ONCE)
    peer = DrainingDestination(vms.path("drain.sock"))
    try:
        expect_ok(src.qmp.cmd("migrate", {"uri": peer.uri}))
        peer.wait_connected()
        assert wait_status(src.qmp, ("pre-switchover", "failed")) == "pre-switchover"
        peer.close()
        expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
        assert wait_status(src.qmp, ("failed", "completed")) == "failed"
    finally:
        peer.close()
    assert migration_statuses(src)[-3:] == ["pre-switchover", "device", "failed"]
    # the VM that was stopped for the switchover runs again (after the state changed)
    src.qmp.wait_event("RESUME", timeout=30)
    assert src.qmp.call("query-status")["status"] == "running"


@pytest.mark.migbench_only("QEMU writes the device state holding its big lock, so no QMP "
                           "command is served while a migration is in 'device'")
def test_cancel_in_device(vms):
    """device -> cancelling: the source is blocked writing its final pass to a destination
    that stopped reading; cancel interrupts it."""
    src = vms()
    set_caps(src.qmp, events=True, pause_before_switchover=True)
    src.qmp.call("migrate-set-parameters", SWITCH_AT_ONCE)
    peer = DrainingDestination(vms.path("drain.sock"))
    try:
        expect_ok(src.qmp.cmd("migrate", {"uri": peer.uri}))
        peer.wait_connected()
        assert wait_status(src.qmp, ("pre-switchover", "failed")) == "pre-switchover"
        peer.stop_reading()
        expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
        src.qmp.wait_event("MIGRATION", match={"status": "device"}, timeout=30, keep=True)
        expect_ok(src.qmp.cmd("migrate_cancel"))
        assert wait_status(src.qmp, ("cancelled", "failed", "completed")) == "cancelled"
    finally:
        peer.close()
    assert migration_statuses(src)[-4:] == ["pre-switchover", "device", "cancelling",
                                            "cancelled"]
    src.qmp.wait_event("RESUME", timeout=30)
    assert src.qmp.call("query-status")["status"] == "running"


def test_destination_states(vms):
    """The destination never shows 'setup' (only its listening event): none until the
    connection, then active, then completed."""
    src, dst, uri = prepare_pair(vms)
    assert dst.qmp.call("query-migrate").get("status") is None
    src.qmp.call("migrate", {"uri": uri})
    finish_pair(src, dst)
    assert migration_statuses(dst) == ["setup", "active", "completed"]
    assert dst.qmp.call("query-migrate")["status"] == "completed"


def test_no_events_without_the_capability(vms):
    """MIGRATION and MIGRATION_PASS need the events capability on that side; the
    destination's listening 'setup' event is the one exception."""
    dst = vms(incoming="defer")
    src = vms()
    if vms.target.converge:
        src.qmp.call("migrate-set-parameters", vms.target.converge)
    dst.qmp.call("migrate-incoming", {"uri": f"unix:{vms.path('quiet.sock')}"})
    src.qmp.call("migrate", {"uri": f"unix:{vms.path('quiet.sock')}"})
    # no events to wait on: poll both sides' state (bounded by the helper's deadline)
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"
    assert src.qmp.drain_events("MIGRATION") == []
    assert src.qmp.drain_events("MIGRATION_PASS") == []
    assert [e["data"] for e in dst.qmp.drain_events("MIGRATION")] == [{"status": "setup"}]
