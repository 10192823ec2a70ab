"""Moving a whole installation between stores: `panelauth export FILE` / `panelauth import FILE`
(cli/transfer.py; docs/moving.md for operators). Storage-agnostic: it reads and writes through
the store contract only, so any backend moves to any other.

What moves: every account (root included) with its password hash and credential version,
mailboxes, feature lists, API tokens of both kinds (their digests, ACLs, IP lists and expiry),
access hash digests, two-factor secrets exactly as sealed, two-factor issuers, the remembered
used TOTP steps (so a code used before the move is refused after it, TF-2), every setting (the
two-factor policy, cPHulk's configuration, the key id, ...), the allow and deny lists, the
blocks and locks in force, and the plugins' records and schema versions (format version 2; a
version 1 file, which has none, is still read). Only what the store holds: hashes, digests and
sealed bytes, never a password, token or two-factor secret in the clear. The two-factor secrets
stay sealed with the installation's key file (tfa.key, outside the store, TF-8), which must go
with the file; the file is sealed with it too (below).

What does not move, by choice:
* sessions, single-use login URLs and hand-off tokens (which are sessions): users log in again.
  A session is a live bearer credential bound to the server that made it; a move is a
  maintenance step with the servers stopped, a new store may keep its sessions elsewhere (a
  split store's Redis) and an old one is not retired at once. Moving them would let a cookie
  outlive the installation it was issued by; leaving them behind fails closed.
* the history of failed logins and wrong codes (counting windows of minutes to hours) and the
  addresses root last logged in from (which only exempt root from blocks): the blocks and locks
  they led to move, so nothing blocked is unblocked; the counts start again.
* the setting `session_generation` (NOT_MOVED_SETTINGS): it belongs to the sessions of a split
  store (backends/redis_sessions.py); without it the new store starts a generation of its own.

The format: one JSON document (a `format` name and `version`, when and from what kind of store
it was made, the id of the two-factor key, the count of each kind, the records by kind, and a
seal). One document rather than JSON lines: an installation's records are small (a few hundred
bytes each), so the whole file is read before anything is written, and a file cut short is never
valid JSON: it cannot be half imported. The seal is an HMAC-SHA-256, under a key derived from
the two-factor key file, of the document's canonical JSON (sorted keys, no spaces): an edited,
truncated or reordered file is refused, and so is a file read with another key file (which could
not open its two-factor secrets anyway). Whoever holds the key file can make a file that passes;
it is a check of integrity and of the right key, not a signature.

Importing: into an empty store only (`require_empty`): no cPanel account (so no mailbox), no API
token, access hash, two-factor secret, used step, issuer, list entry or block (ended or not), no
feature list but an empty `default`, and root absent or as `init` made it (its password never
changed, not suspended). A root made by `init` is replaced by the file's; settings the file has
replace the store's (the key id `init` wrote among them), the store's others stay; so do plugin
records and versions (the plugins' migrations may have run on the new store already: the file's
state of each record and version wins). Everything happens in one transaction of the store
(TransferStore.transaction: SQLite and PostgreSQL, a split store's durable store): the emptiness
check, every write, then a reading back of every kind compared with the file, record by record.
Any failure, a difference among them, rolls all of it back: the store is left exactly as it was."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from panelauth.core.hulk import Block, ListEntry, ListName
from panelauth.core.models import ROOT, Account, Mailbox
from panelauth.core.secretbox import KEY_ID_SETTING, key_id
from panelauth.core.stores import (
    AccessHash,
    PluginRecord,
    SealedSecret,
    Store,
    UsedStep,
    check_plugin_address,
    check_plugin_value,
    check_plugin_version,
)
from panelauth.core.tokens import ApiToken, TokenKind
from panelauth.errors import InvalidArgument

FORMAT: Final = "panelauth-export"
VERSION: Final = 2  # 2 added the plugins' records and versions
# the split store's session generation (redis_sessions.GENERATION_SETTING): sessions stay behind
NOT_MOVED_SETTINGS: Final = frozenset({"session_generation"})
KINDS: Final = (
    "accounts",
    "mailboxes",
    "feature_lists",
    "tokens",
    "access_hashes",
    "tfa_secrets",
    "used_steps",
    "issuers",
    "settings",
    "list_entries",
    "blocks",
    "plugin_records",
    "plugin_versions",
)
KINDS_OF_VERSION: Final = {1: KINDS[:11], 2: KINDS}
_SEAL_KEY_LABEL: Final = b"panelauth export seal"
EVERY_BLOCK: Final = 0.0  # list_blocks(EVERY_BLOCK): every block, ended or not (times are > 0)


class TransferError(Exception):
    """An export or import refused; the message is one line for the user."""


@dataclass(frozen=True)
class Snapshot:
    """Everything that moves, each kind in one canonical order (whatever the store's)."""

    accounts: tuple[Account, ...] = ()
    mailboxes: tuple[Mailbox, ...] = ()
    feature_lists: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    tokens: tuple[ApiToken, ...] = ()
    access_hashes: tuple[AccessHash, ...] = ()
    tfa_secrets: tuple[SealedSecret, ...] = ()
    used_steps: tuple[UsedStep, ...] = ()
    issuers: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, str] = field(default_factory=dict)
    list_entries: tuple[ListEntry, ...] = ()
    blocks: tuple[Block, ...] = ()
    plugin_records: tuple[PluginRecord, ...] = ()
    plugin_versions: Mapping[str, int] = field(default_factory=dict)

    def kind(self, name: str) -> tuple[Any, ...] | Mapping[str, Any]:
        value: tuple[Any, ...] | Mapping[str, Any] = getattr(self, name)
        return value

    def counts(self) -> dict[str, int]:
        return {name: len(self.kind(name)) for name in KINDS}


@dataclass(frozen=True, slots=True)
class KindCount:
    """One kind of an import: records read from the file, found in the store after writing."""

    kind: str
    read: int
    written: int


# -- reading a store ----------------------------------------------------------------------------


async def read_snapshot(store: Store, *, blocks_after: float) -> Snapshot:
    """Every record that moves (blocks ending after `blocks_after`), canonically ordered. Call
    it inside `store.transaction()` for one consistent view."""
    root = await store.get_account(ROOT)
    accounts = [*([root] if root is not None else []), *await store.list_accounts()]
    settings = await store.list_settings()
    return canonical(
        Snapshot(
            accounts=tuple(accounts),
            mailboxes=tuple([m for a in accounts for m in await store.list_mailboxes(a.user)]),
            feature_lists={
                name: await store.get_feature_list(name) or {}
                for name in await store.list_feature_lists()
            },
            tokens=tuple(await store.list_all_tokens()),
            access_hashes=tuple(await store.list_access_hashes()),
            tfa_secrets=tuple(await store.list_tfa_secrets()),
            used_steps=tuple(await store.list_used_steps()),
            issuers=await store.list_issuers(),
            settings={k: v for k, v in settings.items() if k not in NOT_MOVED_SETTINGS},
            list_entries=(await store.hulk_view()).entries,
            blocks=tuple(await store.list_blocks(blocks_after)),
            plugin_records=tuple(await store.list_all_plugin_records()),
            plugin_versions=await store.list_plugin_versions(),
        )
    )


def canonical(snapshot: Snapshot) -> Snapshot:
    """`snapshot` with each kind in one order, whatever a store's or a file's (used steps
    oldest first per user, as they are written back)."""
    return Snapshot(
        accounts=tuple(sorted(snapshot.accounts, key=lambda a: a.user)),
        mailboxes=tuple(sorted(snapshot.mailboxes, key=lambda m: m.address)),
        feature_lists={
            name: dict(sorted(features.items()))
            for name, features in sorted(snapshot.feature_lists.items())
        },
        tokens=tuple(sorted(snapshot.tokens, key=lambda t: (t.owner, t.kind.value, t.name))),
        access_hashes=tuple(sorted(snapshot.access_hashes, key=lambda h: h.user)),
        tfa_secrets=tuple(sorted(snapshot.tfa_secrets, key=lambda s: s.user)),
        used_steps=tuple(sorted(snapshot.used_steps, key=lambda u: (u.user, u.step))),
        issuers=dict(sorted(snapshot.issuers.items())),
        settings=dict(sorted(snapshot.settings.items())),
        list_entries=tuple(
            sorted(snapshot.list_entries, key=lambda e: (e.list_name.value, e.network))
        ),
        blocks=tuple(sorted(snapshot.blocks, key=lambda b: (b.kind, b.key))),
        plugin_records=tuple(
            sorted(snapshot.plugin_records, key=lambda r: (r.namespace, r.collection, r.key))
        ),
        plugin_versions=dict(sorted(snapshot.plugin_versions.items())),
    )


async def export_snapshot(store: Store, *, now: float, tfa_key_id: str) -> Snapshot:
    """The store's records, read in one read-only transaction (one snapshot; writers go on);
    the blocks in force at `now`. TransferError if the store's two-factor secrets are sealed
    with another key than the one named `tfa_key_id` (the file would be useless)."""
    async with store.transaction(read_only=True):
        snapshot = await read_snapshot(store, blocks_after=now)
    named = snapshot.settings.get(KEY_ID_SETTING)
    if named is not None and named != tfa_key_id:
        raise TransferError(
            "the store's two-factor secrets are sealed with another key than this node's key "
            "file: export from a node of this installation"
        )
    return snapshot


# -- writing a store ----------------------------------------------------------------------------


async def import_snapshot(store: Store, snapshot: Snapshot) -> list[KindCount]:
    """Write `snapshot` into an empty store, all or nothing (see the module's doc); the count
    of each kind read and found written. TransferError (nothing written) if the store is not
    empty or does not hold exactly the file's records afterwards."""
    snapshot = canonical(snapshot)
    async with store.transaction():
        await require_empty(store)
        await _write(store, snapshot)
        found = await read_snapshot(store, blocks_after=EVERY_BLOCK)
        return compare(snapshot, found)


async def require_empty(store: Store) -> None:
    """TransferError naming what the store holds unless it is empty (the module's doc)."""
    held: list[str] = []

    def count(number: int, what: str) -> None:
        if number:
            held.append(f"{number} {what}")

    accounts = await store.list_accounts()
    count(len(accounts), "cPanel account(s)")
    root = await store.get_account(ROOT)
    if root is not None:
        if root.credential_version != 1 or root.suspended:
            held.append("a root account changed since init")
        count(len(await store.list_mailboxes(ROOT)), "mailbox(es) of root")
    count(len(await store.list_all_tokens()), "API token(s)")
    count(len(await store.list_access_hashes()), "access hash(es)")
    count(len(await store.list_tfa_secrets()), "two-factor configuration(s)")
    count(len(await store.list_used_steps()), "used two-factor step(s)")
    count(len(await store.list_issuers()), "two-factor issuer(s)")
    count(len((await store.hulk_view()).entries), "allow or deny list entr(y/ies)")
    count(len(await store.list_blocks(EVERY_BLOCK)), "brute-force block(s)")
    for name in await store.list_feature_lists():
        if name != "default" or await store.get_feature_list(name):
            held.append(f"the feature list “{name}”")
    if held:
        raise TransferError(
            f"the store is not empty: it holds {', '.join(held)}; import only into a new store "
            "(one `panelauth init` made, or none)"
        )


async def _write(store: Store, snapshot: Snapshot) -> None:
    await _write_accounts(store, snapshot)
    await _write_two_factor(store, snapshot)
    for key, value in snapshot.settings.items():
        await store.set_setting(key, value)
    for entry in snapshot.list_entries:  # one at a time: each keeps its own creation time
        await store.add_list_entries(
            entry.list_name, [(entry.network, entry.comment)], entry.created_at
        )
    for block in snapshot.blocks:
        await store.insert_block(block)
    for record in snapshot.plugin_records:
        await store.put_plugin_record(record.namespace, record.collection, record.key, record.value)
    for namespace, version in snapshot.plugin_versions.items():
        current = await store.get_plugin_version(namespace)
        if not await store.set_plugin_version(namespace, current, version):
            raise TransferError(f"the plugin “{namespace}” changed its version meanwhile")


async def _write_accounts(store: Store, snapshot: Snapshot) -> None:
    """Accounts and what they own: mailboxes, tokens, access hashes; and the feature lists."""
    if await store.get_account(ROOT) is not None:
        await store.delete_account(ROOT)  # init's root: the file's replaces it
    for account in snapshot.accounts:
        await store.insert_account(account)
    for mailbox in snapshot.mailboxes:
        await store.insert_mailbox(mailbox)
    for name in await store.list_feature_lists():
        if name not in snapshot.feature_lists:
            await store.delete_feature_list(name)
    for name, features in snapshot.feature_lists.items():
        await store.save_feature_list(name, dict(features))
    for token in snapshot.tokens:
        await store.insert_token(token)
    for access_hash in snapshot.access_hashes:
        await store.set_access_hash_digest(
            access_hash.user, access_hash.digest, access_hash.created_at
        )


async def _write_two_factor(store: Store, snapshot: Snapshot) -> None:
    for secret in snapshot.tfa_secrets:
        await store.insert_tfa_secret(secret)
    for used in snapshot.used_steps:  # oldest first per user, as they were spent
        if not await store.use_totp_step(
            used.user, used.step, used.context, used.address, used.used_at
        ):
            raise TransferError(f"the used step {used.step} of “{used.user}” was refused")
    for owner, issuer in snapshot.issuers.items():
        await store.set_issuer(owner, issuer)


def compare(expected: Snapshot, found: Snapshot) -> list[KindCount]:
    """Each kind's count read (`expected`, the file's) and written (`found`, read back from
    the store); TransferError naming every kind whose records differ. Settings, plugin records
    and plugin versions: the file's, as in the file (the store may keep others of its own)."""
    counts: list[KindCount] = []
    differ: list[KindCount] = []
    for name in KINDS:
        wanted, got = expected.kind(name), found.kind(name)
        if name in ("settings", "plugin_versions"):
            assert isinstance(wanted, Mapping) and isinstance(got, Mapping)
            written = sum(1 for key, value in wanted.items() if got.get(key) == value)
            same = written == len(wanted)
        elif name == "plugin_records":
            held = set(got)
            written = sum(1 for record in wanted if record in held)
            same = written == len(wanted)
        else:
            written = len(got)
            same = wanted == got
        counts.append(KindCount(name, len(wanted), written))
        if not same:
            differ.append(counts[-1])
    if differ:
        shown = ", ".join(f"{c.kind}: {c.read} read, {c.written} written" for c in differ)
        raise TransferError(
            f"the store does not hold what the file does after writing ({shown}): "
            "nothing was imported"
        )
    return counts


# -- the file -----------------------------------------------------------------------------------


def encode(snapshot: Snapshot, key: bytes, *, created_at: float, source: str) -> bytes:
    """The export file's bytes: the sealed document (see the module's doc)."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": created_at,
        "source": source,
        "tfa_key_id": key_id(key),
        "counts": snapshot.counts(),
        "records": {name: _ENCODERS[name](snapshot.kind(name)) for name in KINDS},
    }
    document["seal"] = _seal(key, document)
    text = json.dumps(document, indent=1, sort_keys=True, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("ascii")


def decode(data: bytes, key: bytes) -> Snapshot:
    """The snapshot of an export file read with the installation's key file; TransferError
    (one line) for anything but a complete, unchanged export sealed with that key."""
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError):
        raise TransferError(
            "not a complete panelauth export: it is not a JSON document (cut short?)"
        ) from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TransferError("not a panelauth export (no `format: panelauth-export`)")
    version = document.get("version")
    kinds = KINDS_OF_VERSION.get(version) if isinstance(version, int) else None
    if kinds is None:
        raise TransferError(
            f"export format version {version!r}: this panelauth reads versions 1 to {VERSION}"
        )
    seal = document.pop("seal", None)
    if not isinstance(seal, str):
        raise TransferError("the export has no seal: refused")
    if document.get("tfa_key_id") != key_id(key):
        raise TransferError(
            "the export was made with another two-factor key than this installation's: copy the "
            "key file (tfa.key) of the installation it came from here first"
        )
    if not hmac.compare_digest(seal, _seal(key, document)):
        raise TransferError("the export was changed after it was written (its seal does not match)")
    records = document.get("records")
    if not isinstance(records, dict) or set(records) != set(kinds):
        raise TransferError(f"the export's records are not the kinds {', '.join(kinds)}")
    snapshot = canonical(Snapshot(**{name: _DECODERS[name](records[name], name) for name in kinds}))
    counts = snapshot.counts()
    if document.get("counts") != {name: counts[name] for name in kinds}:
        raise TransferError("the export's counts do not match its records")
    if not any(account.user == ROOT for account in snapshot.accounts):
        raise TransferError("the export has no root account: not a whole installation")
    named = snapshot.settings.get(KEY_ID_SETTING)
    if named is not None and named != key_id(key):
        raise TransferError("the export's two-factor secrets are sealed with another key")
    return snapshot


def _seal(key: bytes, document: Mapping[str, Any]) -> str:
    sealing_key = hmac.new(key, _SEAL_KEY_LABEL, hashlib.sha256).digest()
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hmac.new(sealing_key, canonical.encode("ascii"), hashlib.sha256).hexdigest()


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number")


# -- records as JSON ----------------------------------------------------------------------------


def _accounts(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "user": a.user,
            "domain": a.domain,
            "owner": a.owner,
            "password_hash": a.password_hash,
            "plan": a.plan,
            "feature_list": a.feature_list,
            "contact_email": a.contact_email,
            "suspended": a.suspended,
            "suspend_reason": a.suspend_reason,
            "is_reseller": a.is_reseller,
            "acls": sorted(a.acls),
            "created_at": a.created_at,
            "credential_version": a.credential_version,
        }
        for a in records
    ]


def _mailboxes(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "address": m.address,
            "account": m.account,
            "password_hash": m.password_hash,
            "quota_mb": m.quota_mb,
            "suspended_login": m.suspended_login,
            "created_at": m.created_at,
            "credential_version": m.credential_version,
        }
        for m in records
    ]


def _tokens(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "owner": t.owner,
            "kind": t.kind.value,
            "name": t.name,
            "digest": t.digest,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "acls": None if t.acls is None else sorted(t.acls),
            "whitelist_ips": None if t.whitelist_ips is None else list(t.whitelist_ips),
        }
        for t in records
    ]


def _access_hashes(records: Any) -> list[dict[str, Any]]:
    return [{"user": h.user, "digest": h.digest, "created_at": h.created_at} for h in records]


def _tfa_secrets(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "user": s.user,
            "sealed": base64.b64encode(s.sealed).decode("ascii"),
            "created_at": s.created_at,
        }
        for s in records
    ]


def _used_steps(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "user": u.user,
            "step": u.step,
            "context": u.context,
            "address": u.address,
            "used_at": u.used_at,
        }
        for u in records
    ]


def _list_entries(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "list": e.list_name.value,
            "network": e.network,
            "comment": e.comment,
            "created_at": e.created_at,
        }
        for e in records
    ]


def _blocks(records: Any) -> list[dict[str, Any]]:
    return [
        {
            "kind": b.kind,
            "key": b.key,
            "shown": b.shown,
            "blocked_at": b.blocked_at,
            "until": b.until,
            "excessive": b.excessive,
            "service": b.service,
            "method": b.method,
            "notes": b.notes,
        }
        for b in records
    ]


def _mapping(records: Any) -> dict[str, Any]:
    return {
        key: dict(value) if isinstance(value, Mapping) else value for key, value in records.items()
    }


def _plugin_records(records: Any) -> list[dict[str, Any]]:
    return [
        {"namespace": r.namespace, "collection": r.collection, "key": r.key, "value": r.value}
        for r in records
    ]


_ENCODERS: dict[str, Callable[[Any], Any]] = {
    "accounts": _accounts,
    "mailboxes": _mailboxes,
    "feature_lists": _mapping,
    "tokens": _tokens,
    "access_hashes": _access_hashes,
    "tfa_secrets": _tfa_secrets,
    "used_steps": _used_steps,
    "issuers": _mapping,
    "settings": _mapping,
    "list_entries": _list_entries,
    "blocks": _blocks,
    "plugin_records": _plugin_records,
    "plugin_versions": _mapping,
}


class _Record:
    """One record of the file, read field by field with its type checked; every problem is a
    TransferError naming the record (`accounts[3]: ...`)."""

    def __init__(self, raw: Any, where: str, names: tuple[str, ...]) -> None:
        if not isinstance(raw, dict) or set(raw) != set(names):
            raise TransferError(f"{where}: expected the fields {', '.join(names)}")
        self._raw, self._where = raw, where

    def _wrong(self, name: str, expected: str) -> TransferError:
        return TransferError(f"{self._where}.{name}: expected {expected}")

    def text(self, name: str) -> str:
        value = self._raw[name]
        if not isinstance(value, str):
            raise self._wrong(name, "a string")
        return value

    def integer(self, name: str) -> int:
        value = self._raw[name]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._wrong(name, "an integer")
        return value

    def number(self, name: str) -> float:
        value = self._raw[name]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._wrong(name, "a number")
        return float(value)

    def flag(self, name: str) -> bool:
        value = self._raw[name]
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def texts(self, name: str) -> list[str]:
        value = self._raw[name]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(name, "a list of strings")
        return value

    def optional_integer(self, name: str) -> int | None:
        return None if self._raw[name] is None else self.integer(name)

    def optional_texts(self, name: str) -> list[str] | None:
        return None if self._raw[name] is None else self.texts(name)

    def choice(self, name: str, enum: type[TokenKind] | type[ListName]) -> Any:
        try:
            return enum(self.text(name))
        except ValueError:
            raise self._wrong(name, " or ".join(member.value for member in enum)) from None

    def sealed(self, name: str) -> bytes:
        try:
            return base64.b64decode(self.text(name), validate=True)
        except ValueError:
            raise self._wrong(name, "base64") from None


def _each(raw: Any, kind: str, names: tuple[str, ...]) -> list[_Record]:
    if not isinstance(raw, list):
        raise TransferError(f"{kind}: expected a list of records")
    return [_Record(item, f"{kind}[{index}]", names) for index, item in enumerate(raw)]


_ACCOUNT_FIELDS = tuple(_accounts([Account("u", "d", "o", "h")])[0])
_MAILBOX_FIELDS = tuple(_mailboxes([Mailbox("a@d", "u", "h")])[0])
_TOKEN_FIELDS = tuple(_tokens([ApiToken("o", TokenKind.WHM, "n", "d", 0)])[0])
_ACCESS_HASH_FIELDS = ("user", "digest", "created_at")
_SECRET_FIELDS = ("user", "sealed", "created_at")
_STEP_FIELDS = ("user", "step", "context", "address", "used_at")
_ENTRY_FIELDS = ("list", "network", "comment", "created_at")
_BLOCK_FIELDS = tuple(_blocks([Block("k", "k", "s", 0.0, 0.0, False, "s", "m", "n")])[0])


def _read_accounts(raw: Any, kind: str) -> tuple[Account, ...]:
    return tuple(
        Account(
            user=r.text("user"),
            domain=r.text("domain"),
            owner=r.text("owner"),
            password_hash=r.text("password_hash"),
            plan=r.text("plan"),
            feature_list=r.text("feature_list"),
            contact_email=r.text("contact_email"),
            suspended=r.flag("suspended"),
            suspend_reason=r.text("suspend_reason"),
            is_reseller=r.flag("is_reseller"),
            acls=frozenset(r.texts("acls")),
            created_at=r.number("created_at"),
            credential_version=r.integer("credential_version"),
        )
        for r in _each(raw, kind, _ACCOUNT_FIELDS)
    )


def _read_mailboxes(raw: Any, kind: str) -> tuple[Mailbox, ...]:
    return tuple(
        Mailbox(
            address=r.text("address"),
            account=r.text("account"),
            password_hash=r.text("password_hash"),
            quota_mb=r.integer("quota_mb"),
            suspended_login=r.flag("suspended_login"),
            created_at=r.number("created_at"),
            credential_version=r.integer("credential_version"),
        )
        for r in _each(raw, kind, _MAILBOX_FIELDS)
    )


def _read_tokens(raw: Any, kind: str) -> tuple[ApiToken, ...]:
    tokens = []
    for r in _each(raw, kind, _TOKEN_FIELDS):
        acls = r.optional_texts("acls")
        ips = r.optional_texts("whitelist_ips")
        tokens.append(
            ApiToken(
                owner=r.text("owner"),
                kind=r.choice("kind", TokenKind),
                name=r.text("name"),
                digest=r.text("digest"),
                created_at=r.integer("created_at"),
                expires_at=r.optional_integer("expires_at"),
                acls=None if acls is None else frozenset(acls),
                whitelist_ips=None if ips is None else tuple(ips),
            )
        )
    return tuple(tokens)


def _read_access_hashes(raw: Any, kind: str) -> tuple[AccessHash, ...]:
    return tuple(
        AccessHash(r.text("user"), r.text("digest"), r.integer("created_at"))
        for r in _each(raw, kind, _ACCESS_HASH_FIELDS)
    )


def _read_tfa_secrets(raw: Any, kind: str) -> tuple[SealedSecret, ...]:
    return tuple(
        SealedSecret(r.text("user"), r.sealed("sealed"), r.number("created_at"))
        for r in _each(raw, kind, _SECRET_FIELDS)
    )


def _read_used_steps(raw: Any, kind: str) -> tuple[UsedStep, ...]:
    return tuple(
        UsedStep(
            r.text("user"),
            r.integer("step"),
            r.text("context"),
            r.text("address"),
            r.number("used_at"),
        )
        for r in _each(raw, kind, _STEP_FIELDS)
    )


def _read_list_entries(raw: Any, kind: str) -> tuple[ListEntry, ...]:
    return tuple(
        ListEntry(
            r.choice("list", ListName), r.text("network"), r.text("comment"), r.number("created_at")
        )
        for r in _each(raw, kind, _ENTRY_FIELDS)
    )


def _read_blocks(raw: Any, kind: str) -> tuple[Block, ...]:
    return tuple(
        Block(
            kind=r.text("kind"),
            key=r.text("key"),
            shown=r.text("shown"),
            blocked_at=r.number("blocked_at"),
            until=r.number("until"),
            excessive=r.flag("excessive"),
            service=r.text("service"),
            method=r.text("method"),
            notes=r.text("notes"),
        )
        for r in _each(raw, kind, _BLOCK_FIELDS)
    )


_PLUGIN_RECORD_FIELDS = ("namespace", "collection", "key", "value")


def _read_plugin_records(raw: Any, kind: str) -> tuple[PluginRecord, ...]:
    found = []
    for index, r in enumerate(_each(raw, kind, _PLUGIN_RECORD_FIELDS)):
        record = PluginRecord(
            r.text("namespace"), r.text("collection"), r.text("key"), r.text("value")
        )
        try:
            check_plugin_address(record.namespace, record.collection, record.key)
            check_plugin_value(record.value)
        except InvalidArgument as error:
            raise TransferError(f"{kind}[{index}]: {error.message}") from None
        found.append(record)
    return tuple(found)


def _read_versions(raw: Any, kind: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise TransferError(f"{kind}: expected a mapping of versions")
    for namespace, version in raw.items():
        try:
            check_plugin_address(namespace, "versions")
            check_plugin_version(version)
        except InvalidArgument as error:
            raise TransferError(f"{kind}[{namespace!r}]: {error.message}") from None
    return dict(sorted(raw.items()))


def _read_texts(raw: Any, kind: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise TransferError(f"{kind}: expected a mapping of strings")
    return dict(sorted(raw.items()))


def _read_feature_lists(raw: Any, kind: str) -> dict[str, dict[str, bool]]:
    if not isinstance(raw, dict) or not all(
        isinstance(features, dict) and all(isinstance(on, bool) for on in features.values())
        for features in raw.values()
    ):
        raise TransferError(f"{kind}: expected a mapping of feature lists (feature: true/false)")
    return {name: dict(sorted(features.items())) for name, features in sorted(raw.items())}


_DECODERS: dict[str, Callable[[Any, str], Any]] = {
    "accounts": _read_accounts,
    "mailboxes": _read_mailboxes,
    "feature_lists": _read_feature_lists,
    "tokens": _read_tokens,
    "access_hashes": _read_access_hashes,
    "tfa_secrets": _read_tfa_secrets,
    "used_steps": _read_used_steps,
    "issuers": _read_texts,
    "settings": _read_texts,
    "list_entries": _read_list_entries,
    "blocks": _read_blocks,
    "plugin_records": _read_plugin_records,
    "plugin_versions": _read_versions,
}
