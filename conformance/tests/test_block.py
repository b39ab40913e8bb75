"""Block migration of disks (migrate blk/inc, the block capability, block-incremental,
zero-blocks): the disk's chunks go with the stream, MigrationInfo.disk reports them while
block migration is active, and the destination checks every disk page.

The tests need a target whose guest has a writable disk that block migration copies: the
sim guest (`disk=` in its spec).  The QEMU target's guest boots from a snapshot drive and
the KVM guest has no disk yet (lib/features.py: both lack "block").

Destination disks (sim `disk-image=`): `empty` is a new zeroed image (what a full copy
fills), `base` an overlay on the shared base image (what block-incremental needs);
verification compares every disk page with the source's, so a chunk that should have been
sent and was not fails the destination."""
import pytest

from lib.expect import expect_error, expect_ok, set_caps, wait_status
from lib.mig import never_converge, prepare_pair

DISK = 64 << 20
# 64 MiB of RAM, a 64 MiB disk "drive0" with data in half of its 1 MiB chunks in the base
# image, written at 1 MiB/s in a 10% working set.
GUEST = "sim:hotspot,size=64M,rate=4M,seed=5,disk=64M,disk-rate=1M,disk-used=50%"


def pair(vms, dst_image, caps=None, params=None, guest=GUEST):
    return prepare_pair(vms, caps=caps, params=params,
                        src_kw={"guest": guest},
                        dst_kw={"guest": f"{guest},disk-image={dst_image}"})


def finish(src, dst):
    assert wait_status(src.qmp, ("completed", "failed", "cancelled")) == "completed", \
        src.qmp.call("query-migrate")
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed", \
        dst.qmp.call("query-migrate")
    return src.qmp.call("query-migrate")


def fast(src):
    src.qmp.call("migrate-set-parameters", {"downtime-limit": 300, "max-bandwidth": 1 << 30})


def check_disk(d):
    assert set(d) >= {"transferred", "remaining", "total"}
    assert d["total"] == DISK
    assert 0 <= d["transferred"] <= d["total"]
    assert d["remaining"] == d["total"] - d["transferred"]


@pytest.mark.feature("block")
@pytest.mark.covers("arg:migrate.blk", "cap:block", "info:disk", "type:MigrationStats")
def test_blk_full_copy(vms):
    """blk: every chunk of the disk goes to a new empty image; MigrationInfo.disk while the
    migration is active, not once it completed; every disk page verified."""
    src, dst, uri = pair(vms, "empty", params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True}))
    wait_status(src.qmp, "active")
    info = src.qmp.call("query-migrate")
    assert info["status"] == "active"
    check_disk(info["disk"])
    fast(src)
    done = finish(src, dst)
    assert "disk" not in done
    # the options were for this migration only
    caps = {c["capability"]: c["state"] for c in src.qmp.call("query-migrate-capabilities")}
    assert caps["block"] is False


@pytest.mark.feature("block")
@pytest.mark.covers("cap:block")
def test_block_capability_copies_disk(vms):
    """The block capability set beforehand does what blk does, and stays set."""
    src, dst, uri = pair(vms, "empty", caps={"block": True})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    finish(src, dst)
    caps = {c["capability"]: c["state"] for c in src.qmp.call("query-migrate-capabilities")}
    assert caps["block"] is True


@pytest.mark.feature("block")
@pytest.mark.covers("arg:migrate.inc", "param:block-incremental", "info:disk")
def test_inc_sends_only_allocated(vms):
    """inc: only chunks written since the shared base go; a destination with the base
    image verifies, one with an empty image does not (what was not sent is missing)."""
    src, dst, uri = pair(vms, "base", params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "inc": True}))
    assert src.qmp.call("query-migrate-parameters")["block-incremental"] is True
    wait_status(src.qmp, "active")
    check_disk(src.qmp.call("query-migrate")["disk"])
    fast(src)
    finish(src, dst)
    assert src.qmp.call("query-migrate-parameters")["block-incremental"] is False

    src2, dst2, uri2 = pair(vms, "empty")
    expect_ok(src2.qmp.cmd("migrate", {"uri": uri2, "inc": True}))
    assert wait_status(dst2.qmp, ("completed", "failed")) == "failed"
    err = dst2.qmp.call("query-migrate")["error-desc"]
    assert "drive0" in err and "differ" in err, err


@pytest.mark.feature("block")
def test_disk_not_migrated_without_block(vms):
    """Without block migration the disk is shared storage: an empty destination image then
    fails verification, which is what the tests above rely on to catch a missing chunk."""
    src, dst, uri = pair(vms, "empty")
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(dst.qmp, ("completed", "failed")) == "failed"
    assert "drive0" in dst.qmp.call("query-migrate")["error-desc"]


def total_bytes(info):
    # completed: mbps is the average over the whole stream (RAM and disk)
    return info["ram"]["mbps"] * 1e6 / 8 * (info["total-time"] - info["setup-time"]) / 1000


@pytest.mark.feature("block")
@pytest.mark.covers("cap:zero-blocks")
def test_zero_blocks_skip_zero_chunks(vms):
    """zero-blocks: the all-zero chunks of the disk (about half of them here) go as a flag
    without their 1 MiB: the same disk arrives with far fewer bytes and in less time."""
    results = {}
    for zb in (False, True):
        src, dst, uri = pair(vms, "empty", caps={"zero-blocks": zb},
                             params={"max-bandwidth": 256 << 20})
        expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True}))
        results[zb] = finish(src, dst)
    off, on = results[False], results[True]
    # ~25 of the 64 chunks are zero in the base image and stay so (writes hit 10%)
    saved = total_bytes(off) - total_bytes(on)
    assert saved > 16 * (1 << 20), (total_bytes(off), total_bytes(on))
    assert on["total-time"] < off["total-time"]
    # RAM is migrated alike
    assert on["ram"]["total"] == off["ram"]["total"]


@pytest.mark.feature("block")
@pytest.mark.covers("arg:migrate.blk", "info:disk")
def test_disk_gone_once_cancelled(vms):
    """Cancelled block migration: the disk figures go away with it."""
    src, dst, uri = pair(vms, "empty", params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True}))
    wait_status(src.qmp, "active")
    check_disk(src.qmp.call("query-migrate")["disk"])
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, ("cancelled", "failed")) == "cancelled"
    info = src.qmp.call("query-migrate")
    assert "disk" not in info


@pytest.mark.feature("block")
@pytest.mark.covers("arg:migrate.blk", "arg:migrate.inc")
def test_blk_inc_errors(vm):
    """QEMU's checks: blk/inc while block or block-incremental is already set."""
    set_caps(vm.qmp, block=True)
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/nonexistent", "inc": True}),
                 "Command options are incompatible with current migration capabilities")
    set_caps(vm.qmp, block=False)
    vm.qmp.call("migrate-set-parameters", {"block-incremental": True})
    expect_error(vm.qmp.cmd("migrate", {"uri": "unix:/nonexistent", "blk": True}),
                 "Command options are incompatible with current migration capabilities")
    assert vm.qmp.call("query-migrate-parameters")["block-incremental"] is True


# ---- named dirty bitmaps (block-dirty-bitmap-add/-remove, query-block, dirty-bitmaps) ----

def bitmaps(vm, device="drive0"):
    for b in vm.qmp.call("query-block"):
        if b["device"] == device:
            return {x["name"]: x for x in b.get("dirty-bitmaps", [])}
    raise AssertionError(f"no device {device} in query-block")


@pytest.mark.feature("block")
@pytest.mark.covers("command:block-dirty-bitmap-add", "arg:block-dirty-bitmap-add.node",
                    "arg:block-dirty-bitmap-add.name", "arg:block-dirty-bitmap-add.granularity",
                    "arg:block-dirty-bitmap-add.disabled", "command:query-block",
                    "command:block-dirty-bitmap-remove", "arg:block-dirty-bitmap-remove.node",
                    "arg:block-dirty-bitmap-remove.name", "type:BlockDirtyInfo")
def test_dirty_bitmap_add_query_remove(vms):
    vm = vms(guest=GUEST)
    expect_ok(vm.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "b0"}))
    expect_ok(vm.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "off",
                                                    "granularity": 1 << 20, "disabled": True}))
    blk = vm.qmp.call("query-block")
    assert [b["device"] for b in blk] == ["drive0"]
    assert blk[0]["type"] == "unknown" and blk[0]["removable"] is False
    # newest first, as QEMU lists them
    assert [x["name"] for x in blk[0]["dirty-bitmaps"]] == ["off", "b0"]
    bm = bitmaps(vm)
    assert bm["b0"]["granularity"] == 65536 and bm["off"]["granularity"] == 1 << 20
    assert bm["b0"]["recording"] is True and bm["b0"]["status"] == "active"
    assert bm["off"]["recording"] is False and bm["off"]["status"] == "disabled"
    assert bm["b0"]["busy"] is False and bm["b0"]["persistent"] is False
    assert bm["off"]["count"] == 0
    expect_ok(vm.qmp.cmd("block-dirty-bitmap-remove", {"node": "drive0", "name": "off"}))
    assert set(bitmaps(vm)) == {"b0"}
    expect_ok(vm.qmp.cmd("block-dirty-bitmap-remove", {"node": "drive0", "name": "b0"}))
    assert "dirty-bitmaps" not in vm.qmp.call("query-block")[0]


@pytest.mark.feature("block")
@pytest.mark.covers("command:block-dirty-bitmap-add", "arg:block-dirty-bitmap-add.persistent",
                    "command:block-dirty-bitmap-remove")
def test_dirty_bitmap_errors(vms):
    """QEMU 5.0's checks and texts, in its order."""
    vm = vms(guest=GUEST)
    add = lambda **a: vm.qmp.cmd("block-dirty-bitmap-add", a)
    expect_error(add(node="drive0", name=""), "Bitmap name cannot be empty")
    expect_error(add(node="nodisk", name="b"),
                 "Cannot find device=nodisk nor node_name=nodisk")
    expect_error(add(node="drive0", name="b", granularity=1000),
                 "Granularity must be power of 2 and at least 512")
    expect_error(add(node="drive0", name="b", granularity=256),
                 "Granularity must be power of 2 and at least 512")
    expect_error(add(node="drive0", name="b", persistent=True),
                 "Can't store persistent bitmaps to drive0: Operation not supported")
    expect_ok(add(node="drive0", name="b", granularity=512))
    expect_error(add(node="drive0", name="b"), "Bitmap already exists: b")
    rm = lambda **a: vm.qmp.cmd("block-dirty-bitmap-remove", a)
    expect_error(rm(node="nodisk", name="b"), "Node 'nodisk' not found")
    expect_error(rm(node="drive0", name="zz"), "Dirty bitmap 'zz' not found")


@pytest.mark.feature("block")
@pytest.mark.covers("cap:dirty-bitmaps", "command:query-block")
def test_dirty_bitmaps_migrated(vms):
    """dirty-bitmaps: the named bitmaps of the disk arrive with their bits, granularity and
    recording state; busy (not removable) on the source while the migration carries
    them."""
    src, dst, uri = pair(vms, "shared", caps={"dirty-bitmaps": True},
                         params=never_converge(vms))
    expect_ok(src.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "rec"}))
    expect_ok(src.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "fine",
                                                     "granularity": 4096}))
    expect_ok(src.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "off",
                                                     "disabled": True}))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    wait_status(src.qmp, "active")
    st = bitmaps(src)
    assert st["rec"]["busy"] is True and st["rec"]["status"] == "locked"
    expect_error(src.qmp.cmd("block-dirty-bitmap-remove", {"node": "drive0", "name": "rec"}),
                 "Bitmap 'rec' is currently in use by another operation and cannot be used")
    fast(src)
    finish(src, dst)
    want = bitmaps(src)  # the guest is stopped: nothing changes any more
    got = bitmaps(dst)
    assert set(got) == {"rec", "fine", "off"}
    assert want["rec"]["count"] > 0  # the guest wrote its disk meanwhile
    for n in ("rec", "fine", "off"):
        assert got[n]["count"] == want[n]["count"], (n, got[n], want[n])
        assert got[n]["granularity"] == want[n]["granularity"]
        assert got[n]["recording"] == want[n]["recording"]
        assert got[n]["busy"] is False
    assert got["off"]["count"] == 0 and got["off"]["recording"] is False
    # no longer busy on the source
    assert bitmaps(src)["rec"]["busy"] is False
    expect_ok(src.qmp.cmd("block-dirty-bitmap-remove", {"node": "drive0", "name": "rec"}))


@pytest.mark.feature("block")
@pytest.mark.covers("cap:dirty-bitmaps")
def test_dirty_bitmap_name_taken_on_destination(vms):
    src, dst, uri = pair(vms, "shared", caps={"dirty-bitmaps": True})
    for vm in (src, dst):
        expect_ok(vm.qmp.cmd("block-dirty-bitmap-add", {"node": "drive0", "name": "b"}))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    assert wait_status(dst.qmp, ("completed", "failed")) == "failed"
    assert "Bitmap with the same name ('b') already exists on destination" in \
        dst.qmp.call("query-migrate")["error-desc"]


@pytest.mark.feature("block")
@pytest.mark.covers("info:disk", "status:pre-switchover", "cap:pause-before-switchover")
def test_disk_shown_in_pre_switchover(vms):
    """The disk figures stay while the source waits before switchover (block migration
    has not sent its last chunks yet), and are gone once completed."""
    src, dst, uri = pair(vms, "empty", caps={"pause-before-switchover": True})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True}))
    wait_status(src.qmp, "pre-switchover")
    info = src.qmp.call("query-migrate")
    check_disk(info["disk"])
    expect_ok(src.qmp.cmd("migrate-continue", {"state": "pre-switchover"}))
    assert "disk" not in finish(src, dst)


@pytest.mark.covers("command:block-dirty-bitmap-add", "command:block-dirty-bitmap-remove",
                    "command:query-block")
def test_dirty_bitmap_unknown_node(vm, target):
    """On every target: a node that does not exist.  QEMU 6.0 quoted the names in
    bdrv_lookup_bs's text; the 4.0/5.0 text is what migbench serves."""
    assert isinstance(vm.qmp.call("query-block"), list)
    e = expect_error(vm.qmp.cmd("block-dirty-bitmap-add", {"node": "nodisk", "name": "b"}))
    if target.is_migbench:
        assert e["desc"] == "Cannot find device=nodisk nor node_name=nodisk"
    else:
        assert e["desc"] in ("Cannot find device=nodisk nor node_name=nodisk",
                             "Cannot find device='nodisk' nor node-name='nodisk'")
    expect_error(vm.qmp.cmd("block-dirty-bitmap-remove", {"node": "nodisk", "name": "b"}),
                 "Node 'nodisk' not found")
