"""Test certificates for TLS migrations, made at test time with GnuTLS's certtool.

make_creds(dir) writes a tls-creds-x509 directory as QEMU reads one: ca-cert.pem,
server-cert.pem / server-key.pem (for "localhost" and 127.0.0.1) and client-cert.pem /
client-key.pem, all signed by a fresh CA.  Both ends of a test migration can use the same
directory: the destination's object reads the server files, the source's the client ones.
CLIENT_DN is the client certificate's distinguished name as GnuTLS prints it (QEMU's name
for tls-authz)."""
import os
import shutil
import subprocess

CLIENT_DN = "C=GB,ST=London,L=London,O=migbench,CN=client.migbench"

CA = """cn = "migbench test CA"
ca
cert_signing_key
expiration_days = 3
"""
SERVER = """organization = "migbench"
cn = "localhost"
dns_name = "localhost"
ip_address = "127.0.0.1"
ip_address = "::1"
tls_www_server
encryption_key
signing_key
expiration_days = 3
"""
CLIENT = """country = "GB"
state = "London"
locality = "London"
organization = "migbench"
cn = "client.migbench"
tls_www_client
encryption_key
signing_key
expiration_days = 3
"""


def certtool():
    path = shutil.which("certtool")
    if path is None:
        raise FileNotFoundError("certtool (Debian package gnutls-bin) is not installed")
    return path


def _run(args):
    subprocess.run([certtool()] + args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def _key(path):
    _run(["--generate-privkey", "--key-type=rsa", "--sec-param=medium", "--outfile", path])


def _template(d, name, text):
    p = os.path.join(d, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def make_creds(d, ca_from=None):
    """Writes a credentials directory `d`.  With ca_from (another directory made by this
    function), the certificates are signed by that directory's CA instead of a new one;
    ca-cert.pem is always the signing CA."""
    os.makedirs(d, exist_ok=True)
    ca_key, ca_cert = os.path.join(d, "ca-key.pem"), os.path.join(d, "ca-cert.pem")
    if ca_from:
        shutil.copy(os.path.join(ca_from, "ca-key.pem"), ca_key)
        shutil.copy(os.path.join(ca_from, "ca-cert.pem"), ca_cert)
    else:
        _key(ca_key)
        _run(["--generate-self-signed", "--load-privkey", ca_key, "--template",
              _template(d, "ca.info", CA), "--outfile", ca_cert])
    for who, text in (("server", SERVER), ("client", CLIENT)):
        key, cert = os.path.join(d, f"{who}-key.pem"), os.path.join(d, f"{who}-cert.pem")
        _key(key)
        _run(["--generate-certificate", "--load-privkey", key, "--load-ca-certificate", ca_cert,
              "--load-ca-privkey", ca_key, "--template", _template(d, f"{who}.info", text),
              "--outfile", cert])
    return d


def trusting_both(d, other, out):
    """A copy of credentials directory `d` whose ca-cert.pem holds both its own CA and
    `other`'s: it trusts peers of either CA, and its own certificate still passes QEMU's
    sanity check against its CA file."""
    shutil.copytree(d, out)
    with open(os.path.join(out, "ca-cert.pem"), "ab") as f:
        f.write(open(os.path.join(other, "ca-cert.pem"), "rb").read())
    return out
