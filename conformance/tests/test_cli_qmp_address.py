"""`migbench vm --qmp` with QEMU's socket options (docs/qmp.md): a QEMU command line's
`unix:PATH,server,nowait` / `server=on,wait=off` serve a monitor at PATH itself; waiting
for a client before the guest starts (`server` without `nowait`) and `server=off` are
refused with a message saying why; an unknown option is named."""
import os
import select
import subprocess
import time

import pytest

from lib.qmp import QMPClient

pytestmark = pytest.mark.migbench_only("migbench's own command line")


def start_vm(target, addr):
    return subprocess.Popen([target.vm_argv[0], "vm", "--qmp", addr, "--guest", "sim:idle"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(stream, timeout=20.0):
    """The first line the vm prints, waiting on the pipe with a deadline."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, "the vm printed nothing"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            c = os.read(stream.fileno(), 1)  # unbuffered: select() sees what is left
            if not c:
                break
            line += c
    return line.decode().strip()


@pytest.mark.parametrize("opts", [",server,nowait", ",server=on,wait=off", ",nowait,server"])
def test_qemu_socket_options_serve_the_path(target, tmp_path, opts):
    sock = tmp_path / "q.sock"
    vm = start_vm(target, f"unix:{sock}{opts}")
    try:
        assert first_line(vm.stdout) == f"qmp: unix:{sock}"
        assert sorted(os.listdir(tmp_path)) == ["q.sock"]  # no "q.sock,server,nowait"
        c = QMPClient(str(sock))
        assert c.call("query-status")["status"] == "running"
        c.close()
    finally:
        vm.terminate()
        vm.wait(30)


@pytest.mark.parametrize("opts,why", [
    (",server", "waiting for a client before the guest starts is not supported"),
    (",server=on,wait=on", "waiting for a client before the guest starts is not supported"),
    (",server=off", "always a server"),
    (",server,nowait,reconnect=1", "unknown option 'reconnect=1'"),
    (",wait=maybe", "option 'wait' expects 'on' or 'off'"),
])
def test_refused_options_are_explained(target, tmp_path, opts, why):
    vm = start_vm(target, f"unix:{tmp_path}/q.sock{opts}")
    out, err = vm.communicate(timeout=30)
    assert vm.returncode == 1, (out, err)
    assert why in err, err
    assert os.listdir(tmp_path) == []
