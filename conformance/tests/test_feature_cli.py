"""The command-line tools a person or a script uses: migbench --help, migbench qmp (one-shot,
key=value arguments, script mode, --wait-event, exit statuses) and migbench run --check."""
import json
import subprocess

import pytest

pytestmark = pytest.mark.migbench_only("migbench's own command-line tools")


def mb(target, *args, stdin=None, timeout=120):
    return subprocess.run([target.vm_argv[0], *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("sub", ["", "vm", "qmp", "run", "trace"])
def test_help(target, sub):
    r = mb(target, *([sub] if sub else []), "--help")
    assert r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), r


def test_unknown_command(target):
    r = mb(target, "frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_qmp_one_shot_and_key_value_arguments(vm, target):
    vm.qmp  # the monitor is up
    addr = f"unix:{vm.qmp_path}"
    r = mb(target, "qmp", "--compact", addr, "query-status")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["return"]["status"] == "running"
    r = mb(target, "qmp", addr, "migrate-set-parameters", "downtime-limit=123",
           "tls-creds=abc")
    assert r.returncode == 0, r
    p = vm.qmp.call("query-migrate-parameters")
    assert (p["downtime-limit"], p["tls-creds"]) == (123, "abc")
    # a JSON object works too
    r = mb(target, "qmp", addr, "migrate-set-parameters", '{"downtime-limit": 77}')
    assert r.returncode == 0 and vm.qmp.call("query-migrate-parameters")["downtime-limit"] == 77


def test_qmp_error_reply_exits_1(vm, target):
    vm.qmp
    r = mb(target, "qmp", "--compact", f"unix:{vm.qmp_path}", "migrate-continue",
           "state=pre-switchover")
    assert r.returncode == 1
    assert json.loads(r.stdout)["error"]["desc"] == "Migration not in expected state: none"


def test_qmp_no_server_exits_2(vms, target):
    r = mb(target, "qmp", "--timeout", "200ms", f"unix:{vms.path('nobody.qmp')}", "query-status")
    assert r.returncode == 2 and r.stderr


def test_qmp_script_mode(vm, target):
    vm.qmp
    r = mb(target, "qmp", "--compact", f"unix:{vm.qmp_path}",
           stdin='query-status\n{"execute": "query-migrate"}\nquery-version\n')
    assert r.returncode == 0, r
    replies = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [list(x) for x in replies] == [["return"]] * 3
    assert replies[1]["return"] == {}


def test_qmp_wait_event(vm, target):
    vm.qmp
    r = mb(target, "qmp", "--compact", "--wait-event", "STOP", "--timeout", "10s",
           f"unix:{vm.qmp_path}", "stop")
    assert r.returncode == 0, r
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert lines[0] == {"return": {}} and lines[-1]["event"] == "STOP"


def test_run_check_shows_differences(vms, target):
    golden = vms.path("golden.json")
    base = ["run", "-q", "--guest", "sim:uniform,size=16M,rate=4M,seed=1"]
    r = mb(target, *base, "--json", golden)
    assert r.returncode == 0, r
    assert mb(target, *base, "--check", golden).returncode == 0
    r = mb(target, *base, "--param", "downtime-limit=100", "--check", golden)
    assert r.returncode == 1
    assert "settings.parameters.downtime-limit" in r.stdout or "difference" in r.stdout, r.stdout
