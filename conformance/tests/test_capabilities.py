"""migrate-set-capabilities / query-migrate-capabilities: defaults, order, checks."""
import pytest

from lib.expect import caps_dict, expect_error, expect_ok, set_caps

CAPS_50 = ["xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks", "compress", "events",
           "postcopy-ram", "x-colo", "release-ram", "block", "return-path",
           "pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime",
           "late-block-activate", "x-ignore-shared", "validate-uuid"]
CAPS_40DEV = [c if c != "multifd" else "x-multifd" for c in CAPS_50 if c != "validate-uuid"]


@pytest.mark.covers("command:query-migrate-capabilities", "type:MigrationCapabilityStatus")
def test_defaults_in_schema_order(vm, target):
    caps = vm.qmp.call("query-migrate-capabilities")
    names = [c["capability"] for c in caps]
    if target.version == "5.0":
        assert names == CAPS_50
    elif target.version == "4.0-dev":
        assert names == CAPS_40DEV
    assert all(c["state"] is False for c in caps)
    assert all(set(c) == {"capability", "state"} for c in caps)


@pytest.mark.covers("command:migrate-set-capabilities", "arg:migrate-set-capabilities.capabilities",
                    "arg:migrate-set-capabilities.capabilities.capability",
                    "arg:migrate-set-capabilities.capabilities.state")
def test_set_and_query(vm):
    set_caps(vm.qmp, events=True, xbzrle=True)
    c = caps_dict(vm.qmp)
    assert c["events"] and c["xbzrle"]
    set_caps(vm.qmp, xbzrle=False)
    c = caps_dict(vm.qmp)
    assert c["events"] and not c["xbzrle"]


def test_empty_list_is_fine(vm):
    expect_ok(vm.qmp.cmd("migrate-set-capabilities", {"capabilities": []}))


def test_duplicates_apply_in_order(vm):
    r = vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "events", "state": True}, {"capability": "events", "state": False}]})
    expect_ok(r)
    assert caps_dict(vm.qmp)["events"] is False


def test_unknown_capability(vm, target):
    r = vm.qmp.cmd("migrate-set-capabilities",
                   {"capabilities": [{"capability": "warp-drive", "state": True}]})
    expect_error(r, "Parameter 'capability' does not accept value 'warp-drive'"
                 if target.version == "7.2" else "Invalid parameter 'warp-drive'")


def test_missing_state(vm):
    r = vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [{"capability": "events"}]})
    expect_error(r, "Parameter 'capabilities[0].state' is missing")


def test_state_wrong_type(vm):
    r = vm.qmp.cmd("migrate-set-capabilities",
                   {"capabilities": [{"capability": "events", "state": "yes"}]})
    expect_error(r, "Invalid parameter type for 'capabilities[0].state', expected: boolean")


@pytest.mark.covers("cap:postcopy-ram", "cap:x-ignore-shared")
def test_postcopy_with_ignore_shared(vm):
    r = vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-ram", "state": True},
        {"capability": "x-ignore-shared", "state": True}]})
    expect_error(r, "Postcopy is not compatible with ignore-shared")
    # nothing was applied
    c = caps_dict(vm.qmp)
    assert not c["postcopy-ram"] and not c["x-ignore-shared"]


@pytest.mark.schemas("4.0-dev", reason="4.2 allowed postcopy with compression")
def test_postcopy_with_compress_refused_before_42(vm):
    r = vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-ram", "state": True}, {"capability": "compress", "state": True}]})
    expect_error(r, "Postcopy is not currently compatible with compression")


@pytest.mark.schemas("5.0", "7.2")
def test_postcopy_with_compress_allowed_since_42(vm):
    r = vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "postcopy-ram", "state": True}, {"capability": "compress", "state": True}]})
    expect_ok(r)


@pytest.mark.schemas("5.0", "4.0-dev", reason="QEMU 5.1 and later refuse multifd with "
                     "compress (test_exclusivity_checks_after_50)")
def test_no_exclusivity_checks(vm):
    """4.0/5.0 have no multifd/xbzrle/compress exclusivity checks."""
    multifd = "x-multifd" if "x-multifd" in caps_dict(vm.qmp) else "multifd"
    expect_ok(vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "xbzrle", "state": True}, {"capability": "compress", "state": True},
        {"capability": multifd, "state": True}]}))


@pytest.mark.schemas("7.2", reason="4.0/5.0 have no exclusivity checks "
                     "(test_no_exclusivity_checks)")
def test_exclusivity_checks_after_50(vm):
    expect_error(vm.qmp.cmd("migrate-set-capabilities", {"capabilities": [
        {"capability": "compress", "state": True}, {"capability": "multifd", "state": True}]}),
        "Multifd is not compatible with compress")
    assert not caps_dict(vm.qmp)["multifd"]
