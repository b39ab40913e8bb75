"""Preconditions of migrate, migrate-incoming, migrate-continue and friends, with QEMU's texts."""
import pytest

from lib.expect import caps_dict, expect_error, expect_ok, set_caps, wait_status
from lib.mig import finish_pair, never_converge, prepare_pair, start_pair
from lib.statemachine import statuses

V72 = "7.2"
OLD_TEXTS = ("5.0", "4.0-dev")


@pytest.mark.covers("status:failed")
def test_unknown_scheme(vm, target):
    set_caps(vm.qmp, events=True)
    expect_error(vm.qmp.cmd("migrate", {"uri": "bogus:foo"}),
                 "Parameter 'uri' expects a valid migration protocol")
    info = vm.qmp.call("query-migrate")
    assert info == {"status": "failed"}, info
    st = statuses(vm.qmp.drain_events("MIGRATION"))
    assert st == ["setup", "failed"]
    assert vm.qmp.call("query-status")["status"] == "running"


def test_rdma(vm, target):
    """migbench is built without RDMA and answers as a QEMU configured --disable-rdma does:
    the QMP error, setup -> failed, and no error-desc (QEMU never records this error in the
    migration state).  A QEMU built with RDMA but without an RDMA device fails with "RDMA
    ERROR: ..." in both places instead (docs/quirks.md)."""
    set_caps(vm.qmp, events=True)
    r = vm.qmp.cmd("migrate", {"uri": "rdma:127.0.0.1:5"})
    info = vm.qmp.call("query-migrate")
    assert statuses(vm.qmp.drain_events("MIGRATION")) == ["setup", "failed"]
    assert info["status"] == "failed", info
    if not target.is_migbench and r.get("error", {}).get("desc", "").startswith("RDMA ERROR:"):
        assert info.get("error-desc") == r["error"]["desc"], info
    else:
        expect_error(r, "Parameter 'uri' expects a valid migration protocol")
        assert "error-desc" not in info, info
    assert vm.qmp.call("query-status")["status"] == "running"


@pytest.mark.parametrize("uri,text", [
    ("tcp:nocolon", "error parsing address 'nocolon'"),
    ("tcp::", "error parsing port in address ':'"),
])
def test_tcp_parse_errors(vm, uri, text):
    expect_error(vm.qmp.cmd("migrate", {"uri": uri}), text)
    info = vm.qmp.call("query-migrate")
    assert info["status"] == "failed"
    assert info.get("error-desc") == text


@pytest.mark.covers("info:error-desc")
def test_connection_refused(vms, target):
    """QEMU's /migration/bad_dest: failed asynchronously, source keeps running."""
    vm = vms()
    set_caps(vm.qmp, events=True)
    expect_ok(vm.qmp.cmd("migrate", {"uri": f"unix:{vms.path('nobody.sock')}"}))
    assert wait_status(vm.qmp, ("failed", "completed")) == "failed"
    info = vm.qmp.call("query-migrate")
    want = f"Failed to connect socket {vms.path('nobody.sock')}: "
    if target.version == V72:  # the text changed in 6.0 (util/qemu-sockets.c)
        want = f"Failed to connect to '{vms.path('nobody.sock')}': "
    assert info["error-desc"].startswith(want), info
    assert vm.qmp.call("query-status")["status"] == "running"


def test_exec_command_that_fails(vms, target):
    vm = vms()
    set_caps(vm.qmp, events=True)
    expect_ok(vm.qmp.cmd("migrate", {"uri": "exec:exit 3"}))
    assert wait_status(vm.qmp, ("failed", "completed")) == "failed"
    # QIOChannelCommand's text: "command", not "file" or "socket" (before 4.2 a stream
    # error was not recorded in error-desc)
    if target.v5:
        desc = vm.qmp.call("query-migrate").get("error-desc", "")
        assert desc.startswith("Unable to write to command: "), desc
    assert vm.qmp.call("query-status")["status"] == "running"


def test_migrate_while_active(vms):
    src, dst = start_pair(vms, params=never_converge(vms))
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
def test_migrate_incoming_without_defer(vm, target):
    expect_error(vm.qmp.cmd("migrate-incoming", {"uri": "tcp:127.0.0.1:0"}),
                 "'-incoming' was not specified on the command line" if target.version == V72
                 else "For use with '-incoming defer'")


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


@pytest.mark.covers("status:none", "cap:pause-before-switchover")
def test_migrate_continue_in_expected_state_none_is_harmless(vms):
    """migrate-continue only compares the state and posts the pause semaphore; with nothing
    running, 'none' matches and the stale post is drained before the next pause, so a
    later migration with pause-before-switchover still stops in pre-switchover."""
    src = vms()
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "none"}))
    assert src.qmp.call("query-migrate") == {}
    src, dst = start_pair(vms, caps={"pause_before_switchover": True}, src=src)
    assert wait_status(src.qmp, ("pre-switchover", "completed", "failed")) == "pre-switchover"
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
    finish_pair(src, dst)


def test_migrate_continue_bad_state_name(vm, target):
    expect_error(vm.qmp.cmd("migrate-continue", {"state": "sideways"}),
                 "Parameter 'state' does not accept value 'sideways'" if target.version == V72
                 else "Invalid parameter 'sideways'")


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


@pytest.mark.migbench_only("the KVM guest cannot be a postcopy destination yet")
def test_kvm_incoming_refuses_postcopy(vms, target):
    """An incoming KVM vm answers as a QEMU on a host without userfaultfd (its guest cannot
    run with pages missing yet); a sim vm accepts postcopy-ram."""
    dst = vms(incoming="defer")
    r = dst.qmp.cmd("migrate-set-capabilities",
                    {"capabilities": [{"capability": "postcopy-ram", "state": True}]})
    if target.kvm:
        expect_error(r, "Postcopy is not supported")
        assert caps_dict(dst.qmp)["postcopy-ram"] is False
    else:
        expect_ok(r)
        assert caps_dict(dst.qmp)["postcopy-ram"] is True


@pytest.mark.covers("arg:migrate.resume")
def test_resume_without_paused_migration(vm):
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/x", "resume": True}),
                 "Cannot resume if there is no paused migration")


@pytest.mark.covers("arg:migrate.blk", "arg:migrate.inc")
def test_blk_inc_incompatible(vm):
    set_caps(vm.qmp, block=True)
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/x", "blk": True}),
                 "Command options are incompatible with current migration capabilities")
    set_caps(vm.qmp, block=False)
    vm.qmp.call("migrate-set-parameters", {"block-incremental": True})
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/x", "inc": True}),
                 "Command options are incompatible with current migration capabilities")


@pytest.mark.covers("arg:migrate.blk", "arg:migrate.inc", "cap:block",
                    "param:block-incremental")
def test_blk_inc_options_last_one_migration(vms):
    """blk/inc turn on the block capability and block-incremental for this migration only;
    they are undone when it ends (here: cancelled)."""
    src, dst, uri = prepare_pair(vms, params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True, "inc": True}))
    assert caps_dict(src.qmp)["block"] is True
    assert src.qmp.call("query-migrate-parameters")["block-incremental"] is True
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, ("cancelled", "failed")) == "cancelled"
    assert caps_dict(src.qmp)["block"] is False
    assert src.qmp.call("query-migrate-parameters")["block-incremental"] is False


@pytest.mark.covers("arg:migrate.detach")
def test_detach_is_ignored(vms):
    src, dst, uri = prepare_pair(vms)
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "detach": True}))
    finish_pair(src, dst)


@pytest.mark.covers("command:migrate-pause", "command:migrate-recover",
                    "arg:migrate-recover.uri")
def test_pause_and_recover_outside_postcopy(vm):
    expect_error(vm.qmp.cmd("migrate-pause"),
                 "migrate-pause is currently only supported during postcopy-active state")
    expect_error(vm.qmp.cmd("migrate-recover", {"uri": "unix:/x"}),
                 "Migrate recover can only be run when postcopy is paused.")


@pytest.mark.covers("command:client_migrate_info", "arg:client_migrate_info.protocol",
                    "arg:client_migrate_info.hostname", "arg:client_migrate_info.port")
def test_client_migrate_info(vm, target):
    expect_error(vm.qmp.cmd("client_migrate_info", {"protocol": "vnc", "hostname": "h"}),
                 "Parameter 'protocol' expects 'spice'" if target.version == V72
                 else "Parameter 'protocol' expects spice")
    expect_error(vm.qmp.cmd("client_migrate_info", {"protocol": "spice", "hostname": "h",
                                                    "port": 5900}),
                 "SPICE is not in use", cls="DeviceNotActive")


@pytest.mark.covers("command:x-colo-lost-heartbeat")
def test_colo_lost_heartbeat_without_colo(vm):
    expect_error(vm.qmp.cmd("x-colo-lost-heartbeat"), "The feature 'colo' is not enabled")


@pytest.mark.covers("param:tls-creds")
@pytest.mark.parametrize("transport", ["unix", "exec"])
def test_tls_creds_without_object_fails(vms, target, transport):
    """tls-creds naming no credentials object fails the migration on the source before any
    guest memory is sent; never a plain-text migration."""
    src, dst, uri = prepare_pair(vms, transport=transport)
    src.qmp.call("migrate-set-parameters", {"tls-creds": "nosuch"})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(src.qmp, ("failed", "completed")) == "failed"
    info = src.qmp.call("query-migrate")
    assert info.get("error-desc") == "No TLS credentials with id 'nosuch'", info
    assert info.get("ram", {}).get("transferred", 0) == 0, info
    assert src.qmp.call("query-status")["status"] == "running"


@pytest.mark.covers("param:tls-creds")
def test_tls_creds_on_destination_only(vms, target):
    """tls-creds on the destination only: it drops the plain connection (no credentials
    object), so the source fails and the destination never loads a byte."""
    src, dst, uri = prepare_pair(vms, params=never_converge(vms))
    # set before the connection arrives; migrate-incoming is already listening
    dst.qmp.call("migrate-set-parameters", {"tls-creds": "nosuch"})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(src.qmp, ("failed", "completed"), timeout=60) == "failed"
    if target.v5:  # a stream error: recorded in error-desc since 4.2
        assert src.qmp.call("query-migrate").get("error-desc"), src.qmp.call("query-migrate")
    assert dst.qmp.call("query-migrate").get("status") in (None, "setup"), \
        dst.qmp.call("query-migrate")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"
