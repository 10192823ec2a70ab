"""WHM API 1: `version`, `applist`, `myprivs`."""

from __future__ import annotations

from typing import Any

from panelauth import __version__
from panelauth.api.context import CallContext
from panelauth.api.registry import Api, Registry
from panelauth.core.acls import ACL_NAMES
from panelauth.protocol.params import Params

registry = Registry()

# The cPanel & WHM version panelauth answers as; clients compare it, so it looks like one.
CPANEL_VERSION = "11.132.0.10"


@registry.whm1("version")
async def version(ctx: CallContext, args: Params) -> dict[str, Any]:
    return {"version": CPANEL_VERSION, "panelauth": __version__}


@registry.whm1("applist")
async def applist(ctx: CallContext, args: Params) -> dict[str, Any]:
    """The functions this caller may use (w§15.1; the legacy form answers `{"app": [...]}`)."""
    catalog = ctx.runtime.functions
    names = [f.name for f in catalog.all(Api.WHM1) if f.acl is None or ctx.identity.has_acl(f.acl)]
    return {"app": names}


@registry.whm1("myprivs")
async def myprivs(ctx: CallContext, args: Params) -> dict[str, Any]:
    privileges = {acl: int(ctx.identity.has_acl(acl)) for acl in sorted(ACL_NAMES)}
    return {"privileges": [privileges]}
