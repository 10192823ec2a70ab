"""`panelauth export FILE` / `panelauth import FILE`: a whole installation moved SQLite →
PostgreSQL → SQLite, after which its passwords, tokens, access hash and two-factor codes work on
the new store and a code used before the move is refused; the file is private; a non-empty
store, a cut or edited file, or another key file are refused and change nothing.

PostgreSQL is the server of tests/backends/conftest.py, in a fresh schema dropped afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyotp
import pytest
from click.testing import CliRunner

from panelauth.backends import open_store
from panelauth.cli import twofactor as tfa_cli
from panelauth.cli.local import local_state
from panelauth.cli.main import cli
from panelauth.clock import FrozenClock, SystemClock
from panelauth.core.accounts import Accounts
from panelauth.core.authentication import AuthAttempt
from panelauth.core.hulk import CONFIG_SETTING, Failure, HulkConfig, Limits, ListName, Method
from panelauth.core.hulk import address_key as hulk_address_key
from panelauth.core.hulk import user_key as hulk_user_key
from panelauth.core.models import Account, Identity, Mailbox
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import SealedSecret, Store, UsedStep
from panelauth.core.tokens import ApiToken, TokenKind, digest
from panelauth.core.transfer import (
    EVERY_BLOCK,
    KINDS,
    NOT_MOVED_SETTINGS,
    Snapshot,
    TransferError,
    import_snapshot,
    read_snapshot,
)
from panelauth.errors import AuthenticationFailed, PanelauthError, TwoFactorFailed
from panelauth.protocol.authorization import BasicCredentials, HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret
from panelauth.server.datadir import DataDir
from tests.backends.conftest import postgresql_schema, postgresql_server, postgresql_store_url
from tests.e2e.conftest import CHEAP_CONFIG

__all__ = ["postgresql_schema", "postgresql_server", "postgresql_store_url"]

ROOT_PASSWORD = "root-Move-Pw-1"
BOB_PASSWORD = "bob-Move-Pw-1"
BOB_NEW_PASSWORD = "bob-Move-Pw-2"
RES_PASSWORD = "res-Move-Pw-1"
MAIL_PASSWORD = "mail-Move-Pw-1"
RES_TOKEN = "RESTOKEN0123456789ABCDEFGHIJKLMN"
BOB_TOKEN = "BOBTOKEN0123456789ABCDEFGHIJKLMN"
ROOT_TOKEN = "ROOTTOKEN123456789ABCDEFGHIJKLMN"
ACCESS_HASH = "0123456789abcdef" * 8
HERE = "192.0.2.50"  # where the checks come from: allowed everywhere
ELSEWHERE = "192.0.2.99"
BLOCKED = "203.0.113.9"  # blocked by failures before the move
DENIED = "203.0.113.66"  # on the deny list
SESSION_ID = "s" * 32


def run(data_dir: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["--data-dir", str(data_dir), *args],
        env={"PANELAUTH_ROOT_PASSWORD": ROOT_PASSWORD, "PANELAUTH_STORE": ""},
    )
    return result.exit_code, result.output


def new_node(directory: Path, config: str = "") -> Path:
    """A data directory made by `init` (root, its own key file), empty otherwise."""
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG + config)
    code, output = run(directory, "init")
    assert code == 0, output
    return directory


def takes_key_of(target: Path, source: Path) -> None:
    """Copy the two-factor key file, as the operator does before `import`."""
    shutil.copyfile(source / "tfa.key", target / "tfa.key")


def state_of(data_dir: Path) -> Snapshot:
    """Everything the store of `data_dir` holds that an import would write."""

    async def read() -> Snapshot:
        store = await open_store(DataDir(data_dir).store_url, clock=SystemClock())
        try:
            return await read_snapshot(store, blocks_after=EVERY_BLOCK)
        finally:
            await store.aclose()

    return asyncio.run(read())


def records(file: Path) -> dict[str, Any]:
    moved: dict[str, Any] = json.loads(file.read_text())["records"]
    return moved


@dataclass
class Installation:
    data_dir: Path
    totp: pyotp.TOTP  # root's two-factor secret
    used_step: int  # the step of the code root enrolled with


async def populate(data_dir: Path) -> None:
    """One of everything, through the core use cases and the store."""
    async with local_state(DataDir(data_dir)) as state:
        runtime = state.runtime
        store = runtime.store
        accounts = Accounts(store, runtime.passwords, runtime.clock)
        now = time.time()
        await store.save_feature_list("gold", {"webmail": False, "ssh": True})
        # a plugin's own records and schema version (as extension/storage.py writes them)
        await store.put_plugin_record("dns_zones", "table:zones", "bob.example", '{"serial":7}')
        await store.put_plugin_record("example", "kv", "settings", '{"max_note_chars":500}')
        assert await store.set_plugin_version("dns_zones", 0, 3)
        bob = await accounts.create(
            user="bob", domain="bob.example", password=BOB_PASSWORD, owner="res"
        )
        await accounts.change_password("bob", BOB_NEW_PASSWORD)  # credential version 2
        await accounts.create(
            user="res",
            domain="res.example",
            password=RES_PASSWORD,
            owner="root",
            feature_list="gold",
        )
        await accounts.make_reseller("res")
        await accounts.set_acls("res", frozenset({"list-accts", "create-acct", "passwd"}))
        await accounts.add_mailbox(
            bob, local_part="info", domain="bob.example", password=MAIL_PASSWORD, quota_mb=250
        )
        await store.insert_token(
            ApiToken(
                "res",
                TokenKind.WHM,
                "deploy",
                digest(RES_TOKEN),
                int(now),
                expires_at=int(now) + 86_400,
                acls=frozenset({"list-accts"}),
                whitelist_ips=(HERE, "198.51.100.0/24"),
            )
        )
        await store.insert_token(
            ApiToken(
                "bob",
                TokenKind.CPANEL,
                "site",
                digest(BOB_TOKEN),
                int(now),
                whitelist_ips=("192.0.2.0/24",),
            )
        )
        await store.insert_token(ApiToken("root", TokenKind.WHM, "ci", digest(ROOT_TOKEN), 1))
        await store.set_access_hash_digest("root", digest(ACCESS_HASH), int(now))
        await store.set_issuer("res", "Reseller Hosting")
        await store.set_setting(
            CONFIG_SETTING, HulkConfig().with_value("max_failures", 7).to_json()
        )
        await store.add_list_entries(ListName.WHITE, [("198.51.100.0/24", "office")], now)
        await store.add_list_entries(ListName.BLACK, [(f"{DENIED}/32", "known bad")], now)
        limits = Limits(600.0, 1, 900.0, 3600.0, 0, 86_400.0, 300.0, 0, 900.0)
        failure = Failure(
            hulk_address_key(BLOCKED),
            BLOCKED,
            hulk_user_key("bob"),
            "bob",
            "cpaneld",
            Method.PASSWORD,
            now,
        )
        await store.record_failure(failure, limits, recorded=False)  # blocks the address
        await store.insert_session(  # a live session: it does not move
            Session(
                SESSION_ID,
                "0" * 64,
                "bob",
                "bob",
                Service.CPANEL,
                SessionKind.PASSWORD,
                SessionState.ACTIVE,
                "/cpsess0000000001",
                "bob",
                None,
                "handle_form_login",
                HERE,
                now,
                now,
                now + 3600,
            )
        )


def enrol_root(data_dir: Path) -> Installation:
    secrets: list[str] = []

    def answer(qr: str, secret: str) -> str:
        secrets.append(secret)
        return pyotp.TOTP(secret).now()

    asyncio.run(tfa_cli.enrol(DataDir(data_dir), "root", answer))

    async def last_step() -> int | None:
        store = await open_store(DataDir(data_dir).store_url, clock=SystemClock())
        try:
            return await store.last_totp_step("root")
        finally:
            await store.aclose()

    step = asyncio.run(last_step())
    assert step is not None
    return Installation(data_dir, pyotp.TOTP(secrets[0]), step)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Installation:
    data_dir = new_node(tmp_path_factory.mktemp("source") / "data")
    asyncio.run(populate(data_dir))
    return enrol_root(data_dir)


# -- checking what moved ------------------------------------------------------------------------


async def authenticate(data_dir: Path, attempt: AuthAttempt) -> Identity:
    async with local_state(DataDir(data_dir)) as state:
        return await state.authenticator.authenticate(attempt)


def basic(user: str, password: str, service: Service, **extra: Any) -> AuthAttempt:
    address = extra.pop("address", HERE)
    return AuthAttempt(BasicCredentials(user, Secret(password)), service, address, **extra)


def header(scheme: Scheme, user: str, secret: str, address: str = HERE) -> AuthAttempt:
    service = Service.WHM if scheme is Scheme.WHM else Service.CPANEL
    return AuthAttempt(HeaderSecretCredentials(scheme, user, Secret(secret)), service, address)


def works(data_dir: Path, attempt: AuthAttempt) -> Identity:
    return asyncio.run(authenticate(data_dir, attempt))


def refused(data_dir: Path, attempt: AuthAttempt) -> PanelauthError:
    with pytest.raises(PanelauthError) as raised:
        asyncio.run(authenticate(data_dir, attempt))
    return raised.value


def check_credentials_work(data_dir: Path) -> None:
    """Passwords, tokens (ACLs, IP lists) and the access hash; lists and blocks hold."""
    bob = works(data_dir, basic("bob", BOB_NEW_PASSWORD, Service.CPANEL))
    assert bob.user == "bob"
    old = refused(data_dir, basic("bob", BOB_PASSWORD, Service.CPANEL))
    assert isinstance(old, AuthenticationFailed)
    assert works(data_dir, basic("info@bob.example", MAIL_PASSWORD, Service.WEBMAIL)).user == (
        "info@bob.example"
    )
    reseller = works(data_dir, header(Scheme.WHM, "res", RES_TOKEN))
    assert (reseller.user, reseller.acls) == ("res", frozenset({"list-accts"}))
    assert isinstance(
        refused(data_dir, header(Scheme.WHM, "res", RES_TOKEN, "192.0.2.77")), AuthenticationFailed
    )  # outside its IP list
    assert works(data_dir, header(Scheme.CPANEL, "bob", BOB_TOKEN)).user == "bob"
    assert works(data_dir, header(Scheme.WHM, "root", ROOT_TOKEN)).user == "root"
    assert works(data_dir, header(Scheme.WHM, "root", ACCESS_HASH)).user == "root"
    # the deny list and the block moved: what works from HERE is refused from there
    assert isinstance(
        refused(data_dir, header(Scheme.WHM, "root", ROOT_TOKEN, DENIED)), AuthenticationFailed
    )
    blocked = basic("bob", BOB_NEW_PASSWORD, Service.CPANEL, address=BLOCKED)
    assert isinstance(refused(data_dir, blocked), AuthenticationFailed)


def export(data_dir: Path, file: Path) -> str:
    code, output = run(data_dir, "export", str(file))
    assert code == 0, output
    return output


def import_(data_dir: Path, file: Path) -> str:
    code, output = run(data_dir, "import", str(file))
    assert code == 0, output
    return output


# -- the round trip -----------------------------------------------------------------------------


def test_a_round_trip_sqlite_postgresql_sqlite_keeps_everything(
    source: Installation, tmp_path: Path, postgresql_store_url: str
) -> None:
    first = tmp_path / "from-sqlite.json"
    exported = export(source.data_dir, first)
    assert os.stat(first).st_mode & 0o777 == 0o600
    assert "copy that key file to the new installation" in exported
    assert "Sessions were not exported" in exported

    # into PostgreSQL: a node made by init (its own root and key), then the source's key file
    middle = new_node(tmp_path / "pg", f"store: {postgresql_store_url}\n")
    takes_key_of(middle, source.data_dir)
    imported = import_(middle, first)
    rows = imported.splitlines()[1 : 1 + len(KINDS)]
    counts = {line.split()[0]: line.split()[1:] for line in rows}
    assert set(counts) == set(KINDS)
    for kind in ("accounts", "mailboxes", "tokens", "list_entries"):
        assert counts[kind][0] == counts[kind][1] != "0", (kind, imported)
    assert counts["accounts"] == ["3", "3"] and counts["tokens"] == ["3", "3"]
    assert counts["used_steps"] == ["1", "1"] and counts["blocks"] == ["1", "1"]
    assert counts["plugin_records"] == ["2", "2"] and counts["plugin_versions"] == ["1", "1"]
    assert "matches the file" in imported

    second = tmp_path / "from-postgresql.json"
    export(middle, second)
    # and back into SQLite
    last = new_node(tmp_path / "sqlite")
    takes_key_of(last, source.data_dir)
    import_(last, second)
    third = tmp_path / "from-sqlite-again.json"
    export(last, third)

    moved = records(first)
    assert moved == records(second) == records(third)
    assert {a["user"] for a in moved["accounts"]} == {"root", "res", "bob"}
    bob = next(a for a in moved["accounts"] if a["user"] == "bob")
    assert bob["credential_version"] == 2 and bob["password_hash"].startswith("$argon2id$")
    reseller = next(a for a in moved["accounts"] if a["user"] == "res")
    assert reseller["is_reseller"] and reseller["acls"] == ["create-acct", "list-accts", "passwd"]
    assert moved["feature_lists"]["gold"] == {"ssh": True, "webmail": False}
    assert moved["issuers"] == {"res": "Reseller Hosting"}
    assert json.loads(moved["settings"][CONFIG_SETTING])["max_failures"] == 7
    assert not NOT_MOVED_SETTINGS & set(moved["settings"])
    assert moved["plugin_records"] == [
        {
            "namespace": "dns_zones",
            "collection": "table:zones",
            "key": "bob.example",
            "value": '{"serial":7}',
        },
        {
            "namespace": "example",
            "collection": "kv",
            "key": "settings",
            "value": '{"max_note_chars":500}',
        },
    ]
    assert moved["plugin_versions"] == {"dns_zones": 3}
    text = first.read_text()
    for plain in (BOB_NEW_PASSWORD, RES_TOKEN, BOB_TOKEN, ROOT_TOKEN, ACCESS_HASH):
        assert plain not in text  # only hashes, digests and sealed bytes
    assert source.totp.secret not in text

    check_credentials_work(middle)
    check_credentials_work(last)

    # two-factor on the last store: the code root enrolled with was spent before the moves
    used = source.totp.at(source.used_step * 30)
    fresh = source.totp.at((source.used_step + 1) * 30)
    for address in (HERE, ELSEWHERE):
        failed = refused(last, basic("root", ROOT_PASSWORD, Service.WHM, otp=used, address=address))
        assert isinstance(failed, TwoFactorFailed)
    assert works(last, basic("root", ROOT_PASSWORD, Service.WHM, otp=fresh)).user == "root"
    assert isinstance(refused(last, basic("root", ROOT_PASSWORD, Service.WHM)), TwoFactorFailed)

    # sessions stayed behind
    async def session_there() -> bool:
        store = await open_store(DataDir(last).store_url, clock=SystemClock())
        try:
            return await store.get_session(SESSION_ID) is not None
        finally:
            await store.aclose()

    assert not asyncio.run(session_there())


# -- refusals that change nothing ---------------------------------------------------------------


def test_the_file_is_refused_if_it_exists_and_is_private_from_creation(
    source: Installation, tmp_path: Path
) -> None:
    file = tmp_path / "taken.json"
    file.write_text("keep me")
    code, output = run(source.data_dir, "export", str(file))
    assert code == 1 and "exists: refusing to overwrite it" in output
    assert file.read_text() == "keep me"
    fresh = tmp_path / "fresh.json"
    previous = os.umask(0)  # even a permissive umask gives 0600
    try:
        export(source.data_dir, fresh)
    finally:
        os.umask(previous)
    assert os.stat(fresh).st_mode & 0o777 == 0o600


def test_an_import_into_a_store_that_is_not_empty_is_refused_and_changes_nothing(
    source: Installation, tmp_path: Path
) -> None:
    file = tmp_path / "all.json"
    export(source.data_dir, file)
    target = new_node(tmp_path / "used")
    takes_key_of(target, source.data_dir)
    code, output = run(
        target,
        "whmapi1",
        "createacct",
        "username=carol",
        "domain=carol.example",
        "password=carol-Pw-1234",
    )
    assert code == 0, output
    before = state_of(target)
    code, output = run(target, "import", str(file))
    assert code == 1
    assert "the store is not empty: it holds 1 cPanel account(s)" in output
    assert "nothing was imported" in output
    assert state_of(target) == before
    # the source itself is not empty either
    code, output = run(source.data_dir, "import", str(file))
    assert code == 1 and "not empty" in output


@pytest.mark.parametrize("damage", ["cut short", "edited", "resealed by hand", "not json"])
def test_a_damaged_file_is_refused_with_a_clear_message_and_changes_nothing(
    source: Installation, tmp_path: Path, damage: str
) -> None:
    file = tmp_path / "all.json"
    export(source.data_dir, file)
    text = file.read_text()
    if damage == "cut short":
        file.write_text(text[: len(text) // 2])
        expected = "not a complete panelauth export"
    elif damage == "edited":
        document = json.loads(text)
        bob = next(a for a in document["records"]["accounts"] if a["user"] == "bob")
        bob["password_hash"] = bob["password_hash"][:-4] + "AAAA"
        file.write_text(json.dumps(document, indent=1, sort_keys=True))
        expected = "the export was changed after it was written"
    elif damage == "resealed by hand":
        document = json.loads(text)
        document["seal"] = "0" * 64
        file.write_text(json.dumps(document))
        expected = "the export was changed after it was written"
    else:
        file.write_text("accounts: everything\n")
        expected = "not a complete panelauth export"
    target = new_node(tmp_path / "new")
    takes_key_of(target, source.data_dir)
    before = state_of(target)
    code, output = run(target, "import", str(file))
    assert code == 1
    [line] = [x for x in output.splitlines() if x.startswith("Error: ")]
    assert expected in line and line.endswith("nothing was imported"), line
    assert state_of(target) == before


def test_an_import_without_the_installations_key_file_is_refused(
    source: Installation, tmp_path: Path
) -> None:
    file = tmp_path / "all.json"
    export(source.data_dir, file)
    target = new_node(tmp_path / "new")  # its own key, not the source's
    code, output = run(target, "import", str(file))
    assert code == 1
    assert "made with another two-factor key than this installation's" in output
    (target / "tfa.key").unlink()
    code, output = run(target, "import", str(file))
    assert code == 1 and "no two-factor key file" in output


# -- all or nothing, on each backend ------------------------------------------------------------

HASH = "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
INIT_ROOT = Account("root", "root.localhost", "root", HASH, created_at=1.0)


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A store as `init` leaves it: root, and the key id."""
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'empty.db'}"
    else:
        url = str(request.getfixturevalue("postgresql_store_url"))
    store = await open_store(url, clock=FrozenClock(), migrate=True)
    await store.insert_account(INIT_ROOT)
    await store.set_setting("tfa_key_id", "init")
    yield store
    await store.aclose()


def moved(**kinds: Any) -> Snapshot:
    root = replace(INIT_ROOT, password_hash=HASH.replace("aGFz", "b3Ro"), created_at=2.0)
    bob = Account("bob", "bob.example", "root", HASH, created_at=3.0)
    return Snapshot(**{"accounts": (root, bob), "settings": {"tfa_key_id": "file"}, **kinds})


async def test_a_snapshot_is_written_whole_and_read_back(empty_store: Store) -> None:
    snapshot = moved(tokens=(ApiToken("bob", TokenKind.CPANEL, "t", "d", 5),))
    counts = await import_snapshot(empty_store, snapshot)
    assert [(c.kind, c.read, c.written) for c in counts if c.read] == [
        ("accounts", 2, 2),
        ("tokens", 1, 1),
        ("settings", 1, 1),
    ]
    found = await read_snapshot(empty_store, blocks_after=EVERY_BLOCK)
    assert set(found.accounts) == set(snapshot.accounts) and found.tokens == snapshot.tokens
    assert found.settings == {"tfa_key_id": "file"}
    assert found.feature_lists == {}  # init's empty `default` is not in the file: gone


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (
            {"tokens": (ApiToken("ghost", TokenKind.WHM, "t", "d", 5),)},
            "does not exist",
        ),
        (
            {
                "used_steps": (
                    UsedStep("bob", 9, "session", HERE, 1.0),
                    UsedStep("bob", 9, "header", HERE, 2.0),
                )
            },
            "the used step 9 of “bob” was refused",
        ),
        (
            {"mailboxes": (Mailbox("a@bob.example", "bob", HASH, created_at=0.0),)},
            "the store does not hold what the file does after writing (mailboxes: 1 read, 1 "
            "written): nothing was imported",
        ),
    ],
    ids=["a write refused", "a step refused", "a difference read back"],
)
async def test_any_failure_while_importing_rolls_everything_back(
    empty_store: Store, broken: dict[str, Any], message: str
) -> None:
    before = await read_snapshot(empty_store, blocks_after=EVERY_BLOCK)
    with pytest.raises((TransferError, PanelauthError)) as raised:
        await import_snapshot(empty_store, moved(**broken))
    error = raised.value
    assert message in (error.message if isinstance(error, PanelauthError) else str(error))
    after = await read_snapshot(empty_store, blocks_after=EVERY_BLOCK)
    assert after == before  # init's root and key id included: nothing was written
    assert (await empty_store.get_account("root")) == INIT_ROOT


@pytest.mark.parametrize(
    ("change", "held"),
    [
        (lambda s: s.set_password_hash("root", HASH, rotate=True), "a root account changed"),
        (lambda s: s.set_suspended("root", True, "x"), "a root account changed"),
        (lambda s: s.set_issuer("root", "Example"), "1 two-factor issuer(s)"),
        (lambda s: s.save_feature_list("default", {"ssh": False}), "the feature list “default”"),
        (lambda s: s.save_feature_list("gold", {}), "the feature list “gold”"),
        (
            lambda s: s.add_list_entries(ListName.WHITE, [("192.0.2.0/24", "")], 1.0),
            "1 allow or deny list entr(y/ies)",
        ),
        (lambda s: s.insert_tfa_secret(SealedSecret("root", b"x", 1.0)), "1 two-factor conf"),
        (lambda s: s.use_totp_step("root", 5, "session", HERE, 1.0), "1 used two-factor step"),
        (lambda s: s.set_access_hash_digest("root", "d", 1), "1 access hash(es)"),
    ],
)
async def test_anything_but_what_init_makes_is_not_empty(
    empty_store: Store, change: Callable[[Store], Awaitable[object]], held: str
) -> None:
    await change(empty_store)
    with pytest.raises(TransferError, match="the store is not empty") as raised:
        await import_snapshot(empty_store, moved())
    assert held in str(raised.value)
