"""TLS on the migration channel: tls-creds-x509 and authz-simple objects (object-add,
object-del, -object), tls-creds / tls-hostname / tls-authz, with QEMU's texts for every
refusal (QEMU's migration/tls.c and crypto/tlssession.c), and good migrations over TLS, plain
and multifd.  The CA and certificates are made at test time (lib/tlscerts.py, certtool).

On QEMU 7.2, object-add takes the properties at the top level (QEMU 6.0 dropped 'props');
add_object() sends the shape the target's version takes."""
import os

import pytest

from lib import tlscerts
from lib.expect import expect_error, expect_ok, poll_until, set_caps, wait_status
from lib.mig import converge, incoming_uri, outgoing_uri

OLD = ("5.0", "4.0-dev")
V72 = "7.2"


@pytest.fixture(scope="session")
def creds(tmp_path_factory):
    """A credentials directory (CA, server and client certificates) and a second one whose
    certificates come from another CA."""
    try:
        tlscerts.certtool()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    base = tmp_path_factory.mktemp("tls")
    good = tlscerts.make_creds(str(base / "good"))
    other = tlscerts.make_creds(str(base / "other"))
    return {"good": good, "other": other}


def add_object(vm, target, qom_type, oid, **props):
    """object-add in the target's shape: QEMU 5.0 (and migbench) {qom-type, id, props};
    QEMU 7.2 the properties beside qom-type and id."""
    args = {"qom-type": qom_type, "id": oid}
    if target.version == V72:
        args.update(props)
    elif props:
        args["props"] = props
    return vm.qmp.cmd("object-add", args)


def add_creds(vm, target, oid, d, endpoint, verify_peer=True):
    expect_ok(add_object(vm, target, "tls-creds-x509", oid, dir=d, endpoint=endpoint,
                         **{"verify-peer": verify_peer}))


def tls_pair(vms, target, creds, src_dir=None, dst_dir=None, caps=None, src_params=None,
             dst_params=None, transport="tcp", dst_endpoint="server", src_endpoint="client"):
    """A destination listening with TLS credentials tls0 and a source with its own tls0;
    returns (src, dst, uri)."""
    dst = vms(incoming="defer")
    src = vms()
    for vm in (src, dst):
        set_caps(vm.qmp, events=True, **(caps or {}))
    add_creds(dst, target, "tls0", dst_dir or creds["good"], dst_endpoint)
    add_creds(src, target, "tls0", src_dir or creds["good"], src_endpoint)
    p = converge(vms)
    p.update({"tls-creds": "tls0"}, **(src_params or {}))
    src.qmp.call("migrate-set-parameters", p)
    dp = {"tls-creds": "tls0"}
    dp.update(dst_params or {})
    dst.qmp.call("migrate-set-parameters", dp)
    dst.qmp.call("migrate-incoming", {"uri": incoming_uri(vms, transport)})
    return src, dst, outgoing_uri(vms, transport, dst)


def complete(src, dst):
    assert wait_status(src.qmp, ("completed", "failed"), timeout=120) == "completed", \
        src.qmp.call("query-migrate")
    assert wait_status(dst.qmp, ("completed", "failed"), timeout=60) == "completed", \
        dst.qmp.call("query-migrate")


def source_fails(src, uri, text=None):
    """Starts the migration and waits for it to fail; returns error-desc."""
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    st = wait_status(src.qmp, ("completed", "failed"), timeout=120)
    info = src.qmp.call("query-migrate")
    assert st == "failed", info
    if text is not None:
        assert info.get("error-desc") == text, info
    assert src.qmp.call("query-status")["status"] == "running"
    return info.get("error-desc")


def wait_output(vm, text, timeout=20.0):
    """Waits until the vm's stderr shows `text` (QEMU reports incoming TLS errors there)."""
    out = poll_until(vm.output, lambda o: text in o, timeout=timeout)
    assert text in out, out[-2000:]


# ---- objects ----

@pytest.mark.covers("command:object-add", "arg:object-add.qom-type", "arg:object-add.id",
                    "command:object-del", "arg:object-del.id")
def test_object_add_and_del(vm, target, creds):
    add_creds(vm, target, "tls0", creds["good"], "server")
    expect_error(add_object(vm, target, "tls-creds-x509", "tls0", dir=creds["good"]),
                 "attempt to add duplicate property 'tls0' to object (type 'container')")
    expect_ok(add_object(vm, target, "authz-simple", "auth0", identity="CN=x"))
    expect_ok(vm.qmp.cmd("object-del", {"id": "tls0"}))
    expect_error(vm.qmp.cmd("object-del", {"id": "tls0"}), "object 'tls0' not found")
    # the id is free again
    add_creds(vm, target, "tls0", creds["good"], "client")
    expect_ok(vm.qmp.cmd("object-del", {"id": "auth0"}))


def test_object_add_missing_files(vm, target, tmp_path):
    missing = str(tmp_path / "none")
    expect_error(add_object(vm, target, "tls-creds-x509", "tls0", dir=missing, endpoint="server"),
                 f"Unable to access credentials {missing}/ca-cert.pem: No such file or directory")
    # nothing was kept
    expect_error(vm.qmp.cmd("object-del", {"id": "tls0"}), "object 'tls0' not found")


def test_object_add_server_needs_its_certificate(vm, target, tmp_path, creds):
    d = tmp_path / "ca-only"
    d.mkdir()
    (d / "ca-cert.pem").write_bytes(open(os.path.join(creds["good"], "ca-cert.pem"), "rb").read())
    expect_error(add_object(vm, target, "tls-creds-x509", "s", dir=str(d), endpoint="server"),
                 f"Unable to access credentials {d}/server-cert.pem: No such file or directory")
    # a client without a certificate of its own is allowed
    expect_ok(add_object(vm, target, "tls-creds-x509", "c", dir=str(d), endpoint="client"))


@pytest.mark.schemas(*OLD, reason="QEMU 6.0 replaced object-add's 'props' by flat, "
                     "schema-typed arguments (other texts)")
@pytest.mark.covers("arg:object-add.props")
def test_object_add_property_errors(vm, target, creds):
    def add(t, props):
        return vm.qmp.cmd("object-add", {"qom-type": t, "id": "o", "props": props})
    expect_error(add("no-such-type", {}), "invalid object type: no-such-type")
    expect_error(add("tls-creds-x509", [1]), "Invalid parameter type for 'props', expected: dict")
    expect_error(add("tls-creds-x509", {"bogus": 1}), "Property '.bogus' not found")
    expect_error(add("tls-creds-x509", {"dir": 5}),
                 "Invalid parameter type for 'dir', expected: string")
    expect_error(add("tls-creds-x509", {"verify-peer": "yes"}),
                 "Invalid parameter type for 'verify-peer', expected: boolean")
    expect_error(add("tls-creds-x509", {"endpoint": "both"}), "Invalid parameter 'both'")
    expect_error(add("tls-creds-x509", {"endpoint": "server"}), "Missing 'dir' property value")
    expect_error(add("authz-simple", {"dir": "/"}), "Property '.dir' not found")
    expect_error(vm.qmp.cmd("object-add", {"qom-type": "authz-simple"}),
                 "Parameter 'id' is missing")


@pytest.mark.migbench_only("migbench vm's --object (QEMU's -object) on the command line")
def test_object_on_command_line(vms, target, creds):
    d = creds["good"]
    dst = vms(incoming="defer", extra=["--object", f"tls-creds-x509,id=tls0,dir={d},"
                                       "endpoint=server,verify-peer=on",
                                       "--object", "authz-simple,id=auth0,identity="
                                       + tlscerts.CLIENT_DN.replace(",", ",,")])
    dst_params = {"tls-creds": "tls0"}
    if target.v5:  # the 4.0-dev seed has no tls-authz
        dst_params["tls-authz"] = "auth0"
    src = vms(extra=["--object", f"tls-creds-x509,id=tls0,dir={d},endpoint=client"])
    for vm in (src, dst):
        set_caps(vm.qmp, events=True)
    src.qmp.call("migrate-set-parameters", dict(converge(vms), **{"tls-creds": "tls0"}))
    dst.qmp.call("migrate-set-parameters", dst_params)
    dst.qmp.call("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
    src.qmp.call("migrate", {"uri": outgoing_uri(vms, "tcp", dst)})
    complete(src, dst)


@pytest.mark.migbench_only("migbench vm's --object (QEMU's -object) on the command line")
@pytest.mark.parametrize("spec,text", [
    ("tls-creds-x509,dir=/nonexistent", "Parameter 'id' is missing"),
    ("tls-creds-x509,id=t,dir=/nonexistent",
     "Unable to access credentials /nonexistent/ca-cert.pem: No such file or directory"),
    ("tls-creds-x509,id=t,verify-peer=maybe", "Parameter 'verify-peer' expects 'on' or 'off'"),
    ("nosuch,id=t", "invalid object type: nosuch"),
])
def test_bad_object_on_command_line(vms, target, spec, text):
    vm = vms(extra=["--object", spec])
    assert vm.wait_exit(30) == 1
    assert text in vm.output(), vm.output()
    vms.vms.remove(vm)
    vm.log.close()


# ---- good migrations ----

@pytest.mark.covers("param:tls-creds", "param:tls-hostname")
@pytest.mark.parametrize("hostname", ["", "localhost"])
def test_tls_migration(vms, target, creds, hostname):
    """Over tcp: the hostname checked is the URI's host (127.0.0.1, in the server
    certificate) or tls-hostname."""
    src, dst, uri = tls_pair(vms, target, creds, src_params={"tls-hostname": hostname})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    complete(src, dst)
    assert src.qmp.call("query-migrate-parameters")["tls-creds"] == "tls0"


@pytest.mark.schemas("5.0", V72, reason="the 4.0-dev seed names the capability x-multifd")
@pytest.mark.covers("cap:multifd")
@pytest.mark.parametrize("channels", [2, 4])
def test_tls_multifd(vms, target, creds, channels):
    """Every multifd channel runs TLS too (QEMU 5.2 on; QEMU 5.0 did not: docs/quirks.md)."""
    p = {"multifd-channels": channels}
    src, dst, uri = tls_pair(vms, target, creds, caps={"multifd": True}, src_params=p,
                             dst_params=p)
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    complete(src, dst)
    assert src.qmp.call("query-migrate")["ram"]["multifd-bytes"] > 0


@pytest.mark.covers("cap:return-path")
def test_tls_return_path(vms, target, creds):
    """The return path shares the main channel's TLS session."""
    src, dst, uri = tls_pair(vms, target, creds, caps={"return_path": True})
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    complete(src, dst)


@pytest.mark.schemas("5.0", V72, reason="tls-authz arrived with 4.0 (not in the seed)")
@pytest.mark.covers("param:tls-authz")
def test_tls_authz_allows(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, dst_params={"tls-authz": "auth0"})
    expect_ok(add_object(dst, target, "authz-simple", "auth0", identity=tlscerts.CLIENT_DN))
    expect_ok(src.qmp.cmd("migrate", {"uri": uri}))
    complete(src, dst)


# ---- refusals ----

@pytest.mark.schemas("5.0", V72, reason="tls-authz arrived with 4.0 (not in the seed)")
@pytest.mark.covers("param:tls-authz")
def test_tls_authz_denies(vms, target, creds):
    """The destination checks the client's name after the handshake, reports the denial on
    stderr and drops the connection; its incoming state does not change.  The source fails
    on its next write."""
    src, dst, uri = tls_pair(vms, target, creds, dst_params={"tls-authz": "auth0"})
    expect_ok(add_object(dst, target, "authz-simple", "auth0", identity="CN=someone-else"))
    assert source_fails(src, uri)
    wait_output(dst, f"TLS x509 authz check for {tlscerts.CLIENT_DN} is denied")
    assert dst.qmp.call("query-migrate").get("status") in (None, "setup")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"


@pytest.mark.schemas("5.0", V72, reason="tls-authz arrived with 4.0 (not in the seed)")
def test_tls_authz_object_missing(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, dst_params={"tls-authz": "nosuch"})
    assert source_fails(src, uri)
    wait_output(dst, "Cannot find QAuthZ object ID nosuch")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"


def test_tls_hostname_mismatch(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, src_params={"tls-hostname": "wrong.example"})
    source_fails(src, uri, "Certificate does not match the hostname wrong.example")
    assert src.qmp.call("query-migrate").get("ram", {}).get("transferred", 0) == 0


def test_tls_untrusted_server(vms, target, creds):
    """The source's CA did not sign the destination's certificate."""
    src, dst, uri = tls_pair(vms, target, creds, src_dir=creds["other"])
    source_fails(src, uri, "The certificate hasn't got a known issuer")


def test_tls_untrusted_client(vms, target, creds, tmp_path):
    """The destination's CA did not sign the source's certificate (the source trusts the
    destination's): the destination refuses the client and keeps waiting."""
    src_dir = tlscerts.trusting_both(creds["good"], creds["other"], str(tmp_path / "src"))
    src, dst, uri = tls_pair(vms, target, creds, src_dir=src_dir, dst_dir=creds["other"])
    desc = source_fails(src, uri)
    # the source's handshake had completed: a stream error, in error-desc since 4.2
    assert desc or not target.v5
    wait_output(dst, "The certificate hasn't got a known issuer")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"


def test_object_add_own_certificate_not_signed_by_ca(vm, target, creds, tmp_path):
    """QEMU's sanity check: an end's own certificate must validate against its CA file."""
    d = tmp_path / "mixed"
    import shutil
    shutil.copytree(creds["good"], d)
    shutil.copy(os.path.join(creds["other"], "ca-cert.pem"), d / "ca-cert.pem")
    expect_error(add_object(vm, target, "tls-creds-x509", "t", dir=str(d), endpoint="server"),
                 f"Our own certificate {d}/server-cert.pem failed validation against "
                 f"{d}/ca-cert.pem: The certificate hasn't got a known issuer")


def test_tls_without_verify_peer(vms, target, creds, tmp_path):
    """verify-peer=off on both ends: no certificate is checked (an untrusted one, a wrong
    hostname), the channel is still encrypted."""
    src_dir = creds["other"]
    dst = vms(incoming="defer")
    src = vms()
    for vm in (src, dst):
        set_caps(vm.qmp, events=True)
    add_creds(dst, target, "tls0", creds["good"], "server", verify_peer=False)
    add_creds(src, target, "tls0", src_dir, "client", verify_peer=False)
    src.qmp.call("migrate-set-parameters", dict(converge(vms), **{
        "tls-creds": "tls0", "tls-hostname": "wrong.example"}))
    dst.qmp.call("migrate-set-parameters", {"tls-creds": "tls0"})
    dst.qmp.call("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
    expect_ok(src.qmp.cmd("migrate", {"uri": outgoing_uri(vms, "tcp", dst)}))
    complete(src, dst)


def test_tls_wrong_endpoint(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, src_endpoint="server")
    source_fails(src, uri, "Expected TLS credentials for a client endpoint")


def test_tls_wrong_endpoint_on_destination(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, dst_endpoint="client")
    desc = source_fails(src, uri)
    assert desc or not target.v5
    wait_output(dst, "Expected TLS credentials for a server endpoint")
    assert dst.qmp.call("query-status")["status"] == "inmigrate"


@pytest.mark.schemas("5.0", V72, reason="tls-authz arrived with 4.0: the seed has no "
                     "authz object to name")
def test_tls_creds_not_credentials(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds)
    expect_ok(add_object(src, target, "authz-simple", "auth0", identity="x"))
    src.qmp.call("migrate-set-parameters", {"tls-creds": "auth0"})
    source_fails(src, uri, "Object with id 'auth0' is not TLS credentials")


@pytest.mark.schemas(*OLD, reason="QEMU 7.0 dropped migration's own hostname check; the TLS "
                     "session then fails with its own text")
@pytest.mark.parametrize("transport", ["unix", "exec"])
def test_tls_without_hostname(vms, target, creds, transport):
    """Only a tcp URI has a host: over unix: and exec: (and fd:) QEMU 5.0 refuses TLS unless
    tls-hostname is set."""
    src, dst, uri = tls_pair(vms, target, creds, transport=transport)
    source_fails(src, uri, "No hostname available for TLS")


@pytest.mark.migbench_only("migbench's exec channels run one way (docs/quirks.md); QEMU's "
                           "handshake over `cat` hangs instead")
def test_tls_over_exec_fails_handshake(vms, target, creds):
    src, dst, uri = tls_pair(vms, target, creds, transport="exec",
                             src_params={"tls-hostname": "localhost"})
    desc = source_fails(src, uri)
    assert desc.startswith("TLS handshake failed: "), desc


@pytest.mark.migbench_only("QEMU 7.2 runs the handshake beside its migration state: a cancel "
                           "then waits for a handshake that never ends")
@pytest.mark.covers("command:migrate_cancel")
def test_cancel_during_handshake(vms, target, creds):
    """A destination that accepts the connection and never answers holds the source in its
    TLS handshake; migrate_cancel ends it."""
    import socket
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    src = vms()
    set_caps(src.qmp, events=True)
    add_creds(src, target, "tls0", creds["good"], "client")
    src.qmp.call("migrate-set-parameters", {"tls-creds": "tls0"})
    expect_ok(src.qmp.cmd("migrate", {"uri": f"tcp:127.0.0.1:{lst.getsockname()[1]}"}))
    conn, _ = lst.accept()  # the source is now in its handshake, waiting for the server
    expect_ok(src.qmp.cmd("migrate_cancel"))
    assert wait_status(src.qmp, ("cancelled", "failed", "completed")) == "cancelled"
    assert src.qmp.call("query-status")["status"] == "running"
    conn.close()
    lst.close()
