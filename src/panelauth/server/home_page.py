"""Each service's home, at the `redirect` of its login answer (w§3.1, issue 12).

WHM's says who the user is and what its privileges allow; cPanel's shows the account's facts;
Webmail's the mailbox. Every home lists the pages its user may open (the navigation column's
links, from server/navigation.py) and offers one sample API call with the session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from panelauth.core.models import Account, Identity, IdentityKind
from panelauth.protocol.services import Service
from panelauth.server.page_call import PageCall
from panelauth.server.state import ServerState

# one line under each link on a home, by the link's id
BLURBS: Final = {
    "to-accounts": "Search the accounts you own; create, suspend, remove, or log in to one.",
    "to-tokens": "Create, list, edit and revoke API tokens for scripts.",
    "to-twofactor": "Protect the login with a code from an authenticator app.",
    "to-sessions": "See who is logged in, from where, and end a session.",
    "to-access-key": "The legacy key for `WHM root:` scripts: show, renew, or make it a token.",
    "to-hulk": "Block addresses that guess passwords; allow and deny lists.",
    "to-security": "Change the password.",
    "to-email": "Mail accounts: add, change passwords, delete, open Webmail.",
}


class HomePage:
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        identity = call.identity
        account = await self.state.runtime.store.get_account(identity.account or identity.user)
        api_path, api_name = _sample_call(call.token, identity)
        return call.render(
            "landing.html",
            heading=f"{call.frame.service_name} Home",
            facts=_facts(call.service, identity, account),
            privileges=_privileges(identity) if call.service is Service.WHM else "",
            blurbs=BLURBS,
            api_path=api_path,
            api_name=api_name,
        )


def _facts(service: Service, identity: Identity, account: Account | None) -> list[tuple[str, str]]:
    if service is Service.WEBMAIL:
        domain = identity.user.partition("@")[2] or (account.domain if account else "")
        return [("Email address", identity.user), ("Domain", domain)]
    if service is Service.WHM:
        role = "root" if identity.is_root else "reseller"
        return [("User", identity.user), ("Role", role)]
    if account is None:
        return [("Account", identity.user)]
    return [
        ("Account", account.user),
        ("Primary domain", account.domain),
        ("Owner", account.owner),
        ("Package", account.plan),
        ("Feature list", account.feature_list),
        ("Contact email", account.contact_email or "none"),
        ("Status", f"suspended: {account.suspend_reason}" if account.suspended else "active"),
        ("Created", _day(account.created_at)),
    ]


def _privileges(identity: Identity) -> str:
    if "all" in identity.acls:
        return "Every privilege (all)."
    return ", ".join(sorted(identity.acls)) + "." if identity.acls else "None."


def _sample_call(token: str, identity: Identity) -> tuple[str, str]:
    if identity.kind in (IdentityKind.ROOT, IdentityKind.RESELLER):
        return f"{token}/json-api/version?api.version=1", "WHM API 1 version"
    return f"{token}/execute/Variables/get_user_information", "UAPI Variables::get_user_information"


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d") if at else "unknown"
