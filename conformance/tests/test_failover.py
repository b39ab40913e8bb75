"""virtio-net failover (QEMU 4.2+/5.0): a guest with a failover pair must unplug its primary
device before the migration.  The source asks for the unplug (UNPLUG_PRIMARY), waits in
'wait-unplug', polling every 250 ms, until the guest has done it, and plugs the primary
back if the migration fails or is cancelled; the destination plugs it after completion.
The sim guest carries the pair with failover=ID and takes unplug-delay of guest time to
unplug.  The 4.0-dev schema predates all of it."""
import pytest

from lib.expect import expect_ok, poll_until, runstate_after_migration, wait_status
from lib.mig import start_pair
from lib.statemachine import statuses

GUEST = "sim:uniform,size=64M,rate=4M,seed=1,failover=net0"

pytestmark = [pytest.mark.feature("failover"),
              pytest.mark.sim_only("the failover pair is an option of the simulated guest")]


def pair(vms, delay, src_extra=()):
    return start_pair(vms, src_kw={"guest": f"{GUEST},unplug-delay={delay}",
                                   "extra": list(src_extra)},
                      dst_kw={"guest": GUEST})


@pytest.mark.schemas("5.0", reason="wait-unplug and UNPLUG_PRIMARY arrived with QEMU 4.2")
@pytest.mark.covers("status:wait-unplug", "event:UNPLUG_PRIMARY", "data:UNPLUG_PRIMARY.device-id")
def test_wait_unplug_then_active_and_replug_on_destination(vms):
    src, dst = pair(vms, "600ms")
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"
    evs = src.qmp.drain_events()
    names = [e["event"] if e["event"] != "MIGRATION" else e["data"]["status"] for e in evs]
    unplug = [e for e in evs if e["event"] == "UNPLUG_PRIMARY"]
    assert [e["data"] for e in unplug] == [{"device-id": "net0"}], evs
    # the unplug is requested in setup, before the wait; then active, as 5.0 does
    assert names.index("UNPLUG_PRIMARY") < names.index("wait-unplug")
    st = statuses(evs)
    assert st[:3] == ["setup", "wait-unplug", "active"] and st[-1] == "completed", st
    # setup-time includes the wait: the guest took 600 ms, seen at the next 250 ms poll
    setup = src.qmp.call("query-migrate")["setup-time"]
    assert 600 <= setup < 600 + 250 + 100, setup
    # the destination plugs the primary once the guest runs there; the source does not
    want = "primary 'net0' plugged (migration completed)"
    assert want in poll_until(dst.output, lambda out: want in out)
    assert "plugged" not in src.output()


@pytest.mark.schemas("5.0", reason="wait-unplug and UNPLUG_PRIMARY arrived with QEMU 4.2")
@pytest.mark.covers("status:wait-unplug", "status:cancelling", "status:cancelled",
                    "event:UNPLUG_PRIMARY")
def test_cancel_in_wait_unplug_replugs_the_primary(vms):
    # paced guest time and an unplug that takes an hour: the source stays in wait-unplug
    src, dst = pair(vms, "3600s", src_extra=("--pace", "1"))
    assert wait_status(src.qmp, ("wait-unplug", "failed")) == "wait-unplug"
    assert src.qmp.call("query-migrate") == {"status": "wait-unplug"}
    src.qmp.wait_event("UNPLUG_PRIMARY", match={"device-id": "net0"})
    src.qmp.drain_events()
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, "cancelled") == "cancelled"
    assert statuses(src.qmp.drain_events("MIGRATION")) == ["cancelling", "cancelled"]
    assert src.qmp.call("query-status")["status"] == "running"
    # virtio-net plugs it back from the cleanup that follows 'cancelled'
    want = "primary 'net0' plugged (cancelled)"
    assert want in poll_until(src.output, lambda out: want in out)
    assert "plugged" not in dst.output()


@pytest.mark.schemas("4.0-dev", reason="the 4.0-dev schema has no wait-unplug state")
def test_no_wait_unplug_before_4_2(vms):
    src, dst = pair(vms, "600ms")
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    evs = src.qmp.drain_events()
    assert not [e for e in evs if e["event"] == "UNPLUG_PRIMARY"], evs
    st = statuses(evs)
    assert st[:2] == ["setup", "active"] and st[-1] == "completed", st
    assert runstate_after_migration(src.qmp) == "postmigrate"
