"""The data directory: store, configuration, certificate and logs, and first-start setup.

Everything in it is private whatever the umask: directories 0700, files 0600. Commands run
under umask 077 (`private_umask`), files with secrets are opened with mode 0600, and `init` /
`serve` tighten what is already there (`DataDir.prepare`, `DataDir.secure`).

::

    <data dir>/              mode 0700
      panelauth.db           the SQLite store (+ -wal, -shm)
      panelauth.yaml         settings (optional; written with the defaults at init)
      tls/cert.pem, key.pem  the service certificate (key mode 0600)
      logs/access_log, login_log, audit_log, panelauth.log
      effective-time.json    the clock's high-water mark (FT-9), mode 0600
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import yaml

from panelauth.backends import POSTGRESQL_SCHEMES, check_session_store, open_store
from panelauth.backends import migrate_store as migrate_store_at
from panelauth.clock import Clock
from panelauth.core.accounts import Accounts
from panelauth.core.passwords import HashingPool, PasswordHasher
from panelauth.core.secretbox import KEY_ID_SETTING, key_id, load_or_create_key
from panelauth.core.settings import SETTING_HELP, ConfigError, Settings, settings_from_mapping
from panelauth.core.shared_settings import TWEAKS, seed
from panelauth.core.stores import SettingStore
from panelauth.server.tls import generate_self_signed

log = logging.getLogger(__name__)

CONFIG_HEADER = """\
# panelauth settings (see docs/configuration.md). Every key is optional: each one is listed
# below, commented out, with its default and what it means. Uncomment a line to change it.
"""
# A directory holding one of these is panelauth's; init and serve refuse any other non-empty one.
MARKERS = ("panelauth.db", "panelauth.yaml")
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class DataDirError(Exception):
    """The data directory cannot be used; the message is one line for the user."""


@contextmanager
def private_umask() -> Iterator[None]:
    """Umask 077 while panelauth creates files (SQLite's own -wal/-shm included)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def _plain(value: Any) -> Any:
    """A setting's value as YAML writes it."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(item) for name, item in dataclasses.asdict(value).items()}
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # e.g. an IP network


# the node's own keys of panelauth.yaml that are not Settings: where the shared data lives
STORE_KEYS = ("store", "session_store")
STORE_TEMPLATE = """
# where accounts, tokens, sessions and settings live: a PostgreSQL URL shares them between
# nodes, e.g. postgresql://panelauth@db.example:5432/panelauth?schema=panelauth
# (--store and $PANELAUTH_STORE come first; default: SQLite in this directory)
# store: sqlite:///path/to/panelauth.db

# with a PostgreSQL store only: a Redis URL keeps sessions, SSO and hand-off tokens there
# (with native expiry; a Redis restart logs users out, blocks and used codes stay), e.g.
# redis://cache.example:6379/0?prefix=panelauth (prefix: several installations, one Redis)
# (--session-store and $PANELAUTH_SESSION_STORE come first; default: sessions in the store)
# session_store: redis://127.0.0.1:6379/0
"""


# above each shared setting (core/shared_settings.py): the store holds it for every node
SHARED_NOTE = (
    "# (shared by every node: the first `init` copies it into the store, whose value applies;\n"
    "# then change it with `panelauth whmapi1 set_tweaksetting key={key} value=...`)\n"
)


def settings_template(defaults: Settings | None = None) -> str:
    """panelauth.yaml as `init` writes it: every Settings field, commented out, with its default.

    Made from the Settings dataclass, so a new setting appears here by itself (with its line
    from SETTING_HELP). Uncommented, the file gives `defaults` back.
    """
    defaults = defaults or Settings()
    lines = [CONFIG_HEADER]
    shared = {tweak.name: tweak.key for tweak in TWEAKS.values()}
    for field in dataclasses.fields(Settings):
        value = yaml.safe_dump(
            _plain(getattr(defaults, field.name)),
            default_flow_style=True,
            width=1_000_000,
            sort_keys=False,
        )
        value = value.removesuffix("\n...\n").strip()
        meaning = SETTING_HELP.get(field.name, "")
        entry = (
            f"# {meaning}\n# {field.name}: {value}\n" if meaning else f"# {field.name}: {value}\n"
        )
        if field.name in shared:
            entry = SHARED_NOTE.format(key=shared[field.name]) + entry
        lines.append(entry)
    return "\n".join(lines) + STORE_TEMPLATE


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return " ".join(str(error).split())


# query parameters that carry a secret in a store URL: libpq reads `password` and `sslpassword`
# there as well as in the user part, and redis-py reads `password`
_SECRET_URL_PARAMETERS = frozenset({"password", "sslpassword"})


def redacted(url: str) -> str:
    """A store URL without its password (user:password@ becomes user:***@, :password@ :***@,
    and the value of a `password` or `sslpassword` query parameter ***)."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    if query:
        pairs = [pair.partition("=") for pair in query.split("&")]
        query = "&".join(
            f"{name}{equals}***"
            if unquote(name).lower() in _SECRET_URL_PARAMETERS and equals
            else f"{name}{equals}{value}"
            for name, equals, value in pairs
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def default_data_dir() -> Path:
    explicit = os.environ.get("PANELAUTH_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "panelauth"


@dataclass(frozen=True)
class DataDir:
    root: Path
    store_option: str | None = None  # `--store`, which comes before every other source
    session_store_option: str | None = None  # `--session-store`, likewise

    @property
    def database(self) -> Path:
        return self.root / "panelauth.db"

    @property
    def store_url(self) -> str:
        """`--store`, else $PANELAUTH_STORE, else `store:` in panelauth.yaml, else SQLite here."""
        chosen = (
            self.store_option
            or os.environ.get("PANELAUTH_STORE")
            or self._configured("store", "a store URL")
        )
        return chosen or f"sqlite://{self.database.resolve()}"

    @property
    def session_store_url(self) -> str | None:
        """`--session-store`, else $PANELAUTH_SESSION_STORE, else `session_store:` in
        panelauth.yaml, else None (the sessions live in the store). A session store beside a
        store that is not PostgreSQL is a DataDirError."""
        chosen = (
            self.session_store_option
            or os.environ.get("PANELAUTH_SESSION_STORE")
            or self._configured("session_store", "a session store URL (redis://...)")
        )
        if chosen is None:
            return None
        store_url = self.store_url
        if store_url.partition("://")[0] not in POSTGRESQL_SCHEMES:
            raise DataDirError(
                f"the session store {redacted(chosen)} needs a PostgreSQL store, and the store "
                f"is {self.store_label}: give --store, $PANELAUTH_STORE or `store:` in "
                "panelauth.yaml a postgresql:// URL, or drop the session store"
            )
        try:
            check_session_store(store_url, chosen)
        except ValueError as error:
            raise DataDirError(str(error)) from None
        return chosen

    @property
    def session_store_label(self) -> str | None:
        """The session store for a message, without a password; None if there is none."""
        url = self.session_store_url
        return None if url is None else redacted(url)

    @property
    def embedded(self) -> bool:
        """The store is the SQLite file of this directory."""
        return self.store_url == f"sqlite://{self.database.resolve()}"

    @property
    def store_label(self) -> str:
        """The store for a message: the SQLite file, or the URL without a password."""
        return str(self.database) if self.embedded else redacted(self.store_url)

    def _configured(self, key: str, expected: str) -> str | None:
        """A URL given as `key:` in panelauth.yaml, or None."""
        value = self._raw_config().get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.config}: {key}: expected {expected}")
        return value.strip()

    @property
    def config(self) -> Path:
        return self.root / "panelauth.yaml"

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "cert.pem"

    @property
    def key(self) -> Path:
        return self.root / "tls" / "key.pem"

    def tfa_key(self, settings: Settings) -> Path:
        """The key that seals two-factor secrets (outside the store, TF-8)."""
        return Path(settings.tfa_key_file) if settings.tfa_key_file else self.root / "tfa.key"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def effective_time(self) -> Path:
        """The clock's high-water mark (FT-9; see panelauth.clock.HighWaterMark)."""
        return self.root / "effective-time.json"

    def load_settings(self) -> Settings:
        """The settings; every problem is a one-line ConfigError naming the file."""
        raw = {key: value for key, value in self._raw_config().items() if key not in STORE_KEYS}
        try:
            return settings_from_mapping(raw)
        except ConfigError as error:
            raise ConfigError(f"{self.config}: {error}") from None

    def _raw_config(self) -> dict[str, Any]:
        try:
            text = self.config.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as error:
            raise ConfigError(f"{self.config}: cannot read it: {_reason(error)}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{self.config}: not UTF-8 text") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{self.config}: {_yaml_problem(error)}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.config}: expected a mapping of settings")
        return raw

    # -- checks ------------------------------------------------------------------------------

    def require_store(self) -> None:
        """Before any command but init and serve: an initialised, usable directory.

        Creates nothing; raises DataDirError with a one-line reason.
        """
        root = self.root
        try:
            mode = root.stat().st_mode
        except FileNotFoundError:
            raise DataDirError(f"{root} does not exist; run `panelauth init`") from None
        except NotADirectoryError:
            raise DataDirError(f"{root} is not a directory") from None
        except OSError as error:
            raise DataDirError(f"cannot use {root}: {_reason(error)}") from None
        if not stat.S_ISDIR(mode):
            raise DataDirError(f"{root} is not a directory")
        if not os.access(root, os.R_OK | os.X_OK):
            raise DataDirError(f"{root} is not readable by this user")
        if self.embedded and not self.database.is_file():
            raise DataDirError(f"{root} is not a panelauth data directory; run `panelauth init`")
        _ = self.session_store_url  # a session store needs a PostgreSQL store
        self._require_writable()

    def prepare(self) -> bool:
        """For init and serve: create the directory (0700), or check and tighten it.

        An existing directory must be empty or panelauth's (it holds one of MARKERS). True
        when the directory was created.
        """
        root = self.root
        try:
            root.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
            created = True
        except FileExistsError:
            created = False
        except OSError as error:
            raise DataDirError(f"cannot create {root}: {_reason(error)}") from None
        if not created:
            if not root.is_dir():
                raise DataDirError(f"{root} is not a directory")
            try:
                entries = set(os.listdir(root))
            except OSError as error:
                raise DataDirError(f"cannot read {root}: {_reason(error)}") from None
            if entries and not entries.intersection(MARKERS):
                raise DataDirError(
                    f"{root} holds other files and is not a panelauth data directory; "
                    "choose an empty or new directory"
                )
        self.secure()
        self._require_writable()
        return created

    def secure(self) -> None:
        """Take group and other permissions away from the directory and everything in it.

        The directory itself becomes 0700; symbolic links are neither changed nor followed.
        Modes already private are left alone (nothing is written then).
        """
        self._tighten(self.root, PRIVATE_DIR_MODE)
        for folder, directories, files in os.walk(self.root):
            for name in (*directories, *files):
                path = Path(folder, name)
                try:
                    mode = path.lstat().st_mode
                except FileNotFoundError:
                    continue
                if not stat.S_ISLNK(mode):
                    self._tighten(path, stat.S_IMODE(mode) & ~0o077)

    @staticmethod
    def _tighten(path: Path, wanted: int) -> None:
        try:
            if stat.S_IMODE(path.lstat().st_mode) != wanted:
                path.chmod(wanted)
        except OSError as error:
            raise DataDirError(
                f"cannot make {path} private (mode {wanted:04o}): {_reason(error)}"
            ) from None

    def _require_writable(self) -> None:
        for path in (self.root, self.database):
            if path.exists() and not os.access(path, os.W_OK):
                try:
                    read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
                except OSError:
                    read_only = False
                if read_only:
                    raise DataDirError(f"{self.root} is on a read-only file system")
                raise DataDirError(f"{path} is not writable by this user")


@dataclass(frozen=True)
class InitResult:
    created: list[str]
    root_password: str | None  # set only when this run created root with a generated password
    # one line per shared setting this node's panelauth.yaml sets otherwise than the store
    # (also logged as a warning)
    warnings: list[str] = dataclasses.field(default_factory=list)


async def initialise(data_dir: DataDir, clock: Clock, *, root_password: str | None) -> InitResult:
    """Create whatever is missing; an initialised directory is left as it is, modes tightened.

    Raises DataDirError when the directory cannot be created, is someone else's (holds other
    files), cannot be made private or is not writable.
    """
    with private_umask():
        return await _initialise(data_dir, clock, root_password=root_password)


async def _initialise(data_dir: DataDir, clock: Clock, *, root_password: str | None) -> InitResult:
    created: list[str] = []
    if data_dir.prepare():
        created.append("data directory")
    session_url = data_dir.session_store_url  # refused before anything else is made
    data_dir.logs.mkdir(exist_ok=True, mode=PRIVATE_DIR_MODE)
    if not data_dir.config.exists():
        _write_private(data_dir.config, settings_template())
        created.append("configuration")
    settings = data_dir.load_settings()
    if not data_dir.cert.exists() or not data_dir.key.exists():
        generate_self_signed(data_dir.cert, data_dir.key, settings.hostname)
        created.append("TLS certificate")
    store = await open_store(data_dir.store_url, session_url, clock=clock, migrate=True)
    pool = HashingPool(PasswordHasher(settings.argon2), threads=1)
    generated = None
    try:
        if await _agree_on_tfa_key(store, data_dir.tfa_key(settings)):
            created.append("two-factor key")
        warnings = await _share_settings(store, data_dir, settings)
        if await store.get_account("root") is None:
            password = root_password or secrets.token_urlsafe(18)
            await Accounts(store, pool, clock).create_root(password)
            created.append("root account")
            generated = None if root_password else password
    finally:
        pool.close()
        await store.aclose()
    data_dir.secure()  # whatever was just made (the certificate, the store and its -wal/-shm)
    return InitResult(created, generated, warnings)


async def _share_settings(store: SettingStore, data_dir: DataDir, settings: Settings) -> list[str]:
    """The shared decision settings (core/shared_settings.py): the store gets this node's
    panelauth.yaml values for the keys it lacks (the first node's values become everyone's);
    a key this node's file sets otherwise than the store is a warning, the store's applies."""
    named = frozenset(data_dir._raw_config())
    warnings = [d.message() for d in await seed(store, settings, explicit=named)]
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


async def _agree_on_tfa_key(store: SettingStore, path: Path) -> bool:
    """This node's two-factor key is the one the store's secrets are sealed with; True if it was
    made now. Nodes sharing a store share the key (copied, never generated twice): a store that
    names a key this node lacks, or another one, is refused before anything is served."""
    named = await store.get_setting(KEY_ID_SETTING)
    existed = path.exists()
    if not existed and named is not None:
        raise DataDirError(
            f"the store's two-factor secrets are sealed with a key this node does not have: "
            f"copy tfa.key from a node that uses this store to {path}"
        )
    own = key_id(load_or_create_key(path))
    if named is None:
        await store.set_setting(KEY_ID_SETTING, own)
    elif named != own:
        raise DataDirError(
            f"{path} is not the key the store's two-factor secrets are sealed with: copy tfa.key "
            "from a node that uses this store"
        )
    return not existed


async def migrate_store(data_dir: DataDir, clock: Clock) -> tuple[int, int]:
    """Bring an initialised store's schema up to date: (version before, version after)."""
    return await migrate_store_at(data_dir.store_url, data_dir.session_store_url, clock=clock)
