"""panelauth's session management functions through the dispatcher (SE-9, docs/api.md)."""

from __future__ import annotations

import dataclasses

from panelauth.api.catalog import build_registry
from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account
from panelauth.core.sessions import SessionKind, SessionState
from panelauth.protocol.services import Service
from tests.api.helpers import BOB, ROOT, mail_identity, metadata, reseller_identity, uapi, whm

RES = reseller_identity(frozenset({"list-accts"}))


async def open_session(runtime: Runtime, user: str, account: str | None) -> str:
    service = Service.WEBMAIL if "@" in user else Service.WHM if account is None else Service.CPANEL
    created = await runtime.sessions.create(
        user=user,
        account=account,
        service=service,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator=user,
        method="handle_form_login",
        path="form",
        address="192.0.2.1",
        bind=True,
        user_agent="agent/1.0",
    )
    return created.session.session_id


def kills(session_log: MemorySessionLog) -> list[str]:
    return [
        sid for event, sid, reason in session_log.events if event == "PURGE" and reason == "kill"
    ]


def test_the_functions_declare_their_requirements() -> None:
    registry = build_registry()
    for name in ("panelauth_list_sessions", "panelauth_kill_sessions"):
        function = registry.get(Api.WHM1, "", name)
        assert function is not None and function.acl is None
    for name in ("list", "kill"):
        function = registry.get(Api.UAPI, "PanelauthSessions", name)
        assert function is not None
        assert function.webmail_safe and function.feature is None
        assert function.sets_password is False
        assert function.whm_token_acls == ("cpanel-api",)


async def test_root_lists_every_session_and_one_users(
    dispatcher: Dispatcher, runtime: Runtime, bob: Account, reseller: Account
) -> None:
    root_id = await open_session(runtime, "root", None)
    bob_id = await open_session(runtime, "bob", "bob")
    carol_id = await open_session(runtime, "carol", "carol")
    answer = await whm(dispatcher, ROOT, "panelauth_list_sessions")
    sessions = {s["id"]: s for s in answer.document["data"]["sessions"]}
    assert set(sessions) == {root_id, bob_id, carol_id}
    assert sessions[bob_id] == {
        "id": bob_id,
        "user": "bob",
        "service": "cpaneld",
        "state": "active",
        "address": "192.0.2.1",
        "user_agent": "agent/1.0",
        "method": "handle_form_login",
        "created": 1767225600,
        "last_seen": 1767225600,
        "current": 0,
    }
    one = await whm(dispatcher, ROOT, "panelauth_list_sessions", user="bob")
    assert [s["id"] for s in one.document["data"]["sessions"]] == [bob_id]
    own = await whm(dispatcher, ROOT, "panelauth_list_sessions", user="root")
    assert [s["id"] for s in own.document["data"]["sessions"]] == [root_id]


async def test_a_reseller_sees_only_itself_and_its_accounts_without_enumeration(
    dispatcher: Dispatcher, runtime: Runtime, bob: Account, reseller: Account
) -> None:
    await open_session(runtime, "root", None)
    bob_id = await open_session(runtime, "bob", "bob")
    res_id = await open_session(runtime, "res", "res")
    carol_id = await open_session(runtime, "carol", "carol")
    listing = await whm(dispatcher, RES, "panelauth_list_sessions")
    assert {s["id"] for s in listing.document["data"]["sessions"]} == {res_id, carol_id}
    foreign = await whm(dispatcher, RES, "panelauth_list_sessions", user="bob")
    absent = await whm(dispatcher, RES, "panelauth_list_sessions", user="zed")
    rooted = await whm(dispatcher, RES, "panelauth_list_sessions", user="root")
    assert foreign.status == absent.status == rooted.status == 403
    assert foreign.document == absent.document == rooted.document
    kill_foreign = await whm(dispatcher, RES, "panelauth_kill_sessions", session=bob_id)
    kill_absent = await whm(dispatcher, RES, "panelauth_kill_sessions", session="bob:nope")
    assert kill_foreign.status == kill_absent.status == 403
    assert kill_foreign.document == kill_absent.document
    kill_user = await whm(dispatcher, RES, "panelauth_kill_sessions", user="bob")
    assert kill_user.status == 403
    assert await runtime.store.get_session(bob_id) is not None


async def test_kill_one_a_users_or_all_with_reason_kill(
    dispatcher: Dispatcher,
    runtime: Runtime,
    session_log: MemorySessionLog,
    bob: Account,
    reseller: Account,
) -> None:
    bob_id = await open_session(runtime, "bob", "bob")
    carol_id = await open_session(runtime, "carol", "carol")
    res_id = await open_session(runtime, "res", "res")
    one = await whm(dispatcher, RES, "panelauth_kill_sessions", session=carol_id)
    assert one.document["data"] == {"killed": 1}
    assert kills(session_log) == [carol_id]
    # the caller's own session survives `all` (it ends with `session=`)
    current = dataclasses.replace(RES, session_id=res_id)
    every = await whm(dispatcher, current, "panelauth_kill_sessions", all="1")
    assert every.document["data"] == {"killed": 0}
    assert await runtime.store.get_session(res_id) is not None
    by_user = await whm(dispatcher, ROOT, "panelauth_kill_sessions", user="bob")
    assert metadata(by_user)["result"] == 1 and by_user.document["data"] == {"killed": 1}
    assert kills(session_log) == [carol_id, bob_id]
    every = await whm(dispatcher, ROOT, "panelauth_kill_sessions", all="1")
    assert every.document["data"] == {"killed": 1}
    assert await runtime.store.get_session(res_id) is None


async def test_kill_needs_exactly_one_target(dispatcher: Dispatcher, bob: Account) -> None:
    for args in ({}, {"user": "bob", "all": "1"}, {"all": "0"}):
        answer = await whm(dispatcher, ROOT, "panelauth_kill_sessions", **args)
        assert metadata(answer)["result"] == 0
    neither = await uapi(dispatcher, BOB, "PanelauthSessions", "kill")
    both = await uapi(dispatcher, BOB, "PanelauthSessions", "kill", session="bob:x", others="1")
    assert neither.document["status"] == both.document["status"] == 0


async def test_uapi_lists_and_ends_only_the_callers_own_sessions(
    dispatcher: Dispatcher, runtime: Runtime, session_log: MemorySessionLog, bob: Account
) -> None:
    mine = await open_session(runtime, "bob", "bob")
    other = await open_session(runtime, "bob", "bob")
    mailbox = await open_session(runtime, "info@bob.example", "bob")
    root_id = await open_session(runtime, "root", None)
    me = dataclasses.replace(BOB, session_id=mine)
    listing = await uapi(dispatcher, me, "PanelauthSessions", "list")
    rows = listing.document["data"]
    assert sorted((r["id"], r["current"]) for r in rows) == sorted([(mine, 1), (other, 0)])
    for foreign in (mailbox, root_id, "bob:absent"):
        refused = await uapi(dispatcher, me, "PanelauthSessions", "kill", session=foreign)
        assert refused.status == 403 and refused.document["status"] == 0
    others = await uapi(dispatcher, me, "PanelauthSessions", "kill", others="1")
    assert others.document["data"] == {"killed": 1}
    assert kills(session_log) == [other]
    # through WHM, root acts on bob's sessions (none of them is root's current one)
    through = await uapi(dispatcher, ROOT, "PanelauthSessions", "list", acting_user="bob")
    assert [(r["id"], r["current"]) for r in through.document["data"]] == [(mine, 0)]
    assert mine in {s["id"] for s in rows} and "secret" not in str(rows)


async def test_a_webmail_mailbox_sees_and_ends_its_own_only(
    dispatcher: Dispatcher, runtime: Runtime, bob: Account
) -> None:
    bob_id = await open_session(runtime, "bob", "bob")
    mail_id = await open_session(runtime, "info@bob.example", "bob")
    info = dataclasses.replace(mail_identity("info@bob.example", "bob"), session_id=mail_id)
    listing = await uapi(dispatcher, info, "PanelauthSessions", "list", service=Service.WEBMAIL)
    assert [(r["id"], r["current"]) for r in listing.document["data"]] == [(mail_id, 1)]
    refused = await uapi(
        dispatcher, info, "PanelauthSessions", "kill", service=Service.WEBMAIL, session=bob_id
    )
    assert refused.status == 403
    own = await uapi(
        dispatcher, info, "PanelauthSessions", "kill", service=Service.WEBMAIL, session=mail_id
    )
    assert own.document["data"] == {"killed": 1}
    assert await runtime.store.get_session(mail_id) is None
    assert await runtime.store.get_session(bob_id) is not None
