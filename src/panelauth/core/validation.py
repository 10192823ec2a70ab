"""Strict validation of names that reach the store, logs and file paths (PW-5, CV-4)."""

from __future__ import annotations

import re

from panelauth.errors import InvalidArgument

# Patterns are used with fullmatch: `$` would also accept a trailing newline.
# cPanel's account-name rules: lowercase letters and digits, starting with a letter, at most
# 16 characters, not a reserved system name, not starting with "test".
_USERNAME = re.compile(r"[a-z][a-z0-9]{0,15}")
RESERVED_USERNAMES = frozenset(
    [
        "root",
        "admin",
        "all",
        "cpanel",
        "whm",
        "webmail",
        "mail",
        "nobody",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "news",
        "uucp",
        "proxy",
        "www",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "mysql",
        "postgres",
        "named",
        "ftp",
        "apache",
        "nginx",
        "dovecot",
        "exim",
        "cpanelphpmyadmin",
        "cpanelphppgadmin",
        "cpanellogin",
        "cpaneleximfilter",
        "cpaneleximscanner",
        "cpanelroundcube",
        "cpses",
        "virtfs",
        "shared",
        "system",
        "tmp",
    ]
)
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOCAL_PART = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_FEATURE_LIST = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_PLAN = re.compile(r"[A-Za-z0-9_. -]{1,64}")


def validate_username(user: str) -> str:
    if not _USERNAME.fullmatch(user):
        raise InvalidArgument(
            "The username must be 1 to 16 lowercase letters and digits and start with a letter."
        )
    if user in RESERVED_USERNAMES or user.startswith("test"):
        raise InvalidArgument(f"The username “{user}” is reserved.")
    return user


def normalize_domain(domain: str) -> str:
    """A lowercase DNS name with at least two labels, or InvalidArgument."""
    candidate = domain.lower().removesuffix(".")
    labels = candidate.split(".")
    if (
        len(candidate) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise InvalidArgument("The domain must be a valid domain name, like example.com.")
    return candidate


def normalize_email_address(address: str) -> str:
    """`local@domain`, lowercased and checked; InvalidArgument otherwise."""
    local, at, domain = address.lower().rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidArgument("The email address must look like user@example.com.")
    return f"{local}@{normalize_domain(domain)}"


def validate_local_part(local: str) -> str:
    local = local.lower()
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidArgument("The email account name contains invalid characters.")
    return local


def validate_feature_list_name(name: str) -> str:
    if not _FEATURE_LIST.fullmatch(name):
        raise InvalidArgument("A feature list name is 1 to 64 letters, digits, “_”, “.” or “-”.")
    return name


def validate_plan_name(name: str) -> str:
    if not _PLAN.fullmatch(name):
        raise InvalidArgument("A package name is 1 to 64 letters, digits, spaces, “_”, “.”, “-”.")
    return name


def validate_contact_email(address: str) -> str:
    return normalize_email_address(address) if address else ""
