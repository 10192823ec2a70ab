"""The `data` of each function, in the shapes of cPanel's reference pages (docs/ssl.md)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.x509.oid import SignatureAlgorithmOID

from panelauth.plugins.ssl.names import covered_by
from panelauth.plugins.ssl.pem import common_name, key_facts, organization, parse_stored


def installed(record: dict[str, Any], *, replaced: bool) -> dict[str, Any]:
    """UAPI `SSL::install_ssl`'s data (the fields cpanelgo's InstallSSLKeyAPIResponse reads)."""
    domain = record["domain"]
    names: list[str] = list(record["names"])
    wanted = [domain] if domain.startswith("www.") else [domain, f"www.{domain}"]
    working = [name for name in wanted if covered_by(names, name)]
    status = f"The SSL certificate is now installed onto the domain “{domain}”."
    return {
        "action": "update" if replaced else "install",
        "cert_id": record["id"],
        "key_id": record["key_id"],
        "domain": domain,
        "user": record["user"],
        "ip": "",  # panelauth binds no address per domain
        "html": status,
        "statusmsg": status,
        "message": f"The certificate was successfully installed on the domain “{domain}”.",
        "working_domains": working,
        "warning_domains": [name for name in wanted if name not in working],
        "extra_certificate_domains": [name for name in names if name not in wanted],
    }


def installed_api2(record: dict[str, Any], *, replaced: bool) -> list[dict[str, Any]]:
    """API 2 `SSL::installssl`'s data: one row with `result` 1 and `output` (what the
    certbot-dns-cpanel installer reads), plus the UAPI fields."""
    answer = installed(record, replaced=replaced)
    return [{"result": 1, "status": 1, "output": answer["statusmsg"], **answer}]


def refused_api2(message: str) -> list[dict[str, Any]]:
    """API 2 `SSL::installssl`'s data when the certificate is refused: `result` 0 and the
    reason in `output`, where its clients look for it."""
    return [{"result": 0, "status": 0, "output": message, "statusmsg": message}]


def listed(record: dict[str, Any]) -> dict[str, Any]:
    """One certificate of UAPI `SSL::list_certs` (never its key)."""
    certificate = parse_stored(record["crt"])[0]
    return {
        "id": record["id"],
        "friendly_name": record["domain"],
        "domains": list(record["names"]),
        "domain_is_configured": 1,
        "created": record["installed"],
        "not_before": int(certificate.not_valid_before_utc.timestamp()),
        "not_after": int(certificate.not_valid_after_utc.timestamp()),
        "is_self_signed": int(_self_signed(certificate)),
        "subject.commonName": common_name(certificate.subject),
        "issuer.commonName": common_name(certificate.issuer),
        "issuer.organizationName": organization(certificate.issuer),
        "serial": format(certificate.serial_number, "x"),
        "signature_algorithm": _signature_algorithm(certificate),
        "validation_type": None,  # panelauth reads no certificate policy
        **key_facts(certificate),
    }


def best(record: dict[str, Any] | None) -> dict[str, Any]:
    """UAPI `SSL::fetch_best_for_domain`'s data: the certificate, key and CA bundle, each null
    when nothing is installed (aiocpanel reads a null `crt` as "no certificate")."""
    if record is None:
        return {"crt": None, "key": None, "cab": None}
    return {"crt": record["crt"], "key": record["key"], "cab": record["cab"] or None}


def _self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except Exception:  # any failure to verify: not self-signed
        return False
    return True


# OpenSSL's names, as cPanel reports them
_SIGNATURE_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384WithRSAEncryption",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512WithRSAEncryption",
    SignatureAlgorithmOID.RSASSA_PSS: "rsassaPss",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "ecdsa-with-SHA384",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "ecdsa-with-SHA512",
}


def _signature_algorithm(certificate: x509.Certificate) -> str:
    oid = certificate.signature_algorithm_oid
    return _SIGNATURE_NAMES.get(oid, oid.dotted_string)
