"""Which pages each service has, and which of them a user may open (issue 12).

One table per service names every page: the first path segment under `/cpsessN/`, its title
(the link's visible text) and what opening it requires. The requirement is asked of the
dispatcher, which holds the API's rules (AZ-1): a page shows when its user may call the function
the page is built on. The router (server/browser.py) serves only visible pages and answers 404
for the rest, so a page never needs its own "may this user see me" rule; each change a page
makes is still a function call, checked again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from panelauth.api.registry import Api
from panelauth.core.models import Identity
from panelauth.protocol.services import Service
from panelauth.server import pages
from panelauth.server.state import ServerState

# may `identity` open this page on `service`?
Requirement = Callable[[ServerState, Service, Identity], Awaitable[bool]]

HOMES: Final = {
    Service.CPANEL: "frontend/jupiter/index.html",
    Service.WHM: "",
    Service.WEBMAIL: "webmail/jupiter/index.html",
}


async def anyone(state: ServerState, service: Service, identity: Identity) -> bool:
    return True


def whm1(name: str) -> Requirement:
    """The user may call WHM API 1 `name`."""

    async def requirement(state: ServerState, service: Service, identity: Identity) -> bool:
        return state.dispatcher.permits_whm1(identity, name)

    return requirement


def uapi(module: str, name: str) -> Requirement:
    """The user may call UAPI `module::name` on this service (features, Webmail rules)."""

    async def requirement(state: ServerState, service: Service, identity: Identity) -> bool:
        return await state.dispatcher.permits_cpanel(Api.UAPI, identity, service, module, name)

    return requirement


async def own_password(state: ServerState, service: Service, identity: Identity) -> bool:
    """Webmail: a mailbox changes its own password; the default mailbox's is the account's."""
    return service is not Service.WEBMAIL or "@" in identity.user


@dataclass(frozen=True, slots=True)
class PageEntry:
    path: str  # the first segment under /cpsessN/; a home is its whole landing path
    title: str
    link_id: str
    requires: Requirement
    home: bool = False

    @property
    def href(self) -> str:
        """The page's path after `/cpsessN`."""
        return f"/{self.path}" if self.home else f"/{self.path}/"


def _home(service: Service) -> PageEntry:
    return PageEntry(HOMES[service], "Home", "to-home", anyone, home=True)


_TWO_FACTOR = "Two-Factor Authentication"

# in the order the navigation column lists them
PAGES: Final[dict[Service, tuple[PageEntry, ...]]] = {
    Service.WHM: (
        _home(Service.WHM),
        PageEntry("accounts", "List Accounts", "to-accounts", whm1("listaccts")),
        PageEntry("tokens", "Manage API Tokens", "to-tokens", whm1("api_token_list")),
        PageEntry("twofactor", _TWO_FACTOR, "to-twofactor", anyone),
        PageEntry("sessions", "Active Sessions", "to-sessions", whm1("panelauth_list_sessions")),
        PageEntry("accesskey", "Remote Access Key", "to-access-key", whm1("accesshash")),
        PageEntry("cphulk", "Brute Force Protection", "to-hulk", whm1("cphulk_status")),
        PageEntry("security", "Password & Security", "to-security", anyone),
    ),
    Service.CPANEL: (
        _home(Service.CPANEL),
        PageEntry("email", "Email Accounts", "to-email", uapi("Email", "list_pops")),
        PageEntry("tokens", "API Tokens", "to-tokens", uapi("Tokens", "list")),
        PageEntry(
            "twofactor",
            _TWO_FACTOR,
            "to-twofactor",
            uapi("TwoFactorAuth", "get_user_configuration"),
        ),
        PageEntry("sessions", "My Sessions", "to-sessions", uapi("PanelauthSessions", "list")),
        PageEntry("security", "Password & Security", "to-security", anyone),
    ),
    Service.WEBMAIL: (
        _home(Service.WEBMAIL),
        PageEntry(
            "twofactor",
            _TWO_FACTOR,
            "to-twofactor",
            uapi("TwoFactorAuth", "get_user_configuration"),
        ),
        PageEntry("security", "Password", "to-security", own_password),
        PageEntry("sessions", "My Sessions", "to-sessions", uapi("PanelauthSessions", "list")),
    ),
}


def entry_for(service: Service, segments: tuple[str, ...]) -> PageEntry | None:
    """The page a path under `/cpsessN/` names, whether or not its user may open it."""
    whole = "/".join(segments)
    for entry in PAGES[service]:
        if (whole == entry.path) if entry.home else (segments[:1] == (entry.path,)):
            return entry
    return None


async def visible(state: ServerState, service: Service, identity: Identity) -> list[PageEntry]:
    return [entry for entry in PAGES[service] if await entry.requires(state, service, identity)]


@dataclass(frozen=True, slots=True)
class NavLink:
    id: str
    path: str  # after /cpsessN: the token is the frame's, so a rotated session keeps its links
    label: str
    current: bool


@dataclass(frozen=True, slots=True)
class Frame:
    """What every page shows around its own content: the header and the navigation column."""

    service: Service
    user: str
    possessor: str | None
    token: str  # "/cpsessN"
    links: tuple[NavLink, ...]
    transfers: tuple[NavLink, ...]  # the other services this session may open

    @property
    def service_name(self) -> str:
        return pages.SERVICE_NAMES[self.service]


def frame(
    service: Service,
    *,
    user: str,
    possessor: str | None,
    token: str,
    shown: list[PageEntry],
    current: PageEntry,
    transfers: list[pages.Link],
) -> Frame:
    links = tuple(
        NavLink(entry.link_id, entry.href, entry.title, entry is current) for entry in shown
    )
    others = tuple(
        NavLink(link.id, link.href.removeprefix(token), link.label, False) for link in transfers
    )
    return Frame(service, user, possessor, token, links, others)
