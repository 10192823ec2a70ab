"""The store contract (core/stores.py): every primitive of every Protocol, on every backend.

Written against the Store protocol only. A backend plugs in by adding a param to `backend`
(a way to open one more "worker" on the same database, and to wait until every worker opened
has the change signals of the writes committed so far); `test_every_primitive_is_exercised`
fails when a primitive is added to a store without a contract test here. PostgreSQL runs in a
fresh schema per test, on the server of tests/backends/conftest.py. `postgresql+redis` and
`sqlite+redis` are split stores (backends/split_store.py): sessions on the test Redis, under a
fresh key prefix per test, the rest in the durable store.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from panelauth.backends import migrate_store, open_store, with_session_store
from panelauth.backends.postgresql import PostgresqlStore
from panelauth.backends.split_store import SplitStore
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core import stores
from panelauth.core.hulk import (
    CONFIG_SETTING,
    DAY,
    Block,
    BlockOrder,
    Failure,
    HulkView,
    Limits,
    ListEntry,
    ListName,
    Method,
    address_key,
    user_key,
)
from panelauth.core.models import Account, Mailbox
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import AccessHash, SealedSecret, StepUse, Store, UsedStep
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import AlreadyExists, InvalidArgument, PanelauthError, StoreUnavailable
from panelauth.protocol.services import Service

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
BACKEND_CLASSES: dict[str, type[object]] = {
    "postgresql": PostgresqlStore,
    "split": SplitStore,
    "sqlite": SqliteStore,
}
# the durable store, and "+redis" for a split store with its sessions on Redis
BACKENDS = ["postgresql", "postgresql+redis", "sqlite", "sqlite+redis"]


@dataclass
class Backend:
    """One backend under test: `open()` opens one more store (a "worker") on its database;
    `settle()` returns once every store opened has the change signal of every write committed
    before the call. SQLite's is read at the check itself (nothing to wait for); PostgreSQL's
    notices travel asynchronously, so a read racing the notice of a write committed by
    another worker a moment ago may still be served from the cache (test_postgresql.py
    bounds that delay)."""

    name: str
    open: Callable[[], Awaitable[Store]]
    settle: Callable[[], Awaitable[None]]


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Backend]:
    opened: list[Store] = []
    durable, _, sessions = request.param.partition("+")
    if durable == "postgresql":
        url = str(request.getfixturevalue("postgresql_store_url"))  # a fresh schema, dropped after
    else:
        url = f"sqlite://{tmp_path / 'contract.db'}"
    # a fresh key prefix, whose keys are deleted after
    session_url = str(request.getfixturevalue("redis_store_url")) if sessions else None
    await migrate_store(url, clock=clock)

    async def open_one() -> Store:
        if session_url is not None and durable == "sqlite":  # open_store allows PostgreSQL only
            plain = await open_store(url, clock=clock)
            store = with_session_store(plain, session_url, clock=clock, busy_timeout_ms=None)
        else:
            store = await open_store(url, session_url, clock=clock)
        opened.append(store)
        return store

    async def settle() -> None:
        for store in opened:
            durable = store.durable if isinstance(store, SplitStore) else store
            if isinstance(durable, PostgresqlStore):
                assert await durable._caught_up(), "a store's notices did not arrive in 5 s"
            if isinstance(store, SplitStore):
                assert await store.counters._caught_up(), "Redis's messages did not arrive in 5 s"

    yield Backend(request.param, open_one, settle)
    for store in opened:
        await store.aclose()


@pytest.fixture
async def store(backend: Backend) -> Store:
    """Replaces the shared SQLite fixture: the store of the backend under test."""
    return await backend.open()


@pytest.fixture
async def other_worker(backend: Backend) -> Store:
    """A second store on the same database, as another worker process (or the CLI) has."""
    return await backend.open()


def account(user: str, **fields: Any) -> Account:
    base = Account(
        user=user, domain=f"{user}.example", owner="root", password_hash=HASH, created_at=1.0
    )
    return replace(base, **fields)


def mailbox(address: str, owner: str, **fields: Any) -> Mailbox:
    return replace(Mailbox(address=address, account=owner, password_hash=HASH), **fields)


def token(owner: str, name: str, **fields: Any) -> ApiToken:
    base = ApiToken(
        owner=owner, kind=TokenKind.WHM, name=name, digest=f"{owner}-{name}-digest", created_at=100
    )
    return replace(base, **fields)


def session(session_id: str, user: str = "bob", **fields: Any) -> Session:
    base = Session(
        session_id=session_id,
        secret_hash="0" * 64,
        user=user,
        account=user,
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        security_token="/cpsess0000000001",
        creator=user,
        possessor=None,
        method="handle_form_login",
        bound_address="192.0.2.1",
        created_at=1000.0,
        last_seen=1000.0,
        expires_at=5000.0,
    )
    return replace(base, **fields)


# -- the contract covers every primitive --------------------------------------------------------


def _protocol_methods() -> set[str]:
    names: set[str] = set()
    for klass in Store.__mro__:
        if klass.__module__ == stores.__name__:
            names |= {n for n, v in vars(klass).items() if inspect.isfunction(v) and n[0] != "_"}
    return names


def _called_here() -> set[str]:
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


@pytest.mark.parametrize("name", sorted(BACKEND_CLASSES))
def test_every_primitive_is_exercised(name: str) -> None:
    klass = BACKEND_CLASSES[name]
    public = {n for n, v in inspect.getmembers(klass, callable) if not n.startswith("_")}
    assert public == _protocol_methods(), "a backend's public methods are the contract's"
    assert not public - _called_here(), "every primitive needs a contract test here"


# -- accounts -----------------------------------------------------------------------------------


async def test_account_round_trips_every_field(store: Store) -> None:
    stored = account(
        "bob",
        plan="Gold Plan",
        feature_list="gold",
        contact_email="admin@bob.example",
        suspended=True,
        suspend_reason="unpaid",
        is_reseller=True,
        acls=frozenset({"list-accts", "passwd"}),
        created_at=1_700_000_000.5,
        credential_version=7,
    )
    await store.insert_account(stored)
    assert await store.get_account("bob") == stored


async def test_missing_account_is_none(store: Store) -> None:
    assert await store.get_account("ghost") is None


async def test_account_lookup_is_exact(store: Store) -> None:
    await store.insert_account(account("bob"))
    for other in ("BOB", "bob ", "bo", "bob%"):
        assert await store.get_account(other) is None


async def test_insert_stamps_a_missing_creation_time(store: Store, clock: FrozenClock) -> None:
    await store.insert_account(account("bob", created_at=0.0))
    stored = await store.get_account("bob")
    assert stored is not None
    assert stored.created_at == clock.now()


@pytest.mark.parametrize(
    "duplicate",
    [account("bob", domain="other.example"), account("carol", domain="bob.example")],
)
async def test_insert_refuses_a_taken_user_or_domain(store: Store, duplicate: Account) -> None:
    original = account("bob")
    await store.insert_account(original)
    with pytest.raises(AlreadyExists):
        await store.insert_account(duplicate)
    assert await store.get_account("bob") == original
    assert await store.list_accounts() == [original]


async def test_list_accounts_skips_root_and_orders_by_user(store: Store) -> None:
    for user in ("root", "zed", "amy", "bob"):
        await store.insert_account(account(user))
    assert [a.user for a in await store.list_accounts()] == ["amy", "bob", "zed"]


async def test_list_accounts_filters_by_owner(store: Store) -> None:
    await store.insert_account(account("res"))
    await store.insert_account(account("carol", owner="res"))
    await store.insert_account(account("bob"))
    await store.insert_account(account("dan", owner="res"))
    assert [a.user for a in await store.list_accounts(owner="res")] == ["carol", "dan"]
    assert [a.user for a in await store.list_accounts(owner="root")] == ["bob", "res"]
    assert await store.list_accounts(owner="nobody") == []


async def test_delete_account(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.delete_account("bob") is True
    assert await store.get_account("bob") is None
    assert await store.delete_account("bob") is False


async def test_delete_account_removes_its_mailboxes_only(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_account(account("carol"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    await store.insert_mailbox(mailbox("sales@bob.example", "bob"))
    await store.insert_mailbox(mailbox("info@carol.example", "carol"))
    await store.delete_account("bob")
    assert await store.get_mailbox("info@bob.example") is None
    assert await store.list_mailboxes("bob") == []
    assert [m.address for m in await store.list_mailboxes("carol")] == ["info@carol.example"]


@pytest.mark.parametrize(("rotate", "version"), [(True, 2), (False, 1)])
async def test_set_password_hash_bumps_the_version_only_on_rotation(
    store: Store, rotate: bool, version: int
) -> None:
    await store.insert_account(account("bob"))
    assert await store.set_password_hash("bob", "$argon2id$new", rotate=rotate) is True
    stored = await store.get_account("bob")
    assert stored is not None
    assert (stored.password_hash, stored.credential_version) == ("$argon2id$new", version)


async def test_every_rotation_bumps_the_version(store: Store) -> None:
    await store.insert_account(account("bob"))
    for _ in range(3):
        await store.set_password_hash("bob", HASH, rotate=True)
    stored = await store.get_account("bob")
    assert stored is not None
    assert stored.credential_version == 4


async def test_suspension_keeps_its_reason_until_lifted(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.set_suspended("bob", True, "unpaid") is True
    suspended = await store.get_account("bob")
    assert suspended is not None
    assert (suspended.suspended, suspended.suspend_reason) == (True, "unpaid")
    await store.set_suspended("bob", False, "ignored")
    lifted = await store.get_account("bob")
    assert lifted is not None
    assert (lifted.suspended, lifted.suspend_reason) == (False, "")


async def test_set_reseller_stores_the_flag_and_acls(store: Store) -> None:
    await store.insert_account(account("res"))
    acls = frozenset({"create-acct", "list-accts"})
    assert await store.set_reseller("res", True, acls) is True
    stored = await store.get_account("res")
    assert stored is not None
    assert (stored.is_reseller, stored.acls) == (True, acls)
    await store.set_reseller("res", False, frozenset())
    cleared = await store.get_account("res")
    assert cleared is not None
    assert (cleared.is_reseller, cleared.acls) == (False, frozenset())


async def test_set_owner_moves_an_account(store: Store) -> None:
    await store.insert_account(account("res"))
    await store.insert_account(account("bob"))
    assert await store.set_owner("bob", "res") is True
    assert [a.user for a in await store.list_accounts(owner="res")] == ["bob"]


async def test_updates_of_a_missing_account_report_false(store: Store) -> None:
    assert await store.set_password_hash("ghost", HASH, rotate=True) is False
    assert await store.set_suspended("ghost", True, "x") is False
    assert await store.set_reseller("ghost", True, frozenset()) is False
    assert await store.set_owner("ghost", "root") is False
    assert await store.get_account("ghost") is None


async def test_domain_owner(store: Store) -> None:
    await store.insert_account(account("bob"))
    assert await store.domain_owner("bob.example") == "bob"
    assert await store.domain_owner("carol.example") is None


# -- mailboxes ----------------------------------------------------------------------------------


async def test_mailbox_round_trips_every_field(store: Store) -> None:
    await store.insert_account(account("bob"))
    stored = mailbox(
        "info@bob.example",
        "bob",
        quota_mb=250,
        suspended_login=True,
        created_at=1_700_000_000.25,
        credential_version=3,
    )
    await store.insert_mailbox(stored)
    assert await store.get_mailbox("info@bob.example") == stored
    assert await store.get_mailbox("INFO@bob.example") is None


async def test_mailbox_insert_stamps_a_missing_creation_time(
    store: Store, clock: FrozenClock
) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    stored = await store.get_mailbox("info@bob.example")
    assert stored is not None
    assert stored.created_at == clock.now()


async def test_mailboxes_are_listed_by_address(store: Store) -> None:
    await store.insert_account(account("bob"))
    for local in ("zz", "info", "abuse"):
        await store.insert_mailbox(mailbox(f"{local}@bob.example", "bob", created_at=1.0))
    listed = await store.list_mailboxes("bob")
    assert [m.address for m in listed] == [
        "abuse@bob.example",
        "info@bob.example",
        "zz@bob.example",
    ]
    assert await store.list_mailboxes("nobody") == []


async def test_insert_refuses_a_taken_address(store: Store) -> None:
    await store.insert_account(account("bob"))
    original = mailbox("info@bob.example", "bob", created_at=1.0)
    await store.insert_mailbox(original)
    with pytest.raises(AlreadyExists):
        await store.insert_mailbox(mailbox("info@bob.example", "bob", quota_mb=5))
    assert await store.get_mailbox("info@bob.example") == original


async def test_a_mailbox_needs_an_existing_account(store: Store) -> None:
    with pytest.raises(PanelauthError):
        await store.insert_mailbox(mailbox("info@ghost.example", "ghost"))
    assert await store.get_mailbox("info@ghost.example") is None


async def test_delete_mailbox(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    assert await store.delete_mailbox("info@bob.example") is True
    assert await store.get_mailbox("info@bob.example") is None
    assert await store.delete_mailbox("info@bob.example") is False
    assert await store.get_account("bob") is not None


@pytest.mark.parametrize(("rotate", "version"), [(True, 2), (False, 1)])
async def test_set_mailbox_password_hash_bumps_the_version_only_on_rotation(
    store: Store, rotate: bool, version: int
) -> None:
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    assert await store.set_mailbox_password_hash("info@bob.example", "$x", rotate=rotate)
    stored = await store.get_mailbox("info@bob.example")
    assert stored is not None
    assert (stored.password_hash, stored.credential_version) == ("$x", version)
    assert not await store.set_mailbox_password_hash("no@bob.example", "$x", rotate=True)


# -- feature lists ------------------------------------------------------------------------------


async def test_the_default_feature_list_exists_and_is_empty(store: Store) -> None:
    assert await store.get_feature_list("default") == {}
    assert await store.list_feature_lists() == ["default"]


async def test_a_missing_feature_list_is_none(store: Store) -> None:
    assert await store.get_feature_list("gold") is None


async def test_save_creates_then_merges(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False, "apitokens": True})
    assert await store.get_feature_list("gold") == {"webmail": False, "apitokens": True}
    await store.save_feature_list("gold", {"webmail": True, "popaccts": False})
    assert await store.get_feature_list("gold") == {
        "webmail": True,
        "apitokens": True,
        "popaccts": False,
    }


async def test_save_with_no_settings_creates_an_empty_list(store: Store) -> None:
    await store.save_feature_list("bare", {})
    assert await store.get_feature_list("bare") == {}


async def test_feature_lists_are_listed_by_name(store: Store) -> None:
    for name in ("silver", "Gold", "bronze"):
        await store.save_feature_list(name, {})
    assert await store.list_feature_lists() == ["Gold", "bronze", "default", "silver"]


async def test_feature_lists_are_separate(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False})
    await store.save_feature_list("silver", {"webmail": True})
    assert await store.get_feature_list("gold") == {"webmail": False}
    assert await store.get_feature_list("default") == {}


async def test_delete_feature_list_removes_its_settings(store: Store) -> None:
    await store.save_feature_list("gold", {"webmail": False})
    assert await store.delete_feature_list("gold") is True
    assert await store.get_feature_list("gold") is None
    assert await store.delete_feature_list("gold") is False
    await store.save_feature_list("gold", {})
    assert await store.get_feature_list("gold") == {}  # nothing left over from before


# -- tokens and access hashes -------------------------------------------------------------------


async def test_token_round_trips_every_field(store: Store) -> None:
    await store.insert_account(account("bob"))
    stored = token(
        "bob",
        "deploy",
        kind=TokenKind.CPANEL,
        expires_at=2_000_000_000,
        acls=frozenset({"list-accts", "passwd"}),
        whitelist_ips=("192.0.2.0/24", "2001:db8::1"),
    )
    await store.insert_token(stored)
    assert await store.get_token("bob", TokenKind.CPANEL, "deploy") == stored
    assert await store.find_token("bob", TokenKind.CPANEL, stored.digest) == stored


async def test_find_token_needs_owner_kind_and_digest(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_account(account("carol"))
    stored = token("bob", "one")
    await store.insert_token(stored)
    assert await store.find_token("carol", TokenKind.WHM, stored.digest) is None
    assert await store.find_token("bob", TokenKind.CPANEL, stored.digest) is None
    assert await store.find_token("bob", TokenKind.WHM, "other-digest") is None
    assert await store.get_token("bob", TokenKind.WHM, "two") is None


async def test_a_token_name_is_unique_per_owner_and_kind(store: Store) -> None:
    await store.insert_account(account("bob"))
    await store.insert_token(token("bob", "one"))
    with pytest.raises(AlreadyExists):
        await store.insert_token(token("bob", "one", digest="another-digest"))
    await store.insert_token(token("bob", "one", kind=TokenKind.CPANEL, digest="cpanel-digest"))
    assert [t.name for t in await store.list_tokens("bob", TokenKind.CPANEL)] == ["one"]


async def test_a_token_needs_an_existing_owner(store: Store) -> None:
    with pytest.raises(PanelauthError):
        await store.insert_token(token("ghost", "one"))
    assert await store.list_tokens("ghost", TokenKind.WHM) == []


async def test_tokens_are_listed_by_name_per_kind(store: Store) -> None:
    await store.insert_account(account("bob"))
    for name in ("zeta", "alpha", "mid"):
        await store.insert_token(token("bob", name))
    await store.insert_token(token("bob", "other", kind=TokenKind.CPANEL))
    assert [t.name for t in await store.list_tokens("bob", TokenKind.WHM)] == [
        "alpha",
        "mid",
        "zeta",
    ]
    assert await store.list_tokens("carol", TokenKind.WHM) == []


async def test_replace_token_rewrites_name_expiry_acls_and_ips(store: Store) -> None:
    await store.insert_account(account("bob"))
    original = token("bob", "old", acls=frozenset({"all"}))
    await store.insert_token(original)
    renamed = replace(
        original, name="new", expires_at=3_000, acls=frozenset({"passwd"}), whitelist_ips=()
    )
    assert await store.replace_token("old", renamed) is True
    assert await store.get_token("bob", TokenKind.WHM, "old") is None
    assert await store.get_token("bob", TokenKind.WHM, "new") == renamed
    assert await store.find_token("bob", TokenKind.WHM, original.digest) == renamed
    assert await store.replace_token("old", renamed) is False


async def test_delete_token(store: Store) -> None:
    await store.insert_account(account("bob"))
    stored = token("bob", "one")
    await store.insert_token(stored)
    assert await store.delete_token("bob", TokenKind.WHM, "one") is True
    assert await store.find_token("bob", TokenKind.WHM, stored.digest) is None
    assert await store.delete_token("bob", TokenKind.WHM, "one") is False


async def test_deleting_an_account_removes_its_tokens_and_access_hash(store: Store) -> None:
    await store.insert_account(account("bob"))
    stored = token("bob", "one")
    await store.insert_token(stored)
    await store.set_access_hash_digest("bob", "hash-digest", 100)
    assert await store.find_token("bob", TokenKind.WHM, stored.digest) == stored
    await store.delete_account("bob")
    assert await store.find_token("bob", TokenKind.WHM, stored.digest) is None
    assert await store.get_access_hash_digest("bob") is None


async def test_an_access_hash_is_replaced_at_once(store: Store) -> None:
    await store.insert_account(account("root"))
    assert await store.get_access_hash_digest("root") is None
    await store.set_access_hash_digest("root", "first", 100)
    assert await store.get_access_hash_digest("root") == "first"
    await store.set_access_hash_digest("root", "second", 200)
    assert await store.get_access_hash_digest("root") == "second"


# -- sessions -----------------------------------------------------------------------------------


async def test_session_round_trips_every_field(store: Store) -> None:
    stored = session(
        "bob:AAAAAAAAAAAAAAAA",
        account="bob",
        service=Service.WEBMAIL,
        kind=SessionKind.WEBMAIL_HANDOFF,
        state=SessionState.UNUSED,
        possessor="root",
        bound_address=None,
        created_at=1000.25,
        last_seen=1001.5,
        expires_at=9000.75,
        wrong_tokens=2,
        credential_version=3,
        user_agent="curl/8",
    )
    assert await store.insert_session(stored) is True
    assert await store.get_session("bob:AAAAAAAAAAAAAAAA") == stored
    assert await store.get_session("bob:BBBBBBBBBBBBBBBB") is None


async def test_a_session_id_is_unique(store: Store) -> None:
    original = session("bob:AAAAAAAAAAAAAAAA")
    await store.insert_session(original)
    with pytest.raises(PanelauthError):
        await store.insert_session(session("bob:AAAAAAAAAAAAAAAA", user="carol"))
    assert await store.get_session("bob:AAAAAAAAAAAAAAAA") == original


async def test_a_session_and_the_code_that_opens_it_are_stored_together(store: Store) -> None:
    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    assert await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"), spend=spend)
    # the same step again: no session is written at all
    assert not await store.insert_session(session("bob:BBBBBBBBBBBBBBBB"), spend=spend)
    assert await store.get_session("bob:BBBBBBBBBBBBBBBB") is None
    assert await store.last_totp_step("bob") == 1000


async def test_touch_session_moves_last_seen_forward_only(store: Store) -> None:
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA", last_seen=1000.0))
    await store.touch_session("bob:AAAAAAAAAAAAAAAA", 1500.0)
    touched = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert touched is not None and touched.last_seen == 1500.0
    await store.touch_session("bob:AAAAAAAAAAAAAAAA", 1200.0)
    kept = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert kept is not None and kept.last_seen == 1500.0
    await store.touch_session("bob:GHOSTGHOSTGHOSTG", 1500.0)  # nothing to touch: no error


async def test_rebind_session_succeeds_once_while_the_session_is_unused(store: Store) -> None:
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA", bound_address="203.0.113.1"))
    created = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert created is not None
    since = created.last_seen
    assert await store.rebind_session("bob:AAAAAAAAAAAAAAAA", since, "198.51.100.7", since + 9)
    moved = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert moved is not None
    assert (moved.bound_address, moved.last_seen) == ("198.51.100.7", since + 9)
    # used now: a second adopter cannot move it again
    assert not await store.rebind_session("bob:AAAAAAAAAAAAAAAA", since, "192.0.2.5", since + 20)
    kept = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert kept is not None and kept.bound_address == "198.51.100.7"
    assert not await store.rebind_session("bob:GHOSTGHOSTGHOSTG", since, "192.0.2.5", since)


async def test_activate_session_succeeds_once_for_an_unused_session(store: Store) -> None:
    await store.insert_session(
        session("bob:AAAAAAAAAAAAAAAA", state=SessionState.UNUSED, bound_address=None)
    )
    assert await store.activate_session("bob:AAAAAAAAAAAAAAAA", "198.51.100.7", 1200.0)
    active = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert active is not None
    assert (active.state, active.bound_address, active.last_seen) == (
        SessionState.ACTIVE,
        "198.51.100.7",
        1200.0,
    )
    assert not await store.activate_session("bob:AAAAAAAAAAAAAAAA", "203.0.113.9", 1300.0)
    again = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert again is not None and again.bound_address == "198.51.100.7"
    assert not await store.activate_session("bob:GHOSTGHOSTGHOSTG", "198.51.100.7", 1200.0)


async def test_count_wrong_token_adds_one_and_returns_the_count(store: Store) -> None:
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"))
    assert await store.count_wrong_token("bob:AAAAAAAAAAAAAAAA") == 1
    assert await store.count_wrong_token("bob:AAAAAAAAAAAAAAAA") == 2
    counted = await store.get_session("bob:AAAAAAAAAAAAAAAA")
    assert counted is not None and counted.wrong_tokens == 2
    assert await store.count_wrong_token("bob:GHOSTGHOSTGHOSTG") == 0


async def test_delete_session(store: Store) -> None:
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"))
    assert await store.delete_session("bob:AAAAAAAAAAAAAAAA") is True
    assert await store.get_session("bob:AAAAAAAAAAAAAAAA") is None
    assert await store.delete_session("bob:AAAAAAAAAAAAAAAA") is False


async def test_sessions_of_an_account_include_its_identities_by_creation(store: Store) -> None:
    await store.insert_session(session("bob:BBBBBBBBBBBBBBBB", created_at=2000.0))
    await store.insert_session(
        session("info%40bob.example:CCCCCCCCCCCCCCCC", user="info@bob.example", account="bob")
    )
    await store.insert_session(session("carol:DDDDDDDDDDDDDDDD", user="carol"))
    await store.insert_session(session("root:EEEEEEEEEEEEEEEE", user="root", account=None))
    ids = [s.session_id for s in await store.sessions_of("bob")]
    assert ids == ["info%40bob.example:CCCCCCCCCCCCCCCC", "bob:BBBBBBBBBBBBBBBB"]
    mailbox_ids = [s.session_id for s in await store.sessions_of("info@bob.example")]
    assert mailbox_ids == ["info%40bob.example:CCCCCCCCCCCCCCCC"]
    assert [s.session_id for s in await store.sessions_of("root")] == ["root:EEEEEEEEEEEEEEEE"]
    assert await store.sessions_of("ghost") == []


async def test_expired_session_ids_are_those_past_their_absolute_expiry(store: Store) -> None:
    for index, expires_at in enumerate((100.0, 200.0, 300.0, 400.0)):
        await store.insert_session(session(f"bob:{index:016d}", expires_at=expires_at))
    assert sorted(await store.expired_session_ids(300.0, 10)) == [
        "bob:0000000000000000",
        "bob:0000000000000001",
        "bob:0000000000000002",
    ]
    assert len(await store.expired_session_ids(300.0, 2)) == 2
    assert await store.expired_session_ids(99.0, 10) == []


# -- two-factor: secrets, steps, failures, issuers ----------------------------------------------


async def test_enrolment_spends_its_step_and_stores_the_secret(store: Store) -> None:
    assert await store.get_tfa_secret("bob") is None
    assert await store.set_tfa_secret("bob", b"sealed-1", step=10, address="192.0.2.1", now=1.0)
    assert await store.get_tfa_secret("bob") == b"sealed-1"
    assert await store.last_totp_step("bob") == 10
    # the same code again: refused, the secret unchanged
    assert not await store.set_tfa_secret("bob", b"sealed-2", step=10, address="192.0.2.1", now=2)
    assert await store.get_tfa_secret("bob") == b"sealed-1"
    assert await store.set_tfa_secret("bob", b"sealed-3", step=11, address="192.0.2.1", now=3.0)
    assert await store.get_tfa_secret("bob") == b"sealed-3"


async def test_delete_tfa_secret(store: Store) -> None:
    await store.set_tfa_secret("bob", b"sealed", step=10, address="192.0.2.1", now=1.0)
    assert await store.delete_tfa_secret("bob") is True
    assert await store.get_tfa_secret("bob") is None
    assert await store.delete_tfa_secret("bob") is False


async def test_a_step_is_spent_once_and_never_an_older_one(store: Store) -> None:
    assert await store.last_totp_step("bob") is None
    assert await store.use_totp_step("bob", 100, "session", "192.0.2.1", 1.0)
    assert not await store.use_totp_step("bob", 100, "session", "192.0.2.1", 2.0)
    assert not await store.use_totp_step("bob", 99, "session", "192.0.2.1", 2.0)
    assert await store.use_totp_step("bob", 101, "session", "192.0.2.1", 3.0)
    assert await store.last_totp_step("bob") == 101
    assert await store.use_totp_step("carol", 100, "session", "192.0.2.1", 3.0)  # per user


@pytest.mark.parametrize(
    ("first", "second", "address", "shared"),
    [
        ("header", "header", "192.0.2.1", True),
        ("header", "header", "192.0.2.2", False),
        ("session", "header", "192.0.2.1", False),
        ("header", "session", "192.0.2.1", False),
        ("enrol", "header", "192.0.2.1", False),
    ],
)
async def test_only_header_uses_from_one_address_share_a_step(
    store: Store, first: str, second: str, address: str, shared: bool
) -> None:
    assert await store.use_totp_step("bob", 100, first, "192.0.2.1", 1.0)
    assert await store.use_totp_step("bob", 100, second, address, 2.0) is shared


async def test_failures_are_counted_per_user_after_a_time(store: Store) -> None:
    for at in (10.0, 20.0, 30.0):
        await store.record_tfa_failure("bob", at)
    await store.record_tfa_failure("carol", 25.0)
    assert await store.tfa_failures_since("bob", 0.0) == 3
    assert await store.tfa_failures_since("bob", 15.0) == 2
    assert await store.tfa_failures_since("bob", 30.0) == 0
    assert await store.tfa_failures_since("dan", 0.0) == 0


async def test_issuers_are_kept_per_owner(store: Store) -> None:
    assert await store.get_issuer("res") is None
    await store.set_issuer("res", "Reseller Hosting")
    await store.set_issuer("res", "Reseller Hosting Ltd")
    await store.set_issuer("root", "Example")
    assert await store.get_issuer("res") == "Reseller Hosting Ltd"
    assert await store.get_issuer("root") == "Example"


# -- settings -----------------------------------------------------------------------------------


async def test_settings_are_created_and_replaced(store: Store) -> None:
    assert await store.get_setting("twofactorauth_policy") is None
    await store.set_setting("twofactorauth_policy", "1")
    await store.set_setting("twofactorauth_policy", "0")
    await store.set_setting("other", "x")
    assert await store.get_setting("twofactorauth_policy") == "0"
    assert await store.get_setting("other") == "x"


# -- lifecycle ----------------------------------------------------------------------------------


async def test_an_opened_store_is_at_the_schema_it_needs(store: Store) -> None:
    current, needed = await store.schema_version()
    assert current == needed >= 1
    assert await store.migrate() == (current, current)  # nothing left to do


async def test_a_closed_store_raises_instead_of_answering(backend: Backend) -> None:
    closing = await backend.open()
    await closing.insert_account(account("bob"))
    assert await closing.get_account("bob") is not None  # cached, if the backend caches
    await closing.aclose()
    with pytest.raises(StoreUnavailable):
        await closing.get_account("bob")
    await closing.aclose()  # closing twice is harmless


# -- the change signal: every worker sees a committed write at its next read --------------------

Change = Callable[[Store], Awaitable[object]]
Check = Callable[[Store], Awaitable[bool]]


async def _bob_suspended(s: Store) -> bool:
    found = await s.get_account("bob")
    return found is not None and found.suspended


async def _bob_rotated(s: Store) -> bool:
    found = await s.get_account("bob")
    return found is not None and found.credential_version == 2


async def _bob_acls_changed(s: Store) -> bool:
    found = await s.get_account("bob")
    return found is not None and found.acls == frozenset({"passwd"})


async def _bob_gone(s: Store) -> bool:
    return await s.get_account("bob") is None


async def _carol_exists(s: Store) -> bool:
    return await s.get_account("carol") is not None  # a cached "absent" is invalidated too


async def _token_gone(s: Store) -> bool:
    return await s.find_token("bob", TokenKind.WHM, token("bob", "one").digest) is None


async def _token_acls_changed(s: Store) -> bool:
    found = await s.find_token("bob", TokenKind.WHM, token("bob", "one").digest)
    return found is not None and found.acls == frozenset({"passwd"})


async def _new_token_found(s: Store) -> bool:
    return await s.find_token("bob", TokenKind.WHM, token("bob", "two").digest) is not None


async def _session_gone(s: Store) -> bool:
    return await s.get_session("bob:AAAAAAAAAAAAAAAA") is None


async def _session_touched(s: Store) -> bool:
    found = await s.get_session("bob:AAAAAAAAAAAAAAAA")
    return found is not None and found.last_seen == 4000.0


async def _session_counted(s: Store) -> bool:
    found = await s.get_session("bob:AAAAAAAAAAAAAAAA")
    return found is not None and found.wrong_tokens == 1


async def _session_activated(s: Store) -> bool:
    found = await s.get_session("bob:BBBBBBBBBBBBBBBB")
    return found is not None and found.state is SessionState.ACTIVE


async def _new_session_found(s: Store) -> bool:
    return await s.get_session("bob:CCCCCCCCCCCCCCCC") is not None


async def _bob_enrolled(s: Store) -> bool:
    return await s.get_tfa_secret("bob") is not None


async def _mailbox_user_unenrolled(s: Store) -> bool:
    return await s.get_tfa_secret("info@bob.example") is None


CHANGES: list[tuple[str, Change, Check]] = [
    (
        "two-factor enrolment",
        lambda s: s.set_tfa_secret("bob", b"sealed", step=7, address="192.0.2.1", now=1.0),
        _bob_enrolled,
    ),
    (
        "two-factor removal",
        lambda s: s.delete_tfa_secret("info@bob.example"),
        _mailbox_user_unenrolled,
    ),
    ("suspension", lambda s: s.set_suspended("bob", True, "abuse"), _bob_suspended),
    ("password change", lambda s: s.set_password_hash("bob", "$x", rotate=True), _bob_rotated),
    (
        "acl change",
        lambda s: s.set_reseller("bob", True, frozenset({"passwd"})),
        _bob_acls_changed,
    ),
    ("account removal", lambda s: s.delete_account("bob"), _bob_gone),
    ("new account", lambda s: s.insert_account(account("carol")), _carol_exists),
    ("token revocation", lambda s: s.delete_token("bob", TokenKind.WHM, "one"), _token_gone),
    (
        "token acl change",
        lambda s: s.replace_token("one", token("bob", "one", acls=frozenset({"passwd"}))),
        _token_acls_changed,
    ),
    ("owner removal", lambda s: s.delete_account("bob"), _token_gone),
    ("new token", lambda s: s.insert_token(token("bob", "two")), _new_token_found),
    ("logout", lambda s: s.delete_session("bob:AAAAAAAAAAAAAAAA"), _session_gone),
    ("touch", lambda s: s.touch_session("bob:AAAAAAAAAAAAAAAA", 4000.0), _session_touched),
    ("wrong token", lambda s: s.count_wrong_token("bob:AAAAAAAAAAAAAAAA"), _session_counted),
    (
        "activation",
        lambda s: s.activate_session("bob:BBBBBBBBBBBBBBBB", "192.0.2.1", 4000.0),
        _session_activated,
    ),
    (
        "new session",
        lambda s: s.insert_session(session("bob:CCCCCCCCCCCCCCCC")),
        _new_session_found,
    ),
]


@pytest.mark.parametrize("requests", ["unmarked", "marked"])
@pytest.mark.parametrize("writer", ["this worker", "another worker"])
@pytest.mark.parametrize(("name", "change", "check"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_a_committed_write_is_seen_at_the_next_read(
    backend: Backend,
    store: Store,
    other_worker: Store,
    requests: str,
    writer: str,
    name: str,
    change: Change,
    check: Check,
) -> None:
    """`marked`: like the server, each read is a request that begins with begin_request()."""

    async def read(reader: Store) -> bool:
        if requests == "marked":
            reader.begin_request()
        return await check(reader)

    await store.insert_account(account("bob"))
    await store.insert_token(token("bob", "one"))
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"))
    await store.insert_session(session("bob:BBBBBBBBBBBBBBBB", state=SessionState.UNUSED))
    await store.set_tfa_secret("info@bob.example", b"sealed", step=1, address="192.0.2.1", now=0)
    for reader in (store, other_worker):  # both workers hold the old records (and absences)
        assert not await read(reader)
        assert not await read(reader)
    await change(store if writer == "this worker" else other_worker)
    await backend.settle()
    assert await read(store)
    assert await read(other_worker)


# -- brute-force protection: failures, blocks, locks, lists, root's addresses ---------------------

T0 = 1_000_000.0
ADDRESS = "192.0.2.7"
# small limits, so that every threshold is a few calls away
LIMITS = Limits(
    address_window=600.0,
    address_limit=3,
    address_block=900.0,
    brute_window=3600.0,
    brute_limit=5,
    brute_block=DAY,
    user_window=300.0,
    user_limit=4,
    user_lock=900.0,
)
# record only: nothing is ever blocked or locked, nothing pruned within 10 000 s
COUNT_ONLY = replace(
    LIMITS,
    address_limit=0,
    brute_limit=0,
    user_limit=0,
    address_window=10_000.0,
    brute_window=10_000.0,
    user_window=10_000.0,
)


def failure(
    at: float,
    address: str = ADDRESS,
    user: str = "bob",
    *,
    method: Method = Method.PASSWORD,
    service: str = "cpaneld",
) -> Failure:
    return Failure(address_key(address), address, user_key(user), user, service, method, at)


async def record(
    s: Store, *failures: Failure, limits: Limits = LIMITS, recorded: bool = False
) -> None:
    for one in failures:
        await s.record_failure(one, limits, recorded=recorded)


async def failures_of(s: Store, since: float = 0.0) -> list[tuple[str, str, float]]:
    """(address, user, at) of every remembered failure, oldest first."""
    found = await s.failures_since(since, limit=1000)
    return sorted((f.address, f.user, f.at) for f in found)


async def test_a_new_store_has_no_configuration_and_no_lists(store: Store) -> None:
    view = await store.hulk_view()
    assert view == HulkView(config_json=None, entries=())
    assert await store.hulk_view() is view  # the same object until a change


async def test_the_view_carries_the_configuration_and_both_lists(store: Store) -> None:
    await store.set_setting(CONFIG_SETTING, '{"max_failures": 3}')
    await store.add_list_entries(
        ListName.WHITE, [("192.0.2.0/24", "office"), ("2001:db8::/32", "")], T0
    )
    await store.add_list_entries(ListName.BLACK, [("198.51.100.9/32", "scanner")], T0 + 1)
    view = await store.hulk_view()
    assert view.config_json == '{"max_failures": 3}'
    assert view.entries == (
        ListEntry(ListName.BLACK, "198.51.100.9/32", "scanner", T0 + 1),
        ListEntry(ListName.WHITE, "192.0.2.0/24", "office", T0),
        ListEntry(ListName.WHITE, "2001:db8::/32", "", T0),
    )
    assert await store.hulk_view() is view


async def test_adding_a_listed_network_again_replaces_its_comment(store: Store) -> None:
    await store.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "old")], T0)
    await store.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "new")], T0 + 50)
    await store.add_list_entries(ListName.BLACK, [("192.0.2.0/24", "other list")], T0 + 60)
    entries = (await store.hulk_view()).entries
    assert entries == (
        ListEntry(ListName.BLACK, "192.0.2.0/24", "other list", T0 + 60),
        ListEntry(ListName.WHITE, "192.0.2.0/24", "new", T0),  # created when first added
    )


async def test_delete_list_entries_removes_from_that_list_only(store: Store) -> None:
    await store.add_list_entries(ListName.WHITE, [("192.0.2.0/24", ""), ("10.0.0.1/32", "")], T0)
    await store.add_list_entries(ListName.BLACK, [("192.0.2.0/24", "")], T0)
    assert await store.delete_list_entries(ListName.WHITE, ["192.0.2.0/24", "203.0.113.0/24"]) == 1
    assert await store.delete_list_entries(ListName.WHITE, ["192.0.2.0/24"]) == 0
    assert await store.delete_list_entries(ListName.WHITE, []) == 0
    assert [(e.list_name, e.network) for e in (await store.hulk_view()).entries] == [
        (ListName.BLACK, "192.0.2.0/24"),
        (ListName.WHITE, "10.0.0.1/32"),
    ]


async def test_an_address_with_nothing_recorded_has_no_standing(store: Store) -> None:
    standing = await store.address_standing(address_key(ADDRESS), T0, 3600.0)
    assert (standing.blocked_until, standing.failures, standing.root_seen_at) == (0.0, 0, 0.0)
    assert not standing.has_failures_of(user_key("bob"))
    assert await store.user_locked_until(user_key("bob")) == 0.0


async def test_the_standing_counts_failures_of_any_user_within_the_lookback(
    store: Store, other_worker: Store
) -> None:
    await record(
        store,
        failure(T0 - 5000),  # older than the lookback below
        failure(T0 - 100),
        failure(T0 - 10, user="carol"),
        failure(T0 - 5, address="192.0.2.8"),
        limits=COUNT_ONLY,
    )
    standing = await store.address_standing(address_key(ADDRESS), T0, 1000.0)
    assert standing.failures == 2
    assert standing.has_failures_of(user_key("bob"))
    assert standing.has_failures_of(user_key("carol"))
    assert not standing.has_failures_of(user_key("dan"))
    assert (standing.blocked_until, standing.root_seen_at) == (0.0, 0.0)
    longer = await other_worker.address_standing(address_key(ADDRESS), T0, 10_000.0)
    assert longer.failures == 3


async def test_a_failure_at_the_window_edge_no_longer_counts(store: Store) -> None:
    await record(store, failure(T0), limits=COUNT_ONLY)
    standing = await store.address_standing(address_key(ADDRESS), T0 + 100.0, 100.0)
    assert standing.failures == 0


async def test_reserve_attempt_records_until_the_address_limit(store: Store) -> None:
    for index in range(3):
        reserved = failure(T0 + index, user=f"user{index}")
        assert await store.reserve_attempt(reserved, LIMITS, per_user=True)
    assert len(await failures_of(store)) == 3
    # at the limit: refused, and nothing recorded
    assert not await store.reserve_attempt(failure(T0 + 3), LIMITS, per_user=False)
    assert len(await failures_of(store)) == 3
    assert await store.list_blocks(T0 + 3) == []  # reserving never blocks
    # once the oldest has left the window, one more is taken
    assert await store.reserve_attempt(failure(T0 + 601), LIMITS, per_user=False)
    assert len(await failures_of(store)) == 4


async def test_reserve_attempt_without_an_address_limit(store: Store) -> None:
    unlimited = replace(LIMITS, address_limit=0)
    for index in range(5):
        assert await store.reserve_attempt(
            failure(T0 + index, user=f"u{index}"), unlimited, per_user=True
        )


async def test_reserve_attempt_refuses_an_account_at_its_limit_per_user_only(
    store: Store,
) -> None:
    for index in range(4):
        reserved = failure(T0 + index, address=f"192.0.2.{10 + index}")
        assert await store.reserve_attempt(reserved, LIMITS, per_user=True)
    fresh = failure(T0 + 5, address="192.0.2.50")
    assert not await store.reserve_attempt(fresh, LIMITS, per_user=True)
    assert not await store.reserve_attempt(fresh, replace(LIMITS, user_limit=4), per_user=True)
    assert await store.reserve_attempt(fresh, replace(LIMITS, user_limit=0), per_user=True)
    assert await store.reserve_attempt(
        replace(fresh, at=T0 + 6), LIMITS, per_user=False
    )  # not counted per account
    assert len(await failures_of(store)) == 6


async def test_reserve_attempt_refuses_a_blocked_address_and_a_locked_account(
    store: Store,
) -> None:
    await record(store, *(failure(T0 + i, user=f"u{i}") for i in range(3)))
    assert not await store.reserve_attempt(failure(T0 + 700, user="x"), LIMITS, per_user=False)
    for index in range(4):
        await record(store, failure(T0 + index, address=f"198.51.100.{index}", user="carol"))
    elsewhere = failure(T0 + 400, address="203.0.113.1", user="carol")  # the count has aged
    assert not await store.reserve_attempt(elsewhere, LIMITS, per_user=True)
    assert await store.reserve_attempt(elsewhere, LIMITS, per_user=False)


async def test_record_failure_blocks_the_address_at_max_failures_byip(store: Store) -> None:
    key = address_key(ADDRESS)
    await record(store, failure(T0, user="bob"), failure(T0 + 1, user="carol"))
    assert (await store.address_standing(key, T0 + 1, 3600.0)).blocked_until == 0.0
    assert await store.list_blocks(T0 + 1) == []
    await record(store, failure(T0 + 2, user="dan", method=Method.API_TOKEN, service="whostmgrd"))
    assert (await store.address_standing(key, T0 + 3, 3600.0)).blocked_until == T0 + 902
    assert await store.list_blocks(T0 + 3) == [
        Block(
            "address",
            key,
            ADDRESS,
            T0 + 2,
            T0 + 902,
            False,
            "whostmgrd",
            "api_token",
            "too many failures from this address",
        )
    ]
    assert await store.list_blocks(T0 + 902) == []  # a block ends at its `until`


async def test_failures_older_than_the_address_window_do_not_block(store: Store) -> None:
    await record(store, failure(T0), failure(T0 + 601), failure(T0 + 602))
    assert await store.list_blocks(T0 + 602) == []
    await record(store, failure(T0 + 603))
    assert [b.until for b in await store.list_blocks(T0 + 603)] == [T0 + 603 + 900]


async def test_record_failure_of_a_reserved_attempt_does_not_record_it_twice(
    store: Store,
) -> None:
    reserved = failure(T0)
    assert await store.reserve_attempt(reserved, LIMITS, per_user=True)
    await store.record_failure(reserved, LIMITS, recorded=True)
    assert await failures_of(store) == [(ADDRESS, "bob", T0)]


async def test_a_reserved_attempt_reaching_the_limit_blocks_when_recorded(store: Store) -> None:
    for index in range(3):
        reserved = failure(T0 + index, user=f"u{index}")
        assert await store.reserve_attempt(reserved, LIMITS, per_user=True)
        await store.record_failure(reserved, LIMITS, recorded=True)
    assert [b.kind for b in await store.list_blocks(T0 + 3)] == ["address"]
    assert len(await failures_of(store)) == 3


async def test_mark_as_brute_blocks_the_address_for_a_day(store: Store) -> None:
    # 700 s apart: never three within the address window, five within the lookback
    spread = [failure(T0 + 700 * index, user=f"u{index}") for index in range(5)]
    await record(store, *spread[:4])
    assert await store.list_blocks(T0 + 2100) == []
    await record(store, spread[4])
    assert await store.list_blocks(T0 + 2800) == [
        Block(
            "address",
            address_key(ADDRESS),
            ADDRESS,
            T0 + 2800,
            T0 + 2800 + DAY,
            True,
            "cpaneld",
            "password",
            "excessive failures from this address",
        )
    ]


async def test_a_longer_block_is_never_shortened_by_a_shorter_one(store: Store) -> None:
    key = address_key(ADDRESS)
    spread = [failure(T0 + 700 * index, user=f"u{index}") for index in range(5)]
    await record(store, *spread)
    day_block = T0 + 2800 + DAY
    # three more within the address window, counted without mark_as_brute: a 15-minute block,
    # under the day-long one
    now = T0 + 3000
    await record(
        store, *(failure(now + i) for i in range(3)), limits=replace(LIMITS, brute_limit=0)
    )
    (block,) = await store.list_blocks(now + 3)
    assert (block.until, block.excessive) == (day_block, True)
    assert block.notes == "excessive failures from this address"
    assert (await store.address_standing(key, now + 3, 3600.0)).blocked_until == day_block


async def test_a_short_block_is_lengthened_by_a_longer_one(store: Store) -> None:
    await record(store, *(failure(T0 + i, user=f"u{i}") for i in range(3)))
    (short,) = await store.list_blocks(T0 + 2)
    assert (short.until, short.excessive) == (T0 + 902, False)
    await record(store, failure(T0 + 3), failure(T0 + 4))  # the fifth: mark_as_brute
    (longer,) = await store.list_blocks(T0 + 4)
    assert (longer.until, longer.excessive) == (T0 + 4 + DAY, True)
    assert longer.notes == "excessive failures from this address"


async def test_record_failure_locks_the_account_at_max_failures(store: Store) -> None:
    bob = user_key("bob")
    for index in range(3):
        await record(store, failure(T0 + index, address=f"198.51.100.{index}"))
    assert await store.user_locked_until(bob) == 0.0
    await record(store, failure(T0 + 3, address="198.51.100.3", service="webmaild"))
    assert await store.user_locked_until(bob) == T0 + 3 + 900
    assert await store.user_locked_until(user_key("carol")) == 0.0
    assert await store.list_blocks(T0 + 4) == [
        Block(
            "user", bob, "bob", T0 + 3, T0 + 903, False, "webmaild", "password", "too many failures"
        )
    ]


async def test_a_lock_is_never_shortened_and_a_later_failure_extends_it(store: Store) -> None:
    bob = user_key("bob")
    for index in range(4):
        await record(store, failure(T0 + index, address=f"198.51.100.{index}"))
    short_lock = replace(LIMITS, user_lock=10.0)
    await record(store, failure(T0 + 4, address="198.51.100.9"), limits=short_lock)
    assert await store.user_locked_until(bob) == T0 + 903
    await record(store, failure(T0 + 100, address="198.51.100.10"))
    assert await store.user_locked_until(bob) == T0 + 1000


async def test_account_failures_older_than_the_user_window_do_not_lock(store: Store) -> None:
    await record(store, failure(T0, address="198.51.100.1"))
    for index in range(3):
        await record(store, failure(T0 + 300 + index, address=f"198.51.100.{2 + index}"))
    assert await store.user_locked_until(user_key("bob")) == 0.0


async def test_limits_of_zero_never_block_or_lock(store: Store) -> None:
    off = replace(LIMITS, address_limit=0, brute_limit=0, user_limit=0)
    await record(store, *(failure(T0 + i) for i in range(10)), limits=off)
    assert await store.list_blocks(T0 + 10) == []
    assert await store.user_locked_until(user_key("bob")) == 0.0
    assert len(await failures_of(store)) == 10


async def test_record_failure_forgets_ended_blocks_and_failures_no_window_counts(
    store: Store,
) -> None:
    await record(store, *(failure(T0 + i) for i in range(4)))  # a block and a lock
    assert len(await store.list_blocks(0.0)) == 2
    later = T0 + 4000  # past every window (the longest: brute_window, 3600 s)
    await record(store, failure(later, address="203.0.113.1", user="carol"))
    assert await store.list_blocks(0.0) == []
    assert await failures_of(store) == [("203.0.113.1", "carol", later)]


async def test_clear_failures_forgets_only_that_pair(store: Store) -> None:
    other = "192.0.2.8"
    await record(
        store,
        failure(T0),
        failure(T0 + 1),
        failure(T0 + 2, user="carol"),
        failure(T0 + 3, address=other),
        limits=COUNT_ONLY,
    )
    key = address_key(ADDRESS)
    assert (await store.address_standing(key, T0 + 4, 3600.0)).failures == 3
    await store.clear_failures(key, user_key("bob"))
    assert await failures_of(store) == [(ADDRESS, "carol", T0 + 2), (other, "bob", T0 + 3)]
    standing = await store.address_standing(key, T0 + 4, 3600.0)
    assert standing.failures == 1
    assert not standing.has_failures_of(user_key("bob"))
    await store.clear_failures(key, user_key("nobody"))  # nothing to clear: no error
    assert len(await failures_of(store)) == 2


async def test_clear_failures_lifts_no_block(store: Store) -> None:
    await record(store, *(failure(T0 + i) for i in range(3)))
    await store.clear_failures(address_key(ADDRESS), user_key("bob"))
    assert await failures_of(store) == []
    standing = await store.address_standing(address_key(ADDRESS), T0 + 3, 3600.0)
    assert standing.blocked_until == T0 + 902


async def test_settle_blocks_imposes_orders_and_forgets_ended_blocks(store: Store) -> None:
    bob = failure(T0)
    await store.settle_blocks(
        bob, [BlockOrder("address", T0 + 900, False), BlockOrder("user", T0 + 600, False)]
    )
    assert (await store.address_standing(address_key(ADDRESS), T0, 60.0)).blocked_until == T0 + 900
    assert await store.user_locked_until(user_key("bob")) == T0 + 600
    # a shorter order never shortens a block; a longer one extends it and says why
    await store.settle_blocks(failure(T0 + 1), [BlockOrder("address", T0 + 100, False)])
    await store.settle_blocks(failure(T0 + 2), [BlockOrder("address", T0 + DAY, True)])
    (block,) = [b for b in await store.list_blocks(T0) if b.kind == "address"]
    assert (block.until, block.excessive, block.shown) == (T0 + DAY, True, ADDRESS)
    assert block.notes == "excessive failures from this address"
    # no orders: the blocks that ended by the failure's time are forgotten
    await store.settle_blocks(failure(T0 + 700, address="192.0.2.8"), [])
    assert [(b.kind, b.until) for b in await store.list_blocks(0.0)] == [("address", T0 + DAY)]
    assert await failures_of(store) == []  # orders record no failure


async def test_remember_root_address_keeps_the_latest_success(store: Store) -> None:
    key = address_key(ADDRESS)
    await store.remember_root_address(key, T0)
    assert (await store.address_standing(key, T0, 3600.0)).root_seen_at == T0
    await store.remember_root_address(key, T0 + DAY)
    assert (await store.address_standing(key, T0 + DAY, 3600.0)).root_seen_at == T0 + DAY
    other = await store.address_standing(address_key("192.0.2.8"), T0, 3600.0)
    assert other.root_seen_at == 0.0


async def test_failures_since_are_newest_first_and_limited(store: Store) -> None:
    otp = failure(T0 + 2, address="2001:db8::1", user="info@bob.example", method=Method.OTP)
    await record(store, failure(T0), failure(T0 + 1, service="webmaild"), otp, limits=COUNT_ONLY)
    assert await store.failures_since(T0, limit=10) == [
        otp,
        failure(T0 + 1, service="webmaild"),
    ]
    assert await store.failures_since(T0 - 1, limit=1) == [otp]
    assert await store.failures_since(T0 + 2, limit=10) == []


async def test_unblock_lifts_blocks_and_forgets_failures_and_counts_them(store: Store) -> None:
    await record(store, *(failure(T0 + i) for i in range(4)))  # 4 failures, a block, a lock
    await record(store, failure(T0 + 4, address="192.0.2.8", user="carol"))
    assert await store.unblock([address_key(ADDRESS)], []) == 5  # 4 failures and the block
    assert (await store.address_standing(address_key(ADDRESS), T0 + 5, 3600.0)).blocked_until == 0
    assert await store.user_locked_until(user_key("bob")) == T0 + 903  # a lock is the user's
    assert await store.unblock([], [user_key("bob")]) == 1
    assert await store.user_locked_until(user_key("bob")) == 0.0
    assert await failures_of(store) == [("192.0.2.8", "carol", T0 + 4)]
    assert await store.unblock([address_key("203.0.113.1")], [user_key("ghost")]) == 0
    assert await store.unblock([], [user_key("carol")]) == 1
    assert await failures_of(store) == []


async def test_recorded_address_keys_are_those_with_failures_or_a_block(store: Store) -> None:
    assert await store.recorded_address_keys() == []
    await record(store, *(failure(T0 + i, user=f"u{i}") for i in range(3)))
    await record(store, failure(T0 + 3, address="2001:db8::1"), failure(T0 + 4, address="unknown"))
    assert sorted(await store.recorded_address_keys()) == sorted(
        [
            (address_key(ADDRESS), ADDRESS),
            (address_key("2001:db8::1"), "2001:db8::1"),
            (address_key("unknown"), "unknown"),
        ]
    )
    for index in range(3):
        await store.clear_failures(address_key(ADDRESS), user_key(f"u{index}"))
    # the block remains, so the address is still recorded
    assert (address_key(ADDRESS), ADDRESS) in await store.recorded_address_keys()


async def test_flush_failures_forgets_everything_and_counts_it(store: Store) -> None:
    await record(store, *(failure(T0 + i) for i in range(4)))  # 4 failures, a block, a lock
    await store.remember_root_address(address_key(ADDRESS), T0)
    await store.add_list_entries(ListName.WHITE, [("10.0.0.0/8", "")], T0)
    assert await store.flush_failures() == 6
    assert await failures_of(store) == []
    assert await store.list_blocks(0.0) == []
    assert await store.user_locked_until(user_key("bob")) == 0.0
    assert await store.flush_failures() == 0
    # root's addresses and the lists are not history
    assert (await store.address_standing(address_key(ADDRESS), T0, 60.0)).root_seen_at == T0
    assert len((await store.hulk_view()).entries) == 1


# -- brute-force protection: every worker sees a committed change -------------------------------


async def _failures_at_seven(s: Store) -> int:
    return (await s.address_standing(address_key(ADDRESS), T0 + 10, 3600.0)).failures


async def _seven_has_more_failures(s: Store) -> bool:
    return await _failures_at_seven(s) == 2


async def _seven_has_no_failures(s: Store) -> bool:
    return await _failures_at_seven(s) == 0


async def _seven_blocked(s: Store) -> bool:
    standing = await s.address_standing(address_key(ADDRESS), T0 + 10, 3600.0)
    return standing.blocked_until > T0 + 10


async def _bob_locked(s: Store) -> bool:
    return await s.user_locked_until(user_key("bob")) > T0


async def _root_seen_at_seven(s: Store) -> bool:
    standing = await s.address_standing(address_key(ADDRESS), T0 + 10, 3600.0)
    return standing.root_seen_at == T0 + 5


async def _denied_entry(s: Store) -> bool:
    return any(e.list_name is ListName.BLACK for e in (await s.hulk_view()).entries)


async def _comment_replaced(s: Store) -> bool:
    return [e.comment for e in (await s.hulk_view()).entries] == ["moved"]


async def _no_entries(s: Store) -> bool:
    return (await s.hulk_view()).entries == ()


async def _configured(s: Store) -> bool:
    return (await s.hulk_view()).config_json == '{"max_failures": 3}'


async def _block_seven(s: Store) -> None:
    await record(s, failure(T0 + 1, user="u1"), failure(T0 + 2, user="u2"))


async def _lock_bob(s: Store) -> None:
    for index in range(4):
        await record(s, failure(T0 + index, address=f"198.51.100.{index}"))


HULK_CHANGES: list[tuple[str, Change, Check]] = [
    (
        "failure",
        lambda s: s.record_failure(failure(T0 + 1, user="carol"), LIMITS, recorded=False),
        _seven_has_more_failures,
    ),
    (
        "reservation",
        lambda s: s.reserve_attempt(failure(T0 + 1, user="carol"), LIMITS, per_user=True),
        _seven_has_more_failures,
    ),
    ("address block", _block_seven, _seven_blocked),
    ("account lock", _lock_bob, _bob_locked),
    (
        "success",
        lambda s: s.clear_failures(address_key(ADDRESS), user_key("bob")),
        _seven_has_no_failures,
    ),
    (
        "root success",
        lambda s: s.remember_root_address(address_key(ADDRESS), T0 + 5),
        _root_seen_at_seven,
    ),
    ("unblock", lambda s: s.unblock([address_key(ADDRESS)], []), _seven_has_no_failures),
    ("flush", lambda s: s.flush_failures(), _seven_has_no_failures),
    (
        "deny list entry",
        lambda s: s.add_list_entries(ListName.BLACK, [("203.0.113.0/24", "")], T0),
        _denied_entry,
    ),
    (
        "comment change",
        lambda s: s.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "moved")], T0),
        _comment_replaced,
    ),
    (
        "allow list removal",
        lambda s: s.delete_list_entries(ListName.WHITE, ["192.0.2.0/24"]),
        _no_entries,
    ),
    (
        "configuration",
        lambda s: s.set_setting(CONFIG_SETTING, '{"max_failures": 3}'),
        _configured,
    ),
]


@pytest.mark.parametrize("requests", ["unmarked", "marked"])
@pytest.mark.parametrize("writer", ["this worker", "another worker"])
@pytest.mark.parametrize(
    ("name", "change", "check"), HULK_CHANGES, ids=[c[0] for c in HULK_CHANGES]
)
async def test_a_brute_force_change_is_seen_at_the_next_read(
    backend: Backend,
    store: Store,
    other_worker: Store,
    requests: str,
    writer: str,
    name: str,
    change: Change,
    check: Check,
) -> None:
    """The standing, locks and view are cached per worker; a write anywhere refreshes them."""

    async def read(reader: Store) -> bool:
        if requests == "marked":
            reader.begin_request()
        return await check(reader)

    await record(store, failure(T0))
    await store.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "office")], T0)
    for reader in (store, other_worker):  # both workers cache the old standing and view
        assert not await read(reader)
        assert not await read(reader)
    await change(store if writer == "this worker" else other_worker)
    await backend.settle()
    assert await read(store)
    assert await read(other_worker)


# -- the change signal as a value: what a memo above the store stands on -------------------------

GENERATION_CHANGES: list[tuple[str, Change]] = [
    *((name, change) for name, change, _ in CHANGES),
    *((name, change) for name, change, _ in HULK_CHANGES),
    (
        "mailbox password",
        lambda s: s.set_mailbox_password_hash("info@bob.example", "$y", rotate=True),
    ),
    ("mailbox removal", lambda s: s.delete_mailbox("info@bob.example")),
    ("feature list", lambda s: s.save_feature_list("default", {"zoneedit": False})),
    ("two-factor policy", lambda s: s.set_setting("twofactorauth_policy", "1")),
    ("access hash", lambda s: s.set_access_hash_digest("root", "0" * 128, 1)),
]


@pytest.mark.parametrize("writer", ["this worker", "another worker"])
@pytest.mark.parametrize(
    ("name", "change"), GENERATION_CHANGES, ids=[c[0] for c in GENERATION_CHANGES]
)
async def test_every_write_moves_the_change_generation(
    backend: Backend, store: Store, other_worker: Store, writer: str, name: str, change: Change
) -> None:
    """core/verified_headers.py remembers a decision while the generation it was decided at
    holds: every write it depends on must move it, in every worker, and reads alone must not
    (or nothing would ever be remembered). Session writes included: a split store's sessions
    on Redis move it through the change channel."""
    await store.insert_account(account("root"))
    await store.insert_account(account("bob"))
    await store.insert_mailbox(mailbox("info@bob.example", "bob"))
    await store.insert_token(token("bob", "one"))
    await store.insert_session(session("bob:AAAAAAAAAAAAAAAA"))
    await store.insert_session(session("bob:BBBBBBBBBBBBBBBB", state=SessionState.UNUSED))
    await store.set_tfa_secret("info@bob.example", b"sealed", step=1, address="192.0.2.1", now=0)
    await record(store, failure(T0))
    await store.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "office")], T0)
    for reader in (store, other_worker):  # the reads that start each change listener
        await reader.address_standing(address_key(ADDRESS), T0, 3600.0)
    await backend.settle()
    before = {}
    for reader in (store, other_worker):
        reader.begin_request()
        before[id(reader)] = reader.change_generation()
        assert before[id(reader)] is not None
        reader.begin_request()
        await reader.get_account("bob")
        await reader.get_session("bob:AAAAAAAAAAAAAAAA")
        await reader.address_standing(address_key(ADDRESS), T0, 3600.0)
        reader.begin_request()
        assert reader.change_generation() == before[id(reader)], "reads moved it"
    await change(store if writer == "this worker" else other_worker)
    await backend.settle()
    for reader in (store, other_worker):
        reader.begin_request()
        assert reader.change_generation() != before[id(reader)]


@pytest.mark.parametrize("durable", ["sqlite", "postgresql"])
async def test_a_store_without_a_cache_has_no_generation(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock, durable: str
) -> None:
    if durable == "postgresql":
        url = str(request.getfixturevalue("postgresql_store_url"))
    else:
        url = f"sqlite://{tmp_path / 'contract.db'}"
    await migrate_store(url, clock=clock)
    uncached = await open_store(url, clock=clock, cache_entries=0)
    try:
        await uncached.get_account("bob")
        uncached.begin_request()
        assert uncached.change_generation() is None
    finally:
        await uncached.aclose()


# -- moving an installation: every record listed, records written as they are -------------------


async def test_list_settings_lists_every_key(store: Store) -> None:
    assert await store.list_settings() == {}
    await store.set_setting("twofactorauth_policy", "0")
    await store.set_setting(CONFIG_SETTING, '{"max_failures": 3}')
    await store.set_setting("twofactorauth_policy", "1")
    assert await store.list_settings() == {
        CONFIG_SETTING: '{"max_failures": 3}',
        "twofactorauth_policy": "1",
    }


async def test_list_all_tokens_lists_every_owner_and_kind_in_order(store: Store) -> None:
    assert await store.list_all_tokens() == []
    for user in ("root", "carol", "bob"):
        await store.insert_account(account(user))
    stored = [
        token("bob", "zeta", kind=TokenKind.CPANEL, whitelist_ips=("192.0.2.0/24",)),
        token("bob", "alpha", acls=frozenset({"list-accts"}), expires_at=2_000_000_000),
        token("carol", "one"),
        token("root", "ci"),
        token("bob", "beta", kind=TokenKind.CPANEL),
    ]
    for one in stored:
        await store.insert_token(one)
    listed = await store.list_all_tokens()
    assert listed == sorted(stored, key=lambda t: (t.owner, t.kind.value, t.name))


async def test_list_access_hashes_lists_every_user_with_its_time(store: Store) -> None:
    assert await store.list_access_hashes() == []
    await store.insert_account(account("root"))
    await store.insert_account(account("bob"))
    await store.set_access_hash_digest("root", "root-digest", 100)
    await store.set_access_hash_digest("bob", "bob-digest", 200)
    assert await store.list_access_hashes() == [
        AccessHash("bob", "bob-digest", 200),
        AccessHash("root", "root-digest", 100),
    ]


async def test_a_sealed_secret_is_inserted_as_it_is_and_listed(
    store: Store, other_worker: Store, backend: Backend
) -> None:
    assert await store.list_tfa_secrets() == []
    assert await other_worker.get_tfa_secret("bob") is None  # cached "not enrolled"
    await store.insert_tfa_secret(SealedSecret("bob", b"\x00sealed\xff", 1_700_000_000.25))
    await store.set_tfa_secret("alice", b"alice-sealed", step=5, address="192.0.2.1", now=7.5)
    assert await store.list_tfa_secrets() == [
        SealedSecret("alice", b"alice-sealed", 7.5),
        SealedSecret("bob", b"\x00sealed\xff", 1_700_000_000.25),
    ]
    assert await store.get_tfa_secret("bob") == b"\x00sealed\xff"
    await backend.settle()
    assert await other_worker.get_tfa_secret("bob") == b"\x00sealed\xff"
    assert await store.last_totp_step("bob") is None  # no step spent
    with pytest.raises(AlreadyExists):
        await store.insert_tfa_secret(SealedSecret("bob", b"other", 1.0))
    assert await store.get_tfa_secret("bob") == b"\x00sealed\xff"


async def test_used_steps_are_listed_by_user_and_step(store: Store) -> None:
    assert await store.list_used_steps() == []
    await store.use_totp_step("bob", 101, "header", "192.0.2.1", 2.0)
    await store.use_totp_step("bob", 101, "header", "192.0.2.1", 3.0)  # shared: not a new row
    await store.use_totp_step("bob", 102, "session", "192.0.2.2", 4.0)
    await store.set_tfa_secret("alice", b"sealed", step=7, address="192.0.2.3", now=1.5)
    assert await store.list_used_steps() == [
        UsedStep("alice", 7, "enrol", "192.0.2.3", 1.5),
        UsedStep("bob", 101, "header", "192.0.2.1", 2.0),
        UsedStep("bob", 102, "session", "192.0.2.2", 4.0),
    ]


async def test_list_issuers_lists_every_owner(store: Store) -> None:
    assert await store.list_issuers() == {}
    await store.set_issuer("root", "Example")
    await store.set_issuer("res", "Reseller Hosting")
    assert await store.list_issuers() == {"res": "Reseller Hosting", "root": "Example"}


async def test_a_block_is_inserted_as_it_is(
    store: Store, other_worker: Store, backend: Backend
) -> None:
    address = Block(
        "address", address_key(ADDRESS), ADDRESS, T0, T0 + DAY, True, "cpaneld", "password", "n"
    )
    lock = Block("user", user_key("bob"), "bob", T0 + 1, T0 + 900, False, "whostmgrd", "otp", "m")
    # both workers cache "not blocked" first
    for reader in (store, other_worker):
        assert (await reader.address_standing(address.key, T0 + 5, 60.0)).blocked_until == 0.0
        assert await reader.user_locked_until(lock.key) == 0.0
    await store.insert_block(address)
    await store.insert_block(lock)
    await backend.settle()
    for reader in (store, other_worker):
        assert (await reader.address_standing(address.key, T0 + 5, 60.0)).blocked_until == (
            T0 + DAY
        )
        assert await reader.user_locked_until(lock.key) == T0 + 900
    assert await store.list_blocks(0.0) == [address, lock]
    with pytest.raises(AlreadyExists):
        await store.insert_block(replace(lock, until=T0 + 5))
    assert await store.list_blocks(T0 + 1000) == [address]


# -- one transaction around many calls ----------------------------------------------------------


async def test_a_transaction_commits_every_write_at_its_end(
    store: Store, other_worker: Store, backend: Backend
) -> None:
    async with store.transaction():
        await store.insert_account(account("bob"))
        await store.insert_token(token("bob", "one"))
        await store.insert_tfa_secret(SealedSecret("bob", b"sealed", 1.0))
        assert await store.get_account("bob") is not None  # its own writes, inside
        assert await other_worker.get_account("bob") is None  # nobody else's yet
    await backend.settle()
    assert await other_worker.get_account("bob") is not None
    assert [t.name for t in await other_worker.list_all_tokens()] == ["one"]
    assert await other_worker.get_tfa_secret("bob") == b"sealed"


async def test_a_transaction_that_raises_leaves_nothing(store: Store, backend: Backend) -> None:
    with pytest.raises(RuntimeError, match="stop"):
        async with store.transaction():
            await store.insert_account(account("bob"))
            await store.set_setting("twofactorauth_policy", "0")
            await store.insert_block(
                Block("user", user_key("bob"), "bob", T0, T0 + 900, False, "cpaneld", "otp", "n")
            )
            assert await store.get_account("bob") is not None  # cached inside, maybe
            raise RuntimeError("stop")
    await backend.settle()
    assert await store.get_account("bob") is None
    assert await store.list_settings() == {}
    assert await store.list_blocks(0.0) == []
    assert await store.user_locked_until(user_key("bob")) == 0.0


async def test_a_refused_write_inside_a_transaction_undoes_only_itself(store: Store) -> None:
    async with store.transaction():
        await store.insert_account(account("bob"))
        with pytest.raises(AlreadyExists):
            await store.insert_account(account("bob"))
        with pytest.raises(PanelauthError):
            await store.insert_token(token("ghost", "one"))  # no such owner
        await store.insert_token(token("bob", "one"))
    assert [a.user for a in await store.list_accounts()] == ["bob"]
    assert [t.name for t in await store.list_all_tokens()] == ["one"]


async def test_a_read_only_transaction_sees_one_snapshot_and_writes_nothing(
    store: Store, other_worker: Store
) -> None:
    await store.insert_account(account("bob"))
    async with store.transaction(read_only=True):
        assert [a.user for a in await store.list_accounts()] == ["bob"]
        await other_worker.insert_account(account("carol"))  # committed meanwhile
        assert [a.user for a in await store.list_accounts()] == ["bob"]
        with pytest.raises(StoreUnavailable):
            await store.set_setting("twofactorauth_policy", "0")
    assert [a.user for a in await store.list_accounts()] == ["bob", "carol"]
    assert await store.list_settings() == {}


async def test_transactions_do_not_nest(store: Store) -> None:
    async with store.transaction():
        with pytest.raises(StoreUnavailable):
            async with store.transaction():
                pass
        await store.insert_account(account("bob"))
    assert await store.get_account("bob") is not None


# -- the store's clock (FT-10) ------------------------------------------------------------------


async def test_store_time_is_the_store_servers_clock(backend: Backend, store: Store) -> None:
    before = time.time()
    found = await store.store_time()
    after = time.time()
    if backend.name.startswith("sqlite"):
        assert found is None  # no server: its clock is this machine's
    else:
        # the test server runs on this machine: its clock is this one, give or take a little
        assert found is not None
        assert before - 0.5 < found < after + 0.5


# -- plugins' own records (extension/storage.py) ------------------------------------------------


async def test_a_plugin_record_is_put_replaced_and_deleted(store: Store) -> None:
    assert await store.get_plugin_record("dns", "zones", "a.example") is None
    await store.put_plugin_record("dns", "zones", "a.example", '{"serial": 1}')
    await store.put_plugin_record("dns", "zones", "a.example", '{"serial": 2}')
    assert await store.get_plugin_record("dns", "zones", "a.example") == '{"serial": 2}'
    assert await store.delete_plugin_record("dns", "zones", "a.example")
    assert not await store.delete_plugin_record("dns", "zones", "a.example")
    assert await store.get_plugin_record("dns", "zones", "a.example") is None


async def test_every_plugin_record_and_version_is_listed_for_an_export(store: Store) -> None:
    assert await store.list_all_plugin_records() == []
    assert await store.list_plugin_versions() == {}
    await store.put_plugin_record("ssl", "table:certificates", "b.example", '{"id":2}')
    await store.put_plugin_record("dns", "zones", "z.example", "3")
    await store.put_plugin_record("dns", "kv", "defaults", '"x"')
    assert await store.set_plugin_version("ssl", 0, 4)
    assert await store.set_plugin_version("dns", 0, 1)
    assert [
        (r.namespace, r.collection, r.key, r.value) for r in await store.list_all_plugin_records()
    ] == [
        ("dns", "kv", "defaults", '"x"'),
        ("dns", "zones", "z.example", "3"),
        ("ssl", "table:certificates", "b.example", '{"id":2}'),
    ]
    assert await store.list_plugin_versions() == {"dns": 1, "ssl": 4}


async def test_a_plugin_value_comes_back_exactly_as_put(store: Store) -> None:
    text = (
        '{ "b": [1, 2.50, null],\n  "a": "caf\\u00e9 日本 \\ud83d\\ude00 😀", "big": "'
        + "x" * 70_000
        + '" }'
    )
    await store.put_plugin_record("dns", "zones", "k", text)
    assert await store.get_plugin_record("dns", "zones", "k") == text


async def test_plugin_records_are_separate_per_namespace_and_collection(store: Store) -> None:
    for namespace, collection in [("dns", "zones"), ("dns", "certs"), ("ssl", "zones")]:
        await store.put_plugin_record(namespace, collection, "k", f'"{namespace}/{collection}"')
    assert await store.get_plugin_record("dns", "certs", "k") == '"dns/certs"'
    assert await store.get_plugin_record("ssl", "zones", "k") == '"ssl/zones"'
    assert await store.delete_plugin_record("dns", "zones", "k")
    assert await store.get_plugin_record("dns", "certs", "k") == '"dns/certs"'
    assert await store.list_plugin_records("ssl", "zones") == [("k", '"ssl/zones"')]


# in code point order, which SQLite's BINARY and PostgreSQL's "C" both follow
PLUGIN_KEYS = ["B", "a", "a b", "a.b", "ab", "z", "é", "éa", "ÿ", "日本", "日本語", "\U0001f600"]


async def test_plugin_records_are_listed_by_code_point_with_a_prefix(store: Store) -> None:
    for index, key in enumerate(reversed(PLUGIN_KEYS)):
        await store.put_plugin_record("dns", "zones", key, str(index))
    await store.put_plugin_record("dns", "other", "a0", "0")
    listed = await store.list_plugin_records("dns", "zones")
    assert [key for key, _ in listed] == sorted(PLUGIN_KEYS) == PLUGIN_KEYS
    assert dict(listed)["ab"] == str(list(reversed(PLUGIN_KEYS)).index("ab"))
    for prefix in ["a", "é", "日本", "ÿ", "\U0001f600", "q", "a.", "日本語x"]:
        keys = [k for k, _ in await store.list_plugin_records("dns", "zones", prefix=prefix)]
        assert keys == [k for k in PLUGIN_KEYS if k.startswith(prefix)], prefix


async def test_plugin_records_are_listed_a_page_at_a_time(store: Store) -> None:
    for key in PLUGIN_KEYS:
        await store.put_plugin_record("dns", "zones", key, "true")
    pages: list[list[str]] = []
    after = ""
    while page := await store.list_plugin_records("dns", "zones", after=after, limit=5):
        pages.append([key for key, _ in page])
        after = page[-1][0]
    assert pages == [PLUGIN_KEYS[0:5], PLUGIN_KEYS[5:10], PLUGIN_KEYS[10:]]
    within = await store.list_plugin_records("dns", "zones", prefix="a", after="a b", limit=2)
    assert [key for key, _ in within] == ["a.b", "ab"]


async def test_a_plugin_record_is_seen_at_once_by_another_worker(
    store: Store, other_worker: Store
) -> None:
    assert await other_worker.get_plugin_record("dns", "zones", "k") is None
    await store.put_plugin_record("dns", "zones", "k", "1")
    assert await other_worker.get_plugin_record("dns", "zones", "k") == "1"  # never cached
    assert await other_worker.delete_plugin_record("dns", "zones", "k")
    assert await store.list_plugin_records("dns", "zones") == []


async def test_a_plugin_version_moves_by_compare_and_set_only(store: Store) -> None:
    assert await store.get_plugin_version("dns") == 0
    assert not await store.set_plugin_version("dns", 1, 2)  # it is 0, not 1
    assert await store.set_plugin_version("dns", 0, 1)
    assert not await store.set_plugin_version("dns", 0, 5)  # it is 1 now
    assert await store.set_plugin_version("dns", 1, 3)
    assert await store.get_plugin_version("dns") == 3
    assert await store.get_plugin_version("ssl") == 0  # per namespace
    assert await store.set_plugin_version("dns", 3, 0)  # back to 0 is a version like any
    assert await store.set_plugin_version("dns", 0, 4)
    assert await store.get_plugin_version("dns") == 4


@pytest.mark.parametrize("expected", [0, 1])
async def test_of_workers_moving_one_version_at_once_only_one_succeeds(
    store: Store, other_worker: Store, expected: int
) -> None:
    if expected:
        assert await store.set_plugin_version("dns", 0, expected)
    workers = [store, other_worker] * 3
    results = await asyncio.gather(
        *(w.set_plugin_version("dns", expected, 10 + n) for n, w in enumerate(workers))
    )
    assert sum(results) == 1
    assert await other_worker.get_plugin_version("dns") == 10 + results.index(True)


async def test_plugin_records_and_versions_roll_back_with_a_transaction(store: Store) -> None:
    await store.put_plugin_record("dns", "zones", "kept", "1")
    with pytest.raises(RuntimeError, match="stop"):
        async with store.transaction():
            assert await store.set_plugin_version("dns", 0, 1)
            await store.put_plugin_record("dns", "zones", "new", "2")
            assert await store.delete_plugin_record("dns", "zones", "kept")
            raise RuntimeError("stop")
    assert await store.get_plugin_version("dns") == 0
    assert await store.list_plugin_records("dns", "zones") == [("kept", "1")]


BAD_PLUGIN_TEXTS = ["", "a\r\nb", "a\nb", "nul\x00", "tab\t", "sep\u2028", "bidi\u202e", "\x7f"]


@pytest.mark.parametrize("bad", [*BAD_PLUGIN_TEXTS, "n" * 65], ids=repr)
@pytest.mark.parametrize("field", ["namespace", "collection"])
async def test_a_bad_plugin_namespace_or_collection_is_refused(
    store: Store, field: str, bad: str
) -> None:
    namespace, collection = (bad, "zones") if field == "namespace" else ("dns", bad)
    with pytest.raises(InvalidArgument, match=field):
        await store.put_plugin_record(namespace, collection, "k", "1")
    with pytest.raises(InvalidArgument, match=field):
        await store.get_plugin_record(namespace, collection, "k")
    with pytest.raises(InvalidArgument, match=field):
        await store.list_plugin_records(namespace, collection)
    if field == "namespace":
        with pytest.raises(InvalidArgument, match=field):
            await store.set_plugin_version(namespace, 0, 1)
        with pytest.raises(InvalidArgument, match=field):
            await store.get_plugin_version(namespace)


@pytest.mark.parametrize("bad", [*BAD_PLUGIN_TEXTS, "k" * 513], ids=repr)
async def test_a_bad_plugin_key_is_refused_and_nothing_stored(store: Store, bad: str) -> None:
    with pytest.raises(InvalidArgument, match="key"):
        await store.put_plugin_record("dns", "zones", bad, "1")
    with pytest.raises(InvalidArgument, match="key"):
        await store.delete_plugin_record("dns", "zones", bad)
    if bad:  # an empty prefix or position is "from the start"
        with pytest.raises(InvalidArgument):
            await store.list_plugin_records("dns", "zones", prefix=bad)
        with pytest.raises(InvalidArgument):
            await store.list_plugin_records("dns", "zones", after=bad)
    assert await store.list_plugin_records("dns", "zones") == []


async def test_the_longest_plugin_names_and_keys_are_kept(store: Store) -> None:
    namespace, collection, key = "n" * 64, "c" * 64, "日" * 512
    await store.put_plugin_record(namespace, collection, key, "1")
    assert await store.list_plugin_records(namespace, collection) == [(key, "1")]
    assert await store.set_plugin_version(namespace, 0, 2**31 - 1)
    assert await store.get_plugin_version(namespace) == 2**31 - 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ('"' + "x" * (stores.PLUGIN_VALUE_BYTES - 1) + '"', "bytes"),  # 1 MiB and 1 byte
        ('"' + "é" * (stores.PLUGIN_VALUE_BYTES // 2) + '"', "bytes"),  # in UTF-8, not chars
        ("{", "JSON"),
        ("", "JSON"),
        ("NaN", "JSON"),
        ('{"a": Infinity}', "JSON"),
        ("'single'", "JSON"),
        ('"\ud800"', "UTF-8"),  # a lone surrogate, not one escaped in JSON
    ],
    ids=[
        "over 1 MiB",
        "over 1 MiB in UTF-8",
        "cut",
        "empty",
        "NaN",
        "Infinity",
        "quotes",
        "surrogate",
    ],
)
async def test_a_bad_plugin_value_is_refused_and_nothing_stored(
    store: Store, value: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument, match=reason):
        await store.put_plugin_record("dns", "zones", "k", value)
    assert await store.get_plugin_record("dns", "zones", "k") is None


async def test_a_plugin_value_of_exactly_1_mib_is_kept(store: Store) -> None:
    value = '"' + "x" * (stores.PLUGIN_VALUE_BYTES - 2) + '"'
    await store.put_plugin_record("dns", "zones", "k", value)
    assert await store.get_plugin_record("dns", "zones", "k") == value


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.list_plugin_records("dns", "zones", limit=0),
        lambda s: s.list_plugin_records("dns", "zones", limit=stores.PLUGIN_PAGE_RECORDS + 1),
        lambda s: s.set_plugin_version("dns", -1, 1),
        lambda s: s.set_plugin_version("dns", 0, 2**31),
        lambda s: s.set_plugin_version("dns", 0, True),
    ],
    ids=["limit 0", "limit over a page", "negative", "over 2**31-1", "a bool"],
)
async def test_a_bad_plugin_page_or_version_is_refused(
    store: Store, call: Callable[[Store], Awaitable[object]]
) -> None:
    with pytest.raises(InvalidArgument):
        await call(store)
    assert await store.get_plugin_version("dns") == 0
