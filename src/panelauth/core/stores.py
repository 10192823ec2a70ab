"""Store contracts: one small Protocol per consumer; backends implement them all.

Every method that touches a store is `async def` (SQLite runs inline on the event loop; the
network backends await). A backend that cannot reach its data raises StoreUnavailable, never
returns "not found" for "unknown" (FT-7).

Lifecycle: `await open_store(url, clock=...)` (backends/) opens, `await store.aclose()` closes.
Opening never migrates: a store whose schema is behind raises SchemaOutdated; the migrate step
(`panelauth migrate`, also run by `init` and `serve`) calls `migrate()`.

Time: a backend never reads the system time for a value it stores or compares; times come
from the caller (`now`, `before`, ...) or from the clock it was opened with.

The change signal: a backend may serve reads from a per-worker cache (the store owns it, never
the gateway or core), but its cached reads must see every committed write of any worker, CLI
or node at the next request: revocation, suspension, a password change (credential_version)
and an ACL change take effect on the next request everywhere. Each backend names the signal it
checks before serving from its cache and evicts what its own writes change. The server calls
`begin_request()` (RequestBoundary) when a request starts: the first cached read of that request
checks the signal, later reads of the same request need not (a request sees the writes
committed before it began); a store whose caller never marks requests checks at every lookup.
SQLite: the header of its WAL index, which every commit rewrites (`PRAGMA data_version`, which
changes when another connection commits, where the index cannot be mapped). PostgreSQL: a
trigger on every table sends a NOTIFY on `panelauth_<schema>` at commit; each store's listening
connection marks its caches stale, and while it is down the caches are not used
(postgresql_base.py); a write is seen from the first request that begins after its notice
arrived, a fraction of a millisecond after the commit. Redis, the session store of a split
store (split_store.py): no cache; every read asks Redis, and every write is published on the
change channel the failure counters listen to. The contract suite (tests/backends)
checks it with two stores on one database. `change_generation()` (ChangeGeneration) gives the
signal as a value for a memo above the store (core/verified_headers.py): it moves at every write
a decision may depend on, and is None when the caches may not answer.

Moving an installation (core/transfer.py: `panelauth export` / `import`) reads and writes records
as they are through TransferStore, inside one `transaction()`. The store's own clock
(StoreClock) lets a node measure its skew from the store (core/clock_skew.py, FT-10).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Final, Protocol

from panelauth.core.hulk import (
    AddressStanding,
    Block,
    BlockOrder,
    Failure,
    HulkView,
    Limits,
    ListName,
)
from panelauth.core.models import Account, Mailbox
from panelauth.core.sessions import Session
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import InvalidArgument


class AccountStore(Protocol):
    async def get_account(self, user: str) -> Account | None:
        """The account named `user` (root included), or None."""
        ...

    async def list_accounts(self, *, owner: str | None = None) -> list[Account]:
        """cPanel accounts (never root), ordered by user; only those `owner` owns if given."""
        ...

    async def insert_account(self, account: Account) -> None:
        """Create; AlreadyExists if the user name or the domain is taken."""
        ...

    async def delete_account(self, user: str) -> bool:
        """Remove an account and everything it owns (mailboxes); False if it did not exist."""
        ...

    async def set_password_hash(self, user: str, password_hash: str, *, rotate: bool) -> bool:
        """Replace the hash; `rotate` bumps credential_version (a real change, not a rehash)."""
        ...

    async def set_suspended(self, user: str, suspended: bool, reason: str) -> bool: ...

    async def set_reseller(self, user: str, is_reseller: bool, acls: frozenset[str]) -> bool: ...

    async def set_owner(self, user: str, owner: str) -> bool: ...

    async def domain_owner(self, domain: str) -> str | None:
        """The account whose main domain is `domain`, if any."""
        ...


class MailboxStore(Protocol):
    async def get_mailbox(self, address: str) -> Mailbox | None: ...

    async def list_mailboxes(self, account: str) -> list[Mailbox]:
        """The account's mailboxes ordered by address."""
        ...

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        """Create; AlreadyExists if the address is taken."""
        ...

    async def delete_mailbox(self, address: str) -> bool: ...

    async def set_mailbox_password_hash(
        self, address: str, password_hash: str, *, rotate: bool
    ) -> bool: ...


class FeatureListStore(Protocol):
    async def get_feature_list(self, name: str) -> dict[str, bool] | None:
        """Explicit settings of a feature list (features not named are enabled); None if absent."""
        ...

    async def save_feature_list(self, name: str, settings: dict[str, bool]) -> None:
        """Create or merge settings into a feature list."""
        ...

    async def list_feature_lists(self) -> list[str]: ...

    async def delete_feature_list(self, name: str) -> bool: ...


class TokenStore(Protocol):
    async def insert_token(self, token: ApiToken) -> None:
        """Create; AlreadyExists if the owner has a token of that kind and name."""
        ...

    async def find_token(self, owner: str, kind: TokenKind, token_digest: str) -> ApiToken | None:
        """The owner's token of this kind whose SHA-512 digest is `token_digest`."""
        ...

    async def get_token(self, owner: str, kind: TokenKind, name: str) -> ApiToken | None: ...

    async def list_tokens(self, owner: str, kind: TokenKind) -> list[ApiToken]: ...

    async def replace_token(self, old_name: str, token: ApiToken) -> bool:
        """Rewrite name, expiry, ACLs and IP list of the token now named `old_name`."""
        ...

    async def delete_token(self, owner: str, kind: TokenKind, name: str) -> bool: ...

    async def get_access_hash_digest(self, user: str) -> str | None: ...

    async def set_access_hash_digest(self, user: str, hash_digest: str, created_at: int) -> None:
        """Create or replace: the old hash stops working at once (TK-9)."""
        ...


@dataclass(frozen=True, slots=True)
class StepUse:
    """A TOTP step to spend in the same transaction as a new session (TF-2)."""

    user: str
    step: int
    context: str
    address: str


class SessionStore(Protocol):
    async def insert_session(self, session: Session, *, spend: StepUse | None = None) -> bool:
        """Create the session; with `spend`, only if that step is unused (else False, nothing
        written): the code and the session it opens change together."""
        ...

    async def get_session(self, session_id: str) -> Session | None: ...

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        """Move last_seen forward (never back)."""
        ...

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        """Atomically turn an `unused` session `active`; False if it was not unused (SS-2)."""
        ...

    async def rebind_session(
        self, session_id: str, unused_since: float, bound_address: str, now: float
    ) -> bool:
        """Atomically bind a session to `bound_address` if its last_seen is still
        `unused_since` (no recorded use): True for one caller only (a remote-login URL, w§18)."""
        ...

    async def count_wrong_token(self, session_id: str) -> int:
        """Add one wrong security token and return the new count (the only error-path write)."""
        ...

    async def delete_session(self, session_id: str) -> bool: ...

    async def sessions_of(self, user: str) -> list[Session]:
        """Sessions of the identity `user` and of every identity of the account `user`."""
        ...

    async def expired_session_ids(self, before: float, limit: int) -> list[str]:
        """Ids of sessions past their absolute expiry (for the sweep)."""
        ...


class TwoFactorStore(Protocol):
    async def get_tfa_secret(self, user: str) -> bytes | None:
        """The sealed secret of an enrolled user, or None."""
        ...

    async def set_tfa_secret(
        self, user: str, sealed: bytes, *, step: int, address: str, now: float
    ) -> bool:
        """Enrol, spending the enrolment code's step in the same transaction (TF-9)."""
        ...

    async def delete_tfa_secret(self, user: str) -> bool: ...

    async def use_totp_step(
        self, user: str, step: int, context: str, address: str, now: float
    ) -> bool:
        """Atomic check-and-set of a used step (TF-2): False for a replay or an older step.

        `context` is "session", "enrol" or "header"; only "header" uses from the same
        address may share a step.
        """
        ...

    async def last_totp_step(self, user: str) -> int | None: ...

    async def record_tfa_failure(self, user: str, now: float) -> None: ...

    async def tfa_failures_since(self, user: str, since: float) -> int: ...

    async def get_issuer(self, owner: str) -> str | None: ...

    async def set_issuer(self, owner: str, issuer: str) -> None: ...


class SettingStore(Protocol):
    """Server-wide key/value settings changed at run time (2FA policy, the system issuer)."""

    async def get_setting(self, key: str) -> str | None: ...

    async def set_setting(self, key: str, value: str) -> None:
        """Create or replace."""
        ...


class BruteForceStore(SettingStore, Protocol):
    """What the guard needs of the store (w§19; BF-4, BF-9)."""

    async def hulk_view(self) -> HulkView:
        """The configuration and the lists; cached, the same object until a change."""
        ...

    async def address_standing(
        self, address_key: str, now: float, lookback: float
    ) -> AddressStanding:
        """Cached; `lookback` (seconds) bounds the failures counted."""
        ...

    async def user_locked_until(self, user_key: str) -> float:
        """When the account's lock ends (0: none); cached."""
        ...

    async def reserve_attempt(self, failure: Failure, limits: Limits, *, per_user: bool) -> bool:
        """Record `failure` unless the address (or, with `per_user`, the account) has reached
        its limit within its window, in one transaction; False: refused, nothing recorded."""
        ...

    async def record_failure(self, failure: Failure, limits: Limits, *, recorded: bool) -> None:
        """Record `failure` (unless `recorded` by reserve_attempt) and, in the same transaction,
        block the address or lock the account whose count reached its limit."""
        ...

    async def clear_failures(self, address_key: str, user_key: str) -> None:
        """A success: forget that pair's failures (BF-6)."""
        ...

    async def settle_blocks(self, failure: Failure, orders: Sequence[BlockOrder]) -> None:
        """Forget ended blocks, then impose `orders` for `failure` (a shorter block never
        shortens a longer one), in one transaction: for failures counted outside the store
        (the `postgresql + redis` configuration counts them in Redis)."""
        ...

    async def remember_root_address(self, address_key: str, at: float) -> None: ...

    # -- operating it (WHM API 1, the command line) -------------------------------------------

    async def list_blocks(self, now: float) -> list[Block]: ...

    async def failures_since(self, since: float, *, limit: int) -> list[Failure]: ...

    async def unblock(self, address_keys: Sequence[str], user_keys: Sequence[str]) -> int:
        """Lift blocks and forget the failures of those keys; the number of records removed."""
        ...

    async def recorded_address_keys(self) -> list[tuple[str, str]]:
        """(address key, address) of every address with failures or a block."""
        ...

    async def flush_failures(self) -> int:
        """Forget every failure and lift every block (flush_cphulk_login_history)."""
        ...

    async def add_list_entries(
        self, list_name: ListName, entries: Sequence[tuple[str, str]], now: float
    ) -> None:
        """Create or replace (network, comment) entries."""
        ...

    async def delete_list_entries(self, list_name: ListName, networks: Sequence[str]) -> int: ...


# -- plugins' own records (extension/storage.py) ----------------------------------------------

PLUGIN_NAME_CHARS: Final = 64  # a namespace or a collection, in characters
PLUGIN_KEY_CHARS: Final = 512
PLUGIN_VALUE_BYTES: Final = 1 << 20  # a value's JSON text, encoded as UTF-8
PLUGIN_PAGE_RECORDS: Final = 1000  # list_plugin_records answers at most this many at once
PLUGIN_VERSION_MAX: Final = 2**31 - 1


def check_plugin_text(what: str, text: str, limit: int) -> None:
    """InvalidArgument unless `text` is 1 to `limit` printable characters: no control, format or
    line-separator character (CR, LF, NUL, U+2028 ...) ever reaches a stored name or key."""
    if not isinstance(text, str) or not 0 < len(text) <= limit:
        raise InvalidArgument(f"A plugin record's {what} must be 1 to {limit} characters.")
    if not text.isprintable():
        raise InvalidArgument(f"A plugin record's {what} must not contain control characters.")


def check_plugin_address(namespace: str, collection: str, key: str | None = None) -> None:
    """InvalidArgument unless the namespace, the collection and (if given) the key are valid."""
    check_plugin_text("namespace", namespace, PLUGIN_NAME_CHARS)
    check_plugin_text("collection", collection, PLUGIN_NAME_CHARS)
    if key is not None:
        check_plugin_text("key", key, PLUGIN_KEY_CHARS)


def check_plugin_value(value: str) -> None:
    """InvalidArgument unless `value` is JSON text of at most PLUGIN_VALUE_BYTES (as UTF-8):
    every backend then holds, and gives back, text that parses."""
    try:
        size = len(value.encode("utf-8"))
    except (AttributeError, UnicodeEncodeError):
        raise InvalidArgument("A plugin record's value must be UTF-8 text.") from None
    if size > PLUGIN_VALUE_BYTES:
        raise InvalidArgument(
            f"A plugin record's value is {size} bytes; at most {PLUGIN_VALUE_BYTES} are stored."
        )
    try:
        json.loads(value, parse_constant=_no_constant)
    except ValueError:
        raise InvalidArgument("A plugin record's value must be JSON text.") from None


def check_plugin_version(version: int) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidArgument("A plugin's schema version must be an integer.")
    if not 0 <= version <= PLUGIN_VERSION_MAX:
        raise InvalidArgument(f"A plugin's schema version must be 0 to {PLUGIN_VERSION_MAX}.")


def check_plugin_page(prefix: str, after: str, limit: int) -> None:
    """InvalidArgument unless `prefix` and `after` are empty or could start a key, and `limit`
    is 1 to PLUGIN_PAGE_RECORDS."""
    for what, text in (("prefix", prefix), ("position", after)):
        if text != "":
            check_plugin_text(what, text, PLUGIN_KEY_CHARS)
    if (
        not isinstance(limit, int)
        or isinstance(limit, bool)
        or not 0 < limit <= (PLUGIN_PAGE_RECORDS)
    ):
        raise InvalidArgument(f"A page of plugin records holds 1 to {PLUGIN_PAGE_RECORDS}.")


def plugin_prefix_end(prefix: str) -> str | None:
    """The least text above every key that starts with `prefix` (None: no bound), for a range
    scan of the primary key. Keys hold no surrogate (not printable), so none is skipped."""
    while prefix and prefix[-1] == chr(0x10FFFF):
        prefix = prefix[:-1]
    if not prefix:
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000
    return prefix[:-1] + chr(following)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


class PluginRecordStore(Protocol):
    """Plugins' own records (extension/storage.py): JSON text by (namespace, collection, key),
    and each namespace's schema version, which the plugin's migrations move. Every argument is
    checked (check_plugin_address, check_plugin_value, check_plugin_version): InvalidArgument,
    nothing stored. Keys are ordered by code point (SQLite's BINARY, PostgreSQL's "C"). A split
    store keeps them in its durable store. Nothing here is cached."""

    async def get_plugin_record(self, namespace: str, collection: str, key: str) -> str | None:
        """The value's JSON text, or None."""
        ...

    async def put_plugin_record(
        self, namespace: str, collection: str, key: str, value: str
    ) -> None:
        """Create or replace."""
        ...

    async def delete_plugin_record(self, namespace: str, collection: str, key: str) -> bool: ...

    async def list_plugin_records(
        self,
        namespace: str,
        collection: str,
        *,
        prefix: str = "",
        after: str = "",
        limit: int = PLUGIN_PAGE_RECORDS,
    ) -> list[tuple[str, str]]:
        """(key, value) of the collection's records whose key starts with `prefix` and sorts
        after `after` (the last key of the previous page), ordered by key, at most `limit`
        (1 to PLUGIN_PAGE_RECORDS)."""
        ...

    async def get_plugin_version(self, namespace: str) -> int:
        """The namespace's schema version; 0 if none was ever set."""
        ...

    async def set_plugin_version(self, namespace: str, expected: int, new: int) -> bool:
        """Compare and set, atomically for every worker and node: `new` if the version is
        `expected` (False, nothing written, if it is not)."""
        ...


class RequestBoundary(Protocol):
    """For the server: where a request begins, so a cache checks the change signal once."""

    def begin_request(self) -> None:
        """A request starts: its cached reads see every write committed before this call."""
        ...


# a value of the change signal (ChangeGeneration); compared for equality only
Generation = int | tuple[int, int]


class ChangeGeneration(Protocol):
    """For a memo above the store (core/verified_headers.py): the change signal as a value."""

    def change_generation(self) -> Generation | None:
        """A value that differs from every earlier one once any write of any worker, node or
        the command line may have changed what a read returns (own writes included, sessions
        included); checked like a cached read, once per request. None: the store cannot say
        now (nothing is cached, or its change listener is down), so nothing may be remembered
        above it."""
        ...


@dataclass(frozen=True, slots=True)
class PluginRecord:
    """One plugin record, as stored: its address and its value's JSON text."""

    namespace: str
    collection: str
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class AccessHash:
    """A user's WHM access hash, as stored: its SHA-512 digest only (TK-9)."""

    user: str
    digest: str
    created_at: int


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A user's two-factor secret, as stored: sealed with the key outside the store (TF-8)."""

    user: str
    sealed: bytes
    created_at: float


@dataclass(frozen=True, slots=True)
class UsedStep:
    """A TOTP step a user spent (TF-2), as stored."""

    user: str
    step: int
    context: str
    address: str
    used_at: float


class TransferStore(Protocol):
    """What moving a whole installation needs (core/transfer.py): every record of the kinds
    no other primitive lists, writes of records as they are, and one transaction around it."""

    def transaction(self, *, read_only: bool = False) -> AbstractAsyncContextManager[None]:
        """Every call on this store object inside the block is one transaction, isolated from
        other writers: committed when the block ends, rolled back entirely if it raises (the
        primitives' own transactions nest in it). SQLite: under the write lock (`read_only`: a
        read transaction, one snapshot, writers go on); PostgreSQL: REPEATABLE READ on one
        connection. For bulk work on a store of its own, never for serving: whatever else calls
        this store object meanwhile joins the transaction. A split store's is its durable
        store's: sessions are not part of it."""
        ...

    async def list_settings(self) -> dict[str, str]:
        """Every setting, by key."""
        ...

    async def list_all_tokens(self) -> list[ApiToken]:
        """Every API token of every owner and kind, ordered by owner, kind, name."""
        ...

    async def list_access_hashes(self) -> list[AccessHash]:
        """Every access hash digest, ordered by user."""
        ...

    async def list_tfa_secrets(self) -> list[SealedSecret]:
        """Every enrolled user's sealed secret, ordered by user."""
        ...

    async def insert_tfa_secret(self, secret: SealedSecret) -> None:
        """Create as it is, spending no step (an import); AlreadyExists if the user is
        enrolled."""
        ...

    async def list_used_steps(self) -> list[UsedStep]:
        """Every remembered used step, ordered by user and step (rewritten with
        use_totp_step, oldest first)."""
        ...

    async def list_all_plugin_records(self) -> list[PluginRecord]:
        """Every plugin's every record, ordered by namespace, collection and key."""
        ...

    async def list_plugin_versions(self) -> dict[str, int]:
        """Every namespace's schema version that was ever set, by namespace."""
        ...

    async def list_issuers(self) -> dict[str, str]:
        """Every owner's two-factor issuer, by owner."""
        ...

    async def insert_block(self, block: Block) -> None:
        """Create a block or lock as it is (an import); AlreadyExists if that address or
        account has one."""
        ...


class StoreClock(Protocol):
    """The store server's own clock, for a node to measure its skew from it (FT-10)."""

    async def store_time(self) -> float | None:
        """The store server's current time (seconds since the epoch, read at the server as the
        call runs); None when the store has no clock of its own (SQLite: this machine's)."""
        ...


class StoreLifecycle(Protocol):
    """Schema and closing, for whoever opens a store (backends.open_store, the migrate step)."""

    async def schema_version(self) -> tuple[int, int]:
        """(the store's schema version, the version this code needs); 0 for an empty store."""
        ...

    async def migrate(self) -> tuple[int, int]:
        """Apply the missing numbered migrations at once: (version before, version after)."""
        ...

    async def aclose(self) -> None:
        """Release the connection; every later call raises StoreUnavailable."""
        ...


class Store(
    AccountStore,
    MailboxStore,
    FeatureListStore,
    TokenStore,
    SessionStore,
    TwoFactorStore,
    BruteForceStore,  # before SettingStore, which it extends
    SettingStore,
    RequestBoundary,
    ChangeGeneration,
    StoreLifecycle,
    TransferStore,
    StoreClock,
    PluginRecordStore,
    Protocol,
):
    """Every contract; what a backend implements."""
