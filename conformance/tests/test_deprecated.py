"""The deprecated commands, as QEMU really behaves (tests/migration-test /migration/deprecated)."""
import pytest

from lib.expect import expect_error, expect_ok

# The four deprecated commands were removed after 5.0 (QEMU 7.2 answers CommandNotFound:
# test_removed_after_50); every test of this file but that one applies to 4.0 and 5.0.
pytestmark = pytest.mark.schemas("5.0", "4.0-dev", reason="the deprecated commands were "
                                 "removed after 5.0")
DEPRECATED = ("migrate_set_downtime", "migrate_set_speed", "migrate-set-cache-size",
              "query-migrate-cache-size")


def params(vm):
    return vm.qmp.call("query-migrate-parameters")


@pytest.mark.covers("command:migrate_set_downtime", "arg:migrate_set_downtime.value")
def test_set_downtime_seconds(vm):
    expect_ok(vm.qmp.cmd("migrate_set_downtime", {"value": 0.12345}))
    assert params(vm)["downtime-limit"] == 123
    expect_ok(vm.qmp.cmd("migrate_set_downtime", {"value": 2}))
    assert params(vm)["downtime-limit"] == 2000


@pytest.mark.parametrize("value", [-1, 2000.5, 3000])
def test_set_downtime_range(vm, value):
    expect_error(vm.qmp.cmd("migrate_set_downtime", {"value": value}),
                 "Parameter 'downtime_limit' expects an integer in the range of 0 to 2000 "
                 "seconds")


def test_set_downtime_type(vm):
    expect_error(vm.qmp.cmd("migrate_set_downtime", {"value": "1"}),
                 "Invalid parameter type for 'value', expected: number")


@pytest.mark.covers("command:migrate_set_speed", "arg:migrate_set_speed.value")
def test_set_speed(vm):
    expect_ok(vm.qmp.cmd("migrate_set_speed", {"value": 12345}))
    assert params(vm)["max-bandwidth"] == 12345


@pytest.mark.covers("command:migrate-set-cache-size", "arg:migrate-set-cache-size.value",
                    "command:query-migrate-cache-size")
def test_cache_size(vm):
    assert vm.qmp.call("query-migrate-cache-size") == 67108864
    expect_ok(vm.qmp.cmd("migrate-set-cache-size", {"value": 4096}))
    assert params(vm)["xbzrle-cache-size"] == 4096
    assert vm.qmp.call("query-migrate-cache-size") == 4096


def test_cache_size_is_not_rounded(vm, target):
    """The schema doc promises rounding down to a power of 2; QEMU rejects instead."""
    expect_error(vm.qmp.cmd("migrate-set-cache-size", {"value": 5000}),
                 "Parameter 'xbzrle_cache_size' expects is invalid, it should be bigger than "
                 "target page size and a power of " + ("2" if target.v5 else "two"))
    assert params(vm)["xbzrle-cache-size"] == 67108864


@pytest.mark.schemas("7.2", reason="4.0 and 5.0 still have them (deprecated)")
@pytest.mark.parametrize("command", DEPRECATED)
def test_removed_after_50(vm, command):
    expect_error(vm.qmp.cmd(command, {"value": 1} if "set" in command else None),
                 f"The command {command} has not been found", cls="CommandNotFound")
