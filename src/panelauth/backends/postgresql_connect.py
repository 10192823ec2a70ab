"""Where a PostgreSQL store lives, how its connections start, how long a call may wait on one,
and how a failure is told.

The URL is libpq's, `postgresql://user@host:port/dbname` (or `postgres://`), plus panelauth's
own `schema=NAME` (default `public`), taken off before psycopg sees the URL; every other
parameter (sslmode, connect_timeout, ...) is libpq's and passes through untouched. Several
installations can share one database, each in its own schema: every connection starts with
`search_path` set to it, and its change notices travel on a channel named for it.

Schema names are plain lower-case identifiers of at most 48 characters, so that they need no
quoting in `search_path` and the channel name stays within PostgreSQL's 63 bytes.

Time limits on the client's side (`Deadline`, `cut`): `lock_timeout` ends a wait for a lock on
the server, and the pool's timeout a wait for a connection, but nothing ends a statement on an
open connection whose server (or the network in between) accepts bytes and never answers. A
store call therefore has a deadline: when it passes, the connection is `cut` (its socket shut
down both ways, at once, no round trip), whatever waits on it fails at once (OperationalError),
and the connection, broken, is discarded by its pool. Not asyncio cancellation: psycopg answers
that by sending the server a cancel request and waiting for it (up to 5 s, then 5 s more for the
statement to end), which a silent server never answers. And `still_open` tells, without a round
trip, whether an idle pooled connection was closed by the server meanwhile (a restart,
`pg_terminate_backend`, a failover), so that the store takes another instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import socket
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


# -- time limits ----------------------------------------------------------------------------


def cut(connection: psycopg.AsyncConnection[Any]) -> None:
    """End `connection`'s conversation with the server now, without a round trip: its socket is
    shut down both ways, so a statement or a wait for notices on it fails at once (the server
    "closed the connection") and the connection is broken (a pool discards it). The descriptor
    stays libpq's until the connection is closed: no other socket can take its number while an
    event loop still watches it."""
    if connection.closed:
        return
    try:
        duplicate = os.dup(connection.pgconn.socket)
    except (OSError, psycopg.Error):
        return
    try:
        sock = socket.socket(fileno=duplicate)
    except OSError:
        os.close(duplicate)
        return
    with sock, contextlib.suppress(OSError):  # not connected any more: nothing to cut
        sock.shutdown(socket.SHUT_RDWR)


def still_open(connection: psycopg.AsyncConnection[Any]) -> bool:
    """Whether an idle connection is open with nothing to read. An idle connection receives
    nothing unasked: anything readable is taken for the server's goodbye (FATAL, end of
    stream) after it dropped the connection, so it is not used (a rare harmless message, a
    reported setting's new value after a reload, costs one new connection). One poll, no
    round trip."""
    if connection.closed:
        return False
    try:
        poller = select.poll()
        poller.register(connection.pgconn.socket, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError, psycopg.Error):
        return False


class Deadline:
    """When a store call must be over (the event loop's clock): `remaining()` bounds a wait for a
    pooled connection, `arm(connection)` cuts the connection at the deadline unless the handle
    it returns is cancelled first; `expired` tells afterwards whether it did."""

    __slots__ = ("_loop", "at", "expired", "seconds")

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.seconds = seconds
        self.at = self._loop.time() + seconds
        self.expired = False

    def remaining(self) -> float:
        return self.at - self._loop.time()

    def arm(self, connection: psycopg.AsyncConnection[Any]) -> asyncio.TimerHandle:
        return self._loop.call_at(self.at, self._expire, connection)

    def _expire(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.expired = True
        cut(connection)
