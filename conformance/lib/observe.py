"""What a test really exercised: the schema elements found in its QMP traffic.

Walks every command's arguments and reply, and every event, along the schema's types and
names the elements it meets (ids as in lib/elements.py).  The suite uses it to check that a
test covers what its `covers` marker claims (a claim the traffic never showed fails the
test), and the report lists what each test exercised."""
from .elements import ENUMS, STRUCTS

_ENUMS = set(ENUMS)
_STRUCTS = set(STRUCTS)


def _walk(schema, t, value, out, depth=0):
    """Names the enum values and struct members of `value`, a value of type `t`."""
    if depth > 8 or value is None:
        return
    if isinstance(t, list):
        if isinstance(value, list):
            for v in value:
                _walk(schema, t[0], v, out, depth + 1)
        return
    if t in schema.enums:
        if t in _ENUMS and isinstance(value, str):
            out.add(f"enum:{t}.{value}")
        return
    if t in schema.structs and isinstance(value, dict):
        for m in schema.all_members(t):
            if m.name in value:
                if t in _STRUCTS:
                    out.add(f"member:{t}.{m.name}")
                _walk(schema, m.type, value[m.name], out, depth + 1)


def command(schema, name, args, reply):
    """Elements a command exercised (arguments as sent, whatever the reply said)."""
    out = {f"command:{name}"}
    d = schema.commands.get(name)
    if d is None:
        return out
    args = args or {}
    for m in d["args"]:
        if m.name not in args:
            continue
        out.add(f"arg:{name}.{m.name}")
        t = m.type[0] if isinstance(m.type, list) else m.type
        if t in schema.structs:
            items = args[m.name] if isinstance(args[m.name], list) else [args[m.name]]
            for it in items:
                if isinstance(it, dict):
                    out.update(f"arg:{name}.{m.name}.{k}" for k in it
                               if k in schema.member_names(t))
        _walk(schema, m.type, args[m.name], out)
    if name == "migrate-set-parameters":
        # MigrationParameter (the enum) names the parameters; no command uses it directly.
        out.update(f"enum:MigrationParameter.{k}" for k in args
                   if k in schema.enums.get("MigrationParameter", ()))
    if isinstance(reply, dict) and "return" in reply and d.get("returns") is not None:
        _walk(schema, d["returns"], reply["return"], out)
        if name == "query-migrate-parameters" and isinstance(reply["return"], dict):
            out.update(f"enum:MigrationParameter.{k}" for k in reply["return"]
                       if k in schema.enums.get("MigrationParameter", ()))
    return out


def event(schema, ev):
    name = ev.get("event")
    out = {f"event:{name}"}
    d = schema.events.get(name)
    if d is None:
        return out
    data = ev.get("data") or {}
    for m in d["args"]:
        if m.name in data:
            out.add(f"data:{name}.{m.name}")
            _walk(schema, m.type, data[m.name], out)
    return out


def wire(elements):
    """Credits the running test with elements it decoded from the migration stream itself
    (the COLOMessage values of a COLO exchange, which no QMP reply carries)."""
    from .recorder import CURRENT
    if CURRENT["observed"] is not None:
        CURRENT["observed"].update(elements)
