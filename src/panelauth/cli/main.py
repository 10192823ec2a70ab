"""`panelauth`: init, migrate, serve, whmapi1, uapi, token, accesshash, twofactor, sessions,
cert, export, import, functions.

No traceback reaches a user: every failure is one `Error: ...` line on stderr and exit status 1
(`PanelauthGroup`). Commands other than `init` and `serve` need an initialised data directory
and create nothing outside one (`pass_store_dir`); `init` and `serve` create or tighten it.
Every command runs under umask 077, so whatever it creates in the data directory is private.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import click

from panelauth.api.answers import error_texts
from panelauth.backends import open_store
from panelauth.cli import remote
from panelauth.cli import sso as sso_cli
from panelauth.cli import twofactor as tfa_cli
from panelauth.cli.functions import functions_command
from panelauth.cli.hulk import hulk
from panelauth.cli.local import render, run_uapi, run_whmapi1
from panelauth.cli.plugins import prepare_plugins
from panelauth.cli.tokens import convert_access_hash, table, token_call, token_rows
from panelauth.cli.transfer import export_command, import_command
from panelauth.clock import SystemClock
from panelauth.core.clock_skew import Skew, Verdict, judge, measure_skew
from panelauth.core.settings import ConfigError
from panelauth.core.tokens import TokenKind
from panelauth.errors import PanelauthError
from panelauth.protocol.params import Params
from panelauth.server.datadir import (
    DataDir,
    DataDirError,
    default_data_dir,
    initialise,
    migrate_store,
    private_umask,
)
from panelauth.server.listeners import ListenError, ServeOptions, serve

OUTPUTS = click.Choice(["yaml", "json", "jsonpretty"])
OUTPUT_HELP = "yaml (the default, as cPanel's tools), json (compact) or jsonpretty (indented)."
USER_HELP = "The user: root, a reseller, a cPanel account or (twofactor) a mailbox."
KIND_HELP = "whm: a WHM API token (root or a reseller); cpanel: a cPanel account's token."

P = ParamSpec("P")
R = TypeVar("R")


def one_line(error: Exception) -> str:
    """What the user reads after `Error: `: one line, no traceback."""
    if isinstance(error, PanelauthError):
        text = error.message
    elif isinstance(error, ListenError | DataDirError | ConfigError):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror:
        text = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    else:
        text = f"unexpected {type(error).__name__}: {error}"
    return " ".join(text.split())


class PanelauthGroup(click.Group):
    """Turns every exception a command lets out into one `Error: ...` line and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, EOFError):
            raise
        except Exception as error:  # the last line of defence: no traceback for the user
            raise click.ClickException(one_line(error)) from None


def pass_store_dir(command: Callable[Concatenate[DataDir, P], R]) -> Callable[P, R]:
    """Like click.pass_obj, after checking the data directory holds a panelauth store."""

    @functools.wraps(command)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        data_dir = click.get_current_context().find_object(DataDir)
        assert data_dir is not None
        data_dir.require_store()
        return command(data_dir, *args, **kwargs)

    return checked


@click.group(cls=PanelauthGroup)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory (default: $PANELAUTH_DATA_DIR, else ~/.local/share/panelauth).",
)
@click.option(
    "--store",
    "store",
    default=None,
    metavar="URL",
    help="Store URL: sqlite:///path or postgresql://... (default: $PANELAUTH_STORE, else "
    "`store:` in panelauth.yaml, else SQLite in the data directory).",
)
@click.option(
    "--session-store",
    "session_store",
    default=None,
    metavar="URL",
    help="Session store URL, with a PostgreSQL store only: redis://host:port/db?prefix=NAME "
    "(default: $PANELAUTH_SESSION_STORE, else `session_store:` in panelauth.yaml, else the "
    "sessions live in the store).",
)
@click.pass_context
def cli(
    ctx: click.Context, data_dir: Path | None, store: str | None, session_store: str | None
) -> None:
    """A cPanel & WHM compatible authentication server."""
    ctx.obj = DataDir(
        data_dir or default_data_dir(), store_option=store, session_store_option=session_store
    )
    ctx.with_resource(private_umask())


def _initialise(data_dir: DataDir, *, announce_unchanged: bool) -> None:
    password = os.environ.get("PANELAUTH_ROOT_PASSWORD") or None
    result = asyncio.run(initialise(data_dir, SystemClock(), root_password=password))
    if result.created:
        click.echo(f"Initialised {data_dir.root}: created {', '.join(result.created)}.")
    elif announce_unchanged:
        click.echo(f"{data_dir.root} is already initialised; nothing changed.")
    if result.root_password:
        click.echo(f"root password (shown once): {result.root_password}")


@cli.command()
@click.pass_obj
def init(data_dir: DataDir) -> None:
    """Create the store, certificate and root account (idempotent).

    The data directory is created mode 0700, or tightened when it exists; a directory holding
    other files is refused.
    """
    _initialise(data_dir, announce_unchanged=True)


@cli.command()
@pass_store_dir
def migrate(data_dir: DataDir) -> None:
    """Bring the store's schema, and the enabled plugins' storage, up to date (serve also does
    both, init the schema); prints the versions."""
    before, after = asyncio.run(migrate_store(data_dir, SystemClock()))
    click.echo(f"{data_dir.store_label}: schema version {before} -> {after}.")
    for name, version in asyncio.run(prepare_plugins(data_dir)):
        click.echo(f"plugin {name}: storage version {version}.")


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port-offset",
    type=click.IntRange(0, 60000),
    default=0,
    show_default=True,
    help="Added to every port: 2082+K ... 2096+K.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Pre-forked worker processes sharing the listeners.",
)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your PEM certificate (with --key) instead of the generated one.",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The PEM private key of --cert.",
)
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
    _refuse_a_skewed_clock(data_dir)
    asyncio.run(prepare_plugins(data_dir))  # before any port: a plugin refused stops us here
    sys.exit(serve(ServeOptions(data_dir, host, port_offset, workers, cert, key)))


def _refuse_a_skewed_clock(data_dir: DataDir) -> None:
    """FT-10: a node whose clock is too far from its shared store's does not start (one line
    naming the skew and the threshold); a store without a clock of its own (SQLite) passes."""
    threshold = data_dir.load_settings().max_clock_skew_seconds
    skew = asyncio.run(_store_skew(data_dir))
    if skew is not None and judge(skew, threshold) is Verdict.TOO_FAR:
        raise click.ClickException(
            f"refusing to start: {skew.describe(threshold)} (store {data_dir.store_label}); "
            "set this machine's time right (NTP) and start again"
        )


async def _store_skew(data_dir: DataDir) -> Skew | None:
    clock = SystemClock()
    store = await open_store(data_dir.store_url, data_dir.session_store_url, clock=clock)
    try:
        return await measure_skew(store, clock)
    finally:
        await store.aclose()


def _params(arguments: tuple[str, ...]) -> Params:
    try:
        return Params.from_cli(arguments)
    except PanelauthError as error:
        raise click.UsageError(error.message) from None


def remote_options(command: Callable[P, R]) -> Callable[P, R]:
    """--url, --ca-file and --insecure: the remote mode of whmapi1 and uapi (docs/client.md)."""
    command = click.option(
        "--insecure", is_flag=True, help="Remote: do not verify the server's certificate."
    )(command)
    command = click.option(
        "--ca-file",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Remote: trust this PEM certificate (e.g. `panelauth cert --path`).",
    )(command)
    return click.option(
        "--url",
        envvar="PANELAUTH_URL",
        default=None,
        help="Call this server (e.g. https://host:2087) instead of the local store "
        "(default: $PANELAUTH_URL). The secret comes from the environment only: "
        "PANELAUTH_TOKEN, PANELAUTH_ACCESSHASH or PANELAUTH_PASSWORD (+ PANELAUTH_TOTP_SECRET).",
    )(command)


def _print_answer(document: Any, succeeded: bool, output: str) -> NoReturn:
    click.echo(render(document, output))
    sys.exit(0 if succeeded else 1)


def _remote(run: Callable[[], tuple[Any, bool]], output: str) -> NoReturn:
    try:
        document, succeeded = run()
    except remote.RemoteError as error:
        raise click.ClickException(str(error)) from None
    _print_answer(document, succeeded, output)


def _store(ctx: click.Context) -> DataDir:
    data_dir = ctx.find_object(DataDir)
    assert data_dir is not None
    data_dir.require_store()
    return data_dir


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--output", type=OUTPUTS, default="yaml", show_default=True, help=OUTPUT_HELP)
@click.option("--user", default=None, help="Remote: the WHM user (default: $PANELAUTH_USER, root).")
@remote_options
@click.argument("function")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def whmapi1(
    ctx: click.Context,
    output: str,
    user: str | None,
    url: str | None,
    ca_file: Path | None,
    insecure: bool,
    function: str,
    arguments: tuple[str, ...],
) -> None:
    """Run a WHM API 1 function as root: whmapi1 FUNCTION key=value ...

    With --url (or PANELAUTH_URL), run it on that server as --user instead.
    """
    params = _params(arguments)
    if url:
        target = remote.Remote(url, ca_file, insecure)
        env = remote.environment()
        _remote(lambda: remote.whmapi1(target, user, function, params, env), output)
    if user is not None or ca_file is not None or insecure:
        raise click.UsageError("--user, --ca-file and --insecure need --url (remote mode).")
    answer = asyncio.run(run_whmapi1(_store(ctx), function, params))
    _print_answer(answer.document, answer.succeeded, output)


@cli.command("login-url")
@click.option(
    "--service",
    type=click.Choice(["cpaneld", "whostmgrd", "webmaild"]),
    default=None,
    help="Default: whostmgrd for root and resellers, webmaild for a mailbox, else cpaneld.",
)
@click.option("--app", default=None, help="An application key to land on (e.g. Email_Accounts).")
@click.option(
    "--port-offset",
    type=click.IntRange(0, 60000),
    default=0,
    show_default=True,
    help="The offset the server runs with (serve --port-offset); the URL's port includes it.",
)
@click.argument("user")
@pass_store_dir
def login_url(
    data_dir: DataDir, service: str | None, app: str | None, port_offset: int, user: str
) -> None:
    """Print a single-use login URL for USER (5 minutes, as cPanel's whmlogin)."""
    click.echo(asyncio.run(sso_cli.login_url(data_dir, user, service, app, port_offset)))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--user",
    default=None,
    help="The cPanel account to act as (remote: the one that logs in; else $PANELAUTH_USER).",
)
@click.option("--output", type=OUTPUTS, default="yaml", show_default=True, help=OUTPUT_HELP)
@remote_options
@click.argument("module")
@click.argument("function")
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def uapi(
    ctx: click.Context,
    user: str | None,
    output: str,
    url: str | None,
    ca_file: Path | None,
    insecure: bool,
    module: str,
    function: str,
    arguments: tuple[str, ...],
) -> None:
    """Run a UAPI function as a cPanel user: uapi --user=U MODULE FUNCTION key=value ...

    With --url (or PANELAUTH_URL), run it on that server, logged in as --user.
    """
    params = _params(arguments)
    if url:
        target = remote.Remote(url, ca_file, insecure)
        env = remote.environment()
        _remote(lambda: remote.uapi(target, user, module, function, params, env), output)
    if ca_file is not None or insecure:
        raise click.UsageError("--ca-file and --insecure need --url (remote mode).")
    if user is None:
        raise click.UsageError("Missing option '--user'.")
    answer, wrapped = asyncio.run(run_uapi(_store(ctx), user, module, function, params))
    _print_answer(wrapped, answer.succeeded, output)


KINDS = click.Choice(["whm", "cpanel"])


@cli.group()
def token() -> None:
    """Create, list and revoke API tokens (tables; see whmapi1/uapi for the raw functions)."""


def _token_answer(data_dir: DataDir, user: str, kind: str, action: str, params: Params) -> Any:
    """The data of a token function's outcome; its error's message ends the command."""
    outcome = asyncio.run(token_call(data_dir, user, TokenKind(kind), action, params))
    if outcome.error is not None:
        texts = error_texts(outcome.error)  # as WHM API 1 / UAPI would word it (w§15.6)
        raise click.ClickException((" " if kind == "whm" else "; ").join(texts))
    return outcome.data


@token.command("create")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@click.option("--kind", type=KINDS, default="whm", show_default=True, help=KIND_HELP)
@click.option("--acl", "acls", multiple=True, help="WHM ACL (repeat); default: full access.")
@click.option("--expires-at", type=int, default=0, help="Unix time; 0 never expires.")
@click.option("--whitelist-ip", "ips", multiple=True, help="IP or CIDR (repeat).")
@click.argument("name")
@pass_store_dir
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
    data = _token_answer(data_dir, user, kind, "create", Params(pairs))
    click.echo(f"Token “{name}” for {user} ({kind}); it will not be shown again:")
    click.echo(data["token"])


@token.command("list")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@click.option("--kind", type=KINDS, default="whm", show_default=True, help=KIND_HELP)
@pass_store_dir
def token_list(data_dir: DataDir, user: str, kind: str) -> None:
    """List a user's tokens."""
    rows = token_rows(TokenKind(kind), _token_answer(data_dir, user, kind, "list", Params()))
    click.echo(table(["NAME", "CREATED", "EXPIRES", "RIGHTS", "IPS"], rows))


@token.command("revoke")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@click.option("--kind", type=KINDS, default="whm", show_default=True, help=KIND_HELP)
@click.argument("names", nargs=-1, required=True)
@pass_store_dir
def token_revoke(data_dir: DataDir, user: str, kind: str, names: tuple[str, ...]) -> None:
    """Revoke tokens by name."""
    for name in names:
        key = "token_name" if kind == "whm" else "name"
        revoked = _token_answer(data_dir, user, kind, "revoke", Params([(key, name)]))
        if kind == "cpanel" and revoked != 1:
            raise click.ClickException(f"No token named “{name}”.")
        click.echo(f"Revoked “{name}”.")


@cli.group()
def accesshash() -> None:
    """WHM access hashes."""


@accesshash.command("convert")
@click.argument("user", default="root")
@pass_store_dir
def accesshash_convert(data_dir: DataDir, user: str) -> None:
    """Turn USER's access hash into a WHM API token (like convert_accesshash_to_token)."""
    name = asyncio.run(convert_access_hash(data_dir, user))
    click.echo(f"Converted {user}'s access hash into the API token “{name}”.")


@cli.group()
def twofactor() -> None:
    """Two-factor authentication of a user (root, an account or a mailbox)."""


@twofactor.command("enrol")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@pass_store_dir
def twofactor_enrol(data_dir: DataDir, user: str) -> None:
    """Show a QR code in the terminal, then enable two-factor with a first code."""

    def ask(qr: str, secret: str) -> str:
        click.echo(qr)
        click.echo(f"Key: {secret}")
        return str(click.prompt("Security code from your app"))

    asyncio.run(tfa_cli.enrol(data_dir, user, ask))
    click.echo(f"Two-factor authentication is on for {user}; its other sessions were ended.")


@twofactor.command("status")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@pass_store_dir
def twofactor_status(data_dir: DataDir, user: str) -> None:
    """Whether the policy is on and the user is enrolled."""
    policy, enrolled = asyncio.run(tfa_cli.status(data_dir, user))
    click.echo(f"policy: {'on' if policy else 'off'}; {user}: {'on' if enrolled else 'off'}")


@twofactor.command("remove")
@click.option("--user", default="root", show_default=True, help=USER_HELP)
@pass_store_dir
def twofactor_remove(data_dir: DataDir, user: str) -> None:
    """Turn two-factor off for a user (and end its sessions)."""
    if not asyncio.run(tfa_cli.remove(data_dir, user)):
        raise click.ClickException(f"{user} has no two-factor configuration.")
    click.echo(f"Two-factor authentication is off for {user}.")


@cli.group()
def sessions() -> None:
    """List and end live sessions (as root: every user's; SE-9)."""


def _sessions_call(
    data_dir: DataDir, function: str, pairs: list[tuple[str, str]], miss: str
) -> Any:
    """The data of a session function run as root; a refusal means `miss` does not exist."""
    answer = asyncio.run(run_whmapi1(data_dir, function, Params(pairs)))
    if not answer.succeeded:
        if answer.status == 403:
            raise click.ClickException(miss)
        raise click.ClickException(str(answer.document["metadata"]["reason"]))
    return answer.document["data"]


@sessions.command("list")
@click.option("--user", default=None, help="Only this user's sessions (with its mailboxes').")
@click.option(
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="yaml (the default) or json.",
)
@pass_store_dir
def sessions_list(data_dir: DataDir, user: str | None, output: str) -> None:
    """Live sessions: id, user, service, address, user agent, method, created, last seen."""
    pairs = [("user", user)] if user else []
    miss = f"The user “{user}” does not exist."
    data = _sessions_call(data_dir, "panelauth_list_sessions", pairs, miss)
    click.echo(render(data["sessions"], output))


@sessions.command("kill")
@click.option("--user", default=None, help="End every session of this user.")
@click.option("--id", "session_id", default=None, help="End this session (its logged id).")
@click.option("--all", "every", is_flag=True, help="End every session.")
@pass_store_dir
def sessions_kill(data_dir: DataDir, user: str | None, session_id: str | None, every: bool) -> None:
    """End sessions (logged as PURGE ... kill): one of --user, --id or --all."""
    if [user is not None, session_id is not None, every].count(True) != 1:
        raise click.UsageError("Give exactly one of --user, --id or --all.")
    if user is not None:
        pairs, miss = [("user", user)], f"The user “{user}” does not exist."
    elif session_id is not None:
        pairs, miss = [("session", session_id)], f"No session “{session_id}”."
    else:
        pairs, miss = [("all", "1")], "Refused."
    data = _sessions_call(data_dir, "panelauth_kill_sessions", pairs, miss)
    click.echo(f"Ended {data['killed']} session(s).")


cli.add_command(hulk)
cli.add_command(functions_command)
cli.add_command(export_command)
cli.add_command(import_command)


@cli.command("cert")
@click.option("--path", "show_path", is_flag=True, help="Print the file's path instead.")
@pass_store_dir
def cert_command(data_dir: DataDir, show_path: bool) -> None:
    """Print the server's TLS certificate (PEM), for a client's CA file option."""
    if not data_dir.cert.is_file():
        raise click.ClickException(f"{data_dir.cert}: no certificate; run `panelauth init`.")
    click.echo(str(data_dir.cert) if show_path else data_dir.cert.read_text(), nl=show_path)


def main() -> None:
    cli(prog_name="panelauth")
