"""The shared decision settings (core/shared_settings.py): keys, store-or-yaml values, seeding,
and the per-worker view (refresh at most once a second, one read for concurrent requests, own
change at once, a failed read keeps the last value)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pyotp
import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.audit import MemorySessionLog
from panelauth.core.authentication import AuthAttempt
from panelauth.core.models import Account, CredentialKind, IdentityKind
from panelauth.core.secretbox import SecretBox
from panelauth.core.session_manager import SessionManager
from panelauth.core.sessions import IpValidation, SessionKind, SessionState
from panelauth.core.settings import Settings
from panelauth.core.shared_settings import (
    STORE_PREFIX,
    TWEAKS,
    FixedShared,
    SharedSettings,
    SharedSettingsView,
    change,
    check_module,
    effective,
    load,
    seed,
    tweak,
)
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.tokens import digest, generate_access_hash
from panelauth.core.two_factor import TwoFactor
from panelauth.errors import (
    AuthenticationFailed,
    InvalidArgument,
    SessionRefused,
    StoreUnavailable,
)
from panelauth.protocol.authorization import HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret

YAML = Settings(
    hostname="panel.example.test",
    require_ssl=False,
    session_idle_seconds=600.0,
    cookie_ip_validation="loose",
    tfa_window_steps=2,
)


class CountingStore:
    """A SettingStore over a real one that counts reads and can fail or stall them."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.reads = 0
        self.failing = False
        self.gate: asyncio.Event | None = None  # reads wait for it when set

    async def get_setting(self, key: str) -> str | None:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise StoreUnavailable("database is locked")
        return await self.store.get_setting(key)

    async def set_setting(self, key: str, value: str) -> None:
        await self.store.set_setting(key, value)


@pytest.fixture
def counting(store: SqliteStore) -> CountingStore:
    return CountingStore(store)


@pytest.fixture
def view(counting: CountingStore, clock: FrozenClock) -> SharedSettingsView:
    return SharedSettingsView(counting, YAML, clock)


async def other_node_sets(store: SqliteStore, key: str, value: str) -> None:
    """What another node's `set_tweaksetting` leaves in the store."""
    await store.set_setting(STORE_PREFIX + key, value)


# -- keys and values -------------------------------------------------------------------------------


def test_keys_are_cpanels_where_cpanel_has_one_else_panelauth_prefixed() -> None:
    assert set(TWEAKS) == {
        "requiressl",
        "cookieipvalidation",
        "allow_deprecated_accesshash",
        "log_successful_logins",
        "panelauth_session_idle_seconds",
        "panelauth_session_absolute_seconds",
        "panelauth_max_sessions_per_user",
        "panelauth_tfa_window_steps",
    }
    # every key names a field of SharedSettings, which names a field of Settings (panelauth.yaml)
    names = {field.name for field in dataclasses.fields(SharedSettings) if field.init}
    assert {item.name for item in TWEAKS.values()} == names
    assert names <= {field.name for field in dataclasses.fields(Settings)}


def test_the_defaults_are_panelauth_yaml_defaults() -> None:
    assert SharedSettings.from_settings(Settings()) == SharedSettings()


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("requiressl", "1", True),
        ("requiressl", "0", False),
        ("allow_deprecated_accesshash", " 0 ", False),
        ("cookieipvalidation", "disabled", "disabled"),
        ("panelauth_session_idle_seconds", "900", 900.0),
        ("panelauth_session_idle_seconds", "90.5", 90.5),
        ("panelauth_session_absolute_seconds", "31622400", 366 * 86400.0),
        ("panelauth_max_sessions_per_user", "0", 0),
        ("panelauth_tfa_window_steps", "10", 10),
    ],
)
def test_valid_values(key: str, text: str, value: object) -> None:
    assert tweak(key).parse(text) == value


@pytest.mark.parametrize(
    ("key", "text", "reason"),
    [
        ("requiressl", "true", "must be 1 or 0"),
        ("requiressl", "", "must be 1 or 0"),
        ("requiressl", "2", "must be 1 or 0"),
        ("cookieipvalidation", "STRICT", "one of: strict, loose, disabled"),
        ("panelauth_session_idle_seconds", "0", "from 1 to 2592000 seconds"),
        ("panelauth_session_idle_seconds", "-5", "must be a number"),
        ("panelauth_session_idle_seconds", "1e3", "must be a number"),
        ("panelauth_session_idle_seconds", "nan", "must be a number"),
        ("panelauth_session_absolute_seconds", "31622401", "from 1 to 31622400 seconds"),
        ("panelauth_max_sessions_per_user", "1.5", "must be a whole number"),
        ("panelauth_max_sessions_per_user", "1001", "from 0 to 1000"),
        ("panelauth_tfa_window_steps", "11", "from 0 to 10"),
        ("panelauth_tfa_window_steps", "9" * 40, "must be a whole number"),
    ],
)
def test_invalid_values_name_the_key_and_what_it_takes(key: str, text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        tweak(key).parse(text)
    assert f"“{key}”" in raised.value.message
    assert reason in raised.value.message


def test_an_unknown_key_is_refused_naming_the_keys_served() -> None:
    with pytest.raises(InvalidArgument, match="“proxysubdomains” is not a Tweak Settings key"):
        tweak("proxysubdomains")
    with pytest.raises(InvalidArgument, match="requiressl, cookieipvalidation"):
        tweak("require_ssl")  # the yaml name is not the key


def test_module_main_or_none_only() -> None:
    for fine in (None, "", "Main"):
        check_module(fine)
    with pytest.raises(InvalidArgument, match="no key of the “Mail” module"):
        check_module("Mail")
    with pytest.raises(InvalidArgument, match="one of: Apache, Basic, Mail, Main"):
        check_module("main")


# -- store or yaml ---------------------------------------------------------------------------------


async def test_the_store_value_wins_and_the_yaml_value_fills_in(store: SqliteStore) -> None:
    node = SharedSettings.from_settings(YAML)
    assert await load(store, node) == node  # nothing stored: this node's panelauth.yaml
    await other_node_sets(store, "requiressl", "1")
    await other_node_sets(store, "panelauth_max_sessions_per_user", "3")
    loaded = await load(store, node)
    assert loaded.require_ssl is True
    assert loaded.max_sessions_per_user == 3
    assert loaded.session_idle_seconds == 600.0  # not stored: the yaml value
    assert loaded.session_policy.max_per_user == 3
    assert loaded.session_policy.ip_validation is IpValidation.LOOSE
    assert await effective(store, node, "requiressl") == "1"
    assert await effective(store, node, "panelauth_session_idle_seconds") == "600"


async def test_an_invalid_stored_value_is_ignored_and_logged(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    node = SharedSettings.from_settings(YAML)
    await other_node_sets(store, "cookieipvalidation", "sometimes")
    with caplog.at_level(logging.WARNING):
        assert (await load(store, node)).cookie_ip_validation == "loose"
    assert "cookieipvalidation is not valid" in caplog.text


# -- seeding at init -------------------------------------------------------------------------------


async def test_the_first_node_seeds_every_key_the_store_lacks(store: SqliteStore) -> None:
    await other_node_sets(store, "panelauth_tfa_window_steps", "3")
    assert await seed(store, YAML, explicit=frozenset()) == []
    assert await store.get_setting(STORE_PREFIX + "requiressl") == "0"
    assert await store.get_setting(STORE_PREFIX + "cookieipvalidation") == "loose"
    assert await store.get_setting(STORE_PREFIX + "panelauth_session_idle_seconds") == "600"
    assert await store.get_setting(STORE_PREFIX + "panelauth_session_absolute_seconds") == "43200"
    # a key the store holds is never overwritten
    assert await store.get_setting(STORE_PREFIX + "panelauth_tfa_window_steps") == "3"


async def test_a_later_node_that_disagrees_is_told_which_key_and_how_to_change_it(
    store: SqliteStore,
) -> None:
    await seed(store, Settings(), explicit=None)  # the first node: every default
    later = await seed(store, YAML, explicit=frozenset({"require_ssl", "tfa_window_steps"}))
    # only the keys this node's panelauth.yaml names; cookie_ip_validation differs but is not
    assert [d.tweak.key for d in later] == ["requiressl", "panelauth_tfa_window_steps"]
    message = later[0].message()
    assert "require_ssl: false" in message  # this node's value, as its yaml says it
    assert "requiressl=1" in message  # the store's
    assert "the store's value applies" in message
    assert "panelauth whmapi1 set_tweaksetting key=requiressl value=0" in message
    assert await store.get_setting(STORE_PREFIX + "requiressl") == "1"  # unchanged


async def test_a_yaml_value_outside_the_api_range_is_not_seeded(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    odd = dataclasses.replace(YAML, tfa_window_steps=-1)
    with caplog.at_level(logging.WARNING):
        assert await seed(store, odd) == []
    assert await store.get_setting(STORE_PREFIX + "panelauth_tfa_window_steps") is None
    assert "tfa_window_steps is not written" in caplog.text


# -- the view --------------------------------------------------------------------------------------


async def test_a_view_is_stale_until_read_and_then_for_one_second(
    view: SharedSettingsView, counting: CountingStore, clock: FrozenClock
) -> None:
    assert view.value == SharedSettings.from_settings(YAML)  # before any read: the yaml's
    assert view.stale(clock.now())
    await view.refresh()
    now = clock.now()
    assert not view.stale(now)
    assert not view.stale(now + 0.999)
    assert view.stale(now + 1.0)
    assert view.stale(now - 0.001)  # a clock set back re-reads too
    assert counting.reads == len(TWEAKS)


async def test_another_nodes_change_applies_within_a_second(
    view: SharedSettingsView, store: SqliteStore, clock: FrozenClock
) -> None:
    await view.refresh()
    assert view.value.require_ssl is False
    await other_node_sets(store, "requiressl", "1")
    clock.advance(0.5)
    assert not view.stale(clock.now())  # a request now decides with what was read
    assert view.value.require_ssl is False
    clock.advance(0.5)
    assert view.stale(clock.now())  # one second old: the next request re-reads
    await view.refresh()
    assert view.value.require_ssl is True


async def test_concurrent_requests_share_one_read(
    view: SharedSettingsView, counting: CountingStore, store: SqliteStore
) -> None:
    await other_node_sets(store, "panelauth_max_sessions_per_user", "4")
    counting.gate = asyncio.Event()
    waiting = [asyncio.create_task(view.refresh()) for _ in range(20)]
    await asyncio.sleep(0)
    counting.gate.set()
    values = await asyncio.gather(*waiting)
    assert {value.max_sessions_per_user for value in values} == {4}
    assert counting.reads == len(TWEAKS)  # one read of each key, for the twenty


async def test_a_request_that_goes_away_leaves_the_read_to_the_others(
    view: SharedSettingsView, counting: CountingStore
) -> None:
    counting.gate = asyncio.Event()
    gone = asyncio.create_task(view.refresh())
    stays = asyncio.create_task(view.refresh())
    await asyncio.sleep(0)
    gone.cancel()
    counting.gate.set()
    assert (await stays).require_ssl is False
    assert counting.reads == len(TWEAKS)


async def test_this_workers_own_change_applies_at_once(
    view: SharedSettingsView, counting: CountingStore, store: SqliteStore, clock: FrozenClock
) -> None:
    await view.refresh()
    assert await change(view, counting, "cookieipvalidation", "disabled") == "disabled"
    # no clock advance: the next request decides with it
    assert not view.stale(clock.now())
    assert view.value.cookie_ip_validation == "disabled"
    assert view.session_policy.ip_validation is IpValidation.DISABLED
    assert await store.get_setting(STORE_PREFIX + "cookieipvalidation") == "disabled"


async def test_a_read_begun_before_an_own_change_does_not_undo_it(
    view: SharedSettingsView, counting: CountingStore
) -> None:
    counting.gate = asyncio.Event()
    old_read = asyncio.create_task(view.refresh())
    await asyncio.sleep(0)  # the old read is waiting for the store
    write = asyncio.create_task(change(view, counting, "requiressl", "1"))
    await asyncio.sleep(0)
    assert view.value.require_ssl is True  # applied before any read completes
    counting.gate.set()
    await asyncio.gather(old_read, write)
    assert view.value.require_ssl is True


async def test_a_read_that_fails_after_an_own_change_is_dropped_silently(
    view: SharedSettingsView, counting: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The failure of a read begun before this worker's change says nothing of the store now:
    neither logged nor able to delay the next read."""
    counting.gate, counting.failing = asyncio.Event(), True
    old_read = asyncio.create_task(view.refresh())
    await asyncio.sleep(0)  # the old read waits for the store
    view.apply(TWEAKS["requiressl"], False)
    counting.gate.set()
    with caplog.at_level(logging.INFO):
        await old_read
    assert view.value.require_ssl is False
    assert "cannot read the shared settings" not in caplog.text


async def test_a_change_refuses_bad_input_and_writes_nothing(
    view: SharedSettingsView, counting: CountingStore, store: SqliteStore
) -> None:
    with pytest.raises(InvalidArgument):
        await change(view, counting, "requiressl", "yes")
    with pytest.raises(InvalidArgument):
        await change(view, counting, "nosuchkey", "1")
    assert await store.get_setting(STORE_PREFIX + "requiressl") is None


async def test_a_failed_read_keeps_the_last_value_logs_and_retries_a_second_later(
    view: SharedSettingsView,
    counting: CountingStore,
    store: SqliteStore,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await other_node_sets(store, "panelauth_session_idle_seconds", "120")
    await view.refresh()
    counting.failing = True
    await other_node_sets(store, "panelauth_session_idle_seconds", "240")
    clock.advance(1)
    with caplog.at_level(logging.INFO):
        assert (await view.refresh()).session_idle_seconds == 120.0  # the request goes on
        assert "cannot read the shared settings from the store" in caplog.text
        assert not view.stale(clock.now())  # not retried by every request
        clock.advance(1)
        reads = counting.reads
        await view.refresh()  # the second failure is not logged again
        assert counting.reads == reads + 1
        assert caplog.text.count("cannot read the shared settings") == 1
        counting.failing = False
        clock.advance(1)
        assert (await view.refresh()).session_idle_seconds == 240.0
        assert "read from the store again" in caplog.text


async def test_an_own_change_stays_in_force_when_the_read_after_it_fails(
    view: SharedSettingsView, counting: CountingStore
) -> None:
    await view.refresh()

    class WriteThenFail(CountingStore):
        async def set_setting(self, key: str, value: str) -> None:
            await super().set_setting(key, value)
            counting.failing = True

    writer = WriteThenFail(counting.store)
    await change(view, writer, "panelauth_tfa_window_steps", "0")
    assert view.value.tfa_window_steps == 0


# -- the consumers read the value in force ---------------------------------------------------------


async def test_session_manager_decides_with_the_view(
    view: SharedSettingsView, counting: CountingStore, clock: FrozenClock, bob: Account
) -> None:
    await view.refresh()
    manager = SessionManager(counting.store, clock, view, MemorySessionLog())
    assert manager.policy.password_idle == 600.0
    created = await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator="bob",
        method="handle_form_login",
        path="/login/",
        address="192.0.2.10",
        bind=True,
    )
    cookie = created.cookie_value
    token = created.session.security_token
    # loose (the yaml's): another address of the same /24 is accepted
    await manager.resolve([cookie], Service.CPANEL, token, "192.0.2.99")
    await change(view, counting, "cookieipvalidation", "strict")
    with pytest.raises(SessionRefused) as refused:
        await manager.resolve([cookie], Service.CPANEL, token, "192.0.2.99")
    assert refused.value.code == "changed_ip"
    await change(view, counting, "panelauth_session_idle_seconds", "60")
    clock.advance(61)
    with pytest.raises(SessionRefused) as refused:
        await manager.resolve([cookie], Service.CPANEL, token, "192.0.2.10")
    assert refused.value.code == "expired_session"


async def test_token_authenticator_reads_the_access_hash_switch_per_attempt(
    view: SharedSettingsView, counting: CountingStore, clock: FrozenClock, root: Account
) -> None:
    await view.refresh()
    text = generate_access_hash()
    await counting.store.set_access_hash_digest("root", digest(text), 1_767_225_600)
    authenticator = TokenAuthenticator(counting.store, clock, access_hash_enabled=view)
    credentials = HeaderSecretCredentials(Scheme.WHM, "root", Secret(text))
    attempt = AuthAttempt(credentials, Service.WHM, "192.0.2.10")
    identity = await authenticator.authenticate(attempt)
    assert identity is not None and identity.credential is CredentialKind.ACCESS_HASH
    assert identity.kind is IdentityKind.ROOT
    await change(view, counting, "allow_deprecated_accesshash", "0")
    with pytest.raises(AuthenticationFailed):
        await authenticator.authenticate(attempt)


async def test_two_factor_window_follows_the_view(
    view: SharedSettingsView, counting: CountingStore, clock: FrozenClock, bob: Account
) -> None:
    await view.refresh()
    secret = pyotp.random_base32()
    two_factor = TwoFactor(
        counting.store, SecretBox([b"k" * 32]), clock, hostname="panel.example.test", window=view
    )
    await change(view, counting, "panelauth_tfa_window_steps", "0")
    late = pyotp.TOTP(secret).at(clock.now(), counter_offset=-1)
    with pytest.raises(InvalidArgument):  # the previous step: outside a window of 0
        await two_factor.enrol("bob", secret, late, address="192.0.2.10")
    await change(view, counting, "panelauth_tfa_window_steps", "1")
    await two_factor.enrol("bob", secret, late, address="192.0.2.10")


def test_a_fixed_source_is_a_plain_value() -> None:
    fixed = FixedShared(SharedSettings(require_ssl=False))
    assert fixed.value.require_ssl is False
    assert fixed.value.session_policy.absolute == 12 * 3600.0
