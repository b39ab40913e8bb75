#!/usr/bin/env python3
"""Golden regression runs: fixed sim guests x parameter sets, their full results checked in.

  python3 conformance/golden.py [--migbench BIN] [NAME...]          check (exit 1 on a diff)
  python3 conformance/golden.py [--migbench BIN] --regen [NAME...]  rewrite on purpose

The cases are conformance/golden/cases.json; each result is conformance/golden/NAME.json,
the JSON report of `migbench run ARGS` without its wall-clock part.  A check runs
`migbench run ARGS --check NAME.json` (migbench's own field-by-field comparison) and, when
that fails, prints the differing fields.  --regen runs every case twice and refuses to
write a result that is not reproducible.  The suite runs the same checks
(tests/test_golden.py)."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(HERE, "golden")


def cases():
    with open(os.path.join(GOLDEN, "cases.json")) as f:
        return json.load(f)["cases"]


def golden_path(name):
    return os.path.join(GOLDEN, name + ".json")


def run(binary, case, json_out, check=None, timeout=120):
    """Runs one case; returns (exit status, output)."""
    argv = [binary, "run", "-q", "--timeout", "60s", *case["args"], "--json", json_out]
    if check:
        argv += ["--check", check]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, MIGBENCH_NO_PROGRESS="1"))
    return p.returncode, p.stdout + p.stderr


def field_diff(want, got, path=""):
    """Readable differences between two JSON values: ['path: golden X, now Y', ...]."""
    out = []
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got)):
            p = f"{path}.{k}" if path else k
            if k not in got:
                out.append(f"{p}: missing now (golden {json.dumps(want[k])})")
            elif k not in want:
                out.append(f"{p}: new ({json.dumps(got[k])})")
            else:
                out += field_diff(want[k], got[k], p)
    elif isinstance(want, list) and isinstance(got, list):
        for i in range(max(len(want), len(got))):
            p = f"{path}[{i}]"
            if i >= len(got):
                out.append(f"{p}: missing now")
            elif i >= len(want):
                out.append(f"{p}: new ({json.dumps(got[i])})")
            else:
                out += field_diff(want[i], got[i], p)
    elif want != got:
        out.append(f"{path}: golden {json.dumps(want)}, now {json.dumps(got)}")
    return out


def strip(report):
    report = dict(report)
    report.pop("wall", None)
    return report


def check(binary, case):
    """Returns a list of problems (empty: identical to the golden result)."""
    gp = golden_path(case["name"])
    if not os.path.exists(gp):
        return [f"no golden result {os.path.relpath(gp, ROOT)} (run golden.py --regen)"]
    with tempfile.TemporaryDirectory() as d:
        out_json = os.path.join(d, "now.json")
        rc, out = run(binary, case, out_json, check=gp)
        if rc == 0:
            return []
        problems = [f"migbench run {' '.join(case['args'])} --check: exit {rc}",
                    out.strip()]
        if os.path.exists(out_json):
            with open(gp) as f, open(out_json) as g:
                want, got = strip(json.load(f)), strip(json.load(g))
            # as `--check` does: query-migrate only when the golden file has it
            keys = ["settings", "result"] + (["query-migrate"] if "query-migrate" in want
                                             else [])
            problems += field_diff({k: want.get(k) for k in keys},
                                   {k: got.get(k) for k in keys})
        return problems


def regen(binary, case):
    with tempfile.TemporaryDirectory() as d:
        reports = []
        for k in range(2):
            p = os.path.join(d, f"{k}.json")
            rc, out = run(binary, case, p)
            if rc != 0:
                raise SystemExit(f"{case['name']}: migbench run failed ({rc}):\n{out}")
            with open(p) as f:
                reports.append(strip(json.load(f)))
        diff = field_diff(reports[0], reports[1])
        if diff:
            raise SystemExit(f"{case['name']}: not reproducible, two runs differ:\n  " +
                             "\n  ".join(diff))
        if reports[0]["result"].get("status") != "completed":
            raise SystemExit(f"{case['name']}: did not complete: {reports[0]['result']}")
    with open(golden_path(case["name"]), "w") as f:
        json.dump(reports[0], f, indent=2)  # the report's own (QEMU's) member order
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--migbench", default=os.environ.get(
        "MIGBENCH", os.path.join(ROOT, "build", "cli", "migbench")))
    ap.add_argument("--regen", action="store_true", help="rewrite the golden results")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    todo = [c for c in cases() if not a.names or c["name"] in a.names]
    if a.names and len(todo) != len(a.names):
        raise SystemExit(f"unknown case(s): {set(a.names) - {c['name'] for c in todo}}")
    bad = 0
    for c in todo:
        if a.regen:
            regen(a.migbench, c)
            print(f"wrote {os.path.relpath(golden_path(c['name']), ROOT)}")
            continue
        problems = check(a.migbench, c)
        print(f"{c['name']}: {'identical' if not problems else 'DIFFERENT'}")
        for p in problems:
            print("  " + p.replace("\n", "\n  "))
        bad += bool(problems)
    if not a.regen:
        print(f"{len(todo) - bad} identical, {bad} different")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
