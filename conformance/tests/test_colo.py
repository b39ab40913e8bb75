"""COLO (x-colo): after the migration the source stays the primary ('colo') and the
destination the secondary; the primary checkpoints every x-checkpoint-delay ms (at once on
a live change or xen-colo-do-checkpoint) with the COLOMessage exchange; the secondary
applies each checkpoint whole and checks its memory against the primary's.  COLO ends with
a failover (x-colo-lost-heartbeat on either side) or a broken channel; both sides keep
running, the secondary from its last checkpoint (verified).

The tests put a relay between the two sides: it decodes the COLOMessage values from the
stream (no QMP reply carries them) and can cut the stream in the middle of a checkpoint."""
import json
import os
import struct

import pytest

from lib.expect import expect_error, expect_ok, poll_until, wait_status
from lib.mig import prepare_pair
from lib.observe import wire
from lib.peers import CuttingRelay

pytestmark = [pytest.mark.feature("colo"),
              pytest.mark.sim_only("COLO runs with the simulated guest")]

MESSAGES = ["checkpoint-ready", "checkpoint-request", "checkpoint-reply", "vmstate-send",
            "vmstate-size", "vmstate-received", "vmstate-loaded"]


def colo_pair(vms, delay=100, report=False):
    """A primary and a secondary in COLO through a relay; the primary's report file path
    (or None)."""
    rpt = vms.path("primary.json") if report else None
    src_kw = {"extra": ["--report", rpt]} if report else None
    src, dst, uri = prepare_pair(vms, caps={"x_colo": True},
                                 params={"x-checkpoint-delay": delay}, src_kw=src_kw)
    relay = CuttingRelay(vms.path("relay.sock"), uri.split(":", 1)[1])
    src.qmp.call("migrate", {"uri": relay.uri})
    assert wait_status(src.qmp, ("colo", "failed")) == "colo"
    assert wait_status(dst.qmp, ("colo", "failed")) == "colo"
    # the primary's guest runs again once the secondary is ready: checkpoints come after
    ev = src.qmp.wait_event("RESUME", keep=True)
    del src.qmp.events[:src.qmp.events.index(ev) + 1]
    return src, dst, relay, rpt


def wait_checkpoints(src, n):
    """Waits for n more checkpoints of the primary: each stops and resumes its guest."""
    for _ in range(n):
        src.qmp.wait_event("STOP", timeout=30)
        src.qmp.wait_event("RESUME", timeout=30)


def colo_status(vm, mode, last, reason, v5):
    want = {"mode": mode, "reason": reason}
    if v5:
        want["last-mode"] = last
    return vm.qmp.call("query-colo-status") == want


def decode(log):
    """The COLOMessage exchange in the relay's log, checked step by step: the secondary's
    messages on the return path, the primary's on the stream between them.  Returns the
    message names seen and the number of whole checkpoints."""
    up, seen, whole = b"", [], 0
    phase, down = None, b""
    for d, data in log:
        if d == "down":
            if phase is not None:
                down += data
            continue
        up += data
        while len(up) >= 4:
            (m,), up = struct.unpack(">I", up[:4]), up[4:]
            name = MESSAGES[m]
            if phase in ("checkpoint-ready", "vmstate-loaded"):
                assert down == struct.pack(">I", 1) and name == "checkpoint-reply", (phase, name)
                seen.append("checkpoint-request")
            elif phase == "checkpoint-reply":
                # VMSTATE_SEND, RAM sections and EOF, then VMSTATE_SIZE, size, device state
                assert down[:4] == struct.pack(">I", 3) and name == "vmstate-received"
                seen.append("vmstate-send")
                found = [k for k in range(4, len(down) - 11)
                         if down[k:k + 4] == struct.pack(">I", 4)
                         and struct.unpack(">Q", down[k + 4:k + 12])[0] == len(down) - k - 12]
                assert found, "no VMSTATE_SIZE announcing the device state"
                seen.append("vmstate-size")
            elif phase == "vmstate-received":
                assert down == b"" and name == "vmstate-loaded", (phase, name)
                whole += 1
            elif phase is None:
                assert name == "checkpoint-ready", name
            seen.append(name)
            phase, down = name, b""
    return seen, whole


@pytest.mark.covers("cap:x-colo", "status:colo", "status:completed", "param:x-checkpoint-delay",
                    "command:query-colo-status", "command:x-colo-lost-heartbeat",
                    "command:xen-colo-do-checkpoint", "event:COLO_EXIT", "data:COLO_EXIT.mode",
                    "data:COLO_EXIT.reason", "enum:COLOMode.primary", "enum:COLOMode.secondary",
                    "enum:COLOMode.none", "enum:COLOExitReason.none",
                    "enum:COLOExitReason.request", "enum:COLOExitReason.error",
                    *[f"enum:COLOMessage.{m}" for m in MESSAGES])
def test_checkpoints_then_failover_on_the_primary(vms):
    v5 = vms.target.v5
    src, dst, relay, _ = colo_pair(vms, delay=100)
    assert colo_status(src, "primary", "primary", "none", v5)
    assert colo_status(dst, "secondary", "secondary", "none", v5)
    assert src.qmp.call("query-migrate") == {"status": "colo"}
    assert src.qmp.call("query-status")["status"] == "running"
    # COLO is not cancellable, and no second migration starts beside it
    expect_ok(src.qmp.cmd("migrate_cancel"))
    expect_error(src.qmp.cmd("migrate", {"uri": relay.uri}),
                 "There's a migration process in progress")
    assert src.qmp.call("query-migrate") == {"status": "colo"}
    wait_checkpoints(src, 3)
    # a live x-checkpoint-delay change checkpoints at once, then an hour between two
    src.qmp.call("migrate-set-parameters", {"x-checkpoint-delay": 3600000})
    wait_checkpoints(src, 1)
    # ... and so does xen-colo-do-checkpoint
    expect_ok(src.qmp.cmd("xen-colo-do-checkpoint"))
    wait_checkpoints(src, 1)
    src.qmp.drain_events()
    dst.qmp.drain_events()
    expect_ok(src.qmp.cmd("x-colo-lost-heartbeat"))
    ev = src.qmp.wait_event("COLO_EXIT")
    assert ev["data"] == {"mode": "primary", "reason": "request"}
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert colo_status(src, "none", "primary", "request", v5)
    assert poll_until(lambda: src.qmp.call("query-status")["status"],
                      lambda s: s == "running") == "running"
    expect_error(src.qmp.cmd("x-colo-lost-heartbeat"), "The feature 'colo' is not enabled")
    # the secondary lost its primary: it takes over from its last checkpoint, verified
    ev = dst.qmp.wait_event("COLO_EXIT")
    assert ev["data"] == {"mode": "secondary", "reason": "error"}
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"
    assert colo_status(dst, "none", "secondary", "error", v5)
    assert dst.qmp.call("query-status")["status"] == "running"
    seen, whole = decode(relay.log)
    assert whole >= 5, seen
    assert f"runs from checkpoint {whole} (verified)" in poll_until(
        dst.output, lambda out: "verified" in out)
    wire({f"enum:COLOMessage.{m}" for m in seen})
    relay.close()


@pytest.mark.covers("command:x-colo-lost-heartbeat", "event:COLO_EXIT", "status:colo",
                    "enum:COLOExitReason.request", "enum:COLOExitReason.error")
def test_failover_on_the_secondary(vms):
    src, dst, relay, _ = colo_pair(vms, delay=100)
    wait_checkpoints(src, 2)
    expect_ok(dst.qmp.cmd("x-colo-lost-heartbeat"))
    ev = dst.qmp.wait_event("COLO_EXIT")
    assert ev["data"] == {"mode": "secondary", "reason": "request"}
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"
    assert dst.qmp.call("query-status")["status"] == "running"
    assert "(verified)" in poll_until(dst.output, lambda out: "verified" in out)
    # the primary sees its secondary go and carries on alone
    ev = src.qmp.wait_event("COLO_EXIT")
    assert ev["data"] == {"mode": "primary", "reason": "error"}
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert poll_until(lambda: src.qmp.call("query-status")["status"],
                      lambda s: s == "running") == "running"
    relay.close()


@pytest.mark.covers("event:COLO_EXIT", "enum:COLOExitReason.error")
def test_stream_cut_in_a_checkpoint_leaves_the_previous_one(vms):
    src, dst, relay, rpt = colo_pair(vms, delay=200, report=True)
    wait_checkpoints(src, 2)
    # the next checkpoint (~200 pages) breaks after 64 KiB of its stream
    relay.cut_after(64 << 10)
    assert src.qmp.wait_event("COLO_EXIT")["data"] == {"mode": "primary", "reason": "error"}
    assert dst.qmp.wait_event("COLO_EXIT")["data"] == {"mode": "secondary", "reason": "error"}
    for vm in (src, dst):
        assert wait_status(vm.qmp, ("completed", "failed")) == "completed"
        assert poll_until(lambda: vm.qmp.call("query-status")["status"],
                          lambda s: s == "running") == "running"
    seen, whole = decode(relay.log)
    assert seen[-1] == "checkpoint-reply", seen  # cut while the RAM was on its way
    # the secondary runs from the last whole checkpoint, not from the half one
    out = poll_until(dst.output, lambda o: "verified" in o)
    assert f"runs from checkpoint {whole} (verified)" in out, out
    report = poll_until(lambda: os.path.exists(rpt) and json.load(open(rpt)), bool)
    colo = report["colo"]
    assert colo["checkpoints"] == whole and colo["exit-reason"] == "error"
    assert colo["size"]["p50"] > 4096 and len(colo["list"]) == whole
    relay.close()


def test_primary_keeps_running_when_the_secondary_dies(vms):
    src, dst, relay, _ = colo_pair(vms, delay=100)
    wait_checkpoints(src, 1)
    dst.proc.kill()
    assert src.qmp.wait_event("COLO_EXIT")["data"] == {"mode": "primary", "reason": "error"}
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert poll_until(lambda: src.qmp.call("query-status")["status"],
                      lambda s: s == "running") == "running"
    relay.close()


@pytest.mark.migbench_only("migbench refuses COLO with multifd instead of mixing the paths")
def test_x_colo_with_multifd_is_refused(vms):
    src = vms()
    multifd = "multifd" if vms.target.v5 else "x-multifd"
    src.qmp.call("migrate-set-capabilities", {"capabilities": [
        {"capability": "x-colo", "state": True}, {"capability": multifd, "state": True}]})
    expect_error(src.qmp.cmd("migrate", {"uri": f"unix:{vms.path('none.sock')}"}),
                 "x-colo together with multifd is not supported by migbench (COLO "
                 "checkpoints travel on the main stream)")
    assert src.qmp.call("query-migrate") == {}


@pytest.mark.covers("command:xen-save-devices-state", "arg:xen-save-devices-state.filename")
@pytest.mark.migbench_only("a destination that loads a device-state file and verifies memory")
def test_xen_saved_device_state_loads(vms):
    """What xen-save-devices-state writes is a stream a destination loads (the COLO
    secondary loads the same format at every checkpoint): with a guest whose RAM is all
    zero, the device state alone is a complete, verifiable migration."""
    guest = "sim:idle,size=4M,init=zero,seed=3"
    src = vms(guest=guest)
    path = vms.path("devices.state")
    expect_ok(src.qmp.cmd("xen-save-devices-state", {"filename": path}))
    dst = vms(incoming="defer", guest=guest)
    dst.qmp.call("migrate-set-capabilities",
                 {"capabilities": [{"capability": "events", "state": True}]})
    dst.qmp.call("migrate-incoming", {"uri": f"exec:cat {path}"})
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"
