"""The schema elements the suite must cover, generated from a QAPI schema.

Element ids (what `@pytest.mark.covers(...)` names and docs/conformance-matrix.md lists):

  command:NAME                 a command
  arg:COMMAND.MEMBER           an argument member (one level into list-of-struct members:
                               arg:migrate-set-capabilities.capabilities.state)
  event:NAME                   an event
  data:EVENT.MEMBER            an event's data member
  enum:TYPE.VALUE              a value of a migration enum (ENUMS)
  member:TYPE.MEMBER           a member of a statistics / parameters struct (STRUCTS)

Shorthands accepted in markers (expand()):
  status:X   -> enum:MigrationStatus.X
  cap:X      -> enum:MigrationCapability.X
  param:X    -> arg:migrate-set-parameters.X, member:MigrationParameters.X,
                enum:MigrationParameter.X      (setting and reading back parameter X)
  info:X / ram:X / xbzrle:X / compression:X
             -> member:MigrationInfo.X / MigrationStats.X / XBZRLECacheStats.X /
                CompressionStats.X
  type:T     -> nothing (documents the type a test is about; T must exist)

Features not built yet (in migbench) are in lib/features.py: their elements are listed as
such in the report instead of failing the completeness check."""
from . import qapi

ENUMS = ("MigrationStatus", "MigrationCapability", "MigrationParameter", "MultiFDCompression",
         "COLOMessage", "COLOMode", "FailoverStatus", "COLOExitReason")
STRUCTS = ("MigrationInfo", "MigrationStats", "XBZRLECacheStats", "CompressionStats",
           "MigrationParameters")
KINDS = ("command", "arg", "event", "data", "enum", "member")

_SHORT = {"status": "enum:MigrationStatus.", "cap": "enum:MigrationCapability.",
          "info": "member:MigrationInfo.", "ram": "member:MigrationStats.",
          "xbzrle": "member:XBZRLECacheStats.", "compression": "member:CompressionStats."}


def _is_list(t):
    return isinstance(t, list)


def _args(schema, name, members):
    out = []
    for m in members:
        out.append(f"arg:{name}.{m.name}")
        t = m.type[0] if _is_list(m.type) else m.type
        if t in schema.structs:
            out += [f"arg:{name}.{m.name}.{n}" for n in schema.member_names(t)]
    return out


def elements(schema):
    """Every element of a schema, in a stable order (schema order within each kind)."""
    out = []
    for c, d in schema.commands.items():
        out.append(f"command:{c}")
        out += _args(schema, c, d["args"])
    for e, d in schema.events.items():
        out.append(f"event:{e}")
        out += [f"data:{e}.{m.name}" for m in d["args"]]
    for t in ENUMS:
        out += [f"enum:{t}.{v}" for v in schema.enums.get(t, [])]
    for t in STRUCTS:
        out += [f"member:{t}.{m}" for m in schema.member_names(t)]
    return out


def expand(name):
    """The element ids a marker name stands for (see the module doc)."""
    kind, _, rest = name.partition(":")
    if kind in _SHORT:
        return [_SHORT[kind] + rest]
    if kind == "param":
        return [f"arg:migrate-set-parameters.{rest}", f"member:MigrationParameters.{rest}",
                f"enum:MigrationParameter.{rest}"]
    if kind == "type":
        return []
    if kind in KINDS:
        return [name]
    raise ValueError(f"unknown element kind in {name!r}")


def known_everywhere():
    """Elements of every schema migbench ships (what a marker may name)."""
    out = set()
    for v in ("5.0", "4.0-dev"):
        out |= set(elements(qapi.load(v)))
    return out


def known_types():
    out = set()
    for v in ("5.0", "4.0-dev"):
        s = qapi.load(v)
        out |= set(s.structs) | set(s.enums) | set(s.unions) | set(s.alternates)
    return out


def validate_marker(name, known=None, types=None):
    """Raises ValueError for a marker naming nothing that exists in a shipped schema."""
    kind, _, rest = name.partition(":")
    if kind == "type":
        if rest not in (types or known_types()):
            raise ValueError(f"covers({name!r}): no such type in the shipped schemas")
        return
    known = known or known_everywhere()
    for e in expand(name):
        if e not in known:
            raise ValueError(f"covers({name!r}): {e} is in no shipped schema")


def covered_by(item):
    """The element ids a pytest item's covers markers stand for."""
    out = set()
    for m in item.iter_markers("covers"):
        for name in m.args:
            out.update(expand(name))
    return out


def claims(item):
    """The item's covers markers, each with the element ids it stands for."""
    return [(name, expand(name)) for m in item.iter_markers("covers") for name in m.args]
