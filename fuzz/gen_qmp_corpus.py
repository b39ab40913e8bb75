#!/usr/bin/env python3
"""Generates the schema-derived part of the QMP fuzz seed corpus (fuzz/corpus/qmp/gen-*).

  python3 fuzz/gen_qmp_corpus.py            rewrite every gen-* file from the schemas

Every command of schema/core.json and schema/migration-5.0.json gets one input: a valid call
(every member, with a value of its type), then invalid ones (a member of the wrong type,
the required members missing, an unexpected member, an enum value out of range, arguments
that are not an object), each with an id.  allow-oob commands get an exec-oob input too.
Besides: batches (many commands in one input), inputs cut into 2- and 4-byte reads, and
exec-oob interleaved with in-band requests.  Hand-written seeds (the files not named
gen-*) are left alone.

Input format (fuzz/fuzz_qmp.c): the first byte selects the start state (bit 0 negotiate,
bit 1 with OOB, bit 2 OOB not offered, bits 3-7 the read size 1 << n, 0 = all at once);
the rest is fed to the session."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "conformance"))
from lib import qapi  # noqa: E402  (the suite's stdlib-only QAPI reader)

OUT = os.path.join(HERE, "corpus", "qmp")
NEGOTIATED, WITH_OOB = 0x01, 0x02

INTS = {"int", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "size"}


def mode(negotiate=True, oob=False, read_log2=0):
    return bytes([(NEGOTIATED if negotiate else 0) | (WITH_OOB if oob else 0) |
                  (read_log2 << 3)])


def valid_value(schema, t, depth=0):
    """A value of QAPI type `t` that the schema accepts."""
    if isinstance(t, list):
        return [valid_value(schema, t[0], depth + 1)]
    if t == "str":
        return "a"
    if t in INTS:
        return 1
    if t == "number":
        return 1.5
    if t == "bool":
        return True
    if t == "null":
        return None
    if t == "any" or depth > 8:
        return {}
    if t in schema.enums:
        return schema.enums[t][0]
    if t in schema.structs:
        return {m.name: valid_value(schema, m.type, depth + 1)
                for m in schema.all_members(t)}
    if t in schema.alternates:
        branch = next(iter(schema.alternates[t]["data"].values()))
        return valid_value(schema, branch if isinstance(branch, str) else branch["type"],
                           depth + 1)
    return {}


def wrong_value(schema, t):
    """A value of the wrong JSON type for `t`."""
    if isinstance(t, list):
        return {"not": "a list"}
    if t == "str" or t in schema.enums:
        return 1
    return "wrong"


def requests(schema, name, cmd, key="execute"):
    """The valid call and the invalid ones for one command, as JSON texts with ids."""
    args = cmd["args"]
    out = []

    def req(i, arguments=None):
        m = {key: name, "id": f"{name}-{i}"}
        if arguments is not None:
            m["arguments"] = arguments
        out.append(json.dumps(m))

    req(0, {m.name: valid_value(schema, m.type) for m in args} if args else None)
    if args:
        first = args[0]
        req(1, {first.name: wrong_value(schema, first.type)})
        if any(not m.optional for m in args):
            req(2, {})
        req(3, {"no-such-member": 1})
        enums = [m for m in args if isinstance(m.type, str) and m.type in schema.enums]
        if enums:
            req(4, {enums[0].name: "no-such-value"})
        lists = [m for m in args if isinstance(m.type, list)]
        if lists:
            req(5, {lists[0].name: [wrong_value(schema, lists[0].type[0])]})
    else:
        req(1, {"unexpected": True})
    req(6, [])  # arguments must be an object
    return out


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def main():
    schema = qapi.load("5.0")  # core.json + migration-5.0.json, as the harness serves
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.startswith("gen-"):
            os.unlink(os.path.join(OUT, f))
    names = sorted(schema.commands)
    all_valid = []
    for name in names:
        cmd = schema.commands[name]
        reqs = requests(schema, name, cmd)
        all_valid.append(reqs[0])
        negotiate = name != "qmp_capabilities"
        write(f"gen-cmd-{name}", mode(negotiate) + "\n".join(reqs).encode() + b"\n")
        raw = schema_raw(schema, name)
        if raw.get("allow-oob"):
            oob = requests(schema, name, cmd, key="exec-oob")
            write(f"gen-oob-{name}", mode(oob=True) + "\n".join(oob).encode() + b"\n")
    # Every command once, in one input, then the same cut into 2-byte reads.
    batch = "".join(all_valid).encode()
    write("gen-batch-all", mode() + batch)
    write("gen-batch-all-split2", mode(read_log2=1) + batch + b"\n")
    # exec-oob between queued in-band requests, read 4 bytes at a time.
    inter = []
    for i, name in enumerate(names[:12]):
        inter.append(json.dumps({"execute": name, "id": i}))
        inter.append(json.dumps({"exec-oob": "migrate-pause", "id": f"oob{i}"}))
    write("gen-oob-interleaved-split4", mode(oob=True, read_log2=2) + "".join(inter).encode())
    # The same requests before negotiation (all refused) and without OOB offered.
    write("gen-unnegotiated", mode(negotiate=False) + batch)
    write("gen-oob-not-offered", bytes([0x04 | NEGOTIATED]) + "".join(inter).encode())
    print(f"wrote {len(os.listdir(OUT))} files in {OUT}")


_RAW = {}


def schema_raw(schema, name):
    """The command's definition as written (for 'allow-oob', which the reader drops)."""
    if not _RAW:
        for path in schema.files:
            for e in qapi.parse_file(path):
                if "command" in e:
                    _RAW[e["command"]] = e
    return _RAW.get(name, {})


if __name__ == "__main__":
    main()
