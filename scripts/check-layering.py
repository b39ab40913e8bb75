#!/usr/bin/env python3
"""check-layering.py: fails when the engine's files depend on each other in a circle.

The engine is meant to be layered (docs/architecture.md, "Layers of the engine"): a file may
use files below it, never one above, so that a new path through the engine (postcopy, TLS,
block, COLO) has one obvious place to go and no callback up into its caller by name.  Two
kinds of dependency are checked, between modules (a module is one engine .c file):

  calls     module A uses (calls or takes the address of) a non-static function that module
            B defines;
  includes  module A's .c or .h includes (directly) a header that declares functions module
            B defines (a header declaring functions of several modules makes its includer
            depend on all of them; a header declaring none, like mig_internal.h with the
            engine's structures, is a type header and adds no edge).

Either graph having a cycle is an error; so is a header that includes itself transitively.
Function definitions and uses come from a plain scan of the sources (comments and string
literals removed), which the checked-in .clang-format makes reliable: a definition starts at
column 0 and its body's brace is the first `{` at column 0 after it.

Usage: check-layering.py [ENGINE_DIR]   (default: engine/ next to this script's folder)
Prints the module graph with --graph.  Exit status 0 when acyclic, 1 otherwise.
"""
import os
import re
import sys

IDENT = re.compile(r"[A-Za-z_]\w*")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case"}


def strip(text):
    """Removes comments, string and character literals (keeps line structure)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def definitions(code):
    """Names of the non-static functions defined in a .c file (code already stripped)."""
    names = set()
    lines = code.split("\n")
    for k, line in enumerate(lines):
        if not line or line[0] in " \t#}{" or "(" not in line:
            continue
        head = line.split("(", 1)[0].split()
        if not head or head[0] in ("static", "typedef", "extern") or line.rstrip().endswith(";"):
            continue
        # The signature ends at the first line ending in ')' followed by a '{' line.
        for m in range(k, min(k + 8, len(lines) - 1)):
            if lines[m].rstrip().endswith(";"):
                break
            if lines[m + 1].startswith("{"):
                name = head[-1].lstrip("*")
                if IDENT.fullmatch(name) and name not in KEYWORDS:
                    names.add(name)
                break
    return names


def top_level(code):
    """The text outside every brace pair (drops struct bodies and inline function bodies)."""
    out, depth = [], 0
    for c in code:
        if c == "{":
            depth += 1
        elif c == "}":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(c)
    return "".join(out)


def declarations(code):
    """Function names a header declares (prototypes: `name(` followed by `);` eventually)."""
    names = set()
    code = top_level(code)
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(([^;{}]*)\)\s*(?:G_GNUC_\w+\s*(?:\([^)]*\))?\s*)*;", code):
        name = m.group(1)
        if name not in KEYWORDS and not re.search(r"\(\s*\*\s*$", code[: m.start(1)][-3:]):
            names.add(name)
    return names


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan), sorted."""
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def witness(graph, comp, why):
    """One concrete cycle inside a component, with the reason for each edge."""
    start = comp[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph[path[-1]] if w in comp)
        back = [w for w in nxt if w in seen]
        if back:
            path.append(back[0])
            path = path[path.index(back[0]):]
            break
        path.append(nxt[0])
        seen.add(nxt[0])
    return " -> ".join(
        path[i] + ("" if i + 1 == len(path) else " [%s]" % why.get((path[i], path[i + 1]), ""))
        for i in range(len(path))
    )


def main(argv):
    show = "--graph" in argv
    args = [a for a in argv[1:] if a != "--graph"]
    top = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine")
    files = sorted(f for f in os.listdir(top) if f.endswith((".c", ".h")))
    code = {}
    for f in files:
        with open(os.path.join(top, f), encoding="utf-8") as fh:
            code[f] = strip(fh.read())
    sources = [f for f in files if f.endswith(".c")]
    headers = [f for f in files if f.endswith(".h")]
    module = {f: f[:-2] for f in sources}

    owner = {}  # function -> defining module
    for f in sources:
        for name in definitions(code[f]):
            owner[name] = module[f]

    # Header -> modules whose functions it declares.
    hmods = {h: {owner[n] for n in declarations(code[h]) if n in owner} for h in headers}
    includes = {f: [i for i in INCLUDE.findall(code_raw) if i in code]
                for f, code_raw in ((f, open(os.path.join(top, f), encoding="utf-8").read()) for f in files)}
    errors = 0

    # Header include cycles (a header that includes itself through others).
    hgraph = {h: set(i for i in includes[h] if i.endswith(".h")) for h in headers}
    for comp in find_cycles(hgraph):
        print("include cycle between headers: " + witness(hgraph, comp, {}))
        errors += 1

    def reach_modules(f):
        """Modules whose functions the headers a file includes declare."""
        return {(m, h) for h in includes[f] if h.endswith(".h") for m in hmods[h]}

    inc, inc_why = {m: set() for m in module.values()}, {}
    for f in sources:
        m = module[f]
        own_header = f[:-2] + ".h"
        roots = [f] + ([own_header] if own_header in code else [])
        for r in roots:
            for dep, h in reach_modules(r):
                if dep != m:
                    inc[m].add(dep)
                    inc_why.setdefault((m, dep), "includes " + h)
    for comp in find_cycles(inc):
        print("include cycle between engine modules %s: %s" % (" ".join(comp), witness(inc, comp, inc_why)))
        errors += 1

    calls, call_why = {m: set() for m in module.values()}, {}
    for f in sources:
        m = module[f]
        for name in sorted(set(IDENT.findall(code[f]))):
            dep = owner.get(name)
            if dep and dep != m:
                calls[m].add(dep)
                call_why.setdefault((m, dep), "uses " + name)
    for comp in find_cycles(calls):
        print("call cycle between engine modules %s: %s" % (" ".join(comp), witness(calls, comp, call_why)))
        errors += 1

    if show:
        for m in sorted(calls):
            print("%-16s calls %s" % (m, " ".join(sorted(calls[m])) or "-"))
    if errors:
        print("check-layering: %d cycle(s) in %s (see docs/architecture.md)" % (errors, top))
        return 1
    print("check-layering: %d engine modules, %d call edges, %d include edges, no cycle"
          % (len(module), sum(len(v) for v in calls.values()), sum(len(v) for v in inc.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
