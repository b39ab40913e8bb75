"""An independent model of the sim guest's page contents (docs/sim.md), for exact
expectations in sim mode.

A page's class before its first write is a pure function of (content seed, block, page):
the trace's `init` mix picked by a 64-bit hash (sim/sim_content.c, util/mb_util.h).  This
file recomputes it in Python, so the suite can predict, for a guest that never writes,
exactly how many pages a migration must send as zero pages (duplicate) and how many in full
(normal) — without asking migbench."""

M64 = (1 << 64) - 1
K_INIT = 0x1A2B3C4D5E6F7081
CLASSES = ("zero", "random", "text", "sparse")  # TRACE_CLASS_ZERO = 1, ... in this order
DEFAULT_INIT = {"zero": 40, "random": 10, "text": 30, "sparse": 20}


def splitmix64(x):
    """One step of splitmix64: returns (new state, output)."""
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return x, z ^ (z >> 31)


def hash3(a, b, c):
    x = (a ^ 0x243F6A8885A308D3) & M64
    _, h = splitmix64(x)
    _, h = splitmix64(h ^ b)
    _, h = splitmix64(h ^ c)
    return h


def mix_pick(mix, h):
    """trace_mix_pick: the class index (0-based in CLASSES) for hash h."""
    r = ((h >> 32) * 100) >> 32
    acc = 0
    for i, name in enumerate(CLASSES[:-1]):
        acc += mix.get(name, 0)
        if r < acc:
            return i
    return len(CLASSES) - 1


def parse_mix(text):
    """'zero:40,random:10' or a class name -> {class: percent}."""
    if text in CLASSES:
        return {text: 100}
    out = {}
    for part in text.split(","):
        k, v = part.split(":")
        out[k] = int(v)
    assert sum(out.values()) == 100, text
    return out


def initial_classes(seed, pages, mix=None, block=0):
    """Counts of each initial class over pages [0, pages) of one block."""
    mix = mix or DEFAULT_INIT
    counts = dict.fromkeys(CLASSES, 0)
    key = seed ^ K_INIT
    for p in range(pages):
        counts[CLASSES[mix_pick(mix, hash3(key, block, p))]] += 1
    return counts
