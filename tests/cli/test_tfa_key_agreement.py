"""Nodes that share a store share the key that seals two-factor secrets (issue 13): `init` (and
`serve`, which runs it) records which key the store's secrets are sealed with and refuses a node
that lacks that key or has another, instead of making a second key that opens nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.test_main import run


def test_a_second_node_needs_the_first_nodes_key(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    code, output = run(first, "init")
    assert code == 0 and "two-factor key" in output, output
    shared = f"sqlite://{(first / 'panelauth.db').resolve()}"

    code, output = run(second, "--store", shared, "init")
    assert code == 1
    assert "copy tfa.key from a node that uses this store" in output
    assert not (second / "tfa.key").exists()  # no second key was made

    shutil.copy(first / "tfa.key", second / "tfa.key")
    code, output = run(second, "--store", shared, "init")
    assert code == 0, output
    assert "root password" not in output  # the store's root, made once by the first node


def test_a_node_with_another_key_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert run(first, "init")[0] == 0
    assert run(second, "init")[0] == 0  # its own store, its own key
    shared = f"sqlite://{(first / 'panelauth.db').resolve()}"
    code, output = run(second, "--store", shared, "init")
    assert code == 1
    assert "is not the key the store's two-factor secrets are sealed with" in output


def test_init_again_keeps_the_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(data_dir, "init")[0] == 0
    key = (data_dir / "tfa.key").read_bytes()
    code, output = run(data_dir, "init")
    assert code == 0 and "nothing changed" in output
    assert (data_dir / "tfa.key").read_bytes() == key
