"""Installed certificates in the plugin's storage: one record per domain, key included.

The table `installed` is keyed by the domain a certificate was installed on. A record holds the
owning account, the canonical PEM of the certificate, its key and its CA bundle, and the time
of the install. The key is stored as PEM in panelauth's store, protected as the store is
(docs/ssl.md, "The private keys"); it leaves the storage only for the TLS listeners and for
the owner's own `fetch_best_for_domain`.
"""

from __future__ import annotations

from typing import Any, Final

from panelauth.extension import FunctionFailed, PluginStorage
from panelauth.plugins.ssl.names import covered_by
from panelauth.plugins.ssl.pem import CheckedCertificate, fingerprint, public_key_id
from panelauth.protocol.hostnames import host_name

INSTALLED: Final = "installed"
MAX_PER_ACCOUNT: Final = 100  # installs are per domain and subdomain: bound what one account keeps


async def install(
    storage: PluginStorage, user: str, domain: str, checked: CheckedCertificate, now: float
) -> tuple[dict[str, Any], bool]:
    """Store `checked` for `domain` of `user` (replacing what was there); the record and
    whether it replaced one."""
    table = storage.table(INSTALLED)
    previous = await table.get(domain)
    if previous is None and len(await table.find(user=user)) >= MAX_PER_ACCOUNT:
        raise FunctionFailed(
            f"The account already has {MAX_PER_ACCOUNT} installed certificates; "
            "install over an existing domain's instead."
        )
    record = {
        "domain": domain,
        "user": user,
        "crt": checked.certificate_pem,
        "key": checked.key_pem,
        "cab": checked.bundle_pem,
        "names": checked.names,
        "id": certificate_id(domain, checked),
        "key_id": key_id(checked),
        "installed": int(now),
    }
    await table.put(domain, record)
    return record, previous is not None


async def for_host(storage: PluginStorage, host: str) -> dict[str, Any] | None:
    """The record to serve for `host`: the one installed on `host` itself, else on its parent
    domain when its certificate covers `host` (`www.` and wildcards); None if neither."""
    name = host_name(host)
    if name is None:
        return None
    table = storage.table(INSTALLED)
    for candidate in (name, name.partition(".")[2]):
        if candidate.count(".") < 1:
            break
        record = await table.get(candidate)
        if record is not None and covered_by(list(record.get("names", [])), name):
            return record
    return None


async def of_user(storage: PluginStorage, user: str) -> list[dict[str, Any]]:
    return list((await storage.table(INSTALLED).find(user=user)).values())


async def forget_domain(storage: PluginStorage, user: str, domain: str) -> None:
    """Remove what `user` installed on `domain` and on names under it."""
    table = storage.table(INSTALLED)
    for key in await table.find(user=user):
        if key == domain or key.endswith(f".{domain}"):
            await table.delete(key)


async def forget_user(storage: PluginStorage, user: str) -> None:
    table = storage.table(INSTALLED)
    for key in await table.find(user=user):
        await table.delete(key)


def certificate_id(domain: str, checked: CheckedCertificate) -> str:
    """An id in the shape cPanel's ids have (`<domain>_<5 hex>_<5 hex>_<not after>_<hex>`):
    the domain with `_` for `.` and `-`, then parts of the key's and certificate's hashes."""
    stem = domain.replace(".", "_").replace("-", "_")
    key_hash, certificate_hash = (
        public_key_id(checked.certificate),
        fingerprint(checked.certificate),
    )
    not_after = int(checked.certificate.not_valid_after_utc.timestamp())
    return f"{stem}_{key_hash[:5]}_{certificate_hash[:5]}_{not_after}_{certificate_hash[:32]}"


def key_id(checked: CheckedCertificate) -> str:
    key_hash = public_key_id(checked.certificate)
    return f"{key_hash[:5]}_{key_hash[5:10]}_{key_hash[:32]}"
