"""The function registry: each function declares its API and the rights it needs (w§16).

A function is a plain `async def fn(ctx, args) -> data`. Its declaration says which API it
belongs to, which services may call it, the WHM ACL or cPanel feature it needs, and whether it
is Webmail-safe. Authorisation reads only these declarations, in one place (AZ-1).

A cPanel function also declares whether it sets a password (`sets_password`, required). From
that and its module, `Function.whm_token_acls` derives the WHM ACLs a restricted WHM API token
needs to reach it through WHM (w§16.7, made stricter; docs/api.md has the table).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from panelauth.api.outcome import Outcome
from panelauth.protocol.params import Params


class Api(enum.Enum):
    WHM1 = "whm1"
    UAPI = "uapi"
    API2 = "api2"

    @property
    def title(self) -> str:
        """The API's name as cPanel's documentation writes it."""
        return _API_TITLES[self]


_API_TITLES = {Api.WHM1: "WHM API 1", Api.UAPI: "UAPI", Api.API2: "API 2"}
BUILT_IN = "built-in"  # Function.source of panelauth's own functions


# what a function returns when it has more than data: a WHM reason, raw output, UAPI messages,
# a rotated session
Reply = Outcome

# `(ctx: CallContext, args: Params) -> data`; the context is typed by each function, so this
# module needs no import of api/context (which imports it)
Handler = Callable[[Any, Params], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

# What a restricted WHM API token (its ACL list is neither `all` nor its owner's full set) needs,
# besides ownership, to call a cPanel function through WHM (w§16.7, made stricter). This is the
# only copy of the rule; the dispatcher reads it from `Function.whm_token_acls`.
CPANEL_API_ACL = "cpanel-api"  # every cPanel function
PASSWORD_ACL = "passwd"  # a function that sets a password (declared with `sets_password=True`)
# whole modules: each of their functions, whatever it declares (API 2 forms included)
MODULE_WHM_TOKEN_ACLS: dict[str, frozenset[str]] = {
    "Tokens": frozenset({PASSWORD_ACL}),  # a cPanel token is a full-access credential
    "TwoFactorAuth": frozenset({"create-acct"}),  # as WHM's twofactorauth_remove_user_config
    "Session": frozenset({"create-user-session"}),  # it mints sessions, as create_user_session
}


@dataclass(frozen=True, slots=True)
class Function:
    api: Api
    module: str  # "" for WHM API 1
    name: str
    handler: Handler
    acl: str | None = None  # WHM: the ACL needed ("all" = root only); None = any WHM user
    feature: str | None = None  # cPanel: the feature the account must have
    webmail_safe: bool = False
    # account-changing WHM functions add metadata.output.raw (w§15.1)
    changes_accounts: bool = False
    # cPanel: whether it sets (or creates with) a password; must be declared (None = undeclared)
    sets_password: bool | None = None
    # who serves it: "built-in", or "plugin <name>" (panelauth.extension)
    source: str = BUILT_IN
    # whether it changes anything (declared by plugins; None: not declared, the built-ins)
    changes_state: bool | None = None

    def __post_init__(self) -> None:
        if self.api is not Api.WHM1 and self.sets_password is None:
            raise ValueError(f"{self.module}::{self.name} must declare sets_password")

    @property
    def key(self) -> tuple[Api, str, str]:
        return (self.api, self.module, self.name)

    @property
    def label(self) -> str:
        return function_label(self.api, self.module, self.name)

    @property
    def whm_token_acls(self) -> tuple[str, ...]:
        """The WHM ACLs a restricted WHM token needs to call this cPanel function (w§16.7).

        `cpanel-api` first, then the others in name order; empty for WHM API 1 functions.
        """
        if self.api is Api.WHM1:
            return ()
        extra = set(MODULE_WHM_TOKEN_ACLS.get(self.module, ()))
        if self.sets_password:
            extra.add(PASSWORD_ACL)
        return (CPANEL_API_ACL, *sorted(extra))


def function_label(api: Api, module: str, name: str) -> str:
    """`WHM API 1 listaccts`, `UAPI Email::list_pops`, `API 2 ZoneEdit::fetchzones`."""
    return f"{api.title} {f'{module}::' if module else ''}{name}"


class DuplicateFunction(ValueError):
    """Two sources claim one function; the message names both."""

    def __init__(self, served: Function, claimant: Function) -> None:
        super().__init__(
            f"{claimant.label} is claimed by {claimant.source}, "
            f"but {served.source} already serves it"
        )
        self.served, self.claimant = served, claimant


class Registry:
    def __init__(self) -> None:
        self._functions: dict[tuple[Api, str, str], Function] = {}

    def add(self, function: Function) -> None:
        served = self._functions.get(function.key)
        if served is not None:
            raise DuplicateFunction(served, function)
        self._functions[function.key] = function

    def include(self, other: Registry) -> None:
        """Add every function of another (per-module) registry."""
        for function in other._functions.values():
            self.add(function)

    def get(self, api: Api, module: str, name: str) -> Function | None:
        return self._functions.get((api, module, name))

    def all(self, api: Api) -> list[Function]:
        return sorted(
            (f for f in self._functions.values() if f.api is api), key=lambda f: (f.module, f.name)
        )

    def every(self) -> list[Function]:
        """Every function of every API: WHM API 1, then UAPI, then API 2, each by name."""
        return [function for api in Api for function in self.all(api)]

    def whm1(
        self, name: str, *, acl: str | None = None, changes_accounts: bool = False
    ) -> Callable[[H], H]:
        """Register a WHM API 1 function (reachable on WHM ports only, w§1.3)."""

        def register(handler: H) -> H:
            self.add(
                Function(
                    Api.WHM1,
                    "",
                    name,
                    handler,
                    acl=acl,
                    changes_accounts=changes_accounts,
                )
            )
            return handler

        return register

    def cpanel(
        self,
        api: Api,
        module: str,
        name: str,
        *,
        sets_password: bool,
        feature: str | None = None,
        webmail_safe: bool = False,
    ) -> Callable[[H], H]:
        """Register a UAPI or API 2 function (cPanel port, through WHM, Webmail if safe).

        `sets_password` has no default: a function that sets or creates a password (an
        account's or a mailbox's) says so, and a restricted WHM token then needs `passwd`.
        """

        def register(handler: H) -> H:
            self.add(
                Function(
                    api,
                    module,
                    name,
                    handler,
                    feature=feature,
                    webmail_safe=webmail_safe,
                    sets_password=sets_password,
                )
            )
            return handler

        return register
