"""The certificate source the TLS listeners ask by server name (SNI), and the clean-up that
follows the accounts' domains."""

from __future__ import annotations

from panelauth.extension import (
    AccountRemoved,
    CertificatePair,
    DomainRemoved,
    PluginServices,
)
from panelauth.plugins.ssl import records
from panelauth.plugins.ssl.declaration import plugin
from panelauth.plugins.ssl.pem import parse_stored


@plugin.certificates
async def certificate_for(server_name: str, services: PluginServices) -> CertificatePair | None:
    """(chain, key) installed for `server_name`, unless it has expired since its install (then
    the listeners' own certificate is served rather than one every client refuses)."""
    record = await records.for_host(services.storage, server_name)
    if record is None:
        return None
    leaf = parse_stored(record["crt"])[0]
    if leaf.not_valid_after_utc.timestamp() < services.clock.now():
        return None
    return record["crt"] + record["cab"], record["key"]


@plugin.on(DomainRemoved)
async def forget_domain(event: DomainRemoved, services: PluginServices) -> None:
    await records.forget_domain(services.storage, event.user, event.domain)


@plugin.on(AccountRemoved)
async def forget_account(event: AccountRemoved, services: PluginServices) -> None:
    await records.forget_user(services.storage, event.user)
