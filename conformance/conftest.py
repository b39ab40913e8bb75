"""pytest configuration of the conformance suite (docs/conformance.md).

Options:
  --target NAME|FILE   migbench (default), migbench-kvm, or a target file (targets/*.json)
  --schema VER|PATH    schema a migbench target serves (5.0 default, 4.0-dev, or a path)
  --migbench PATH      the migbench binary (default: $MIGBENCH or build/cli/migbench)
  --results FILE       write per-test results and coverage for the matrix (matrix.py)

Markers:
  @pytest.mark.schemas("5.0", ..., reason="...")  applies only to targets following these
                       schema versions' rules ("5.0", "4.0-dev", "7.2" for QEMU 7.2); the
                       reason says why the others differ
  @pytest.mark.migbench_only("why")  needs a migbench feature (verification, ...)
  @pytest.mark.sim_only("why")       needs migbench's simulated guest (exact figures, seeds)
  @pytest.mark.feature("postcopy")   needs a feature (lib/features.py); skipped, with the
                       reason, on targets without it ("not built yet" in migbench)
  @pytest.mark.covers("kind:name", ...)  schema elements the test exercises (lib/elements.py);
                       the traffic must show each claimed element of the served schema

Every QMP exchange of every test is checked by lib/recorder.py (state machine, query-migrate
shape and statistics); the fixtures below wire it in.
"""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from lib import elements, recorder, statemachine
from lib.target import file_target, migbench_target

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def pytest_addoption(parser):
    g = parser.getgroup("migbench conformance")
    g.addoption("--target", default="migbench", help="migbench, migbench-kvm or a target file")
    g.addoption("--schema", default="5.0", help="schema served by a migbench target")
    g.addoption("--migbench", default=os.environ.get("MIGBENCH",
                                                     os.path.join(ROOT, "build/cli/migbench")))
    g.addoption("--results", default=None, help="write results for conformance/matrix.py")


def pytest_configure(config):
    for line in ("schemas(*versions, reason=None): schema rules the test applies to",
                 "migbench_only(reason): needs a migbench-only feature",
                 "sim_only(reason): needs migbench's simulated guest",
                 "feature(name): needs a feature (lib/features.py)",
                 "covers(*elements): schema elements exercised (lib/elements.py)",
                 "kvm: needs /dev/kvm"):
        config.addinivalue_line("markers", line)


# ---- the target ----

def guest_image(config):
    """The dirtying firmware image for real-QEMU targets: the one meson built next to the
    migbench binary, else assembled here from guests/dirty-bios.S."""
    binary = config.getoption("--migbench")
    built = os.path.join(os.path.dirname(os.path.dirname(binary)), "conformance",
                         "dirty-bios.img")
    if os.path.exists(built):
        return built
    out = os.path.join(tempfile.gettempdir(), f"mbconf-dirty-bios-{os.getuid()}.img")
    src = os.path.join(HERE, "guests", "dirty-bios.S")
    obj = out + ".o"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-c", src, "-o", obj], check=True)
    subprocess.run(["objcopy", "-O", "binary", "-j", ".text", obj, out], check=True)
    os.unlink(obj)
    return out


def make_target(config):
    t = config.getoption("--target")
    schema = config.getoption("--schema")
    if t in ("migbench", "migbench-kvm"):
        binary = config.getoption("--migbench")
        if not os.path.exists(binary):
            pytest.exit(f"migbench binary not found at {binary} (build first or --migbench)")
        return migbench_target(binary, schema=schema, kvm=(t == "migbench-kvm"))
    path = t if os.path.exists(t) else os.path.join(HERE, "targets", t + ".json")
    subst = {}
    with open(path) as f:
        if "{guest_image}" in f.read():
            subst["guest_image"] = guest_image(config)
    return file_target(path, subst)


def config_target(config):
    """The target of this session, made once (None if its program is not installed)."""
    if not hasattr(config, "_mb_target"):
        try:
            config._mb_target = make_target(config)
        except FileNotFoundError as e:
            config._mb_target = None
            config._mb_target_missing = str(e)
    return config._mb_target


@pytest.fixture(scope="session")
def target(pytestconfig):
    t = config_target(pytestconfig)
    if t is None:
        pytest.skip(pytestconfig._mb_target_missing)
    return t


def pytest_generate_tests(metafunc):
    """Tests taking `capability`, `parameter` or `status_value` run once per value of the
    served schema (so a new schema's additions get tested, or fail for want of data)."""
    t = config_target(metafunc.config)
    schema = t.qapi if t is not None else None
    if schema is None:
        return
    if "capability" in metafunc.fixturenames:
        caps = schema.enums["MigrationCapability"]
        metafunc.parametrize("capability", [
            pytest.param(c, marks=pytest.mark.covers(f"cap:{c}"), id=c) for c in caps])
    if "parameter" in metafunc.fixturenames:
        names = schema.member_names("MigrateSetParameters")
        metafunc.parametrize("parameter", [
            pytest.param(p, marks=pytest.mark.covers(f"param:{p}"), id=p) for p in names])


def _skip_reason(item, target):
    m = item.get_closest_marker("schemas")
    if m and target.version not in m.args:
        why = m.kwargs.get("reason")
        return f"applies to schema {', '.join(m.args)}; {target.name} serves " \
               f"{target.schema}" + (f": {why}" if why else "")
    m = item.get_closest_marker("migbench_only")
    if m and not target.is_migbench:
        return f"migbench only: {m.args[0] if m.args else 'migbench feature'}"
    m = item.get_closest_marker("sim_only")
    if m and (not target.is_migbench or target.kvm):
        return f"sim guest only: {m.args[0] if m.args else 'the simulated guest'}"
    for m in item.iter_markers("feature"):
        for f in m.args:
            if f in target.missing:
                return target.missing[f]
    if item.get_closest_marker("kvm") and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "needs /dev/kvm"
    return None


@pytest.fixture(autouse=True)
def _applicability(request, target):
    why = _skip_reason(request.node, target)
    if why:
        pytest.skip(why)


# ---- collection: markers name real elements; the completeness test runs last ----

@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    config._mb_all_items = list(items)  # before -k/-m deselect anything
    known, types = elements.known_everywhere(), elements.known_types()
    t = config_target(config)
    if t is not None:
        known |= set(elements.elements(t.qapi))
        types |= set(t.qapi.structs) | set(t.qapi.enums)
    bad = []
    for item in items:
        for m in item.iter_markers("covers"):
            for name in m.args:
                try:
                    elements.validate_marker(name, known, types)
                except ValueError as e:
                    bad.append(f"{item.nodeid}: {e}")
    if bad:
        raise pytest.UsageError("bad covers markers:\n  " + "\n  ".join(bad))
    last = [i for i in items if "test_zz_completeness" in i.nodeid]
    items[:] = [i for i in items if i not in last] + last


def pytest_deselected(items):
    if items:
        items[0].config._mb_partial = True


def full_run(session):
    """Whether this session runs the whole suite (the transition check needs it)."""
    cfg = session.config
    return not getattr(cfg, "_mb_partial", False) and not cfg.option.keyword \
        and not cfg.option.markexpr and not getattr(cfg.option, "lf", False) \
        and len(session.items) == len(getattr(cfg, "_mb_all_items", ())) \
        and all(os.path.abspath(str(a)).rstrip("/") in (HERE, os.path.join(HERE, "tests"))
                for a in cfg.args)


# ---- per test: the recorder's context, and its end-of-test checks ----

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _record(request, target):
    observed = set()
    recorder.CURRENT.update(test=request.node.nodeid, observed=observed, schema=target.qapi)
    request.node.mb_observed = observed
    yield
    recorder.CURRENT.update(test=None, observed=None)
    rep = getattr(request.node, "rep_call", None)
    request.node.mb_passed = rep is not None and rep.passed and not hasattr(rep, "wasxfail")


class VmFactory:
    """Starts VMs of the target in a private directory and stops them all at teardown,
    after the recorder's end-of-test checks, failing the test if a migbench process
    crashed or its sanitizers reported anything."""

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

    def close(self, check=True):
        problems = []
        if check:
            for vm in self.vms:
                try:
                    vm.recorder.finish()
                except AssertionError as e:
                    problems.append(f"{vm.argv[0]} {os.path.basename(vm.qmp_path)}: {e}")
        try:
            for vm in self.vms:
                try:
                    out = vm.stop()
                except AssertionError as e:
                    problems.append(str(e))
                    continue
                rc = vm.proc.returncode
                if self.target.is_migbench:
                    bad = [m for m in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                       "runtime error:", "WARNING: ThreadSanitizer")
                           if m in out]
                    # -9: killed on purpose by a fault test; sanitizers are still checked
                    if bad or rc not in (0, 1, -9, -15):
                        problems.append(f"{vm.argv}: exit {rc}\n{out[-4000:]}")
        finally:
            for vm in self.vms:
                if vm.alive():
                    vm.proc.kill()
                    vm.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
        assert not problems, "\n".join(problems)


@pytest.fixture
def vms(target, request):
    f = VmFactory(target)
    yield f
    rep = getattr(request.node, "rep_call", None)
    f.close(check=rep is not None and rep.passed)


@pytest.fixture
def vm(vms):
    """One ordinary (source-capable) VM."""
    return vms()


# ---- results for the coverage matrix ----

def pytest_sessionstart(session):
    session.config._mb_results = {}


def pytest_runtest_logreport(report):
    cfg = getattr(pytest_runtest_logreport, "config", None)
    if cfg is None:
        return
    res = cfg._mb_results.setdefault(report.nodeid, {"outcome": "passed", "reason": None})
    if report.when == "call" and hasattr(report, "wasxfail"):
        res["outcome"], res["reason"] = "xfailed", report.wasxfail
    elif report.skipped:
        res["outcome"] = "skipped"
        res["reason"] = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        if res["reason"].startswith("Skipped: "):
            res["reason"] = res["reason"][len("Skipped: "):]
    elif report.failed:
        res["outcome"], res["reason"] = "failed", f"failed in {report.when}"


def pytest_collection_finish(session):
    pytest_runtest_logreport.config = session.config
    session.config._mb_items = list(session.items)


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("--results")
    if not path:
        return
    try:
        t = session.config._mb_target
    except AttributeError:
        return
    tests = {}
    for item in getattr(session.config, "_mb_items", []):
        r = session.config._mb_results.get(item.nodeid, {"outcome": "not run",
                                                         "reason": None})
        tests[item.nodeid] = dict(r, covers=sorted(elements.covered_by(item)),
                                  observed=sorted(getattr(item, "mb_observed", ())),
                                  features=sorted({f for m in item.iter_markers("feature")
                                                   for f in m.args}))
    edges = {f"{s}:{a}>{b}": sorted(ts) for (s, a, b), ts in statemachine.SEEN.items()}
    out = {"target": t.name, "schema": t.schema, "version": t.version,
           "untriggerable": t.untriggerable, "full_run": full_run(session),
           "schema_file": os.path.relpath(t.schema_file, ROOT)
           if t.schema_file.startswith(ROOT) else t.schema_file,
           "missing": t.missing, "tests": tests, "edges": edges,
           "all_edges": [f"{s}:{a}>{b}" for s, a, b in statemachine.all_edges(t.version)]}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
