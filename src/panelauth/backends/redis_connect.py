"""Where a Redis session store lives, how its connections are made, and how a failure is told.

The URL is redis-py's (`redis://[user:password@]host:port/db`, `rediss://` for TLS,
`unix:///path/to/socket?db=N`) plus panelauth's own `prefix=NAME` (default `panelauth`), taken
off before redis-py sees the URL: every key of the store is `<prefix>:...`, so that several
installations share one Redis server (or one database of it) under different prefixes. Other
query parameters are redis-py's and pass through untouched.

A store talks to one Redis server (a primary, with or without replicas or Sentinel), not to a
Redis Cluster: its scripts reach keys they derive from the prefix.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from redis.asyncio import ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from panelauth.errors import StoreUnavailable

SCHEMES: Final = ("redis", "rediss", "unix")
DEFAULT_PREFIX: Final = "panelauth"
PREFIX_NAME: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
POOL_SIZE: Final = 10  # connections per store (per worker) at most

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Location:
    url: str  # the URL without `prefix`, for redis-py
    prefix: str

    @property
    def namespace(self) -> str:
        """What every key of the store starts with."""
        return f"{self.prefix}:"


def is_redis_url(url: str) -> bool:
    scheme, separator, _ = url.partition("://")
    return bool(separator) and scheme in SCHEMES


def parse_url(url: str) -> Location:
    """Split a session store URL into redis-py's part and the prefix; ValueError if it is not
    one."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme not in SCHEMES:
        raise ValueError(f"not a Redis session store URL: {scheme}://...")
    base, _, query = url.partition("?")
    kept: list[str] = []
    prefixes: list[str] = []
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        if name == "prefix":
            prefixes.append(unquote(value))
        else:
            kept.append(item)
    if len(prefixes) > 1:
        raise ValueError("a session store URL names one prefix")
    prefix = prefixes[0] if prefixes else DEFAULT_PREFIX
    if not PREFIX_NAME.match(prefix):
        raise ValueError(
            f"prefix {prefix!r}: use letters, digits, '_', '.' and '-' (64 at most), no ':'"
        )
    return Location(f"{base}?{'&'.join(kept)}" if kept else base, prefix)


def connection_pool(location: Location, *, wait_seconds: float) -> ConnectionPool:
    """A store's pool of POOL_SIZE connections. Connecting is bounded by `wait_seconds`; the
    link bounds each whole call by the same (redis_link.py: not BlockingConnectionPool, nor a
    per-read socket timeout). A command whose connection broke is tried once more on a new
    one (a pooled connection a restarted server dropped), a timeout is not tried again."""
    try:
        return ConnectionPool.from_url(
            location.url,
            decode_responses=True,
            socket_connect_timeout=wait_seconds,
            max_connections=POOL_SIZE,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            client_name="panelauth",
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a Redis session store URL: {type(error).__name__}") from None


def number(value: float) -> str:
    """A time as the Redis stores keep it: Python's shortest exact decimal, read back as the
    same float (Lua compares it with tonumber() and never formats one)."""
    return repr(float(value))


def describe(error: BaseException) -> str:
    """A failure for the log and the operator, without values: its class, and for a failure to
    connect or a timeout (which name the server, never data) the first line of its message."""
    name = type(error).__name__
    if isinstance(error, RedisConnectionError | RedisTimeoutError | OSError) and str(error):
        return f"{name}: {str(error).splitlines()[0]}"
    return name


def unavailable(error: BaseException) -> StoreUnavailable:
    """The one mapping of a Redis failure: the app log gets its class (and, for a connection,
    the server's address), the client only StoreUnavailable's plain reason (FT-3, FT-4)."""
    cause = describe(error)
    log.warning("session store unavailable: %s", cause)
    return StoreUnavailable(cause)
