"""WHM's "Manage API Tokens" and cPanel's "API Tokens" pages (issue 12, w§11).

WHM (a user with `manage-api-tokens`): create a token with a name, the privileges it may use
(full access, or some of the creator's own ACLs: root may pick any ACL of the catalogue), an
optional expiry date and an optional list of IP addresses; list, edit (rename, privileges,
expiry, addresses) and revoke. It calls WHM API 1 `api_token_list`, `api_token_create`,
`api_token_update` and `api_token_revoke`.

cPanel (feature `apitokens`): create a full-access token with an optional expiry date, list,
rename and revoke, through UAPI `Tokens::list`, `create_full_access`, `rename` and `revoke`.

Every change is a function call through the dispatcher, so ACLs, features, ownership and the
accounting log are exactly the API's. The page checks a form first, to explain a mistake in
plain words before anything is spent. Creating a token makes a credential, so that form also
carries the current password or a current code of the principal
(security_pages.reauthenticate); the new token is shown once. Revoking needs its "Sure" box.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Final

from aiohttp import web

from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.core.acls import ACL_NAMES
from panelauth.core.models import Identity
from panelauth.core.reauthentication import principal_of
from panelauth.core.tokens import parse_whitelist, validate_token_name
from panelauth.errors import FunctionFailed, ServiceUnavailable
from panelauth.protocol.params import Params
from panelauth.protocol.services import Listener, Service
from panelauth.server.page_call import PageCall
from panelauth.server.render import not_found_page
from panelauth.server.security_pages import reauthenticate
from panelauth.server.state import ServerState

ALL: Final = "all"
NOT_AN_ACTION: Final = "This page does not know that action."
CONFIRM: Final = "Tick “Sure” to revoke the token."
# the secrets of the re-authentication fields are never typed back into a form
SECRETS: Final = frozenset({"current_password", "current_code"})
_ACL_FIELD = re.compile(r"acl-[0-9]{1,3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ADDRESS_SEPARATORS = re.compile(r"[\s,]+")


class Refused(Exception):
    """A change the page will not make; nothing was changed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class TokenRow:
    name: str
    created: str
    expires: str  # "Never", the moment, or "Expired …"
    expired: bool
    expiry_date: str  # YYYY-MM-DD (UTC) for the edit form; "" when it never expires
    full: bool  # every privilege of its owner (WHM); cPanel tokens always
    acls: tuple[str, ...] = ()  # the privileges it has when not full (WHM)
    addresses: tuple[str, ...] = ()  # the IP list (WHM); empty: any address


@dataclass(frozen=True, slots=True)
class TokenForm:
    """What a create or edit form shows: a token's values, or what the user typed."""

    name: str = ""
    full: bool = True
    acls: frozenset[str] = frozenset()
    expires: str = ""
    addresses: str = ""


@dataclass(frozen=True, slots=True)
class Done:
    message: str
    new_token: str | None = None


class TokensPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        if self.service is Service.WHM:
            return await WhmTokens(self.state, call).answer()
        if self.service is Service.CPANEL:
            return await CpanelTokens(self.state, call).answer()
        return not_found_page(self.service)


class _TokensView(ABC):
    """One request on a tokens page: the change a POST asks for, then the page."""

    def __init__(self, state: ServerState, call: PageCall) -> None:
        self.state = state
        self.call = call
        self.identity: Identity = call.identity

    async def answer(self) -> web.Response:
        call = self.call
        status, message, new_token = 200, None, None
        kept: dict[str, str] = {}
        if call.request.method == "POST":
            form = await call.info.form(call.request)
            try:
                done = await self._change(form, await self._rows())
                message, new_token = done.message, done.new_token
            except FunctionFailed as invalid:
                status, message, kept = 400, invalid.message, _typed(form)
            except Refused as refused:
                status, message, kept = refused.status, refused.message, _typed(form)
        try:
            rows = await self._rows()
        except Refused as refused:
            status, message, rows = refused.status, refused.message, []
        return call.render(
            "tokens.html",
            status=status,
            message=message,
            refused=status != 200,
            new_token=new_token,
            tokens=rows,
            kept=kept,
            principal=principal_of(self.identity),
            today=_day(self._now()),
            **self._values(rows, kept),
        )

    @abstractmethod
    async def _rows(self) -> list[TokenRow]:
        """The user's own tokens, as the list function gives them."""

    @abstractmethod
    async def _change(self, form: dict[str, str], rows: list[TokenRow]) -> Done:
        """Make the change a form asks for, or raise Refused / FunctionFailed."""

    @abstractmethod
    def _values(self, rows: list[TokenRow], kept: dict[str, str]) -> dict[str, Any]:
        """The service's own template values."""

    async def _reauthenticate(self, form: dict[str, str]) -> None:
        call = self.call
        refused = await reauthenticate(self.state, call.service, self.identity, form, call.info)
        if refused is not None:
            raise Refused(refused, 403)

    def _now(self) -> float:
        return self.state.runtime.clock.now()


class WhmTokens(_TokensView):
    """Manage API Tokens: WHM API 1 `api_token_*`, the caller's own tokens only."""

    def __init__(self, state: ServerState, call: PageCall) -> None:
        super().__init__(state, call)
        self.holds_all = ALL in self.identity.acls
        # the ACLs the creator may give a token: root every one, a reseller its own (TK-4)
        held = ACL_NAMES if self.holds_all else self.identity.acls & ACL_NAMES
        self.choices: tuple[str, ...] = tuple(sorted(held - {ALL}))

    async def _call(self, name: str, pairs: list[tuple[str, str]]) -> Any:
        outcome = await self.state.dispatcher.whm1(
            self.identity, name, Params(pairs), client_address=self.call.info.address
        )
        return _data(outcome)

    async def _rows(self) -> list[TokenRow]:
        listed = await self._call("api_token_list", [])
        now, own = self._now(), frozenset(self.choices)
        return [
            _whm_row(name, entry, own, now)
            for name, entry in sorted(listed["tokens"].items(), key=lambda item: item[0].lower())
        ]

    async def _change(self, form: dict[str, str], rows: list[TokenRow]) -> Done:
        action = form.get("action", "")
        if action == "create":
            return await self._create(form, rows)
        if action == "update":
            return await self._update(form, rows)
        if action == "revoke":
            name = _confirmed(form)
            await self._call("api_token_revoke", [("token_name", name)])
            return Done(_revoked(name))
        raise Refused(NOT_AN_ACTION)

    async def _create(self, form: dict[str, str], rows: list[TokenRow]) -> Done:
        name = _new_name(form.get("token_name", ""), rows)
        pairs = [("token_name", name), *_numbered("acl", self._requested(form))]
        expires_at = _end_of_day(form.get("expires", ""), self._now())
        if expires_at is not None:
            pairs.append(("expires_at", str(expires_at)))
        pairs += _numbered("whitelist_ip", _addresses(form.get("whitelist", "")))
        # every check before the re-authentication, which may spend a code
        await self._reauthenticate(form)
        created = await self._call("api_token_create", pairs)
        return Done(f"The API token “{name}” was created.", created["token"])

    async def _update(self, form: dict[str, str], rows: list[TokenRow]) -> Done:
        old = _existing(form.get("token_name", ""), rows)
        new = validate_token_name(form.get("new_name", "") or old.name)
        if new != old.name:
            _new_name(new, rows)
        requested = self._requested(form)
        if requested is None:  # full access: the API has no "back to the owner's rights"
            requested = [ALL] if self.holds_all else list(self.choices)
        pairs = [("token_name", old.name), ("new_name", new), *_numbered("acl", requested)]
        typed_date = form.get("expires", "")
        if typed_date != old.expiry_date:  # unchanged: keep the exact moment the API set
            pairs.append(("expires_at", str(_end_of_day(typed_date, self._now()) or 0)))
        addresses = _addresses(form.get("whitelist", "")) or ["any"]
        pairs += _numbered("whitelist_ip", addresses)
        await self._call("api_token_update", pairs)
        return Done(f"The API token “{new}” was saved.")

    def _requested(self, form: dict[str, str]) -> list[str] | None:
        """The ticked ACLs, each one the creator holds; None for full access."""
        if form.get("access", "full") != "limited":
            return None
        ticked = sorted({value for key, value in form.items() if _ACL_FIELD.fullmatch(key)})
        for acl in ticked:
            if acl not in self.choices:
                raise Refused(
                    f"A token cannot be given “{acl[:64]}”: it is not one of your privileges.",
                    403,
                )
        if not ticked:
            raise Refused("Tick at least one privilege, or choose full access.")
        return ticked

    def _values(self, rows: list[TokenRow], kept: dict[str, str]) -> dict[str, Any]:
        create = _kept_form(kept) if kept.get("action") == "create" else TokenForm()
        editing = kept.get("token_name") if kept.get("action") == "update" else None
        edits = {
            row.name: _kept_form(kept) if row.name == editing else _row_form(row) for row in rows
        }
        return {
            "whm": True,
            "choices": self.choices,
            "create": create,
            "edits": edits,
            "open_edit": editing,
        }


class CpanelTokens(_TokensView):
    """API Tokens: UAPI `Tokens`, the account's own full-access tokens."""

    async def _call(self, function: str, pairs: list[tuple[str, str]]) -> Any:
        outcome = await self.state.dispatcher.cpanel(
            Api.UAPI,
            self.identity,
            self.call.service,
            "Tokens",
            function,
            Params(pairs),
            client_address=self.call.info.address,
        )
        return _data(outcome)

    async def _rows(self) -> list[TokenRow]:
        listed = await self._call("list", [])
        now = self._now()
        rows = [_cpanel_row(entry, now) for entry in listed]
        return sorted(rows, key=lambda row: row.name.lower())

    async def _change(self, form: dict[str, str], rows: list[TokenRow]) -> Done:
        action = form.get("action", "")
        if action == "create":
            name = _new_name(form.get("token_name", ""), rows)
            pairs = [("name", name)]
            expires_at = _end_of_day(form.get("expires", ""), self._now())
            if expires_at is not None:
                pairs.append(("expires_at", str(expires_at)))
            await self._reauthenticate(form)  # after every check: it may spend a code
            created = await self._call("create_full_access", pairs)
            return Done(f"The API token “{name}” was created.", created["token"])
        if action == "rename":
            old = _existing(form.get("token_name", ""), rows).name
            new = validate_token_name(form.get("new_name", ""))
            await self._call("rename", [("name", old), ("new_name", new)])
            return Done(f"The API token “{old}” is now named “{new}”.")
        if action == "revoke":
            name = _confirmed(form)
            if not await self._call("revoke", [("name", name)]):
                raise Refused(_missing(name))
            return Done(_revoked(name))
        raise Refused(NOT_AN_ACTION)

    def _values(self, rows: list[TokenRow], kept: dict[str, str]) -> dict[str, Any]:
        create = _kept_form(kept) if kept.get("action") == "create" else TokenForm()
        renaming = kept.get("token_name") if kept.get("action") == "rename" else None
        return {"whm": False, "create": create, "open_edit": renaming}


# -- reading the API's answers ------------------------------------------------------------------


def _data(outcome: Outcome) -> Any:
    """The function's data, or its refusal in its own words (a 4xx for the page)."""
    error = outcome.error
    if error is None:
        return outcome.data
    if isinstance(error, ServiceUnavailable):
        raise error  # the router's "try again later" page, not a form message
    raise Refused(error.message, max(error.status, 400))


def _whm_row(name: str, entry: dict[str, Any], own: frozenset[str], now: float) -> TokenRow:
    granted = frozenset(acl for acl, on in entry["acls"].items() if on)
    expires, expired, expiry_date = _expiry(entry["expires_at"], now)
    return TokenRow(
        name=name,
        created=_when(entry["create_time"]),
        expires=expires,
        expired=expired,
        expiry_date=expiry_date,
        # the owner's every right: "all", or exactly the owner's own set (w§16.4)
        full=ALL in granted or granted == own,
        acls=tuple(sorted(granted - {ALL})),
        addresses=tuple(entry["whitelist_ips"] or ()),
    )


def _cpanel_row(entry: dict[str, Any], now: float) -> TokenRow:
    expires, expired, expiry_date = _expiry(entry.get("expires_at"), now)
    return TokenRow(
        name=entry["name"],
        created=_when(entry["create_time"]),
        expires=expires,
        expired=expired,
        expiry_date=expiry_date,
        full=True,
    )


def _expiry(expires_at: int | None, now: float) -> tuple[str, bool, str]:
    if expires_at is None:
        return "Never", False, ""
    shown = _when(expires_at)
    expired = expires_at <= now
    return (f"Expired {shown}" if expired else shown), expired, _day(expires_at)


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


# -- reading a form -----------------------------------------------------------------------------


def _new_name(text: str, rows: list[TokenRow]) -> str:
    name = validate_token_name(text)
    if any(row.name == name for row in rows):
        raise Refused(f"An API token named “{name}” already exists: choose another name.")
    return name


def _existing(name: str, rows: list[TokenRow]) -> TokenRow:
    """One of the user's own tokens: a name edited into the form finds nothing else."""
    for row in rows:
        if row.name == name:
            return row
    raise Refused(_missing(name))


def _confirmed(form: dict[str, str]) -> str:
    name = form.get("token_name", "")
    if not name:
        raise Refused("Choose the token to revoke.")
    if form.get("confirm") != "1":
        raise Refused(CONFIRM)
    return name


def _end_of_day(text: str, now: float) -> int | None:
    """The last second (UTC) of the day a date field names; None when it is empty."""
    if not text:
        return None
    day: date | None = None
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    if day is None:
        raise Refused("Enter the expiry date as YYYY-MM-DD, for example 2030-12-31.")
    at = int(datetime.combine(day, time(23, 59, 59), UTC).timestamp())
    if at <= now:
        raise Refused("The expiry date has passed: choose today or a later day.")
    return at


def _addresses(text: str) -> list[str]:
    """One address or CIDR range a line, or separated by commas; checked as the API will."""
    entries = [entry for entry in _ADDRESS_SEPARATORS.split(text) if entry]
    parse_whitelist(entries)  # InvalidArgument names the entry that is not an address
    return entries


def _numbered(key: str, values: list[str] | None) -> list[tuple[str, str]]:
    """cPanel's list convention, `key-0`, `key-1`, … (w§20)."""
    return [(f"{key}-{index}", value) for index, value in enumerate(values or ())]


def _typed(form: dict[str, str]) -> dict[str, str]:
    """What the user typed, to show again in the refused form: never the secrets."""
    return {key: value for key, value in form.items() if key not in SECRETS}


def _kept_form(kept: dict[str, str]) -> TokenForm:
    name = kept.get("new_name", kept.get("token_name", ""))
    return TokenForm(
        name=name,
        full=kept.get("access", "full") != "limited",
        acls=frozenset(value for key, value in kept.items() if _ACL_FIELD.fullmatch(key)),
        expires=kept.get("expires", ""),
        addresses=kept.get("whitelist", ""),
    )


def _row_form(row: TokenRow) -> TokenForm:
    return TokenForm(
        name=row.name,
        full=row.full,
        acls=frozenset(row.acls),
        expires=row.expiry_date,
        addresses="\n".join(row.addresses),
    )


def _missing(name: str) -> str:
    return f"The API token “{name[:64]}” does not exist."


def _revoked(name: str) -> str:
    return f"The API token “{name}” was revoked: calls with it are refused from now on."
