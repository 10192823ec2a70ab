"""The memo of verified header credentials (core/verified_headers.py) inside the chain: a header
is decided once while nothing it was decided from changes, and afresh the moment anything does."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.accounts import Accounts
from panelauth.core.audit import MemorySessionLog
from panelauth.core.authentication import (
    AuthAttempt,
    AuthenticatorChain,
    AuthFacts,
    BasicAuthenticator,
    SessionAuthenticator,
)
from panelauth.core.bruteforce import ROOT_SEEN_REFRESH, BruteForceGuard, Gate
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.hulk import ListName, address_key
from panelauth.core.models import Account, Identity
from panelauth.core.passwords import HashingPool
from panelauth.core.session_manager import SessionManager
from panelauth.core.shared_settings import SharedSettings
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.tokens import ApiToken, TokenKind, digest
from panelauth.core.verified_headers import VerifiedHeaders
from panelauth.errors import AuthenticationFailed, SessionRefused
from panelauth.protocol.authorization import (
    BasicCredentials,
    HeaderSecretCredentials,
    MalformedCredentials,
    Scheme,
)
from panelauth.protocol.cookies import parse_cookie_value
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from tests.conftest import BOB_PASSWORD, open_sqlite
from tests.core.test_session_manager import ADDRESS, password_session  # bob's bound address

SECRET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


class Shared:
    """The shared settings in force, replaced whole like the server's view does."""

    def __init__(self) -> None:
        self.value = SharedSettings()


class Counting:
    """An authenticator that counts the attempts it decides."""

    def __init__(
        self, inner: TokenAuthenticator | BasicAuthenticator | SessionAuthenticator
    ) -> None:
        self.inner, self.decided = inner, 0

    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
        self.decided += 1
        return await self.inner.authenticate(attempt, gate)


class Setup:
    def __init__(
        self, store: SqliteStore, clock: FrozenClock, pool: HashingPool, **memo: float
    ) -> None:
        self.shared = Shared()
        self.tokens = Counting(TokenAuthenticator(store, clock, access_hash_enabled=self.shared))
        self.passwords = Counting(BasicAuthenticator(store, pool, CredentialCache(clock)))
        self.manager = SessionManager(store, clock, self.shared, MemorySessionLog())
        self.sessions = Counting(SessionAuthenticator(self.manager))
        self.memo = VerifiedHeaders(store, self.shared, clock, **memo)  # type: ignore[arg-type]
        self.chain = AuthenticatorChain(
            [self.tokens, self.sessions, self.passwords],
            BruteForceGuard(store, clock),
            verified=self.memo,
        )

    async def call(self, attempt: AuthAttempt) -> Identity:
        return await self.chain.authenticate(attempt)

    async def refused(self, attempt: AuthAttempt) -> AuthenticationFailed:
        with pytest.raises(AuthenticationFailed) as raised:
            await self.call(attempt)
        return raised.value


@pytest.fixture
def setup(store: SqliteStore, clock: FrozenClock, pool: HashingPool) -> Setup:
    return Setup(store, clock, pool)


def token_header(
    user: str = "bob",
    secret: str = SECRET,
    *,
    address: str = ADDRESS,
    otp: str | None = None,
    scheme: Scheme = Scheme.CPANEL,
) -> AuthAttempt:
    service = Service.WHM if scheme is Scheme.WHM else Service.CPANEL
    credentials = HeaderSecretCredentials(scheme, user, Secret(secret))
    return AuthAttempt(credentials, service, address, otp=otp)


def basic_header(password: str = BOB_PASSWORD) -> AuthAttempt:
    return AuthAttempt(BasicCredentials("bob", Secret(password)), Service.CPANEL, ADDRESS)


async def add_token(
    store: SqliteStore, owner: str = "bob", *, kind: TokenKind = TokenKind.CPANEL, **fields: object
) -> None:
    await store.insert_token(ApiToken(owner, kind, "t", digest(SECRET), 0, **fields))  # type: ignore[arg-type]


pytestmark = pytest.mark.usefixtures("bob")


async def test_the_same_header_is_decided_once_while_nothing_changes(
    setup: Setup, store: SqliteStore
) -> None:
    await add_token(store)
    identities = [await setup.call(token_header()) for _ in range(3)]
    assert setup.tokens.decided == 1
    assert identities[0].user == "bob"
    assert identities[1] is identities[0] and identities[2] is identities[0]


async def test_a_failure_is_never_remembered(setup: Setup, store: SqliteStore) -> None:
    await add_token(store)
    for _ in range(2):
        await setup.refused(token_header(secret="WRONG" + SECRET[5:]))
    assert setup.tokens.decided == 2
    assert len(setup.memo) == 0


@pytest.mark.parametrize("writer", ["this worker", "another worker"])
@pytest.mark.parametrize("change", ["revocation", "suspension", "deny list"])
async def test_a_change_anywhere_is_seen_at_the_next_request(
    setup: Setup, store: SqliteStore, tmp_path: Path, clock: FrozenClock, writer: str, change: str
) -> None:
    """Like the server, each request begins with begin_request(); the other worker is another
    connection to the same database (another process, the command line)."""
    await add_token(store)
    store.begin_request()
    await setup.call(token_header())
    other = await open_sqlite(tmp_path / "panelauth.db", clock)
    try:
        target = store if writer == "this worker" else other
        if change == "revocation":
            await target.delete_token("bob", TokenKind.CPANEL, "t")
        elif change == "suspension":
            await target.set_suspended("bob", True, "abuse")
        else:
            await target.add_list_entries(ListName.BLACK, [(f"{ADDRESS}/32", "")], clock.now())
    finally:
        await other.aclose()
    store.begin_request()
    await setup.refused(token_header())
    # a denied address is refused before any credential is looked at (BF-2)
    assert setup.tokens.decided == (1 if change == "deny list" else 2)


async def test_an_old_password_is_refused_after_a_change(
    setup: Setup, accounts: Accounts, store: SqliteStore
) -> None:
    # the first hashes the password, reserving the attempt and taking it back: two writes,
    # so the second decides again (from the credential cache, writing nothing)
    for _ in range(3):
        store.begin_request()
        await setup.call(basic_header())
    assert setup.passwords.decided == 2
    await accounts.change_password("bob", "new-Passw0rd!")
    store.begin_request()
    await setup.refused(basic_header())
    store.begin_request()
    assert (await setup.call(basic_header("new-Passw0rd!"))).user == "bob"


async def test_a_token_is_refused_from_its_expiry(
    setup: Setup, store: SqliteStore, clock: FrozenClock
) -> None:
    await add_token(store, expires_at=int(clock.now()) + 3)
    await setup.call(token_header())
    clock.advance(2.9)
    await setup.call(token_header())
    assert setup.tokens.decided == 1
    clock.advance(0.1)
    assert (await setup.refused(token_header())).detail == "api token expired"


async def test_an_entry_stands_for_its_time_only(setup: Setup, store: SqliteStore) -> None:
    await add_token(store)
    clock = FrozenClock()
    setup.memo._clock = clock  # the memo's own clock, so only its deadline moves
    await setup.call(token_header())
    clock.advance(4.9)
    await setup.call(token_header())
    assert setup.tokens.decided == 1
    clock.advance(0.1)
    await setup.call(token_header())
    assert setup.tokens.decided == 2


async def test_new_shared_settings_decide_afresh(setup: Setup, store: SqliteStore) -> None:
    """The access hash switch, the two-factor policy: the view replaces its value when it
    re-reads the store, and an entry decided with the old value stands no more."""
    await add_token(store)
    await setup.call(token_header())
    setup.shared.value = SharedSettings()
    await setup.call(token_header())
    assert setup.tokens.decided == 2


@pytest.mark.parametrize(
    ("other", "decided"),
    [(token_header(address="192.0.2.11"), 2), (token_header(otp="123456"), 3)],
    ids=["another address", "a code"],
)
async def test_only_the_same_header_from_the_same_address_without_a_code_is_remembered(
    setup: Setup, store: SqliteStore, other: AuthAttempt, decided: int
) -> None:
    """A code is spent once: a request carrying one is decided in full every time."""
    await add_token(store)
    await setup.call(token_header())
    for _ in range(2):
        await setup.call(other)
    assert setup.tokens.decided == decided


async def test_a_header_remembered_on_one_service_is_refused_on_another(
    setup: Setup, store: SqliteStore
) -> None:
    await add_token(store)
    await setup.call(token_header())
    credentials = token_header().credentials
    assert (await setup.refused(AuthAttempt(credentials, Service.WHM, ADDRESS))).detail == (
        "api token incorrect"
    )


async def test_nothing_is_remembered_above_a_store_without_a_cache(
    tmp_path: Path, clock: FrozenClock, pool: HashingPool, store: SqliteStore
) -> None:
    await add_token(store)
    uncached = await open_sqlite(tmp_path / "panelauth.db", clock, cache_entries=0)
    try:
        assert uncached.change_generation() is None
        setup = Setup(uncached, clock, pool)
        for _ in range(2):
            await setup.call(token_header())
        assert setup.tokens.decided == 2
    finally:
        await uncached.aclose()


async def test_root_is_decided_again_when_its_address_is_due_a_mark(
    store: SqliteStore, clock: FrozenClock, pool: HashingPool, root: Account
) -> None:
    """A root success marks its address at most once a day (BF-5); a remembered one must not
    skip that mark."""
    setup = Setup(store, clock, pool, ttl_seconds=10 * ROOT_SEEN_REFRESH)
    await add_token(store, "root", kind=TokenKind.WHM)
    root_token = token_header("root", scheme=Scheme.WHM)
    store.begin_request()
    await setup.call(root_token)  # the mark is written: a change, so the next one decides
    store.begin_request()
    await setup.call(root_token)
    store.begin_request()
    await setup.call(root_token)
    assert setup.tokens.decided == 2
    marked = await store.address_standing(address_key(ADDRESS), clock.now(), 3600.0)
    clock.advance(ROOT_SEEN_REFRESH + 1)
    store.begin_request()
    await setup.call(root_token)
    assert setup.tokens.decided == 3
    store.begin_request()
    remarked = await store.address_standing(address_key(ADDRESS), clock.now(), 3600.0)
    assert remarked.root_seen_at > marked.root_seen_at


async def test_the_memo_is_bounded(
    store: SqliteStore, clock: FrozenClock, pool: HashingPool
) -> None:
    await add_token(store)
    small = Setup(store, clock, pool, max_entries=2)
    for host in range(3):
        await small.call(token_header(address=f"192.0.2.{host}"))
        assert len(small.memo) <= 2
    assert len(small.memo) == 1  # full at the third: it started empty
    off = Setup(store, clock, pool, max_entries=0)
    for _ in range(2):
        await off.call(token_header())
    assert off.tokens.decided == 2


# -- sessions: the cookie and the /cpsess token ---------------------------------------------------


async def session_request(setup: Setup) -> AuthAttempt:
    """A request of bob's new password session, with its cookie and security token."""
    created = await password_session(setup.manager)
    return AuthAttempt(
        None,
        Service.CPANEL,
        ADDRESS,
        cookies=(created.cookie_value,),
        security_token=created.session.security_token,
    )


async def remembered_session(setup: Setup, store: SqliteStore) -> AuthAttempt:
    """A session request, made twice: proved, then answered from the memo."""
    request = await session_request(setup)
    for _ in range(2):
        store.begin_request()
        await setup.call(request)
    assert setup.sessions.decided == 1
    return request


async def test_a_session_request_is_decided_once_until_its_use_is_due_a_write(
    setup: Setup, store: SqliteStore, clock: FrozenClock
) -> None:
    request = await session_request(setup)
    for _ in range(3):
        store.begin_request()
        assert (await setup.call(request)).user == "bob"
    assert setup.sessions.decided == 1
    clock.advance(setup.manager.policy.touch_interval)
    store.begin_request()
    await setup.call(request)  # due: decided, and its use recorded
    assert setup.sessions.decided == 2
    credential = parse_cookie_value(request.cookies[0])
    assert credential is not None
    stored = await store.get_session(credential.session_id)
    assert stored is not None and stored.last_seen == clock.now()


async def test_a_logged_out_session_is_refused_at_the_next_request(
    setup: Setup, store: SqliteStore
) -> None:
    request = await remembered_session(setup, store)
    credential = parse_cookie_value(request.cookies[0])
    assert credential is not None
    await setup.manager.purge(credential.session_id, "logout", ADDRESS)
    store.begin_request()
    with pytest.raises(SessionRefused):
        await setup.call(request)


async def test_a_remembered_session_needs_its_own_security_token(
    setup: Setup, store: SqliteStore
) -> None:
    request = await remembered_session(setup, store)
    for wrong in (None, "/cpsess0000000000"):
        store.begin_request()
        other = AuthAttempt(
            None, Service.CPANEL, ADDRESS, cookies=request.cookies, security_token=wrong
        )
        with pytest.raises(SessionRefused):
            await setup.call(other)


async def test_a_request_without_any_credential_is_refused_and_nothing_remembered(
    setup: Setup,
) -> None:
    for _ in range(2):
        with pytest.raises(SessionRefused):
            await setup.call(AuthAttempt(None, Service.CPANEL, ADDRESS))
    assert len(setup.memo) == 0


async def test_a_session_decided_outside_the_chain_needs_no_gate(setup: Setup) -> None:
    """Pages resolve sessions themselves; the authenticator works without the chain's gate."""
    request = await session_request(setup)
    identity = await SessionAuthenticator(setup.manager).authenticate(request)
    assert identity is not None and identity.user == "bob"


async def test_a_malformed_header_beside_a_remembered_cookie_is_refused(
    setup: Setup, store: SqliteStore
) -> None:
    """w§2.0: a header that cannot carry a credential fails, and never falls back to cookies."""
    request = await remembered_session(setup, store)
    malformed = MalformedCredentials("unsupported authorization scheme")
    attempt = AuthAttempt(
        None,
        Service.CPANEL,
        ADDRESS,
        cookies=request.cookies,
        security_token=request.security_token,
        malformed=malformed,
    )
    store.begin_request()
    refusal = await setup.refused(attempt)
    assert refusal.detail == "unsupported authorization scheme"
