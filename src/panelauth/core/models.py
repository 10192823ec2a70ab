"""Domain records. Frozen: a change is a new record written through a store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

ROOT = "root"


class IdentityKind(enum.Enum):
    ROOT = "root"
    RESELLER = "reseller"
    CPANEL = "cpanel"
    MAIL = "mail"


class CredentialKind(enum.Enum):
    PASSWORD = "password"
    API_TOKEN = "api_token"
    ACCESS_HASH = "access_hash"
    SESSION = "session"
    LOCAL = "local"  # the command line on the server itself


@dataclass(frozen=True, slots=True)
class Account:
    """root, or a cPanel account (which may also be a reseller)."""

    user: str
    domain: str
    owner: str
    password_hash: str
    plan: str = "default"
    feature_list: str = "default"
    contact_email: str = ""
    suspended: bool = False
    suspend_reason: str = ""
    is_reseller: bool = False
    acls: frozenset[str] = field(default_factory=frozenset)
    created_at: float = 0.0
    # bumped on every password change, so caches and sessions notice without holding a password
    credential_version: int = 1

    @property
    def is_root(self) -> bool:
        return self.user == ROOT


@dataclass(frozen=True, slots=True)
class Mailbox:
    """A mail account `local@domain` of a cPanel account, for Webmail."""

    address: str
    account: str
    password_hash: str
    quota_mb: int = 0  # 0 = unlimited
    suspended_login: bool = False
    created_at: float = 0.0
    credential_version: int = 1

    @property
    def local_part(self) -> str:
        return self.address.partition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.partition("@")[2]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request acts as, built only from verified facts (CV-3)."""

    user: str
    kind: IdentityKind
    credential: CredentialKind
    account: str | None = None  # the cPanel account behind a reseller, cPanel or mail identity
    acls: frozenset[str] = frozenset()
    session_id: str | None = None  # set when a session cookie authenticated the request
    possessor: str | None = None  # root or the reseller that entered this account (w§16.8)
    # a WHM API token whose ACLs narrow its owner's (effective ACLs != the owner's, w§16.4); set
    # only by token authentication. It then needs extra ACLs for cPanel functions (w§16.7).
    restricted_token: bool = False

    def has_acl(self, acl: str) -> bool:
        return "all" in self.acls or acl in self.acls

    @property
    def is_root(self) -> bool:
        return self.kind is IdentityKind.ROOT

    @property
    def is_whm_user(self) -> bool:
        return self.kind in (IdentityKind.ROOT, IdentityKind.RESELLER)


def root_identity(credential: CredentialKind) -> Identity:
    return Identity(ROOT, IdentityKind.ROOT, credential, None, frozenset({"all"}))
