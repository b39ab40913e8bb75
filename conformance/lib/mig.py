"""Helpers to set up migrations between two VMs of a target.

Parameter sets come from the target: `target.converge` makes a migration of its guest
complete (empty for the sim guest, whose defaults converge in a few passes; a fast link for
guests that rewrite all of their RAM), `target.never_converge` keeps it active until the
test changes it (a link of ten pages a second and a 1 ms downtime limit: QEMU's own
migration-test recipe)."""
import os

from .expect import set_caps, wait_status


def never_converge(vms):
    return dict(vms.target.never_converge)


def converge(vms):
    """Parameters that make a migration of the target's guest complete (from any state)."""
    p = {"downtime-limit": 300, "max-bandwidth": 1 << 30}
    p.update(vms.target.converge)
    return p


def incoming_uri(vms, transport, name="mig"):
    if transport == "unix":
        return f"unix:{vms.path(name + '.sock')}"
    if transport == "tcp":
        return "tcp:127.0.0.1:0"
    if transport == "tcp6":
        return "tcp:[::1]:0"
    if transport == "exec":
        fifo = vms.path(name + ".fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        return f"exec:cat {fifo}"
    raise ValueError(transport)


def outgoing_uri(vms, transport, dst, name="mig"):
    if transport == "unix":
        return f"unix:{vms.path(name + '.sock')}"
    if transport in ("tcp", "tcp6"):
        sa = dst.qmp.call("query-migrate")["socket-address"][0]
        host = sa["host"] if transport == "tcp" else f"[{sa['host']}]"
        return f"tcp:{host}:{sa['port']}"
    if transport == "exec":
        return f"exec:cat > {vms.path(name + '.fifo')}"
    raise ValueError(transport)


def prepare_pair(vms, caps=None, params=None, dst_params=None, transport="unix", src_kw=None,
                 dst_kw=None, name="mig", src=None):
    """Starts a destination (-incoming defer) and a source (or uses `src`), with events on
    both and the given capabilities on both, parameters on the source (the target's
    converging set, overridden by `params`) and dst_params on the destination.  Returns (src, dst,
    outgoing uri) with the destination listening."""
    dst = vms(incoming="defer", **(dst_kw or {}))
    if src is None:
        src = vms(**(src_kw or {}))
    for vm in (src, dst):
        set_caps(vm.qmp, events=True, **(caps or {}))
    # The target's converging set underlies whatever the test asks for: a test that sets
    # only a capability's parameters still needs a link its guest can converge on.  A test
    # that brings its own (sim) guest brings that guest's defaults too.
    own_guest = "guest" in (src_kw or {})
    src_params = {} if own_guest else dict(vms.target.converge)
    src_params.update(params or {})
    if src_params:
        src.qmp.call("migrate-set-parameters", src_params)
    if dst_params:
        dst.qmp.call("migrate-set-parameters", dst_params)
    dst.qmp.call("migrate-incoming", {"uri": incoming_uri(vms, transport, name)})
    return src, dst, outgoing_uri(vms, transport, dst, name)


def start_pair(vms, **kw):
    src, dst, uri = prepare_pair(vms, **kw)
    src.qmp.call("migrate", {"uri": uri})
    return src, dst


def finish_pair(src, dst):
    """Waits for both sides to end; asserts both completed (the recorder has checked the
    events, the replies and the statistics on the way)."""
    st = wait_status(src.qmp, ("completed", "failed", "cancelled"))
    assert st == "completed", src.qmp.call("query-migrate")
    st = wait_status(dst.qmp, ("completed", "failed"))
    assert st == "completed", dst.qmp.call("query-migrate")


def migrate_again(vms, src, name, params=None):
    """A second migration of `src` to a new destination; returns the destination."""
    p = converge(vms) if params is None else params
    _, dst, uri = prepare_pair(vms, src=src, params=p, name=name)
    src.qmp.call("migrate", {"uri": uri})
    finish_pair(src, dst)
    return dst


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0
