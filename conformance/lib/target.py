"""Targets: how to start a QMP-speaking VM process of some implementation.

A target is either migbench itself (built in: "migbench" = sim guest, "migbench-kvm") or an
external implementation described by a small JSON target file (see targets/README.md), e.g.
real QEMU.  Tests only ever talk QMP to what a target starts, so the same test runs against
any of them."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from .qmp import QMPClient


class Vm:
    """One running VM process with its QMP monitor."""

    def __init__(self, target, argv, qmp_path, log_path, exits_on_incoming_failure):
        self.target = target
        self.argv = argv
        self.qmp_path = qmp_path
        self.log_path = log_path
        self.exits_on_incoming_failure = exits_on_incoming_failure
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, pass_fds=target.pass_fds)
        self._qmp = None

    @property
    def qmp(self):
        if self._qmp is None:
            self._qmp = self.connect()
        return self._qmp

    def connect(self, negotiate=True, oob=False, timeout=20.0):
        """A new QMP connection (the vm must be alive)."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.qmp_path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"vm exited with {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vm never opened {self.qmp_path}: {self.output()}")
            time.sleep(0.01)
        return QMPClient(self.qmp_path, timeout=timeout, negotiate=negotiate, oob=oob)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def wait_exit(self, timeout=30.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Terminates the process and returns its output; a crash or a sanitizer report
        (leak, overflow, undefined behaviour) in a migbench process fails the caller."""
        if self._qmp:
            self._qmp.close()
            self._qmp = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"vm did not exit on SIGTERM: {self.output()[-2000:]}")
        self.log.close()
        return self.output()


class Target:
    def __init__(self, name, schema, vm_argv, incoming=(), paused=(), uuid=(), guest=None,
                 exits_on_incoming_failure=True, is_migbench=False, kvm=False, extra=()):
        self.name = name
        self.schema = schema
        self.vm_argv = list(vm_argv)
        self.incoming_argv = list(incoming)
        self.paused_argv = list(paused)
        self.uuid_argv = list(uuid)
        self.guest = guest
        self.exits_on_incoming_failure = exits_on_incoming_failure
        self.is_migbench = is_migbench
        self.kvm = kvm
        self.extra = list(extra)
        self.pass_fds = ()

    @property
    def v5(self):
        """4.2+/5.0 rules (everything but the 4.0-dev seed)."""
        return self.schema != "4.0-dev"

    def start(self, workdir, name, incoming=None, paused=False, uuid=None, guest=None,
              extra=()):
        qmp_path = os.path.join(workdir, f"{name}.qmp")
        subst = {"qmp": qmp_path, "uri": incoming or "", "uuid": uuid or "",
                 "guest": guest or self.guest or "", "schema": self.schema,
                 "workdir": workdir, "name": name}
        argv = [a.format(**subst) for a in self.vm_argv]
        if incoming is not None:
            argv += [a.format(**subst) for a in self.incoming_argv]
        if paused:
            argv += [a.format(**subst) for a in self.paused_argv]
        if uuid:
            argv += [a.format(**subst) for a in self.uuid_argv]
        argv += list(self.extra) + list(extra)
        return Vm(self, argv, qmp_path, os.path.join(workdir, f"{name}.log"),
                  self.exits_on_incoming_failure)


def migbench_target(binary, schema="5.0", kvm=False, guest=None):
    if guest is None:
        guest = "kvm:mem=64M,vcpus=1,workload=marker" if kvm else \
            "sim:uniform,size=64M,rate=4M,seed=1"
    return Target(
        name="migbench-kvm" if kvm else "migbench",
        schema=schema,
        vm_argv=[binary, "vm", "--qmp", "unix:{qmp}", "--schema", schema, "--guest", "{guest}"],
        incoming=["--incoming", "{uri}"], paused=["-S"], uuid=["--uuid", "{uuid}"],
        guest=guest, exits_on_incoming_failure=False, is_migbench=True, kvm=kvm)


def file_target(path):
    """A target described by a JSON file (targets/README.md)."""
    with open(path) as f:
        d = json.load(f)
    argv0 = d["vm"][0]
    if shutil.which(argv0) is None:
        raise FileNotFoundError(f"{argv0} (from {path}) is not installed")
    return Target(name=d["name"], schema=d["schema"], vm_argv=d["vm"],
                  incoming=d.get("incoming", []), paused=d.get("paused", []),
                  uuid=d.get("uuid", []), guest=None,
                  exits_on_incoming_failure=d.get("exits_on_incoming_failure", True),
                  extra=d.get("extra", []))
