"""TokenAuthenticator: `whm user:TOKEN`, `WHM root:<hash>`, `cpanel user:TOKEN` (w§2.2-2.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core import token_auth
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import AuthAttempt
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind
from panelauth.core.passwords import HashingPool
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.tokens import ApiToken, TokenKind, digest, generate_access_hash
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.authorization import BasicCredentials, HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD, migrated

SECRET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ADDRESS = "192.0.2.10"


@pytest.fixture
def authenticator(store: SqliteStore, clock: FrozenClock) -> TokenAuthenticator:
    return TokenAuthenticator(store, clock, access_hash_enabled=True)


async def add_token(
    store: SqliteStore,
    owner: str,
    kind: TokenKind,
    *,
    secret: str = SECRET,
    acls: frozenset[str] | None = None,
) -> None:
    await store.insert_token(ApiToken(owner, kind, "t", digest(secret), 1_767_225_600, acls=acls))


def header(
    scheme: Scheme, user: str, secret: str = SECRET, service: Service | None = None
) -> AuthAttempt:
    if service is None:
        service = Service.WHM if scheme is Scheme.WHM else Service.CPANEL
    return AuthAttempt(HeaderSecretCredentials(scheme, user, Secret(secret)), service, ADDRESS)


async def refusal(authenticator: TokenAuthenticator, attempt: AuthAttempt) -> AuthenticationFailed:
    with pytest.raises(AuthenticationFailed) as raised:
        await authenticator.authenticate(attempt)
    assert raised.value.reason == "Access denied"  # the client never learns which check failed
    return raised.value


async def test_basic_credentials_are_left_to_the_next_authenticator(
    authenticator: TokenAuthenticator, bob: Account
) -> None:
    attempt = AuthAttempt(BasicCredentials("bob", Secret(BOB_PASSWORD)), Service.CPANEL, ADDRESS)
    assert await authenticator.authenticate(attempt) is None


async def test_reseller_whm_token_acts_with_the_acls_both_allow(
    authenticator: TokenAuthenticator, store: SqliteStore, reseller: Account
) -> None:
    await add_token(store, "res", TokenKind.WHM, acls=frozenset({"list-accts", "create-acct"}))
    identity = await authenticator.authenticate(header(Scheme.WHM, "res"))
    assert identity == Identity(
        "res",
        IdentityKind.RESELLER,
        CredentialKind.API_TOKEN,
        "res",
        frozenset({"list-accts", "create-acct"}),
        restricted_token=True,  # narrower than the owner's four ACLs (w§16.7)
    )


async def test_a_token_loses_the_acls_its_owner_loses(
    authenticator: TokenAuthenticator, store: SqliteStore, accounts: Accounts, reseller: Account
) -> None:
    await add_token(store, "res", TokenKind.WHM, acls=frozenset({"list-accts", "create-acct"}))
    await accounts.set_acls("res", frozenset({"list-accts", "passwd"}))
    identity = await authenticator.authenticate(header(Scheme.WHM, "res"))
    assert identity is not None
    assert identity.acls == frozenset({"list-accts"})
    assert not identity.has_acl("create-acct")


async def test_a_former_resellers_whm_token_stops_working(
    authenticator: TokenAuthenticator, store: SqliteStore, accounts: Accounts, reseller: Account
) -> None:
    await add_token(store, "res", TokenKind.WHM)
    assert await authenticator.authenticate(header(Scheme.WHM, "res")) is not None
    await accounts.unmake_reseller("res")
    failure = await refusal(authenticator, header(Scheme.WHM, "res"))
    assert (failure.detail, failure.claimed_user) == ("api token incorrect", "res")


async def test_a_cpanel_token_owned_by_root_is_refused(
    authenticator: TokenAuthenticator, store: SqliteStore, root: Account
) -> None:
    # root has no cPanel account: a cpanel-kind token of root's must not open cPanel
    await add_token(store, "root", TokenKind.CPANEL)
    failure = await refusal(authenticator, header(Scheme.CPANEL, "root"))
    assert (failure.detail, failure.claimed_user) == ("api token incorrect", "root")


async def test_cpanel_token_acts_as_its_account(
    authenticator: TokenAuthenticator, store: SqliteStore, bob: Account
) -> None:
    await add_token(store, "bob", TokenKind.CPANEL)
    identity = await authenticator.authenticate(header(Scheme.CPANEL, "bob"))
    assert identity == Identity("bob", IdentityKind.CPANEL, CredentialKind.API_TOKEN, "bob")


@pytest.mark.parametrize(
    ("scheme", "service"),
    [
        (Scheme.WHM, Service.CPANEL),
        (Scheme.WHM, Service.WEBMAIL),
        (Scheme.CPANEL, Service.WHM),
        (Scheme.CPANEL, Service.WEBMAIL),
    ],
)
async def test_tokens_work_only_on_their_own_service(
    authenticator: TokenAuthenticator,
    store: SqliteStore,
    reseller: Account,
    scheme: Scheme,
    service: Service,
) -> None:
    await add_token(store, "res", TokenKind.WHM)
    await add_token(store, "res", TokenKind.CPANEL)
    failure = await refusal(authenticator, header(scheme, "res", service=service))
    assert failure.detail == "api token incorrect"


async def test_a_token_is_looked_up_only_among_the_named_users(
    authenticator: TokenAuthenticator, store: SqliteStore, reseller: Account, bob: Account
) -> None:
    await add_token(store, "res", TokenKind.CPANEL)
    failure = await refusal(authenticator, header(Scheme.CPANEL, "bob"))
    assert (failure.detail, failure.claimed_user) == ("api token incorrect", "bob")


class OwnerRemovedDuringLookup(SqliteStore):
    """The owner's account is removed right after its token is found (a concurrent delete)."""

    async def find_token(self, owner: str, kind: TokenKind, token_digest: str) -> ApiToken | None:
        found = await super().find_token(owner, kind, token_digest)
        await self.delete_account(owner)
        return found


async def test_a_token_whose_owner_vanished_is_refused(
    tmp_path: Path, clock: FrozenClock, pool: HashingPool
) -> None:
    racy = await migrated(OwnerRemovedDuringLookup(tmp_path / "racy.db", clock=clock, create=True))
    try:
        racing_accounts = Accounts(racy, pool, clock)
        await racing_accounts.create_root("root-Passw0rd!")
        await racing_accounts.create(
            user="dan", domain="dan.example", password="dan-Passw0rd!", owner="root"
        )
        await add_token(racy, "dan", TokenKind.CPANEL)
        authenticator = TokenAuthenticator(racy, clock, access_hash_enabled=True)
        failure = await refusal(authenticator, header(Scheme.CPANEL, "dan"))
        assert (failure.detail, failure.claimed_user) == ("api token incorrect", "dan")
    finally:
        await racy.aclose()


async def test_expired_tokens_and_suspended_owners_are_refused(
    authenticator: TokenAuthenticator, store: SqliteStore, clock: FrozenClock, bob: Account
) -> None:
    await store.insert_token(
        ApiToken("bob", TokenKind.CPANEL, "t", digest(SECRET), 0, expires_at=int(clock.now()) + 60)
    )
    assert await authenticator.authenticate(header(Scheme.CPANEL, "bob")) is not None
    await store.set_suspended("bob", True, "unpaid")
    suspended = await refusal(authenticator, header(Scheme.CPANEL, "bob"))
    assert suspended.detail == "account suspended"
    clock.advance(60)
    expired = await refusal(authenticator, header(Scheme.CPANEL, "bob"))
    assert expired.detail == "api token expired"


async def test_root_access_hash_authenticates_as_root_only_when_enabled(
    authenticator: TokenAuthenticator, store: SqliteStore, clock: FrozenClock, root: Account
) -> None:
    text = generate_access_hash()
    await store.set_access_hash_digest("root", digest(text), 1_767_225_600)
    # the 30-line text is sent with its newlines; whitespace is removed before the digest
    identity = await authenticator.authenticate(header(Scheme.WHM, "root", text))
    assert identity == Identity(
        "root", IdentityKind.ROOT, CredentialKind.ACCESS_HASH, None, frozenset({"all"})
    )
    wrong = await refusal(authenticator, header(Scheme.WHM, "root", text[::-1]))
    assert (wrong.detail, wrong.claimed_user) == ("access hash incorrect", "root")
    off = TokenAuthenticator(store, clock, access_hash_enabled=False)
    disabled = await refusal(off, header(Scheme.WHM, "root", text))
    assert disabled.detail == "api token incorrect"


async def test_root_without_an_access_hash_is_refused(
    authenticator: TokenAuthenticator, root: Account
) -> None:
    failure = await refusal(authenticator, header(Scheme.WHM, "root", generate_access_hash()))
    assert failure.detail == "access hash incorrect"


async def test_an_access_hash_without_a_root_account_is_refused(
    authenticator: TokenAuthenticator,
    store: SqliteStore,
    root: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = generate_access_hash()
    await store.set_access_hash_digest("root", digest(text), 1_767_225_600)

    async def vanished(user: str) -> Account | None:
        return None  # root removed between the digest's lookup and the account's

    monkeypatch.setattr(store, "get_account", vanished)
    failure = await refusal(authenticator, header(Scheme.WHM, "root", text))
    assert (failure.detail, failure.claimed_user) == ("access hash incorrect", "root")


async def test_a_resellers_access_hash_is_never_tried(
    authenticator: TokenAuthenticator, store: SqliteStore, reseller: Account
) -> None:
    text = generate_access_hash()
    await store.set_access_hash_digest("res", digest(text), 1_767_225_600)
    failure = await refusal(authenticator, header(Scheme.WHM, "res", text))
    assert failure.detail == "api token incorrect"


async def test_root_whm_token_is_held_to_its_own_acls(
    authenticator: TokenAuthenticator, store: SqliteStore, root: Account
) -> None:
    await add_token(store, "root", TokenKind.WHM, acls=frozenset({"list-accts"}))
    identity = await authenticator.authenticate(header(Scheme.WHM, "root"))
    assert identity == Identity(
        "root",
        IdentityKind.ROOT,
        CredentialKind.API_TOKEN,
        None,
        frozenset({"list-accts"}),
        restricted_token=True,
    )


@pytest.mark.parametrize(
    ("owner", "token_acls", "restricted"),
    [
        ("root", None, False),
        ("root", {"all"}, False),
        ("root", {"list-accts"}, True),
        ("res", None, False),
        ("res", {"list-accts", "create-acct", "suspend-acct", "passwd"}, False),  # the owner's set
        ("res", {"list-accts", "create-acct", "suspend-acct", "passwd", "cpanel-api"}, False),
        ("res", {"list-accts", "create-acct", "suspend-acct"}, True),
        ("res", {"cpanel-api"}, True),
    ],
)
async def test_a_whm_token_is_restricted_when_it_narrows_its_owners_acls(
    authenticator: TokenAuthenticator,
    store: SqliteStore,
    reseller: Account,
    owner: str,
    token_acls: set[str] | None,
    restricted: bool,
) -> None:
    acls = None if token_acls is None else frozenset(token_acls)
    await add_token(store, owner, TokenKind.WHM, acls=acls)
    identity = await authenticator.authenticate(header(Scheme.WHM, owner))
    assert identity is not None and identity.restricted_token is restricted


async def test_a_token_listing_its_owners_set_becomes_restricted_when_the_owner_gains_an_acl(
    authenticator: TokenAuthenticator, store: SqliteStore, accounts: Accounts, reseller: Account
) -> None:
    await add_token(store, "res", TokenKind.WHM, acls=reseller.acls)
    identity = await authenticator.authenticate(header(Scheme.WHM, "res"))
    assert identity is not None and not identity.restricted_token
    await accounts.set_acls("res", reseller.acls | {"cpanel-api"})
    identity = await authenticator.authenticate(header(Scheme.WHM, "res"))
    assert identity is not None and identity.restricted_token


async def test_password_and_cpanel_token_identities_are_never_restricted_tokens(
    authenticator: TokenAuthenticator, store: SqliteStore, bob: Account
) -> None:
    await add_token(store, "bob", TokenKind.CPANEL)
    identity = await authenticator.authenticate(header(Scheme.CPANEL, "bob"))
    assert identity is not None and not identity.restricted_token


async def test_an_identity_is_decided_once_per_pair_of_records(
    authenticator: TokenAuthenticator, store: SqliteStore, accounts: Accounts, reseller: Account
) -> None:
    await add_token(store, "res", TokenKind.WHM, acls=frozenset({"list-accts", "create-acct"}))
    first = await authenticator.authenticate(header(Scheme.WHM, "res"))
    store.begin_request()
    assert await authenticator.authenticate(header(Scheme.WHM, "res")) is first  # memoised
    # a changed owner is a new record: never answered from the memo
    await accounts.set_acls("res", frozenset({"list-accts", "passwd"}))
    store.begin_request()
    changed = await authenticator.authenticate(header(Scheme.WHM, "res"))
    assert changed is not None and changed.acls == frozenset({"list-accts"})
    await store.set_suspended("res", True, "unpaid")
    store.begin_request()
    failure = await refusal(authenticator, header(Scheme.WHM, "res"))
    assert failure.detail == "account suspended"


async def test_the_identity_memo_is_bounded(
    authenticator: TokenAuthenticator,
    store: SqliteStore,
    reseller: Account,
    root: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(token_auth, "IDENTITY_MEMO_ENTRIES", 2)
    for number in range(3):
        token = ApiToken("root", TokenKind.WHM, f"t{number}", digest(f"{SECRET}{number}"), 0)
        await store.insert_token(token)
        assert await authenticator.authenticate(header(Scheme.WHM, "root", f"{SECRET}{number}"))
        assert len(authenticator._identities) <= 2
    assert len(authenticator._identities) == 1  # cleared when full, then the new pair added


async def test_a_token_is_refused_outside_its_whitelist(
    authenticator: TokenAuthenticator, store: SqliteStore, bob: Account
) -> None:
    token = ApiToken("bob", TokenKind.CPANEL, "t", digest(SECRET), 0, whitelist_ips=("10.0.0.0/8",))
    await store.insert_token(token)
    failure = await refusal(authenticator, header(Scheme.CPANEL, "bob"))
    assert failure.detail == "api token not allowed from this address"
