"""EffectiveClock and its high-water mark: a clock set back never extends a lifetime (FT-9)."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from pathlib import Path

import pyotp
import pytest

from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import (
    BEHIND_WARNING_SECONDS,
    EffectiveClock,
    HighWaterMark,
    Mark,
    current_boot_id,
)
from panelauth.core.audit import MemorySessionLog
from panelauth.core.authentication import AuthAttempt
from panelauth.core.models import Account
from panelauth.core.secretbox import SecretBox
from panelauth.core.session_manager import Created, SessionManager
from panelauth.core.sessions import SessionKind, SessionPolicy, SessionState
from panelauth.core.token_auth import TokenAuthenticator
from panelauth.core.tokens import ApiToken, TokenKind, digest
from panelauth.core.two_factor import (
    FAILURE_WINDOW_SECONDS,
    MAX_FAILURES,
    TwoFactor,
)
from panelauth.errors import AuthenticationFailed, SessionRefused, TwoFactorFailed
from panelauth.protocol.authorization import HeaderSecretCredentials, Scheme
from panelauth.protocol.services import Service
from panelauth.secret import Secret

START = 1_767_225_600.0
DAYS_2 = 2 * 86_400.0
ADDRESS = "192.0.2.10"
BOOT = "boot-1"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class Machine:
    """A host's two clocks: the wall clock (can be set) and the monotonic one (only runs)."""

    def __init__(self, wall: float = START, monotonic: float = 1000.0) -> None:
        self.wall, self.monotonic = wall, monotonic

    def read_wall(self) -> float:
        return self.wall

    def read_monotonic(self) -> float:
        return self.monotonic

    def run(self, seconds: float) -> None:
        """Real time passes: both clocks move."""
        self.wall += seconds
        self.monotonic += seconds

    def clock(self, mark: HighWaterMark | None = None) -> EffectiveClock:
        return EffectiveClock(mark, wall=self.read_wall, monotonic=self.read_monotonic)


@pytest.fixture
def machine() -> Machine:
    return Machine()


@pytest.fixture
def mark(tmp_path: Path) -> HighWaterMark:
    return HighWaterMark(tmp_path / "effective-time.json", boot=BOOT)


# -- the effective time -------------------------------------------------------------------------


def test_without_a_jump_the_effective_time_is_the_wall_clock(machine: Machine) -> None:
    clock = machine.clock()
    assert clock.now() == START
    machine.run(10)
    assert clock.now() == START + 10
    assert clock.wall.now() == START + 10
    assert clock.behind() == 0


def test_a_clock_set_back_keeps_the_effective_time_running_in_real_time(
    machine: Machine,
) -> None:
    clock = machine.clock()
    machine.run(5)
    assert clock.now() == START + 5
    machine.wall -= DAYS_2  # set back two days
    assert clock.now() == START + 5  # never goes back
    machine.run(7)
    assert clock.now() == START + 12  # and keeps advancing with the monotonic clock
    assert clock.wall.now() == START + 12 - DAYS_2  # TOTP's clock follows the system
    assert clock.behind() == DAYS_2


def test_a_clock_set_forward_moves_the_effective_time_forward(machine: Machine) -> None:
    clock = machine.clock()
    machine.wall += DAYS_2
    assert clock.now() == START + DAYS_2
    machine.wall -= DAYS_2  # corrected again: the effective time stays ahead
    machine.run(1)
    assert clock.now() == START + DAYS_2 + 1


def test_the_wall_clock_catching_up_takes_over_again(machine: Machine) -> None:
    clock = machine.clock()
    machine.wall -= 60
    machine.run(30)
    assert clock.now() == START + 30
    machine.wall += 90  # now 30 s ahead of the carried time
    assert clock.now() == START + 60


def test_a_monotonic_clock_that_stood_still_is_not_read_backwards(machine: Machine) -> None:
    clock = machine.clock()
    machine.wall -= 10
    machine.monotonic -= 1  # cannot happen; the effective time still does not go back
    assert clock.now() == START


# -- what the effective time decides ------------------------------------------------------------


async def login(manager: SessionManager) -> Created:
    return await manager.create(
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        creator="bob",
        method="handle_form_login",
        path="form",
        address=ADDRESS,
        bind=True,
    )


async def still_valid(manager: SessionManager, created: Created) -> bool:
    try:
        await manager.resolve(
            [created.cookie_value], Service.CPANEL, created.session.security_token, ADDRESS
        )
    except SessionRefused as refused:
        assert refused.code == "expired_session"
        return False
    return True


@pytest.mark.parametrize(
    ("policy", "lifetime"),
    [
        (SessionPolicy(password_idle=1800, absolute=12 * 3600), 1800),  # idle ends it
        (SessionPolicy(password_idle=1800, absolute=600), 600),  # absolute ends it
    ],
)
async def test_a_session_made_two_days_fast_lives_its_normal_lifetime_after_correction(
    machine: Machine, store: SqliteStore, bob: Account, policy: SessionPolicy, lifetime: float
) -> None:
    clock = machine.clock()
    manager = SessionManager(store, clock, policy, MemorySessionLog())
    machine.wall += DAYS_2  # the clock runs two days fast
    created = await login(manager)
    machine.wall -= DAYS_2  # and is corrected
    machine.run(1)
    assert await still_valid(manager, created)  # (too soon after the last use to touch it)
    machine.run(lifetime - 1)
    assert not await still_valid(manager, created)  # not 2 days + its lifetime later


async def test_without_the_guard_the_same_session_would_outlive_the_correction(
    machine: Machine, store: SqliteStore, bob: Account
) -> None:
    """What the guard is for: a plain wall clock keeps that session for two more days."""

    class WallOnly:
        def now(self) -> float:
            return machine.wall

    policy = SessionPolicy(password_idle=1800, absolute=12 * 3600)
    manager = SessionManager(store, WallOnly(), policy, MemorySessionLog())
    machine.wall += DAYS_2
    created = await login(manager)
    machine.wall -= DAYS_2
    machine.run(12 * 3600)
    assert await still_valid(manager, created)


async def test_a_clock_set_forward_expires_a_session_early(
    machine: Machine, store: SqliteStore, bob: Account
) -> None:
    clock = machine.clock()
    manager = SessionManager(store, clock, SessionPolicy(), MemorySessionLog())
    created = await login(manager)
    machine.wall += DAYS_2
    assert not await still_valid(manager, created)


async def test_a_token_expiry_is_not_extended_by_a_clock_set_back(
    machine: Machine, store: SqliteStore, bob: Account
) -> None:
    clock = machine.clock()
    authenticator = TokenAuthenticator(store, clock, access_hash_enabled=False)
    now = clock.now()
    token = ApiToken("bob", TokenKind.CPANEL, "t", digest("A" * 32), int(now), int(now) + 60)
    await store.insert_token(token)
    attempt = HeaderSecretCredentials(Scheme.CPANEL, "bob", Secret("A" * 32))

    async def accepted() -> bool:
        try:
            await authenticator.authenticate(AuthAttempt(attempt, Service.CPANEL, ADDRESS))
        except AuthenticationFailed:
            return False
        return True

    assert await accepted()
    machine.wall -= DAYS_2
    machine.run(60)
    assert not await accepted()


async def test_the_two_factor_lock_lasts_its_window_in_real_time_and_totp_follows_the_wall(
    machine: Machine, store: SqliteStore, bob: Account
) -> None:
    clock = machine.clock()
    two_factor = TwoFactor(
        store, SecretBox([os.urandom(32)]), clock, hostname="h", totp_clock=clock.wall
    )
    totp = pyotp.TOTP(TOTP_SECRET)
    await two_factor.enrol("bob", TOTP_SECRET, totp.at(machine.wall), address=ADDRESS)
    machine.run(30)
    machine.wall += DAYS_2  # fast: the wrong codes are recorded two days ahead
    for _ in range(MAX_FAILURES):
        with pytest.raises(TwoFactorFailed):
            await two_factor.check("bob", "000000", context="session", address=ADDRESS)
    machine.wall -= DAYS_2  # corrected
    machine.run(FAILURE_WINDOW_SECONDS - 1)
    with pytest.raises(TwoFactorFailed) as locked:
        await two_factor.check("bob", totp.at(machine.wall), context="session", address=ADDRESS)
    assert locked.value.detail == "2fa locked after too many wrong codes"
    machine.run(1)
    # the lock is over after 15 real minutes; the code of the real (wall) time passes although
    # the effective time is two days ahead, and the code of the effective time does not
    ahead = clock.now()
    assert ahead == machine.wall + DAYS_2
    with pytest.raises(TwoFactorFailed) as wrong:
        await two_factor.check("bob", totp.at(ahead), context="session", address=ADDRESS)
    assert wrong.value.detail == "2fa code incorrect"
    await two_factor.check("bob", totp.at(machine.wall), context="session", address=ADDRESS)


# -- the high-water mark ------------------------------------------------------------------------


def test_the_mark_survives_a_restart_and_counts_the_time_in_between(
    machine: Machine, mark: HighWaterMark
) -> None:
    first = machine.clock(mark)
    machine.wall += DAYS_2
    assert first.now() == START + DAYS_2
    first.checkpoint()
    machine.wall -= DAYS_2  # corrected while the server is down for 10 s
    machine.run(10)
    second = machine.clock(mark)  # a new process, same boot: the monotonic gap counts
    assert second.now() == START + DAYS_2 + 10
    assert stat.S_IMODE(mark.path.stat().st_mode) == 0o600


def test_after_a_reboot_the_mark_resumes_without_the_monotonic_gap(
    machine: Machine, tmp_path: Path
) -> None:
    path = tmp_path / "effective-time.json"
    first = machine.clock(HighWaterMark(path, boot=BOOT))
    machine.wall += DAYS_2
    first.checkpoint()
    machine.wall -= DAYS_2
    machine.monotonic = 5.0  # rebooted: the monotonic clock starts again
    second = machine.clock(HighWaterMark(path, boot="boot-2"))
    assert second.now() == START + DAYS_2


def test_a_mark_behind_the_wall_clock_changes_nothing(
    machine: Machine, mark: HighWaterMark
) -> None:
    machine.clock(mark).checkpoint()
    machine.run(3600)
    assert machine.clock(mark).now() == START + 3600


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        '{"effective": 1}',
        '{"effective": "x", "monotonic": 1, "boot": "b"}',
        "[]",
        '{"effective": NaN, "monotonic": 1, "boot": "b"}',
        '{"effective": 1, "monotonic": Infinity, "boot": "b"}',
    ],
)
def test_an_unreadable_mark_is_ignored_with_a_warning(
    machine: Machine, mark: HighWaterMark, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    mark.path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="panelauth.clock"):
        assert machine.clock(mark).now() == START
    assert "clock high-water mark" in caplog.text


def test_a_missing_mark_is_the_wall_clock(machine: Machine, mark: HighWaterMark) -> None:
    assert mark.read() is None
    assert machine.clock(mark).now() == START


def test_workers_adopt_the_latest_time_and_the_file_never_goes_back(
    machine: Machine, mark: HighWaterMark
) -> None:
    ahead, behind = machine.clock(mark), machine.clock(mark)  # two workers, one directory
    machine.wall += 100
    ahead.now()  # only this one read the time while the clock was 100 s fast
    machine.wall -= 100
    ahead.checkpoint()
    written = json.loads(mark.path.read_text())
    assert written == {"effective": START + 100, "monotonic": 1000.0, "boot": BOOT}
    machine.run(1)
    assert behind.now() == START + 1
    behind.checkpoint()  # writes max(own, file carried to now) and adopts it
    assert behind.now() == START + 101
    assert json.loads(mark.path.read_text())["effective"] == START + 101


def test_a_checkpoint_writes_only_after_a_read_unless_forced(
    machine: Machine, mark: HighWaterMark
) -> None:
    clock = machine.clock(mark)
    clock.checkpoint()
    first = mark.path.read_text()
    machine.run(5)
    clock.checkpoint()  # nobody asked the time since: nothing to write
    assert mark.path.read_text() == first
    clock.checkpoint(force=True)
    assert json.loads(mark.path.read_text())["effective"] == START + 5
    machine.run(1)
    clock.now()
    clock.checkpoint()
    assert json.loads(mark.path.read_text())["effective"] == START + 6


def test_a_clock_without_a_mark_has_nothing_to_checkpoint(machine: Machine) -> None:
    machine.clock().checkpoint(force=True)  # no file, no error


def test_a_failed_write_leaves_no_temporary_file(
    machine: Machine, mark: HighWaterMark, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = machine.clock(mark)

    def refuse(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        clock.checkpoint()
    assert sorted(p.name for p in mark.path.parent.iterdir()) == ["effective-time.json.lock"]
    monkeypatch.undo()
    clock.checkpoint()  # not read since, but the failed write is tried again
    assert json.loads(mark.path.read_text())["effective"] == START


def test_a_wall_clock_far_behind_is_reported_once(
    machine: Machine, mark: HighWaterMark, caplog: pytest.LogCaptureFixture
) -> None:
    clock = machine.clock(mark)
    machine.wall -= BEHIND_WARNING_SECONDS
    with caplog.at_level(logging.WARNING, logger="panelauth.clock"):
        clock.checkpoint(force=True)
        clock.checkpoint(force=True)
    assert caplog.text.count("behind panelauth's effective time") == 1
    machine.wall += 2 * BEHIND_WARNING_SECONDS  # caught up: a later episode warns again
    clock.checkpoint(force=True)
    machine.wall -= 3 * BEHIND_WARNING_SECONDS
    with caplog.at_level(logging.WARNING, logger="panelauth.clock"):
        clock.checkpoint(force=True)
    assert caplog.text.count("behind panelauth's effective time") == 2


@pytest.mark.parametrize(
    ("mark", "monotonic", "boot", "expected"),
    [
        (Mark(100.0, 10.0, "b"), 15.0, "b", 105.0),
        (Mark(100.0, 10.0, "b"), 5.0, "b", 100.0),  # earlier reading: never back
        (Mark(100.0, 10.0, "b"), 15.0, "c", 100.0),  # another boot
        (Mark(100.0, 10.0, ""), 15.0, "", 100.0),  # boot unknown
    ],
)
def test_a_mark_is_carried_forward_only_within_one_boot(
    mark: Mark, monotonic: float, boot: str, expected: float
) -> None:
    assert mark.carried(monotonic, boot) == expected


def test_the_boot_id_is_read_from_the_kernel_or_empty(tmp_path: Path) -> None:
    (tmp_path / "boot_id").write_text("abc\n")
    assert current_boot_id(tmp_path / "boot_id") == "abc"
    assert current_boot_id(tmp_path / "missing") == ""
    assert HighWaterMark(tmp_path / "m").boot == current_boot_id()


def test_the_real_sources_are_the_default() -> None:
    clock = EffectiveClock()
    assert math.isclose(clock.now(), clock.wall.now(), abs_tol=1.0)
