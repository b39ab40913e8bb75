"""Postcopy recovery beyond QEMU's own recipe (test_postcopy.py): migrate-recover and
migrate resume=true refused in every other state, release-ram, a second break during the
recovery, recovery after an XBZRLE precopy phase, and (migbench) a scenario that breaks and
recovers a `migbench run` at exact points, with the same result every time."""
import json
import subprocess

import pytest

from lib.expect import expect_error, expect_ok, wait_status
from lib.mig import finish_pair, prepare_pair
from lib.statemachine import statuses
from test_postcopy import (PACED_NEVER_CONVERGES, SIM_SLOW_POSTCOPY, start_postcopy,
                          switch_to_postcopy)

pytestmark = [pytest.mark.feature("postcopy"), pytest.mark.feature("postcopy-recovery")]

RECOVER_ONLY_PAUSED = "Migrate recover can only be run when postcopy is paused."
NO_PAUSED = "Cannot resume if there is no paused migration"


def refused_here(vms, src, dst, uri):
    """Neither side accepts its half of a recovery in the state it is in."""
    expect_error(dst.qmp.cmd("migrate-recover", {"uri": uri}), RECOVER_ONLY_PAUSED)
    expect_error(src.qmp.cmd("migrate", {"uri": uri, "resume": True}), NO_PAUSED)
    # the source is no destination either
    expect_error(src.qmp.cmd("migrate-recover", {"uri": uri}), RECOVER_ONLY_PAUSED)


@pytest.mark.covers("command:migrate-recover", "arg:migrate.resume")
def test_recovery_refused_outside_postcopy_paused(vms):
    """none, active, postcopy-active and completed: both halves refused, with QEMU's
    texts, and the migration goes on unharmed."""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True)
    uri = f"unix:{vms.path('never.sock')}"
    assert src.qmp.call("query-migrate")["status"] == "active"
    refused_here(vms, src, dst, uri)
    switch_to_postcopy(src, dst)
    refused_here(vms, src, dst, uri)
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0}))
    finish_pair(src, dst)
    refused_here(vms, src, dst, uri)
    # a vm that never migrated
    fresh = vms()
    expect_error(fresh.qmp.cmd("migrate-recover", {"uri": uri}), RECOVER_ONLY_PAUSED)
    expect_error(fresh.qmp.cmd("migrate", {"uri": uri, "resume": True}), NO_PAUSED)


def pause_both(src, dst):
    expect_ok(src.qmp.cmd("migrate-pause"))
    assert wait_status(dst.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    assert wait_status(src.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"


def test_resume_refused_with_release_ram(vms):
    """release-ram frees what was sent, so what the broken channel lost cannot be sent
    again: QEMU refuses the resume, and the migration stays paused."""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True,
                              caps={"release_ram": True})
    switch_to_postcopy(src, dst)
    pause_both(src, dst)
    uri = f"unix:{vms.path('recover.sock')}"
    expect_error(src.qmp.cmd("migrate", {"uri": uri, "resume": True}),
                 "Postcopy recovery cannot work when release-ram capability is set")
    assert src.qmp.call("query-migrate")["status"] == "postcopy-paused"
    for vm in (src, dst):  # neither half of the guest can go on: end them
        vm.proc.kill()


def recover(vms, src, dst, name):
    uri = f"unix:{vms.path(name)}"
    expect_ok(dst.qmp.cmd("migrate-recover", {"uri": uri}))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "resume": True}))


@pytest.mark.covers("cap:xbzrle")
def test_recovery_after_xbzrle_precopy(vms):
    """XBZRLE deltas during precopy, then postcopy (whole pages), a break and a recovery:
    every page arrives (migbench verifies the whole memory on the destination)."""
    src, dst = start_postcopy(vms, src_params={"max-postcopy-bandwidth": 4096}, paced=True,
                              caps={"xbzrle": True})
    switch_to_postcopy(src, dst)
    pause_both(src, dst)
    recover(vms, src, dst, "recover.sock")
    assert wait_status(src.qmp, ("postcopy-active", "completed", "failed")) in (
        "postcopy-active", "completed")
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0}))
    finish_pair(src, dst)


def paused_with_scenario(vms, in_recover):
    """A paced sim postcopy whose source runs `in_recover` (a scenario action) when it
    enters postcopy-recover, switched to postcopy and paused on both sides."""
    path = vms.path("in-recover.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"status": "postcopy-recover"}, "execute": in_recover}]},
                  f)
    src, dst, uri = prepare_pair(
        vms, caps={"postcopy_ram": True},
        params={"downtime-limit": 1, "max-bandwidth": 100 << 20,
                "max-postcopy-bandwidth": SIM_SLOW_POSTCOPY},
        src_kw={"guest": PACED_NEVER_CONVERGES, "extra": ["--pace", "1", "--scenario", path]},
        dst_kw={"guest": PACED_NEVER_CONVERGES})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    src.qmp.wait_event("MIGRATION_PASS", match={"pass": 2}, timeout=60, keep=True)
    switch_to_postcopy(src, dst)
    pause_both(src, dst)
    return src, dst


@pytest.mark.migbench_only("a scenario breaks the recovery's new channel (QMP's migrate-pause "
                           "is refused in postcopy-recover)")
def test_second_break_during_recovery(vms, target):
    """The new channel breaks while recovering: both sides are paused again, and a later
    recovery still completes with every page verified."""
    src, dst = paused_with_scenario(vms, "migrate-pause")
    recover(vms, src, dst, "recover1.sock")
    # the scenario broke the new channel: paused again on both sides
    src.qmp.wait_event("MIGRATION", match={"status": "postcopy-recover"}, timeout=60, keep=True)
    assert wait_status(src.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    assert wait_status(dst.qmp, ("postcopy-paused", "failed")) == "postcopy-paused"
    recover(vms, src, dst, "recover2.sock")
    assert wait_status(src.qmp, ("postcopy-active", "completed", "failed")) in (
        "postcopy-active", "completed")
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": 0}))
    finish_pair(src, dst)
    assert statuses(src.qmp.drain_events("MIGRATION"))[-7:] == [
        "postcopy-active", "postcopy-paused", "postcopy-recover", "postcopy-paused",
        "postcopy-recover", "postcopy-active", "completed"]
    assert statuses(dst.qmp.drain_events("MIGRATION"))[-9:] == [
        "postcopy-active", "postcopy-paused", "setup", "postcopy-recover", "postcopy-paused",
        "setup", "postcopy-recover", "postcopy-active", "completed"]
    assert dst.qmp.call("query-status")["status"] == "running"


@pytest.mark.migbench_only("a scenario aims the cancel at postcopy-recover (it lasts only for "
                           "the resume handshake)")
def test_cancel_in_postcopy_recover(vms, target):
    """postcopy-recover -> cancelling; like a cancel in postcopy-paused, the thread then
    waits for a recovery that cannot come (QEMU 5.0's), so the test ends the vms."""
    src, dst = paused_with_scenario(vms, "migrate_cancel")
    recover(vms, src, dst, "recover.sock")
    assert wait_status(src.qmp, ("cancelling", "cancelled", "failed")) in (
        "cancelling", "cancelled")
    st = statuses(src.qmp.drain_events("MIGRATION"))
    assert st[-3:] == ["postcopy-paused", "postcopy-recover", "cancelling"], st
    for vm in (src, dst):
        vm.proc.kill()


# ---- migbench run: a break and a recovery at exact points ----

RUN_GUEST = "sim:hotspot,rate=64M"


def run(target, *args):
    out = subprocess.run([target.vm_argv[0], "run", "-q", "--json", "-", "--guest", RUN_GUEST,
                          "--postcopy-after", "2", *args],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["result"], out.stderr


def scenario(vms, name, actions):
    path = vms.path(name)
    with open(path, "w") as f:
        json.dump({"actions": actions}, f)
    return path


PAUSE_IN_POSTCOPY = {"at": {"time": "20650ms"}, "execute": "migrate-pause"}
RECOVER = {"at": {"status": "postcopy-paused"}, "execute": "migrate-recover"}


# Over tcp the break is not yet exact on a loaded machine: the source's migrate-pause shuts
# the socket down both ways, and Linux answers data that then arrives (the destination's
# next page request on the return path) with a reset (TCPAbortOnData), which can discard
# stream bytes the destination had not read yet; it then lacks more pages and the rest of
# the run differs (about 1 run in 6 here under load; unix sockets have no such reset).
# The fix (shut only the sending side, wake the return-path reader itself) is open work.
TCP_BREAK = pytest.mark.xfail(strict=False, reason="a tcp break can reset unread stream data "
                              "(Linux TCPAbortOnData): open work, docs/sim.md")


@pytest.mark.migbench_only("scenarios drive the simulated guest")
@pytest.mark.parametrize("transport", ["unix", pytest.param("tcp", marks=TCP_BREAK)])
def test_run_breaks_and_recovers_the_same_every_time(vms, target, transport):
    """A break in postcopy and its recovery at exact points of guest time: completed,
    every page verified, byte-identical results twice; what the broken channel lost was
    sent again."""
    path = scenario(vms, "recover.json", [PAUSE_IN_POSTCOPY, RECOVER])
    a, _ = run(target, "--scenario", path, "--transport", transport)
    b, _ = run(target, "--scenario", path, "--transport", transport)
    assert a == b
    assert "scenario-errors" not in a
    assert a["status"] == "completed" and a["destination"]["verified"] is True
    # after the recovery the source went on in the order the destination's model settled
    # (its background pass resumed after the last page that arrived: MB_CURSOR)
    assert a["destination"]["postcopy"]["records-out-of-model-order"] == 0
    plain, _ = run(target)
    assert plain["destination"]["postcopy"]["records-out-of-model-order"] == 0
    # the break happened inside postcopy, and the lost record went again
    assert plain["destination"]["postcopy"]["start-ms"] < 20650 < \
        plain["destination"]["postcopy"]["end-ms"]
    assert a["transferred"] > plain["transferred"]


@pytest.mark.migbench_only("scenarios drive the simulated guest")
def test_run_recovers_after_a_break_during_recovery(vms, target):
    """Two recoveries: the first one's channel breaks (postcopy-recover), the second one
    completes; the same result twice."""
    path = scenario(vms, "twice.json", [
        PAUSE_IN_POSTCOPY, {"at": {"status": "postcopy-recover"}, "execute": "migrate-pause"},
        RECOVER, RECOVER])
    a, _ = run(target, "--scenario", path)
    b, _ = run(target, "--scenario", path)
    assert a == b
    assert "scenario-errors" not in a
    assert a["status"] == "completed" and a["destination"]["verified"] is True
    assert a["destination"]["postcopy"]["records-out-of-model-order"] == 0


RATE_IN_POSTCOPY = {"at": {"time": "20620ms"}, "execute": "migrate-set-parameters",
                    "arguments": {"max-postcopy-bandwidth": 100000000}}


@pytest.mark.migbench_only("scenarios drive the simulated guest")
@pytest.mark.parametrize("recover", [False, True], ids=["rate", "rate-break-recover"])
def test_run_postcopy_rate_change_the_same_every_time(vms, target, recover):
    """max-postcopy-bandwidth changed mid-postcopy by a scenario action (and, in the
    variant, a break and a recovery after it): the destination's link model applies the
    change at the source's guest time carried in MB_POSTCOPY_RATE, wherever its own clock
    is when it reads the command, so the results are byte-identical twice."""
    actions = [RATE_IN_POSTCOPY]
    if recover:
        actions += [{"at": {"time": "20700ms"}, "execute": "migrate-pause"}, RECOVER]
    path = scenario(vms, "rate.json", actions)
    a, _ = run(target, "--scenario", path)
    b, _ = run(target, "--scenario", path)
    assert a == b
    assert "scenario-errors" not in a
    assert a["status"] == "completed" and a["destination"]["verified"] is True
    plain, _ = run(target)
    pc = plain["destination"]["postcopy"]
    # the change landed inside postcopy and slowed the rest of it down (100 MB/s against
    # the 10 Gbit/s link)
    assert pc["start-ms"] < 20620 < pc["end-ms"]
    assert a["destination"]["postcopy"]["end-ms"] > pc["end-ms"] + 500
    if recover:
        assert 20700 < a["destination"]["postcopy"]["end-ms"]
        assert a["transferred"] > plain["transferred"]


@pytest.mark.migbench_only("scenarios are migbench's")
def test_migrate_recover_is_the_run_drivers(vms, target):
    """The source cannot run a destination command: `migbench vm` refuses the action,
    `migbench run` only takes it at status postcopy-paused."""
    path = scenario(vms, "bad.json", [RECOVER])
    out = subprocess.run([target.vm_argv[0], "vm", "--scenario", path, "--guest", RUN_GUEST],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "migrate-recover is a destination command" in out.stderr
    path = scenario(vms, "bad2.json", [{"at": {"pass": 3}, "execute": "migrate-recover"}])
    out = subprocess.run([target.vm_argv[0], "run", "-q", "--json", "-", "--guest", RUN_GUEST,
                          "--scenario", path], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "migrate-recover runs only" in out.stderr
