"""Assertion helpers shared by the conformance tests."""
import time


def expect_ok(reply):
    assert "return" in reply, f"expected success, got {reply}"
    return reply["return"]


def expect_error(reply, desc=None, cls="GenericError"):
    assert "error" in reply, f"expected an error, got {reply}"
    e = reply["error"]
    assert e["class"] == cls, f"class {e['class']!r} != {cls!r}: {e}"
    if desc is not None:
        assert e["desc"] == desc, f"\n  got:    {e['desc']!r}\n  wanted: {desc!r}"
    return e


FINAL = ("completed", "failed", "cancelled")


def wait_status(qmp, statuses, timeout=60.0):
    """Waits (on MIGRATION events, with a deadline) until the side reaches one of
    `statuses`; requires the events capability on that side.  Returns the status."""
    if isinstance(statuses, str):
        statuses = (statuses,)
    deadline = time.monotonic() + timeout
    while True:
        # The state may already be reached.
        st = qmp.call("query-migrate").get("status")
        if st in statuses:
            return st
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"status {st!r} never became one of {statuses}")
        # Events stay queued for the test; any event (or 1 s) triggers a new look.
        qmp.wait_activity(min(left, 1.0))


def poll_until(fetch, ok, timeout=10.0, interval=0.01):
    """For the rare condition no event signals: fetch() until ok(value), with a deadline.
    Returns the last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fetch()
        if ok(v) or time.monotonic() > deadline:
            return v
        time.sleep(interval)


def set_caps(qmp, **caps):
    items = [{"capability": k.replace("_", "-"), "state": v} for k, v in caps.items()]
    return qmp.call("migrate-set-capabilities", {"capabilities": items})


def caps_dict(qmp):
    return {c["capability"]: c["state"] for c in qmp.call("query-migrate-capabilities")}


def query_after_pass(qmp, n):
    """query-migrate after MIGRATION_PASS n: the reply already reflects that pass (QEMU's
    counters are live; migbench publishes them before it emits the event)."""
    info = qmp.call("query-migrate")
    count = info.get("ram", {}).get("dirty-sync-count", n)
    assert count >= n, f"dirty-sync-count {count} after MIGRATION_PASS {n}: {info}"
    return info


def runstate_after_migration(qmp):
    """The source's run state once its migration ended.  QEMU moves it to postmigrate (or
    back to running) in migration_iteration_finish, after the final MIGRATION event and
    with no event of its own: poll briefly past the intermediate finish-migrate."""
    return poll_until(lambda: qmp.call("query-status")["status"],
                      lambda st: st != "finish-migrate")
