"""The accounts' subdomains, in the plugin's table `subdomains` (one record per full name),
and their removal with the account or domain they belong to."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from panelauth.extension import (
    AccountRemoved,
    DomainRemoved,
    FunctionFailed,
    InvalidArgument,
    NotFound,
    PluginServices,
    PluginStorage,
    PluginTable,
)
from panelauth.plugins.domains.names import shown
from panelauth.plugins.domains.plugin import plugin

TABLE = "subdomains"


@dataclass(frozen=True, slots=True)
class Subdomain:
    domain: str  # the full name: blog.example.com
    subdomain: str  # the part before the root domain: blog
    rootdomain: str  # the account's domain it is made under
    user: str  # the account owning it
    dir: str  # document root relative to the home directory: /public_html/blog
    created: float

    @property
    def domainkey(self) -> str:
        """cPanel's key for a subdomain: `blog_example.com`."""
        return f"{self.subdomain}_{self.rootdomain}"


def subdomains(storage: PluginStorage) -> PluginTable:
    return storage.table(TABLE)


def _from_record(record: dict[str, Any]) -> Subdomain:
    return Subdomain(
        domain=str(record["domain"]),
        subdomain=str(record["subdomain"]),
        rootdomain=str(record["rootdomain"]),
        user=str(record["user"]),
        dir=str(record["dir"]),
        created=float(record.get("created", 0)),
    )


async def of_account(storage: PluginStorage, user: str) -> list[Subdomain]:
    """The account's subdomains, by name."""
    found = await subdomains(storage).find(user=user)
    return sorted((_from_record(record) for record in found.values()), key=lambda s: s.domain)


async def add(storage: PluginStorage, subdomain: Subdomain, *, limit: int) -> None:
    """Store a new subdomain; a name already taken or an account at its limit is refused."""
    table = subdomains(storage)
    if await table.get(subdomain.domain) is not None:
        raise InvalidArgument(f"The subdomain “{subdomain.domain}” already exists.")
    if len(await table.find(user=subdomain.user)) >= limit:
        raise FunctionFailed(
            f"The account “{subdomain.user}” has reached its limit of {limit} subdomains."
        )
    await table.put(subdomain.domain, asdict(subdomain))


async def remove(storage: PluginStorage, user: str, name: str) -> Subdomain:
    """Remove the account's subdomain `name` (a full name or a `domainkey`). Another
    account's subdomain is answered as an absent one, so no one learns of it."""
    owned = await of_account(storage, user)
    wanted = name.strip().lower().removesuffix(".")
    for subdomain in owned:
        if wanted in (subdomain.domain, subdomain.domainkey):
            await subdomains(storage).delete(subdomain.domain)
            return subdomain
    raise NotFound(f"The subdomain “{shown(name)}” does not exist.")


@plugin.on(DomainRemoved)
async def forget_domains_subdomains(event: DomainRemoved, services: PluginServices) -> None:
    table = subdomains(services.storage)
    for name in await table.find(user=event.user, rootdomain=event.domain):
        await table.delete(name)


@plugin.on(AccountRemoved)
async def forget_accounts_subdomains(event: AccountRemoved, services: PluginServices) -> None:
    table = subdomains(services.storage)
    for name in await table.find(user=event.user):
        await table.delete(name)
