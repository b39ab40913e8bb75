"""Postcopy: the switch to postcopy, its completion, and postcopy recovery (QEMU's
/migration/postcopy/unix and /migration/postcopy/recovery recipes).

migbench runs postcopy on its sim guest; postcopy recovery is not built yet
(lib/features.py), so the recovery test is skipped there with that reason and runs against
real QEMU.  The KVM guest cannot be a postcopy destination yet."""
import pytest

from lib.expect import expect_error, expect_ok, set_caps, wait_status
from lib.mig import finish_pair, prepare_pair
from lib.statemachine import statuses

pytestmark = pytest.mark.feature("postcopy")

# Precopy cannot converge (1 ms), so the migration stays in precopy until the switch.
PRECOPY = {"downtime-limit": 1, "max-bandwidth": 100 << 20}


# migbench: a sim guest that dirties faster than PRECOPY's link, so precopy can never
# converge before the switch whenever the request arrives (the target's guest converges
# in a few passes at 100 MiB/s, in milliseconds of wall time).
NEVER_CONVERGES = "sim:uniform,size=64M,rate=512M,seed=1"
# Tests that act while postcopy runs: a paced source, a postcopy slow enough to act on, and
# a guest that dirties less, so that what the destination's model charges its vCPUs (every
# page request stalls one for the link's queue, in guest time) stays cheap to replay once
# the rate goes back to 0 (still never converging at a 1 ms downtime limit).
PACED_NEVER_CONVERGES = "sim:uniform,size=64M,rate=8M,seed=1"
SIM_SLOW_POSTCOPY = 1 << 20


def start_postcopy(vms, src_params=None, caps=None, dst_caps=None, paced=False):
    """`paced`: the test acts while postcopy runs; a sim source then runs at wall-clock pace
    (--pace 1), as a real guest would, or its postcopy phase ends before the test acts."""
    src_kw = dst_kw = None
    if vms.target.is_migbench:
        guest = PACED_NEVER_CONVERGES if paced else NEVER_CONVERGES
        src_kw, dst_kw = {"guest": guest}, {"guest": guest}
        if paced:
            src_kw["extra"] = ["--pace", "1"]
        # A sim destination models the link at the postcopy rate (docs/features.md): at
        # QEMU's 4096 B/s every page request stalls a vCPU for seconds of guest time, which
        # the destination has to replay once the rate is back to 0, longer the longer the
        # test took.  At 1 MiB/s a paced postcopy still lasts a minute, longer than any
        # test acts on it.
        if (src_params or {}).get("max-postcopy-bandwidth") == 4096:
            src_params = dict(src_params, **{"max-postcopy-bandwidth": SIM_SLOW_POSTCOPY})
    src, dst, uri = prepare_pair(vms, caps=dict(postcopy_ram=True, **(caps or {})),
                                 params=dict(PRECOPY, **(src_params or {})), src_kw=src_kw,
                                 dst_kw=dst_kw)
    if dst_caps:
        set_caps(dst.qmp, **dst_caps)
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    # one whole pass in precopy first, as QEMU's test does
    src.qmp.wait_event("MIGRATION_PASS", match={"pass": 2}, timeout=60, keep=True)
    return src, dst


@pytest.mark.covers("cap:postcopy-ram", "command:migrate-start-postcopy",
                    "status:postcopy-active", "cap:postcopy-blocktime",
                    "info:postcopy-blocktime", "info:postcopy-vcpu-blocktime")
def test_postcopy_completes(vms):
    src, dst = start_postcopy(vms, dst_caps={"postcopy_blocktime": True})
    expect_ok(src.qmp.cmd("migrate-start-postcopy"))
    finish_pair(src, dst)
    names = [(e["event"], (e.get("data") or {}).get("status")) for e in src.qmp.drain_events()
             if e["event"] in ("MIGRATION", "STOP")]
    # postcopy-active goes out before the VM stops
    assert names[-3:] == [("MIGRATION", "postcopy-active"), ("STOP", None),
                          ("MIGRATION", "completed")]
    assert statuses(dst.qmp.drain_events("MIGRATION")) == [
        "setup", "active", "postcopy-active", "completed"]
    info = dst.qmp.call("query-migrate")
    assert info["status"] == "completed"
    # with postcopy-blocktime the destination reports the time its vCPUs waited for pages
    assert isinstance(info["postcopy-blocktime"], int)
    assert isinstance(info["postcopy-vcpu-blocktime"], list) and info["postcopy-vcpu-blocktime"]
    assert dst.qmp.call("query-status")["status"] == "running"


def switch_to_postcopy(src, dst):
    """Starts postcopy and waits until the destination runs the guest: the package
    (device state, LISTEN, RUN) has been sent.  Breaking the stream before that fails
    the whole migration instead of pausing it."""
    expect_ok(src.qmp.cmd("migrate-start-postcopy"))
    assert wait_status(src.qmp, ("postcopy-active", "completed", "failed")) == "postcopy-active"
    dst.qmp.wait_event("RESUME", timeout=60, keep=True)


def test_start_postcopy_after_the_end_succeeds(vms):
    """It only sets a flag: after the migration finished it still succeeds."""
    src, dst = start_postcopy(vms)
    expect_ok(src.qmp.cmd("migrate-start-postcopy"))
    finish_pair(src, dst)
    expect_ok(src.qmp.cmd("migrate-start-postcopy"))


def test_postcopy_after_pause_before_switchover(vms):
    """With pause-before-switchover the path is active -> pre-switchover ->
    postcopy-active."""
    src, dst = start_postcopy(vms, caps={"pause_before_switchover": True})
    expect_ok(src.qmp.cmd("migrate-start-postcopy"))
    assert wait_status(src.qmp, ("pre-switchover", "failed")) == "pre-switchover"
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
    finish_pair(src, dst)
    st = statuses(src.qmp.drain_events("MIGRATION"))
    assert st[-3:] == ["pre-switchover", "postcopy-active", "completed"]


@pytest.mark.feature("postcopy-recovery")
@pytest.mark.covers("command:migrate-pause", "command:migrate-recover", "arg:migrate-recover.uri",
                    "arg:migrate.resume", "status:postcopy-paused", "status:postcopy-recover",
                    "param:max-postcopy-bandwidth")
def test_postcopy_recovery(vms, target):
    """migrate-pause breaks the stream; both sides wait in postcopy-paused; migrate-recover
    on the destination and migrate resume=true on the source bring them back."""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True)
    switch_to_postcopy(src, dst)
    expect_ok(src.qmp.cmd("migrate-pause"))
    assert wait_status(dst.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    assert wait_status(src.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    if target.version != "7.2":  # (7.2 accepts a second pause and does nothing)
        expect_error(src.qmp.cmd("migrate-pause"),
                     "migrate-pause is currently only supported during postcopy-active state")
    uri = f"unix:{vms.path('recover.sock')}"
    expect_ok(dst.qmp.cmd("migrate-recover", {"uri": uri}))
    if target.version != "7.2":  # (7.2 accepts a second call before the connection)
        expect_error(dst.qmp.cmd("migrate-recover", {"uri": uri}),
                     "Migrate recovery is triggered already")
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "resume": True}))
    assert wait_status(src.qmp, ("postcopy-active", "completed", "failed")) in (
        "postcopy-active", "completed")
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0}))
    finish_pair(src, dst)
    assert statuses(src.qmp.drain_events("MIGRATION"))[-5:] == [
        "postcopy-active", "postcopy-paused", "postcopy-recover", "postcopy-active",
        "completed"]
    assert statuses(dst.qmp.drain_events("MIGRATION"))[-6:] == [
        "postcopy-active", "postcopy-paused", "setup", "postcopy-recover", "postcopy-active",
        "completed"]


def test_cancel_in_postcopy(vms):
    """Cancel is allowed in postcopy (the guest then lives nowhere whole): the source goes
    postcopy-active -> cancelling -> cancelled; the destination, whose stream broke while
    running, pauses."""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True)
    switch_to_postcopy(src, dst)
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, ("cancelled", "failed", "completed")) == "cancelled"
    assert statuses(src.qmp.drain_events("MIGRATION"))[-3:] == [
        "postcopy-active", "cancelling", "cancelled"]
    assert wait_status(dst.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    for vm in (src, dst):  # neither half of the guest can go on: end them
        vm.proc.kill()


@pytest.mark.covers("command:migrate-pause", "status:postcopy-paused")
def test_cancel_in_postcopy_paused(vms):
    """postcopy-paused -> cancelling.  (QEMU's paused migration thread waits for a
    recovery that never comes, so it stays in cancelling: the test ends it.)"""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True)
    switch_to_postcopy(src, dst)
    expect_ok(src.qmp.cmd("migrate-pause"))
    assert wait_status(src.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, ("cancelling", "cancelled", "failed")) in (
        "cancelling", "cancelled")
    st = statuses(src.qmp.drain_events("MIGRATION"))
    # ... or, as seen with QEMU 7.2 on a loaded machine, its thread ends the cancel first
    if st[-1] == "cancelled":
        st = st[:-1]
    assert st[-2:] == ["postcopy-paused", "cancelling"], st
    for vm in (src, dst):
        vm.proc.kill()
