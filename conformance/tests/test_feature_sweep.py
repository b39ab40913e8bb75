"""Tuning experiments (issue 14): migbench sweep, report and compare.

A 24-point sweep of tiny sim guests (2 workloads x 3 max-bandwidth values x 2 capability
sets x 2 seeds, 64 MiB each, a second or so per point) runs once per session; the tests
check it completes, that a second sweep of the same spec gives byte-identical merged
results (sim determinism), that a resumed sweep runs only the points whose results were
removed, that a point with an invalid parameter fails alone, that one point reproduces
alone, that the HTML report loads in headless chromium with every plot drawn (screenshot
kept in the build directory), and that compare gates a regression."""
import csv
import json
import os
import re
import shutil
import subprocess

import pytest

pytestmark = [pytest.mark.migbench_only("migbench's tuning tools"),
              pytest.mark.schemas("5.0", reason="the sweep tools do not depend on the schema; "
                                                "one target is enough")]

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")

# The sweep of CI, shared with scripts/test-slurm.sh (the same points through Slurm).
with open(os.path.join(FIXTURES, "sweep-ci-24.json")) as _f:
    SPEC = json.load(_f)


def mb(target, *args, timeout=600, cwd=None, env=None):
    env = dict(os.environ, MIGBENCH_NO_PROGRESS="1", **(env or {}))
    return subprocess.run([target.vm_argv[0], *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def build_dir(target):
    """The build directory of the binary under test (BUILD/cli/migbench)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(target.vm_argv[0])))


def write_spec(path, spec):
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    return str(path)


def read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def sweep24(target, tmp_path_factory):
    # A module fixture is set up before the per-test applicability check (conftest's
    # function-scoped _applicability), so it applies the module's markers itself.
    if not target.is_migbench or target.version != "5.0":
        pytest.skip("migbench's tuning tools, run once on the 5.0 sim target")
    d = tmp_path_factory.mktemp("sweep24")
    spec = write_spec(d / "spec.json", SPEC)
    r = mb(target, "sweep", "-j", "2", "-o", str(d / "a"), spec)
    assert r.returncode == 0, r
    return d, spec


def test_sweep_runs_24_points(sweep24):
    d, _ = sweep24
    rows = list(csv.DictReader(open(d / "a" / "results.csv")))
    assert len(rows) == 24
    assert {r["outcome"] for r in rows} == {"ok"}, rows
    assert [int(r["index"]) for r in rows] == list(range(24))
    # every point's full run report is kept, and the merged JSON has the same rows
    merged = json.load(open(d / "a" / "results.json"))
    assert len(merged["points"]) == 24
    for row, m in zip(rows, merged["points"]):
        rep = json.load(open(d / "a" / "points" / f"{row['id']}.json"))
        assert rep["result"] == m["result"]
        assert str(rep["result"]["total-time-ms"]) == row["total-time-ms"]
        assert "wall" in rep and "wall" not in m
    # the settings really vary: faster links finish sooner
    t = {(r["guest"], r["capability-set"], r["seed"], r["max-bandwidth"]): int(r["total-time-ms"])
         for r in rows}
    g = SPEC["guests"][0]
    assert t[(g, "none", "1", "4M")] > t[(g, "none", "1", "8M")] > t[(g, "none", "1", "16M")]


def test_same_sweep_twice_gives_identical_merged_results(target, sweep24):
    d, spec = sweep24
    r = mb(target, "sweep", "-j", "2", "-o", str(d / "b"), spec)
    assert r.returncode == 0, r
    assert "24 ran, 0 skipped" in r.stdout, r.stdout
    for name in ("results.csv", "results.json"):
        assert read(d / "a" / name) == read(d / "b" / name), name


def test_resume_runs_only_the_removed_points(target, sweep24):
    d, spec = sweep24
    c = d / "c"
    shutil.copytree(d / "a", c)
    rows = list(csv.DictReader(open(c / "results.csv")))
    for row in (rows[1], rows[10], rows[23]):
        os.unlink(c / "points" / f"{row['id']}.json")
    r = mb(target, "sweep", "-j", "2", "-o", str(c), spec)
    assert r.returncode == 0, r
    assert "24 points: 3 ran, 21 skipped" in r.stdout, r.stdout
    assert read(c / "results.json") == read(d / "a" / "results.json")
    # nothing left to do: nothing runs
    r = mb(target, "sweep", "-o", str(c), spec)
    assert "0 ran, 24 skipped" in r.stdout, r.stdout


def test_a_point_reproduces_alone(target, sweep24, tmp_path):
    d, spec = sweep24
    r = mb(target, "sweep", "--point", "7", "-o", str(tmp_path), spec)
    assert r.returncode == 0, r
    row = json.load(open(d / "a" / "results.json"))["points"][7]
    rep = json.load(open(tmp_path / "points" / f"{row['id']}.json"))
    assert rep["result"] == row["result"]
    rec = json.load(open(tmp_path / "points" / f"{row['id']}.point.json"))
    assert rec["outcome"] == "ok" and rec["command"].startswith("migbench run -q --json - ")


def test_invalid_parameter_fails_that_point_only(target, tmp_path):
    spec = write_spec(tmp_path / "bad.json", {
        "guests": ["sim:uniform,size=64M,rate=2M"],
        "parameters": {"downtime-limit": [300, 99999999], "max-bandwidth": ["16M"]},
    })
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = mb(target, "sweep", "-j", "2", "-o", str(tmp_path / "r"), spec, env={"TMPDIR": str(tmp)})
    assert r.returncode == 1, r
    assert "1 ok, 1 failed, 0 missing" in r.stdout, r.stdout
    rows = list(csv.DictReader(open(tmp_path / "r" / "results.csv")))
    assert [x["outcome"] for x in rows] == ["ok", "failed"]
    assert rows[0]["status"] == "completed"
    assert "downtime_limit" in rows[1]["error"] or "downtime-limit" in rows[1]["error"], rows[1]
    assert "point 1 (" in r.stdout and "failed: " in r.stdout
    # The failed point's vm logs are kept beside its report; nothing is left in $TMPDIR.
    points = tmp_path / "r" / "points"
    assert not (points / f"{rows[0]['id']}.work").exists()
    work = points / f"{rows[1]['id']}.work"
    assert {"source.stderr", "destination.stderr"} <= set(os.listdir(work)), os.listdir(work)
    assert os.listdir(tmp) == []


@pytest.mark.parametrize("spec,message", [
    ({"guests": []}, "\"guests\" must be a non-empty list"),
    ({"guests": ["sim:"], "parameters": {"max-bandwidth": "8M"}},
     "\"parameters\".\"max-bandwidth\" must be a non-empty list"),
    ({"guests": ["sim:"], "options": {"json": "x"}}, "is not a run option"),
])
def test_bad_spec_is_a_clear_error(target, tmp_path, spec, message):
    r = mb(target, "sweep", write_spec(tmp_path / "s.json", spec))
    assert r.returncode == 1 and r.stderr.startswith("migbench sweep: s.json: "), r
    assert message in r.stderr, r.stderr


def report(target, out, *sources, extra=()):
    r = mb(target, "report", "-o", str(out), *extra, *sources)
    if "gnuplot not found" in r.stderr:
        pytest.skip("gnuplot is not installed (scripts/setup-deps.sh --ci installs gnuplot-nox)")
    assert r.returncode == 0, r
    return read(out).decode()


def figures(html):
    return re.findall(r'<figure class="plot">(.*?)</figure>', html, re.S)


def test_report_is_one_self_contained_page(target, sweep24, tmp_path):
    d, _ = sweep24
    html = report(target, tmp_path / "r.html", str(d / "a"))
    figs = figures(html)
    caps = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    # 2 guests x 3 metrics against max-bandwidth, the model's scatter, and two plots for
    # each of the first 6 runs' timelines (the engine samples them, docs/run.md)
    assert sum(" against max-bandwidth for " in c for c in caps) == 6, caps
    assert sum(c.startswith("Measured against predicted") for c in caps) == 1, caps
    assert sum("remaining and transferred" in c for c in caps) == 6, caps
    assert len(figs) == len(caps) == 19
    for f in figs:
        assert "<svg" in f and "</svg>" in f and "<path" in f
    # no resource from anywhere: the only URLs are XML namespace names
    assert not re.search(r'(src|href)\s*=\s*"(https?:|//)', html)
    assert "Model fit" in html and html.count("<tr") > 24


def test_report_timelines_chosen_by_point(target, sweep24, tmp_path):
    d, _ = sweep24
    html = report(target, tmp_path / "c.html", str(d / "a"), extra=("--timeline", "3"))
    caps = [c for c in re.findall(r"<figcaption>(.*?)</figcaption>", html) if "point " in c]
    assert len(caps) == 2 and all(c.startswith("point 3 (") for c in caps), caps


def test_report_plots_timelines_of_a_run_report(target, tmp_path):
    """A hand-made run report with result.timeline (docs/sweeps.md): two plots for it."""
    fixture = os.path.join(FIXTURES, "run-with-timeline.json")
    html = report(target, tmp_path / "t.html", fixture)
    caps = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    tl = [c for c in caps if "remaining and transferred" in c or "dirty rate" in c]
    assert len(tl) == 2, caps
    # pass boundaries are drawn: the fixture has passes 1, 2 and 3
    assert html.count("stroke-dasharray") >= 2


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def test_report_in_headless_chromium(target, sweep24, tmp_path):
    browser = chromium()
    if not browser:
        pytest.skip("no chromium (scripts/setup-deps.sh --ci installs it)")
    d, _ = sweep24
    out = os.path.join(build_dir(target), "sweep-report")
    os.makedirs(out, exist_ok=True)
    page = os.path.join(out, "report.html")
    report(target, page, str(d / "a"), os.path.join(FIXTURES, "run-with-timeline.json"))
    n = len(figures(read(page).decode()))
    assert n == 19  # as above: the fixture comes after the 6 timelines shown
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--enable-logging=stderr", "--v=0", "--window-size=1200,2400"]
    url = "file://" + page
    r = subprocess.run(base + [f"--user-data-dir={tmp_path / 'p1'}", "--dump-dom", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    consoles = [l for l in r.stderr.splitlines() if "CONSOLE" in l]
    assert not consoles, consoles
    # the page's own check ran: every figure has a drawn SVG
    m = re.search(r'data-plots-ok="(\d+)" data-plots="(\d+)"', r.stdout)
    assert m, r.stdout[:500]
    assert int(m.group(1)) == int(m.group(2)) == n, m.groups()
    shot = os.path.join(out, "report.png")
    if os.path.exists(shot):
        os.unlink(shot)
    r = subprocess.run(base + [f"--user-data-dir={tmp_path / 'p2'}", f"--screenshot={shot}", url],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and os.path.getsize(shot) > 10000, r.stderr[-2000:]


def test_compare_gates_a_regression(target, sweep24, tmp_path):
    d, _ = sweep24
    a = str(d / "a")
    r = mb(target, "compare", a, a)
    assert r.returncode == 0 and "0 regressions" in r.stdout, r
    # B: every total time 20% longer, with the seeds' spread kept
    merged = json.load(open(d / "a" / "results.json"))
    for p in merged["points"]:
        p["result"]["total-time-ms"] = int(p["result"]["total-time-ms"] * 1.2)
    b = tmp_path / "slower.json"
    json.dump(merged, open(b, "w"))
    r = mb(target, "compare", a, str(b), "--threshold", "10")
    assert r.returncode == 1, r
    assert "REGRESSION" in r.stdout
    assert "12 regressions" in r.stdout, r.stdout  # one per setting, total-time-ms
    r = mb(target, "compare", a, str(b), "--threshold", "30")
    assert r.returncode == 0, r
    r = mb(target, "compare", a, str(b), "--metric", "downtime-ms", "--threshold", "10")
    assert r.returncode == 0, r
    r = mb(target, "compare", a, "--threshold", "x")
    assert r.returncode == 2


def test_compare_two_run_reports(target, sweep24):
    d, _ = sweep24
    rows = json.load(open(d / "a" / "results.json"))["points"]
    fast = str(d / "a" / "points" / f"{rows[4]['id']}.json")   # 16M
    slow = str(d / "a" / "points" / f"{rows[0]['id']}.json")   # 4M
    assert mb(target, "compare", slow, fast, "--metric", "total-time-ms").returncode == 0
    r = mb(target, "compare", fast, slow, "--metric", "total-time-ms")
    assert r.returncode == 1 and "REGRESSION" in r.stdout, r
