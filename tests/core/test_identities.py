"""The identity rule, in one table: account x service x credential (w§2.1, w§2.7, w§16.1)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind
from panelauth.protocol.services import Service

ROOT = Account("root", "", "root", "hash")
BOB = Account("bob", "bob.example", "root", "hash")
RES = Account("res", "res.example", "root", "hash", is_reseller=True, acls=frozenset({"passwd"}))
ALL = frozenset({"all"})
P, T, H, S, L = (
    CredentialKind.PASSWORD,
    CredentialKind.API_TOKEN,
    CredentialKind.ACCESS_HASH,
    CredentialKind.SESSION,
    CredentialKind.LOCAL,
)
NOT_HERE, SUSPENDED = Refusal.NOT_HERE, Refusal.SUSPENDED


def suspended(account: Account) -> Account:
    return replace(account, suspended=True)


@pytest.mark.parametrize(
    ("account", "service", "credential", "extra", "expected"),
    [
        # nobody: no identity anywhere
        (None, Service.WHM, P, {}, NOT_HERE),
        (None, Service.CPANEL, T, {}, NOT_HERE),
        (None, Service.WEBMAIL, S, {}, NOT_HERE),
        # root: WHM only, with `all` unless a token narrows it
        (ROOT, Service.WHM, P, {}, Identity("root", IdentityKind.ROOT, P, None, ALL)),
        (ROOT, Service.WHM, H, {}, Identity("root", IdentityKind.ROOT, H, None, ALL)),
        (
            ROOT,
            Service.WHM,
            T,
            {"acls": frozenset({"list-accts"}), "restricted_token": True},
            Identity(
                "root",
                IdentityKind.ROOT,
                T,
                None,
                frozenset({"list-accts"}),
                restricted_token=True,
            ),
        ),
        (ROOT, Service.CPANEL, P, {}, NOT_HERE),
        (ROOT, Service.WEBMAIL, S, {}, NOT_HERE),
        (ROOT, Service.CPANEL, L, {}, NOT_HERE),
        # a reseller: WHM with its ACLs, and a cPanel account in its own right
        (RES, Service.WHM, P, {}, Identity("res", IdentityKind.RESELLER, P, "res", RES.acls)),
        (
            RES,
            Service.WHM,
            T,
            {"acls": frozenset()},
            Identity("res", IdentityKind.RESELLER, T, "res", frozenset()),
        ),
        (RES, Service.CPANEL, P, {}, Identity("res", IdentityKind.CPANEL, P, "res")),
        # a cPanel user: cPanel, and Webmail as its default mailbox; never WHM
        (BOB, Service.WHM, P, {}, NOT_HERE),
        (BOB, Service.WHM, T, {}, NOT_HERE),
        (BOB, Service.CPANEL, T, {}, Identity("bob", IdentityKind.CPANEL, T, "bob")),
        (BOB, Service.WEBMAIL, P, {}, Identity("bob", IdentityKind.MAIL, P, "bob")),
        (BOB, Service.CPANEL, L, {}, Identity("bob", IdentityKind.CPANEL, L, "bob")),
        # a mailbox of the account: Webmail, the account behind it
        (
            BOB,
            Service.WEBMAIL,
            P,
            {"mailbox": "info@bob.example"},
            Identity("info@bob.example", IdentityKind.MAIL, P, "bob"),
        ),
        # suspension: known only once the identity is, and the command line still acts
        (suspended(BOB), Service.CPANEL, P, {}, SUSPENDED),
        (suspended(RES), Service.WHM, T, {}, SUSPENDED),
        (suspended(BOB), Service.WHM, T, {}, NOT_HERE),
        (
            BOB,
            Service.WEBMAIL,
            P,
            {"mailbox": "info@bob.example", "mailbox_suspended": True},
            SUSPENDED,
        ),
        (suspended(BOB), Service.CPANEL, L, {}, Identity("bob", IdentityKind.CPANEL, L, "bob")),
        # sessions carry their id and possessor (w§16.8)
        (
            BOB,
            Service.CPANEL,
            S,
            {"session_id": "bob:ID", "possessor": "res"},
            Identity("bob", IdentityKind.CPANEL, S, "bob", session_id="bob:ID", possessor="res"),
        ),
        (
            ROOT,
            Service.WHM,
            S,
            {"session_id": "root:ID"},
            Identity("root", IdentityKind.ROOT, S, None, ALL, session_id="root:ID"),
        ),
    ],
)
def test_decides_the_identity_of_an_account_on_a_service(
    account: Account | None,
    service: Service,
    credential: CredentialKind,
    extra: dict[str, Any],
    expected: Identity | Refusal,
) -> None:
    assert decide_identity(account, service, credential, **extra) == expected
