"""`panelauth hulk ...`: operate brute-force protection (cPHulk-compatible, w§19.3).

The commands run core.bruteforce_admin over the data directory's store, as root, like the WHM
API functions would: every change is a store write, so a running server sees it at its next
request. Tables by default, `--output json|yaml` where a command lists something.

Errors follow the rest of the command: one `Error: ...` line on stderr and exit 1. A command
given several entries (allow, deny) does what it can: it prints each entry it added or removed,
then one `Error: ENTRY: why` line per entry it refused, and exits 1 if it refused any.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any, NoReturn, TypeVar

import click

from panelauth.cli.local import local_state, render
from panelauth.cli.tokens import table
from panelauth.core.bruteforce_admin import MAX_COMMENT_CHARS, BruteForceAdmin, ListChange
from panelauth.core.hulk import (
    MAX_USER_CHARS,
    Block,
    Failure,
    HulkConfig,
    ListEntry,
    ListName,
    config_value,
    parse_network,
)
from panelauth.errors import PanelauthError
from panelauth.server.datadir import DataDir

T = TypeVar("T")

OUTPUT = click.option(
    "--output",
    type=click.Choice(["json", "yaml"]),
    default=None,
    help="json or yaml instead of the table.",
)
FAILURES_COUNTED = 100_000  # status counts remembered failures up to this many
LIST_WORDS = {ListName.WHITE: "allow", ListName.BLACK: "deny"}


# -- plumbing ---------------------------------------------------------------------------------


def _data_dir() -> DataDir:
    """The data directory, after checking it holds a panelauth store (as pass_store_dir)."""
    data_dir = click.get_current_context().find_object(DataDir)
    assert data_dir is not None
    data_dir.require_store()
    return data_dir


@asynccontextmanager
async def _admin(data_dir: DataDir) -> AsyncIterator[BruteForceAdmin]:
    async with local_state(data_dir) as state:
        yield BruteForceAdmin(state.runtime.store, state.runtime.clock)


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; a refusal of the core is one clean `Error:` line."""
    try:
        return asyncio.run(work)
    except PanelauthError as error:
        raise click.ClickException(_clean(error.message)) from None


def _clean(text: str) -> str:
    """One printable line: never a control character (an escape sequence) from the input."""
    return "".join(char if char.isprintable() else "?" for char in " ".join(text.split()))


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        click.echo(f"Error: {_clean(line)}", err=True)
    raise click.exceptions.Exit(1)


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def _left(seconds: float) -> str:
    total = max(0, int(seconds + 0.999))
    hours, rest = divmod(total, 3600)
    minutes, seconds_left = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds_left:02d}s"


def _config_lines(config: HulkConfig) -> list[str]:
    return [f"{key} = {value}".rstrip() for key, value in sorted(asdict(config).items())]


# -- the group --------------------------------------------------------------------------------


@click.group()
def hulk() -> None:
    """Brute-force protection (cPHulk): status, lists, unblocking, failed logins."""


# -- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Status:
    config: HulkConfig
    blocks: list[Block]
    failures: int
    allowed: int
    denied: int
    now: float


async def _status(data_dir: DataDir) -> _Status:
    async with local_state(data_dir) as state:
        admin = BruteForceAdmin(state.runtime.store, state.runtime.clock)
        return _Status(
            config=await admin.config(),
            blocks=await admin.blocks(),
            failures=len(await admin.history(limit=FAILURES_COUNTED)),
            allowed=len(await admin.entries(ListName.WHITE)),
            denied=len(await admin.entries(ListName.BLACK)),
            now=state.runtime.clock.now(),
        )


def _block_document(block: Block, now: float) -> dict[str, Any]:
    name = "address" if block.kind == "address" else "user"
    document: dict[str, Any] = {
        name: block.shown,
        "blocked_at": _iso(block.blocked_at),
        "until": _iso(block.until),
        "seconds_left": max(0, round(block.until - now)),
    }
    if block.kind == "address":
        document["excessive"] = block.excessive
    document.update(service=block.service, method=block.method, notes=block.notes)
    return document


def _block_row(block: Block, now: float) -> list[str]:
    row = [_clean(block.shown), _iso(block.blocked_at), _iso(block.until)]
    row.append(_left(block.until - now))
    if block.kind == "address":
        row.append("yes" if block.excessive else "no")
    return [*row, _clean(block.service), _clean(block.method), _clean(block.notes)]


@hulk.command("status")
@OUTPUT
def status(output: str | None) -> None:
    """Whether protection is on, its configuration, current blocks and locks, and counts."""
    found = _run(_status(_data_dir()))
    addresses = [block for block in found.blocks if block.kind == "address"]
    users = [block for block in found.blocks if block.kind == "user"]
    counts = {
        "blocked_addresses": len(addresses),
        "locked_users": len(users),
        "failures": found.failures,
        "allow_list": found.allowed,
        "deny_list": found.denied,
    }
    if output:
        document = {
            "enabled": bool(found.config.is_enabled),
            "config": asdict(found.config),
            "blocked_addresses": [_block_document(block, found.now) for block in addresses],
            "locked_users": [_block_document(block, found.now) for block in users],
            "counts": counts,
        }
        click.echo(render(document, output))
        return
    enabled = "enabled" if found.config.is_enabled else "disabled"
    click.echo(f"Brute-force protection is {enabled}.")
    click.echo("\nConfiguration:")
    click.echo("\n".join(f"  {line}" for line in _config_lines(found.config)))
    common = ["SINCE", "UNTIL", "LEFT"]
    click.echo(f"\nBlocked addresses ({len(addresses)}):")
    if addresses:
        headers = ["ADDRESS", *common, "EXCESSIVE", "SERVICE", "METHOD", "NOTES"]
        click.echo(table(headers, [_block_row(block, found.now) for block in addresses]))
    click.echo(f"\nLocked accounts ({len(users)}):")
    if users:
        headers = ["USER", *common, "SERVICE", "METHOD", "NOTES"]
        click.echo(table(headers, [_block_row(block, found.now) for block in users]))
    failures = f"{found.failures}+" if found.failures >= FAILURES_COUNTED else str(found.failures)
    click.echo(
        f"\nFailed logins remembered: {failures}; allow list: {found.allowed} entries; "
        f"deny list: {found.denied} entries."
    )


# -- enable, disable, config ------------------------------------------------------------------


async def _set_enabled(data_dir: DataDir, enabled: bool) -> bool:
    """Turn protection on or off; whether it already was."""
    async with _admin(data_dir) as admin:
        before = bool((await admin.config()).is_enabled)
        await admin.set_enabled(enabled)
        return before == enabled


def _switch(enabled: bool) -> None:
    unchanged = _run(_set_enabled(_data_dir(), enabled))
    word = "enabled" if enabled else "disabled"
    click.echo(f"Brute-force protection is {word}{' (it already was)' if unchanged else ''}.")


@hulk.command("enable")
def enable() -> None:
    """Turn brute-force protection on."""
    _switch(True)


@hulk.command("disable")
def disable() -> None:
    """Turn brute-force protection off (failures are neither counted nor refused)."""
    _switch(False)


async def _configure(data_dir: DataDir, changes: dict[str, object]) -> HulkConfig:
    async with _admin(data_dir) as admin:
        return await admin.update(changes) if changes else await admin.config()


@hulk.command("config")
@click.argument("settings", nargs=-1, metavar="[KEY=VALUE]...")
def config(settings: tuple[str, ...]) -> None:
    """Set configuration keys (cPHulk's names), all or none; without any, show them all."""
    changes: dict[str, object] = {}
    for setting in settings:
        key, equals, value = setting.partition("=")
        if not equals or not key.strip():
            raise click.ClickException(_clean(f"“{setting[:64]}” is not KEY=VALUE."))
        changes[key.strip()] = value
    updated = _run(_configure(_data_dir(), changes))
    if not changes:
        click.echo("\n".join(_config_lines(updated)))
        return
    values = asdict(updated)
    for key, given in changes.items():
        stored, _ = config_value(key, given)  # a seconds key is stored in minutes
        click.echo(f"{stored} = {values[stored]}")


# -- allow and deny lists ---------------------------------------------------------------------


async def _list_entries(data_dir: DataDir, name: ListName) -> list[ListEntry]:
    async with _admin(data_dir) as admin:
        return await admin.entries(name)


async def _change(
    data_dir: DataDir, name: ListName, networks: tuple[str, ...], comment: str, remove: bool
) -> ListChange:
    async with _admin(data_dir) as admin:
        if remove:
            return await admin.remove(name, networks)
        return await admin.add(name, [(network, comment) for network in networks])


def _failed_lines(change: ListChange) -> list[str]:
    lines = []
    for given, why in change.failed.items():
        lines.append(why if _clean(given) in _clean(why) else f"{given}: {why}")
    return lines


def _list_command(name: ListName) -> click.Command:
    word = LIST_WORDS[name]
    effect = (
        "never blocked or locked; adding forgets their failures and blocks"
        if name is ListName.WHITE
        else "always refused"
    )

    @click.command(word)
    @click.argument("addresses", nargs=-1, metavar="[ADDRESS_OR_CIDR]...")
    @click.option("--comment", default="", help="A note kept with each added entry.")
    @click.option("--remove", is_flag=True, help="Remove the entries instead.")
    @click.option("--list", "show", is_flag=True, help="List the entries.")
    @OUTPUT
    def command(
        addresses: tuple[str, ...], comment: str, remove: bool, show: bool, output: str | None
    ) -> None:
        if show:
            if addresses or remove or comment:
                raise click.UsageError("--list takes no addresses, --remove or --comment.")
            entries = _run(_list_entries(_data_dir(), name))
            if output:
                documents = [
                    {"network": e.network, "comment": e.comment, "added": _iso(e.created_at)}
                    for e in entries
                ]
                click.echo(render(documents, output))
            else:
                rows = [[e.network, _clean(e.comment), _iso(e.created_at)] for e in entries]
                click.echo(table(["NETWORK", "COMMENT", "ADDED"], rows))
            return
        if output:
            raise click.UsageError("--output goes with --list.")
        if not addresses:
            raise click.UsageError("Give at least one address or CIDR (or --list).")
        if remove and comment:
            raise click.UsageError("--comment goes with adding, not --remove.")
        if len(comment) > MAX_COMMENT_CHARS or not comment.isprintable():
            raise click.ClickException(
                f"A comment is one line of at most {MAX_COMMENT_CHARS} printable characters."
            )
        change = _run(_change(_data_dir(), name, addresses, comment, remove))
        verb = "Removed" if remove else "Added"
        for network in change.done:
            click.echo(f"{verb} {network} {'from' if remove else 'to'} the {word} list.")
        if name is ListName.WHITE and not remove and change.done:
            click.echo(f"Forgot {change.records_removed} record(s) of failures and blocks.")
        if change.failed:
            _fail(_failed_lines(change))

    command.help = (
        f"Add addresses or CIDRs to the {word} list ({effect}); --remove them; --list it.\n\n"
        "Valid entries are applied even if others are refused; each refused one is an "
        "`Error:` line and the exit status is 1."
    )
    return command


hulk.add_command(_list_command(ListName.WHITE))
hulk.add_command(_list_command(ListName.BLACK))


# -- unblock ----------------------------------------------------------------------------------


def _target(given: str) -> str:
    """An address, a CIDR or a user name, checked: what looks like an address must be one."""
    text = given.strip()
    if not text:
        raise click.ClickException("An address, CIDR or user name is required.")
    if not text.isprintable():
        raise click.ClickException(f"“{_clean(text[:64])}” contains control characters.")
    looks_numeric = "." in text and all(char in "0123456789." for char in text)
    if ":" in text or "/" in text or looks_numeric:
        try:
            return str(parse_network(text))
        except PanelauthError as error:
            raise click.ClickException(_clean(error.message)) from None
    if len(text) > MAX_USER_CHARS:
        raise click.ClickException(f"A user name has at most {MAX_USER_CHARS} characters.")
    return text


async def _unblock(data_dir: DataDir, targets: list[str]) -> int:
    async with _admin(data_dir) as admin:
        return await admin.unblock(targets)


@hulk.command("unblock")
@click.argument("targets", nargs=-1, required=True, metavar="TARGET...")
def unblock(targets: tuple[str, ...]) -> None:
    """Lift the blocks of addresses or CIDRs and the locks of user names, forgetting their
    failures; prints how many records were removed (0 when there was nothing)."""
    checked = [_target(target) for target in targets]
    removed = _run(_unblock(_data_dir(), checked))
    click.echo(f"Removed {removed} record(s) (failures, blocks and locks).")


# -- history ----------------------------------------------------------------------------------


async def _history(data_dir: DataDir, limit: int) -> list[Failure]:
    async with _admin(data_dir) as admin:
        return await admin.history(limit=limit)


@hulk.command("history")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=100,
    show_default=True,
    help="At most this many, newest first.",
)
@OUTPUT
def history(limit: int, output: str | None) -> None:
    """Failed logins remembered (the lookback period), newest first."""
    failures = _run(_history(_data_dir(), limit))
    if output:
        documents = [
            {
                "time": _iso(failure.at),
                "address": failure.address,
                "user": failure.user,
                "service": failure.service,
                "method": failure.method.value,
            }
            for failure in failures
        ]
        click.echo(render(documents, output))
        return
    rows = [
        [
            _iso(failure.at),
            _clean(failure.address),
            _clean(failure.user),
            _clean(failure.service),
            failure.method.value,
        ]
        for failure in failures
    ]
    click.echo(table(["TIME", "ADDRESS", "USER", "SERVICE", "METHOD"], rows))
