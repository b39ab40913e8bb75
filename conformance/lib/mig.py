"""Helpers to set up migrations between two VMs of a target."""
import os
import socket

from .expect import set_caps

# Keeps a migration active until the test changes it: the link is throttled to one page
# per 100 ms window and the downtime limit is too small to ever switch over.
NEVER_CONVERGE = {"downtime-limit": 1, "max-bandwidth": 40960}


def incoming_uri(vms, transport):
    if transport == "unix":
        return f"unix:{vms.path('mig.sock')}"
    if transport == "tcp":
        return "tcp:127.0.0.1:0"
    if transport == "tcp6":
        return "tcp:[::1]:0"
    if transport == "exec":
        fifo = vms.path("mig.fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        return f"exec:cat {fifo}"
    raise ValueError(transport)


def outgoing_uri(vms, transport, dst):
    if transport == "unix":
        return f"unix:{vms.path('mig.sock')}"
    if transport in ("tcp", "tcp6"):
        sa = dst.qmp.call("query-migrate")["socket-address"][0]
        host = sa["host"] if transport == "tcp" else f"[{sa['host']}]"
        return f"tcp:{host}:{sa['port']}"
    if transport == "exec":
        return f"exec:cat > {vms.path('mig.fifo')}"
    raise ValueError(transport)


def prepare_pair(vms, caps=None, params=None, dst_params=None, transport="unix", src_kw=None,
                 dst_kw=None):
    """Starts a destination (-incoming defer) and a source, with events on both and the
    given capabilities on both, parameters on the source (and dst_params on the
    destination).  Returns (src, dst, outgoing uri) with the destination listening."""
    dst = vms(incoming="defer", **(dst_kw or {}))
    src = vms(**(src_kw or {}))
    for vm in (src, dst):
        set_caps(vm.qmp, events=True, **(caps or {}))
    if params:
        src.qmp.call("migrate-set-parameters", params)
    if dst_params:
        dst.qmp.call("migrate-set-parameters", dst_params)
    dst.qmp.call("migrate-incoming", {"uri": incoming_uri(vms, transport)})
    return src, dst, outgoing_uri(vms, transport, dst)


def start_pair(vms, **kw):
    src, dst, uri = prepare_pair(vms, **kw)
    src.qmp.call("migrate", {"uri": uri})
    return src, dst


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
