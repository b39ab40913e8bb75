#!/usr/bin/env python3
"""The coverage matrix: every schema element and every state-machine transition, the tests
that exercise it, and their result on each target.

  python3 conformance/matrix.py RESULTS.json... [--md FILE] [--json FILE]

RESULTS are the files the suite writes with `--results` (conformance/run-all.sh makes one
per target).  The elements come from the schemas themselves (schema/migration-5.0.json and
migration-4.0-dev.json, read by lib/qapi.py), so a schema change shows up here at once.
An element whose feature migbench has not built yet (lib/features.py) is listed as such."""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from lib import elements, features, qapi, statemachine  # noqa: E402

SCHEMAS = ("5.0", "4.0-dev")
KIND_TITLES = [("command", "Commands"), ("arg", "Command arguments"), ("event", "Events"),
               ("data", "Event data"), ("enum", "Enum values"),
               ("member", "Members of MigrationInfo, MigrationStats, XBZRLECacheStats, "
                          "CompressionStats, MigrationParameters")]


def label(res):
    t = res["target"]
    return f"{t} {res['schema']}" if t.startswith("migbench") else t


def func_name(nodeid):
    """tests/test_x.py::test_y[param] -> test_x::test_y"""
    path, _, rest = nodeid.partition("::")
    return os.path.basename(path)[:-3] + "::" + rest.split("[")[0]


def cell(outcomes):
    """One target's result for an element or an edge, from its tests' outcomes."""
    if not outcomes:
        return "-"
    passed = sum(o == "passed" for o, _ in outcomes)
    failed = sum(o == "failed" for o, _ in outcomes)
    xfailed = sum(o == "xfailed" for o, _ in outcomes)
    if failed:
        return f"FAIL {failed}/{len(outcomes)}"
    if passed:
        return f"pass {passed}" + (f" (+{xfailed} xfail)" if xfailed else "")
    if xfailed:
        return f"xfail {xfailed}"
    reasons = sorted({r for o, r in outcomes if r})
    return "skipped: " + (reasons[0] if reasons else "?")


def build(results):
    schemas = {v: qapi.load(v) for v in SCHEMAS}
    in_schema = {}
    order = []
    for v in SCHEMAS:
        for e in elements.elements(schemas[v]):
            if e not in in_schema:
                in_schema[e] = []
                order.append(e)
            in_schema[e].append(v)
    tests_of = {}
    for res in results:
        for nodeid, t in res["tests"].items():
            for e in t["covers"]:
                tests_of.setdefault(e, set()).add(nodeid)
    targets = [label(r) for r in results]
    rows = []
    for e in order:
        feat = features.element_feature(e)
        tests = sorted(tests_of.get(e, ()))
        if tests:
            status = "covered"
        elif feat in features.MIGBENCH_NOT_BUILT:
            status = f"not built yet ({feat})"
        elif features.internal_reason(e):
            status = f"internal: {features.internal_reason(e)}"
        else:
            status = "NO TEST"
        per = {}
        for res in results:
            lab = label(res)
            version = res["version"]
            ver_schema = "4.0-dev" if version == "4.0-dev" else "5.0"
            if ver_schema not in in_schema[e]:
                per[lab] = "n/a"
                continue
            outs = [(res["tests"][n]["outcome"], res["tests"][n]["reason"]) for n in tests
                    if n in res["tests"]]
            per[lab] = cell(outs)
            if per[lab] == "-" and feat and feat in res.get("missing", {}):
                per[lab] = "skipped: " + res["missing"][feat]
        rows.append({"element": e, "schemas": in_schema[e], "status": status,
                     "feature": feat, "tests": tests, "results": per})
    # transitions
    edge_rows = []
    all_edges = []
    for v in SCHEMAS:
        for edge in statemachine.all_edges(v):
            key = f"{edge[0]}:{edge[1]}>{edge[2]}"
            if key not in [x[0] for x in all_edges]:
                all_edges.append((key, edge, [v]))
            else:
                next(x for x in all_edges if x[0] == key)[2].append(v)
    for key, edge, versions in all_edges:
        feat = statemachine.edge_feature(edge)
        per, tests = {}, set()
        for res in results:
            lab = label(res)
            ver = "4.0-dev" if res["version"] == "4.0-dev" else "5.0"
            if ver not in versions:
                per[lab] = "n/a"
            elif key in res["edges"]:
                ts = res["edges"][key]
                tests |= set(ts)
                per[lab] = f"taken by {len(ts)}"
            elif key in res.get("untriggerable", {}):
                per[lab] = "no trigger: " + res["untriggerable"][key]
            elif feat and feat in res.get("missing", {}):
                per[lab] = "skipped: " + res["missing"][feat]
            else:
                per[lab] = "NOT TAKEN" if res.get("full_run") else "- (partial run)"
        status = "taken" if tests else (f"not built yet ({feat})"
                                        if feat in features.MIGBENCH_NOT_BUILT else "NOT TAKEN")
        edge_rows.append({"edge": key, "schemas": versions, "status": status, "feature": feat,
                          "tests": sorted(tests), "results": per})
    totals = {}
    for v in SCHEMAS:
        mine = [r for r in rows if v in r["schemas"]]
        totals[v] = {"elements": len(mine),
                     "covered": sum(r["status"] == "covered" for r in mine),
                     "not built yet": sum(r["status"].startswith("not built") for r in mine),
                     "no test": sum(r["status"] == "NO TEST" for r in mine)}
    totals["transitions"] = {"edges": len(edge_rows),
                             "taken": sum(r["status"] == "taken" for r in edge_rows),
                             "not built yet": sum(r["status"].startswith("not built")
                                                  for r in edge_rows),
                             "not taken": sum(r["status"] == "NOT TAKEN" for r in edge_rows)}
    runs = [{"target": label(r), "tests": len(r["tests"]),
             "passed": sum(t["outcome"] == "passed" for t in r["tests"].values()),
             "failed": sum(t["outcome"] == "failed" for t in r["tests"].values()),
             "skipped": sum(t["outcome"] == "skipped" for t in r["tests"].values()),
             "xfailed": sum(t["outcome"] == "xfailed" for t in r["tests"].values()),
             "full_run": r.get("full_run", False)} for r in results]
    return {"targets": targets, "runs": runs, "totals": totals, "elements": rows,
            "transitions": edge_rows}


def md_tests(tests, limit=4):
    names = sorted({func_name(t) for t in tests})
    shown = ", ".join(f"`{n}`" for n in names[:limit])
    return shown + (f" +{len(names) - limit} more" if len(names) > limit else "")


def to_md(m):
    targets = m["targets"]
    out = ["# Conformance matrix", "",
           "Generated by `conformance/run-all.sh --update-docs` (conformance/matrix.py) from the "
           "schemas and the suite's results; do not edit.  docs/conformance.md explains the "
           "suite, the element ids and how to read this page.", "",
           "## Runs", "", "| target | tests | passed | failed | skipped | xfailed | whole suite |",
           "|---|---|---|---|---|---|---|"]
    for r in m["runs"]:
        out.append(f"| {r['target']} | {r['tests']} | {r['passed']} | {r['failed']} | "
                   f"{r['skipped']} | {r['xfailed']} | {'yes' if r['full_run'] else 'no'} |")
    out += ["", "## Totals", "", "| schema | elements | covered by tests | not built yet | "
            "without a test |", "|---|---|---|---|---|"]
    for v in SCHEMAS:
        t = m["totals"][v]
        out.append(f"| {v} | {t['elements']} | {t['covered']} | {t['not built yet']} | "
                   f"{t['no test']} |")
    t = m["totals"]["transitions"]
    out += ["", f"Transitions: {t['edges']} edges, {t['taken']} taken by tests, "
                f"{t['not built yet']} not built yet, {t['not taken']} not taken.", ""]
    head = "| element | schemas | status | tests | " + " | ".join(targets) + " |"
    sep = "|---|---|---|---|" + "---|" * len(targets)
    for kind, title in KIND_TITLES:
        rows = [r for r in m["elements"] if r["element"].startswith(kind + ":")]
        out += ["", f"## {title}", "", head, sep]
        for r in rows:
            name = r["element"].split(":", 1)[1]
            out.append(f"| `{name}` | {', '.join(r['schemas'])} | {r['status']} | "
                       f"{md_tests(r['tests'])} | " +
                       " | ".join(r["results"].get(t, "") for t in targets) + " |")
    out += ["", "## Transitions", "",
            "Every MIGRATION event sequence and query-migrate status of every test is checked "
            "against the state machine; an edge is *taken* by the tests whose traffic showed "
            "it.", "", "| edge | schemas | status | tests | " + " | ".join(targets) + " |",
            "|---|---|---|---|" + "---|" * len(targets)]
    for r in m["transitions"]:
        out.append(f"| {r['edge']} | {', '.join(r['schemas'])} | {r['status']} | "
                   f"{md_tests(r['tests'], 3)} | " +
                   " | ".join(r["results"].get(t, "") for t in targets) + " |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+")
    ap.add_argument("--md")
    ap.add_argument("--json")
    a = ap.parse_args()
    results = []
    for p in a.results:
        with open(p) as f:
            results.append(json.load(f))
    m = build(results)
    if a.md:
        with open(a.md, "w") as f:
            f.write(to_md(m))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(m, f, indent=1, sort_keys=True)
            f.write("\n")
    for v in SCHEMAS:
        t = m["totals"][v]
        print(f"schema {v}: {t['elements']} elements, {t['covered']} covered, "
              f"{t['not built yet']} not built yet, {t['no test']} without a test")
    t = m["totals"]["transitions"]
    print(f"transitions: {t['edges']} edges, {t['taken']} taken, {t['not built yet']} not "
          f"built yet, {t['not taken']} not taken")


if __name__ == "__main__":
    main()
