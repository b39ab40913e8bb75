"""Targets: how to start a QMP-speaking VM process of some implementation.

A target is migbench itself (built in: "migbench" = sim guest, "migbench-kvm" = KVM guest)
or an external implementation described by a small JSON target file (targets/README.md),
e.g. real QEMU (targets/qemu.json).  Tests only ever talk QMP to what a target starts, so
the same test runs against any of them.  Every VM gets a recorder (lib/recorder.py) that
checks all of its QMP traffic."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time

from . import qapi
from .qmp import QMPClient
from .recorder import VmRecorder

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.dirname(HERE)

_SIZE = re.compile(r"^(\d+)([KMGT]?)$", re.I)


def parse_size(text):
    m = _SIZE.match(text.strip())
    if not m:
        return None
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def spec_options(spec):
    """'sim:uniform,size=64M,seed=1' -> ('sim', 'uniform', {'size': '64M', 'seed': '1'})."""
    kind, _, rest = spec.partition(":")
    words = rest.split(",") if rest else []
    first = words[0] if words and "=" not in words[0] else ""
    opts = dict(w.split("=", 1) for w in words if "=" in w)
    return kind, first, opts


def guest_ram_total(spec):
    """The RAM of a migbench guest spec, or None when it cannot be told from the spec."""
    kind, first, opts = spec_options(spec)
    if kind == "kvm":
        return parse_size(opts.get("mem", "128M"))
    if kind == "sim":
        if first in ("", "idle", "uniform", "hotspot", "zipf", "seq", "phases") \
                and "file" not in opts:
            return parse_size(opts.get("size", "1G"))
    return None


class Vm:
    """One running VM process with its QMP monitor and its recorder."""

    def __init__(self, target, argv, qmp_path, log_path, incoming, guest, boot):
        self.target = target
        self.argv = argv
        self.qmp_path = qmp_path
        self.log_path = log_path
        self.incoming = incoming
        self.guest = guest
        self.exits_on_incoming_failure = target.exits_on_incoming_failure
        self.recorder = VmRecorder(self, target, incoming)
        self.boot = boot  # {"serial": path, "expect": text} or None
        self.serial = None
        self.ready = boot is None
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, pass_fds=target.pass_fds)
        self._qmp = None
        if boot is not None:
            self._start_guest()

    @property
    def qmp(self):
        if self._qmp is None:
            self._qmp = self.connect()
            self.recorder.primary = self._qmp
        return self._qmp

    def connect(self, negotiate=True, oob=False, timeout=20.0):
        """A new QMP connection (the vm must be alive); the recorder sees its traffic."""
        self._wait_for_path(self.qmp_path, timeout)
        return QMPClient(self.qmp_path, timeout=timeout, negotiate=negotiate, oob=oob,
                         observer=self.recorder)

    def _wait_for_path(self, path, timeout):
        # The process is starting: wait for its socket to appear, with a deadline.
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"vm exited with {self.proc.returncode}: {self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"vm never opened {path}: {self.output()}")
            time.sleep(0.01)

    def _start_guest(self):
        """Targets that boot a real guest start it paused, connect its serial port (so
        nothing it prints is lost), then let it run; ensure_ready() waits for its sign."""
        q = self.qmp
        self._wait_for_path(self.boot["serial"], 20.0)
        self.serial = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.serial.connect(self.boot["serial"])
        q.call("cont")
        q.wait_event("RESUME", timeout=20)
        self.serial_text = b""

    def ensure_ready(self, timeout=60.0):
        """Waits until the guest prints its ready sign (it is dirtying memory from then on);
        called before this VM migrates."""
        if self.ready:
            return
        want = self.boot["expect"].encode()
        deadline = time.monotonic() + timeout
        while want not in self.serial_text:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"guest never printed {want!r} on its serial port "
                                     f"(got {self.serial_text[-200:]!r})")
            self.serial.settimeout(left)
            data = self.serial.recv(4096)
            if not data:
                raise AssertionError(f"serial port closed before {want!r}")
            self.serial_text += data
        self.ready = True

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
        if self.serial:
            self.serial.close()
            self.serial = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30 if self.target.is_migbench else 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                # migbench must always exit on SIGTERM; QEMU may hang in a broken
                # postcopy (its migration thread waits for the lost peer), not our concern
                if self.target.is_migbench:
                    raise AssertionError(f"vm did not exit on SIGTERM: "
                                         f"{self.output()[-2000:]}")
        self.log.close()
        return self.output()


def detect_version(schema_path):
    """Rules a migration.json given as a path follows: 4.0-dev (the seed: x-multifd) or
    5.0 (4.2 and later)."""
    s = qapi.load(schema_path)
    return "4.0-dev" if "x-multifd" in s.enums.get("MigrationCapability", ()) else "5.0"


class Target:
    def __init__(self, name, schema, vm_argv, incoming=(), paused=(), uuid=(), guest=None,
                 exits_on_incoming_failure=True, is_migbench=False, kvm=False, extra=(),
                 missing=None, quirks=(), converge=None, never_converge=None, ram_total=None,
                 stream_overhead=1 << 20, boot=None, elements_schema=None, subst=None,
                 untriggerable=None):
        self.name = name
        self.schema = schema  # what the target serves: "5.0", "4.0-dev", "7.2" or a path
        if os.path.exists(schema):
            self.version = detect_version(schema)
            self.schema_file = os.path.abspath(schema)
        else:
            self.version = schema
            self.schema_file = qapi.builtin_path(elements_schema or schema)
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
        self.missing = dict(missing or {})  # feature -> why this target lacks it
        self.quirks = set(quirks)
        self.converge = dict(converge or {})
        self.never_converge = dict(never_converge or {"downtime-limit": 1,
                                                      "max-bandwidth": 40960})
        self._ram_total = ram_total
        self.stream_overhead = stream_overhead
        self.boot = boot
        self.subst = dict(subst or {})
        # transitions ("side:from>to") this implementation gives no way to trigger on purpose
        self.untriggerable = dict(untriggerable or {})

    @property
    def v5(self):
        """4.2+/5.0 rules (everything but the 4.0-dev seed)."""
        return self.version != "4.0-dev"

    @property
    def qapi(self):
        return qapi.load(self.schema_file)

    def ram_total(self, vm):
        if self._ram_total is not None:
            return self._ram_total
        return guest_ram_total(vm.guest) if vm.guest else None

    def start(self, workdir, name, incoming=None, paused=False, uuid=None, guest=None,
              extra=()):
        qmp_path = os.path.join(workdir, f"{name}.qmp")
        guest = guest or self.guest or ""
        subst = dict(self.subst, qmp=qmp_path, uri=incoming or "", uuid=uuid or "",
                     guest=guest, schema=self.schema, workdir=workdir, name=name)
        argv = [a.format(**subst) for a in self.vm_argv]
        if incoming is not None:
            argv += [a.format(**subst) for a in self.incoming_argv]
        if paused:
            argv += [a.format(**subst) for a in self.paused_argv]
        if uuid:
            argv += [a.format(**subst) for a in self.uuid_argv]
        boot = None
        if self.boot and incoming is None and not paused:
            argv += [a.format(**subst) for a in self.boot.get("argv", [])]
            boot = {"serial": self.boot["serial"].format(**subst),
                    "expect": self.boot["expect"]}
        argv += list(self.extra) + list(extra)
        return Vm(self, argv, qmp_path, os.path.join(workdir, f"{name}.log"), incoming,
                  guest or None, boot)


# Features migbench lacks, from lib/features.py (one place to update when one lands).
def _migbench_missing(kvm=False):
    from .features import MIGBENCH_KVM_MISSING, MIGBENCH_NOT_BUILT, not_built_reason
    missing = {f: not_built_reason(f) for f in MIGBENCH_NOT_BUILT}
    if kvm:
        missing.update(MIGBENCH_KVM_MISSING)
    return missing


def migbench_target(binary, schema="5.0", kvm=False, guest=None):
    if guest is None:
        guest = "kvm:mem=64M,vcpus=1,workload=marker" if kvm else \
            "sim:uniform,size=64M,rate=4M,seed=1"
    return Target(
        name="migbench-kvm" if kvm else "migbench",
        schema=schema,
        vm_argv=[binary, "vm", "--qmp", "unix:{qmp}", "--schema", schema, "--guest", "{guest}"],
        incoming=["--incoming", "{uri}"], paused=["-S"], uuid=["--uuid", "{uuid}"],
        guest=guest, exits_on_incoming_failure=False, is_migbench=True, kvm=kvm,
        missing=_migbench_missing(kvm),
        # Like QEMU, the source shows 'completed' before its final times are computed.
        quirks={"completed-before-times"},
        # The KVM guest rewrites all of its RAM continuously (workload=marker): it converges
        # only when a whole RAM (64 MiB) fits in the downtime at the measured speed, which
        # an ASan build on a busy 2-core machine may bring down to ~100 MB/s.
        converge={"max-bandwidth": 1 << 30, "downtime-limit": 1000} if kvm else {},
        # migbench's device state is a few KiB; the KVM guest's vCPU state a little more.
        stream_overhead=256 << 10)


def file_target(path, subst=None):
    """A target described by a JSON file (targets/README.md).  `subst` adds substitutions
    for its command lines (the conftest provides {guest_image})."""
    with open(path) as f:
        d = json.load(f)
    argv0 = d["vm"][0]
    if shutil.which(argv0) is None:
        raise FileNotFoundError(f"{argv0} (from {path}) is not installed")
    return Target(name=d["name"], schema=d["schema"], vm_argv=d["vm"],
                  incoming=d.get("incoming", []), paused=d.get("paused", []),
                  uuid=d.get("uuid", []), guest=None,
                  exits_on_incoming_failure=d.get("exits_on_incoming_failure", True),
                  extra=d.get("extra", []), missing=d.get("missing", {}),
                  quirks=d.get("quirks", []), converge=d.get("converge"),
                  never_converge=d.get("never_converge"), ram_total=d.get("ram_total"),
                  stream_overhead=d.get("stream_overhead", 1 << 20), boot=d.get("boot"),
                  elements_schema=d.get("elements_schema"), subst=subst,
                  untriggerable=d.get("untriggerable"))
