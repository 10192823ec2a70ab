"""The SSL functions: UAPI `SSL::install_ssl`, `list_certs`, `fetch_best_for_domain`,
`start_autossl_check`, and API 2 `SSL::installssl` (docs/ssl.md)."""

from __future__ import annotations

from typing import Any

from panelauth.extension import (
    Account,
    InvalidArgument,
    Params,
    PermissionDenied,
    PluginContext,
)
from panelauth.plugins.ssl import answers, records
from panelauth.plugins.ssl.declaration import plugin
from panelauth.plugins.ssl.names import require_host_name
from panelauth.plugins.ssl.pem import CheckedCertificate, check

# cPanel's feature names for these functions; a feature no feature list names is on
INSTALL_FEATURE = "sslinstall"
MANAGE_FEATURE = "sslmanager"
AUTOSSL_FEATURE = "autossl"


@plugin.uapi("SSL", "install_ssl", changes_state=True, sets_password=False, feature=INSTALL_FEATURE)
async def install_ssl(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """Install `cert` with `key` (and `cabundle`) on `domain`, one of the account's."""
    account, domain = await _own_domain(ctx, args)
    checked = _checked(args, "cert", domain, ctx)
    record, replaced = await records.install(ctx.storage, account.user, domain, checked, _now(ctx))
    ctx.log.info("certificate %s installed on %s by %s", record["id"], domain, ctx.user)
    return answers.installed(record, replaced=replaced)


@plugin.api2("SSL", "installssl", changes_state=True, sets_password=False, feature=INSTALL_FEATURE)
async def installssl(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    """API 2: as `install_ssl` with the certificate in `crt`; a refused certificate is a row
    with `result` 0 (its clients read the reason there), a foreign domain a 403."""
    account, domain = await _own_domain(ctx, args)
    try:
        checked = _checked(args, "crt", domain, ctx)
    except InvalidArgument as refused:
        return answers.refused_api2(str(refused))
    record, replaced = await records.install(ctx.storage, account.user, domain, checked, _now(ctx))
    ctx.log.info("certificate %s installed on %s by %s", record["id"], domain, ctx.user)
    return answers.installed_api2(record, replaced=replaced)


@plugin.uapi("SSL", "list_certs", changes_state=False, sets_password=False, feature=MANAGE_FEATURE)
async def list_certs(ctx: PluginContext, args: Params) -> list[dict[str, Any]]:
    """The account's installed certificates, by domain (never a key)."""
    account = _acting(ctx)
    found = await records.of_user(ctx.storage, account.user)
    return [answers.listed(record) for record in sorted(found, key=lambda r: str(r["domain"]))]


@plugin.uapi(
    "SSL",
    "fetch_best_for_domain",
    changes_state=False,
    sets_password=False,
    feature=MANAGE_FEATURE,
)
async def fetch_best_for_domain(ctx: PluginContext, args: Params) -> dict[str, Any]:
    """The certificate served for `domain`, with its key and CA bundle (nulls if none)."""
    account, domain = await _own_domain(ctx, args)
    record = await records.for_host(ctx.storage, domain)
    if record is not None and record["user"] != account.user:
        record = None  # a parent domain's record of another account is not this one's
    return answers.best(record)


@plugin.uapi(
    "SSL",
    "start_autossl_check",
    changes_state=False,
    sets_password=False,
    feature=AUTOSSL_FEATURE,
)
async def start_autossl_check(ctx: PluginContext, args: Params) -> None:
    """panelauth has no AutoSSL provider: nothing to queue, answered as cPanel answers a
    check that has nothing to do (`data` null, status 1)."""
    _acting(ctx)


async def _own_domain(ctx: PluginContext, args: Params) -> tuple[Account, str]:
    domain = require_host_name(args.require("domain"))
    account = await ctx.require_domain(domain, subdomains=True)
    return account, domain


def _checked(
    args: Params, certificate_arg: str, domain: str, ctx: PluginContext
) -> CheckedCertificate:
    certificate = args.require(certificate_arg)
    key = args.require("key")
    return check(certificate, key, args.get("cabundle", "") or "", domain=domain, now=_now(ctx))


def _acting(ctx: PluginContext) -> Account:
    if ctx.account is None:  # UAPI and API 2 always act on an account; kept for the type
        raise PermissionDenied()
    return ctx.account


def _now(ctx: PluginContext) -> float:
    return ctx.clock.now()
