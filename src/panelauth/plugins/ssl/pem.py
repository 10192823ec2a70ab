"""A certificate, its key and its CA bundle, parsed and checked with `cryptography`.

`check(...)` is what an install goes through: each PEM within its size, the key unencrypted and
of a kind browsers accept, the key matching the certificate, the certificate's names covering
the domain, every certificate valid now, and the bundle chaining (each certificate signed by the
next, in whatever order the bundle lists them). Anything else is InvalidArgument with a message
saying what is wrong; the result holds the canonical PEM re-encoded from the parsed objects, so
nothing the caller sent besides the certificates themselves (stray text, CR, control
characters) is ever stored.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from panelauth.extension import InvalidArgument
from panelauth.plugins.ssl.names import covered_by
from panelauth.protocol.hostnames import normalized

MAX_CERTIFICATE_CHARS: Final = 16 * 1024
MAX_KEY_CHARS: Final = 16 * 1024
MAX_BUNDLE_CHARS: Final = 64 * 1024
MAX_BUNDLE_CERTIFICATES: Final = 10
MAX_CERTIFICATE_NAMES: Final = 100
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192  # a bigger key makes every handshake slow
_CURVES: Final = {"secp256r1": "prime256v1", "secp384r1": "secp384r1", "secp521r1": "secp521r1"}
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----"
)

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class CheckedCertificate:
    """A certificate ready to store and serve: canonical PEM, the facts the API reports."""

    certificate_pem: str
    key_pem: str
    bundle_pem: str  # the CA certificates in chain order (leaf's issuer first); "" if none
    names: list[str]  # the subject alternative DNS names, normalized
    certificate: x509.Certificate

    @property
    def chain_pem(self) -> str:
        """What a TLS server sends: the certificate, then its issuers."""
        return self.certificate_pem + self.bundle_pem


def check(
    certificate: str, key: str, bundle: str, *, domain: str, now: float
) -> CheckedCertificate:
    """The parsed and checked certificate for `domain` (normalized) at Unix time `now`."""
    leaf = _one_certificate(certificate)
    private_key = _private_key(key)
    if _public_der(private_key) != _public_der_of(leaf):
        raise InvalidArgument("The private key does not match the certificate.")
    names = dns_names(leaf)
    if not covered_by(names, domain):
        shown = ", ".join(names) if names else "no domain names"
        raise InvalidArgument(
            f"The certificate does not cover the domain “{domain}” (it names: {shown})."
        )
    chain = _ordered_chain(leaf, _bundle_certificates(bundle))
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    for member in (leaf, *chain):
        _require_valid_at(member, moment, is_leaf=member is leaf)
    return CheckedCertificate(
        certificate_pem=_pem(leaf),
        key_pem=private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        bundle_pem="".join(_pem(member) for member in chain),
        names=names,
        certificate=leaf,
    )


def dns_names(certificate: x509.Certificate) -> list[str]:
    """The certificate's subject alternative DNS names, normalized, in its order."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    except ValueError:
        raise InvalidArgument("The certificate's extensions cannot be parsed.") from None
    names = [normalized(name) for name in extension.value.get_values_for_type(x509.DNSName)]
    return list(dict.fromkeys(names))[:MAX_CERTIFICATE_NAMES]


def parse_stored(pem: str) -> list[x509.Certificate]:
    """The certificates of PEM this plugin stored itself (already checked)."""
    return x509.load_pem_x509_certificates(pem.encode("ascii")) if pem else []


def public_key_id(certificate: x509.Certificate) -> str:
    """The SHA-256 of the certificate's public key (hex): the same for the key's record."""
    return hashlib.sha256(_public_der_of(certificate)).hexdigest()


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(name: x509.Name) -> str | None:
    return _attribute(name, NameOID.COMMON_NAME)


def organization(name: x509.Name) -> str | None:
    return _attribute(name, NameOID.ORGANIZATION_NAME)


def key_facts(certificate: x509.Certificate) -> dict[str, object]:
    """What cPanel lists of a certificate's key: RSA modulus and size, or the ECDSA curve and
    compressed point (the other pair null)."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {
            "modulus": format(numbers.n, "x"),
            "modulus_length": key.key_size,
            "ecdsa_curve_name": None,
            "ecdsa_public": None,
        }
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
        return {
            "modulus": None,
            "modulus_length": None,
            "ecdsa_curve_name": _CURVES.get(key.curve.name, key.curve.name),
            "ecdsa_public": point.hex(),
        }
    return {"modulus": None, "modulus_length": None, "ecdsa_curve_name": None, "ecdsa_public": None}


# -- parsing ---------------------------------------------------------------------------------


def _one_certificate(text: str) -> x509.Certificate:
    if len(text) > MAX_CERTIFICATE_CHARS:
        raise InvalidArgument(f"The certificate is longer than {MAX_CERTIFICATE_CHARS} characters.")
    found = _certificates(text, "certificate")
    if len(found) != 1:
        raise InvalidArgument(
            "The certificate must be exactly one PEM certificate; put its issuers in the CA bundle."
        )
    return found[0]


def _bundle_certificates(text: str) -> list[x509.Certificate]:
    if not text.strip():
        return []
    if len(text) > MAX_BUNDLE_CHARS:
        raise InvalidArgument(f"The CA bundle is longer than {MAX_BUNDLE_CHARS} characters.")
    found = _certificates(text, "CA bundle")
    if not found:
        raise InvalidArgument("The CA bundle contains no PEM certificate.")
    if len(found) > MAX_BUNDLE_CERTIFICATES:
        raise InvalidArgument(
            f"The CA bundle has more than {MAX_BUNDLE_CERTIFICATES} certificates."
        )
    return found


def _certificates(text: str, what: str) -> list[x509.Certificate]:
    blocks = _PEM_CERTIFICATE.findall(text)
    parsed: list[x509.Certificate] = []
    for block in blocks[: MAX_BUNDLE_CERTIFICATES + 1]:
        try:
            parsed.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            raise InvalidArgument(f"The {what} is not a valid PEM certificate.") from None
    if not parsed and what == "certificate":
        raise InvalidArgument("The certificate is not a valid PEM certificate.")
    return parsed


def _private_key(text: str) -> PrivateKey:
    if len(text) > MAX_KEY_CHARS:
        raise InvalidArgument(f"The private key is longer than {MAX_KEY_CHARS} characters.")
    try:
        key = serialization.load_pem_private_key(text.strip().encode("ascii"), password=None)
    except TypeError:
        raise InvalidArgument(
            "The private key is encrypted; give it without a passphrase."
        ) from None
    except (ValueError, UnicodeEncodeError):
        raise InvalidArgument("The private key is not a valid PEM private key.") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS:
            raise InvalidArgument(
                f"An RSA key must have {MIN_RSA_BITS} to {MAX_RSA_BITS} bits, not {key.key_size}."
            )
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        return key
    raise InvalidArgument("The private key must be RSA or ECDSA (P-256, P-384 or P-521).")


def _public_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _public_der_of(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- the chain and validity ----------------------------------------------------------------------


def _ordered_chain(
    leaf: x509.Certificate, bundle: list[x509.Certificate]
) -> list[x509.Certificate]:
    """The bundle from the leaf's issuer upward, each certificate signed by the next; every
    certificate of the bundle must take part."""
    remaining = list(bundle)
    chain: list[x509.Certificate] = []
    current = leaf
    while remaining:
        issuer = next((c for c in remaining if _issued_by(current, c)), None)
        if issuer is None:
            raise InvalidArgument(
                "The CA bundle does not chain: no certificate in it signed "
                f"“{common_name(current.subject) or current.subject.rfc4514_string()}”."
            )
        remaining.remove(issuer)
        chain.append(issuer)
        if issuer.issuer == issuer.subject:  # a root ends the chain
            break
        current = issuer
    if remaining:
        raise InvalidArgument("The CA bundle holds certificates that are not in the chain.")
    return chain


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _require_valid_at(
    certificate: x509.Certificate, moment: datetime.datetime, *, is_leaf: bool
) -> None:
    what = "The certificate" if is_leaf else "A certificate of the CA bundle"
    if moment > certificate.not_valid_after_utc:
        raise InvalidArgument(
            f"{what} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC."
        )
    if moment < certificate.not_valid_before_utc:
        raise InvalidArgument(
            f"{what} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC."
        )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    found = name.get_attributes_for_oid(oid)
    if not found:
        return None
    value = found[0].value
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return "".join(c for c in text if c.isprintable())[:256]
