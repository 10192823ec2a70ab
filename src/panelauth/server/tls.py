"""The service certificate: self-signed at first start, or the operator's own (TR-3); and the
TLS contexts built from a plugin's certificate for one server name (server/sni.py)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_VALIDITY_DAYS = 365


def generate_self_signed(cert_path: Path, key_path: Path, hostname: str) -> None:
    """An ECDSA P-256 certificate for localhost, loopback and the host name.

    ECDSA rather than RSA-2048: a handshake signs ~15x faster, which is what caps
    connection-per-request clients on Python's ssl (docs/benchmarks.md, "Measurements
    behind design choices").
    """
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    for name in dict.fromkeys((hostname, socket.gethostname())):
        if name and name != "localhost":
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname or "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERT_VALIDITY_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as key_file:
        key_file.write(key_bytes)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """TLS 1.2 or newer with the library's secure defaults (RFC 9325)."""
    context = _base_context()
    context.load_cert_chain(cert_path, key_path)
    return context


def context_from_pem(chain_pem: str, key_pem: str) -> ssl.SSLContext:
    """A context like `server_context` serving `chain_pem` with `key_pem`, given as text.

    `load_cert_chain` reads only files: the PEM goes through anonymous in-memory files
    (memfd), so a key never touches a disk; ssl.SSLError when the pair is unusable.
    """
    context = _base_context()
    with _memory_file(chain_pem) as chain_path, _memory_file(key_pem) as key_path:
        context.load_cert_chain(chain_path, key_path)
    return context


def _base_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@contextlib.contextmanager
def _memory_file(text: str) -> Iterator[str]:
    """A path to read `text` from: an anonymous memory file where Linux has them, else a
    private temporary file removed on exit."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("panelauth-pem", os.MFD_CLOEXEC)
        try:
            unwritten = memoryview(text.encode("ascii"))
            while unwritten:
                unwritten = unwritten[os.write(fd, unwritten) :]
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="panelauth-pem-") as directory:
        path = Path(directory) / "pem"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(text)
        yield str(path)
