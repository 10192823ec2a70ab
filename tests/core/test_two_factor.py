"""TwoFactor: enrolment, the code check, lockout, the policy and issuers (w§9, w§13, TF-2..TF-9)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pyotp
import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.models import Account
from panelauth.core.secretbox import SecretBox
from panelauth.core.two_factor import (
    FAILURE_WINDOW_SECONDS,
    MAX_FAILURES,
    TwoFactor,
)
from panelauth.errors import InvalidArgument, StoreUnavailable, TwoFactorFailed
from tests.conftest import migrated

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ADDRESS = "192.0.2.10"
HOSTNAME = "panel.example.test"


def code_at(clock: FrozenClock, offset: int = 0) -> str:
    return pyotp.TOTP(SECRET).at(clock.now(), counter_offset=offset)


async def enrolled(two_factor: TwoFactor, clock: FrozenClock, user: str = "bob") -> None:
    """Enrol `user` and move to the next step, so the enrolment code is behind us."""
    await two_factor.enrol(user, SECRET, code_at(clock), address=ADDRESS)
    clock.advance(30)


async def failure(two_factor: TwoFactor, code: str | None, user: str = "bob") -> TwoFactorFailed:
    with pytest.raises(TwoFactorFailed) as raised:
        await two_factor.check(user, code, context="session", address=ADDRESS)
    assert str(raised.value) == "TwoFactorAuth check failed"  # the only text a client sees
    return raised.value


async def test_a_correct_code_passes_once(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    await enrolled(two_factor, clock)
    code = code_at(clock)
    await two_factor.check("bob", code, context="session", address=ADDRESS)
    reused = await failure(two_factor, code)
    assert (reused.detail, reused.counted) == ("2fa code reused", True)


@pytest.mark.parametrize("code", [None, ""])
async def test_a_missing_code_is_refused_but_not_counted(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account, code: str | None
) -> None:
    await enrolled(two_factor, clock)
    missing = await failure(two_factor, code)
    assert (missing.detail, missing.counted) == ("2fa code missing", False)


async def test_a_user_without_two_factor_cannot_pass_a_code_check(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    refused = await failure(two_factor, code_at(clock))
    assert (refused.detail, refused.counted) == ("2fa not configured", False)
    assert not await two_factor.required("bob")
    assert not await two_factor.enrolled("bob")


async def test_an_unreadable_secret_locks_password_logins(
    store: SqliteStore, clock: FrozenClock, two_factor: TwoFactor, bob: Account
) -> None:
    await enrolled(two_factor, clock)
    # TF-7: the key was lost or replaced; the user stays enrolled and cannot pass
    other_key = TwoFactor(store, SecretBox([os.urandom(32)]), clock, hostname=HOSTNAME)
    assert await other_key.required("bob")
    refused = await failure(other_key, code_at(clock))
    assert (refused.detail, refused.counted) == ("2fa secret unreadable", False)


async def test_wrong_codes_are_counted_and_five_lock_the_second_factor(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    await enrolled(two_factor, clock)
    right = code_at(clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(MAX_FAILURES):
        refused = await failure(two_factor, wrong)
        assert (refused.detail, refused.counted) == ("2fa code incorrect", True)
    locked = await failure(two_factor, right)
    assert (locked.detail, locked.counted) == ("2fa locked after too many wrong codes", True)
    # TF-4: the lock lifts once the failures are older than the window
    clock.advance(FAILURE_WINDOW_SECONDS)
    await two_factor.check("bob", code_at(clock), context="session", address=ADDRESS)


async def test_failures_of_one_user_do_not_lock_another(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account, reseller: Account
) -> None:
    await two_factor.enrol("bob", SECRET, code_at(clock), address=ADDRESS)
    await two_factor.enrol("res", SECRET, code_at(clock), address=ADDRESS)
    clock.advance(30)
    for _ in range(MAX_FAILURES):
        await failure(two_factor, "000000" if code_at(clock) != "000000" else "111111")
    await two_factor.check("res", code_at(clock), context="session", address=ADDRESS)


async def test_enrolment_needs_a_valid_code_for_the_secret(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    wrong = pyotp.TOTP(SECRET).at(clock.now(), counter_offset=5)
    with pytest.raises(InvalidArgument, match="security code is invalid"):
        await two_factor.enrol("bob", SECRET, wrong, address=ADDRESS)
    assert not await two_factor.enrolled("bob")
    with pytest.raises(InvalidArgument, match="base32"):
        await two_factor.enrol("bob", "SHORT", code_at(clock), address=ADDRESS)


async def test_the_enrolment_code_cannot_enrol_twice(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    # TF-9: the enrolment code is spent; an observer who saw it cannot re-enrol with it
    code = code_at(clock)
    await two_factor.enrol("bob", SECRET, code, address=ADDRESS)
    with pytest.raises(InvalidArgument, match="used already"):
        await two_factor.enrol("bob", SECRET, code, address="198.51.100.7")
    # nor log in with it
    assert (await failure(two_factor, code)).detail == "2fa code reused"


async def test_a_code_spent_at_login_cannot_enrol_a_new_secret(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    await enrolled(two_factor, clock)
    code = code_at(clock)
    await two_factor.check("bob", code, context="session", address=ADDRESS)
    assert await two_factor.remove("bob")
    with pytest.raises(InvalidArgument, match="used already"):
        await two_factor.enrol("bob", SECRET, code, address=ADDRESS)
    assert not await two_factor.enrolled("bob")
    assert not await two_factor.remove("bob")


async def test_the_policy_switch_decides_whether_enrolled_users_need_a_code(
    two_factor: TwoFactor, clock: FrozenClock, bob: Account
) -> None:
    await enrolled(two_factor, clock)
    assert await two_factor.policy_enabled()
    assert await two_factor.required("bob")
    await two_factor.set_policy(False)
    assert not await two_factor.policy_enabled()
    assert not await two_factor.required("bob")
    assert await two_factor.enrolled("bob")  # switching the policy off keeps the enrolment
    await two_factor.set_policy(True)
    assert await two_factor.required("bob")


class PolicyUnreadable(SqliteStore):
    """A store whose settings table cannot be read."""

    async def get_setting(self, key: str) -> str | None:
        raise StoreUnavailable("settings table is locked")


@pytest.fixture
async def unreadable_store(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[PolicyUnreadable]:
    db = await migrated(PolicyUnreadable(tmp_path / "unreadable.db", clock=clock, create=True))
    yield db
    await db.aclose()


async def test_an_unreadable_policy_counts_as_on(
    unreadable_store: PolicyUnreadable, clock: FrozenClock
) -> None:
    # TF-7: failing open here would let an enrolled user in with a password alone
    two_factor = TwoFactor(unreadable_store, SecretBox([os.urandom(32)]), clock, hostname=HOSTNAME)
    await two_factor.enrol("bob", SECRET, code_at(clock), address=ADDRESS)
    await unreadable_store.set_setting("twofactorauth_policy", "0")
    assert await two_factor.policy_enabled()
    assert await two_factor.required("bob")


async def test_issuer_is_the_resellers_then_its_owners_then_the_systems_then_the_hostname(
    two_factor: TwoFactor, store: SqliteStore, bob: Account, reseller: Account
) -> None:
    carol = await store.get_account("carol")
    assert carol is not None
    assert await two_factor.issuer_for(carol) == HOSTNAME
    assert await two_factor.issuer_for(None) == HOSTNAME
    await store.set_setting("twofactorauth_issuer", "Example Hosting")
    assert await two_factor.issuer_for(carol) == "Example Hosting"
    assert await two_factor.issuer_for(None) == "Example Hosting"
    await store.set_issuer("res", "Res Hosting")
    assert await two_factor.issuer_for(carol) == "Res Hosting"  # carol's owner
    assert await two_factor.issuer_for(reseller) == "Res Hosting"
    assert await two_factor.issuer_for(bob) == "Example Hosting"  # bob belongs to root
    await store.set_issuer("carol", "Carol Co")
    assert await two_factor.issuer_for(carol) == "Carol Co"


async def test_uri_names_the_issuer_and_the_label(
    two_factor: TwoFactor, store: SqliteStore, bob: Account
) -> None:
    await store.set_setting("twofactorauth_issuer", "Example Hosting")
    uri = await two_factor.uri(bob, "bob", SECRET)
    assert uri == f"otpauth://totp/Example%20Hosting:bob?secret={SECRET}&issuer=Example%20Hosting"
    assert await two_factor.uri(None, "root", SECRET) == (
        f"otpauth://totp/Example%20Hosting:root?secret={SECRET}&issuer=Example%20Hosting"
    )
