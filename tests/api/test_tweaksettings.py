"""WHM API 1 `get_tweaksetting` and `set_tweaksetting` through the dispatcher: cPanel's shapes,
root only, validation in the envelope (never a 500), the accounting line."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from panelauth.api.answers import Answer, Endpoint, Envelope, render
from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.api.whm import tweaksettings
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemoryAccountingLog
from panelauth.core.models import CredentialKind, Identity, IdentityKind
from panelauth.core.shared_settings import STORE_PREFIX, TWEAKS
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from tests.api.helpers import BOB, ROOT, reseller_identity

FUNCTIONS = ("get_tweaksetting", "set_tweaksetting")


async def call(
    dispatcher: Dispatcher,
    name: str,
    pairs: Sequence[tuple[str, str]] = (),
    *,
    identity: Identity = ROOT,
) -> Answer:
    params = Params([("api.version", "1"), *pairs])
    outcome = await dispatcher.whm1(identity, name, params, client_address="192.0.2.1")
    return render(outcome, Endpoint(Envelope.WHM1, "", name), Service.WHM)


async def get(dispatcher: Dispatcher, key: str) -> str:
    answer = await call(dispatcher, "get_tweaksetting", [("key", key)])
    assert answer.status == 200, answer.document
    assert answer.document["metadata"]["result"] == 1, answer.document
    value: str = answer.document["data"]["tweaksetting"]["value"]
    assert answer.document["data"] == {"tweaksetting": {"key": key, "value": value}}
    return value


async def refused(dispatcher: Dispatcher, name: str, *pairs: tuple[str, str]) -> str:
    """The reason of a call that fails as a function (200, result 0), never a 500."""
    answer = await call(dispatcher, name, pairs)
    assert answer.status == 200, answer.document
    assert answer.document["metadata"]["result"] == 0, answer.document
    assert "data" not in answer.document
    reason: str = answer.document["metadata"]["reason"]
    return reason


def test_both_functions_are_declared_root_only() -> None:
    functions = tweaksettings.registry.all(Api.WHM1)
    assert sorted(f.name for f in functions) == sorted(FUNCTIONS)
    assert all(f.acl == "all" for f in functions)


async def test_get_answers_cpanels_shape_with_the_value_in_force(dispatcher: Dispatcher) -> None:
    answer = await call(dispatcher, "get_tweaksetting", [("key", "requiressl")])
    assert answer.document == {
        "data": {"tweaksetting": {"key": "requiressl", "value": "1"}},
        "metadata": {"command": "get_tweaksetting", "reason": "OK", "result": 1, "version": 1},
    }
    # nothing stored yet: the node's panelauth.yaml values (here the defaults)
    assert await get(dispatcher, "cookieipvalidation") == "strict"
    assert await get(dispatcher, "allow_deprecated_accesshash") == "1"
    assert await get(dispatcher, "log_successful_logins") == "1"
    assert await get(dispatcher, "panelauth_session_idle_seconds") == "1800"
    assert await get(dispatcher, "panelauth_session_absolute_seconds") == "43200"
    assert await get(dispatcher, "panelauth_max_sessions_per_user") == "0"
    assert await get(dispatcher, "panelauth_tfa_window_steps") == "1"
    answer = await call(dispatcher, "get_tweaksetting", [("key", "requiressl"), ("module", "Main")])
    assert answer.document["metadata"]["result"] == 1


async def test_set_answers_with_metadata_only_and_every_key_round_trips(
    dispatcher: Dispatcher, runtime: Runtime, store: SqliteStore
) -> None:
    changes = {
        "requiressl": "0",
        "cookieipvalidation": "loose",
        "allow_deprecated_accesshash": "0",
        "log_successful_logins": "0",
        "panelauth_session_idle_seconds": "900",
        "panelauth_session_absolute_seconds": "7200.5",
        "panelauth_max_sessions_per_user": "5",
        "panelauth_tfa_window_steps": "2",
    }
    assert set(changes) == set(TWEAKS)
    for key, value in changes.items():
        answer = await call(dispatcher, "set_tweaksetting", [("key", key), ("value", value)])
        assert answer.document == {
            "metadata": {"command": "set_tweaksetting", "reason": "OK", "result": 1, "version": 1}
        }
        assert await get(dispatcher, key) == value
        assert await store.get_setting(STORE_PREFIX + key) == value
    # this worker decides with them at once
    shared = runtime.shared.value
    assert shared.require_ssl is False
    assert shared.cookie_ip_validation == "loose"
    assert shared.access_hash_enabled is False
    assert shared.log_successful_logins is False
    assert shared.session_policy.password_idle == 900.0
    assert shared.session_policy.absolute == 7200.5
    assert shared.session_policy.max_per_user == 5
    assert shared.tfa_window_steps == 2


async def test_values_are_shown_in_their_canonical_form(dispatcher: Dispatcher) -> None:
    for given, shown in ((" 1 ", "1"), ("0600", "600"), ("600.0", "600"), ("90.25", "90.25")):
        key = "requiressl" if given.strip() in ("0", "1") else "panelauth_session_idle_seconds"
        await call(dispatcher, "set_tweaksetting", [("key", key), ("value", given)])
        assert await get(dispatcher, key) == shown


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        ((), "The “key” parameter is required."),
        ((("key", ""),), "The “key” parameter is required."),
        ((("key", "proxysubdomains"),), "“proxysubdomains” is not a Tweak Settings key"),
        ((("key", "require_ssl"),), "it serves: requiressl, cookieipvalidation"),
        ((("key", "requiressl"), ("module", "Mail")), "no key of the “Mail” module"),
        ((("key", "requiressl"), ("module", "Other")), "one of: Apache, Basic, Mail, Main"),
    ],
)
async def test_get_refuses_bad_input_in_the_envelope(
    dispatcher: Dispatcher, pairs: tuple[tuple[str, str], ...], reason: str
) -> None:
    assert reason in await refused(dispatcher, "get_tweaksetting", *pairs)


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("requiressl", None, "The “value” parameter is required."),
        ("requiressl", "", "The value of “requiressl” must be 1 or 0."),
        ("requiressl", "on", "The value of “requiressl” must be 1 or 0."),
        ("allow_deprecated_accesshash", "true", "must be 1 or 0"),
        ("log_successful_logins", "-1", "must be 1 or 0"),
        ("cookieipvalidation", "off", "must be one of: strict, loose, disabled"),
        ("panelauth_session_idle_seconds", "0", "from 1 to 2592000 seconds"),
        ("panelauth_session_idle_seconds", "abc", "must be a number from 1"),
        ("panelauth_session_absolute_seconds", "99999999", "from 1 to 31622400 seconds"),
        ("panelauth_max_sessions_per_user", "-1", "must be a whole number from 0 to 1000"),
        ("panelauth_max_sessions_per_user", "2.5", "must be a whole number"),
        ("panelauth_tfa_window_steps", "11", "from 0 to 10"),
        ("nosuchkey", "1", "“nosuchkey” is not a Tweak Settings key"),
    ],
)
async def test_set_refuses_bad_input_and_changes_nothing(
    dispatcher: Dispatcher,
    store: SqliteStore,
    accounting: MemoryAccountingLog,
    key: str,
    value: str | None,
    reason: str,
) -> None:
    pairs = [("key", key)] + ([] if value is None else [("value", value)])
    assert reason in await refused(dispatcher, "set_tweaksetting", *pairs)
    assert await store.get_setting(STORE_PREFIX + key) is None
    assert accounting.events == []


async def test_set_refuses_another_module(dispatcher: Dispatcher, store: SqliteStore) -> None:
    pairs = (("key", "requiressl"), ("value", "0"), ("module", "Apache"))
    assert "no key of the “Apache” module" in await refused(dispatcher, "set_tweaksetting", *pairs)
    assert await store.get_setting(STORE_PREFIX + "requiressl") is None


@pytest.mark.parametrize(
    "identity",
    [
        reseller_identity(frozenset()),
        reseller_identity(frozenset({"all"})),  # the settings are the server's, never a reseller's
        Identity(  # a root token whose ACL list leaves out `all`
            "root", IdentityKind.ROOT, CredentialKind.API_TOKEN, None, frozenset({"list-accts"})
        ),
    ],
)
async def test_only_root_may_read_or_change(
    dispatcher: Dispatcher, store: SqliteStore, accounting: MemoryAccountingLog, identity: Identity
) -> None:
    for name in FUNCTIONS:
        pairs = [("key", "requiressl"), ("value", "0")]
        answer = await call(dispatcher, name, pairs, identity=identity)
        assert answer.status == 403, (name, answer.document)
        assert answer.document["metadata"]["result"] == 0
        assert answer.document["metadata"]["reason"].startswith("Permission denied")
    assert await store.get_setting(STORE_PREFIX + "requiressl") is None
    assert accounting.events == []


async def test_a_cpanel_user_never_reaches_them(dispatcher: Dispatcher) -> None:
    answer = await call(dispatcher, "get_tweaksetting", [("key", "requiressl")], identity=BOB)
    assert answer.status == 403


async def test_every_change_is_one_accounting_line(
    dispatcher: Dispatcher, accounting: MemoryAccountingLog
) -> None:
    await call(dispatcher, "set_tweaksetting", [("key", "requiressl"), ("value", "0")])
    await call(dispatcher, "set_tweaksetting", [("key", "requiressl"), ("value", "1")])
    value = [("key", "panelauth_session_idle_seconds"), ("value", "300")]
    await call(dispatcher, "set_tweaksetting", value)
    assert accounting.events == [
        ("TWEAKSETTING", "root", "requiressl", "0", "1"),  # key, new value, previous value
        ("TWEAKSETTING", "root", "requiressl", "1", "0"),
        ("TWEAKSETTING", "root", "panelauth_session_idle_seconds", "300", "1800"),
    ]


async def test_a_change_made_elsewhere_is_what_get_answers_at_once(
    dispatcher: Dispatcher, store: SqliteStore, runtime: Runtime, clock: FrozenClock
) -> None:
    await runtime.shared.refresh()
    await store.set_setting(STORE_PREFIX + "cookieipvalidation", "disabled")  # another node
    assert await get(dispatcher, "cookieipvalidation") == "disabled"  # read from the store
    assert runtime.shared.value.cookie_ip_validation == "strict"  # the view: within 1 s
    clock.advance(1)
    assert runtime.shared.stale(clock.now())
    await runtime.shared.refresh()
    assert runtime.shared.value.cookie_ip_validation == "disabled"
