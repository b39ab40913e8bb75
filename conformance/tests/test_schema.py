"""The served schema: the commands, events, capabilities and parameters a target serves are
exactly those of its schema version (QEMU 7.2: a superset of 5.0's, less what it removed).

The reference is the schema file itself (schema/migration-*.json, or --schema PATH), read by
lib/qapi.py, so `--schema 4.0-dev`, `--schema 5.0` and a schema given as a path are each
checked against their own sets."""
import pytest

from lib.expect import caps_dict, expect_error, expect_ok
from lib.introspect import Introspection

REMOVED_BY_72 = {"migrate_set_downtime", "migrate_set_speed", "migrate-set-cache-size",
                 "query-migrate-cache-size"}
# Arguments QEMU 7.2 no longer has: object-add's 'props' (6.0 made the properties flat
# arguments of a union on qom-type).
ARGS_REMOVED_BY_72 = {("object-add", "props")}


def exact(target):
    """migbench serves exactly its schema; QEMU 7.2 serves more (newer QEMU)."""
    return target.version != "7.2"


def expected_commands(target):
    want = set(target.qapi.commands)
    if target.version == "7.2":
        want -= REMOVED_BY_72
    return want


def in_order(sub, seq):
    it = iter(seq)
    return all(x in it for x in sub)


@pytest.mark.covers("command:query-commands")
def test_commands_are_the_schemas(vm, target):
    served = {c["name"] for c in vm.qmp.call("query-commands")}
    want = expected_commands(target)
    assert want <= served, f"missing commands: {sorted(want - served)}"
    if exact(target):
        assert served == want, f"commands not in the schema: {sorted(served - want)}"


@pytest.fixture
def intro(vm):
    return Introspection(vm.qmp.call("query-qmp-schema"))


@pytest.mark.covers("command:query-qmp-schema")
def test_introspected_commands_and_arguments(intro, target):
    schema = target.qapi
    want = expected_commands(target)
    assert want <= set(intro.commands), sorted(want - set(intro.commands))
    if exact(target):
        assert set(intro.commands) == want
    for name in sorted(want):
        got = {m: opt for m, _, opt in intro.command_args(name)}
        exp = {m.name: m.optional for m in schema.commands[name]["args"]}
        if target.version == "7.2":
            exp = {m: o for m, o in exp.items() if (name, m) not in ARGS_REMOVED_BY_72}
        if exact(target):
            assert got == exp, f"{name}: arguments {got} != schema {exp}"
        else:
            assert all(got.get(m) == o for m, o in exp.items()), f"{name}: {got} vs {exp}"


def test_introspected_events(intro, target):
    schema = target.qapi
    assert set(schema.events) <= set(intro.events)
    if exact(target):
        assert set(intro.events) == set(schema.events)
    for name, d in schema.events.items():
        got = [m for m, _, _ in intro.event_args(name)]
        assert got[:len(d["args"])] == [m.name for m in d["args"]], name


def test_introspected_enums_and_structs(intro, target):
    s = target.qapi
    checks = [("MigrationStatus", intro.migration_status(), s.enums["MigrationStatus"]),
              ("MigrationCapability", intro.migration_capability(),
               s.enums["MigrationCapability"]),
              ("MigrationParameters", intro.migration_parameters(),
               s.member_names("MigrationParameters")),
              ("MigrateSetParameters", intro.migrate_set_parameters(),
               s.member_names("MigrateSetParameters")),
              ("MigrationInfo", intro.migration_info(), s.member_names("MigrationInfo")),
              ("MigrationStats", intro.migration_stats(), s.member_names("MigrationStats"))]
    for name, got, want in checks:
        if exact(target):
            assert got == want, f"{name}: served {got}\n  schema {want}"
        else:
            assert in_order(want, got), f"{name}: served {got}\n  lacks {want}"


@pytest.mark.covers("command:query-migrate-capabilities")
def test_capabilities_are_the_schemas_in_order(vm, target):
    got = [c["capability"] for c in vm.qmp.call("query-migrate-capabilities")]
    want = target.qapi.enums["MigrationCapability"]
    if exact(target):
        assert got == want
    else:
        assert in_order(want, got), f"{got} lacks {want}"


@pytest.mark.covers("command:query-migrate-parameters")
def test_parameters_are_the_schemas(vm, target):
    got = set(vm.qmp.call("query-migrate-parameters"))
    want = set(target.qapi.member_names("MigrationParameters"))
    assert want <= got, f"missing parameters: {sorted(want - got)}"
    if exact(target):
        assert got == want, f"parameters not in the schema: {sorted(got - want)}"


def test_parameter_enum_names_the_parameters(target):
    """MigrationParameter (the enum, used by HMP) names exactly the MigrationParameters
    members; no QMP command uses it, so this is how the suite covers its values."""
    s = target.qapi
    assert sorted(s.enums["MigrationParameter"]) == sorted(s.member_names("MigrationParameters"))
    assert set(s.member_names("MigrateSetParameters")) == set(
        s.member_names("MigrationParameters"))


def test_capability_can_be_set_and_read_back(vm, capability, target):
    """Each capability alone: on, read back, the others untouched, off again."""
    before = caps_dict(vm.qmp)
    r = vm.qmp.cmd("migrate-set-capabilities",
                   {"capabilities": [{"capability": capability, "state": True}]})
    if capability == "x-colo" and target.version == "7.2" and "error" in r:
        pytest.skip("this QEMU is built without replication")
    expect_ok(r)
    after = caps_dict(vm.qmp)
    assert after[capability] is True
    assert {k: v for k, v in after.items() if k != capability} == \
        {k: v for k, v in before.items() if k != capability}
    expect_ok(vm.qmp.cmd("migrate-set-capabilities",
                         {"capabilities": [{"capability": capability, "state": False}]}))
    assert caps_dict(vm.qmp) == before


# A valid value different from the default, per parameter (every parameter of every shipped
# schema must have one: a new parameter fails here until it gets one).
NEW_VALUES = {
    "announce-initial": 60, "announce-max": 600, "announce-rounds": 6, "announce-step": 200,
    "compress-level": 5, "compress-threads": 4, "compress-wait-thread": False,
    "decompress-threads": 3, "throttle-trigger-threshold": 60, "cpu-throttle-initial": 30,
    "cpu-throttle-increment": 15, "tls-creds": "tls0", "tls-hostname": "example.org",
    "tls-authz": "authz0", "max-bandwidth": 33554433, "downtime-limit": 400,
    "x-checkpoint-delay": 30000, "block-incremental": True, "multifd-channels": 4,
    "x-multifd-channels": 4, "x-multifd-page-count": 32, "xbzrle-cache-size": 1 << 27,
    "max-postcopy-bandwidth": 1 << 20, "max-cpu-throttle": 90, "multifd-compression": "zlib",
    "multifd-zlib-level": 5, "multifd-zstd-level": 5,
}


def test_parameter_can_be_set_and_read_back(vm, parameter, target):
    assert parameter in NEW_VALUES, f"no test value for parameter {parameter}"
    if target.version == "7.2" and parameter in ("multifd-zlib-level", "multifd-zstd-level"):
        pytest.skip("QEMU 7.2 ignores this parameter in migrate-set-parameters "
                    "(test_multifd_levels_ignored_by_qemu)")
    before = vm.qmp.call("query-migrate-parameters")
    value = NEW_VALUES[parameter]
    assert before[parameter] != value
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {parameter: value}))
    after = vm.qmp.call("query-migrate-parameters")
    assert after[parameter] == value
    assert {k: v for k, v in after.items() if k != parameter} == \
        {k: v for k, v in before.items() if k != parameter}


def test_parameter_not_in_schema_is_refused(vm, target):
    """A parameter of the other shipped version is unknown here."""
    other = {"4.0-dev": "multifd-channels"}.get(target.version, "x-multifd-page-count")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {other: 4}),
                 f"Parameter '{other}' is unexpected")


def test_capability_not_in_schema_is_refused(vm, target):
    other = {"4.0-dev": "multifd"}.get(target.version, "x-multifd")
    r = vm.qmp.cmd("migrate-set-capabilities",
                   {"capabilities": [{"capability": other, "state": True}]})
    expect_error(r, f"Parameter 'capability' does not accept value '{other}'"
                 if target.version == "7.2" else f"Invalid parameter '{other}'")
