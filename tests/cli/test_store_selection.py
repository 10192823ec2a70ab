"""Which store a data directory uses: `--store`, $PANELAUTH_STORE, `store:` in panelauth.yaml, or
its own SQLite file, in that order (issue 13); and a store URL never shown with its password."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelauth.core.settings import ConfigError
from panelauth.server.datadir import DataDir, redacted
from tests.cli.test_main import run

PG = "postgresql://panelauth:s3cret@db.example:5432/panelauth?schema=node"


@pytest.fixture(autouse=True)
def _no_store_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANELAUTH_STORE", raising=False)


def test_the_default_is_the_sqlite_file_of_the_directory(tmp_path: Path) -> None:
    data_dir = DataDir(tmp_path)
    assert data_dir.store_url == f"sqlite://{(tmp_path / 'panelauth.db').resolve()}"
    assert data_dir.embedded
    assert data_dir.store_label == str(tmp_path / "panelauth.db")


def test_the_option_comes_before_the_environment_before_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "panelauth.yaml").write_text("store: postgresql://file@db/x\nhostname: a.test\n")
    assert DataDir(tmp_path).store_url == "postgresql://file@db/x"
    # the node's store key is not a setting: the rest of the file still loads
    assert DataDir(tmp_path).load_settings().hostname == "a.test"
    monkeypatch.setenv("PANELAUTH_STORE", "postgresql://env@db/x")
    assert DataDir(tmp_path).store_url == "postgresql://env@db/x"
    assert DataDir(tmp_path, store_option="postgresql://opt@db/x").store_url == (
        "postgresql://opt@db/x"
    )
    assert not DataDir(tmp_path).embedded


def test_a_store_key_that_is_not_a_url_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "panelauth.yaml").write_text("store: [1, 2]\n")
    with pytest.raises(ConfigError, match="store: expected a store URL"):
        _ = DataDir(tmp_path).store_url


def test_a_store_url_is_shown_without_its_password(tmp_path: Path) -> None:
    assert redacted(PG) == "postgresql://panelauth:***@db.example:5432/panelauth?schema=node"
    assert redacted("postgresql://panelauth@db/x") == "postgresql://panelauth@db/x"
    assert "s3cret" not in DataDir(tmp_path, store_option=PG).store_label


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://db.example/panelauth?password=s3cret&schema=node",
            "postgresql://db.example/panelauth?password=***&schema=node",
        ),
        (
            "postgresql://u:s3cret@db/x?sslpassword=s3cret&PASSWORD=s3cret",
            "postgresql://u:***@db/x?sslpassword=***&PASSWORD=***",
        ),
        ("redis://127.0.0.1:6379/0?password=s3cret", "redis://127.0.0.1:6379/0?password=***"),
        ("postgresql://db/x?pass%77ord=s3cret", "postgresql://db/x?pass%77ord=***"),
        ("postgresql://db/x?schema=node&password", "postgresql://db/x?schema=node&password"),
    ],
)
def test_a_password_in_the_query_is_not_shown(url: str, shown: str) -> None:
    # libpq and redis-py read a password from the query string too
    assert redacted(url) == shown
    assert "s3cret" not in redacted(url)


def test_a_command_against_an_unreachable_store_says_so_in_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, output = run(data_dir, "init")
    assert code == 0, output
    code, output = run(data_dir, "--store", "mysql://nowhere/x", "migrate")
    assert code == 1
    assert output.startswith("Error: ") and output.count("\n") == 1
