"""Which session store a data directory uses: `--session-store`, $PANELAUTH_SESSION_STORE,
`session_store:` in panelauth.yaml, or none (the sessions live in the store), in that order; a
session store beside a store that is not PostgreSQL is refused in one line; and with
PostgreSQL and Redis the commands keep their sessions on Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from panelauth.core.settings import ConfigError
from panelauth.server.datadir import DataDir, DataDirError
from tests.backends.conftest import (
    postgresql_schema,
    postgresql_server,
    postgresql_store_url,
    redis_client,
    redis_prefix,
    redis_server,
    redis_store_url,
)
from tests.cli.test_main import run
from tests.e2e.conftest import CHEAP_CONFIG

__all__ = [
    "postgresql_schema",
    "postgresql_server",
    "postgresql_store_url",
    "redis_prefix",
    "redis_server",
    "redis_store_url",
]

PG = "postgresql://panelauth@db.example:5432/panelauth?schema=node"
REDIS = "redis://:s3cret@cache.example:6379/0?prefix=node"


@pytest.fixture(autouse=True)
def _no_stores_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANELAUTH_STORE", raising=False)
    monkeypatch.delenv("PANELAUTH_SESSION_STORE", raising=False)


def test_by_default_there_is_no_session_store(tmp_path: Path) -> None:
    assert DataDir(tmp_path).session_store_url is None
    assert DataDir(tmp_path, store_option=PG).session_store_label is None


def test_the_option_comes_before_the_environment_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "panelauth.yaml").write_text(
        f"store: {PG}\nsession_store: redis://file/0\nhostname: a.test\n"
    )
    assert DataDir(tmp_path).session_store_url == "redis://file/0"
    # neither store key is a setting: the rest of the file still loads
    assert DataDir(tmp_path).load_settings().hostname == "a.test"
    monkeypatch.setenv("PANELAUTH_SESSION_STORE", "redis://env/0")
    assert DataDir(tmp_path).session_store_url == "redis://env/0"
    assert DataDir(tmp_path, session_store_option="redis://opt/0").session_store_url == (
        "redis://opt/0"
    )


def test_a_session_store_key_that_is_not_a_url_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "panelauth.yaml").write_text(f"store: {PG}\nsession_store: 6379\n")
    with pytest.raises(ConfigError, match="session_store: expected a session store URL"):
        _ = DataDir(tmp_path).session_store_url


def test_a_session_store_url_is_shown_without_its_password(tmp_path: Path) -> None:
    label = DataDir(tmp_path, store_option=PG, session_store_option=REDIS).session_store_label
    assert label == "redis://:***@cache.example:6379/0?prefix=node"


def test_a_session_store_that_is_not_redis_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match="unsupported session store: 'memcached'"):
        _ = DataDir(
            tmp_path, store_option=PG, session_store_option="memcached://x"
        ).session_store_url


def test_a_session_store_with_a_sqlite_store_is_refused(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path, session_store_option=REDIS)
    with pytest.raises(DataDirError) as refused:
        _ = data_dir.session_store_url
    message = str(refused.value)
    assert "needs a PostgreSQL store" in message and str(tmp_path / "panelauth.db") in message
    assert "s3cret" not in message


@pytest.mark.parametrize("source", ["option", "environment", "file"])
def test_a_command_with_a_session_store_and_sqlite_fails_in_one_line(
    tmp_path: Path, source: str
) -> None:
    data_dir = tmp_path / "data"
    code, output = run(data_dir, "init")
    assert code == 0, output
    args: tuple[str, ...] = ("migrate",)
    env = None
    if source == "option":
        args = ("--session-store", REDIS, "migrate")
    elif source == "environment":
        env = {"PANELAUTH_SESSION_STORE": REDIS}
    else:
        config = data_dir / "panelauth.yaml"
        config.write_text(config.read_text() + f"session_store: {REDIS}\n")
    code, output = run(data_dir, *args, env=env)
    assert code == 1
    assert output.startswith("Error: the session store redis://:***@cache.example")
    assert output.count("\n") == 1 and "s3cret" not in output


def test_init_with_a_session_store_and_sqlite_makes_no_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, output = run(data_dir, "--session-store", REDIS, "init")
    assert code == 1 and output.count("\n") == 1, output
    assert "needs a PostgreSQL store" in output
    assert not (data_dir / "panelauth.db").exists()


def test_postgresql_and_redis_keep_the_sessions_on_redis(
    tmp_path: Path,
    postgresql_store_url: str,
    redis_store_url: str,
    redis_server: str,
    redis_prefix: str,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(
        CHEAP_CONFIG + f"store: {postgresql_store_url}\nsession_store: {redis_store_url}\n"
    )
    code, output = run(data_dir, "init")
    assert code == 0, output
    assert not (data_dir / "panelauth.db").exists()
    code, output = run(data_dir, "migrate")
    assert code == 0 and "schema version" in output, output
    code, output = run(data_dir, "whmapi1", "create_user_session", "user=root", "service=whostmgrd")
    assert code == 0, output
    session_id = yaml.safe_load(output)["data"]["session"].split(",", 1)[0]
    with redis_client(redis_server) as client:
        assert client.exists(f"{redis_prefix}:session:{session_id}")
    code, output = run(data_dir, "sessions", "list", "--user", "root")
    assert code == 0 and session_id in output, output
    code, output = run(data_dir, "sessions", "kill", "--id", session_id)
    assert code == 0 and "Ended 1 session(s)." in output, output
    with redis_client(redis_server) as client:
        assert not client.exists(f"{redis_prefix}:session:{session_id}")
