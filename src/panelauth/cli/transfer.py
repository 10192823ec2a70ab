"""`panelauth export FILE` and `panelauth import FILE`: move a whole installation between stores
(core/transfer.py says what moves, what does not and why; docs/moving.md is the operator's
guide).

Both use the data directory's store selection (`--store`, $PANELAUTH_STORE, `store:` in
panelauth.yaml, else its SQLite file) and its two-factor key file (`tfa_key_file`, else
<data dir>/tfa.key), which seals the file and must be the same at both ends. Only the store
itself is opened: nothing that moves lives in a session store (`--session-store` is checked,
not contacted). `import` runs the migrate step first, so a new PostgreSQL schema needs nothing
else.

The export file is created mode 0600 with O_CREAT|O_EXCL|O_NOFOLLOW (never readable by anyone
else, not even while it is written) and refused if it exists; it is written whole and synced
before the command reports it, and removed if the export fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

import click

from panelauth.backends import POSTGRESQL_SCHEMES, open_store
from panelauth.cli.tokens import table
from panelauth.clock import EffectiveClock, HighWaterMark, SystemClock
from panelauth.core.secretbox import KEY_BYTES, key_id
from panelauth.core.transfer import (
    KindCount,
    Snapshot,
    TransferError,
    decode,
    encode,
    export_snapshot,
    import_snapshot,
)
from panelauth.errors import PanelauthError
from panelauth.server.datadir import DataDir

FILE_MODE = 0o600


def _data_dir() -> DataDir:
    """The data directory, after checking it holds a panelauth store (as pass_store_dir)."""
    data_dir = click.get_current_context().find_object(DataDir)
    assert data_dir is not None
    data_dir.require_store()
    _ = data_dir.session_store_url  # checked (a session store needs PostgreSQL), never opened
    return data_dir


def _key(data_dir: DataDir, missing: str) -> tuple[Path, bytes]:
    """The installation's two-factor key file and its bytes; never creates it."""
    path = data_dir.tfa_key(data_dir.load_settings())
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise click.ClickException(f"{path}: no two-factor key file; {missing}") from None
    except OSError as error:
        raise click.ClickException(f"{path}: cannot read it: {error.strerror}") from None
    if len(key) != KEY_BYTES:
        raise click.ClickException(f"{path}: not a {KEY_BYTES}-byte two-factor key")
    return path, key


def _source(data_dir: DataDir) -> str:
    scheme = data_dir.store_url.partition("://")[0]
    return "postgresql" if scheme in POSTGRESQL_SCHEMES else scheme


def _counts_table(counts: list[KindCount]) -> str:
    return table(
        ["KIND", "READ", "WRITTEN"], [[c.kind, str(c.read), str(c.written)] for c in counts]
    )


# -- export -------------------------------------------------------------------------------------


@click.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_command(file: Path) -> None:
    """Write every durable record of the store to FILE (mode 0600; FILE must not exist).

    Accounts with their password hashes, mailboxes, feature lists, API token and access hash
    digests, two-factor secrets as sealed, issuers, used codes, settings, cPHulk's
    configuration, lists and blocks. Not sessions: users log in again after a move. The key
    file (tfa.key) must go with FILE.
    """
    data_dir = _data_dir()
    key_path, key = _key(data_dir, "the export is sealed with it: run this on a node")
    descriptor = _create_private(file)
    try:
        snapshot = asyncio.run(_export(data_dir, key))
        data = encode(snapshot, key, created_at=time.time(), source=_source(data_dir))
        _write_whole(descriptor, data)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.close(descriptor)
        file.unlink(missing_ok=True)  # ours: O_EXCL made it
        if isinstance(error, TransferError):
            raise click.ClickException(f"{error}; nothing was exported") from None
        raise
    counts = snapshot.counts()
    click.echo(table(["KIND", "EXPORTED"], [[kind, str(n)] for kind, n in counts.items()]))
    click.echo(
        f"Exported {sum(counts.values())} records of {data_dir.store_label} to {file} "
        f"(mode 0600, {len(data)} bytes)."
    )
    click.echo(
        f"The two-factor secrets in it are sealed with {key_path}, and so is the file: copy that "
        "key file to the new installation (its tfa_key_file, else <data dir>/tfa.key) before "
        "`panelauth import`. Sessions were not exported: users log in again after the move."
    )


def _create_private(file: Path) -> int:
    """FILE, created empty and private (0600) in one step; refused if it exists."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        descriptor = os.open(file, flags, FILE_MODE)
    except FileExistsError:
        raise click.ClickException(f"{file} exists: refusing to overwrite it") from None
    except OSError as error:
        raise click.ClickException(f"{file}: {error.strerror}") from None
    os.fchmod(descriptor, FILE_MODE)  # whatever the umask left, exactly 0600
    return descriptor


def _write_whole(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]
    os.fsync(descriptor)
    os.close(descriptor)


async def _export(data_dir: DataDir, key: bytes) -> Snapshot:
    # the server's effective time (FT-9) says which blocks are still in force
    clock = EffectiveClock(HighWaterMark(data_dir.effective_time))
    store = await open_store(data_dir.store_url, clock=clock)
    try:
        return await export_snapshot(store, now=clock.now(), tfa_key_id=key_id(key))
    finally:
        await store.aclose()


# -- import -------------------------------------------------------------------------------------


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Load FILE (made by `panelauth export`) into the store, which must be empty.

    Empty: nothing but what `panelauth init` makes (its root is replaced by FILE's). The key
    file FILE was exported with must be this installation's first. All or nothing: one
    transaction, then every kind is read back and compared with FILE.
    """
    data_dir = _data_dir()
    _, key = _key(
        data_dir,
        f"copy the key file of the installation {file} comes from there first "
        "(the file is sealed with it)",
    )
    try:
        snapshot = decode(file.read_bytes(), key)
    except TransferError as error:
        raise click.ClickException(f"{file}: {error}; nothing was imported") from None
    try:
        counts = asyncio.run(_import(data_dir, snapshot))
    except (TransferError, PanelauthError) as error:
        reason = error.message if isinstance(error, PanelauthError) else str(error)
        raise click.ClickException(f"{file}: {reason}; nothing was imported") from None
    click.echo(_counts_table(counts))
    click.echo(
        f"Imported {sum(c.written for c in counts)} records from {file} into "
        f"{data_dir.store_label}; every kind was read back and matches the file. Sessions were "
        "not moved: users log in again."
    )


async def _import(data_dir: DataDir, snapshot: Snapshot) -> list[KindCount]:
    store = await open_store(data_dir.store_url, clock=SystemClock(), migrate=True)
    try:
        return await import_snapshot(store, snapshot)
    finally:
        await store.aclose()
