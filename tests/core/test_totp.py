"""TOTP: RFC 6238 vectors, secret and issuer validation, URIs, replay windows (w§13.3, TF-2)."""

from __future__ import annotations

import base64

import pyotp
import pytest

from panelauth.core.totp import (
    GENERATED_SECRET_CHARS,
    STEP_SECONDS,
    VerifiedTotp,
    generate_secret,
    otpauth_uri,
    validate_issuer,
    validate_secret,
    verify_totp,
)
from panelauth.errors import InvalidArgument

# RFC 6238 appendix B, SHA-1: the ASCII seed "12345678901234567890", base32-encoded.
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")


@pytest.mark.parametrize(
    ("at", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_accepts_the_rfc_6238_sha1_vectors(at: int, eight_digits: str) -> None:
    # a 6-digit code is the last 6 digits of the 8-digit one (RFC 4226 §5.3, modulo 10^6)
    verified = verify_totp(code=eight_digits[-6:], secret=RFC_SECRET, at=at, last_step=None)
    assert verified == VerifiedTotp(step=at // STEP_SECONDS)


def test_rfc_secret_is_the_expected_base32() -> None:
    assert RFC_SECRET == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert validate_secret(RFC_SECRET) == RFC_SECRET


@pytest.mark.parametrize("code", ["287081", "28708", "2870820", " 287082", "287 082", "28708a"])
def test_refuses_wrong_or_malformed_codes(code: str) -> None:
    assert verify_totp(code=code, secret=RFC_SECRET, at=59, last_step=None) is None


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_accepts_a_code_one_step_either_side_and_reports_its_step(offset: int) -> None:
    at = 1_767_225_615.0
    code = pyotp.TOTP(RFC_SECRET).at(at, counter_offset=offset)
    verified = verify_totp(code=code, secret=RFC_SECRET, at=at, last_step=None)
    assert verified is not None
    assert verified.step == int(at) // STEP_SECONDS + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_refuses_a_code_outside_the_window(offset: int) -> None:
    at = 1_767_225_615.0
    code = pyotp.TOTP(RFC_SECRET).at(at, counter_offset=offset)
    assert verify_totp(code=code, secret=RFC_SECRET, at=at, last_step=None) is None
    wider = verify_totp(code=code, secret=RFC_SECRET, at=at, last_step=None, window=2)
    assert wider is not None


def test_rejects_a_code_older_than_the_last_used_step() -> None:
    at = 1_767_225_615.0
    step = int(at) // STEP_SECONDS
    previous = pyotp.TOTP(RFC_SECRET).at(at, counter_offset=-1)
    assert verify_totp(code=previous, secret=RFC_SECRET, at=at, last_step=step) is None


def test_the_last_used_step_itself_is_left_to_the_store_to_decide() -> None:
    # the store's atomic check-and-set refuses the replay (TF-2); header requests from the
    # same address may share a step (w§2.6), so the pure verifier must not refuse it
    at = 1_767_225_615.0
    step = int(at) // STEP_SECONDS
    code = pyotp.TOTP(RFC_SECRET).at(at)
    assert verify_totp(code=code, secret=RFC_SECRET, at=at, last_step=step) == VerifiedTotp(step)
    assert verify_totp(code=code, secret=RFC_SECRET, at=at, last_step=step - 5) == VerifiedTotp(
        step
    )


def test_generated_secrets_are_160_bit_valid_and_distinct() -> None:
    first, second = generate_secret(), generate_secret()
    assert len(first) == GENERATED_SECRET_CHARS
    assert validate_secret(first) == first
    assert first != second


@pytest.mark.parametrize(
    "secret",
    [
        "A" * 25,  # 125 bits: under the 128-bit minimum
        "A" * 129,  # over the maximum length
        "a" * 32,  # lowercase is not RFC 4648 base32
        "A" * 30 + "18",  # 1 and 8 are not in the alphabet
        "A" * 30 + "==",  # padding is not accepted
        "",
    ],
)
def test_refuses_secrets_outside_the_format(secret: str) -> None:
    with pytest.raises(InvalidArgument, match="at least 26 base32"):
        validate_secret(secret)


@pytest.mark.parametrize("length", [27, 30, 33, 35, 38])
def test_refuses_base32_of_an_impossible_length(length: int) -> None:
    # 1, 3 or 6 characters past a multiple of 8 cannot come from whole bytes (RFC 4648 §6)
    with pytest.raises(InvalidArgument, match="not valid base32"):
        validate_secret("A" * length)


@pytest.mark.parametrize("length", [26, 28, 29, 31, 32, 128])
def test_accepts_secrets_of_every_possible_length(length: int) -> None:
    assert validate_secret("B" * length) == "B" * length


@pytest.mark.parametrize("issuer", ["cPanel", "My Host 1.0", "a", "x" * 32, "a_b-c.d"])
def test_accepts_plain_issuers(issuer: str) -> None:
    assert validate_issuer(issuer) == issuer


@pytest.mark.parametrize("issuer", ["", "x" * 33, "Évian", "a:b", "a/b", "a\nb", "a&b"])
def test_refuses_issuers_that_would_break_the_uri(issuer: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_issuer(issuer)


def test_otpauth_uri_encodes_the_label_and_issuer() -> None:
    uri = otpauth_uri("My Host", "info@bob.example", RFC_SECRET)
    assert uri == (
        f"otpauth://totp/My%20Host:info%40bob.example?secret={RFC_SECRET}&issuer=My%20Host"
    )
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert (parsed.secret, parsed.issuer, parsed.name) == (
        RFC_SECRET,
        "My Host",
        "info@bob.example",
    )
