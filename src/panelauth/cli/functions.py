"""`panelauth functions`: every function this configuration serves, built-in or from a plugin.

Read from panelauth.yaml alone (its `plugins:`), so it shows what `serve` would serve; the store
is not opened. A plugin that cannot be served is the same one-line error as at start.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from panelauth.api.registry import Api, Function
from panelauth.cli.tokens import table
from panelauth.extension.catalog import build_registry
from panelauth.extension.loading import load_plugins
from panelauth.protocol.services import Service
from panelauth.server.datadir import DataDir

HEADERS = ["API", "MODULE", "FUNCTION", "SOURCE", "SERVICES", "REQUIREMENTS"]


def services(function: Function) -> list[str]:
    """The services that may call it: WHM API 1 on WHM only; a cPanel function on cPanel and
    through WHM, and on Webmail when it is Webmail-safe."""
    if function.api is Api.WHM1:
        return [Service.WHM.value]
    reached = [Service.CPANEL, Service.WHM] + ([Service.WEBMAIL] if function.webmail_safe else [])
    return [service.value for service in reached]


def entry(function: Function) -> dict[str, Any]:
    """One function as `--output=json` lists it."""
    return {
        "api": function.api.title,
        "module": function.module,
        "function": function.name,
        "source": function.source,
        "services": services(function),
        "acl": function.acl,
        "feature": function.feature,
        "webmail_safe": function.webmail_safe,
        "sets_password": function.sets_password,
        "changes_state": function.changes_state,
        "whm_token_acls": list(function.whm_token_acls),
    }


def requirements(function: Function) -> str:
    """The table's short form of what a caller needs (and what the function says of itself)."""
    parts: list[str] = []
    if function.api is Api.WHM1:
        parts.append(f"acl {function.acl}" if function.acl else "any WHM user")
    elif function.feature:
        parts.append(f"feature {function.feature}")
    if function.sets_password:
        parts.append("sets password")
    if function.changes_state is not None:
        parts.append("changes state" if function.changes_state else "read-only")
    return ", ".join(parts) or "-"


@click.command("functions")
@click.option(
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table (the default) or json (a list of objects).",
)
def functions_command(output: str) -> None:
    """List every function served: API, module, function, source, services, requirements."""
    data_dir = click.get_current_context().find_object(DataDir)
    assert data_dir is not None
    registry = build_registry(load_plugins(data_dir.load_settings().plugins))
    served = registry.every()
    if output == "json":
        click.echo(orjson.dumps([entry(function) for function in served]).decode())
        return
    rows = [
        [
            function.api.title,
            function.module or "-",
            function.name,
            function.source,
            ",".join(services(function)),
            requirements(function),
        ]
        for function in served
    ]
    click.echo(table(HEADERS, rows))
