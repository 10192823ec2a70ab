"""The SSL plugin's functions through the real dispatcher: installs checked with
`cryptography`, answers in cPanel's shapes, certificates served by name."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from panelauth.api.context import Runtime
from panelauth.api.registry import Api
from panelauth.clock import FrozenClock
from panelauth.core.models import Account
from panelauth.extension.hooks import certificate_source
from panelauth.plugins.ssl import plugin
from tests.api.helpers import BOB, ROOT, uapi
from tests.extension.conftest import serving

DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()


def issue(
    names: list[str],
    *,
    at: datetime.datetime,
    issuer: Issued | None = None,
    ca: bool = False,
    days: tuple[int, int] = (-1, 90),
    common_name: str | None = None,
) -> Issued:
    """A certificate for `names` valid `days` around `at`, signed by `issuer` (else itself)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name or (names[0] if names else "CA"))]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at + days[0] * DAY)
        .not_valid_after(at + days[1] * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def moment(clock: FrozenClock) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(clock.now(), datetime.UTC)


@pytest.fixture
def ca(clock: FrozenClock) -> Issued:
    root = issue([], at=moment(clock), ca=True, days=(-10, 3650), common_name="Test Root")
    return issue([], at=moment(clock), issuer=root, ca=True, days=(-10, 365), common_name="Int")


@pytest.fixture
def leaf(ca: Issued, clock: FrozenClock) -> Issued:
    return issue(["bob.example", "www.bob.example"], at=moment(clock), issuer=ca)


async def install(runtime: Runtime, api: Api = Api.UAPI, **args: Any) -> Any:
    name = "install_ssl" if api is Api.UAPI else "installssl"
    return await uapi(serving(runtime, plugin), BOB, "SSL", name, api=api, **args)


async def call(runtime: Runtime, function: str, **args: Any) -> Any:
    return (await uapi(serving(runtime, plugin), BOB, "SSL", function, **args)).document


def chain_of(ca: Issued) -> str:
    return ca.pem  # the intermediate; a client finds the root in its store


async def test_an_install_is_listed_fetched_and_served(
    runtime: Runtime, bob: Account, leaf: Issued, ca: Issued
) -> None:
    answer = await install(
        runtime, domain="bob.example", cert=leaf.pem, key=leaf.key_pem, cabundle=chain_of(ca)
    )
    assert answer.status == 200
    data = answer.document["data"]
    assert answer.document["status"] == 1
    assert (data["domain"], data["user"], data["action"]) == ("bob.example", "bob", "install")
    assert data["working_domains"] == ["bob.example", "www.bob.example"]
    assert data["warning_domains"] == [] and data["extra_certificate_domains"] == []
    assert data["cert_id"].startswith("bob_example_")

    listed = await call(runtime, "list_certs")
    assert [cert["domains"] for cert in listed["data"]] == [["bob.example", "www.bob.example"]]
    row = listed["data"][0]
    assert row["id"] == data["cert_id"]
    assert row["not_after"] == int(leaf.certificate.not_valid_after_utc.timestamp())
    assert row["issuer.commonName"] == "Int" and row["is_self_signed"] == 0
    assert row["ecdsa_curve_name"] == "prime256v1"
    assert "key" not in row and "PRIVATE" not in str(listed)

    best = (await call(runtime, "fetch_best_for_domain", domain="www.bob.example"))["data"]
    assert x509.load_pem_x509_certificate(best["crt"].encode()) == leaf.certificate
    assert x509.load_pem_x509_certificate(best["cab"].encode()) == ca.certificate
    loaded = serialization.load_pem_private_key(best["key"].encode(), None)
    assert loaded.private_numbers() == leaf.key.private_numbers()  # type: ignore[union-attr]

    source = certificate_source([plugin], runtime.store, runtime.clock)
    assert source is not None
    served = await source("WWW.Bob.Example.")
    assert served is not None
    assert x509.load_pem_x509_certificates(served[0].encode()) == [
        leaf.certificate,
        ca.certificate,
    ]
    assert await source("carol.example") is None


async def test_reinstalling_replaces_and_says_update(
    runtime: Runtime, bob: Account, leaf: Issued, ca: Issued, clock: FrozenClock
) -> None:
    await install(runtime, domain="bob.example", cert=leaf.pem, key=leaf.key_pem)
    newer = issue(["bob.example"], at=moment(clock), issuer=ca)
    answer = await install(runtime, domain="bob.example", cert=newer.pem, key=newer.key_pem)
    assert answer.document["data"]["action"] == "update"
    assert answer.document["data"]["warning_domains"] == ["www.bob.example"]
    listed = await call(runtime, "list_certs")
    assert len(listed["data"]) == 1


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("mismatched key", "The private key does not match the certificate."),
        ("expired", "The certificate expired on"),
        ("not yet valid", "The certificate is not valid before"),
        ("another domain", "does not cover the domain “bob.example”"),
        ("foreign bundle", "The CA bundle does not chain"),
        ("garbage", "The certificate is not a valid PEM certificate."),
        ("two certificates", "exactly one PEM certificate"),
        ("encrypted key", "The private key is encrypted"),
        ("oversized", "The certificate is longer than 16384 characters."),
    ],
)
async def test_bad_certificates_are_refused_in_the_envelope(
    runtime: Runtime,
    bob: Account,
    leaf: Issued,
    ca: Issued,
    clock: FrozenClock,
    case: str,
    message: str,
) -> None:
    at = moment(clock)
    cert, key, bundle = leaf.pem, leaf.key_pem, chain_of(ca)
    if case == "mismatched key":
        key = issue(["bob.example"], at=at).key_pem
    elif case == "expired":
        old = issue(["bob.example"], at=at, issuer=ca, days=(-100, -1))
        cert, key = old.pem, old.key_pem
    elif case == "not yet valid":
        early = issue(["bob.example"], at=at, issuer=ca, days=(2, 90))
        cert, key = early.pem, early.key_pem
    elif case == "another domain":
        other = issue(["carol.example"], at=at, issuer=ca)
        cert, key = other.pem, other.key_pem
    elif case == "foreign bundle":
        bundle = issue([], at=at, ca=True, common_name="Int").pem  # same name, other key
    elif case == "garbage":
        cert = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    elif case == "two certificates":
        cert = leaf.pem + ca.pem
    elif case == "encrypted key":
        key = leaf.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        ).decode()
    elif case == "oversized":
        cert = leaf.pem + "\n" * 16384
    answer = await install(runtime, domain="bob.example", cert=cert, key=key, cabundle=bundle)
    assert answer.status == 200
    assert answer.document["status"] == 0
    assert message in answer.document["errors"][0]
    assert (await call(runtime, "list_certs"))["data"] == []


async def test_a_wildcard_covers_one_label_as_browsers_apply_it(
    runtime: Runtime, bob: Account, ca: Issued, clock: FrozenClock
) -> None:
    wildcard = issue(["*.bob.example"], at=moment(clock), issuer=ca)
    for domain in ("bob.example", "a.b.bob.example"):
        refused = await install(runtime, domain=domain, cert=wildcard.pem, key=wildcard.key_pem)
        assert "does not cover" in refused.document["errors"][0]
    answer = await install(
        runtime, domain="shop.bob.example", cert=wildcard.pem, key=wildcard.key_pem
    )
    assert answer.document["status"] == 1
    source = certificate_source([plugin], runtime.store, runtime.clock)
    assert source is not None
    assert await source("shop.bob.example") is not None
    assert await source("other.bob.example") is None  # installed on shop. only


async def test_only_the_callers_own_domains(
    runtime: Runtime, bob: Account, reseller: Account, clock: FrozenClock, ca: Issued
) -> None:
    carol = issue(["carol.example"], at=moment(clock), issuer=ca)
    refused = await install(runtime, domain="carol.example", cert=carol.pem, key=carol.key_pem)
    assert refused.status == 403
    fetched = await uapi(
        serving(runtime, plugin), BOB, "SSL", "fetch_best_for_domain", domain="carol.example"
    )
    assert fetched.status == 403
    bad = await install(runtime, domain="bob.example\r\nx", cert=carol.pem, key=carol.key_pem)
    assert bad.document["errors"] == ["“bob.example??x” is not a valid domain name."]
    # root acting as bob through WHM reaches bob's domains only
    through = await uapi(
        serving(runtime, plugin),
        ROOT,
        "SSL",
        "install_ssl",
        acting_user="bob",
        domain="carol.example",
        cert=carol.pem,
        key=carol.key_pem,
    )
    assert through.status == 403


async def test_api2_installssl_answers_where_certbot_reads(
    runtime: Runtime, bob: Account, leaf: Issued, clock: FrozenClock
) -> None:
    # certbot-dns-cpanel reads cpanelresult.data[0].result, and .output when it is 0
    done = await install(runtime, Api.API2, domain="bob.example", crt=leaf.pem, key=leaf.key_pem)
    row = done.document["cpanelresult"]["data"][0]
    assert row["result"] == 1 and "bob.example" in row["output"]
    expired = issue(["bob.example"], at=moment(clock), days=(-30, -2))
    refused = await install(
        runtime, Api.API2, domain="bob.example", crt=expired.pem, key=expired.key_pem
    )
    result = refused.document["cpanelresult"]
    assert result["data"][0]["result"] == 0
    assert result["data"][0]["output"].startswith("The certificate expired on")


async def test_stored_pem_is_canonical(runtime: Runtime, bob: Account, leaf: Issued) -> None:
    sent = "junk before\r\n" + leaf.pem.replace("\n", "\r\n") + "\x07junk after"
    answer = await install(runtime, domain="bob.example", cert=sent, key=leaf.key_pem)
    assert answer.document["status"] == 1
    crt = (await call(runtime, "fetch_best_for_domain", domain="bob.example"))["data"]["crt"]
    assert crt == leaf.pem and "\r" not in crt


async def test_nothing_installed_and_autossl(runtime: Runtime, bob: Account) -> None:
    best = await call(runtime, "fetch_best_for_domain", domain="bob.example")
    assert (best["status"], best["data"]) == (1, {"crt": None, "key": None, "cab": None})
    autossl = await call(runtime, "start_autossl_check")
    assert (autossl["status"], autossl["data"], autossl["errors"]) == (1, None, None)
