"""The commands around migration: QMP negotiation, run state, version, quit (schema/core.json
as QEMU serves them), and the COLO / Xen replication commands of migration.json, which
answer without a COLO or Xen setup."""
import os

import pytest

from lib.expect import expect_error, expect_ok

# query-version of each served schema: 4.0-dev is a snapshot between 3.1 and 4.0.
VERSIONS = {"5.0": (5, 0, 0), "4.0-dev": (3, 1, 50)}


@pytest.mark.covers("command:qmp_capabilities", "arg:qmp_capabilities.enable")
def test_negotiation(vms):
    # paused: a booted QEMU guest already holds the (single-client) monitor connection
    vm = vms(paused=True)
    c = vm.connect(negotiate=False)
    vm.recorder.primary = c
    try:
        assert "oob" in c.greeting["QMP"]["capabilities"]
        assert set(c.greeting["QMP"]["version"]) == {"qemu", "package"}
        expect_error(c.cmd("query-status"),
                     "Expecting capabilities negotiation with 'qmp_capabilities'",
                     cls="CommandNotFound")
        expect_ok(c.cmd("qmp_capabilities", {"enable": ["oob"]}))
        expect_error(c.cmd("qmp_capabilities"),
                     "Capabilities negotiation is already complete, command ignored",
                     cls="CommandNotFound")
    finally:
        c.close()


@pytest.mark.covers("command:query-version")
def test_version_is_the_schemas(vm, target):
    v = vm.qmp.call("query-version")
    q = v["qemu"]
    assert set(v) == {"qemu", "package"} and set(q) == {"major", "minor", "micro"}
    assert v == vm.qmp.greeting["QMP"]["version"]
    if target.schema in VERSIONS:  # (a schema given as a path names no version)
        assert (q["major"], q["minor"], q["micro"]) == VERSIONS[target.schema]
    elif target.version == "7.2":
        assert (q["major"], q["minor"]) == (7, 2)


@pytest.mark.covers("command:stop", "command:cont", "command:query-status", "event:STOP",
                    "event:RESUME")
def test_stop_and_cont(vm):
    assert vm.qmp.call("query-status") == {"status": "running", "singlestep": False,
                                           "running": True}
    expect_ok(vm.qmp.cmd("stop"))
    vm.qmp.wait_event("STOP", timeout=10)
    assert vm.qmp.call("query-status")["status"] == "paused"
    expect_ok(vm.qmp.cmd("cont"))
    vm.qmp.wait_event("RESUME", timeout=10)
    assert vm.qmp.call("query-status")["running"] is True


def test_paused_vm_starts_in_prelaunch(vms):
    vm = vms(paused=True)
    assert vm.qmp.call("query-status") == {"status": "prelaunch", "singlestep": False,
                                           "running": False}


@pytest.mark.covers("command:quit", "event:SHUTDOWN", "data:SHUTDOWN.guest",
                    "data:SHUTDOWN.reason")
def test_quit(vm):
    expect_ok(vm.qmp.cmd("quit"))
    ev = vm.qmp.wait_event("SHUTDOWN", timeout=10)
    assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert vm.wait_exit(30) == 0


@pytest.mark.covers("command:getfd", "arg:getfd.fdname", "command:closefd",
                    "arg:closefd.fdname")
def test_getfd_closefd(vm):
    r, w = os.pipe()
    try:
        expect_ok(vm.qmp.cmd("getfd", {"fdname": "spare"}, send_fd=r))
        expect_ok(vm.qmp.cmd("closefd", {"fdname": "spare"}))
        expect_error(vm.qmp.cmd("closefd", {"fdname": "spare"}),
                     "File descriptor named 'spare' not found")
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.covers("command:query-colo-status", "enum:COLOMode.none",
                    "enum:COLOExitReason.none")
def test_colo_status_without_colo(vm, target):
    want = {"mode": "none", "reason": "none"}
    if "last-mode" in target.qapi.member_names("COLOStatus"):
        want["last-mode"] = "none"  # 4.0 added it; the 4.0-dev seed has no last-mode
    assert vm.qmp.call("query-colo-status") == want


@pytest.mark.covers("command:xen-set-replication", "arg:xen-set-replication.enable",
                    "arg:xen-set-replication.primary", "arg:xen-set-replication.failover",
                    "command:query-xen-replication-status", "command:xen-colo-do-checkpoint")
def test_xen_replication_commands(vm):
    expect_error(vm.qmp.cmd("xen-set-replication",
                            {"enable": True, "primary": True, "failover": True}),
                 "Parameter 'failover' is only for stopping replication")
    expect_ok(vm.qmp.cmd("xen-set-replication", {"enable": False, "primary": True}))
    assert vm.qmp.call("query-xen-replication-status") == {"error": False}
    expect_ok(vm.qmp.cmd("xen-colo-do-checkpoint"))


@pytest.mark.covers("command:xen-save-devices-state", "arg:xen-save-devices-state.filename",
                    "arg:xen-save-devices-state.live")
@pytest.mark.parametrize("live", [True, False])
def test_xen_save_devices_state(vms, live):
    """The device state alone, in the migration stream format; the VM runs on."""
    vm = vms()
    path = vms.path("devices.state")
    expect_ok(vm.qmp.cmd("xen-save-devices-state", {"filename": path, "live": live}))
    with open(path, "rb") as f:
        head = f.read(8)
    assert head == b"QEVM\x00\x00\x00\x03"
    assert vm.qmp.call("query-status")["status"] == "running"


def test_xen_save_devices_state_unwritable(vm, target):
    r = vm.qmp.cmd("xen-save-devices-state", {"filename": "/nonexistent/dir/state"})
    if target.version == "7.2":  # 6.0 passes the open error through
        expect_error(r, "Unable to open /nonexistent/dir/state: No such file or directory")
    else:
        expect_error(r, "An IO error has occurred")
    assert vm.qmp.call("query-status")["status"] == "running"


@pytest.mark.covers("arg:client_migrate_info.tls-port", "arg:client_migrate_info.cert-subject")
def test_client_migrate_info_tls(vm):
    expect_error(vm.qmp.cmd("client_migrate_info", {"protocol": "spice", "hostname": "h",
                                                    "tls-port": 5901,
                                                    "cert-subject": "CN=h"}),
                 "SPICE is not in use", cls="DeviceNotActive")
