"""The data directory: store, configuration, certificate and logs, and first-start setup.

::

    <data dir>/              mode 0700
      panelauth.db           the SQLite store (+ -wal, -shm)
      panelauth.yaml         settings (optional; written with the defaults at init)
      tls/cert.pem, key.pem  the service certificate (key mode 0600)
      logs/access_log, login_log, audit_log, panelauth.log
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from panelauth.backends import open_store
from panelauth.clock import Clock
from panelauth.core.accounts import Accounts
from panelauth.core.passwords import HashingPool, PasswordHasher
from panelauth.core.settings import ConfigError, Settings, settings_from_mapping
from panelauth.server.tls import generate_self_signed

DEFAULT_CONFIG = """\
# panelauth settings; see docs/configuration.md. Every key is optional.
# hostname: panel.example.com        # used in generated URLs and redirects
# server_names: [panel.example.com]  # other names clients may use
# require_ssl: true                  # w§1.2; switch off only behind a trusted TLS proxy
# trusted_proxies: []                # CIDRs whose X-Forwarded-For is believed
# log_successful_logins: true
# max_body_bytes: 1048576
# argon2: {time_cost: 2, memory_cost_kib: 19456, parallelism: 1}
"""


def default_data_dir() -> Path:
    explicit = os.environ.get("PANELAUTH_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "panelauth"


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "panelauth.db"

    @property
    def store_url(self) -> str:
        return f"sqlite://{self.database.resolve()}"

    @property
    def config(self) -> Path:
        return self.root / "panelauth.yaml"

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "cert.pem"

    @property
    def key(self) -> Path:
        return self.root / "tls" / "key.pem"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def load_settings(self) -> Settings:
        if not self.config.exists():
            return Settings()
        try:
            raw = yaml.safe_load(self.config.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{self.config}: {error}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{self.config}: expected a mapping of settings")
        return settings_from_mapping(raw)


@dataclass(frozen=True)
class InitResult:
    created: list[str]
    root_password: str | None  # set only when this run created root with a generated password


async def initialise(data_dir: DataDir, clock: Clock, *, root_password: str | None) -> InitResult:
    """Create whatever is missing; an initialised directory is left exactly as it is."""
    created: list[str] = []
    if not data_dir.root.exists():
        data_dir.root.mkdir(parents=True, mode=0o700)
        created.append("data directory")
    data_dir.logs.mkdir(exist_ok=True, mode=0o700)
    if not data_dir.config.exists():
        data_dir.config.write_text(DEFAULT_CONFIG, encoding="utf-8")
        created.append("configuration")
    settings = data_dir.load_settings()
    if not data_dir.cert.exists() or not data_dir.key.exists():
        generate_self_signed(data_dir.cert, data_dir.key, settings.hostname)
        created.append("TLS certificate")
    store = open_store(data_dir.store_url, clock=clock)
    pool = HashingPool(PasswordHasher(settings.argon2), threads=1)
    generated = None
    try:
        if await store.get_account("root") is None:
            password = root_password or secrets.token_urlsafe(18)
            await Accounts(store, pool, clock).create_root(password)
            created.append("root account")
            generated = None if root_password else password
    finally:
        pool.close()
        store.close()
    return InitResult(created, generated)
