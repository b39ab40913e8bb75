"""A small QMP client for the conformance suite (stdlib only).

One connection per object: reads the greeting, negotiates, then sends commands and waits for
their replies with a deadline.  Events that arrive meanwhile are queued in order; tests wait
for them with wait_event(), which never sleeps blindly: it blocks on the socket until the
deadline.

An `observer` (lib/recorder.py) sees every command with its reply and every event as it
arrives, before the test does: that is how every test's traffic gets checked."""
import itertools
import json
import os
import socket
import time


class QMPError(Exception):
    pass


class QMPTimeout(QMPError):
    pass


class QMPClient:
    def __init__(self, path, timeout=10.0, negotiate=True, oob=False, observer=None):
        self.path = path
        self.observer = observer
        self.sock = None
        self.buf = b""
        self.events = []
        self.ids = itertools.count(1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                self.sock = s
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if time.monotonic() > deadline:
                    raise QMPTimeout(f"no QMP monitor at {path}")
                # The process is starting: wait on the file system, not on a fixed sleep.
                time.sleep(0.01)
        self.greeting = self._read_message(deadline)
        if "QMP" not in self.greeting:
            raise QMPError(f"bad greeting {self.greeting}")
        if negotiate:
            args = {"enable": ["oob"]} if oob else None
            r = self.cmd("qmp_capabilities", args)
            if "error" in r:
                raise QMPError(f"negotiation failed: {r}")

    # ---- low level ----
    def _read_message(self, deadline):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                if line.strip():
                    return json.loads(line)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPTimeout("timed out waiting for a QMP message")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise QMPTimeout("timed out waiting for a QMP message")
            if not data:
                raise QMPError("QMP connection closed")
            self.buf += data

    def send_raw(self, text):
        if isinstance(text, str):
            text = text.encode()
        self.sock.sendall(text)

    def recv_reply(self, timeout=10.0, want_id=None):
        """Next non-event message (events are queued)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if "event" in m:
                self._queue_event(m)
                continue
            if want_id is not None and m.get("id") != want_id:
                continue
            return m

    # ---- commands ----
    def cmd(self, name, args=None, timeout=30.0, oob=False, send_fd=None):
        """Executes a command; returns the whole reply ({"return"} or {"error"})."""
        if self.observer is not None:
            self.observer.before_command(self, name, args)
        i = next(self.ids)
        msg = {"exec-oob" if oob else "execute": name, "id": i}
        if args is not None:
            msg["arguments"] = args
        data = (json.dumps(msg) + "\n").encode()
        if send_fd is not None:
            socket.send_fds(self.sock, [data], [send_fd])
        else:
            self.sock.sendall(data)
        reply = self.recv_reply(timeout, want_id=i)
        if self.observer is not None:
            self.observer.on_command(self, name, args, reply)
        return reply

    def call(self, name, args=None, **kw):
        """Executes a command and returns its "return" value; raises on an error reply."""
        r = self.cmd(name, args, **kw)
        if "error" in r:
            raise QMPError(f"{name}: {r['error']['class']}: {r['error']['desc']}")
        return r["return"]

    # ---- events ----
    def poll_events(self):
        """Moves whatever has arrived into the event queue without blocking."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                self.buf += data
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                m = json.loads(line)
                if "event" in m:
                    self._queue_event(m)

    def _queue_event(self, m):
        self.events.append(m)
        if self.observer is not None:
            self.observer.on_event(self, m)

    def wait_event(self, name=None, timeout=30.0, match=None, keep=False):
        """Returns (and removes, unless keep) the first queued event named `name` whose data
        satisfies `match` (a dict of expected data members), waiting up to `timeout`
        seconds.  Replies to nothing (raw input) that arrive meanwhile are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            for k, ev in enumerate(self.events):
                if name is not None and ev["event"] != name:
                    continue
                if match and any(ev.get("data", {}).get(a) != b for a, b in match.items()):
                    continue
                return ev if keep else self.events.pop(k)
            try:
                m = self._read_message(deadline)
            except QMPTimeout:
                raise QMPTimeout(f"no {name or 'event'} {match or ''} within {timeout} s; "
                                 f"queued: {self.events}") from None
            if "event" in m:
                self._queue_event(m)

    def wait_activity(self, timeout):
        """Blocks until one more event arrives (queued, not consumed) or timeout passes;
        returns False on timeout."""
        deadline = time.monotonic() + timeout
        try:
            m = self._read_message(deadline)
        except QMPTimeout:
            return False
        if "event" in m:
            self._queue_event(m)
        return True

    def drain_events(self, name=None):
        """Returns and removes every queued event (of `name`, if given)."""
        self.poll_events()
        out = [e for e in self.events if name is None or e["event"] == name]
        self.events = [e for e in self.events if not (name is None or e["event"] == name)]
        return out

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None
