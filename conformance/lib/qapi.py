"""A small reader of QAPI schema files (QEMU's qapi/*.json dialect), stdlib only.

The conformance suite derives what it must cover from the schema a target serves: every
command with its argument members, every event, the values of the migration enums and the
members of the statistics structs.  This module reads a migration.json (and its includes)
into plain dicts; lib/elements.py turns them into the list of elements.

The dialect: `#` comments, single-quoted strings, `true`/`false`, dicts and lists; one
top-level dict per definition.  'if' conditions are evaluated against the same defines
migbench's schema engine uses by default (CONFIG_REPLICATION, CONFIG_ZSTD), so a condition
that is false removes the definition, member or value as it would from the served schema."""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILTIN_DIR = os.path.join(ROOT, "schema")
DEFAULT_DEFINES = frozenset({"CONFIG_REPLICATION", "CONFIG_ZSTD"})


class QAPIParseError(Exception):
    pass


_TOKEN = re.compile(r"""\s+|\#[^\n]*|'(?:[^'\\]|\\.)*'|[{}\[\]:,]|true|false""")


def _tokens(text, path):
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise QAPIParseError(f"{path}:{line}: unexpected {text[pos:pos + 10]!r}")
        tok = m.group(0)
        pos = m.end()
        if tok[0].isspace() or tok[0] == "#":
            continue
        if tok[0] == "'":
            yield ("str", tok[1:-1].replace("\\\\", "\\"))
        elif tok in ("true", "false"):
            yield ("val", tok == "true")
        else:
            yield ("punct", tok)


class _Tokens:
    """A token stream with one token of push-back."""

    def __init__(self, text, path):
        self.it = _tokens(text, path)
        self.back = None
        self.path = path

    def next(self):
        if self.back is not None:
            t, self.back = self.back, None
            return t
        return next(self.it)

    def push(self, tok):
        self.back = tok


def _parse_value(toks):
    kind, v = toks.next()
    if kind != "punct":
        return v
    path = toks.path
    if v == "{":
        d = {}
        kind, k = toks.next()
        if (kind, k) == ("punct", "}"):
            return d
        while True:
            if kind != "str":
                raise QAPIParseError(f"{path}: dict key expected, got {k!r}")
            if toks.next() != ("punct", ":"):
                raise QAPIParseError(f"{path}: ':' expected after {k!r}")
            d[k] = _parse_value(toks)
            kind, sep = toks.next()
            if sep == "}":
                return d
            if sep != ",":
                raise QAPIParseError(f"{path}: ',' or '}}' expected, got {sep!r}")
            kind, k = toks.next()
    if v == "[":
        out = []
        while True:
            tok = toks.next()
            if tok == ("punct", "]"):
                return out
            if tok == ("punct", ","):
                continue
            toks.push(tok)
            out.append(_parse_value(toks))
    raise QAPIParseError(f"{path}: unexpected {v!r}")


def parse_file(path):
    """The top-level definitions of one file, in order (includes not followed)."""
    with open(path, encoding="utf-8") as f:
        toks = _Tokens(f.read(), path)
    exprs = []
    while True:
        try:
            tok = toks.next()
        except StopIteration:
            return exprs
        toks.push(tok)
        try:
            exprs.append(_parse_value(toks))
        except StopIteration:
            raise QAPIParseError(f"{path}: unexpected end of file")


def cond_holds(cond, defines=DEFAULT_DEFINES):
    """QAPI 'if': a string or a list of strings that must all hold."""
    if cond is None:
        return True
    if isinstance(cond, list):
        return all(cond_holds(c, defines) for c in cond)
    expr = cond.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    expr = re.sub(r"defined\s*\(\s*(\w+)\s*\)|defined\s+(\w+)",
                  lambda m: str((m.group(1) or m.group(2)) in defines), expr)
    if not re.fullmatch(r"[\sA-Za-z01()]*", expr) or re.search(
            r"\b(?!and\b|or\b|not\b|True\b|False\b)[A-Za-z_]\w*", expr):
        raise QAPIParseError(f"unsupported condition {cond!r}")
    return bool(eval(expr, {"__builtins__": {}}, {}))  # only and/or/not/True/False left


class Member:
    def __init__(self, name, type_, optional):
        self.name = name
        self.type = type_  # a type name, or ["Elem"] for a list
        self.optional = optional

    def __repr__(self):
        return f"Member({self.name!r}, {self.type!r}, optional={self.optional})"


def _members(data, defines):
    out = []
    for key, spec in (data or {}).items():
        cond = None
        if isinstance(spec, dict):
            cond = spec.get("if")
            spec = spec["type"]
        if not cond_holds(cond, defines):
            continue
        opt = key.startswith("*")
        out.append(Member(key[1:] if opt else key, spec, opt))
    return out


class Schema:
    """The definitions of a migration schema with its includes.

    commands: name -> {"args": [Member], "data": type name or None, "boxed": bool,
                       "returns": ..., "features": [...]}
    events:   name -> {"args": [Member], "data": type name or None}
    enums:    name -> [values]        structs: name -> {"base": str|None, "members": [Member]}
    unions:   name -> the raw definition (enough for the migration schema)"""

    def __init__(self, path, defines=DEFAULT_DEFINES, core=True):
        self.path = os.path.abspath(path)
        self.defines = defines
        self.commands, self.events, self.enums = {}, {}, {}
        self.structs, self.unions, self.alternates = {}, {}, {}
        self.files = []
        seen = set()
        if core:
            # What every migbench monitor serves besides the migration schema (QMP
            # negotiation, run state, fd passing, introspection): schema/core.json.
            self._load(os.path.join(BUILTIN_DIR, "core.json"), seen)
        self._load(self.path, seen)
        if core:
            # object-add / object-del, loaded after the migration schema (schema/qom.json).
            self._load(os.path.join(BUILTIN_DIR, "qom.json"), seen)
        self._resolve()

    def _resolve_include(self, name, base_dir):
        p = os.path.join(base_dir, name)
        if os.path.exists(p):
            return p
        # As migbench's schema engine does: an include missing next to the file comes from
        # the bundle (schema/ in this repository) by its base name.
        p = os.path.join(BUILTIN_DIR, os.path.basename(name))
        if os.path.exists(p):
            return p
        raise QAPIParseError(f"include {name!r} not found next to the schema or in {BUILTIN_DIR}")

    def _load(self, path, seen):
        path = os.path.abspath(path)
        if path in seen:
            return
        seen.add(path)
        self.files.append(path)
        for e in parse_file(path):
            if "include" in e:
                self._load(self._resolve_include(e["include"], os.path.dirname(path)), seen)
                continue
            if "pragma" in e or not cond_holds(e.get("if"), self.defines):
                continue
            if "enum" in e:
                vals = []
                for v in e["data"]:
                    if isinstance(v, dict):
                        if not cond_holds(v.get("if"), self.defines):
                            continue
                        v = v["name"]
                    vals.append(v)
                self.enums[e["enum"]] = vals
            elif "struct" in e:
                self.structs[e["struct"]] = {"base": e.get("base"),
                                             "members": _members(e.get("data"), self.defines)}
            elif "union" in e:
                self.unions[e["union"]] = e
            elif "alternate" in e:
                self.alternates[e["alternate"]] = e
            elif "command" in e or "event" in e:
                kind = "command" if "command" in e else "event"
                data = e.get("data")
                if isinstance(data, dict):
                    args, dname = _members(data, self.defines), None
                elif isinstance(data, str):
                    args, dname = None, data  # resolved lazily: the type may come later
                else:
                    args, dname = [], None
                d = {"args": args, "data": dname, "boxed": bool(e.get("boxed")),
                     "returns": e.get("returns"), "features": e.get("features", [])}
                (self.commands if kind == "command" else self.events)[e[kind]] = d

    def _resolve(self):
        for table in (self.commands, self.events):
            for d in table.values():
                if d["args"] is None:
                    d["args"] = self.all_members(d["data"])

    def all_members(self, struct):
        """A struct's members, its base's first."""
        s = self.structs.get(struct)
        if s is None:
            return []
        base = self.all_members(s["base"]) if s["base"] else []
        return base + list(s["members"])

    def member_names(self, struct):
        return [m.name for m in self.all_members(struct)]


def builtin_path(version):
    return os.path.join(BUILTIN_DIR, f"migration-{version}.json")


_CACHE = {}


def load(version_or_path):
    """The schema of a built-in version ("5.0", "4.0-dev") or of a migration.json path."""
    path = version_or_path
    if not os.path.exists(path):
        path = builtin_path(version_or_path)
    path = os.path.abspath(path)
    if path not in _CACHE:
        _CACHE[path] = Schema(path)
    return _CACHE[path]
