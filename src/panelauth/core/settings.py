"""Configuration: one frozen object, read once at start and passed down (never global)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field, replace
from typing import Any

from panelauth.core.passwords import Argon2Parameters

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key."""


@dataclass(frozen=True)
class Settings:
    hostname: str = field(default_factory=socket.gethostname)
    server_names: tuple[str, ...] = ()
    # w§1.2: cPanel's requiressl=1; off only behind a trusted TLS-terminating proxy
    require_ssl: bool = True
    trusted_proxies: tuple[IPNetwork, ...] = ()
    log_successful_logins: bool = True
    max_body_bytes: int = 1024 * 1024
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    hashing_threads: int = 2
    hashing_max_pending: int = 64
    credential_cache_entries: int = 10_000
    credential_cache_ttl_seconds: float = 300.0
    shutdown_grace_seconds: float = 30.0
    # w§2.2: on by default for old clients; cPanel ships it off
    access_hash_enabled: bool = True
    # where users' home directories (and root's .accesshash) live; default <data dir>/home
    home_root: str | None = None
    # w§8: password sessions idle/absolute limits; cookie_ip_validation strict|loose|disabled
    session_idle_seconds: float = 1800.0
    session_absolute_seconds: float = 12 * 3600.0
    cookie_ip_validation: str = "strict"
    # w§14.1 (D9): "seed" (default) or "cpsrvd" for the current cPanel logger layout
    session_log_layout: str = "seed"
    # w§13.3: the key that encrypts two-factor secrets lives outside the database
    tfa_key_file: str | None = None  # default <data dir>/tfa.key
    tfa_window_steps: int = 1

    def is_server_name(self, host: str) -> bool:
        """A name this server answers to; loopback names can only mean this machine."""
        host = host.lower()
        if host in ("localhost", "127.0.0.1", "::1"):
            return True
        return host == self.hostname.lower() or host in (n.lower() for n in self.server_names)


_SIMPLE_KEYS: dict[str, type] = {
    "hostname": str,
    "require_ssl": bool,
    "log_successful_logins": bool,
    "max_body_bytes": int,
    "hashing_threads": int,
    "hashing_max_pending": int,
    "credential_cache_entries": int,
    "credential_cache_ttl_seconds": float,
    "shutdown_grace_seconds": float,
    "access_hash_enabled": bool,
    "home_root": str,
    "session_idle_seconds": float,
    "session_absolute_seconds": float,
    "cookie_ip_validation": str,
    "session_log_layout": str,
    "tfa_key_file": str,
    "tfa_window_steps": int,
}
_CHOICES = {
    "cookie_ip_validation": ("strict", "loose", "disabled"),
    "session_log_layout": ("seed", "cpsrvd"),
}


def settings_from_mapping(raw: dict[str, Any]) -> Settings:
    """Build Settings from a parsed YAML mapping; unknown keys and wrong types are errors."""
    values: dict[str, Any] = {}
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
        else:
            raise ConfigError(f"unknown setting: {key}")
    if values.get("max_body_bytes", 1) <= 0:
        raise ConfigError("max_body_bytes: must be positive")
    return replace(Settings(), **values)


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


def _strings(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: expected a list of strings")
    return value
