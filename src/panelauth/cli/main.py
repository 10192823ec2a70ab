"""`panelauth`: init, serve, whmapi1, uapi."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from panelauth.api.answers import Answer
from panelauth.cli import twofactor as tfa_cli
from panelauth.cli.local import render, run_uapi, run_whmapi1
from panelauth.cli.tokens import convert_access_hash, table, token_call, token_rows
from panelauth.clock import SystemClock
from panelauth.core.settings import ConfigError
from panelauth.core.tokens import TokenKind
from panelauth.errors import PanelauthError
from panelauth.protocol.params import Params
from panelauth.server.datadir import DataDir, default_data_dir, initialise
from panelauth.server.listeners import ServeOptions, serve

OUTPUTS = click.Choice(["yaml", "json", "jsonpretty"])


@click.group()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory (default: $PANELAUTH_DATA_DIR, else ~/.local/share/panelauth).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None) -> None:
    """A cPanel & WHM compatible authentication server."""
    ctx.obj = DataDir(data_dir or default_data_dir())


def _initialise(data_dir: DataDir, *, announce_unchanged: bool) -> None:
    password = os.environ.get("PANELAUTH_ROOT_PASSWORD") or None
    try:
        result = asyncio.run(initialise(data_dir, SystemClock(), root_password=password))
    except (PanelauthError, ConfigError) as error:
        raise click.ClickException(str(error)) from None
    if result.created:
        click.echo(f"Initialised {data_dir.root}: created {', '.join(result.created)}.")
    elif announce_unchanged:
        click.echo(f"{data_dir.root} is already initialised; nothing changed.")
    if result.root_password:
        click.echo(f"root password (shown once): {result.root_password}")


@cli.command()
@click.pass_obj
def init(data_dir: DataDir) -> None:
    """Create the store, certificate and root account (idempotent)."""
    _initialise(data_dir, announce_unchanged=True)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port-offset",
    type=click.IntRange(0, 60000),
    default=0,
    show_default=True,
    help="Added to every port: 2082+K ... 2096+K.",
)
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option("--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.pass_obj
def serve_command(
    data_dir: DataDir,
    host: str,
    port_offset: int,
    workers: int,
    cert: Path | None,
    key: Path | None,
) -> None:
    """Initialise if needed, then serve the six ports."""
    if (cert is None) != (key is None):
        raise click.UsageError("--cert and --key go together.")
    _initialise(data_dir, announce_unchanged=False)
    try:
        sys.exit(serve(ServeOptions(data_dir, host, port_offset, workers, cert, key)))
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot listen: {error}") from None


def _params(arguments: tuple[str, ...]) -> Params:
    try:
        return Params.from_cli(arguments)
    except PanelauthError as error:
        raise click.UsageError(error.message) from None


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--output", type=OUTPUTS, default="yaml", show_default=True)
@click.argument("function")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def whmapi1(data_dir: DataDir, output: str, function: str, arguments: tuple[str, ...]) -> None:
    """Run a WHM API 1 function as root: whmapi1 FUNCTION key=value ..."""
    answer = asyncio.run(run_whmapi1(data_dir, function, _params(arguments)))
    click.echo(render(answer.document, output))
    sys.exit(0 if answer.succeeded else 1)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--user", required=True, help="The cPanel account to act as.")
@click.option("--output", type=OUTPUTS, default="yaml", show_default=True)
@click.argument("module")
@click.argument("function")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def uapi(
    data_dir: DataDir,
    user: str,
    output: str,
    module: str,
    function: str,
    arguments: tuple[str, ...],
) -> None:
    """Run a UAPI function as a cPanel user: uapi --user=U MODULE FUNCTION key=value ..."""
    answer, wrapped = asyncio.run(run_uapi(data_dir, user, module, function, _params(arguments)))
    click.echo(render(wrapped, output))
    sys.exit(0 if answer.succeeded else 1)


KINDS = click.Choice(["whm", "cpanel"])


@cli.group()
def token() -> None:
    """Create, list and revoke API tokens (tables; see whmapi1/uapi for the raw functions)."""


def _token_answer(data_dir: DataDir, user: str, kind: str, action: str, params: Params) -> Answer:
    try:
        answer = asyncio.run(token_call(data_dir, user, TokenKind(kind), action, params))
    except PanelauthError as error:
        raise click.ClickException(error.message) from None
    if not answer.succeeded:
        document = answer.document
        reason = (document.get("metadata") or {}).get("reason") or "; ".join(
            document.get("errors") or ["failed"]
        )
        raise click.ClickException(reason)
    return answer


@token.command("create")
@click.option("--user", default="root", show_default=True)
@click.option("--kind", type=KINDS, default="whm", show_default=True)
@click.option("--acl", "acls", multiple=True, help="WHM ACL (repeat); default: full access.")
@click.option("--expires-at", type=int, default=0, help="Unix time; 0 never expires.")
@click.option("--whitelist-ip", "ips", multiple=True, help="IP or CIDR (repeat).")
@click.argument("name")
@click.pass_obj
def token_create(
    data_dir: DataDir,
    user: str,
    kind: str,
    acls: tuple[str, ...],
    expires_at: int,
    ips: tuple[str, ...],
    name: str,
) -> None:
    """Create a token and print it (it is shown only this once)."""
    pairs = [("token_name" if kind == "whm" else "name", name)]
    pairs += [(f"acl-{i}", acl) for i, acl in enumerate(acls)]
    pairs += [(f"whitelist_ip-{i}", ip) for i, ip in enumerate(ips)]
    if expires_at:
        pairs.append(("expires_at", str(expires_at)))
    answer = _token_answer(data_dir, user, kind, "create", Params(pairs))
    data = answer.document["data"]
    click.echo(f"Token “{name}” for {user} ({kind}); it will not be shown again:")
    click.echo(data["token"])


@token.command("list")
@click.option("--user", default="root", show_default=True)
@click.option("--kind", type=KINDS, default="whm", show_default=True)
@click.pass_obj
def token_list(data_dir: DataDir, user: str, kind: str) -> None:
    """List a user's tokens."""
    answer = _token_answer(data_dir, user, kind, "list", Params())
    rows = token_rows(TokenKind(kind), answer.document["data"])
    click.echo(table(["NAME", "CREATED", "EXPIRES", "RIGHTS", "IPS"], rows))


@token.command("revoke")
@click.option("--user", default="root", show_default=True)
@click.option("--kind", type=KINDS, default="whm", show_default=True)
@click.argument("names", nargs=-1, required=True)
@click.pass_obj
def token_revoke(data_dir: DataDir, user: str, kind: str, names: tuple[str, ...]) -> None:
    """Revoke tokens by name."""
    for name in names:
        key = "token_name" if kind == "whm" else "name"
        answer = _token_answer(data_dir, user, kind, "revoke", Params([(key, name)]))
        if kind == "cpanel" and answer.document["data"] != 1:
            raise click.ClickException(f"No token named “{name}”.")
        click.echo(f"Revoked “{name}”.")


@cli.group()
def accesshash() -> None:
    """WHM access hashes."""


@accesshash.command("convert")
@click.argument("user", default="root")
@click.pass_obj
def accesshash_convert(data_dir: DataDir, user: str) -> None:
    """Turn USER's access hash into a WHM API token (like convert_accesshash_to_token)."""
    try:
        name = asyncio.run(convert_access_hash(data_dir, user))
    except PanelauthError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Converted {user}'s access hash into the API token “{name}”.")


@cli.group()
def twofactor() -> None:
    """Two-factor authentication of a user (root, an account or a mailbox)."""


@twofactor.command("enrol")
@click.option("--user", default="root", show_default=True)
@click.pass_obj
def twofactor_enrol(data_dir: DataDir, user: str) -> None:
    """Show a QR code in the terminal, then enable two-factor with a first code."""

    def ask(qr: str, secret: str) -> str:
        click.echo(qr)
        click.echo(f"Key: {secret}")
        return str(click.prompt("Security code from your app"))

    try:
        asyncio.run(tfa_cli.enrol(data_dir, user, ask))
    except PanelauthError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Two-factor authentication is on for {user}; its other sessions were ended.")


@twofactor.command("status")
@click.option("--user", default="root", show_default=True)
@click.pass_obj
def twofactor_status(data_dir: DataDir, user: str) -> None:
    """Whether the policy is on and the user is enrolled."""
    policy, enrolled = asyncio.run(tfa_cli.status(data_dir, user))
    click.echo(f"policy: {'on' if policy else 'off'}; {user}: {'on' if enrolled else 'off'}")


@twofactor.command("remove")
@click.option("--user", default="root", show_default=True)
@click.pass_obj
def twofactor_remove(data_dir: DataDir, user: str) -> None:
    """Turn two-factor off for a user (and end its sessions)."""
    if not asyncio.run(tfa_cli.remove(data_dir, user)):
        raise click.ClickException(f"{user} has no two-factor configuration.")
    click.echo(f"Two-factor authentication is off for {user}.")


def main() -> None:
    cli(prog_name="panelauth")
