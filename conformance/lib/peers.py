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
