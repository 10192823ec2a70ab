"""The domains plugin served over a test runtime: answers shaped as the clients parse them."""

from __future__ import annotations

from typing import Any

import pytest

from panelauth.api.answers import Answer
from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.core.models import Account, CredentialKind, Identity, IdentityKind
from panelauth.core.stores import Store
from panelauth.plugins.domains import plugin
from tests.api.helpers import BOB, ROOT, metadata, uapi, whm
from tests.extension.conftest import serving

CAROL = Identity("carol", IdentityKind.CPANEL, CredentialKind.PASSWORD, "carol")


@pytest.fixture
def served(runtime: Runtime, bob: Account) -> Dispatcher:
    return serving(runtime, plugin)


async def add(dispatcher: Dispatcher, label: str, **args: Any) -> Answer:
    args.setdefault("rootdomain", "bob.example")
    return await uapi(dispatcher, BOB, "SubDomain", "addsubdomain", domain=label, **args)


async def listed(dispatcher: Dispatcher, identity: Identity = BOB, **args: Any) -> list[Any]:
    answer = await uapi(dispatcher, identity, "SubDomain", "listsubdomains", api=Api.API2, **args)
    assert answer.document["cpanelresult"]["event"] == {"result": 1}
    rows: list[Any] = answer.document["cpanelresult"]["data"]
    return rows


async def test_addsubdomain_then_listsubdomains_gives_the_rows_o2switch_reads(
    served: Dispatcher,
) -> None:
    added = await add(served, "Blog", dir="/public_html/blog")
    assert (added.status, added.document["status"], added.document["data"]) == (200, 1, None)
    assert await listed(served) == [
        {
            "domain": "blog.bob.example",
            "subdomain": "blog",
            "rootdomain": "bob.example",
            "domainkey": "blog_bob.example",
            "dir": "/home/bob/public_html/blog",
            "basedir": "public_html/blog",
            "reldir": "home:public_html/blog",
            "status": "not redirected",
        }
    ]


async def test_api2_addsubdomain_answers_in_api2s_envelope(served: Dispatcher) -> None:
    answer = await uapi(
        served,
        BOB,
        "SubDomain",
        "addsubdomain",
        api=Api.API2,
        domain="shop",
        rootdomain="bob.example",
    )
    result = answer.document["cpanelresult"]
    assert result["event"] == {"result": 1}
    assert result["data"][0]["result"] == 1
    assert [row["dir"] for row in await listed(served)] == ["/home/bob/public_html/shop"]


@pytest.mark.parametrize(
    ("label", "args", "error"),
    [
        ("-bad", {}, "is not a valid subdomain"),
        ("a" * 64, {}, "is not a valid subdomain"),
        ("under_score", {}, "is not a valid subdomain"),
        ("line\r\nbreak", {}, "is not a valid subdomain"),
        ("ok", {"dir": "/etc"}, "must be inside “public_html”"),
        ("ok", {"dir": "/public_html/../x"}, "may not contain “..”"),
        ("ok", {"dir": "/public_html/a\nb"}, "The “dir” parameter is a path"),
        ("ok", {"canoff": "maybe"}, "The “canoff” parameter must be 1 or 0."),
        (".".join(["abcdefghij"] * 23), {}, "at most 253 characters"),
    ],
)
async def test_bad_names_and_paths_are_refused_in_the_envelope(
    served: Dispatcher, label: str, args: dict[str, str], error: str
) -> None:
    answer = await add(served, label, **args)
    assert (answer.status, answer.document["status"]) == (200, 0)
    assert error in answer.document["errors"][0]
    assert await listed(served) == []


async def test_disallowdot_removes_the_dots_and_deeper_names_are_kept_whole(
    served: Dispatcher,
) -> None:
    await add(served, "a.b", disallowdot="1")
    await add(served, "x.y")
    assert [row["domain"] for row in await listed(served)] == ["ab.bob.example", "x.y.bob.example"]


async def test_a_subdomain_is_added_once(served: Dispatcher) -> None:
    await add(served, "blog")
    again = await add(served, "BLOG")
    assert again.document["errors"] == ["The subdomain “blog.bob.example” already exists."]


async def test_the_root_domain_must_be_the_callers(
    served: Dispatcher, accounts: Any, root: Account
) -> None:
    await accounts.create(
        user="carol", domain="carol.example", password="c-Passw0rd!", owner="root"
    )
    foreign = await add(served, "x", rootdomain="carol.example")
    absent = await add(served, "x", rootdomain="nowhere.example")
    assert foreign.status == absent.status == 403
    assert foreign.document["errors"] == absent.document["errors"]
    await add(served, "blog")
    nested = await add(served, "x", rootdomain="blog.bob.example")
    assert "is a subdomain" in nested.document["errors"][0]


async def test_the_limit_per_account_is_a_setting(served: Dispatcher) -> None:
    changed = await whm(served, ROOT, "domains_settings", max_subdomains="1")
    assert changed.document["data"]["max_subdomains"] == 1
    await add(served, "one")
    refused = await add(served, "two")
    assert refused.document["errors"] == [
        "The account “bob” has reached its limit of 1 subdomains."
    ]


async def test_delsubdomain_by_name_or_domainkey_and_only_ones_own(
    served: Dispatcher, accounts: Any, root: Account
) -> None:
    await accounts.create(
        user="carol", domain="carol.example", password="c-Passw0rd!", owner="root"
    )
    await add(served, "one")
    await add(served, "two")
    foreign = await uapi(
        served, CAROL, "SubDomain", "delsubdomain", api=Api.API2, domain="one.bob.example"
    )
    assert foreign.document["cpanelresult"]["event"]["result"] == 0
    assert "does not exist" in foreign.document["cpanelresult"]["error"]
    for name in ("one.bob.example", "two_bob.example"):
        removed = await uapi(served, BOB, "SubDomain", "delsubdomain", api=Api.API2, domain=name)
        assert removed.document["cpanelresult"]["data"][0]["result"] == 1
    assert await listed(served) == []


async def test_the_subdomains_feature_gates_the_functions(served: Dispatcher, store: Store) -> None:
    await store.save_feature_list("default", {"subdomains": False})
    answer = await add(served, "blog")
    assert answer.status == 403
    assert "subdomains" in answer.document["errors"][-1]


async def test_removing_the_account_removes_its_subdomains(
    served: Dispatcher, accounts: Any, root: Account
) -> None:
    await add(served, "blog")
    removed = await whm(served, ROOT, "removeacct", user="bob")
    assert metadata(removed)["result"] == 1
    await accounts.create(user="bob", domain="bob.example", password="b-Passw0rd!", owner="root")
    assert await listed(served) == []


async def test_domains_data_as_hash_is_what_cpanelgo_reads(served: Dispatcher) -> None:
    await add(served, "blog")
    answer = await uapi(served, BOB, "DomainInfo", "domains_data", format="hash")
    data = answer.document["data"]
    assert (data["addon_domains"], data["parked_domains"]) == ([], [])
    main = data["main_domain"]
    assert (main["domain"], main["type"], main["user"]) == ("bob.example", "main_domain", "bob")
    assert (main["documentroot"], main["homedir"], main["ip"]) == (
        "/home/bob/public_html",
        "/home/bob",
        "192.0.2.1",
    )
    [sub] = data["sub_domains"]
    assert (sub["domain"], sub["type"], sub["documentroot"], sub["servername"]) == (
        "blog.bob.example",
        "sub_domain",
        "/home/bob/public_html/blog",
        "blog.bob.example",
    )
    assert sub["serveralias"] == "www.blog.bob.example"


async def test_domains_data_as_list_and_the_address_setting(served: Dispatcher) -> None:
    await whm(served, ROOT, "domains_settings", ip="203.0.113.7")
    await add(served, "blog")
    answer = await uapi(served, BOB, "DomainInfo", "domains_data", format="list")
    assert [(d["domain"], d["type"], d["ip"]) for d in answer.document["data"]] == [
        ("bob.example", "main_domain", "203.0.113.7"),
        ("blog.bob.example", "sub_domain", "203.0.113.7"),
    ]
    bad = await uapi(served, BOB, "DomainInfo", "domains_data", format="xml")
    assert bad.document["errors"] == ["The “format” parameter must be “hash” or “list”."]


async def test_has_feature_answers_in_status_as_cpanel_does(
    served: Dispatcher, store: Store
) -> None:
    await store.save_feature_list("default", {"popaccts": False})
    enabled = await uapi(served, BOB, "Features", "has_feature", name="subdomains")
    lacking = await uapi(served, BOB, "Features", "has_feature", name="popaccts")
    unknown = await uapi(served, BOB, "Features", "has_feature", name="no_such_feature")
    assert [a.document["status"] for a in (enabled, lacking, unknown)] == [1, 0, None]
    assert [a.document["errors"] for a in (enabled, lacking, unknown)] == [None] * 3
    assert lacking.document["messages"] == ["The feature “popaccts” exists but is not enabled."]
    assert enabled.document["messages"] is None and unknown.document["messages"] is None
    bad = await uapi(served, BOB, "Features", "has_feature", name="a\nb")
    assert (bad.document["status"], bad.status) == (0, 200)


async def test_ssh_port_defaults_to_22_and_follows_the_setting(served: Dispatcher) -> None:
    before = await uapi(served, BOB, "SSH", "get_port")
    assert before.document["data"] == {"port": 22}
    await whm(served, ROOT, "domains_settings", ssh_port="2222")
    after = await uapi(served, BOB, "SSH", "get_port")
    assert after.document["data"] == {"port": 2222}


@pytest.mark.parametrize(
    "change", [{"ssh_port": "0"}, {"ssh_port": "9" * 5000}, {"ip": "not-an-ip"}]
)
async def test_settings_are_checked_and_root_only(
    served: Dispatcher, change: dict[str, str]
) -> None:
    refused = await whm(served, ROOT, "domains_settings", **change)
    assert metadata(refused)["result"] == 0
    assert (await uapi(served, BOB, "SSH", "get_port")).document["data"] == {"port": 22}
