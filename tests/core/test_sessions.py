"""Session records: lifetimes, secrets, security tokens and address binding (w§5-§8)."""

from __future__ import annotations

import re

import pytest

from panelauth.core.sessions import (
    IpValidation,
    NewSecrets,
    Session,
    SessionKind,
    SessionPolicy,
    SessionState,
    address_matches,
    hash_secret,
    new_secrets,
    secret_matches,
    token_matches,
)
from panelauth.protocol.cookies import SESSION_ID
from panelauth.protocol.paths import SECURITY_TOKEN
from panelauth.protocol.services import Service

START = 1_767_225_600.0
POLICY = SessionPolicy()


def session(
    kind: SessionKind = SessionKind.PASSWORD,
    state: SessionState = SessionState.ACTIVE,
    fresh: NewSecrets | None = None,
) -> Session:
    fresh = fresh or new_secrets("bob")
    return Session(
        session_id=fresh.session_id,
        secret_hash=fresh.secret_hash,
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=kind,
        state=state,
        security_token=fresh.security_token,
        creator="bob",
        possessor=None,
        method="handle_form_login",
        bound_address="192.0.2.10",
        created_at=START,
        last_seen=START,
        expires_at=START + POLICY.absolute,
    )


@pytest.mark.parametrize(
    ("bound", "address", "accepted"),
    [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", True),  # the same /64
        ("2001:db8:1:2::1", "2001:db8:1:3::1", False),
        ("2001:db8::1", "192.0.2.10", False),  # families never match
        # an address that does not parse never matches, in either position
        ("192.0.2.10", "192.0.2.10x", False),
        ("192.0.2.10", "", False),
        ("not-an-address", "192.0.2.10", False),
        (None, "anything", True),  # an unbound session (hand-off) accepts any address
    ],
)
def test_loose_binding_compares_networks_of_parsable_addresses(
    bound: str | None, address: str, accepted: bool
) -> None:
    assert address_matches(bound, address, IpValidation.LOOSE) is accepted


def test_strict_binding_wants_the_exact_text_and_disabled_accepts_all() -> None:
    assert address_matches("192.0.2.10", "192.0.2.10", IpValidation.STRICT)
    assert not address_matches("192.0.2.10", "::ffff:192.0.2.10", IpValidation.STRICT)
    assert address_matches("192.0.2.10", "not-an-address", IpValidation.DISABLED)


def test_new_secrets_have_the_cpanel_shapes_and_never_repeat() -> None:
    first, second = new_secrets("bob"), new_secrets("bob", tag="create_user_session")
    assert SESSION_ID.match(first.session_id) and first.session_id.startswith("bob:")
    assert SESSION_ID.match(second.session_id)
    assert second.session_id.endswith(":create_user_session")
    assert re.fullmatch(r"[0-9a-f]{32}", first.secret)
    assert SECURITY_TOKEN.match(first.security_token)
    assert (first.session_id, first.secret) != (second.session_id, second.secret)


def test_only_the_right_secret_and_token_match() -> None:
    fresh = new_secrets("bob")
    record = session(fresh=fresh)
    # SE-1: only SHA-256 of the secret is kept
    assert record.secret_hash == hash_secret(fresh.secret) != fresh.secret
    assert secret_matches(record, fresh.secret)
    assert not secret_matches(record, new_secrets("bob").secret)
    assert not secret_matches(record, fresh.secret.upper())
    assert token_matches(record, record.security_token)
    assert not token_matches(record, None)
    assert not token_matches(record, record.security_token[:-1])
    assert not token_matches(record, record.security_token + "0")
    assert not token_matches(record, "\udcff")  # a lone surrogate from a bad path is refused


@pytest.mark.parametrize(
    ("kind", "state", "idle"),
    [
        (SessionKind.PASSWORD, SessionState.ACTIVE, POLICY.password_idle),
        (SessionKind.SSO, SessionState.ACTIVE, POLICY.handoff_idle),
        (SessionKind.TRANSFER, SessionState.ACTIVE, POLICY.handoff_idle),
        (SessionKind.WEBMAIL_HANDOFF, SessionState.ACTIVE, POLICY.handoff_idle),
        (SessionKind.SSO, SessionState.UNUSED, POLICY.unused),
        (SessionKind.PASSWORD, SessionState.PENDING_2FA, POLICY.pending_2fa),
    ],
)
def test_idle_expiry_depends_on_kind_and_state(
    kind: SessionKind, state: SessionState, idle: float
) -> None:
    record = session(kind, state)
    assert record.idle_limit(POLICY) == idle
    assert not record.expired(START + idle - 1, POLICY)
    assert record.expired(START + idle, POLICY)
