"""Domain records: derived properties of accounts, mailboxes and identities."""

from __future__ import annotations

import dataclasses

import pytest

from panelauth.core.models import (
    ROOT,
    Account,
    CredentialKind,
    Identity,
    IdentityKind,
    Mailbox,
    root_identity,
)


@pytest.mark.parametrize(("user", "is_root"), [("root", True), ("bob", False), ("Root", False)])
def test_account_is_root_only_for_root(user: str, is_root: bool) -> None:
    assert Account(user, "x.example", ROOT, "!").is_root is is_root


def test_records_are_frozen() -> None:
    account = Account("bob", "bob.example", "root", "!")
    with pytest.raises(dataclasses.FrozenInstanceError):
        account.suspended = True  # type: ignore[misc]


@pytest.mark.parametrize(
    ("address", "local", "domain"),
    [("info@bob.example", "info", "bob.example"), ("a.b+c@x.y.example", "a.b+c", "x.y.example")],
)
def test_mailbox_splits_its_address(address: str, local: str, domain: str) -> None:
    mailbox = Mailbox(address, "bob", "!")
    assert (mailbox.local_part, mailbox.domain) == (local, domain)


@pytest.mark.parametrize(
    ("acls", "acl", "expected"),
    [
        (frozenset({"list-accts"}), "list-accts", True),
        (frozenset({"list-accts"}), "passwd", False),
        (frozenset({"all"}), "passwd", True),
        (frozenset(), "list-accts", False),
    ],
)
def test_identity_has_acl_honours_all(acls: frozenset[str], acl: str, expected: bool) -> None:
    identity = Identity("res", IdentityKind.RESELLER, CredentialKind.PASSWORD, "res", acls)
    assert identity.has_acl(acl) is expected


@pytest.mark.parametrize(
    ("kind", "is_root", "is_whm_user"),
    [
        (IdentityKind.ROOT, True, True),
        (IdentityKind.RESELLER, False, True),
        (IdentityKind.CPANEL, False, False),
        (IdentityKind.MAIL, False, False),
    ],
)
def test_identity_kinds(kind: IdentityKind, is_root: bool, is_whm_user: bool) -> None:
    identity = Identity("someone", kind, CredentialKind.SESSION)
    assert (identity.is_root, identity.is_whm_user) == (is_root, is_whm_user)


def test_root_identity_holds_every_privilege() -> None:
    identity = root_identity(CredentialKind.ACCESS_HASH)
    assert (identity.user, identity.kind, identity.credential) == (
        "root",
        IdentityKind.ROOT,
        CredentialKind.ACCESS_HASH,
    )
    assert identity.account is None
    assert identity.has_acl("create-user-session")
