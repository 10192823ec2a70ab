"""`panelauth`: init, serve, whmapi1, uapi."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from panelauth.cli.local import render, run_uapi, run_whmapi1
from panelauth.clock import SystemClock
from panelauth.core.settings import ConfigError
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


def main() -> None:
    cli(prog_name="panelauth")
