"""Configuration: one frozen object, read once at start and passed down (never global)."""

from __future__ import annotations

import ipaddress
import math
import re
import socket
from dataclasses import dataclass, field, fields, replace
from typing import Any

from panelauth.core.passwords import Argon2Parameters

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# an entry-point name as panelauth.extension.Plugin accepts it
_PLUGIN_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key."""


# the plugins that ship inside panelauth (src/panelauth/plugins/), served unless the settings say
REFERENCE_PLUGINS: tuple[str, ...] = ("dns_zones", "ssl", "domains")


@dataclass(frozen=True)
class Settings:
    hostname: str = field(default_factory=socket.gethostname)
    server_names: tuple[str, ...] = ()
    # w§1.2: cPanel's requiressl=1; off only behind a trusted TLS-terminating proxy
    require_ssl: bool = True
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # HAProxy's PROXY protocol (v1/v2) from trusted_proxies, whose header then names the client
    # and X-Forwarded-For is ignored (docs/proxy-protocol.md)
    proxy_protocol: bool = False
    log_successful_logins: bool = True
    max_body_bytes: int = 1024 * 1024
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    hashing_threads: int = 2
    hashing_max_pending: int = 64
    credential_cache_entries: int = 10_000
    credential_cache_ttl_seconds: float = 300.0
    shutdown_grace_seconds: float = 30.0
    # behind a load balancer: how long a stopping worker keeps serving, /readyz answering 503,
    # before it stops accepting (about the balancer's check interval times its fall count)
    drain_seconds: float = 0.0
    # slow and stalled clients (TR-6): seconds to receive a request head / a body, and
    # concurrent connections allowed per client address and per worker
    request_head_timeout: float = 10.0
    request_body_timeout: float = 30.0
    max_connections_per_address: int = 256
    max_connections: int = 4096
    # w§2.2: on by default for old clients; cPanel ships it off
    access_hash_enabled: bool = True
    # where users' home directories (and root's .accesshash) live; default <data dir>/home
    home_root: str | None = None
    # w§8: password sessions idle/absolute limits; cookie_ip_validation strict|loose|disabled
    session_idle_seconds: float = 1800.0
    session_absolute_seconds: float = 12 * 3600.0
    cookie_ip_validation: str = "strict"
    # SE-13: active sessions per identity; past it a login ends the oldest (`limit`); 0: no cap
    max_sessions_per_user: int = 0
    # w§14.1 (D9): "seed" (default) or "cpsrvd" for the current cPanel logger layout
    session_log_layout: str = "seed"
    # w§13.3: the key that encrypts two-factor secrets lives outside the database
    tfa_key_file: str | None = None  # default <data dir>/tfa.key
    tfa_window_steps: int = 1
    # FT-4: how long a store write waits for a lock before the answer is 503 with Retry-After
    store_busy_timeout_ms: int = 2000
    # records (accounts, tokens, sessions) each worker's store keeps, per kind; 0: none
    store_cache_entries: int = 10_000
    # FT-10: the most this node's clock may differ from the store server's (at start: refused)
    max_clock_skew_seconds: float = 5.0
    # the plugins served: names of installed `panelauth.functions` entry points (docs/extending.md);
    # by default the reference plugins that ship with panelauth (`plugins: []` serves none)
    plugins: tuple[str, ...] = REFERENCE_PLUGINS

    def public_host(self, requested: str | None) -> str:
        """`requested` (a Host header: name, optional port) if it is one of this server's names,
        else the configured hostname: an unchecked Host never reaches a URL (SS-8)."""
        host = (requested or "").rsplit(":", 1)[0].strip("[]")
        return host if host and self.is_server_name(host) else self.hostname

    def is_server_name(self, host: str) -> bool:
        """A name this server answers to; loopback names can only mean this machine."""
        host = host.lower()
        if host in ("localhost", "127.0.0.1", "::1"):
            return True
        return host == self.hostname.lower() or host in (n.lower() for n in self.server_names)


# One line of meaning per setting, kept beside the fields: `init` writes every field of Settings
# into panelauth.yaml (commented out, with its default) with this line above it.
SETTING_HELP: dict[str, str] = {
    "hostname": "the server's name in generated URLs and redirects (default: the host name)",
    "server_names": "other names clients may use; any other Host is never echoed",
    "require_ssl": "cPanel's requiressl; while on, nothing authenticates on the plain ports",
    "trusted_proxies": "CIDRs whose X-Forwarded-For (or PROXY header: proxy_protocol) is believed",
    "proxy_protocol": "connections from trusted_proxies must start with a PROXY header naming "
    "the client (X-Forwarded-For is then ignored)",
    "log_successful_logins": "a SUCCESS line in login_log for every header-authenticated request",
    "max_body_bytes": "larger request bodies get 413",
    "argon2": "argon2id parameters for new password hashes",
    "hashing_threads": "threads that hash passwords (never the event loop)",
    "hashing_max_pending": "password checks allowed to wait; beyond that the answer is 503",
    "credential_cache_entries": "verified Basic credentials kept per worker (0: no cache)",
    "credential_cache_ttl_seconds": "how long a cached verification is trusted",
    "shutdown_grace_seconds": "how long in-flight requests may run after SIGTERM",
    "drain_seconds": "after SIGTERM, how long /readyz answers 503 before the ports close",
    "access_hash_enabled": "false refuses `WHM root:<hash>` (cPanel ships it off)",
    "home_root": "users' home directories, with root's .accesshash (null: <data dir>/home)",
    "session_idle_seconds": "idle limit of password sessions",
    "session_absolute_seconds": "absolute limit of every session",
    "cookie_ip_validation": "strict, loose (same /24 or /64) or disabled",
    "max_sessions_per_user": "active sessions per user; a login past it ends the oldest (0: none)",
    "session_log_layout": "seed (cPanel's SSO-guide layout) or cpsrvd (its current logger)",
    "tfa_key_file": "the key sealing two-factor secrets, made at start (null: <data dir>/tfa.key)",
    "tfa_window_steps": "accepted TOTP steps either side of now",
    "request_head_timeout": "seconds a client may take to send a request's head",
    "request_body_timeout": "seconds a client may take to send a request's body",
    "max_connections_per_address": "concurrent connections per client address, per worker",
    "max_connections": "concurrent connections per worker",
    "store_busy_timeout_ms": "how long a store write waits for a lock before the answer is 503",
    "store_cache_entries": "accounts, tokens and sessions cached per worker, each (0: no cache)",
    "max_clock_skew_seconds": "the most this node's clock may differ from a shared store's "
    "(more: it refuses to start, and logs an error every minute while running)",
    "plugins": "plugins to serve, by entry-point name (group panelauth.functions); [] for none",
}
# settings whose default is None accept `null`, which means that default
_NULLABLE = frozenset(f.name for f in fields(Settings) if f.default is None)

_SIMPLE_KEYS: dict[str, type] = {
    "hostname": str,
    "require_ssl": bool,
    "proxy_protocol": bool,
    "log_successful_logins": bool,
    "max_body_bytes": int,
    "hashing_threads": int,
    "hashing_max_pending": int,
    "credential_cache_entries": int,
    "credential_cache_ttl_seconds": float,
    "shutdown_grace_seconds": float,
    "drain_seconds": float,
    "request_head_timeout": float,
    "request_body_timeout": float,
    "max_connections_per_address": int,
    "max_connections": int,
    "access_hash_enabled": bool,
    "home_root": str,
    "session_idle_seconds": float,
    "session_absolute_seconds": float,
    "cookie_ip_validation": str,
    "max_sessions_per_user": int,
    "session_log_layout": str,
    "tfa_key_file": str,
    "tfa_window_steps": int,
    "store_busy_timeout_ms": int,
    "store_cache_entries": int,
    "max_clock_skew_seconds": float,
}
_POSITIVE = (
    "max_body_bytes",
    "request_head_timeout",
    "request_body_timeout",
    "max_connections_per_address",
    "max_connections",
    "max_clock_skew_seconds",
)
_CHOICES = {
    "cookie_ip_validation": ("strict", "loose", "disabled"),
    "session_log_layout": ("seed", "cpsrvd"),
}


def settings_from_mapping(raw: dict[str, Any]) -> Settings:
    """Build Settings from a parsed YAML mapping; unknown keys and wrong types are errors."""
    values: dict[str, Any] = {}
    raw = {key: value for key, value in raw.items() if value is not None or key not in _NULLABLE}
    for key, raw_value in raw.items():
        value = raw_value
        if key in _SIMPLE_KEYS:
            expected = _SIMPLE_KEYS[key]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"{key}: expected {expected.__name__}")
            if key in _CHOICES and value not in _CHOICES[key]:
                raise ConfigError(f"{key}: one of {', '.join(_CHOICES[key])}")
            values[key] = value
        elif key == "server_names":
            values[key] = tuple(_strings(key, value))
        elif key == "trusted_proxies":
            try:
                values[key] = tuple(
                    ipaddress.ip_network(v, strict=False) for v in _strings(key, value)
                )
            except ValueError as error:
                raise ConfigError(f"trusted_proxies: {error}") from None
        elif key == "argon2":
            values[key] = _argon2(value)
        elif key == "plugins":
            values[key] = _plugin_names(value)
        else:
            raise ConfigError(f"unknown setting: {key}")
    _check_ranges(values)
    return replace(Settings(), **values)


def _check_ranges(values: dict[str, Any]) -> None:
    for key in _POSITIVE:
        if values.get(key, 1) <= 0:
            raise ConfigError(f"{key}: must be positive")
    if math.isnan(values.get("max_clock_skew_seconds", 1.0)):
        raise ConfigError("max_clock_skew_seconds: must be a number of seconds")
    if values.get("max_sessions_per_user", 0) < 0:
        raise ConfigError("max_sessions_per_user: must be 0 (no cap) or more")
    if values.get("proxy_protocol") and not values.get("trusted_proxies"):
        raise ConfigError("proxy_protocol: needs trusted_proxies (whose headers are believed)")


def _argon2(value: Any) -> Argon2Parameters:
    if not isinstance(value, dict):
        raise ConfigError("argon2: expected a mapping")
    known = {"time_cost", "memory_cost_kib", "parallelism"}
    for name, number in value.items():
        if name not in known:
            raise ConfigError(f"argon2: unknown key {name}")
        if not isinstance(number, int) or isinstance(number, bool) or number < 1:
            raise ConfigError(f"argon2.{name}: expected a positive integer")
    return Argon2Parameters(**value)


def _plugin_names(value: Any) -> tuple[str, ...]:
    names = _strings("plugins", value)
    for name in names:
        if not _PLUGIN_NAME.fullmatch(name):
            raise ConfigError(f"plugins: “{name[:64]}” is not a plugin name (a-z, 0-9, _ and -)")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"plugins: “{duplicates[0]}” is listed twice")
    return tuple(names)


def _strings(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings")
    return value
