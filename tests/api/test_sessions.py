"""WHM API 1 `create_user_session` and UAPI `Session` through the dispatcher (w§10.1, §10.2)."""

from __future__ import annotations

from panelauth.api.catalog import build_registry
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.backends.sqlite import SqliteStore
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemorySessionLog
from panelauth.core.models import Account
from panelauth.core.sessions import SessionKind, SessionState
from tests.api.helpers import BOB, ROOT, metadata, reseller_identity, uapi, whm

RES_ACLS = frozenset({"create-user-session"})


def test_the_functions_declare_their_requirements() -> None:
    registry = build_registry()
    create = registry.get(Api.WHM1, "", "create_user_session")
    assert create is not None and create.acl == "create-user-session"
    for name in (
        "create_webmail_session_for_self",
        "create_webmail_session_for_mail_user",
        "create_webmail_session_for_mail_user_check_password",
    ):
        function = registry.get(Api.UAPI, "Session", name)
        assert function is not None
        assert function.feature == "webmail" and not function.webmail_safe
        assert function.sets_password is False
        assert function.whm_token_acls == ("cpanel-api", "create-user-session")


async def test_the_session_is_an_unused_sso_record(
    dispatcher: Dispatcher, store: SqliteStore, session_log: MemorySessionLog, bob: Account
) -> None:
    answer = await whm(dispatcher, ROOT, "create_user_session", user="bob", service="cpaneld")
    assert metadata(answer)["result"] == 1
    session_id = answer.document["data"]["session"].split(",")[0]
    session = await store.get_session(session_id)
    assert session is not None
    assert session.kind is SessionKind.SSO and session.state is SessionState.UNUSED
    assert session.creator == "root" and session.possessor == "root"
    assert session.method == "create_user_session" and session.bound_address is None
    # the CLI and tests call without a request host: the configured hostname
    assert answer.document["data"]["url"].startswith("https://panel.example.test:2083/cpsess")


async def test_a_reseller_needs_the_acl_and_ownership(
    dispatcher: Dispatcher, accounts: Accounts, reseller: Account, bob: Account
) -> None:
    without = reseller_identity(frozenset({"list-accts"}))
    answer = await whm(dispatcher, without, "create_user_session", user="carol", service="cpaneld")
    assert answer.status == 403
    res = reseller_identity(RES_ACLS)
    ok = await whm(dispatcher, res, "create_user_session", user="carol", service="cpaneld")
    assert metadata(ok)["result"] == 1
    foreign = await whm(dispatcher, res, "create_user_session", user="bob", service="cpaneld")
    absent = await whm(dispatcher, res, "create_user_session", user="zed", service="cpaneld")
    assert foreign.status == absent.status == 403
    assert foreign.document == absent.document


async def test_uapi_webmail_session_for_self_in_the_uapi_envelope(
    dispatcher: Dispatcher, bob: Account
) -> None:
    answer = await uapi(dispatcher, BOB, "Session", "create_webmail_session_for_self", locale="en")
    assert answer.document["status"] == 1
    assert answer.document["data"]["hostname"] is None
    bad = await uapi(dispatcher, BOB, "Session", "create_webmail_session_for_self", locale="EN_US")
    assert bad.document["status"] == 0
