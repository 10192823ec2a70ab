"""`whm user:TOKEN`, `WHM root:<access hash>` and `cpanel user:TOKEN` (w§2.2-2.4, w§11).

Verification is a checklist; each failure names its reason for the login log, and the client
always gets the same "Access denied" (w§2.0).
"""

from __future__ import annotations

import hmac
from typing import Protocol

from panelauth.clock import Clock
from panelauth.core.authentication import AuthFacts
from panelauth.core.bruteforce import Gate
from panelauth.core.hulk import Method
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import ROOT, Account, CredentialKind, Identity
from panelauth.core.shared_settings import FixedShared, SharedSettings, SharedSource
from panelauth.core.stores import AccountStore, TokenStore
from panelauth.core.tokens import ApiToken, TokenKind, digest, effective_acls, restricts
from panelauth.errors import AuthenticationFailed
from panelauth.protocol.authorization import HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service


class TokenAuthStore(AccountStore, TokenStore, Protocol):
    pass


IDENTITY_MEMO_ENTRIES = 1024
_ALL = frozenset({"all"})

# what `_identity` decided for a (token, owner) pair, with the two records it was decided from
_Decided = tuple[ApiToken, Account | None, Identity | Refusal]


class TokenAuthenticator:
    def __init__(
        self, store: TokenAuthStore, clock: Clock, *, access_hash_enabled: bool | SharedSource
    ) -> None:
        """`access_hash_enabled`: fixed, or the shared settings in force (the server's view,
        core/shared_settings.py: `allow_deprecated_accesshash`), read at every attempt."""
        self._store = store
        self._clock = clock
        self._shared: SharedSource = (
            FixedShared(SharedSettings(access_hash_enabled=access_hash_enabled))
            if isinstance(access_hash_enabled, bool)
            else access_hash_enabled
        )
        # the identity a (token record, owner record) pair gives, decided once: the records are
        # immutable and the store hands out the same objects until a change replaces them, so a
        # changed record is a new key; an entry holds its records, so their ids are not reused
        # while it lives. Keyed by id (hashing a record hashes every field); bounded.
        self._identities: dict[tuple[int, int], _Decided] = {}

    async def authenticate(self, attempt: AuthFacts, gate: Gate | None = None) -> Identity | None:
        credentials = attempt.credentials
        if not isinstance(credentials, HeaderSecretCredentials):
            return None
        user = credentials.user
        kind = TokenKind.WHM if credentials.scheme is Scheme.WHM else TokenKind.CPANEL
        service = Service.WHM if kind is TokenKind.WHM else Service.CPANEL
        # 1. whm tokens only on WHM, cpanel tokens only on cPanel (w§2.3, w§2.4, TK-5)
        if attempt.service is not service:
            raise AuthenticationFailed("api token incorrect", claimed_user=user)
        # 2. one SHA-512, then a lookup among the named user's tokens only (TK-1, TK-5)
        secret_digest = digest(credentials.secret.reveal())
        token = await self._store.find_token(user, kind, secret_digest)
        owner = await self._store.get_account(user)
        if token is None:
            # 3. root's access hash is tried only when no token matched (w§2.3)
            if kind is TokenKind.WHM and user == ROOT and self._shared.value.access_hash_enabled:
                if gate is not None:
                    gate.method = Method.ACCESS_HASH
                return await self._access_hash(owner, secret_digest)
            raise AuthenticationFailed("api token incorrect", claimed_user=user)
        # 4. never expired (TK-2), 5. from an allowed address (TK-3)
        expires_at = token.expires_at
        if expires_at is not None:  # the clock is read only for a token that can expire
            if token.expired(self._clock.now()):
                raise AuthenticationFailed("api token expired", claimed_user=user)
            if gate is not None:
                gate.proven_until = min(gate.proven_until, expires_at)
        if not token.allows_address(attempt.client_address):
            # the right secret from the wrong place: refused, but no guess (BF-7)
            raise AuthenticationFailed(
                "api token not allowed from this address", claimed_user=user, counted=False
            )
        # 6. the owner's identity on this service, not suspended (TK-7), and its rights
        identity = self._identity(token, owner)
        if identity is Refusal.SUSPENDED:
            raise AuthenticationFailed("account suspended", claimed_user=user, counted=False)
        if identity is Refusal.NOT_HERE:
            raise AuthenticationFailed("api token incorrect", claimed_user=user)
        return identity

    def _identity(self, token: ApiToken, owner: Account | None) -> Identity | Refusal:
        key = (id(token), id(owner))
        decided = self._identities.get(key)
        if decided is not None:
            return decided[2]
        identity = _token_identity(token, owner)
        if len(self._identities) >= IDENTITY_MEMO_ENTRIES:
            self._identities.clear()
        self._identities[key] = (token, owner, identity)
        return identity

    async def _access_hash(self, owner: Account | None, secret_digest: str) -> Identity:
        stored = await self._store.get_access_hash_digest(ROOT)
        # TK-9: digest against digest in constant time; root only, WHM only
        if stored is None or not hmac.compare_digest(stored, secret_digest):
            raise AuthenticationFailed("access hash incorrect", claimed_user=ROOT)
        identity = decide_identity(owner, Service.WHM, CredentialKind.ACCESS_HASH)
        if isinstance(identity, Refusal):
            raise AuthenticationFailed("access hash incorrect", claimed_user=ROOT)
        return identity


def _token_identity(token: ApiToken, owner: Account | None) -> Identity | Refusal:
    """The owner's identity on the token's service (TK-7); a former reseller's WHM tokens stop
    working together with its WHM rights. Rights: the token's ACLs within the owner's current
    ACLs (TK-4); a narrower WHM token needs more ACLs to reach cPanel functions through WHM
    (w§16.7)."""
    whm = token.kind is TokenKind.WHM
    owner_acls = _owner_acls(owner)
    return decide_identity(
        owner,
        Service.WHM if whm else Service.CPANEL,
        CredentialKind.API_TOKEN,
        acls=effective_acls(owner_acls, token.acls) if whm else None,
        restricted_token=whm and restricts(owner_acls, token.acls),
    )


def _owner_acls(owner: Account | None) -> frozenset[str]:
    if owner is None:
        return frozenset()
    return _ALL if owner.is_root else owner.acls
