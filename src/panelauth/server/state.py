"""The parts one worker process serves with, built once from the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from panelauth.api.context import Runtime
from panelauth.api.dispatch import Dispatcher
from panelauth.backends import open_store
from panelauth.clock import Clock
from panelauth.core.authentication import (
    Authenticator,
    AuthenticatorChain,
    BasicAuthenticator,
    SessionAuthenticator,
)
from panelauth.core.bruteforce import BruteForceGuard
from panelauth.core.credential_cache import CredentialCache
from panelauth.core.passwords import HashingPool, PasswordHasher
from panelauth.core.secretbox import SecretBox, load_or_create_key
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import IpValidation, SessionPolicy
from panelauth.core.settings import Settings
from panelauth.core.shared_settings import SharedSettingsView
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.two_factor import TwoFactor
from panelauth.core.verified_headers import DEFAULT_TTL_SECONDS as VERIFIED_TTL_SECONDS
from panelauth.core.verified_headers import VerifiedHeaders
from panelauth.extension.catalog import build_registry
from panelauth.extension.hooks import CertificateSource, certificate_source, event_bus
from panelauth.extension.loading import load_plugins
from panelauth.protocol import logformat, sessionlog
from panelauth.protocol.services import Service
from panelauth.protocol.sessionlog import Origin, SessionLogLayout
from panelauth.server.datadir import DataDir
from panelauth.server.logfiles import JsonLinesLog, LogFile


class AccessLog:
    def __init__(self, file: LogFile, clock: Clock) -> None:
        self._file, self._clock = file, clock

    def write(
        self,
        *,
        at: float,
        address: str,
        user: str | None,
        request: str,
        status: int,
        size: int,
        user_agent: str | None,
        port: int,
    ) -> None:
        self._file.write_line(
            logformat.access_line(
                at=at,
                address=address,
                user=user,
                request=request,
                status=status,
                size=size,
                user_agent=user_agent,
                port=port,
            )
        )


class LoginLog:
    def __init__(self, file: LogFile, clock: Clock) -> None:
        self._file, self._clock = file, clock

    def success(
        self,
        *,
        address: str,
        user: str,
        service: Service,
        possessor: str | None = None,
        at: float | None = None,  # default: now
    ) -> None:
        self._file.write_line(
            logformat.login_success_line(
                at=self._clock.now() if at is None else at,
                address=address,
                user=user,
                service=service.value,
                possessor=possessor,
            )
        )

    def failure(
        self, *, address: str, claimed_user: str, request: str, service: Service, reason: str
    ) -> None:
        self._file.write_line(
            logformat.login_failure_line(
                at=self._clock.now(),
                address=address,
                claimed_user=claimed_user,
                request=request,
                service=service.value,
                reason=reason,
            )
        )


class AccountingFile:
    """`logs/accounting_log`: token and access-hash events in cPanel's accounting layout."""

    def __init__(self, file: LogFile, clock: Clock) -> None:
        self._file, self._clock = file, clock

    def record(self, action: str, *fields: str) -> None:
        self._file.write_line(
            logformat.accounting_line(at=self._clock.now(), action=action, fields=list(fields))
        )


class SessionLogFile:
    """`logs/session_log`: NEW and PURGE lines (w§14.1)."""

    def __init__(self, file: LogFile, clock: Clock, layout: SessionLogLayout) -> None:
        self._file, self._clock, self._layout = file, clock, layout

    def new(self, session_id: str, origin: Origin) -> None:
        self._file.write_line(
            sessionlog.new_line(
                at=self._clock.now(), session_id=session_id, origin=origin, layout=self._layout
            )
        )

    def purge(self, session_id: str, reason: str, address: str | None) -> None:
        self._file.write_line(
            sessionlog.purge_line(
                at=self._clock.now(),
                session_id=session_id,
                reason=reason,
                address=address,
                layout=self._layout,
            )
        )


def session_policy(settings: Settings) -> SessionPolicy:
    """The policy panelauth.yaml alone gives (the server decides with the shared settings in
    force instead: `SharedSettingsView.session_policy`)."""
    return SessionPolicy(
        password_idle=settings.session_idle_seconds,
        absolute=settings.session_absolute_seconds,
        ip_validation=IpValidation(settings.cookie_ip_validation),
        max_per_user=settings.max_sessions_per_user,
    )


class AuditLog:
    def __init__(self, log: JsonLinesLog, clock: Clock) -> None:
        self._log, self._clock = log, clock

    def write(self, **fields: str) -> None:
        self.write_at(self._clock.now(), **fields)

    def write_at(self, at: float, /, **fields: str) -> None:
        """One record of `fields`, stamped `at` (a request's lines share one clock reading)."""
        self._log.write_document({"time": _milliseconds(at), **fields})  # one dict, `time` first

    def authenticated_at(
        self, at: float, /, *, user: str, factor: str, service: str, address: str
    ) -> None:
        """What `write_at(at, event="auth", outcome="success", ...)` writes: the record of a
        header-authenticated request, whose fields but the time repeat request after request."""
        fields = _authenticated_fields(user, factor, service, address)
        self._log.write_serialised(logformat.timed_json_line(_milliseconds(at), fields))


def _milliseconds(at: float) -> float:
    """An audit record's time: milliseconds like round(x, 3) (off by 1 ms near a tie, ~1 value
    in 10,000) at less than half its cost."""
    return round(at * 1000) / 1000


@lru_cache(maxsize=1024)
def _authenticated_fields(
    user: str, factor: str, service: str, address: str
) -> logformat.JsonFields:
    """An audit success record after its time, serialised once per who, how and where (no
    secret is in it, and an entry is made only after a success)."""
    document = {
        "event": "auth",
        "outcome": "success",
        "user": user,
        "factor": factor,
        "service": service,
        "address": address,
    }
    return logformat.JsonFields.of(document)


@dataclass
class ServerState:
    settings: Settings
    runtime: Runtime
    dispatcher: Dispatcher
    authenticator: AuthenticatorChain
    access_log: AccessLog
    login_log: LoginLog
    audit: AuditLog
    log_files: tuple[LogFile, ...] = ()  # flushed and closed by `aclose`
    # the enabled plugins' certificates by TLS server name (extension/hooks.py), asked by the
    # TLS listeners through a per-worker cache of contexts (server/sni.py); None: none
    certificates: CertificateSource | None = None

    @property
    def sessions(self) -> SessionManager:
        return self.runtime.sessions

    @property
    def shared(self) -> SharedSettingsView:
        """The shared decision settings in force on this worker (core/shared_settings.py)."""
        return self.runtime.shared

    def authentication_failed(
        self,
        *,
        address: str,
        claimed_user: str,
        request: str,
        service: Service,
        reason: str,
        factor: str,
    ) -> None:
        """One failed authentication: a FAILED line in login_log and an audit record (LG-2)."""
        self.login_log.failure(
            address=address,
            claimed_user=claimed_user,
            request=request,
            service=service,
            reason=reason,
        )
        self.audit.write(
            event="auth",
            outcome="failure",
            claimed_user=claimed_user,
            reason=reason,
            factor=factor,
            service=service.value,
            address=address,
        )

    async def aclose(self) -> None:
        for log_file in self.log_files:  # shutdown: every buffered line is written first
            log_file.close()
        self.runtime.passwords.close()
        await self.runtime.store.aclose()


async def build_state(
    data_dir: DataDir,
    settings: Settings,
    clock: Clock,
    *,
    wall_clock: Clock | None = None,
    log_flush_interval: float = 0.0,
) -> ServerState:
    """Open the store and logs of `data_dir` (call after fork: one connection per worker).

    `clock` decides every expiry and stamps the logs; `wall_clock` (default `clock`) is the
    system clock TOTP codes are checked against (FT-9). `log_flush_interval` > 0 buffers the
    log lines that long at most (the server; server/logfiles.py); 0 writes each at once.
    """
    plugins = load_plugins(settings.plugins)  # a plugin that cannot be served stops us here
    registry = build_registry(plugins)
    store = await open_store(
        data_dir.store_url,
        data_dir.session_store_url,
        clock=clock,
        busy_timeout_ms=settings.store_busy_timeout_ms,
        cache_entries=settings.store_cache_entries,
    )
    pool = HashingPool(
        PasswordHasher(settings.argon2),
        threads=settings.hashing_threads,
        max_pending=settings.hashing_max_pending,
    )
    logs = data_dir.logs
    log_files = {
        name: LogFile(logs / name, flush_interval=log_flush_interval)
        for name in ("accounting_log", "session_log", "access_log", "login_log", "audit_log")
    }
    accounting = AccountingFile(log_files["accounting_log"], clock)
    home_root = Path(settings.home_root) if settings.home_root else data_dir.root / "home"
    session_log = SessionLogFile(
        log_files["session_log"], clock, SessionLogLayout(settings.session_log_layout)
    )
    # the decisions every node shares (requiressl, lifetimes, ...): the store's values, else
    # this node's panelauth.yaml; read now, then again by a request that finds them 1 s old
    shared = SharedSettingsView(store, settings, clock)
    await shared.refresh()
    sessions = SessionManager(store, clock, shared, session_log)
    key_file = data_dir.tfa_key(settings)
    two_factor = TwoFactor(
        store,
        SecretBox([load_or_create_key(key_file)]),
        clock,
        hostname=settings.hostname,
        window=shared,
        totp_clock=wall_clock,
    )
    guard = BruteForceGuard(store, clock)
    runtime = Runtime(
        store,
        pool,
        clock,
        settings,
        registry,
        accounting,
        home_root,
        sessions,
        two_factor,
        guard,
        shared,
        event_bus(plugins, store, clock),
    )
    cache = CredentialCache(
        clock,
        max_entries=settings.credential_cache_entries,
        ttl_seconds=settings.credential_cache_ttl_seconds,
    )
    # credentials (headers, session cookies) that passed every check, per worker: bounded
    # like the cache above, and timed by it when it is shorter
    verified = VerifiedHeaders(
        store,
        shared,
        clock,
        max_entries=settings.credential_cache_entries,
        ttl_seconds=min(VERIFIED_TTL_SECONDS, settings.credential_cache_ttl_seconds),
    )
    authenticators: list[Authenticator] = [
        TokenAuthenticator(store, clock, access_hash_enabled=shared),
        SessionAuthenticator(sessions),
        BasicAuthenticator(store, pool, cache, two_factor),
    ]
    return ServerState(
        settings=settings,
        runtime=runtime,
        dispatcher=Dispatcher(runtime, registry),
        authenticator=AuthenticatorChain(authenticators, guard, verified=verified),
        access_log=AccessLog(log_files["access_log"], clock),
        login_log=LoginLog(log_files["login_log"], clock),
        audit=AuditLog(JsonLinesLog(log_files["audit_log"]), clock),
        log_files=tuple(log_files.values()),
        certificates=certificate_source(plugins, store, clock),
    )
