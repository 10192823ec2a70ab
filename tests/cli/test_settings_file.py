"""The panelauth.yaml `init` writes: every setting, commented out, with its default and meaning."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import yaml

from panelauth.core.settings import SETTING_HELP, Settings, settings_from_mapping
from panelauth.server.datadir import DataDir, settings_template
from tests.cli.test_main import run

NAMES = [field.name for field in dataclasses.fields(Settings)]


def test_every_setting_has_one_line_of_meaning() -> None:
    assert set(SETTING_HELP) == set(NAMES)
    for name, meaning in SETTING_HELP.items():
        assert meaning.strip() and "\n" not in meaning, name


def test_init_writes_every_setting_commented_out_with_its_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    code, output = run(data_dir, "init")
    assert code == 0, output
    text = (data_dir / "panelauth.yaml").read_text()
    assert text == settings_template()
    assert yaml.safe_load(text) is None  # everything is commented out
    lines = text.splitlines()
    for name in NAMES:
        [index] = [i for i, line in enumerate(lines) if line.startswith(f"# {name}: ")]
        assert lines[index - 1] == f"# {SETTING_HELP[name]}"

    uncommented = re.sub(rf"^# ({'|'.join(NAMES)}): ", r"\1: ", text, flags=re.MULTILINE)
    raw = yaml.safe_load(uncommented)
    assert list(raw) == NAMES
    # the host name is this machine's, as Settings' default is: the same host here
    assert settings_from_mapping(raw) == Settings()
    (data_dir / "panelauth.yaml").write_text(uncommented)
    assert DataDir(data_dir).load_settings() == Settings()


def test_null_means_the_default_where_the_default_is_none() -> None:
    assert settings_from_mapping({"home_root": None, "tfa_key_file": None}) == Settings()
