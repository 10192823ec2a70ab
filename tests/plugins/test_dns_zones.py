"""The dns_zones plugin through the real dispatcher: API 2 ZoneEdit, UAPI DNS, WHM export."""

from __future__ import annotations

import base64
import json
from typing import Any

from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.api.registry import Api
from panelauth.core.models import Account
from panelauth.plugins.dns_zones import plugin
from tests.api.helpers import BOB, ROOT, metadata, reseller_identity, uapi, whm
from tests.extension.conftest import serving


def zones(runtime: Runtime) -> Dispatcher:
    return serving(runtime, plugin)


async def api2(dispatcher: Dispatcher, function: str, **args: Any) -> dict[str, Any]:
    answer = await uapi(dispatcher, BOB, "ZoneEdit", function, api=Api.API2, **args)
    result: dict[str, Any] = answer.document["cpanelresult"]
    return result


async def dns(dispatcher: Dispatcher, function: str, **args: Any) -> dict[str, Any]:
    answer = await uapi(dispatcher, BOB, "DNS", function, **args)
    assert answer.status == 200
    document: dict[str, Any] = answer.document
    return document


def decoded(entry: dict[str, Any]) -> tuple[str, list[str]]:
    return (
        base64.b64decode(entry["dname_b64"]).decode(),
        [base64.b64decode(field).decode() for field in entry["data_b64"]],
    )


async def test_an_existing_account_gets_its_default_zone_on_first_use(
    runtime: Runtime, bob: Account
) -> None:
    result = await api2(zones(runtime), "fetchzone_records", domain="bob.example")
    assert result["event"]["result"] == 1
    seen = {(r["type"], r["name"]) for r in result["data"]}
    assert {
        ("SOA", "bob.example."),
        ("NS", "bob.example."),
        ("A", "bob.example."),
        ("A", "www.bob.example."),
        ("A", "mail.bob.example."),
        ("MX", "bob.example."),
        ("TXT", "bob.example."),
    } <= seen
    addresses = {r["address"] for r in result["data"] if r["type"] == "A"}
    assert addresses == {"192.0.2.1"}
    soa = next(r for r in result["data"] if r["type"] == "SOA")
    assert len(soa["serial"]) == 10 and soa["Line"] == soa["line"] == 2


async def test_certbot_dns_cpanel_adds_finds_and_removes_its_challenge(
    runtime: Runtime, bob: Account
) -> None:
    dispatcher = zones(runtime)
    listed = await api2(dispatcher, "fetchzones")
    assert "bob.example" in listed["data"][0]["zones"]
    token = "x" * 43
    added = await api2(
        dispatcher,
        "add_zone_record",
        domain="bob.example",
        name="_acme-challenge",
        type="TXT",
        txtdata=token,
        ttl=60,
    )
    assert added["data"][0]["result"]["status"] == 1
    found = await api2(
        dispatcher,
        "fetchzone_records",
        domain="bob.example",
        name="_acme-challenge.bob.example.",
        type="TXT",
        txtdata=token,
        ttl=60,
    )
    assert [r["txtdata"] for r in found["data"]] == [token]
    line = found["data"][0]["line"]
    removed = await api2(dispatcher, "remove_zone_record", domain="bob.example", line=line)
    assert removed["data"][0]["result"]["status"] == 1
    again = await api2(
        dispatcher, "fetchzone_records", domain="bob.example", type="TXT", txtdata=token
    )
    assert again["data"] == []


async def test_every_change_bumps_the_serial_and_lines_stay_put(
    runtime: Runtime, bob: Account
) -> None:
    dispatcher = zones(runtime)
    first = await api2(dispatcher, "fetchzone", domain="bob.example")
    serial = int(first["data"][0]["serialnum"])
    www = next(r for r in first["data"][0]["record"] if r["name"] == "www.bob.example.")
    added = await api2(
        dispatcher, "add_zone_record", domain="bob.example", name="a", type="A", address="192.0.2.7"
    )
    new_line = int(added["data"][0]["result"]["statusmsg"].split()[-1].rstrip("."))
    await api2(dispatcher, "remove_zone_record", domain="bob.example", line=www["Line"])
    after = await api2(dispatcher, "fetchzone", domain="bob.example")
    assert int(after["data"][0]["serialnum"]) == serial + 2
    lines = {r["name"]: r["Line"] for r in after["data"][0]["record"]}
    assert lines["a.bob.example."] == new_line
    assert "www.bob.example." not in lines
    edited = await api2(
        dispatcher, "edit_zone_record", domain="bob.example", Line=new_line, address="192.0.2.8"
    )
    assert edited["data"][0]["result"]["newserial"] == str(serial + 3)
    final = await api2(dispatcher, "fetchzone_records", domain="bob.example", name="a")
    assert [(r["address"], r["Line"]) for r in final["data"]] == [("192.0.2.8", new_line)]


async def test_bad_records_are_refused_in_the_api2_envelope(runtime: Runtime, bob: Account) -> None:
    dispatcher = zones(runtime)
    cases = [
        {"name": "bad name!", "type": "A", "address": "192.0.2.1"},
        {"name": "x", "type": "HINFO", "address": "192.0.2.1"},
        {"name": "x", "type": "A", "address": "999.1.1.1"},
        {"name": "x", "type": "A", "address": "192.0.2.1", "ttl": "0"},
        {"name": "x", "type": "A", "address": "192.0.2.1", "ttl": "forever"},
        {"name": "x", "type": "TXT", "txtdata": "a\r\nb"},
        {"name": "x", "type": "MX", "exchange": "mail.bob.example", "preference": "70000"},
        {"name": "www.other.example.", "type": "A", "address": "192.0.2.1"},
        {"name": "www", "type": "CNAME", "cname": "bob.example"},  # www has an A record
    ]
    before = await api2(dispatcher, "fetchzone", domain="bob.example")
    for case in cases:
        refused = await api2(dispatcher, "add_zone_record", domain="bob.example", **case)
        assert refused["event"]["result"] == 0, case
        assert refused["error"], case
    after = await api2(dispatcher, "fetchzone", domain="bob.example")
    assert after["data"][0]["serialnum"] == before["data"][0]["serialnum"]
    soa_line = next(r["Line"] for r in after["data"][0]["record"] if r["type"] == "SOA")
    kept = await api2(dispatcher, "remove_zone_record", domain="bob.example", line=soa_line)
    assert kept["event"]["result"] == 0


async def test_long_txt_values_are_split_and_joined_back(runtime: Runtime, bob: Account) -> None:
    dispatcher = zones(runtime)
    value = "v" * 600
    await api2(
        dispatcher, "add_zone_record", domain="bob.example", name="long", type="TXT", txtdata=value
    )
    found = await api2(dispatcher, "fetchzone_records", domain="bob.example", name="long")
    assert found["data"][0]["txtdata"] == value
    parsed = await dns(dispatcher, "parse_zone", zone="bob.example")
    entry = next(
        e for e in parsed["data"] if e.get("dname_b64") and decoded(e)[0] == "long.bob.example."
    )
    assert [len(s) for s in decoded(entry)[1]] == [255, 255, 90]


async def test_another_accounts_domain_is_forbidden(
    runtime: Runtime, bob: Account, root: Account
) -> None:
    answer = await uapi(
        zones(runtime), BOB, "ZoneEdit", "fetchzone_records", api=Api.API2, domain="root.localhost"
    )
    assert answer.status == 403
    parsed = await uapi(zones(runtime), BOB, "DNS", "parse_zone", zone="nobody.example")
    assert parsed.status == 403


async def test_o2switch_upsert_through_parse_zone_and_mass_edit_zone(
    runtime: Runtime, bob: Account
) -> None:
    dispatcher = zones(runtime)
    parsed = await dns(dispatcher, "parse_zone", zone="bob.example")
    assert parsed["status"] == 1
    soa = next(e for e in parsed["data"] if e.get("record_type") == "SOA")
    serial = int(decoded(soa)[1][2])
    www = next(
        e
        for e in parsed["data"]
        if e.get("record_type") == "A" and decoded(e)[0] == "www.bob.example."
    )
    edit = {
        "line_index": www["line_index"],
        "record_type": "A",
        "dname": "www.bob.example",
        "ttl": 300,
        "data": ["192.0.2.9"],
    }
    add = {"record_type": "A", "dname": "api.bob.example", "ttl": 300, "data": ["192.0.2.10"]}
    done = await dns(
        dispatcher,
        "mass_edit_zone",
        zone="bob.example",
        serial=serial,
        edit=json.dumps(edit),
        add=json.dumps(add),
    )
    assert done["status"] == 1
    assert int(done["data"]["new_serial"]) == serial + 1
    stale = await dns(
        dispatcher, "mass_edit_zone", zone="bob.example", serial=serial, add=json.dumps(add)
    )
    assert stale["status"] == 0
    assert "does not match" in stale["errors"][0]
    again = await dns(dispatcher, "parse_zone", zone="bob.example")
    named = {
        decoded(e)[0]: (decoded(e)[1], e["ttl"], e["line_index"])
        for e in again["data"]
        if e.get("record_type") == "A"
    }
    assert named["www.bob.example."] == (["192.0.2.9"], 300, www["line_index"])
    assert named["api.bob.example."][0] == ["192.0.2.10"]


async def test_mass_edit_zone_is_all_or_nothing(runtime: Runtime, bob: Account) -> None:
    dispatcher = zones(runtime)
    parsed = await dns(dispatcher, "parse_zone", zone="bob.example")
    soa = next(e for e in parsed["data"] if e.get("record_type") == "SOA")
    serial = decoded(soa)[1][2]
    good = json.dumps({"record_type": "A", "dname": "ok", "ttl": 300, "data": ["192.0.2.1"]})
    bad = json.dumps(
        {"record_type": "A", "dname": "x.other.example.", "ttl": 300, "data": ["192.0.2.1"]}
    )
    refused = await dns(
        dispatcher, "mass_edit_zone", zone="bob.example", serial=serial, add__0=good, add__1=bad
    )
    assert refused["status"] == 0
    assert "outside the zone" in refused["errors"][0]
    unchanged = await dns(dispatcher, "parse_zone", zone="bob.example")
    assert unchanged["data"] == parsed["data"]


async def test_zones_follow_account_creation_and_removal(runtime: Runtime, root: Account) -> None:
    dispatcher = zones(runtime)
    created = await whm(
        dispatcher,
        ROOT,
        "createacct",
        username="dana",
        domain="dana.example",
        password="dana-Passw0rd!",
    )
    assert metadata(created)["result"] == 1
    assert await plugin_zone(runtime, "dana.example") is not None
    await whm(dispatcher, ROOT, "removeacct", user="dana")
    assert await plugin_zone(runtime, "dana.example") is None


async def plugin_zone(runtime: Runtime, domain: str) -> dict[str, Any] | None:
    from panelauth.extension import PluginStorage

    return await PluginStorage(runtime.store, "dns_zones").table("zones").get(domain)


async def test_export_zone_files_gives_bind_text_to_root_and_owning_resellers(
    runtime: Runtime, bob: Account, reseller: Account
) -> None:
    dispatcher = zones(runtime)
    answer = await whm(dispatcher, ROOT, "export_zone_files", zone="bob.example")
    assert metadata(answer)["result"] == 1
    [entry] = answer.document["data"]["payload"]
    text = base64.b64decode(entry["text_b64"]).decode()
    lines = text.splitlines()
    assert entry["zone"] == "bob.example"
    assert lines[0] == "$TTL 14400"
    assert "\tIN\tSOA\tns1.bob.example. hostmaster.bob.example. " in lines[1]
    assert 'bob.example.\t14400\tIN\tTXT\t"v=spf1 +a +mx ip4:192.0.2.1 ~all"' in lines
    res = reseller_identity(frozenset({"edit-dns"}))
    foreign = await whm(dispatcher, res, "export_zone_files", zone="bob.example")
    assert foreign.status == 403
    own = await whm(dispatcher, res, "export_zone_files", zone="carol.example")
    assert metadata(own)["result"] == 1
