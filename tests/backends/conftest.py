"""The PostgreSQL server the backend tests need: a fresh schema per test, dropped afterwards.

These tests never skip: without the server they fail, naming where they looked. The server is
PANELAUTH_TEST_POSTGRESQL's, by default the machine's own (127.0.0.1:5432, database `test`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/test"


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
