"""FT-10 against a real `panelauth serve` on a PostgreSQL store: a node whose clock is 10 s off
the store server's refuses to start, with one line naming the skew and the threshold; with a
threshold above the skew it starts. libfaketime moves the node's wall clock only (its
monotonic clock stays real); the store is the PostgreSQL server on 127.0.0.1:5432 (or
$PANELAUTH_TEST_POSTGRESQL), in a schema of its own, dropped afterwards; never skipped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.backends.conftest import postgresql_url
from tests.e2e.conftest import CHEAP_CONFIG, free_port_offset, run_cli, start_server
from tests.e2e.test_clock_jumps import libfaketime

pytestmark = pytest.mark.e2e

OFF_BY = 10  # seconds the node's clock runs ahead of the store's


@pytest.fixture
def store_url() -> Iterator[str]:
    base = postgresql_url()
    schema = f"skew_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    finally:
        with psycopg.connect(base.split("?")[0], autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _node(tmp_path: Path, config: str) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "panelauth.yaml").write_text(config)
    return data_dir


def _clock_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LD_PRELOAD", libfaketime())
    monkeypatch.setenv("FAKETIME", f"+{OFF_BY}")
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")


def test_a_node_ten_seconds_off_the_store_refuses_to_start(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = _node(tmp_path, CHEAP_CONFIG + f"store: {store_url}\n")
    _clock_ahead(monkeypatch)
    offset = free_port_offset()
    refused = run_cli(data_dir, "serve", "--port-offset", str(offset))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    [line] = [text for text in refused.stderr.splitlines() if text.startswith("Error: ")]
    assert line.startswith("Error: refusing to start: this node's clock is 10.")
    assert "s ahead of the store's" in line
    assert "more than max_clock_skew_seconds (5 s) allows" in line
    assert "listening" not in refused.stdout  # no port was bound, no worker forked


def test_a_node_within_its_threshold_starts(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = CHEAP_CONFIG + f"store: {store_url}\nmax_clock_skew_seconds: {OFF_BY + 5}\n"
    data_dir = _node(tmp_path, config)
    _clock_ahead(monkeypatch)
    server = start_server(data_dir, config=config)
    try:
        with server.client() as client:
            assert client.get(server.url(2087, "/readyz")).status_code == 200
    finally:
        assert server.stop() == 0
    assert "clock skew" not in server.output
