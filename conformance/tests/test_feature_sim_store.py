"""The sim destination's two stores (docs/sim.md): store=mem holds the received pages,
store=model a digest per page, so a large guest migrates without its size in host memory.
Both verify every page."""
import pytest

from lib.expect import set_caps, wait_status
from lib.mig import incoming_uri, outgoing_uri

pytestmark = pytest.mark.migbench_only("the sim guest's destination store")


def rss_peak_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def migrate(vms, guest, caps=None, params=None):
    dst = vms(incoming="defer", guest=guest)
    src = vms(guest=guest)
    for vm in (src, dst):
        set_caps(vm.qmp, events=True, **(caps or {}))
    src.qmp.call("migrate-set-parameters", params or {"max-bandwidth": 8 << 30,
                                                      "downtime-limit": 300})
    dst.qmp.call("migrate-incoming", {"uri": incoming_uri(vms, "unix")})
    src.qmp.call("migrate", {"uri": outgoing_uri(vms, "unix", dst)})
    return src, dst


@pytest.mark.parametrize("store", ["model", "mem"])
def test_large_guest_verified_in_either_store(vms, store):
    """A 1 GiB guest of incompressible pages: the destination verifies every page; in
    model it stays far below the guest's size (a digest per page)."""
    src, dst = migrate(vms, f"sim:uniform,size=1G,rate=64M,init=random,store={store}")
    assert wait_status(src.qmp, ("completed", "failed"), timeout=120) == "completed"
    assert wait_status(dst.qmp, ("completed", "failed"), timeout=120) == "completed"
    ram = src.qmp.call("query-migrate")["ram"]
    assert ram["normal"] >= 262144, ram  # every page went in full and was verified
    if store == "model":
        assert rss_peak_kib(dst.proc.pid) < 400 * 1024


def test_xbzrle_needs_a_memory_store(vms):
    """XBZRLE deltas need the previous bytes: a model destination fails the migration with a
    message saying so, instead of accepting pages it cannot check."""
    src, dst = migrate(vms, "sim:hotspot,size=64M,rate=400M,hot=2%,store=model",
                       caps={"xbzrle": True},
                       params={"max-bandwidth": 32 << 20, "downtime-limit": 1})
    assert wait_status(dst.qmp, ("completed", "failed"), timeout=120) == "failed"
    desc = dst.qmp.call("query-migrate")["error-desc"]
    assert desc.startswith("XBZRLE pages need a destination guest that holds its memory"), desc
    assert wait_status(src.qmp, ("completed", "failed", "cancelled"), timeout=60) == "failed"
    assert src.qmp.call("query-status")["status"] == "running"
