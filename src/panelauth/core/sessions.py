"""Browser sessions: the record, its secrets, its lifetimes and the pure checks (w§5-§8).

* CV-2/CV-3: a session is a typed record; every field that decides access is set by server
  code from verified facts, never from request data.
* CV-5/SE-1: the cookie carries `<id>,<secret>`; only SHA-256(secret) is stored and compared
  in constant time; a cookie without the secret is refused before any lookup.
* CV-8: every privilege step makes a new id, secret and security token.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass

from panelauth.protocol.services import Service

_ID_ALPHABET = string.ascii_letters + string.digits + "_"


class SessionKind(enum.Enum):
    PASSWORD = "password"
    SSO = "sso"
    TRANSFER = "transfer"
    WEBMAIL_HANDOFF = "webmail_handoff"


class SessionState(enum.Enum):
    PENDING_2FA = "pending_2fa"
    UNUSED = "unused"  # a hand-off URL not yet consumed
    ACTIVE = "active"


class IpValidation(enum.Enum):
    STRICT = "strict"
    LOOSE = "loose"  # the same /24 (IPv4) or /64 (IPv6)
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Lifetimes in seconds (w§8.1)."""

    password_idle: float = 1800
    handoff_idle: float = 900  # SSO, transfer and Webmail hand-off sessions once used
    unused: float = 300  # a hand-off URL must be used within 5 minutes
    pending_2fa: float = 300
    absolute: float = 12 * 3600
    touch_interval: float = 5  # at most one last-seen write per session per interval
    max_wrong_tokens: int = 3
    ip_validation: IpValidation = IpValidation.STRICT
    max_per_user: int = 0  # active sessions an identity may hold at once (SE-13); 0: unlimited


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str  # "<user>:<16 chars>[:<tag>]", the part before the comma (w§5)
    secret_hash: str  # SHA-256 hex of the 32-hex secret
    user: str  # the identity: account name, "root", or a mailbox address
    account: str | None  # the cPanel account behind the identity (None for root)
    service: Service
    kind: SessionKind
    state: SessionState
    security_token: str  # "/cpsess" + 10 digits
    creator: str
    possessor: str | None
    method: str
    bound_address: str | None
    created_at: float
    last_seen: float
    expires_at: float  # the absolute limit
    wrong_tokens: int = 0
    credential_version: int = 0
    user_agent: str = ""

    def idle_limit(self, policy: SessionPolicy) -> float:
        if self.state is SessionState.PENDING_2FA:
            return policy.pending_2fa
        if self.state is SessionState.UNUSED:
            return policy.unused
        return policy.password_idle if self.kind is SessionKind.PASSWORD else policy.handoff_idle

    def expired(self, now: float, policy: SessionPolicy) -> bool:
        """Absolute expiry, or idle expiry measured from the last recorded use (SE-7)."""
        if now >= self.expires_at:
            return True
        if self.state in (SessionState.PENDING_2FA, SessionState.UNUSED):
            return now >= self.created_at + self.idle_limit(policy)
        return now >= self.last_seen + self.idle_limit(policy)


@dataclass(frozen=True, slots=True)
class NewSecrets:
    session_id: str
    secret: str
    security_token: str

    @property
    def secret_hash(self) -> str:
        return hash_secret(self.secret)


def new_secrets(user: str, tag: str | None = None) -> NewSecrets:
    """A fresh id, 128-bit secret and security token, all from the CSPRNG (SE-1, CS-2)."""
    random_part = "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
    session_id = f"{user}:{random_part}" + (f":{tag}" if tag else "")
    token = f"/cpsess{secrets.randbelow(10**10):010d}"
    return NewSecrets(session_id, secrets.token_hex(16), token)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def secret_matches(session: Session, secret: str) -> bool:
    return hmac.compare_digest(session.secret_hash, hash_secret(secret))


def token_matches(session: Session, supplied: str | None) -> bool:
    return supplied is not None and hmac.compare_digest(
        session.security_token.encode(), supplied.encode("utf-8", "surrogatepass")
    )


def address_matches(bound: str | None, address: str, validation: IpValidation) -> bool:
    """Client-address binding (w§8.2)."""
    if bound is None or validation is IpValidation.DISABLED or bound == address:
        return True
    if validation is IpValidation.STRICT:
        return False
    try:
        first, second = ipaddress.ip_address(bound), ipaddress.ip_address(address)
    except ValueError:
        return False
    if first.version != second.version:
        return False
    prefix = 24 if first.version == 4 else 64
    network = ipaddress.ip_network(f"{first}/{prefix}", strict=False)
    return second in network
