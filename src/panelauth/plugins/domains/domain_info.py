"""UAPI `DomainInfo::domains_data`: the account's main domain and subdomains, with the fields
of cPanel's web virtual host data. panelauth keeps no web server, so the fields it does not know
are derived (docs/domains.md, "DomainInfo::domains_data")."""

from __future__ import annotations

from typing import Any

from panelauth.extension import Account, InvalidArgument, Params, PluginContext
from panelauth.plugins.domains import subdomains
from panelauth.plugins.domains.plugin import plugin
from panelauth.plugins.domains.settings import load_settings
from panelauth.plugins.domains.subdomain_api import HOME, acting
from panelauth.plugins.domains.subdomains import Subdomain

FORMATS = ("hash", "list")


def virtual_host(
    account: Account, *, domain: str, kind: str, docroot: str, ip: str
) -> dict[str, Any]:
    """One domain's entry: the same keys for the main domain and a subdomain."""
    home = f"{HOME}/{account.user}"
    return {
        "domain": domain,
        "type": kind,
        "user": account.user,
        "owner": account.owner,
        "group": account.user,
        "homedir": home,
        "documentroot": home + docroot,
        "servername": domain,
        "serveralias": f"www.{domain}",
        "serveradmin": f"webmaster@{domain}",
        "ip": ip,
        "ipv6": None,
        "port": "80",
        "hascgi": 1,
        "phpopenbasedirprotect": 1,
        "usecanonicalname": "Off",
        "userdirprotect": "",
    }


def main_domain(account: Account, ip: str) -> dict[str, Any]:
    entry = virtual_host(
        account, domain=account.domain, kind="main_domain", docroot="/public_html", ip=ip
    )
    entry["serveralias"] = f"mail.{account.domain} www.{account.domain}"
    return entry


def sub_domain(account: Account, subdomain: Subdomain, ip: str) -> dict[str, Any]:
    return virtual_host(
        account, domain=subdomain.domain, kind="sub_domain", docroot=subdomain.dir, ip=ip
    )


@plugin.uapi("DomainInfo", "domains_data", changes_state=False, sets_password=False)
async def domains_data(ctx: PluginContext, args: Params) -> Any:
    account = acting(ctx)
    shape = args.get("format") or "hash"
    if shape not in FORMATS:
        raise InvalidArgument("The “format” parameter must be “hash” or “list”.")
    ip = (await load_settings(ctx.storage)).ip
    main = main_domain(account, ip)
    subs = [
        sub_domain(account, s, ip) for s in await subdomains.of_account(ctx.storage, account.user)
    ]
    if shape == "list":
        return [main, *subs]
    return {"main_domain": main, "addon_domains": [], "parked_domains": [], "sub_domains": subs}
