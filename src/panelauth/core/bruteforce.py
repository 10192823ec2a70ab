"""Brute-force protection, cPHulk-compatible (w§19; BF-1..BF-10, TK-6).

One guard for every pathway. Before a credential is looked at, `enter` (or `admit`) asks the
address's standing (deny list, a block) and, for a password or a code, the account's lock; a
refused attempt gets the generic answer and its credential is never checked (BF-2). The gate it
returns hears how the attempt ended: `fail` records a credential failure, `succeed` clears that
(address, user) pair only (BF-6), `release` takes back what proved nothing either way.

Where the count lives: in the store (BF-9), changed only in its transactions (BF-4). A password
verification yields to the hashing pool, so parallel guesses would all pass a read-only check;
`Gate.reserve` therefore records the attempt as a failure *before* the hash is verified, in one
transaction that refuses once the limit is reached, and a success takes it back. Tokens, the
access hash and codes are checked inline without yielding, so per worker a check and its record
are one step; across workers the slack is at most one attempt per other worker (w§19.4).

The hot path (a success with nothing recorded against the address) costs two cached store reads
and a few dictionary lookups: the store serves `hulk_view()` and `address_standing()` from its
per-worker cache, refreshed by its change signal (core/stores.py).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Final

from panelauth.clock import Clock
from panelauth.core.hulk import (
    DAY,
    AddressStanding,
    Failure,
    HulkConfig,
    HulkView,
    Limits,
    ListEntry,
    ListName,
    Method,
    address_key,
    shown_user,
    user_key,
)
from panelauth.core.models import ROOT, Identity
from panelauth.core.stores import BruteForceStore
from panelauth.errors import (
    AuthenticationFailed,
    MailboxPasswordIncorrect,
    StoreUnavailable,
    TwoFactorFailed,
)
from panelauth.protocol.addresses import IPNetwork, parse_address

BLOCKED: Final = "blocked by brute force protection"  # the login_log reason of a refusal
ROOT_KNOWN_SECONDS: Final = 30 * DAY  # root is never locked out from where it logged in lately
ROOT_SEEN_REFRESH: Final = DAY  # a root success re-marks its address at most once a day


# -- the guard ------------------------------------------------------------------------------------


class Admission:
    """The guard's word on one attempt, carried to `reserve`, `fail` and `succeed` (a plain
    slotted class: one is built per request, and a frozen dataclass costs twice as much)."""

    __slots__ = ("address", "address_key", "allow_listed", "root_exempt", "standing", "user")

    def __init__(
        self,
        address: str,
        address_key: str,
        user: str,
        standing: AddressStanding,
        allow_listed: bool,
        root_exempt: bool,  # root from an allow-listed address or one it logged in from lately
    ) -> None:
        self.address = address
        self.address_key = address_key
        self.user = user
        self.standing = standing
        self.allow_listed = allow_listed
        self.root_exempt = root_exempt


class _Policy:
    """A configuration and its lists, parsed once per HulkView."""

    __slots__ = ("_listed", "black", "config", "limits", "white")

    def __init__(self, view: HulkView) -> None:
        self.config = config = HulkConfig.from_json(view.config_json)
        self.white = _networks(view.entries, ListName.WHITE)
        self.black = _networks(view.entries, ListName.BLACK)
        self._listed: dict[str, ListName | None] = {}
        self.limits = Limits(
            address_window=config.ip_brute_force_period_mins * 60.0,
            address_limit=config.max_failures_byip if config.ip_based_protection else 0,
            address_block=config.ip_brute_force_period_mins * 60.0,
            brute_window=config.lookback_period_min * 60.0,
            brute_limit=config.mark_as_brute if config.ip_based_protection else 0,
            brute_block=DAY,
            user_window=config.brute_force_period_mins * 60.0,
            user_limit=config.max_failures if config.username_based_protection else 0,
            user_lock=15 * 60.0,
        )

    def listed(self, address: str) -> ListName | None:
        """The list `address` is on (the allow list wins), memoised per address."""
        found = self._listed.get(address, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        parsed = parse_address(address)
        decision: ListName | None = None
        if parsed is not None:
            if _within(parsed, self.white):
                decision = ListName.WHITE
            elif _within(parsed, self.black):
                decision = ListName.BLACK
        if len(self._listed) >= 4096:
            self._listed.clear()
        self._listed[address] = decision
        return decision


_UNSEEN: Final = object()
_CREDENTIAL_ERRORS = (AuthenticationFailed, TwoFactorFailed, MailboxPasswordIncorrect)


def _networks(entries: Iterable[ListEntry], name: ListName) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        if entry.list_name is name:
            try:
                networks.append(ipaddress.ip_network(entry.network))
            except ValueError:
                continue  # cannot be stored through the API; never widen a list by guessing
    return tuple(networks)


def _within(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IPNetwork]
) -> bool:
    return any(address.version == net.version and address in net for net in networks)


class Gate:
    """One attempt's passage through the guard (see `BruteForceGuard.attempt`)."""

    __slots__ = ("_guard", "admission", "method", "proven_until", "reserved", "service")

    def __init__(
        self,
        guard: BruteForceGuard | None,
        admission: Admission | None,
        service: str,
        method: Method,
    ) -> None:
        self._guard = guard
        self.admission = admission  # None: protection is off
        self.service = service
        self.method = method  # an authenticator may narrow it (the access hash)
        self.reserved = False
        # until when a success may stand without being decided again (core/verified_headers):
        # narrowed by what it was decided from (a token's expiry, root's address mark)
        self.proven_until = math.inf

    async def reserve(self) -> None:
        """Call before a verification that yields (a password hash): the attempt is recorded
        as a failure first, or refused at the limit, so that parallel guesses cannot all be
        verified (BF-4); a success takes it back."""
        if self._guard is not None and self.admission is not None:
            self.reserved = await self._guard._reserve(self)


class BruteForceGuard:
    def __init__(self, store: BruteForceStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._policies: tuple[HulkView, _Policy] | None = None

    async def policy(self) -> _Policy:
        return self._policy_of(await self._store.hulk_view())

    def _policy_of(self, view: HulkView) -> _Policy:
        """The policy of `view`, parsed once: the store hands out the same view until a change."""
        memo = self._policies
        if memo is not None and memo[0] is view:
            return memo[1]
        policy = _Policy(view)
        self._policies = (view, policy)
        return policy

    async def config(self) -> HulkConfig:
        return (await self.policy()).config

    async def admit(self, address: str, user: str, method: Method) -> Admission | None:
        """Refuse (AuthenticationFailed, not counted) an attempt from a denied or blocked address,
        or a password/code attempt on a locked account; None while protection is off."""
        return (await self.enter(address, user, "", method)).admission

    async def admit_session(self, address: str, identity: Identity) -> None:
        """A session request: a cookie is no guess (256 random bits, w§4), never counted, but an
        address block refuses it, judged for the session's principal (its possessor, else its
        user), so that root keeps the sessions it logs in to (BF-1, BF-5)."""
        await self.admit(address, identity.possessor or identity.user, Method.SESSION)

    async def enter(self, address: str, user: str, service: str, method: Method) -> Gate:
        """Admit one attempt (or refuse it, BF-2); then `fail` or `succeed` with the gate.
        It runs on every authenticated request: two cached store reads on the usual path."""
        policy = self._policy_of(await self._store.hulk_view())
        config = policy.config
        if not config.is_enabled:
            return Gate(self, None, service, method)
        listed = policy.listed(address)
        if listed is ListName.BLACK:
            raise _refused(user)
        key = address_key(address, config.ipv6_prefix_length)
        now = self._clock.now()
        standing = await self._store.address_standing(key, now, policy.limits.brute_window)
        allow_listed = listed is ListName.WHITE
        root_exempt = user == ROOT and (
            allow_listed or standing.root_seen_at > now - ROOT_KNOWN_SECONDS
        )
        gate = Gate(
            self,
            Admission(address, key, user, standing, allow_listed, root_exempt),
            service,
            method,
        )
        if allow_listed or root_exempt:
            return gate
        if standing.blocked_until > now:
            raise _refused(user)
        guessable = method is Method.PASSWORD or method is Method.OTP  # tokens are never locked
        if (
            guessable
            and self._protects(config, user)
            and await self._store.user_locked_until(user_key(user)) > now
        ):
            raise _refused(user)
        return gate

    async def fail(self, gate: Gate, error: Exception) -> None:
        """The attempt raised `error`: a counted credential failure is recorded (BF-1)."""
        if gate.admission is None:
            return  # protection is off
        if isinstance(error, _CREDENTIAL_ERRORS) and error.counted:
            method = Method.OTP if isinstance(error, TwoFactorFailed) else gate.method
            await self._failed(gate, method)
        else:
            # no credential failure (BF-7), or no verdict on the credential at all (the hashing
            # queue was full, the store failed): the attempt proved nothing either way
            await self.release(gate)

    async def release(self, gate: Gate) -> None:
        """The attempt proved no guess, and no full success either (a right password whose
        second factor is still to come, or a suspended account's): its reservation is taken
        back. The store forgets failures by (address, user) pair, so only when the pair had
        none before; otherwise the reservation stays counted, the stricter way."""
        admission = gate.admission
        if admission is None or not gate.reserved:
            return
        key = user_key(admission.user)
        if admission.standing.has_failures_of(key):
            return
        try:
            await self._store.clear_failures(admission.address_key, key)
        except StoreUnavailable:
            return  # best effort: the reservation stays counted, the stricter way

    async def succeed(self, gate: Gate) -> None:
        """The attempt succeeded: that pair's failures are forgotten (BF-6), root's address
        remembered (for BF-5)."""
        admission = gate.admission
        if admission is None:
            return
        standing = admission.standing
        if admission.user == ROOT:  # its address is marked again a day after the last mark
            gate.proven_until = min(gate.proven_until, standing.root_seen_at + ROOT_SEEN_REFRESH)
        if not (gate.reserved or standing.failures or admission.user == ROOT):
            return  # the usual success: nothing to clear, nobody to remember
        now = self._clock.now()
        try:
            key = user_key(admission.user)
            if gate.reserved or standing.has_failures_of(key):
                await self._store.clear_failures(admission.address_key, key)
            if admission.user == ROOT and standing.root_seen_at < now - ROOT_SEEN_REFRESH:
                await self._store.remember_root_address(admission.address_key, now)
        except StoreUnavailable:
            # best effort: a store that cannot write now keeps the failures (stricter, not
            # looser) and root's address for a later success; the proven credential stands
            return

    @asynccontextmanager
    async def attempt(
        self, address: str, user: str, service: str, method: Method
    ) -> AsyncIterator[Gate]:
        """`enter`, then `fail` on an error raised in the block or `succeed` on a clean exit."""
        gate = await self.enter(address, user, service, method)
        try:
            yield gate
        except Exception as error:
            await self.fail(gate, error)
            raise
        await self.succeed(gate)

    async def _reserve(self, gate: Gate) -> bool:
        admission = gate.admission
        if admission is None or admission.allow_listed or admission.root_exempt:
            return False  # never counted against (BF-5)
        policy = await self.policy()
        failure = self._failure(admission, gate.service, gate.method)
        per_user = self._protects(policy.config, admission.user)
        if not await self._store.reserve_attempt(failure, policy.limits, per_user=per_user):
            raise _refused(admission.user)
        return True

    async def _failed(self, gate: Gate, method: Method) -> None:
        admission = gate.admission
        if admission is None or admission.allow_listed:
            return  # an allow-listed address is never blocked or locked (BF-5)
        policy = await self.policy()
        limits = policy.limits
        if not self._protects(policy.config, admission.user):
            limits = replace(limits, user_limit=0)
        failure = self._failure(admission, gate.service, method)
        await self._store.record_failure(failure, limits, recorded=gate.reserved)

    def _failure(self, admission: Admission, service: str, method: Method) -> Failure:
        return Failure(
            address_key=admission.address_key,
            address=admission.address,
            user_key=user_key(admission.user),
            user=shown_user(admission.user),
            service=service,
            method=method,
            at=self._clock.now(),
        )

    @staticmethod
    def _protects(config: HulkConfig, user: str) -> bool:
        if not config.username_based_protection:
            return False
        return user != ROOT or bool(config.username_based_protection_for_root)


def _refused(user: str) -> AuthenticationFailed:
    """The refusal of a blocked attempt: a wrong password's answer, and not counted again."""
    return AuthenticationFailed(BLOCKED, claimed_user=user, counted=False)
