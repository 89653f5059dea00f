"""A real fieldcrew-server on loopback for the binding tests: provisioned with its own admin
commands, serving on a free port, stopped after the test."""

import json
import os
import re
import ssl
import subprocess
import urllib.request
from dataclasses import dataclass

import pytest

SERVER = os.environ.get("FIELDCREW_SERVER", "target/debug/fieldcrew-server")


@dataclass
class Server:
    url: str
    crew_token: str
    office_token: str
    # For a server over HTTPS with a private CA: a context that trusts it.
    ssl_context: ssl.SSLContext | None = None

    def office(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.office_token}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(req, timeout=10, context=self.ssl_context) as resp:
            return json.loads(resp.read() or b"null")


def admin(data_dir, *args):
    out = subprocess.run(
        [SERVER, "--data", str(data_dir), *args], check=True, capture_output=True, text=True
    )
    return out.stdout


def token(data_dir, member, device):
    out = admin(data_dir, "issue-token", member, "--device", device)
    return re.search(r"token:\s+(\S+)", out).group(1)


@pytest.fixture
def server(tmp_path):
    yield from _serve(tmp_path, [])


@dataclass
class TlsServer(Server):
    ca_pem: str = ""


@pytest.fixture
def tls_server(tmp_path):
    """The server over HTTPS with a certificate for 127.0.0.1 from a private CA made here (a
    utility's own CA, which phones must be told to trust)."""
    ca_pem, chain, key = private_ca_files(tmp_path / "pki")
    for s in _serve(tmp_path, ["--tls-cert", str(chain), "--tls-key", str(key)]):
        context = ssl.create_default_context(cadata=ca_pem)
        yield TlsServer(s.url, s.crew_token, s.office_token, context, ca_pem)


def private_ca_files(directory):
    """A CA and a server certificate for 127.0.0.1 it signed: (CA PEM, chain file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldcrew test utility CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fieldcrew sync")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True)
    chain = directory / "chain.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), chain, key_file


def _serve(tmp_path, serve_args):
    data = tmp_path / "server"
    admin(data, "add-crew", "crew-west", "--name", "西湖班")
    admin(data, "add-member", "m-li", "--name", "李工", "--crew", "crew-west")
    admin(data, "add-member", "d-wang", "--name", "王调度", "--role", "dispatcher")
    crew_token = token(data, "m-li", "phone-1")
    office_token = token(data, "d-wang", "office")
    proc = subprocess.Popen(
        [SERVER, "--data", str(data), "serve", "--listen", "127.0.0.1:0", *serve_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on (https?://\S+)", line)
        assert match, f"server did not start: {line!r}"
        yield Server(match.group(1), crew_token, office_token)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
