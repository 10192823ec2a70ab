"""The plugin's settings: the server's address, the SSH port and the subdomain limit.

Kept in the plugin's storage (so every node agrees), written with defaults by migration 1, and
read or changed by root with the WHM API 1 function `domains_settings`
(`panelauth whmapi1 domains_settings ssh_port=2222`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, replace
from typing import Any

from panelauth.extension import InvalidArgument, Params, PluginContext, PluginStorage
from panelauth.plugins.domains.plugin import plugin

SETTINGS_KEY = "settings"
# 192.0.2.1 (TEST-NET-1, RFC 5737): an address that is no one's, until root names the real one
DEFAULT_IP = "192.0.2.1"
DEFAULT_SSH_PORT = 22
DEFAULT_MAX_SUBDOMAINS = 100
MAX_SUBDOMAINS_CEILING = 10_000  # what one account's list can hold and still answer quickly


@dataclass(frozen=True, slots=True)
class DomainSettings:
    ip: str = DEFAULT_IP  # the address domains_data reports for every domain
    ssh_port: int = DEFAULT_SSH_PORT  # what SSH::get_port answers
    max_subdomains: int = DEFAULT_MAX_SUBDOMAINS  # per account


async def load_settings(storage: PluginStorage) -> DomainSettings:
    stored = await storage.get(SETTINGS_KEY)
    if not isinstance(stored, dict):
        return DomainSettings()
    known = {key: stored[key] for key in asdict(DomainSettings()) if key in stored}
    return DomainSettings(**known)


@plugin.migration(1)
async def write_defaults(storage: PluginStorage) -> None:
    await storage.put(SETTINGS_KEY, asdict(DomainSettings()))


@plugin.whm1("domains_settings", acl="all", changes_state=True)
async def domains_settings(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """The settings after the change the arguments ask for (none given: as they are)."""
    current = await load_settings(ctx.storage)
    changes: dict[str, Any] = {}
    if (ip := args.get("ip")) is not None:
        changes["ip"] = _ip(ip)
    if (port := args.get("ssh_port")) is not None:
        changes["ssh_port"] = _bounded_int("ssh_port", port, 1, 65535)
    if (limit := args.get("max_subdomains")) is not None:
        changes["max_subdomains"] = _bounded_int("max_subdomains", limit, 0, MAX_SUBDOMAINS_CEILING)
    if changes:
        current = replace(current, **changes)
        await ctx.storage.put(SETTINGS_KEY, asdict(current))
        ctx.log.info("domains_settings: %s changed by %s", ", ".join(sorted(changes)), ctx.user)
    return asdict(current)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidArgument(f"“{value[:64]}” is not an IP address.") from None


def _bounded_int(name: str, value: str, low: int, high: int) -> int:
    text = value.strip()
    # digits only, and few of them: int() of a huge string is slow and then refused
    if not (text.isascii() and text.isdigit() and len(text) <= 6 and low <= int(text) <= high):
        raise InvalidArgument(
            f"The “{name}” parameter must be a whole number from {low} to {high}."
        )
    return int(text)
