"""The identity rule: who an account is on a service, given the credential that proved it.

This is the only place the rule is written (w§2.1, w§2.7, w§16.1); Basic passwords, API tokens,
the access hash, sessions and the command line all ask `decide_identity`:

* WHM: root (ACL `all`) or a reseller (its ACLs, or a token's effective ACLs); nobody else.
* cPanel: a cPanel account, never root.
* Webmail: a mailbox of the account, or the account itself as its default mailbox; never root.
* A suspended account, or a mailbox whose login is suspended, is refused once the identity is
  known (callers decide when to reveal that, e.g. Basic only after the password verified);
  the command line on the server itself (`CredentialKind.LOCAL`) still acts for it.
* Possession (w§16.8) and the session id are carried over from the session, never inferred.
"""

from __future__ import annotations

import enum

from panelauth.core.models import ROOT, Account, CredentialKind, Identity, IdentityKind
from panelauth.protocol.services import Service

_ALL = frozenset({"all"})


class Refusal(enum.Enum):
    """Why an account is no identity here; each caller words it for its own log."""

    NOT_HERE = "not an identity on this service"  # absent, root off WHM, not a reseller on WHM
    SUSPENDED = "account suspended"


def decide_identity(
    account: Account | None,
    service: Service,
    credential: CredentialKind,
    *,
    mailbox: str | None = None,
    mailbox_suspended: bool = False,
    acls: frozenset[str] | None = None,
    restricted_token: bool = False,
    session_id: str | None = None,
    possessor: str | None = None,
) -> Identity | Refusal:
    """The identity `account` has on `service`, or why it has none.

    `mailbox`: on Webmail, the mailbox address that authenticated (its owner is `account`);
    None for the account's default mailbox. `acls`: a WHM token's effective ACLs, which replace
    the account's own (w§16.4); `restricted_token` marks a token narrower than its owner
    (w§16.7).
    """
    if account is None:
        return Refusal.NOT_HERE
    is_root = account.user == ROOT
    if service is Service.WHM:
        if is_root:
            kind = IdentityKind.ROOT
        elif account.is_reseller:
            kind = IdentityKind.RESELLER
        else:
            return Refusal.NOT_HERE
    elif is_root:
        return Refusal.NOT_HERE  # root is never a cPanel or Webmail identity (w§2.1)
    else:
        kind = IdentityKind.CPANEL if service is Service.CPANEL else IdentityKind.MAIL
    # the server's own command line acts for a suspended account too, as its administrator
    if (account.suspended or mailbox_suspended) and credential is not CredentialKind.LOCAL:
        return Refusal.SUSPENDED
    if kind is IdentityKind.ROOT:
        user, owner, rights = ROOT, None, _ALL if acls is None else acls
    elif kind is IdentityKind.RESELLER:
        user, owner, rights = account.user, account.user, account.acls if acls is None else acls
    else:
        user, owner, rights = mailbox or account.user, account.user, frozenset()
    return Identity(
        user,
        kind,
        credential,
        owner,
        rights,
        session_id=session_id,
        possessor=possessor,
        restricted_token=restricted_token,
    )
