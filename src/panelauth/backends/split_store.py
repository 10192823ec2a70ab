"""One Store made of two: sessions in a session store (Redis), everything else durable.

The `postgresql + redis` configuration (backends.open_store with a session store URL):
PostgreSQL keeps accounts, tokens, two-factor configurations and last-used steps, settings,
allow and deny lists, brute-force blocks and locks; Redis keeps sessions, single-use SSO and
hand-off tokens (which are sessions too) and brute-force failure counts, with native expiry
(redis_failures.py). A Redis restart may log users out and reset counts, but never lifts a
block, never revives a session (redis_sessions.py: the generation guard) and never lets a used
code pass again: a code's step is spent in the durable store.

Opening a session with a code (`insert_session(session, spend=...)`) is therefore two writes,
in this order: the step is spent in the durable store (its own transaction, the primitive
`use_totp_step`), then the session is written to Redis. A step already used writes nothing and
answers False; a Redis failure after the step was spent raises StoreUnavailable and the step
stays spent (the user waits for the next code): it fails closed, never open.

The schema is the durable store's (Redis needs none: `schema_version` and `migrate` are the
durable store's, and both also check that Redis answers); `begin_request` and closing go to
both. `transaction()` (export, import) and `store_time()` (the clock a node compares its own
with, FT-10) are the durable store's: sessions are never exported or imported, and Redis's
clock decides nothing (its native expiry is a relative TTL, PEXPIRE, an hour past the absolute
expiry the nodes decide with). The contract suite runs on it with PostgreSQL and, in the tests
only, with SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import TypeVar

from panelauth.backends.redis_failures import NOTHING, RedisFailureCounters
from panelauth.backends.redis_sessions import RedisSessionStore
from panelauth.backends.split_plugins import DurablePluginRecords
from panelauth.core.hulk import (
    AddressStanding,
    Block,
    BlockOrder,
    Failure,
    HulkView,
    Limits,
    ListName,
    blocks_due,
)
from panelauth.core.models import Account, Mailbox
from panelauth.core.sessions import Session
from panelauth.core.stores import AccessHash, SealedSecret, StepUse, Store, UsedStep
from panelauth.core.tokens import ApiToken, TokenKind

T = TypeVar("T")


class SplitStore(DurablePluginRecords):
    """Every store contract: SessionStore's on `sessions`, the rest on `durable`."""

    def __init__(
        self, durable: Store, sessions: RedisSessionStore, counters: RedisFailureCounters
    ) -> None:
        self.durable = durable
        self.sessions = sessions
        self.counters = counters

    # -- sessions: Redis ----------------------------------------------------------------------

    async def insert_session(self, session: Session, *, spend: StepUse | None = None) -> bool:
        """With `spend`: the step first (durably), then the session; see the module's doc."""
        if spend is not None and not await self.durable.use_totp_step(
            spend.user, spend.step, spend.context, spend.address, session.created_at
        ):
            return False
        return await self._session_write(self.sessions.insert_session(session))

    async def _session_write(self, write: Awaitable[T]) -> T:
        """A session write: this node's generation moves at once, whether or not the reply came
        back (the script's message on the change channel reaches every node, this one later)."""
        try:
            return await write
        finally:
            self.counters.changed_here()

    async def get_session(self, session_id: str) -> Session | None:
        return await self.sessions.get_session(session_id)

    async def touch_session(self, session_id: str, last_seen: float) -> None:
        await self._session_write(self.sessions.touch_session(session_id, last_seen))

    async def activate_session(self, session_id: str, bound_address: str, now: float) -> bool:
        return await self._session_write(
            self.sessions.activate_session(session_id, bound_address, now)
        )

    async def rebind_session(
        self, session_id: str, unused_since: float, bound_address: str, now: float
    ) -> bool:
        return await self._session_write(
            self.sessions.rebind_session(session_id, unused_since, bound_address, now)
        )

    async def count_wrong_token(self, session_id: str) -> int:
        return await self._session_write(self.sessions.count_wrong_token(session_id))

    async def delete_session(self, session_id: str) -> bool:
        return await self._session_write(self.sessions.delete_session(session_id))

    async def sessions_of(self, user: str) -> list[Session]:
        return await self.sessions.sessions_of(user)

    async def expired_session_ids(self, before: float, limit: int) -> list[str]:
        return await self.sessions.expired_session_ids(before, limit)

    # -- both ---------------------------------------------------------------------------------

    def begin_request(self) -> None:
        self.durable.begin_request()
        self.sessions.begin_request()

    def change_generation(self) -> tuple[int, int] | None:
        """The durable store's with the failure counters' epoch, which every session write
        moves too (redis_scripts.py publishes it; this node's own writes move it at once).
        None when either cannot say."""
        durable = self.durable.change_generation()
        if durable is None or isinstance(durable, tuple):
            return None
        counters = self.counters.change_generation()
        return None if counters is None else (durable, counters)

    async def schema_version(self) -> tuple[int, int]:
        """The durable store's; Redis must answer too (readiness, opening)."""
        version = await self.durable.schema_version()
        await self.sessions.ping()
        return version

    async def migrate(self) -> tuple[int, int]:
        """The durable store's migrations; Redis, which has no schema, must answer."""
        versions = await self.durable.migrate()
        await self.sessions.ping()
        return versions

    async def aclose(self) -> None:
        try:
            await self.counters.aclose()
            await self.sessions.aclose()  # the Redis connections the counters share
        finally:
            await self.durable.aclose()

    # -- moving an installation, the store's clock: durable ----------------------------------

    @asynccontextmanager
    async def transaction(self, *, read_only: bool = False) -> AsyncIterator[None]:
        """The durable store's transaction; session calls inside are not part of it."""
        async with self.durable.transaction(read_only=read_only):
            yield

    async def store_time(self) -> float | None:
        return await self.durable.store_time()

    async def list_settings(self) -> dict[str, str]:
        return await self.durable.list_settings()

    async def list_all_tokens(self) -> list[ApiToken]:
        return await self.durable.list_all_tokens()

    async def list_access_hashes(self) -> list[AccessHash]:
        return await self.durable.list_access_hashes()

    async def list_tfa_secrets(self) -> list[SealedSecret]:
        return await self.durable.list_tfa_secrets()

    async def insert_tfa_secret(self, secret: SealedSecret) -> None:
        await self.durable.insert_tfa_secret(secret)

    async def list_used_steps(self) -> list[UsedStep]:
        return await self.durable.list_used_steps()

    async def list_issuers(self) -> dict[str, str]:
        return await self.durable.list_issuers()

    async def insert_block(self, block: Block) -> None:
        await self.durable.insert_block(block)

    # -- accounts, mailboxes, feature lists: durable ----------------------------------------

    async def get_account(self, user: str) -> Account | None:
        return await self.durable.get_account(user)

    async def list_accounts(self, *, owner: str | None = None) -> list[Account]:
        return await self.durable.list_accounts(owner=owner)

    async def insert_account(self, account: Account) -> None:
        await self.durable.insert_account(account)

    async def delete_account(self, user: str) -> bool:
        return await self.durable.delete_account(user)

    async def set_password_hash(self, user: str, password_hash: str, *, rotate: bool) -> bool:
        return await self.durable.set_password_hash(user, password_hash, rotate=rotate)

    async def set_suspended(self, user: str, suspended: bool, reason: str) -> bool:
        return await self.durable.set_suspended(user, suspended, reason)

    async def set_reseller(self, user: str, is_reseller: bool, acls: frozenset[str]) -> bool:
        return await self.durable.set_reseller(user, is_reseller, acls)

    async def set_owner(self, user: str, owner: str) -> bool:
        return await self.durable.set_owner(user, owner)

    async def domain_owner(self, domain: str) -> str | None:
        return await self.durable.domain_owner(domain)

    async def get_mailbox(self, address: str) -> Mailbox | None:
        return await self.durable.get_mailbox(address)

    async def list_mailboxes(self, account: str) -> list[Mailbox]:
        return await self.durable.list_mailboxes(account)

    async def insert_mailbox(self, mailbox: Mailbox) -> None:
        await self.durable.insert_mailbox(mailbox)

    async def delete_mailbox(self, address: str) -> bool:
        return await self.durable.delete_mailbox(address)

    async def set_mailbox_password_hash(
        self, address: str, password_hash: str, *, rotate: bool
    ) -> bool:
        return await self.durable.set_mailbox_password_hash(address, password_hash, rotate=rotate)

    async def get_feature_list(self, name: str) -> dict[str, bool] | None:
        return await self.durable.get_feature_list(name)

    async def save_feature_list(self, name: str, settings: dict[str, bool]) -> None:
        await self.durable.save_feature_list(name, settings)

    async def list_feature_lists(self) -> list[str]:
        return await self.durable.list_feature_lists()

    async def delete_feature_list(self, name: str) -> bool:
        return await self.durable.delete_feature_list(name)

    # -- tokens and access hashes: durable ----------------------------------------------------

    async def insert_token(self, token: ApiToken) -> None:
        await self.durable.insert_token(token)

    async def find_token(self, owner: str, kind: TokenKind, token_digest: str) -> ApiToken | None:
        return await self.durable.find_token(owner, kind, token_digest)

    async def get_token(self, owner: str, kind: TokenKind, name: str) -> ApiToken | None:
        return await self.durable.get_token(owner, kind, name)

    async def list_tokens(self, owner: str, kind: TokenKind) -> list[ApiToken]:
        return await self.durable.list_tokens(owner, kind)

    async def replace_token(self, old_name: str, token: ApiToken) -> bool:
        return await self.durable.replace_token(old_name, token)

    async def delete_token(self, owner: str, kind: TokenKind, name: str) -> bool:
        return await self.durable.delete_token(owner, kind, name)

    async def get_access_hash_digest(self, user: str) -> str | None:
        return await self.durable.get_access_hash_digest(user)

    async def set_access_hash_digest(self, user: str, hash_digest: str, created_at: int) -> None:
        await self.durable.set_access_hash_digest(user, hash_digest, created_at)

    # -- two-factor and settings: durable ---------------------------------------------------

    async def get_tfa_secret(self, user: str) -> bytes | None:
        return await self.durable.get_tfa_secret(user)

    async def set_tfa_secret(
        self, user: str, sealed: bytes, *, step: int, address: str, now: float
    ) -> bool:
        return await self.durable.set_tfa_secret(user, sealed, step=step, address=address, now=now)

    async def delete_tfa_secret(self, user: str) -> bool:
        return await self.durable.delete_tfa_secret(user)

    async def use_totp_step(
        self, user: str, step: int, context: str, address: str, now: float
    ) -> bool:
        return await self.durable.use_totp_step(user, step, context, address, now)

    async def last_totp_step(self, user: str) -> int | None:
        return await self.durable.last_totp_step(user)

    async def record_tfa_failure(self, user: str, now: float) -> None:
        await self.durable.record_tfa_failure(user, now)

    async def tfa_failures_since(self, user: str, since: float) -> int:
        return await self.durable.tfa_failures_since(user, since)

    async def get_issuer(self, owner: str) -> str | None:
        return await self.durable.get_issuer(owner)

    async def set_issuer(self, owner: str, issuer: str) -> None:
        await self.durable.set_issuer(owner, issuer)

    async def get_setting(self, key: str) -> str | None:
        return await self.durable.get_setting(key)

    async def set_setting(self, key: str, value: str) -> None:
        await self.durable.set_setting(key, value)

    # -- brute-force protection: counts in Redis, the rest durable ----------------------------

    async def hulk_view(self) -> HulkView:
        return await self.durable.hulk_view()

    async def address_standing(
        self, address_key: str, now: float, lookback: float
    ) -> AddressStanding:
        """The durable standing (blocks, root's visits) with Redis's counts; while the counts
        are unknown (redis_failures.py), the durable standing alone."""
        standing = await self.durable.address_standing(address_key, now, lookback)
        counted = await self.counters.standing(address_key, now - lookback)
        if counted is None or counted is NOTHING:
            return standing  # the usual case, no object built: no failures recorded
        failures, failing_users = counted
        return AddressStanding(
            standing.blocked_until, failures, standing.root_seen_at, failing_users
        )

    async def user_locked_until(self, user_key: str) -> float:
        return await self.durable.user_locked_until(user_key)

    async def reserve_attempt(self, failure: Failure, limits: Limits, *, per_user: bool) -> bool:
        """Refused while a block or lock holds (durable), else counted and recorded in one step
        in Redis."""
        now = failure.at
        per_user = per_user and bool(limits.user_limit)
        standing = await self.durable.address_standing(failure.address_key, now, 0.0)
        if standing.blocked_until > now:
            return False
        if per_user and await self.durable.user_locked_until(failure.user_key) > now:
            return False
        return await self.counters.reserve(failure, limits, per_user=per_user)

    async def record_failure(self, failure: Failure, limits: Limits, *, recorded: bool) -> None:
        """Counted in Redis; the blocks those counts call for imposed durably."""
        recent, remembered, user_failures = await self.counters.record(
            failure, limits, recorded=recorded
        )
        orders = blocks_due(
            limits,
            failure.at,
            recent=recent,
            remembered=remembered,
            user_failures=user_failures if limits.user_limit else 0,
        )
        await self.durable.settle_blocks(failure, orders)

    async def settle_blocks(self, failure: Failure, orders: Sequence[BlockOrder]) -> None:
        await self.durable.settle_blocks(failure, orders)

    async def clear_failures(self, address_key: str, user_key: str) -> None:
        await self.counters.clear(address_key, user_key)

    async def remember_root_address(self, address_key: str, at: float) -> None:
        await self.durable.remember_root_address(address_key, at)

    async def list_blocks(self, now: float) -> list[Block]:
        return await self.durable.list_blocks(now)

    async def failures_since(self, since: float, *, limit: int) -> list[Failure]:
        return await self.counters.since(since, limit=limit)

    async def unblock(self, address_keys: Sequence[str], user_keys: Sequence[str]) -> int:
        forgotten = await self.counters.unblock(address_keys, user_keys)
        return forgotten + await self.durable.unblock(address_keys, user_keys)

    async def recorded_address_keys(self) -> list[tuple[str, str]]:
        """Addresses with failures (Redis) or a block (durable)."""
        found = set(await self.counters.addresses())
        found.update(await self.durable.recorded_address_keys())
        return sorted(found)

    async def flush_failures(self) -> int:
        forgotten = await self.counters.flush()
        return forgotten + await self.durable.flush_failures()

    async def add_list_entries(
        self, list_name: ListName, entries: Sequence[tuple[str, str]], now: float
    ) -> None:
        await self.durable.add_list_entries(list_name, entries, now)

    async def delete_list_entries(self, list_name: ListName, networks: Sequence[str]) -> int:
        return await self.durable.delete_list_entries(list_name, networks)
