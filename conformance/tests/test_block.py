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
@pytest.mark.covers("cap:block")
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
@pytest.mark.covers("cap:block", "info:disk")
def test_disk_shown_while_cancelling_then_gone(vms):
    """Cancelled block migration: the source's disk is untouched, the figures go away and
    the blk option is undone."""
    src, dst, uri = pair(vms, "empty", params=never_converge(vms))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri, "blk": True}))
    wait_status(src.qmp, "active")
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
