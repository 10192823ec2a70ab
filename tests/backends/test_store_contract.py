"""The store contract (core/stores.py): every primitive of every Protocol, on every backend.

Written against the Store protocol only. A backend plugs in by adding a param to `backend`
(a way to open one more "worker" on the same database); `test_every_primitive_is_exercised`
fails when a primitive is added to a store without a contract test here.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from panelauth.backends import migrate_store, open_store
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core import stores
from panelauth.core.models import Account, Mailbox
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import StepUse, Store
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import AlreadyExists, PanelauthError, StoreUnavailable
from panelauth.protocol.services import Service

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
BACKEND_CLASSES: dict[str, type[object]] = {"sqlite": SqliteStore}


@dataclass
class Backend:
    """One backend under test: `open()` opens one more store (a "worker") on its database."""

    name: str
    open: Callable[[], Awaitable[Store]]


@pytest.fixture(params=sorted(BACKEND_CLASSES))
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Backend]:
    opened: list[Store] = []
    url = f"sqlite://{tmp_path / 'contract.db'}"
    await migrate_store(url, clock=clock)

    async def open_one() -> Store:
        store = await open_store(url, clock=clock)
        opened.append(store)
        return store

    yield Backend(request.param, open_one)
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
    assert await read(store)
    assert await read(other_worker)
