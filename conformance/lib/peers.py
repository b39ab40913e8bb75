"""Stand-in peers for a migrating source, to hold it in a state on purpose.

- FullListener: a unix socket whose accept queue is full, so a source connecting to it
  stays in 'setup' (its connect blocks) until release().
- DrainingDestination: accepts the migration stream and discards it, until the test stops
  reading (the source then blocks in a write) or closes it (the source's next write fails).
These give exact, timing-free triggers for the transitions out of 'setup' and 'device'."""
import os
import socket
import threading


class FullListener:
    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(0)
        self.fillers = []
        while True:  # fill the accept queue: further connects block
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(path)
            except BlockingIOError:
                c.close()
                break
            self.fillers.append(c)
        assert self.fillers, "could not fill the accept queue"

    @property
    def uri(self):
        return f"unix:{self.path}"

    def release(self):
        """Closes the listener: the blocked connect fails, as a refused one would."""
        self.srv.close()
        for c in self.fillers:
            c.close()
        self.fillers = []
        if os.path.exists(self.path):
            os.unlink(self.path)


class DrainingDestination:
    def __init__(self, path):
        self.path = path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.conn = None
        self.received = 0
        self.reading = threading.Event()
        self.reading.set()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def uri(self):
        return f"unix:{self.path}"

    def wait_connected(self, timeout=30.0):
        """Waits until the source's connection is accepted.  (Until then its data sits in
        the listener's queue, and closing the listener would leave the source's writes
        blocked forever instead of failing.)"""
        assert self.connected.wait(timeout), "the source never connected"

    def _run(self):
        try:
            self.conn, _ = self.srv.accept()
        except OSError:
            return
        self.connected.set()
        while self.reading.is_set():
            try:
                data = self.conn.recv(1 << 16)
            except OSError:
                return
            if not data:
                return
            self.received += len(data)

    def stop_reading(self):
        """From the next read on, nothing is read: the source's writes block once the
        socket buffers are full.  (The reader thread finishes its current read first.)"""
        self.reading.clear()

    def close(self):
        self.reading.clear()
        for s in (self.conn, self.srv):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
        self.thread.join(10)
        if os.path.exists(self.path):
            os.unlink(self.path)


class CuttingRelay:
    """A unix-socket relay between a source and its destination that forwards both ways
    until cut_after(n): from then on it forwards n more source->destination bytes and then
    closes both connections, so a stream breaks at an exact point of the traffic that
    follows (e.g. in the middle of the next COLO checkpoint).  `log` keeps what it
    forwarded, [("down" | "up", bytes)] in causal order (each chunk is logged before it is
    passed on)."""

    def __init__(self, path, target_path):
        self.path = path
        self.target_path = target_path
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(1)
        self.lock = threading.Lock()
        self.budget = None  # bytes still forwarded downstream once cut_after() was called
        self.cut = threading.Event()
        self.conns = []
        self.log = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def uri(self):
        return f"unix:{self.path}"

    def cut_after(self, n):
        with self.lock:
            self.budget = n

    def _close(self):
        self.cut.set()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _pump(self, a, b, downstream):
        while not self.cut.is_set():
            try:
                data = a.recv(1 << 16)
            except OSError:
                break
            if not data:
                break
            if downstream:
                with self.lock:
                    if self.budget is not None:
                        data = data[:self.budget]
                        self.budget -= len(data)
                    self.log.append(("down", data))
                try:
                    b.sendall(data)
                except OSError:
                    break
                with self.lock:
                    if self.budget == 0:
                        break
            else:
                with self.lock:
                    self.log.append(("up", data))
                try:
                    b.sendall(data)
                except OSError:
                    break
        self._close()

    def _run(self):
        try:
            up, _ = self.srv.accept()
        except OSError:
            return
        down = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        down.connect(self.target_path)
        self.conns = [up, down]
        t = threading.Thread(target=self._pump, args=(down, up, False), daemon=True)
        t.start()
        self._pump(up, down, True)

    def close(self):
        self._close()
        self.srv.close()
