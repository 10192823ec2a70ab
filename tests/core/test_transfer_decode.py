"""An export file read back: every malformed field, kind and header is refused in one line that
names it, even when the file was sealed again after the change (core/transfer.py `decode`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from panelauth.backends import open_store
from panelauth.clock import FrozenClock
from panelauth.core import transfer
from panelauth.core.hulk import Block, ListEntry, ListName
from panelauth.core.models import Account, Mailbox
from panelauth.core.secretbox import KEY_ID_SETTING, key_id
from panelauth.core.stores import AccessHash, PluginRecord, SealedSecret, UsedStep
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.core.transfer import Snapshot, TransferError, decode, encode

KEY = bytes(range(32))
SNAPSHOT = Snapshot(
    accounts=(Account("root", "host.example", "root", "$argon2id$x", created_at=5.0),),
    mailboxes=(Mailbox("info@host.example", "root", "$argon2id$y", quota_mb=10, created_at=5.0),),
    feature_lists={"default": {"apitokens": True}},
    tokens=(ApiToken("root", TokenKind.WHM, "t", "d" * 128, 1, 2, frozenset({"all"}), ("::1",)),),
    access_hashes=(AccessHash("root", "e" * 128, 3),),
    tfa_secrets=(SealedSecret("root", b"\x00\x01sealed", 4.0),),
    used_steps=(UsedStep("root", 5, "session", "127.0.0.1", 6.0),),
    issuers={"root": "Host"},
    settings={KEY_ID_SETTING: key_id(KEY)},
    list_entries=(ListEntry(ListName.WHITE, "10.0.0.0/8", "office", 7.0),),
    blocks=(Block("address", "ip4:1.2.3.4", "1.2.3.4", 8.0, 9.0, False, "cpaneld", "p", ""),),
    plugin_records=(PluginRecord("dns_zones", "table:zones", "host.example", '{"serial":1}'),),
    plugin_versions={"dns_zones": 2},
)


def document() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(encode(SNAPSHOT, KEY, created_at=1.0, source="test"))
    return parsed


def resealed(changed: dict[str, Any]) -> bytes:
    """The document as a forger with the key would write it: sealed again after the change."""
    changed.pop("seal", None)
    changed["seal"] = transfer._seal(KEY, changed)
    return json.dumps(changed).encode()


def test_an_export_reads_back_as_it_was_written() -> None:
    assert decode(encode(SNAPSHOT, KEY, created_at=1.0, source="test"), KEY) == (
        transfer.canonical(SNAPSHOT)
    )


@pytest.mark.parametrize(
    ("kind", "name", "value", "expected"),
    [
        ("accounts", "user", 7, "a string"),
        ("accounts", "credential_version", True, "an integer"),
        ("accounts", "created_at", "soon", "a number"),
        ("accounts", "suspended", "no", "true or false"),
        ("accounts", "acls", [1], "a list of strings"),
        ("tokens", "kind", "ftp", "whm or cpanel"),
        ("tokens", "expires_at", "never", "an integer"),
        ("tokens", "whitelist_ips", "::1", "a list of strings"),
        ("tfa_secrets", "sealed", "not base64!", "base64"),
        ("list_entries", "list", "grey", "white or black"),
    ],
)
def test_a_wrong_field_is_refused_by_name(
    kind: str, name: str, value: object, expected: str
) -> None:
    changed = document()
    changed["records"][kind][0][name] = value
    with pytest.raises(TransferError, match=rf"^{kind}\[0\]\.{name}: expected {expected}$"):
        decode(resealed(changed), KEY)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("accounts", {"user": "root"}, "accounts: expected a list of records"),
        ("mailboxes", [{"address": "x"}], r"mailboxes\[0\]: expected the fields "),
        ("settings", {"a": 1}, "settings: expected a mapping of strings"),
        ("feature_lists", {"default": {"x": "yes"}}, "feature_lists: expected a mapping of "),
        ("plugin_versions", [], "plugin_versions: expected a mapping of versions"),
        ("plugin_versions", {"dns_zones": -1}, r"plugin_versions\['dns_zones'\]: "),
        ("plugin_versions", {"dns\nzones": 1}, r"plugin_versions\['dns\\nzones'\]: "),
        (
            "plugin_records",
            [{"namespace": "x", "collection": "kv", "key": "k", "value": "not json"}],
            r"plugin_records\[0\]: ",
        ),
        (
            "plugin_records",
            [{"namespace": "x", "collection": "kv", "key": "a\r\nb", "value": "1"}],
            r"plugin_records\[0\]: ",
        ),
        ("plugin_records", [{"namespace": "x"}], r"plugin_records\[0\]: expected the fields "),
    ],
)
def test_a_wrong_kind_is_refused_by_name(kind: str, value: object, message: str) -> None:
    changed = document()
    changed["records"][kind] = value
    with pytest.raises(TransferError, match=message):
        decode(resealed(changed), KEY)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="zip"), "not a panelauth export"),
        (lambda d: d.update(version=99), "this panelauth reads versions 1 to 2"),
        (lambda d: d.update(version="2"), "this panelauth reads versions 1 to 2"),
        (lambda d: d["records"].pop("blocks"), "the export's records are not the kinds"),
        (lambda d: d["counts"].update(accounts=2), "counts do not match"),
        (lambda d: d["records"].update(accounts=[]), "has no root account"),
        (
            lambda d: d["records"]["settings"].update({KEY_ID_SETTING: "0" * 32}),
            "sealed with another key",
        ),
    ],
)
def test_a_wrong_header_or_whole_is_refused(change: Any, message: str) -> None:
    changed = document()
    change(changed)
    if "accounts" in changed["records"] and not changed["records"]["accounts"]:
        changed["counts"]["accounts"] = 0
    with pytest.raises(TransferError, match=message):
        decode(resealed(changed), KEY)


def test_a_version_1_export_without_plugin_records_is_still_read() -> None:
    old = document()
    old["version"] = 1
    for kind in ("plugin_records", "plugin_versions"):
        del old["records"][kind], old["counts"][kind]
    snapshot = decode(resealed(old), KEY)
    assert snapshot.plugin_records == () and snapshot.plugin_versions == {}
    assert snapshot.accounts == SNAPSHOT.accounts
    with_kinds = document()
    with_kinds["version"] = 1  # version 1 has no plugin kinds: refused, not guessed at
    with pytest.raises(TransferError, match="the export's records are not the kinds"):
        decode(resealed(with_kinds), KEY)


def test_an_unsealed_edited_or_cut_file_or_another_key_is_refused() -> None:
    data = encode(SNAPSHOT, KEY, created_at=1.0, source="test")
    with pytest.raises(TransferError, match="cut short"):
        decode(data[:-20], KEY)
    with pytest.raises(TransferError, match="not a JSON document"):
        decode(b'{"created_at": NaN}', KEY)
    unsealed = document()
    unsealed.pop("seal")
    with pytest.raises(TransferError, match="no seal"):
        decode(json.dumps(unsealed).encode(), KEY)
    edited = document()
    edited["source"] = "elsewhere"
    with pytest.raises(TransferError, match="changed after it was written"):
        decode(json.dumps(edited).encode(), KEY)
    with pytest.raises(TransferError, match="another two-factor key"):
        decode(data, bytes(32))


async def test_a_store_sealed_with_another_key_is_not_exported() -> None:
    store = await open_store("sqlite://:memory:", migrate=True, clock=FrozenClock(10.0))
    try:
        await store.set_setting(KEY_ID_SETTING, key_id(bytes(32)))
        with pytest.raises(TransferError, match="sealed with another key"):
            await transfer.export_snapshot(store, now=10.0, tfa_key_id=key_id(KEY))
    finally:
        await store.aclose()


async def test_an_import_into_a_store_without_root_writes_every_record() -> None:
    """A store nobody initialised (no root yet) is empty too; the file's root becomes its root."""
    store = await open_store("sqlite://:memory:", migrate=True, clock=FrozenClock(10.0))
    try:
        counts = await transfer.import_snapshot(store, SNAPSHOT)
        assert all(count.read == count.written for count in counts)
        assert {count.kind: count.written for count in counts}["accounts"] == 1
        root = await store.get_account("root")
        assert root is not None and root.domain == "host.example"
        assert await store.get_plugin_record("dns_zones", "table:zones", "host.example") == (
            '{"serial":1}'
        )
        assert await store.get_plugin_version("dns_zones") == 2
    finally:
        await store.aclose()


async def test_an_import_replaces_records_and_versions_plugins_wrote_after_init() -> None:
    """A new store's plugin migrations may have run already: the file's state wins, and the
    store's other records stay."""
    store = await open_store("sqlite://:memory:", migrate=True, clock=FrozenClock(10.0))
    try:
        assert await store.set_plugin_version("dns_zones", 0, 1)
        await store.put_plugin_record("dns_zones", "table:zones", "host.example", "{}")
        await store.put_plugin_record("dns_zones", "kv", "defaults", '{"ttl":14400}')
        counts = await transfer.import_snapshot(store, SNAPSHOT)
        assert all(count.read == count.written for count in counts)
        assert await store.get_plugin_version("dns_zones") == 2
        assert await store.list_plugin_records("dns_zones", "table:zones") == [
            ("host.example", '{"serial":1}')
        ]
        assert await store.get_plugin_record("dns_zones", "kv", "defaults") == '{"ttl":14400}'
    finally:
        await store.aclose()


async def test_an_import_whose_plugin_version_moves_meanwhile_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plugin's migration running on another node during the import: refused, rolled back."""
    store = await open_store("sqlite://:memory:", migrate=True, clock=FrozenClock(10.0))
    try:

        async def moved(namespace: str, expected: int, new: int) -> bool:
            return False

        monkeypatch.setattr(store, "set_plugin_version", moved)
        with pytest.raises(TransferError, match="the plugin “dns_zones” changed its version"):
            await transfer.import_snapshot(store, SNAPSHOT)
        assert await store.get_account("root") is None
        assert await store.list_all_plugin_records() == []
    finally:
        await store.aclose()
