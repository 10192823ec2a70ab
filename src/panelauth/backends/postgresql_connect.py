"""Where a PostgreSQL store lives and how its connections start, and how a failure is told.

The URL is libpq's, `postgresql://user@host:port/dbname` (or `postgres://`), plus panelauth's
own `schema=NAME` (default `public`), taken off before psycopg sees the URL; every other
parameter (sslmode, connect_timeout, ...) is libpq's and passes through untouched. Several
installations can share one database, each in its own schema: every connection starts with
`search_path` set to it, and its change notices travel on a channel named for it.

Schema names are plain lower-case identifiers of at most 48 characters, so that they need no
quoting in `search_path` and the channel name stays within PostgreSQL's 63 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict

SCHEMES: Final = ("postgresql", "postgres")
DEFAULT_SCHEMA: Final = "public"
SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,47}\Z")
CHANNEL_PREFIX: Final = "panelauth_"  # + the schema; the migrations' trigger builds the same
CONNECT_TIMEOUT_SECONDS: Final = 5  # unless the URL says otherwise
# the listening connection idles for hours: TCP keepalives find a silent loss within ~20 s
KEEPALIVES: Final = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 2,
}


@dataclass(frozen=True, slots=True)
class Location:
    conninfo: str  # the URL without `schema`, for psycopg
    schema: str

    @property
    def channel(self) -> str:
        return CHANNEL_PREFIX + self.schema


def parse_url(url: str) -> Location:
    """Split a store URL into libpq's part and the schema; ValueError if it is not one."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme not in SCHEMES:
        raise ValueError(f"not a PostgreSQL store URL: {scheme}://...")
    base, _, query = url.partition("?")
    kept: list[str] = []
    schemas: list[str] = []
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        if name == "schema":
            schemas.append(unquote(value))
        else:
            kept.append(item)
    if len(schemas) > 1:
        raise ValueError("a store URL names one schema")
    schema = schemas[0] if schemas else DEFAULT_SCHEMA
    if not SCHEMA_NAME.match(schema):
        raise ValueError(
            f"schema {schema!r}: use a lower-case name of letters, digits and _ (48 at most)"
        )
    conninfo = f"{base}?{'&'.join(kept)}" if kept else base
    try:
        conninfo_to_dict(conninfo)
    except psycopg.Error as error:
        raise ValueError(f"not a PostgreSQL store URL: {describe(error)}") from None
    return Location(conninfo, schema)


def connection_options(
    location: Location, *, origin: str, lock_timeout_ms: int, listening: bool = False
) -> dict[str, Any]:
    """The psycopg keyword arguments of every connection of a store (`listening`: its
    notice connection, which also gets TCP keepalives).

    `options` (the URL's own first) sets the schema, how long a statement waits for a lock,
    and `panelauth.origin`, which the change trigger puts in each notice so that a store can
    tell its own writes from others'.
    """
    given = conninfo_to_dict(location.conninfo)
    ours = (
        f"-c search_path={location.schema} -c lock_timeout={max(1, lock_timeout_ms)} "
        f"-c panelauth.origin={origin}"
    )
    options: dict[str, Any] = {
        "autocommit": True,
        "options": f"{given['options']} {ours}" if given.get("options") else ours,
        "fallback_application_name": "panelauth",  # in pg_stat_activity, unless the URL names one
    }
    if "connect_timeout" not in given:
        options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    if listening:
        options.update({name: value for name, value in KEEPALIVES.items() if name not in given})
    return options


def describe(error: BaseException) -> str:
    """A failure for the log and the operator, without values: its class and SQLSTATE, and for
    a failure to connect or a lost connection (which name the server, never data) libpq's first
    line. A server's message can quote a value ("invalid input syntax ...: "x""), so it is left
    out."""
    name = type(error).__name__
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate:
        return f"{name} (SQLSTATE {sqlstate})"
    if isinstance(error, psycopg.OperationalError) and str(error):
        return f"{name}: {str(error).splitlines()[0]}"
    if isinstance(error, OSError) and error.strerror:
        return f"{name}: {error.strerror}"
    return name
