"""Sim-mode control: scenario actions land at exact points (so results are reproducible), and
--pace keeps a sim migration slow enough on the wall clock for a person or a test to act."""
import json
import subprocess

import pytest

from lib.expect import expect_ok, wait_status
from lib.mig import prepare_pair, start_pair

pytestmark = pytest.mark.migbench_only("scenarios and pacing drive the simulated guest")

GUEST = "sim:uniform,size=64M,rate=8M,duration=60s,init=random,seed=6"


def run(target, *args):
    out = subprocess.run([target.vm_argv[0], "run", "-q", "--json", "-", "--guest", GUEST,
                          *args], capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)["result"]


def test_scenario_actions_land_at_exact_passes(vms, target):
    """A never-converging migration made to converge at pass 4 by a scenario: the same
    figures every time, and the change is visible exactly from that pass on."""
    path = vms.path("scenario.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"pass": 4}, "execute": "migrate-set-parameters",
                                "arguments": {"downtime-limit": 2000}}]}, f)
    a = run(target, "--param", "downtime-limit=1", "--scenario", path)
    b = run(target, "--param", "downtime-limit=1", "--scenario", path)
    assert a == b
    assert a["status"] == "completed"
    # pass 4 raises the limit; the next pending check finds the remainder below the new
    # threshold, syncs (pass 5) and switches over; the completion step syncs once more (6)
    assert a["dirty-sync-count"] == 6
    assert [p["pass"] for p in a["passes"]] == [1, 2, 3, 4, 5, 6]


def test_scenario_cancel_at_a_guest_time(vms, target):
    path = vms.path("scenario.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"time": "1500ms"}, "execute": "migrate_cancel"}]}, f)
    r = run(target, "--param", "downtime-limit=1", "--scenario", path)
    assert r["status"] == "cancelled"
    # the last pass record is before the cancel point
    assert r["passes"][-1]["time-ms"] <= 1500


def test_scenario_continue_from_pre_switchover(vms, target):
    path = vms.path("scenario.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"status": "pre-switchover"}, "execute": "migrate-continue",
                                "arguments": {"state": "pre-switchover"}}]}, f)
    r = run(target, "--cap", "pause-before-switchover=on", "--scenario", path)
    assert r["status"] == "completed"


def test_bad_scenario_is_refused(vms, target):
    path = vms.path("scenario.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"pass": 2}, "execute": "migrate-set-parameters",
                                "arguments": {"downtime-limit": "soon"}}]}, f)
    out = subprocess.run([target.vm_argv[0], "vm", "--scenario", path, "--guest", GUEST],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "Invalid parameter type for 'downtime-limit', expected: integer" in out.stderr


def test_pace_keeps_a_sim_migration_active_for_interaction(vms, target):
    """At pace 1 a 64 MiB guest at 32 MiB/s takes about two wall seconds, so a client can
    see it active, change a parameter and watch it complete."""
    src, dst = start_pair(vms, src_kw={"extra": ["--pace", "1"]})
    assert wait_status(src.qmp, ("active", "completed")) == "active"
    info = src.qmp.call("query-migrate")
    assert info["status"] == "active" and info["ram"]["transferred"] < 64 << 20
    expect_ok(src.qmp.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 30}))
    assert wait_status(src.qmp, ("completed", "failed")) == "completed"
    assert wait_status(dst.qmp, ("completed", "failed")) == "completed"


@pytest.mark.feature("postcopy")
def test_scenario_starts_postcopy(vms, target):
    """A scenario's migrate-start-postcopy switches a never-converging migration to postcopy
    at that exact pass: it completes, every page verified, with the same figures twice."""
    path = vms.path("scenario.json")
    with open(path, "w") as f:
        json.dump({"actions": [{"at": {"pass": 2}, "execute": "migrate-start-postcopy"}]}, f)
    args = ("--scenario", path, "--cap", "postcopy-ram=on", "--param", "downtime-limit=1")
    a, b = run(target, *args), run(target, *args)
    assert "scenario-errors" not in a
    assert a["status"] == "completed" and a["destination"]["verified"] is True
    assert a["dirty-sync-count"] == 3  # pass 2, then the switch's last sync
    assert a["destination"]["postcopy"]["missing-pages"] > 0
    assert a == b


def test_timeline_points_every_window(vms, target):
    """result.timeline: one point per >= 100 ms window of guest time, in order, with the
    counters growing as QEMU's do and the pass in progress; the same on a second run."""
    a = run(target, "--param", "downtime-limit=1", "--param", "max-bandwidth=32M",
            "--max-passes", "5")
    b = run(target, "--param", "downtime-limit=1", "--param", "max-bandwidth=32M",
            "--max-passes", "5")
    assert a["timeline"] == b["timeline"]
    tl = a["timeline"]
    assert len(tl) >= 10, tl
    times = [p["t-ms"] for p in tl]
    assert all(t2 - t1 >= 100 for t1, t2 in zip(times, times[1:])), times
    assert all(p2["transferred"] >= p1["transferred"] for p1, p2 in zip(tl, tl[1:]))
    assert all(p2["pass"] >= p1["pass"] for p1, p2 in zip(tl, tl[1:]))
    assert {"t-ms", "remaining", "transferred", "mbps", "dirty-rate", "throttle",
            "pass"} == set(tl[0])
    # 32 MiB/s of max-bandwidth: each full window moves about 3.4 MB
    assert 200 <= tl[len(tl) // 2]["mbps"] <= 300, tl[len(tl) // 2]
