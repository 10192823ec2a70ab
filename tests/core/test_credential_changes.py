"""The core use cases own their side effects: the sessions that end and the accounting record
(issue 9, PW-8, PW-9, TF-9, CV-9)."""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path

import pyotp
import pytest

from panelauth.api.context import Runtime
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemoryAccountingLog, MemorySessionLog
from panelauth.core.credential_changes import CredentialChanges
from panelauth.core.models import Account, Mailbox
from panelauth.core.session_manager import PASSWORD_CHANGE, Created
from panelauth.core.sessions import SessionKind, SessionState
from panelauth.core.tokens import ApiToken, TokenKind, digest
from panelauth.errors import (
    AlreadyExists,
    FunctionFailed,
    NotFound,
    SessionRefused,
    StoreUnavailable,
)
from panelauth.protocol.services import Service
from panelauth.secret import Secret

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ADDRESS = "198.51.100.7"
SERVICES = {"root": Service.WHM, "bob": Service.CPANEL, "info@bob.example": Service.WEBMAIL}


async def open_session(runtime: Runtime, user: str) -> Created:
    return await runtime.sessions.create(
        user=user,
        account=None if user == "root" else "bob",
        service=SERVICES[user],
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator=user,
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=True,
        user_agent="agent/1",
    )


def purges(log: MemorySessionLog) -> dict[str, str]:
    return {sid: str(reason) for event, sid, reason in log.events if event == "PURGE"}


@pytest.fixture
def changes(runtime: Runtime) -> CredentialChanges:
    return runtime.credential_changes()


async def test_an_own_password_change_rotates_the_callers_session(
    runtime: Runtime,
    changes: CredentialChanges,
    bob: Account,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    caller = await open_session(runtime, "bob")
    other = await open_session(runtime, "bob")
    changed = await changes.change_password(
        "bob",
        Secret("bob-New-Passw0rd"),
        actor="bob",
        caller_session=caller.session.session_id,
        address=ADDRESS,
    )
    rotated = changed.rotated
    assert rotated is not None
    successor = rotated.session
    assert successor.session_id != caller.session.session_id
    assert successor.security_token != caller.session.security_token
    assert (successor.user, successor.creator, successor.method) == (
        "bob",
        "bob",
        caller.session.method,
    )
    assert (successor.bound_address, successor.user_agent) == (ADDRESS, "agent/1")
    assert successor.credential_version == 2  # the new password's version (CV-9)
    assert purges(session_log) == {
        caller.session.session_id: PASSWORD_CHANGE,
        other.session.session_id: PASSWORD_CHANGE,
    }
    store = runtime.store
    assert await store.get_session(caller.session.session_id) is None
    assert await store.get_session(successor.session_id) is not None
    await runtime.sessions.identity(successor)  # the successor works
    assert accounting.events == [("PASSWD", "bob", "bob")]


async def test_another_users_password_change_keeps_the_callers_session(
    runtime: Runtime,
    changes: CredentialChanges,
    bob: Account,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    root = await open_session(runtime, "root")
    victim = await open_session(runtime, "bob")
    changed = await changes.change_password(
        "bob",
        "bob-New-Passw0rd",
        actor="root",
        caller_session=root.session.session_id,
        address=None,
    )
    assert changed.rotated is None
    assert purges(session_log) == {victim.session.session_id: PASSWORD_CHANGE}
    await runtime.sessions.identity(root.session)
    # a caller whose session is gone already rotates nothing
    changed = await changes.change_password(
        "bob", "bob-Other-Pw1", actor="bob", caller_session="bob:gone", address=None
    )
    assert changed.rotated is None
    assert accounting.events == [("PASSWD", "root", "bob"), ("PASSWD", "bob", "bob")]


async def test_a_failed_change_ends_nothing_and_records_nothing(
    runtime: Runtime,
    changes: CredentialChanges,
    bob: Account,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    held = await open_session(runtime, "bob")
    with pytest.raises(FunctionFailed):
        await changes.change_password(
            "bob", "short", actor="bob", caller_session=held.session.session_id, address=None
        )
    with pytest.raises(NotFound):
        await changes.change_password(
            "ghost", "ghost-Passw0rd1", actor="root", caller_session=None, address=None
        )
    assert purges(session_log) == {} and accounting.events == []


async def test_credential_version_ends_sessions_whatever_changed_it(
    runtime: Runtime, store: SqliteStore, mailbox: Mailbox, session_log: MemorySessionLog
) -> None:
    """CV-9: a direct store write (no purge at all) still ends the session at its next use."""
    for user in ("bob", "info@bob.example", "root"):
        held = await open_session(runtime, user)
        await runtime.sessions.identity(held.session)
        if "@" in user:
            await store.set_mailbox_password_hash(user, "$argon2id$x", rotate=True)
        else:
            await store.set_password_hash(user, "$argon2id$x", rotate=True)
        with pytest.raises(SessionRefused):
            await runtime.sessions.identity(held.session, address=ADDRESS)
        assert purges(session_log)[held.session.session_id] == PASSWORD_CHANGE
        fresh = await open_session(runtime, user)
        await runtime.sessions.identity(fresh.session)
    assert await runtime.sessions.current_credential_version("ghost") == 0
    assert await runtime.sessions.current_credential_version("ghost@bob.example") == 0


async def test_a_mailbox_session_needs_its_mailbox(
    runtime: Runtime, store: SqliteStore, mailbox: Mailbox
) -> None:
    held = await open_session(runtime, "info@bob.example")
    with pytest.raises(SessionRefused):  # a mailbox of another account
        await runtime.sessions.identity(dataclasses.replace(held.session, account="root"))
    await store.delete_mailbox("info@bob.example")
    with pytest.raises(SessionRefused):
        await runtime.sessions.identity(held.session)


async def test_a_successor_inherits_the_credential_version(
    runtime: Runtime, store: SqliteStore, bob: Account
) -> None:
    """A two-factor completion or a transfer made after a change is ended too (CV-9)."""
    pending = await open_session(runtime, "bob")
    await store.set_password_hash("bob", "$argon2id$x", rotate=True)
    successor = await runtime.sessions.successor(
        pending.session, method="handle_form_login", path="form", address=ADDRESS
    )
    assert successor.session.credential_version == pending.session.credential_version
    with pytest.raises(SessionRefused):
        await runtime.sessions.identity(successor.session)


async def test_two_factor_enrol_and_remove(
    runtime: Runtime,
    changes: CredentialChanges,
    bob: Account,
    clock: FrozenClock,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    caller = await open_session(runtime, "bob")
    other = await open_session(runtime, "bob")
    new = await changes.new_two_factor_secret("bob", bob)
    assert new.otpauth_uri.startswith("otpauth://totp/") and len(new.secret) == 32
    code = pyotp.TOTP(new.secret).at(clock.now())
    await changes.enrol_two_factor(
        "bob", new.secret, code, actor="bob", keep=caller.session.session_id, address=ADDRESS
    )
    assert purges(session_log) == {other.session.session_id: "kill"}
    third = await open_session(runtime, "bob")
    assert await changes.remove_two_factor(
        "bob", actor="root", keep=caller.session.session_id, address=None
    )
    assert purges(session_log)[third.session.session_id] == "kill"
    assert not await changes.remove_two_factor("bob", actor="root", keep=None, address=None)
    assert accounting.events == [
        ("TWOFACTORAUTH_SET", "bob", "bob"),
        ("TWOFACTORAUTH_REMOVE", "root", "bob"),
    ]
    await runtime.sessions.identity(caller.session)  # the caller's own session stays


async def test_two_factor_policy_and_issuer(
    changes: CredentialChanges,
    runtime: Runtime,
    bob: Account,
    accounting: MemoryAccountingLog,
) -> None:
    await changes.set_two_factor_policy(actor="root", enabled=False)
    with pytest.raises(FunctionFailed):
        await changes.new_two_factor_secret("bob", bob)
    with pytest.raises(FunctionFailed):
        await changes.enrol_two_factor(
            "bob", SECRET, "000000", actor="bob", keep=None, address=ADDRESS
        )
    await changes.set_two_factor_policy(actor="root", enabled=True)
    await changes.set_two_factor_issuer(actor="root", owner=None, issuer="System")
    await changes.set_two_factor_issuer(actor="res", owner="res", issuer="Res")
    assert await runtime.store.get_issuer("res") == "Res"
    assert accounting.events == [
        ("TWOFACTORAUTH_POLICY", "root", "disabled"),
        ("TWOFACTORAUTH_POLICY", "root", "enabled"),
        ("TWOFACTORAUTH_ISSUER", "root", "System"),
        ("TWOFACTORAUTH_ISSUER", "res", "Res"),
    ]


async def test_tokens_are_recorded_and_end_no_session(
    runtime: Runtime,
    changes: CredentialChanges,
    bob: Account,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    held = await open_session(runtime, "bob")
    issued = await changes.create_token(actor="bob", owner="bob", kind=TokenKind.CPANEL, name="t")
    renamed = dataclasses.replace(issued.token, name="u")
    await changes.update_token(actor="bob", old_name="t", token=renamed)
    assert await changes.revoke_token(actor="bob", owner="bob", kind=TokenKind.CPANEL, name="u")
    assert not await changes.revoke_token(actor="bob", owner="bob", kind=TokenKind.CPANEL, name="u")
    whm = await changes.create_token(actor="root", owner="root", kind=TokenKind.WHM, name="w")
    await changes.update_token(actor="root", old_name="w", token=whm.token)
    assert accounting.events == [
        ("API_TOKEN_CREATE", "bob", "bob", "cpanel", "t"),
        ("API_TOKEN_RENAME", "bob", "bob", "cpanel", "t"),
        ("API_TOKEN_REVOKE", "bob", "bob", "cpanel", "u"),
        ("API_TOKEN_CREATE", "root", "root", "whm", "w"),
        ("API_TOKEN_UPDATE", "root", "root", "whm", "w"),
    ]
    assert purges(session_log) == {}
    await runtime.sessions.identity(held.session)


async def test_access_hash_generate_and_convert(
    changes: CredentialChanges,
    store: SqliteStore,
    root: Account,
    tmp_path: Path,
    clock: FrozenClock,
    accounting: MemoryAccountingLog,
) -> None:
    with pytest.raises(NotFound):
        await changes.convert_access_hash(actor="root", user="root")
    path = tmp_path / "home" / "root" / ".accesshash"
    text = await changes.generate_access_hash(actor="root", user="root", path=path)
    assert path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == 0o600
    # a name already taken (by another token) moves the new one to the next suffix
    now = int(clock.now())
    await store.insert_token(ApiToken("root", TokenKind.WHM, f"accesshash-{now}", "x" * 128, now))
    assert await changes.convert_access_hash(actor="root", user="root") == f"accesshash-{now}-1"
    with pytest.raises(AlreadyExists, match="converted already"):
        await changes.convert_access_hash(actor="root", user="root")
    assert accounting.events == [
        ("ACCESSHASH_GENERATE", "root", "root"),
        ("ACCESSHASH_CONVERT", "root", "root", "whm", f"accesshash-{now}-1"),
    ]


async def test_access_hash_convert_runs_out_of_names(
    changes: CredentialChanges, store: SqliteStore, root: Account, clock: FrozenClock
) -> None:
    now = int(clock.now())
    await store.set_access_hash_digest("root", digest("hash"), now)
    for suffix in range(100):
        name = f"accesshash-{now}" + (f"-{suffix}" if suffix else "")
        await store.insert_token(ApiToken("root", TokenKind.WHM, name, f"{suffix:0128d}", now))
    with pytest.raises(AlreadyExists, match="No free token name"):
        await changes.convert_access_hash(actor="root", user="root")


async def test_access_hash_generate_leaves_no_file_when_the_store_fails(
    runtime: Runtime, root: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fail(*args: object) -> None:
        raise StoreUnavailable("locked")

    monkeypatch.setattr(runtime.store, "set_access_hash_digest", fail)
    path = tmp_path / "home" / "root" / ".accesshash"
    with pytest.raises(StoreUnavailable):
        await runtime.credential_changes().generate_access_hash(
            actor="root", user="root", path=path
        )
    assert not path.exists() and list(path.parent.iterdir()) == []


async def test_suspension_and_removal_end_sessions_in_core(
    runtime: Runtime,
    store: SqliteStore,
    mailbox: Mailbox,
    clock: FrozenClock,
    session_log: MemorySessionLog,
    accounting: MemoryAccountingLog,
) -> None:
    lifecycle = runtime.account_changes()
    root = await open_session(runtime, "root")
    bob = await open_session(runtime, "bob")
    mail = await open_session(runtime, "info@bob.example")
    await lifecycle.suspend("bob", "unpaid", actor="root", address=ADDRESS)
    assert purges(session_log) == {
        bob.session.session_id: "suspend",
        mail.session.session_id: "suspend",
    }
    await lifecycle.unsuspend("bob", actor="root")
    later = await open_session(runtime, "info@bob.example")
    await runtime.two_factor.enrol(
        "info@bob.example", SECRET, pyotp.TOTP(SECRET).at(clock.now()), address=ADDRESS
    )
    await lifecycle.remove_mailbox("info@bob.example", actor="bob", client=ADDRESS)
    assert purges(session_log)[later.session.session_id] == "kill"
    assert not await runtime.two_factor.enrolled("info@bob.example")
    await runtime.two_factor.enrol(
        "bob", SECRET, pyotp.TOTP(SECRET).at(clock.now()), address=ADDRESS
    )
    last = await open_session(runtime, "bob")
    await lifecycle.remove_account("bob", actor="root", address=ADDRESS)
    assert purges(session_log)[last.session.session_id] == "killacct"
    assert not await runtime.two_factor.enrolled("bob")  # no second factor left behind (PW-8)
    await runtime.sessions.identity(root.session)
    for missing in (
        lifecycle.suspend("bob", "", actor="root", address=None),
        lifecycle.unsuspend("bob", actor="root"),
        lifecycle.remove_account("bob", actor="root", address=None),
        lifecycle.remove_mailbox("info@bob.example", actor="root", client=None),
    ):
        with pytest.raises(NotFound):
            await missing
    assert accounting.events == [
        ("SUSPEND", "root", "bob", "unpaid"),
        ("UNSUSPEND", "root", "bob"),
        ("DELPOP", "bob", "info@bob.example"),
        ("REMOVE", "root", "bob"),
    ]
