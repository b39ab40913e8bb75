"""Member order of replies, as bytes: QEMU prints objects in QDict order (hash bucket, newest
member first within a bucket), so libvirt captures and text-comparing tools see one exact
order per object.  These tests read the raw reply text and compare the order of every
object's members against QEMU 5.0's.

Where the order comes from: the greeting and query-version are libvirt's capture of QEMU
5.0.0 (`{"qemu": {"micro": 0, "minor": 0, "major": 5}, "package": "v5.0.0"}`), the
capabilities and query-qmp-schema entries the same capture; query-migrate-parameters agrees
with the one real 4.2.0 session capture (qemu-devel, 2020-03-20) filtered to its members;
the others are QEMU's QDict order of its visitor's insertion order (schema declaration
order).  Each ORDER lists every member an object of that kind can have: an object that has
only some of them must show those in the same relative order (removing members from a
QDict does not reorder the rest).  The qemu target checks these lists against QEMU itself."""
import json
import socket
import time

import pytest

from lib.mig import finish_pair, start_pair

VERSION_INFO = ["qemu", "package"]
VERSION_TRIPLE = ["micro", "minor", "major"]
STATUS_INFO = ["status", "singlestep", "running"]
CAPABILITY_STATUS = ["state", "capability"]
MIGRATION_PARAMETERS = [
    "xbzrle-cache-size", "cpu-throttle-initial", "announce-max", "decompress-threads",
    "compress-threads", "compress-level", "multifd-channels", "multifd-zstd-level",
    "announce-initial", "block-incremental", "compress-wait-thread", "downtime-limit",
    "tls-authz", "multifd-compression", "announce-rounds", "announce-step", "tls-creds",
    "multifd-zlib-level", "max-cpu-throttle", "max-postcopy-bandwidth", "tls-hostname",
    "throttle-trigger-threshold", "max-bandwidth", "x-checkpoint-delay",
    "cpu-throttle-increment"]
MIGRATION_PARAMETERS_40DEV = [  # the 4.0-dev schema's set (x-multifd-*, no multifd-*)
    "xbzrle-cache-size", "cpu-throttle-initial", "announce-max", "decompress-threads",
    "compress-threads", "compress-level", "announce-initial", "block-incremental",
    "compress-wait-thread", "downtime-limit", "announce-rounds", "announce-step", "tls-creds",
    "x-multifd-page-count", "max-cpu-throttle", "max-postcopy-bandwidth", "tls-hostname",
    "x-multifd-channels", "max-bandwidth", "x-checkpoint-delay", "cpu-throttle-increment"]
MIGRATION_INFO = [
    "expected-downtime", "postcopy-blocktime", "cpu-throttle-percentage", "compression",
    "xbzrle-cache", "status", "disk", "setup-time", "error-desc", "downtime", "total-time",
    "postcopy-vcpu-blocktime", "ram", "socket-address"]
MIGRATION_STATS = [
    "total", "postcopy-requests", "dirty-sync-count", "multifd-bytes", "pages-per-second",
    "page-size", "remaining", "mbps", "transferred", "duplicate", "dirty-pages-rate",
    "skipped", "normal-bytes", "normal"]
SCHEMA_INFO = [  # SchemaInfo and its variants, members, enum values (no two share a bucket)
    "name", "element-type", "tag", "variants", "ret-type", "default", "members", "allow-oob",
    "case", "type", "json-type", "meta-type", "arg-type", "values", "features"]
RETURN = ["return", "id"]
ERROR = ["id", "error"]
ERROR_BODY = ["class", "desc"]
EVENT = ["timestamp", "event", "data"]
TIMESTAMP = ["seconds", "microseconds"]


class RawQMP:
    """A bare QMP connection that hands back every message as its text.  Its traffic
    bypasses the recorder, so the tests using it claim no schema coverage."""

    def __init__(self, path, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # the process is starting: poll the file system
        self.buf = b""
        self.greeting = self.line(timeout)

    def line(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for a QMP message"
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            assert data, "QMP connection closed"
            self.buf += data
        text, self.buf = self.buf.split(b"\n", 1)
        return text.decode().rstrip("\r")

    def execute(self, text):
        """Sends one request; returns (reply text, [event texts seen before it])."""
        self.sock.sendall(text.encode() + b"\n")
        events = []
        while True:
            t = self.line()
            if '"event": ' in t and not t.startswith(('{"return"', '{"id"', '{"error"')):
                events.append(t)
                continue
            return t, events

    def close(self):
        self.sock.close()


def members(text):
    """The parsed text with every object as a list of (key, value) pairs, in text order."""
    return json.loads(text, object_pairs_hook=list)


STRICT = [True]  # migbench serves exactly these members; newer QEMUs have more


def assert_order(pairs, order, where):
    keys = [k for k, _ in pairs]
    if STRICT[0]:
        assert set(keys) <= set(order), f"{where}: unexpected members {set(keys) - set(order)}"
    keys = [k for k in keys if k in order]
    want = [k for k in order if k in keys]
    assert keys == want, f"{where}: members in the order {keys}, QEMU prints {want}"


def obj(pairs, key):
    return dict(pairs)[key]


def pairs_of(v):
    """A reply the suite's client parsed (json.loads keeps text order) as pairs."""
    if isinstance(v, dict):
        return [(k, pairs_of(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [pairs_of(x) for x in v]
    return v


@pytest.fixture
def raw(vms, target):
    STRICT[0] = target.is_migbench
    # paused: a booted QEMU guest holds its single-client monitor with the suite's client
    vm = vms(paused=True)
    c = RawQMP(vm.qmp_path)
    reply, _ = c.execute('{"execute": "qmp_capabilities"}')
    assert reply == '{"return": {}}'
    yield c
    c.close()


def test_greeting_and_query_version_order(raw):
    g = members(raw.greeting)
    assert_order(g, ["QMP"], "greeting")
    qmp = obj(g, "QMP")
    assert_order(qmp, ["version", "capabilities"], "greeting QMP")
    reply, _ = raw.execute('{"execute": "query-version", "id": "libvirt-2"}')
    r = members(reply)
    assert_order(r, RETURN, "query-version reply")
    for where, v in (("greeting", obj(qmp, "version")), ("query-version", obj(r, "return"))):
        assert_order(v, VERSION_INFO, where)
        assert_order(obj(v, "qemu"), VERSION_TRIPLE, where + " qemu")
        assert len(obj(v, "qemu")) == 3


def test_query_status_and_event_order(raw):
    reply, _ = raw.execute('{"execute": "query-status"}')
    r = obj(members(reply), "return")
    assert_order(r, STATUS_INFO, "query-status")
    assert len(r) == 3
    reply, events = raw.execute('{"execute": "cont", "id": 7}')  # the vm starts paused
    assert_order(members(reply), RETURN, "cont reply")
    if not events:  # the event may follow the reply
        events = [raw.line()]
    ev = members(events[0])
    assert obj(ev, "event") == "RESUME"
    assert_order(ev, EVENT, "RESUME event")
    assert_order(obj(ev, "timestamp"), TIMESTAMP, "timestamp")


def test_migration_queries_order(raw, target):
    reply, _ = raw.execute('{"execute": "query-migrate-capabilities"}')
    caps = obj(members(reply), "return")
    assert caps
    for c in caps:
        assert_order(c, CAPABILITY_STATUS, "query-migrate-capabilities element")
    reply, _ = raw.execute('{"execute": "query-migrate-parameters"}')
    params = obj(members(reply), "return")
    assert len(params) >= 21
    order = MIGRATION_PARAMETERS_40DEV if target.version == "4.0-dev" else MIGRATION_PARAMETERS
    assert_order(params, order, "query-migrate-parameters")
    reply, _ = raw.execute('{"execute": "query-migrate"}')
    assert reply == '{"return": {}}'


def test_introspection_order(raw):
    reply, _ = raw.execute('{"execute": "query-commands"}')
    for c in obj(members(reply), "return"):
        assert_order(c, ["name"], "query-commands element")
    reply, _ = raw.execute('{"execute": "query-qmp-schema"}')
    seen = 0

    def walk(v):
        nonlocal seen
        if isinstance(v, list) and v and all(isinstance(p, tuple) for p in v):
            assert_order(v, SCHEMA_INFO, f"query-qmp-schema object {v[0]}")
            seen += 1
            for _, x in v:
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(obj(members(reply), "return"))
    assert seen > 50


def test_error_order(raw):
    reply, _ = raw.execute('{"execute": "no-such-command", "id": "x"}')
    r = members(reply)
    assert_order(r, ERROR, "error reply")
    assert_order(obj(r, "error"), ERROR_BODY, "error body")


@pytest.mark.covers("command:query-migrate", "event:MIGRATION")
def test_completed_query_migrate_order(vms, target):
    STRICT[0] = target.is_migbench
    src, dst = start_pair(vms)
    finish_pair(src, dst)
    # The suite's client holds the monitor (QEMU serves one client); its json.loads keeps
    # the members in text order.
    info = pairs_of(src.qmp.call("query-migrate"))
    assert_order(info, MIGRATION_INFO, "query-migrate (completed)")
    assert obj(info, "status") == "completed"
    assert_order(obj(info, "ram"), MIGRATION_STATS, "query-migrate ram")
    assert len(obj(info, "ram")) >= 13
