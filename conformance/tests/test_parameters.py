"""migrate-set-parameters / query-migrate-parameters: defaults, checks, texts, quirks."""
import pytest

from lib.expect import expect_error, expect_ok

DEFAULTS_50 = {
    "announce-initial": 50, "announce-max": 550, "announce-rounds": 5, "announce-step": 100,
    "compress-level": 1, "compress-threads": 8, "compress-wait-thread": True,
    "decompress-threads": 2, "throttle-trigger-threshold": 50, "cpu-throttle-initial": 20,
    "cpu-throttle-increment": 10, "tls-creds": "", "tls-hostname": "", "tls-authz": "",
    "max-bandwidth": 33554432, "downtime-limit": 300, "x-checkpoint-delay": 20000,
    "block-incremental": False, "multifd-channels": 2, "xbzrle-cache-size": 67108864,
    "max-postcopy-bandwidth": 0, "max-cpu-throttle": 99, "multifd-compression": "none",
    "multifd-zlib-level": 1, "multifd-zstd-level": 1,
}
DEFAULTS_40DEV = {k: v for k, v in DEFAULTS_50.items()
                  if k not in ("tls-authz", "throttle-trigger-threshold", "multifd-compression",
                               "multifd-zlib-level", "multifd-zstd-level", "multifd-channels")}
DEFAULTS_40DEV.update({"x-multifd-channels": 2, "x-multifd-page-count": 16})

V50 = pytest.mark.schemas("5.0", reason="4.2 added the parameter")
V50_72 = pytest.mark.schemas("5.0", "7.2", reason="4.2 added the parameter")
OLD_INTS = pytest.mark.schemas("5.0", "4.0-dev", reason="QEMU 7.2 declares the parameters "
                               "with their real widths (uint8, uint32, uint64): the input "
                               "visitor rejects what 4.0/5.0 truncated (test_widths_72)")


def params(vm):
    return vm.qmp.call("query-migrate-parameters")


@pytest.mark.covers("command:query-migrate-parameters", "type:MigrationParameters")
@pytest.mark.schemas("5.0", "4.0-dev", reason="7.2 has more parameters "
                     "(test_defaults_72)")
def test_defaults(vm, target):
    want = DEFAULTS_50 if target.version == "5.0" else DEFAULTS_40DEV
    assert params(vm) == want


@pytest.mark.covers("command:migrate-set-parameters", "type:MigrateSetParameters")
def test_set_then_query(vm):
    expect_ok(vm.qmp.cmd("migrate-set-parameters",
                         {"downtime-limit": 123, "max-bandwidth": 1000000,
                          "compress-level": 9, "xbzrle-cache-size": 1 << 20}))
    p = params(vm)
    assert (p["downtime-limit"], p["max-bandwidth"], p["compress-level"],
            p["xbzrle-cache-size"]) == (123, 1000000, 9, 1 << 20)


def test_empty_set_is_fine(vm):
    before = params(vm)
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {}))
    assert params(vm) == before


# (arguments, 4.0/5.0 error text, QEMU 7.2's text where it changed) in QEMU's order of
# checks; every rule of migrate_params_check.  6.0 rewrote several texts ("expects a value
# between"); QEMU's own odd grammar is kept where it was.
CHECKS = [
    ({"compress-level": 10},
     "Parameter 'compress_level' expects is invalid, it should be in the range of 0 to 9",
     "Parameter 'compress_level' expects a value between 0 and 9"),
    ({"compress-threads": 0},
     "Parameter 'compress_threads' expects is invalid, it should be in the range of 1 to 255",
     "Parameter 'compress_threads' expects a value between 1 and 255"),
    ({"decompress-threads": 0},
     "Parameter 'decompress_threads' expects is invalid, it should be in the range of 1 to 255",
     "Parameter 'decompress_threads' expects a value between 1 and 255"),
    ({"cpu-throttle-initial": 0},
     "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99", None),
    ({"cpu-throttle-initial": 100},
     "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99", None),
    ({"cpu-throttle-increment": 0},
     "Parameter 'cpu_throttle_increment' expects an integer in the range of 1 to 99", None),
    ({"downtime-limit": 2000001},
     "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) "
     "milliseconds",
     "Parameter 'downtime_limit' expects an integer in the range of 0 to (2000 * 1000) ms"),
    ({"max-cpu-throttle": 100},
     "Parameter 'max_cpu_throttle' expects an integer in the range of cpu_throttle_initial to "
     "99", None),
    ({"announce-initial": 100001},
     "Parameter 'announce_initial' expects is invalid, it must be less than 100000 ms",
     "Parameter 'announce_initial' expects a value between 0 and 100000"),
    ({"announce-max": 100001},
     "Parameter 'announce_max' expects is invalid, it must be less than 100000 ms",
     "Parameter 'announce_max' expects a value between 0 and 100000"),
    ({"announce-rounds": 1001},
     "Parameter 'announce_rounds' expects is invalid, it must be in the range of 0 to 1000",
     "Parameter 'announce_rounds' expects a value between 0 and 1000"),
    ({"announce-step": 0},
     "Parameter 'announce_step' expects is invalid, it must be in the range of 1 to 10000 ms",
     "Parameter 'announce_step' expects a value between 0 and 10000"),
    ({"announce-step": 10001},
     "Parameter 'announce_step' expects is invalid, it must be in the range of 1 to 10000 ms",
     "Parameter 'announce_step' expects a value between 0 and 10000"),
]


def _id(args):
    return list(args)[0] + "=" + str(list(args.values())[0])


def text_for(target, old, new72):
    return new72 if target.version == "7.2" and new72 is not None else old


@pytest.mark.parametrize("args,text,text72", CHECKS, ids=[_id(a) for a, _, _ in CHECKS])
def test_range_checks(vm, target, args, text, text72):
    before = params(vm)
    expect_error(vm.qmp.cmd("migrate-set-parameters", args), text_for(target, text, text72))
    assert params(vm) == before, "a failed set must change nothing"


XBZRLE_50 = ("Parameter 'xbzrle_cache_size' expects is invalid, it should be bigger than target "
             "page size and a power of 2")
XBZRLE_72 = "Parameter 'xbzrle_cache_size' expects a power of two no less than the target page size"
CHECKS_50 = [
    ({"throttle-trigger-threshold": 0},
     "Parameter 'throttle_trigger_threshold' expects an integer in the range of 1 to 100", None),
    ({"throttle-trigger-threshold": 101},
     "Parameter 'throttle_trigger_threshold' expects an integer in the range of 1 to 100", None),
    ({"multifd-channels": 0},
     "Parameter 'multifd_channels' expects is invalid, it should be in the range of 1 to 255",
     "Parameter 'multifd_channels' expects a value between 1 and 255"),
    ({"xbzrle-cache-size": 4095}, XBZRLE_50, XBZRLE_72),
    ({"xbzrle-cache-size": 3 * 4096}, XBZRLE_50, XBZRLE_72),
]


@V50_72
@pytest.mark.parametrize("args,text,text72", CHECKS_50, ids=[_id(a) for a, _, _ in CHECKS_50])
def test_range_checks_50(vm, target, args, text, text72):
    before = params(vm)
    expect_error(vm.qmp.cmd("migrate-set-parameters", args), text_for(target, text, text72))
    assert params(vm) == before


@pytest.mark.schemas("5.0", reason="QEMU 7.2 ignores both levels in migrate-set-parameters "
                     "(test_multifd_levels_ignored_by_qemu)")
@pytest.mark.parametrize("args,text", [
    ({"multifd-zlib-level": 10},
     "Parameter 'multifd_zlib_level' expects is invalid, it should be in the range of 0 to 9"),
    ({"multifd-zstd-level": 21},
     "Parameter 'multifd_zstd_level' expects is invalid, it should be in the range of 0 to 20"),
], ids=["multifd-zlib-level=10", "multifd-zstd-level=21"])
def test_range_checks_multifd_levels(vm, args, text):
    before = params(vm)
    expect_error(vm.qmp.cmd("migrate-set-parameters", args), text)
    assert params(vm) == before


@pytest.mark.schemas("4.0-dev")
def test_range_checks_40dev(vm):
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"x-multifd-channels": 0}),
                 "Parameter 'multifd_channels' expects is invalid, it should be in the range "
                 "of 1 to 255")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"x-multifd-page-count": 0}),
                 "Parameter 'multifd_page_count' expects is invalid, it should be in the range "
                 "of 1 to 10000")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"x-multifd-page-count": 10001}),
                 "Parameter 'multifd_page_count' expects is invalid, it should be in the range "
                 "of 1 to 10000")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"xbzrle-cache-size": 1000}),
                 "Parameter 'xbzrle_cache_size' expects is invalid, it should be bigger than "
                 "target page size and a power of two")


@OLD_INTS
def test_truncation_before_check(vm):
    """uint8 fields: 257 stores as 1 and passes; 256 stores as 0 and fails."""
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"compress-threads": 257}))
    assert params(vm)["compress-threads"] == 1
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"compress-threads": 256}),
                 "Parameter 'compress_threads' expects is invalid, it should be in the range "
                 "of 1 to 255")
    # -1 becomes 255, above the range
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"cpu-throttle-initial": -1}),
                 "Parameter 'cpu_throttle_initial' expects an integer in the range of 1 to 99")
    # downtime-limit -1 becomes huge
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"downtime-limit": -1}),
                 "Parameter 'downtime_limit' expects an integer in the range of 0 to "
                 "(2000 * 1000) milliseconds")
    # x-checkpoint-delay is uint32: truncated, never checked
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"x-checkpoint-delay": (1 << 32) + 5}))
    assert params(vm)["x-checkpoint-delay"] == 5


def test_max_bandwidth_minus_one_wraps(vm):
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"max-bandwidth": -1}))
    assert params(vm)["max-bandwidth"] == 18446744073709551615


def test_size_accepts_negative(vm):
    """'size' members wrap negative numbers (QEMU keeps this for compatibility)."""
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"max-postcopy-bandwidth": -2}))
    assert params(vm)["max-postcopy-bandwidth"] == 18446744073709551614


def test_merged_validation(vm):
    """Every call validates the merged set: the max_cpu_throttle rule fires."""
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"max-cpu-throttle": 40}))
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"cpu-throttle-initial": 50}),
                 "Parameter 'max_cpu_throttle' expects an integer in the range of "
                 "cpu_throttle_initial to 99")
    assert params(vm)["cpu-throttle-initial"] == 20


def test_first_failure_wins(vm, target):
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"announce-step": 0, "compress-level": 10}),
                 text_for(target, *CHECKS[0][1:]))


def test_tls_null_means_empty(vm):
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"tls-creds": "tls0", "tls-hostname": "h"}))
    assert params(vm)["tls-creds"] == "tls0"
    expect_ok(vm.qmp.cmd("migrate-set-parameters", {"tls-creds": None, "tls-hostname": None}))
    p = params(vm)
    assert p["tls-creds"] == "" and p["tls-hostname"] == ""


@OLD_INTS
def test_wrong_types(vm):
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"downtime-limit": "300"}),
                 "Invalid parameter type for 'downtime-limit', expected: integer")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"compress-wait-thread": 1}),
                 "Invalid parameter type for 'compress-wait-thread', expected: boolean")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"xbzrle-cache-size": "big"}),
                 "Parameter 'xbzrle-cache-size' expects uint64")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"tls-creds": 5}),
                 "Invalid parameter type for 'tls-creds', expected: StrOrNull")
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"bogus": 1}),
                 "Parameter 'bogus' is unexpected")


@V50_72
@pytest.mark.covers("enum:MultiFDCompression.none", "enum:MultiFDCompression.zlib",
                    "enum:MultiFDCompression.zstd")
def test_multifd_compression_enum(vm, target):
    for v in ("zstd", "zlib", "none"):
        expect_ok(vm.qmp.cmd("migrate-set-parameters", {"multifd-compression": v}))
        assert params(vm)["multifd-compression"] == v
    expect_error(vm.qmp.cmd("migrate-set-parameters", {"multifd-compression": "lz4"}),
                 "Parameter 'multifd-compression' does not accept value 'lz4'"
                 if target.version == "7.2" else "Invalid parameter 'lz4'")


@pytest.mark.migbench_only("QEMU 5.0.0 silently ignored these two (docs/quirks.md)")
@V50
def test_multifd_levels_applied(vm):
    expect_ok(vm.qmp.cmd("migrate-set-parameters",
                         {"multifd-zlib-level": 7, "multifd-zstd-level": 19}))
    p = params(vm)
    assert (p["multifd-zlib-level"], p["multifd-zstd-level"]) == (7, 19)


DEFAULTS_72_EXTRA = {"cpu-throttle-tailslow": False, "max-bandwidth": 128 << 20}  # 5.2: 128 MiB/s


@pytest.mark.schemas("7.2", reason="4.0/5.0 defaults: test_defaults")
def test_defaults_72(vm):
    want = dict(DEFAULTS_50, **DEFAULTS_72_EXTRA)
    got = params(vm)
    assert {k: got.get(k) for k in want} == want


@pytest.mark.schemas("7.2", reason="4.0/5.0 truncate instead: test_truncation_before_check")
def test_widths_72(vm):
    before = params(vm)
    for args, text in (({"compress-threads": 257}, "Parameter 'compress-threads' expects uint8_t"),
                       ({"cpu-throttle-initial": -1},
                        "Parameter 'cpu-throttle-initial' expects uint8_t"),
                       ({"x-checkpoint-delay": (1 << 32) + 5},
                        "Parameter 'x-checkpoint-delay' expects uint32_t"),
                       ({"downtime-limit": "300"}, "Parameter 'downtime-limit' expects uint64")):
        expect_error(vm.qmp.cmd("migrate-set-parameters", args), text)
    assert params(vm) == before


@pytest.mark.schemas("7.2", reason="migbench applies them (docs/quirks.md; QEMU 5.0.0 ignored "
                     "them too)")
def test_multifd_levels_ignored_by_qemu(vm):
    before = params(vm)
    expect_ok(vm.qmp.cmd("migrate-set-parameters",
                         {"multifd-zlib-level": 7, "multifd-zstd-level": 19}))
    assert params(vm) == before
