"""The servers the backend tests need: PostgreSQL, a fresh schema per test, dropped afterwards;
Redis (the session store), a fresh key prefix per test, whose keys are deleted afterwards.

These tests never skip: without a server they fail, naming where they looked. PostgreSQL is
PANELAUTH_TEST_POSTGRESQL's, by default the machine's own (127.0.0.1:5432, database `test`);
Redis is PANELAUTH_TEST_REDIS's, by default the machine's own (127.0.0.1:6379, database 0).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def postgresql_url() -> str:
    """The URL of the test server (no schema): PANELAUTH_TEST_POSTGRESQL, or the default.
    A plain function (the end-to-end tests of several nodes use it too)."""
    return os.environ.get("PANELAUTH_TEST_POSTGRESQL") or DEFAULT_POSTGRESQL


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """The test server's URL, once it answered; a failure naming it when it does not."""
    url = postgresql_url()
    try:
        with psycopg.connect(url, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
        return url
    except psycopg.Error as error:
        reason = str(error).splitlines()[0]
    given = conninfo_to_dict(url)
    where = f"{given.get('host', 'localhost')}:{given.get('port', 5432)}"
    pytest.fail(
        f"PostgreSQL is unreachable at {where} (database {given.get('dbname')!r}): {reason}. "
        "Start it, or point PANELAUTH_TEST_POSTGRESQL at one (postgresql://user@host:port/db).",
        pytrace=False,
    )


@pytest.fixture
def postgresql_schema(postgresql_server: str) -> Iterator[str]:
    """A schema name no other test uses; the schema (if a test made it) is dropped after."""
    schema = f"test_{secrets.token_hex(6)}"
    yield schema
    with psycopg.connect(postgresql_server, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


@pytest.fixture
def postgresql_store_url(postgresql_server: str, postgresql_schema: str) -> str:
    """A store URL on the test server, in a fresh schema (not yet created: migrate makes it)."""
    return with_schema(postgresql_server, postgresql_schema)


# -- Redis --------------------------------------------------------------------------------------


def redis_url() -> str:
    """The URL of the test Redis (no prefix): PANELAUTH_TEST_REDIS, or the default. A plain
    function (the end-to-end tests of several nodes use it too)."""
    return os.environ.get("PANELAUTH_TEST_REDIS") or DEFAULT_REDIS


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


def redis_client(url: str) -> redis.Redis:
    """A plain (blocking) client of the test Redis, for what the tests do behind a store."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under `prefix:` (a Redis "restart" that loses them, or the cleanup)."""
    with redis_client(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The test Redis's URL, once it answered; a failure naming it when it does not."""
    url = redis_url()
    try:
        with redis_client(url) as client:
            client.ping()
        return url
    except (redis.RedisError, OSError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    given = urlsplit(url)
    pytest.fail(
        f"Redis is unreachable at {given.hostname or '127.0.0.1'}:{given.port or 6379}: "
        f"{reason}. Start it, or point PANELAUTH_TEST_REDIS at one (redis://host:port/db).",
        pytrace=False,
    )


@pytest.fixture
def redis_prefix(redis_server: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted after the test."""
    prefix = f"test_{secrets.token_hex(6)}"
    yield prefix
    delete_prefix(redis_server, prefix)


@pytest.fixture
def redis_store_url(redis_server: str, redis_prefix: str) -> str:
    """A session store URL on the test Redis, under a fresh prefix."""
    return with_prefix(redis_server, redis_prefix)
