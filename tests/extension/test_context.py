"""Owner checks a plugin function asks for: root all, a reseller its own, an account itself."""

from __future__ import annotations

from typing import Any

from panelauth.api.context import Runtime
from panelauth.core.models import Account
from panelauth.extension import Params, Plugin, PluginContext
from tests.api.helpers import BOB, ROOT, metadata, reseller_identity, uapi, whm
from tests.extension.conftest import serving

plugin = Plugin("owners", "1")


@plugin.whm1("owners_account", changes_state=False)
async def account_of(ctx: PluginContext, args: Params) -> Any:
    return (await ctx.require_account(args.require("user"))).user


@plugin.whm1("owners_domain", changes_state=False)
async def domain_of(ctx: PluginContext, args: Params) -> Any:
    subdomains = args.get_bool("subdomains")
    return (await ctx.require_domain(args.require("domain"), subdomains=subdomains)).user


@plugin.uapi("Owners", "domain", changes_state=False, sets_password=False)
async def cpanel_domain(ctx: PluginContext, args: Params) -> Any:
    account = await ctx.require_domain(args.require("domain"), subdomains=True)
    assert ctx.account is not None
    return {"owner": account.user, "acting": ctx.account.user, "user": ctx.user}


RES = reseller_identity(frozenset())


async def test_root_manages_every_account_and_learns_what_is_absent(
    runtime: Runtime, bob: Account
) -> None:
    dispatcher = serving(runtime, plugin)
    assert (await whm(dispatcher, ROOT, "owners_account", user="bob")).document["data"] == "bob"
    absent = await whm(dispatcher, ROOT, "owners_account", user="nobody")
    assert metadata(absent)["result"] == 0
    assert metadata(absent)["reason"] == "The account “nobody” does not exist."


async def test_a_reseller_gets_one_refusal_for_foreign_and_absent(
    runtime: Runtime, bob: Account, reseller: Account
) -> None:
    dispatcher = serving(runtime, plugin)
    own = await whm(dispatcher, RES, "owners_account", user="carol")
    assert own.document["data"] == "carol"
    for user in ("bob", "nobody"):
        assert (await whm(dispatcher, RES, "owners_account", user=user)).status == 403
    assert (await whm(dispatcher, RES, "owners_domain", domain="bob.example")).status == 403
    carol = await whm(dispatcher, RES, "owners_domain", domain="CAROL.example.")
    assert carol.document["data"] == "carol"


async def test_a_subdomain_counts_only_when_asked(runtime: Runtime, bob: Account) -> None:
    dispatcher = serving(runtime, plugin)
    name = "_acme-challenge.www.bob.example"
    exact = await whm(dispatcher, ROOT, "owners_domain", domain=name)
    assert metadata(exact)["result"] == 0
    under = await whm(dispatcher, ROOT, "owners_domain", domain=name, subdomains=1)
    assert under.document["data"] == "bob"


async def test_a_cpanel_call_owns_only_the_acting_accounts_domains(
    runtime: Runtime, bob: Account, reseller: Account
) -> None:
    dispatcher = serving(runtime, plugin)
    own = await uapi(dispatcher, BOB, "Owners", "domain", domain="www.bob.example")
    assert own.document["data"] == {"owner": "bob", "acting": "bob", "user": "bob"}
    assert (await uapi(dispatcher, BOB, "Owners", "domain", domain="carol.example")).status == 403
    # root through WHM acting as bob: still bob's domains only
    through = await uapi(
        dispatcher, ROOT, "Owners", "domain", acting_user="bob", domain="carol.example"
    )
    assert through.status == 403


async def test_a_malformed_domain_is_an_invalid_argument(runtime: Runtime, bob: Account) -> None:
    answer = await whm(serving(runtime, plugin), ROOT, "owners_domain", domain="a..b")
    assert metadata(answer)["result"] == 0
    assert "is not a domain name" in metadata(answer)["reason"]
