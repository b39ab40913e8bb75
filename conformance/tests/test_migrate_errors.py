"""Preconditions of migrate, migrate-incoming, migrate-continue and friends, with QEMU's texts."""
import pytest

from lib.expect import expect_error, expect_ok, set_caps, wait_status
from lib.mig import NEVER_CONVERGE, start_pair
from lib.statemachine import check_sequence, statuses


@pytest.mark.covers("status:failed")
def test_unknown_scheme(vm, request):
    set_caps(vm.qmp, events=True)
    expect_error(vm.qmp.cmd("migrate", {"uri": "bogus:foo"}),
                 "Parameter 'uri' expects a valid migration protocol")
    info = vm.qmp.call("query-migrate")
    assert info == {"status": "failed"}, info
    st = statuses(vm.qmp.drain_events("MIGRATION"))
    assert st == ["setup", "failed"]
    check_sequence(st, test=request.node.nodeid)
    assert vm.qmp.call("query-status")["status"] == "running"


@pytest.mark.migbench_only("migbench is built without RDMA, like the QEMU builds we compare")
def test_rdma_not_built(vm):
    expect_error(vm.qmp.cmd("migrate", {"uri": "rdma:1.2.3.4:5"}),
                 "Parameter 'uri' expects a valid migration protocol")


@pytest.mark.parametrize("uri,text", [
    ("tcp:nocolon", "error parsing address 'nocolon'"),
    ("tcp::", "error parsing port in address ':'"),
])
def test_tcp_parse_errors(vm, uri, text):
    expect_error(vm.qmp.cmd("migrate", {"uri": uri}), text)
    info = vm.qmp.call("query-migrate")
    assert info["status"] == "failed"
    assert info.get("error-desc") == text


def test_connection_refused(vms):
    """QEMU's /migration/bad_dest: failed asynchronously, source keeps running."""
    vm = vms()
    set_caps(vm.qmp, events=True)
    expect_ok(vm.qmp.cmd("migrate", {"uri": f"unix:{vms.path('nobody.sock')}"}))
    assert wait_status(vm.qmp, ("failed", "completed")) == "failed"
    info = vm.qmp.call("query-migrate")
    assert info["error-desc"].startswith(f"Failed to connect socket {vms.path('nobody.sock')}: ")
    assert vm.qmp.call("query-status")["status"] == "running"


def test_exec_command_that_fails(vms):
    vm = vms()
    set_caps(vm.qmp, events=True)
    expect_ok(vm.qmp.cmd("migrate", {"uri": "exec:exit 3"}))
    assert wait_status(vm.qmp, ("failed", "completed")) == "failed"
    assert vm.qmp.call("query-status")["status"] == "running"


def test_migrate_while_active(vms):
    src, dst = start_pair(vms, params=NEVER_CONVERGE)
    wait_status(src.qmp, "active")
    expect_error(src.qmp.cmd("migrate", {"uri": "unix:/nonexistent"}),
                 "There's a migration process in progress")
    expect_error(src.qmp.cmd("migrate-set-capabilities",
                             {"capabilities": [{"capability": "xbzrle", "state": True}]}),
                 "There's a migration process in progress")
    # parameters may change at any time
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"downtime-limit": 2}))
    src.qmp.call("migrate_cancel")
    assert wait_status(src.qmp, "cancelled") == "cancelled"


def test_migrate_from_incoming_vm(vms):
    dst = vms(incoming="defer")
    expect_error(dst.qmp.cmd("migrate", {"uri": "unix:/nonexistent"}),
                 "Guest is waiting for an incoming migration")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"


@pytest.mark.covers("command:migrate-incoming")
def test_migrate_incoming_without_defer(vm):
    expect_error(vm.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}),
                 "For use with '-incoming defer'")


@pytest.mark.schemas("5.0", "7.2")
def test_migrate_incoming_twice(vms):
    dst = vms(incoming="defer")
    expect_ok(dst.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}))
    expect_error(dst.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}),
                 "The incoming migration has already been started")


def test_migrate_incoming_unknown_scheme(vms):
    dst = vms(incoming="defer")
    expect_error(dst.qmp.cmd("migrate-incoming", {"uri": "bogus:x"}),
                 "unknown migration protocol: bogus:x")


def test_incoming_setup_event_is_unconditional(vms):
    """The destination emits MIGRATION setup when listening starts, even without events."""
    dst = vms(incoming="defer")
    dst.qmp.drain_events()
    expect_ok(dst.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}))
    ev = dst.qmp.wait_event("MIGRATION", timeout=10)
    assert ev["data"] == {"status": "setup"}
    # ... but the state stays none until a connection arrives
    assert dst.qmp.call("query-migrate").get("status") is None


@pytest.mark.covers("command:migrate-continue")
def test_migrate_continue_wrong_state(vm):
    expect_error(vm.qmp.cmd("migrate-continue", {"state": "pre-switchover"}),
                 "Migration not in expected state: none")


def test_migrate_continue_bad_state_name(vm):
    expect_error(vm.qmp.cmd("migrate-continue", {"state": "sideways"}),
                 "Invalid parameter 'sideways'")


@pytest.mark.covers("command:migrate_cancel")
def test_cancel_with_nothing_running(vm):
    expect_ok(vm.qmp.cmd("migrate_cancel"))
    assert vm.qmp.call("query-migrate") == {}


@pytest.mark.covers("command:migrate-start-postcopy")
def test_start_postcopy_errors(vm):
    expect_error(vm.qmp.cmd("migrate-start-postcopy"),
                 "Enable postcopy with migrate_set_capability before the start of migration")
    set_caps(vm.qmp, postcopy_ram=True)
    expect_error(vm.qmp.cmd("migrate-start-postcopy"),
                 "Postcopy must be started after migration has been started")


def test_resume_without_paused_migration(vm):
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/x", "resume": True}),
                 "Cannot resume if there is no paused migration")


def test_blk_inc_incompatible(vm):
    set_caps(vm.qmp, block=True)
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/x", "blk": True}),
                 "Command options are incompatible with current migration capabilities")


@pytest.mark.covers("command:migrate-pause", "command:migrate-recover")
def test_pause_and_recover_outside_postcopy(vm):
    expect_error(vm.qmp.cmd("migrate-pause"),
                 "migrate-pause is currently only supported during postcopy-active state")
    expect_error(vm.qmp.cmd("migrate-recover", {"uri": "unix:/x"}),
                 "Migrate recover can only be run when postcopy is paused.")


@pytest.mark.covers("command:client_migrate_info")
def test_client_migrate_info(vm):
    expect_error(vm.qmp.cmd("client_migrate_info", {"protocol": "vnc", "hostname": "h"}),
                 "Parameter 'protocol' expects spice")
    expect_error(vm.qmp.cmd("client_migrate_info", {"protocol": "spice", "hostname": "h",
                                                    "port": 5900}),
                 "SPICE is not in use", cls="DeviceNotActive")


@pytest.mark.covers("command:x-colo-lost-heartbeat")
def test_colo_lost_heartbeat_without_colo(vm):
    expect_error(vm.qmp.cmd("x-colo-lost-heartbeat"), "The feature 'colo' is not enabled")
