"""The engine against the analytic pre-copy model (issue: migration engine, cross-check).

Round i of pre-copy sends the set dirty at its start, V_i, at the link rate R; the next set
is what the guest dirtied meanwhile.  With writes of rate w spread uniformly over N pages,
the distinct pages written in T are N (1 - exp(-w T / N)): the geometric model M rho^i
capped by the working set (a hot/cold workload sums its two sets).  It stops when V_i fits
in R x downtime-limit.

QEMU (and migbench, which follows it) syncs a little early: a round ends when the remainder
drops below that threshold, so the remainder L carries into the next round, and the check
runs once per 100 ms rate-limit window, so L is on average half a window's budget below the
threshold.  The model below includes exactly that and nothing else.  The engine's dirty set
at every sync and its bytes sent per round must agree with it within 5% (or, for the small
tail rounds, within 1.5 MB), and the number of passes must be the same."""
import json
import math
import subprocess

import pytest

pytestmark = pytest.mark.migbench_only("needs the deterministic simulated guest")

PAGE = 4096
WIRE = PAGE + 8           # a full page on the wire: header + data
R = 33554432              # default max-bandwidth, bytes/s
DOWNTIME = 0.300          # default downtime-limit
THRESHOLD = R * DOWNTIME  # bytes that fit in the downtime


def run(target, guest, *extra):
    out = subprocess.run([target.vm_argv[0], "run", "-q", "--json", "-", "--guest", guest,
                          *extra], capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)["result"]


LEFTOVER = THRESHOLD - R / 10 / 2  # expected remainder when a round ends


def model(sets, total_pages, w):
    """(dirty set at each sync, bytes sent in each round), in bytes.
    `sets` = [(pages, share of all writes)]."""
    total = total_pages * PAGE
    dirty, sent = [total], []
    while dirty[-1] >= THRESHOLD and len(dirty) < 40:
        sent.append((dirty[-1] - LEFTOVER) / PAGE * WIRE)
        t = sent[-1] / R
        new = sum(n * (1 - math.exp(-share * w * t / n)) for n, share in sets) * PAGE
        dirty.append(LEFTOVER + new * (1 - LEFTOVER / total))
    return dirty, sent


def close(got, want):
    return abs(got - want) <= max(0.05 * want, 1.5e6)


def compare(result, predicted):
    dirty, sent = predicted
    passes = result["passes"]
    # the last record is the final sync at completion (QEMU's pass N+1): no new round
    got_dirty = [p["remaining"] for p in passes[:-1]]
    got_sent = [b["transferred"] - a["transferred"] for a, b in zip(passes[:-2], passes[1:-1])]
    assert len(got_dirty) == len(dirty), (got_dirty, dirty)
    for i, (g, w) in enumerate(zip(got_dirty, dirty)):
        assert close(g, w), ("dirty set at sync", i + 1, g, w, got_dirty, dirty)
    # Bytes sent per round, from the dirty set the engine really had at the round's start
    # (one step of the model, so an error of one round does not compound into the next).
    for i, g in enumerate(got_sent):
        w = (got_dirty[i] - LEFTOVER) / PAGE * WIRE
        assert close(g, w), ("bytes sent in round", i + 1, g, w, got_sent)


def test_uniform_writer_follows_the_model(target):
    size, rate = 1 << 30, 8 << 20
    r = run(target, f"sim:uniform,size=1G,rate=8M,duration=300s,init=random,mix=random,seed=2")
    assert r["status"] == "completed"
    n = size // PAGE
    compare(r, model([(n, 1.0)], n, rate / PAGE))


def test_hot_cold_writer_follows_the_model(target):
    size, rate = 1 << 30, 16 << 20
    r = run(target, "sim:hotspot,size=1G,rate=16M,hot=10%,share=90%,duration=300s,"
                    "init=random,mix=random,seed=3")
    assert r["status"] == "completed"
    n = size // PAGE
    hot = n // 10
    # 90% of the writes go to the hot set, the rest anywhere (hot set included)
    sets = [(hot, 0.9 + 0.1 * hot / n), (n - hot, 0.1 * (n - hot) / n)]
    compare(r, model(sets, n, rate / PAGE))


def test_hot_set_larger_than_the_downtime_budget_never_converges(target):
    """QEMU's behaviour: without help (auto-converge, postcopy, a larger downtime), a hot set
    re-dirtied faster than it can be sent keeps every pass above the threshold."""
    r = run(target, "sim:hotspot,size=1G,rate=128M,hot=10%,share=90%,duration=300s,"
                    "init=random,mix=random,seed=4", "--max-passes", "25")
    assert r["status"] == "cancelled"
    later = [p["remaining"] for p in r["passes"][5:]]
    assert later and min(later) > 3 * THRESHOLD, later
    # ... and the model agrees: its fixed point is far above the threshold
    n = (1 << 30) // PAGE
    hot = n // 10
    v, _ = model([(hot, 0.9 + 0.1 * hot / n), (n - hot, 0.1 * (n - hot) / n)], n,
                 (128 << 20) / PAGE)
    assert len(v) == 40 and v[-1] > 3 * THRESHOLD
