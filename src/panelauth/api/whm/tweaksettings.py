"""WHM API 1 `get_tweaksetting` and `set_tweaksetting`: the settings every node decides with.

The keys are those of core/shared_settings.py (`TWEAKS`): cPanel's names where cPanel has one
(`requiressl`, `cookieipvalidation`, `allow_deprecated_accesshash`, `log_successful_logins`),
`panelauth_<setting>` where it has none. Answers are cPanel's shapes: `get_tweaksetting` gives
`data.tweaksetting` = `{"key", "value"}`, `set_tweaksetting` answers with `metadata` only.

Root only, as cPHulk: declared with the `all` ACL (the dispatcher refuses a caller without it,
root's restricted tokens included) and refused here for a reseller that holds `all`: these
settings are the server's. Bad input (a missing or unknown key, a value of the wrong form or
out of range, a module other than `Main`) is `result: 0` with a reason, never a 500.

A change is a store write, in force for this worker's next request and on every other worker
and node within a second (core/shared_settings.py), and one `TWEAKSETTING` line in the
accounting log: `TWEAKSETTING:<actor>:<key>:<new value>:<previous value>`.

Nothing here can lock root out: the request that changes `requiressl` has passed the plain-port
rule already and is answered; the rule decides from the next request on, on the plain ports
only (the TLS ports authenticate whatever `requiressl` says), and `panelauth whmapi1
set_tweaksetting key=requiressl value=0` on a node changes it back without HTTP.
"""

from __future__ import annotations

from typing import Any, Final

from panelauth.api.context import CallContext
from panelauth.api.registry import Registry
from panelauth.core.shared_settings import change, check_module, effective, tweak
from panelauth.errors import InvalidArgument, PermissionDenied
from panelauth.protocol.params import Params

registry = Registry()

ROOT_ONLY: Final = "all"
ACCOUNTING_ACTION: Final = "TWEAKSETTING"


def _root(ctx: CallContext, args: Params) -> str:
    """The key a call names, for root only (a reseller holding `all` included)."""
    if not ctx.identity.is_root:
        raise PermissionDenied("Only root may read or change Tweak Settings.")
    check_module(args.get("module"))
    key = args.require("key")
    tweak(key)  # an unknown key is refused, naming the keys served
    return key


@registry.whm1("get_tweaksetting", acl=ROOT_ONLY)
async def get_tweaksetting(ctx: CallContext, args: Params) -> dict[str, Any]:
    """The value in force: the store's, else this node's panelauth.yaml value."""
    key = _root(ctx, args)
    value = await effective(ctx.store, ctx.runtime.shared.node, key)
    return {"tweaksetting": {"key": key, "value": value}}


@registry.whm1("set_tweaksetting", acl=ROOT_ONLY)
async def set_tweaksetting(ctx: CallContext, args: Params) -> None:
    key = _root(ctx, args)
    if "value" not in args:
        raise InvalidArgument("The “value” parameter is required.")
    shared = ctx.runtime.shared
    previous = await effective(ctx.store, shared.node, key)
    stored = await change(shared, ctx.store, key, args["value"])
    ctx.runtime.accounting.record(ACCOUNTING_ACTION, ctx.identity.user, key, stored, previous)
