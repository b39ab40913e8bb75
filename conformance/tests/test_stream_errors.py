"""A destination refuses a bad migration stream with QEMU's error text (spec §7,
docs/stream-format.md) and says where.  The streams are built here byte by byte.

migbench only: a QEMU destination exits with status 1 on the first error, so its text
cannot be read back with query-migrate (migbench stays up and reports it, docs/quirks.md)."""
import struct

import pytest

from lib.expect import wait_status
from lib.target import guest_ram_total

pytestmark = pytest.mark.migbench_only("the destination stays up and reports the error "
                                       "(QEMU exits)")

RAM_SECTION = 2
PAGE = 4096
# RAM record flags
ZERO, MEM_SIZE, PAGE_F, EOS, CONTINUE, XBZRLE, COMPRESS = 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, \
    0x100


def be16(v):
    return struct.pack(">H", v)


def be32(v):
    return struct.pack(">I", v)


def be64(v):
    return struct.pack(">Q", v)


def counted(s):
    s = s.encode()
    return bytes([len(s)]) + s


def header(machine):
    return b"QEVM" + be32(3) + b"\x07" + be32(len(machine)) + machine.encode()


def start(idstr="ram", section=RAM_SECTION, instance=0, version=4):
    return b"\x01" + be32(section) + counted(idstr) + be32(instance) + be32(version)


def footer(section=RAM_SECTION):
    return b"\x7e" + be32(section)


def mem_size(blocks):
    total = sum(size for _, size in blocks)
    out = be64(total | MEM_SIZE)
    for name, size in blocks:
        out += counted(name) + be64(size)
    return out


def record(offset, flags, block=None):
    return be64(offset | flags) + (counted(block) if block is not None else b"")


@pytest.fixture
def load(vms, target):
    """Feeds a stream to a fresh destination; returns its error-desc."""
    def run(stream, guest=None):
        path = vms.path("bad.stream")
        with open(path, "wb") as f:
            f.write(stream)
        dst = vms(incoming=f"exec:cat {path}", guest=guest)
        assert wait_status(dst.qmp, ("failed", "completed")) == "failed", \
            dst.qmp.call("query-migrate")
        info = dst.qmp.call("query-migrate")
        assert "stream offset" in info["error-desc"], info
        return info["error-desc"]
    return run


def machine(target):
    return "migbench-kvm" if target.kvm else "migbench-sim"


def ram_start(target, blocks):
    return header(machine(target)) + start() + mem_size(blocks) + be64(EOS) + footer()


def blocks_of(vms):
    """The RAM blocks of the target's default guest: one 'pc.ram'."""
    return [("pc.ram", guest_ram_total(vms.target.guest))]


def test_unknown_section_type(load, target):
    assert load(header(machine(target)) + b"\x09").startswith(
        "Unknown savevm section type 9")


def test_machine_type_mismatch(load, target):
    other = "migbench-sim" if target.kvm else "migbench-kvm"
    assert load(header(other) + b"\x00").startswith(
        f"Machine type received is '{other}' and local is '{machine(target)}'")


def test_unknown_section(load, target):
    assert load(header(machine(target)) + start("nosuch")).startswith(
        "Unknown savevm section or instance 'nosuch' 0. Make sure that your current VM "
        "setup matches your saved VM setup, including any hotplugged devices")


def test_unsupported_section_version(load, target):
    assert load(header(machine(target)) + start(version=5)).startswith(
        "savevm: unsupported version 5 for 'ram' v4")


def test_missing_footer(load, target, vms):
    stream = header(machine(target)) + start() + mem_size(blocks_of(vms)) + be64(EOS) + b"\x00"
    assert load(stream).startswith("Missing section footer for ram")


def test_mismatched_footer(load, target, vms):
    stream = header(machine(target)) + start() + mem_size(blocks_of(vms)) + be64(EOS) + \
        footer(7)
    assert load(stream).startswith("Mismatched section id in footer for ram - read 0x7 "
                                   "expected 0x2")


def test_unknown_ramblock(load, target):
    stream = header(machine(target)) + start() + mem_size([("nosuch", 1 << 20)])
    assert load(stream).startswith('Unknown ramblock "nosuch", cannot accept migration')


@pytest.mark.parametrize("flags", [ZERO | PAGE_F, 0x01], ids=["zero+page", "full"])
def test_unknown_flag_combination(load, target, vms, flags):
    stream = ram_start(target, blocks_of(vms)) + b"\x02" + be32(RAM_SECTION) + \
        record(0, flags, "pc.ram")
    assert load(stream).startswith(f"Unknown combination of migration flags: {flags:#x}")


def test_continue_without_a_block(load, target, vms):
    stream = ram_start(target, blocks_of(vms)) + b"\x02" + be32(RAM_SECTION) + \
        record(0, ZERO | CONTINUE) + b"\x00"
    assert load(stream).startswith("Ack, bad migration stream!")


def test_xbzrle_wrong_encoding(load, target, vms):
    stream = ram_start(target, blocks_of(vms)) + b"\x02" + be32(RAM_SECTION) + \
        record(0, XBZRLE, "pc.ram") + b"\x02" + be16(4) + b"\x00\x01\x01\x01"
    assert load(stream).startswith("Failed to load XBZRLE page - wrong compression!")


def test_compressed_page_without_the_capability(load, target, vms):
    stream = ram_start(target, blocks_of(vms)) + b"\x02" + be32(RAM_SECTION) + \
        record(0, COMPRESS, "pc.ram") + be32(8) + b"\x78\x9c\x03\x00\x00\x00\x00\x01"
    assert load(stream).startswith("Received an unexpected compressed page")


def test_bad_command_length(load, target):
    stream = header(machine(target)) + b"\x08" + be16(2) + be16(3) + b"\x00\x00\x00"
    assert load(stream).startswith("PING received with bad length - expecting 4, got 3")
