"""The settings that change a decision, the same on every node: WHM's Tweak Settings.

Which settings are shared: every one that decides who gets in and for how long (`require_ssl`,
the session lifetimes, cookie IP validation, the per-user session cap, the access hash, the
TOTP window) and what the login log records (`log_successful_logins`: a cluster's login history
must not depend on the node that served a request). Two-factor policy and cPHulk's configuration
were shared already (core/two_factor.py, core/hulk.py). What stays in panelauth.yaml describes
one node: its names and network path (hostname, server_names, trusted_proxies, proxy_protocol),
its resources (hashing threads and argon2 cost, caches, timeouts, connection limits, body size),
its lifecycle (shutdown_grace_seconds, drain_seconds), its files (home_root, tfa_key_file,
session_log_layout) and how it reaches the store. None of those changes a decision: any node
verifies any hash, and a cache only remembers what the store decided.

Storage: one store setting per key (`tweaksetting.<key>`, the canonical text of its value)
rather than one JSON document. A change writes its own key only, so two roots changing two keys
at once on two nodes never undo each other (a document would be read, changed and written back:
the second write would restore the first key's old value), and a node seeding a key the store
lacks never overwrites a key someone else just changed. The price is one small read per key
when a view refreshes (8 reads, once a second per worker).

The effective value of a key is the store's if it holds a valid one, else the node's own
panelauth.yaml value (`Settings`): a fresh single node behaves as its file says, and `init`
writes the file's values into the store for every key it lacks (`seed`), so the first node's
values become everyone's. A later node whose file disagrees is told at start (`Disagreement`).

The view (`SharedSettingsView`): one per worker. The server checks it at the start of each
request (`stale`: two attribute reads and two comparisons) and re-reads the store when it is a
second old or more; concurrent requests share one read. Consumers read `view.value` (a frozen
`SharedSettings`) and never the store. After this worker's own change the view re-reads at
once (`reload`), so a change made on one node applies there at the next request and on every
other node within about a second.

A read that fails keeps the last value, logs, and is tried again a second later; the request
goes on. That is safe: the value kept is one that was in force a moment ago (never a default
nobody chose), and every decision that grants access still reads the store (accounts,
sessions, tokens), which answers 503 while it cannot be read; failing closed instead (refusing
on the plain port, strict validation, short lifetimes) would turn a store hiccup into logouts
and refusals on every node behind a TLS-terminating proxy, without protecting anything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from panelauth.clock import Clock
from panelauth.core.sessions import IpValidation, SessionPolicy
from panelauth.core.settings import Settings
from panelauth.core.stores import SettingStore
from panelauth.errors import InvalidArgument, ServiceUnavailable

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 1.0  # a view older than this is re-read by the next request
STORE_PREFIX: Final = "tweaksetting."  # store setting of a key: STORE_PREFIX + key
MODULES: Final = ("Apache", "Basic", "Mail", "Main")  # cPanel's Tweak Settings modules
MODULE: Final = "Main"  # the module of every key panelauth serves (cPanel's default)
_NUMBER = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """The effective shared settings; field names are panelauth.yaml's keys."""

    require_ssl: bool = True
    session_idle_seconds: float = 1800.0
    session_absolute_seconds: float = 12 * 3600.0
    cookie_ip_validation: str = "strict"
    max_sessions_per_user: int = 0
    access_hash_enabled: bool = True
    tfa_window_steps: int = 1
    log_successful_logins: bool = True
    # derived once per value: what SessionManager decides with
    session_policy: SessionPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        policy = SessionPolicy(
            password_idle=self.session_idle_seconds,
            absolute=self.session_absolute_seconds,
            ip_validation=IpValidation(self.cookie_ip_validation),
            max_per_user=self.max_sessions_per_user,
        )
        object.__setattr__(self, "session_policy", policy)

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedSettings:
        """The node's own values: those of its panelauth.yaml."""
        return cls(**{tweak.name: getattr(settings, tweak.name) for tweak in TWEAKS.values()})


class SharedSource(Protocol):
    """Where a consumer reads the shared settings in force (a view, or a fixed value)."""

    @property
    def value(self) -> SharedSettings: ...


@dataclass(frozen=True, slots=True)
class FixedShared:
    """A source that never changes (tests, and callers given a plain value)."""

    value: SharedSettings


# -- the keys ------------------------------------------------------------------------------------

Value = bool | int | float | str


@dataclass(frozen=True, slots=True)
class Tweak:
    """One Tweak Settings key: cPanel's name where cPanel has one, else `panelauth_<name>`."""

    key: str
    name: str  # the SharedSettings field and panelauth.yaml key
    kind: type  # bool (0/1), int, float (seconds) or str (one of `choices`)
    meaning: str
    minimum: float = 0
    maximum: float = 0
    choices: tuple[str, ...] = ()

    @property
    def store_key(self) -> str:
        return STORE_PREFIX + self.key

    def parse(self, text: str) -> Value:
        """The value of `text`, or InvalidArgument naming the key and what it accepts."""
        text = text.strip()
        if self.kind is bool:
            if text not in ("0", "1"):
                raise InvalidArgument(f"The value of “{self.key}” must be 1 or 0.")
            return text == "1"
        if self.kind is str:
            if text not in self.choices:
                raise InvalidArgument(
                    f"The value of “{self.key}” must be one of: {', '.join(self.choices)}."
                )
            return text
        whole = self.kind is int
        if not _NUMBER.fullmatch(text) or (whole and "." in text):
            kind = "a whole number" if whole else "a number"
            raise InvalidArgument(f"The value of “{self.key}” must be {kind} {self._range()}.")
        number: float = int(text) if whole else float(text)
        if not self.minimum <= number <= self.maximum:
            raise InvalidArgument(f"The value of “{self.key}” must be {self._range()}.")
        return number

    def check(self, value: Value) -> Value:
        """A value from panelauth.yaml, held to the API's rules (InvalidArgument if not)."""
        return self.parse(self.show(value))

    def show(self, value: Value) -> str:
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return str(value)

    def _range(self) -> str:
        unit = " seconds" if self.kind is float else ""
        return f"from {self.show(self.minimum)} to {self.show(self.maximum)}{unit}"


def _tweaks(*tweaks: Tweak) -> dict[str, Tweak]:
    return {tweak.key: tweak for tweak in tweaks}


DAY: Final = 86400.0
TWEAKS: Final = _tweaks(
    Tweak("requiressl", "require_ssl", bool, "Require SSL: nothing authenticates on the plain "
          "ports (passwords never do, whatever this says)"),
    Tweak("cookieipvalidation", "cookie_ip_validation", str, "Cookie IP validation",
          choices=tuple(v.value for v in IpValidation)),
    Tweak("allow_deprecated_accesshash", "access_hash_enabled", bool,
          "Allow WHM access-hash authentication (`WHM root:<hash>`)"),
    Tweak("log_successful_logins", "log_successful_logins", bool,
          "A SUCCESS line in login_log for every header-authenticated request"),
    Tweak("panelauth_session_idle_seconds", "session_idle_seconds", float,
          "Idle limit of password sessions", minimum=1, maximum=30 * DAY),
    Tweak("panelauth_session_absolute_seconds", "session_absolute_seconds", float,
          "Absolute limit of every session (sessions made after a change)",
          minimum=1, maximum=366 * DAY),
    Tweak("panelauth_max_sessions_per_user", "max_sessions_per_user", int,
          "Active sessions per user; a login past it ends the oldest (0: no cap)",
          maximum=1000),
    Tweak("panelauth_tfa_window_steps", "tfa_window_steps", int,
          "Accepted TOTP steps (30 s each) either side of now", maximum=10),
)  # fmt: skip


def tweak(key: str) -> Tweak:
    """The Tweak of `key`, or InvalidArgument: an unknown key is refused, never ignored."""
    found = TWEAKS.get(key)
    if found is None:
        raise InvalidArgument(
            f"“{key[:64]}” is not a Tweak Settings key that panelauth serves; it serves: "
            + ", ".join(TWEAKS)
            + "."
        )
    return found


def check_module(module: str | None) -> None:
    """cPanel's optional `module`: panelauth's keys all belong to `Main` (the default)."""
    if module is None or module in ("", MODULE):
        return
    if module in MODULES:
        raise InvalidArgument(
            f"panelauth serves no key of the “{module}” module; its keys are all “{MODULE}”."
        )
    raise InvalidArgument(f"The “module” parameter must be one of: {', '.join(MODULES)}.")


# -- the store -----------------------------------------------------------------------------------


async def stored_value(store: SettingStore, item: Tweak) -> Value | None:
    """The store's value of one key; None if it holds none, or none valid (logged)."""
    text = await store.get_setting(item.store_key)
    if text is None:
        return None
    try:
        return item.parse(text)
    except InvalidArgument:
        log.warning(
            "the store's value of the shared setting %s is not valid (%r); this node's "
            "panelauth.yaml value applies until it is set again",
            item.key,
            text[:64],
        )
        return None


async def load(store: SettingStore, node: SharedSettings) -> SharedSettings:
    """The effective settings: per key, the store's value if it holds one, else `node`'s.
    Reads one key after another (a pooled store is not asked for eight connections at once);
    any store error propagates: the caller keeps what it had."""
    changes: dict[str, Any] = {}
    for item in TWEAKS.values():
        value = await stored_value(store, item)
        if value is not None:
            changes[item.name] = value
    return dataclasses.replace(node, **changes) if changes else node


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A key this node's panelauth.yaml sets to another value than the store's (which applies)."""

    tweak: Tweak
    node_value: Value
    store_value: Value

    def message(self) -> str:
        item = self.tweak
        return (
            f"panelauth.yaml sets {item.name}: {_yaml(self.node_value)}, but the store that every "
            f"node shares holds {item.key}={item.show(self.store_value)}: the store's value "
            f"applies on this node. To give every node this node's value: `panelauth whmapi1 "
            f"set_tweaksetting key={item.key} value={item.show(self.node_value)}`; to keep the "
            f"store's, remove {item.name} from this node's panelauth.yaml."
        )


def _yaml(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def seed(
    store: SettingStore, settings: Settings, *, explicit: frozenset[str] | None = None
) -> list[Disagreement]:
    """At init: write this node's values for the keys the store lacks; return the keys whose
    store value differs from this node's, among those its panelauth.yaml names (`explicit`,
    field names; None: every key). A value the store holds already is never changed.

    Two nodes seeding one missing key at once both write; the last write wins and the other
    node learns it here, from the value it reads back after its own write."""
    node = SharedSettings.from_settings(settings)
    disagreements: list[Disagreement] = []
    for item in TWEAKS.values():
        mine = getattr(node, item.name)
        stored = await stored_value(store, item)
        if stored is None:
            try:
                item.check(mine)
            except InvalidArgument as invalid:
                log.warning(
                    "%s is not written to the store shared by every node (%s): this node alone "
                    "uses its panelauth.yaml value",
                    item.name,
                    invalid.message,
                )
                continue
            await store.set_setting(item.store_key, item.show(mine))
            stored = await stored_value(store, item)
        named = explicit is None or item.name in explicit
        if stored is not None and stored != mine and named:
            disagreements.append(Disagreement(item, mine, stored))
    return disagreements


# -- the per-worker view -------------------------------------------------------------------------


class SharedSettingsView:
    """The shared settings one worker decides with, re-read at most once a second."""

    def __init__(
        self,
        store: SettingStore,
        node: Settings | SharedSettings,
        clock: Clock,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._store = store
        self._clock = clock
        self._interval = refresh_seconds
        self.node = node if isinstance(node, SharedSettings) else SharedSettings.from_settings(node)
        self.value = self.node  # the node's values until the first read
        # the store was last read at `read_at`; the next request at `due` or later reads again
        self.read_at = -math.inf
        self.due = -math.inf
        self._reading: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by `reload`: a read begun before it is discarded
        self._failing = False

    @property
    def session_policy(self) -> SessionPolicy:
        return self.value.session_policy

    def stale(self, now: float) -> bool:
        """Whether a request starting at `now` must re-read first (a clock set back counts)."""
        return not self.read_at <= now < self.due

    async def refresh(self) -> SharedSettings:
        """Re-read the store, joining a read already under way; never raises for the store."""
        task = self._reading
        if task is None or task.done():
            task = asyncio.get_running_loop().create_task(self._read(self._generation))
            self._reading = task
        # a request that goes away does not cancel the read the others wait for
        await asyncio.shield(task)
        return self.value

    async def reload(self) -> SharedSettings:
        """After this worker's own change: a fresh read, begun after the change was written."""
        self._generation += 1
        self._reading = None
        return await self.refresh()

    def apply(self, item: Tweak, value: Value) -> None:
        """This worker wrote `value`: decide with it now, whatever a read in flight returns."""
        self._generation += 1
        self._reading = None
        changes: dict[str, Any] = {item.name: value}
        self.value = dataclasses.replace(self.value, **changes)

    async def _read(self, generation: int) -> None:
        started = self._clock.now()
        try:
            value = await load(self._store, self.node)
        except Exception as error:  # the store's, or a bug: either way, keep deciding
            if generation != self._generation:
                return
            self._schedule(started)
            if not self._failing:
                self._failing = True
                log.warning(
                    "cannot read the shared settings from the store (%s); this worker keeps "
                    "the values it has and tries again every %g s",
                    _cause(error),
                    self._interval,
                    exc_info=not isinstance(error, ServiceUnavailable),
                )
            return
        if generation != self._generation:
            return  # a change was made meanwhile: its own read decides
        if self._failing:
            self._failing = False
            log.info("the shared settings are read from the store again")
        self.value = value
        self._schedule(started)

    def _schedule(self, started: float) -> None:
        self.read_at = started
        self.due = started + self._interval


def _cause(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def change(view: SharedSettingsView, store: SettingStore, key: str, text: str) -> str:
    """Validate and write one key; this worker decides with it from its next request, every
    other worker and node within REFRESH_SECONDS. Returns the value as stored."""
    item = tweak(key)
    value = item.parse(text)
    await store.set_setting(item.store_key, item.show(value))
    view.apply(item, value)
    await view.reload()
    return item.show(value)


async def effective(store: SettingStore, node: SharedSettings, key: str) -> str:
    """The value of `key` in force now: the store's, else this node's (read from the store,
    not from a view, so that a call just after a change elsewhere sees it)."""
    item = tweak(key)
    value = await stored_value(store, item)
    return item.show(getattr(node, item.name) if value is None else value)
