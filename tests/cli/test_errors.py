"""No traceback reaches a user: every data-directory problem is one `Error:` line and exit 1.

Each subcommand is run against a directory that does not exist, a path that is a file, an empty
directory, someone else's directory, a bad `panelauth.yaml`, a directory this user cannot write
and a read-only file system.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import click
import pytest
from click.testing import CliRunner, Result

from panelauth.cli import main as cli_main
from panelauth.cli.main import cli
from tests.e2e.conftest import CHEAP_CONFIG, PANELAUTH, free_port_offset

# Every command that needs an initialised store (all but init and serve).
STORE_COMMANDS = [
    ["whmapi1", "version"],
    ["uapi", "--user=bob", "Variables", "get_user_information"],
    ["token", "create", "ci"],
    ["token", "list"],
    ["token", "revoke", "ci"],
    ["accesshash", "convert"],
    ["twofactor", "enrol"],
    ["twofactor", "status"],
    ["twofactor", "remove"],
]
SETUP_COMMANDS = [["init"], ["serve", "--port-offset", "0"]]
ALL_COMMANDS = STORE_COMMANDS + SETUP_COMMANDS


def ids(commands: list[list[str]]) -> list[str]:
    return [" ".join(command[:2]) for command in commands]


def invoke(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args])


def assert_one_error(result: Result | subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 1 and exactly one `Error: ...` line on stderr, containing each fragment."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    assert code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def listing(directory: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(path.relative_to(directory)), path.lstat().st_mode, path.lstat().st_size)
        for path in directory.rglob("*")
    )


def cannot_run_here(reason: str) -> NoReturn:
    """A developer's machine may lack what a case needs; CI has it, so there it fails."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run this case)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised data directory with a cPanel account bob; copy it before changing it."""
    directory = tmp_path_factory.mktemp("initialised") / "data"
    directory.mkdir()
    (directory / "panelauth.yaml").write_text(CHEAP_CONFIG)
    assert invoke(directory, "init").exit_code == 0
    created = invoke(
        directory, "whmapi1", "createacct", "username=bob", "domain=b.example", "password=b-Pw-1234"
    )
    assert created.exit_code == 0, created.output
    return directory


@pytest.fixture
def data_dir(initialised: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(initialised, copy)
    return copy


# -- a directory that does not exist, is a file, or is not panelauth's -----------------------


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=ids(STORE_COMMANDS))
def test_a_missing_data_directory_is_one_line_and_is_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    missing = tmp_path / "nosuch"
    assert_one_error(invoke(missing, *command), str(missing), "does not exist", "panelauth init")
    assert not missing.exists()


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=ids(ALL_COMMANDS))
def test_a_file_where_the_directory_should_be_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    assert "not a directory" in assert_one_error(invoke(a_file, *command))
    # below a regular file nothing can be created, not even by root
    assert "not a directory" in assert_one_error(invoke(a_file / "data", *command)).lower()
    assert a_file.read_text() == "not a directory\n"


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=ids(STORE_COMMANDS))
@pytest.mark.parametrize("contents", ["empty", "other files", "settings only"])
def test_a_directory_without_a_store_is_refused_and_left_unchanged(
    tmp_path: Path, command: list[str], contents: str
) -> None:
    directory = tmp_path / "somewhere"
    directory.mkdir()
    if contents == "other files":
        (directory / "notes.txt").write_text("mine\n")
        (directory / "sub").mkdir()
    elif contents == "settings only":
        (directory / "panelauth.yaml").write_text(CHEAP_CONFIG)
    before = listing(directory)
    assert_one_error(
        invoke(directory, *command),
        f"{directory} is not a panelauth data directory; run `panelauth init`",
    )
    assert listing(directory) == before


@pytest.mark.parametrize("command", SETUP_COMMANDS, ids=ids(SETUP_COMMANDS))
def test_init_and_serve_refuse_a_directory_holding_other_files(
    tmp_path: Path, command: list[str]
) -> None:
    directory = tmp_path / "home"
    directory.mkdir()
    (directory / "notes.txt").write_text("mine\n")
    directory.chmod(0o755)
    before = listing(directory)
    assert_one_error(
        invoke(directory, *command), str(directory), "holds other files", "empty or new directory"
    )
    assert listing(directory) == before
    assert directory.stat().st_mode & 0o777 == 0o755  # not even tightened: it is not ours


def test_init_tightens_an_empty_or_panelauth_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o777)
    empty.chmod(0o777)
    assert invoke(empty, "init").exit_code == 0
    assert empty.stat().st_mode & 0o777 == 0o700
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "panelauth.yaml").write_text(CHEAP_CONFIG)
    (ours / "panelauth.yaml").chmod(0o666)
    ours.chmod(0o755)
    assert invoke(ours, "init").exit_code == 0
    (ours / "panelauth.db").chmod(0o644)
    (ours / "tls" / "cert.pem").chmod(0o664)
    (ours / "tls").chmod(0o755)
    result = invoke(ours, "init")
    assert result.exit_code == 0 and "nothing changed" in result.output
    for path in [ours, *ours.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        assert path.stat().st_mode & 0o777 == expected, path


# -- a bad panelauth.yaml ------------------------------------------------------------------------

BAD_SETTINGS = {
    "syntax": ("argon2: {time_cost: 1\nrequire_ssl: [\n", "line "),
    "unknown key": ("colour: blue\n", "unknown setting: colour"),
    "wrong type": ("max_body_bytes: lots\n", "max_body_bytes: expected int"),
    "not a mapping": ("- a\n- list\n", "expected a mapping"),
}


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=ids(ALL_COMMANDS))
@pytest.mark.parametrize("problem", list(BAD_SETTINGS))
def test_a_bad_settings_file_is_one_line_naming_the_file(
    data_dir: Path, command: list[str], problem: str
) -> None:
    text, fragment = BAD_SETTINGS[problem]
    (data_dir / "panelauth.yaml").write_text(text)
    assert_one_error(invoke(data_dir, *command), str(data_dir / "panelauth.yaml"), fragment)


# -- not writable, read-only: real processes, with a check that really fails -----------------


# As root, mode bits stop nothing: root's writes pass through CAP_DAC_OVERRIDE and its chmod
# through CAP_FOWNER. So the command runs as root without those capabilities (setpriv drops
# them from the bounding set before exec), on a directory owned by `nobody`.
UNPRIVILEGED_ROOT = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def run_cli(
    data_dir: Path, command: list[str], *, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *PANELAUTH, "--data-dir", str(data_dir), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.fixture(scope="module")
def foreign(initialised: Path) -> Iterator[tuple[Path, list[str] | None]]:
    """An initialised directory that the process running the commands may read, not write.

    As root: owned by `nobody` (modes 0755/0644), the commands run as root without the
    capabilities that bypass modes (UNPRIVILEGED_ROOT). As another user: the directory is
    the user's own, mode 0555.
    """
    base = Path(tempfile.mkdtemp(prefix="panelauth-foreign-"))
    base.chmod(0o755)
    directory = base / "data"
    shutil.copytree(initialised, directory)
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    prefix: list[str] | None = None
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            cannot_run_here("needs setpriv to run as root without CAP_DAC_OVERRIDE")
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, 65534, 65534)
        prefix = UNPRIVILEGED_ROOT
    else:
        directory.chmod(0o555)
    try:
        yield directory, prefix
    finally:
        directory.chmod(0o755)
        shutil.rmtree(base)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=ids(ALL_COMMANDS))
def test_a_directory_this_user_cannot_write_is_one_line(
    foreign: tuple[Path, list[str] | None], command: list[str]
) -> None:
    directory, prefix = foreign
    before = listing(directory)
    if command[0] in ("init", "serve"):
        if prefix is None:
            cannot_run_here("needs a directory owned by someone else: run as root")
        # someone else's directory cannot be made private: refused before anything is written
        result = run_cli(directory, command, prefix=prefix)
        assert_one_error(result, f"cannot make {directory} private", "Operation not permitted")
    else:
        result = run_cli(directory, command, prefix=prefix)
        assert_one_error(result, f"{directory} is not writable by this user")
    assert listing(directory) == before


@pytest.fixture(scope="module")
def read_only(initialised: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The initialised directory through a read-only bind mount: writes fail even for root.

    Needs the right to mount (root outside a restricted container); skipped otherwise, but
    never in CI.
    """
    base = tmp_path_factory.mktemp("read-only")
    source, target = base / "source", base / "data"
    shutil.copytree(initialised, source)
    target.mkdir()
    mounted = subprocess.run(
        ["mount", "--bind", str(source), str(target)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        cannot_run_here(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(target)], capture_output=True, check=True
        )
        yield target
    finally:
        subprocess.run(["umount", str(target)], capture_output=True, check=True)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=ids(ALL_COMMANDS))
def test_a_read_only_data_directory_is_one_line(read_only: Path, command: list[str]) -> None:
    before = listing(read_only)
    with pytest.raises(OSError, match="Read-only file system"):
        (read_only / "probe").write_text("")  # the mount really refuses writes, even root's
    assert_one_error(run_cli(read_only, command), str(read_only), "read-only file system")
    assert listing(read_only) == before


# -- other errors ------------------------------------------------------------------------------


def test_an_address_in_use_names_the_port_and_the_service(data_dir: Path) -> None:
    offset = free_port_offset()
    taken = socket.socket()
    try:
        taken.bind(("127.0.0.1", 2087 + offset))
        taken.listen(1)
        result = subprocess.run(
            [*PANELAUTH, "--data-dir", str(data_dir), "serve", "--port-offset", str(offset)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        taken.close()
    assert_one_error(result, f"port {2087 + offset}", "whostmgrd", "TLS", "Address already in use")


def test_twofactor_for_a_user_that_does_not_exist(data_dir: Path) -> None:
    for action in ("status", "remove", "enrol"):
        result = invoke(data_dir, "twofactor", action, "--user", "nosuch")
        assert_one_error(result, "“nosuch” does not exist")


def test_accesshash_convert_without_a_hash_says_how_to_make_one(data_dir: Path) -> None:
    result = invoke(data_dir, "accesshash", "convert")
    assert_one_error(result, "no access hash", "whmapi1 accesshash generate=1")


def test_an_unexpected_failure_is_one_line_too(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(*_args: object) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli_main, "run_whmapi1", explode)
    result = invoke(data_dir, "whmapi1", "version")
    assert assert_one_error(result) == "Error: unexpected RuntimeError: boom second line"


def test_commands_restore_the_umask(data_dir: Path) -> None:
    previous = os.umask(0o022)
    try:
        assert invoke(data_dir, "whmapi1", "version").exit_code == 0
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(previous)


def walk(command: click.Command, path: str = "panelauth") -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, f"{path} {name}")


def test_every_command_and_option_has_help() -> None:
    commands = dict(walk(cli))
    assert {"panelauth whmapi1", "panelauth token revoke", "panelauth twofactor enrol"} <= set(
        commands
    )
    for path, command in commands.items():
        assert (command.help or "").strip(), path
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{path} {param.opts}"


def test_help_needs_no_data_directory(tmp_path: Path) -> None:
    with contextlib.chdir(tmp_path):
        for command in ALL_COMMANDS:
            result = invoke(tmp_path / "nosuch", command[0], "--help")
            assert result.exit_code == 0, result.output
    assert not (tmp_path / "nosuch").exists()
