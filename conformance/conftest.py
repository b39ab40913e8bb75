"""pytest configuration of the conformance suite.

Options:
  --target NAME|FILE   migbench (default), migbench-kvm, or a target file (targets/*.json)
  --schema VER|PATH    schema version a migbench target serves (5.0 default, 4.0-dev, PATH)
  --migbench PATH      the migbench binary (default: $MIGBENCH or build/cli/migbench)

Markers:
  @pytest.mark.schemas("5.0", ...)   the test applies only to targets serving these schemas
  @pytest.mark.migbench_only("why")  needs a migbench feature (sim guest, verification, ...)
  @pytest.mark.covers("kind:name", ...)  schema elements the test exercises (coverage matrix)
"""
import os
import tempfile

import pytest

from lib.target import file_target, migbench_target

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pytest_addoption(parser):
    g = parser.getgroup("migbench conformance")
    g.addoption("--target", default="migbench", help="migbench, migbench-kvm or a target file")
    g.addoption("--schema", default="5.0", help="schema served by a migbench target")
    g.addoption("--migbench", default=os.environ.get("MIGBENCH",
                                                     os.path.join(ROOT, "build/cli/migbench")))


def pytest_configure(config):
    config.addinivalue_line("markers", "schemas(*versions): schema versions the test applies to")
    config.addinivalue_line("markers", "migbench_only(reason): needs a migbench-only feature")
    config.addinivalue_line("markers", "covers(*elements): schema elements exercised")
    config.addinivalue_line("markers", "kvm: needs /dev/kvm")


@pytest.fixture(scope="session")
def target(pytestconfig):
    t = pytestconfig.getoption("--target")
    schema = pytestconfig.getoption("--schema")
    if t in ("migbench", "migbench-kvm"):
        binary = pytestconfig.getoption("--migbench")
        if not os.path.exists(binary):
            pytest.exit(f"migbench binary not found at {binary} (build first or --migbench)")
        return migbench_target(binary, schema=schema, kvm=(t == "migbench-kvm"))
    path = t if os.path.exists(t) else os.path.join(HERE, "targets", t + ".json")
    try:
        return file_target(path)
    except FileNotFoundError as e:
        pytest.skip(str(e))


@pytest.fixture(autouse=True)
def _applicability(request, target):
    m = request.node.get_closest_marker("schemas")
    if m and target.schema not in m.args:
        pytest.skip(f"applies to schema {', '.join(m.args)}; {target.name} serves {target.schema}")
    m = request.node.get_closest_marker("migbench_only")
    if m and not target.is_migbench:
        pytest.skip(f"migbench only: {m.args[0] if m.args else 'migbench feature'}")


class VmFactory:
    """Starts VMs of the target in a private directory and stops them all at teardown,
    failing the test if a migbench process crashed or its sanitizers reported anything."""

    def __init__(self, target):
        self.target = target
        self.dir = tempfile.mkdtemp(prefix="mbconf-")
        self.vms = []
        self.n = 0

    def __call__(self, incoming=None, **kw):
        self.n += 1
        vm = self.target.start(self.dir, f"vm{self.n}", incoming=incoming, **kw)
        self.vms.append(vm)
        return vm

    def path(self, name):
        return os.path.join(self.dir, name)

    def close(self):
        problems = []
        for vm in self.vms:
            out = vm.stop()
            rc = vm.proc.returncode
            if self.target.is_migbench:
                bad = [m for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                   "runtime error:") if m in out]
                # -9: killed on purpose by a fault test; sanitizer output is still checked
                if bad or rc not in (0, 1, -9, -15):
                    problems.append(f"{vm.argv}: exit {rc}\n{out[-4000:]}")
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except OSError:
                pass
        os.rmdir(self.dir)
        assert not problems, "vm process problems:\n" + "\n".join(problems)


@pytest.fixture
def vms(target):
    f = VmFactory(target)
    yield f
    f.close()


@pytest.fixture
def vm(vms):
    """One ordinary (source-capable) VM."""
    return vms()
