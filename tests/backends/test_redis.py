"""What is the Redis session store's own (the contract suite covers what every store shares, on
`sqlite+redis` and `postgresql+redis`): its URL and key prefix, native expiry, a server that is
down or answers nonsense, the generation guard against a restart or a restore, codes that stay
spent when Redis loses everything, conditional writes raced by two stores (two workers), and
brute-force failure counts: kept in Redis, their blocks durable, shared by nodes.

Every test runs on the Redis of conftest.py (never skipped), under a fresh key prefix whose keys
are deleted afterwards; the durable store is SQLite unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from panelauth.backends import migrate_store, open_store, with_session_store
from panelauth.backends.postgresql import PostgresqlStore
from panelauth.backends.redis_connect import DEFAULT_PREFIX, parse_url
from panelauth.backends.redis_failures import RedisFailureCounters
from panelauth.backends.redis_sessions import (
    EXPIRY_MARGIN,
    GENERATION_SETTING,
    RedisSessionStore,
)
from panelauth.backends.split_store import SplitStore
from panelauth.backends.sqlite import SqliteStore
from panelauth.clock import FrozenClock
from panelauth.core.hulk import Failure, Limits, Method, address_key, user_key
from panelauth.core.sessions import Session, SessionKind, SessionState
from panelauth.core.stores import StepUse, Store
from panelauth.errors import StoreUnavailable
from panelauth.protocol.services import Service
from tests.backends.conftest import delete_prefix, redis_client, with_prefix

ID = "bob:AAAAAAAAAAAAAAAA"
Opener = Callable[..., Awaitable[SplitStore]]


def _session(session_id: str = ID, **fields: Any) -> Session:
    base = Session(
        session_id=session_id,
        secret_hash="0" * 64,
        user="bob",
        account="bob",
        service=Service.CPANEL,
        kind=SessionKind.PASSWORD,
        state=SessionState.ACTIVE,
        security_token="/cpsess0000000001",
        creator="bob",
        possessor=None,
        method="handle_form_login",
        bound_address="192.0.2.1",
        created_at=1000.0,
        last_seen=1000.0,
        expires_at=5000.0,
    )
    return replace(base, **fields)


@pytest.fixture
async def opened(tmp_path: Path, clock: FrozenClock, redis_store_url: str) -> AsyncIterator[Opener]:
    """Open split stores (workers) on one SQLite file and one Redis prefix; all closed after."""
    url = f"sqlite://{tmp_path / 'durable.db'}"
    await migrate_store(url, clock=clock)
    stores: list[SplitStore] = []

    async def open_one(session_url: str = redis_store_url, **options: Any) -> SplitStore:
        durable = await open_store(url, clock=clock)
        sessions = RedisSessionStore(session_url, clock=clock, generations=durable, **options)
        store = SplitStore(
            durable, sessions, RedisFailureCounters(sessions.link, cache_entries=100)
        )
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.aclose()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keys(redis_server: str, prefix: str) -> set[str]:
    with redis_client(redis_server) as client:
        return set(client.scan_iter(match=f"{prefix}:*", count=1000))


# -- the URL and the key prefix -----------------------------------------------------------------


def test_the_prefix_is_taken_off_the_url_and_the_rest_passes_through() -> None:
    location = parse_url("redis://:pw@127.0.0.1:6379/2?prefix=node_a&health_check_interval=5")
    assert (location.url, location.prefix) == (
        "redis://:pw@127.0.0.1:6379/2?health_check_interval=5",
        "node_a",
    )
    assert location.namespace == "node_a:"
    assert parse_url("rediss://cache.example:6380/0").prefix == DEFAULT_PREFIX == "panelauth"
    assert parse_url("unix:///run/redis.sock?db=1&prefix=x").url == "unix:///run/redis.sock?db=1"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://db/x",
        "redis//127.0.0.1",
        "redis://127.0.0.1/0?prefix=a&prefix=b",
        "redis://127.0.0.1/0?prefix=has:colon",
        "redis://127.0.0.1/0?prefix=",
        f"redis://127.0.0.1/0?prefix={'x' * 65}",
    ],
)
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


async def test_a_session_store_needs_a_postgresql_store(
    tmp_path: Path, clock: FrozenClock, redis_store_url: str
) -> None:
    sqlite = f"sqlite://{tmp_path / 'x.db'}"
    with pytest.raises(ValueError, match="a session store needs a PostgreSQL store"):
        await open_store(sqlite, redis_store_url, clock=clock, migrate=True)
    with pytest.raises(ValueError, match="a session store needs a PostgreSQL store"):
        await migrate_store(sqlite, redis_store_url, clock=clock)
    with pytest.raises(ValueError, match="unsupported session store"):
        await open_store("postgresql://db/x", "memcached://cache/0", clock=clock)
    assert not (tmp_path / "x.db").exists()  # refused before anything was made


async def test_every_key_is_under_the_prefix(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    store = await opened()
    await store.insert_session(_session())
    await store.insert_session(
        _session("info%40bob.example:BBBBBBBBBBBBBBBB", user="info@bob.example")
    )
    assert _keys(redis_server, redis_prefix) == {
        f"{redis_prefix}:generation",
        f"{redis_prefix}:session:{ID}",
        f"{redis_prefix}:session:info%40bob.example:BBBBBBBBBBBBBBBB",
        f"{redis_prefix}:expiry",
        f"{redis_prefix}:user:bob",
        f"{redis_prefix}:user:info@bob.example",
        f"{redis_prefix}:account:bob",
    }
    for session_id in (ID, "info%40bob.example:BBBBBBBBBBBBBBBB"):
        assert await store.delete_session(session_id)
    assert _keys(redis_server, redis_prefix) == {f"{redis_prefix}:generation"}


async def test_two_installations_share_one_redis_under_two_prefixes(
    tmp_path: Path, clock: FrozenClock, redis_server: str, redis_prefix: str
) -> None:
    """Each with its own durable store and prefix: one id in both, never mixed up."""
    stores: list[SplitStore] = []
    try:
        for name in ("a", "b"):
            url = f"sqlite://{tmp_path / f'{name}.db'}"
            await migrate_store(url, clock=clock)
            durable = await open_store(url, clock=clock)
            session_url = with_prefix(redis_server, f"{redis_prefix}_{name}")
            split = with_session_store(durable, session_url, clock=clock, busy_timeout_ms=None)
            assert isinstance(split, SplitStore)
            stores.append(split)
        first, second = stores
        await first.insert_session(_session(user_agent="first"))
        await second.insert_session(_session(user_agent="second"))
        found = [await store.get_session(ID) for store in stores]
        assert [one.user_agent if one else None for one in found] == ["first", "second"]
        assert await first.delete_session(ID)
        assert await first.get_session(ID) is None
        assert await second.get_session(ID) is not None
        # the other installation losing every key logs nobody out here
        delete_prefix(redis_server, f"{redis_prefix}_b")
        await first.insert_session(_session("bob:CCCCCCCCCCCCCCCC"))
        assert await first.get_session("bob:CCCCCCCCCCCCCCCC") is not None
        assert await second.get_session(ID) is None
    finally:
        for store in stores:
            await store.aclose()
        for name in ("a", "b"):
            delete_prefix(redis_server, f"{redis_prefix}_{name}")


# -- native expiry ------------------------------------------------------------------------------


async def test_a_session_expires_natively_after_its_absolute_expiry_and_the_margin(
    opened: Opener, clock: FrozenClock, redis_server: str, redis_prefix: str
) -> None:
    store = await opened()
    now = clock.now()
    await store.insert_session(_session(created_at=now, last_seen=now, expires_at=now + 7200))
    with redis_client(redis_server) as client:
        ttl = client.pttl(f"{redis_prefix}:session:{ID}") / 1000
        index_ttl = client.pttl(f"{redis_prefix}:user:bob") / 1000
    assert 7200 + EXPIRY_MARGIN - 5 < ttl <= 7200 + EXPIRY_MARGIN
    assert 7200 + EXPIRY_MARGIN - 5 < index_ttl <= 7200 + EXPIRY_MARGIN
    # touching, activating or counting never moves the native expiry
    await store.touch_session(ID, now + 100)
    await store.count_wrong_token(ID)
    with redis_client(redis_server) as client:
        assert client.pttl(f"{redis_prefix}:session:{ID}") / 1000 <= ttl
    # a session already past its expiry is kept for the margin: the sweep still finds it
    await store.insert_session(_session("bob:OLDOLDOLDOLDOLDO", expires_at=now - 10))
    with redis_client(redis_server) as client:
        old_ttl = client.pttl(f"{redis_prefix}:session:bob:OLDOLDOLDOLDOLDO") / 1000
    assert EXPIRY_MARGIN - 5 < old_ttl <= EXPIRY_MARGIN
    assert await store.expired_session_ids(now, 10) == ["bob:OLDOLDOLDOLDOLDO"]


async def test_an_expired_hash_is_gone_and_leaves_the_indexes(
    opened: Opener, clock: FrozenClock, redis_server: str, redis_prefix: str
) -> None:
    """With a margin of a tenth of a second, Redis itself removes the session: no sweep."""
    store = await opened(expiry_margin=0.1)
    now = clock.now()
    await store.insert_session(_session(created_at=now, last_seen=now, expires_at=now + 0.1))
    await store.insert_session(_session("bob:LONGLONGLONGLONG", expires_at=now + 3600))
    assert await store.get_session(ID) is not None
    deadline = time.monotonic() + 5
    while await store.get_session(ID) is not None:
        assert time.monotonic() < deadline, "Redis did not expire the session"
        await asyncio.sleep(0.05)
    assert [one.session_id for one in await store.sessions_of("bob")] == ["bob:LONGLONGLONGLONG"]
    clock.advance(1)
    assert await store.expired_session_ids(clock.now(), 10) == []
    with redis_client(redis_server) as client:
        assert client.zrange(f"{redis_prefix}:expiry", 0, -1) == ["bob:LONGLONGLONGLONG"]
        assert client.smembers(f"{redis_prefix}:user:bob") == {"bob:LONGLONGLONGLONG"}
        assert client.smembers(f"{redis_prefix}:account:bob") == {"bob:LONGLONGLONGLONG"}


# -- failures -----------------------------------------------------------------------------------


async def test_redis_down_is_store_unavailable_for_every_primitive(
    opened: Opener, clock: FrozenClock
) -> None:
    store = await opened(f"redis://127.0.0.1:{_closed_port()}/0?prefix=x", busy_timeout_ms=200)
    started = time.monotonic()
    calls: list[Callable[[], Awaitable[object]]] = [
        lambda: store.insert_session(_session()),
        lambda: store.insert_session(_session(), spend=StepUse("bob", 7, "session", "192.0.2.1")),
        lambda: store.get_session(ID),
        lambda: store.touch_session(ID, 2000.0),
        lambda: store.activate_session(ID, "192.0.2.1", 2000.0),
        lambda: store.rebind_session(ID, 1000.0, "192.0.2.1", 2000.0),
        lambda: store.count_wrong_token(ID),
        lambda: store.delete_session(ID),
        lambda: store.sessions_of("bob"),
        lambda: store.expired_session_ids(2000.0, 10),
        store.schema_version,
        store.migrate,
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            await call()
    assert time.monotonic() - started < 5.0
    # the durable half still answers: tokens and accounts do not depend on Redis
    assert await store.get_account("bob") is None


async def _fake_redis(answer: bytes | None) -> asyncio.Server:
    """A server on a free port that never answers (`None`) or answers `answer` to anything."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.read(65536):
                if answer is not None:
                    writer.write(answer)
                    await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize(
    "answer",
    [None, b"garbage\r\n", b"*1\r\n:7\r\n", b"$-1\r\n"],
    ids=["silent", "nonsense", "1", "nil"],
)
async def test_a_server_that_times_out_or_answers_nonsense_is_store_unavailable(
    opened: Opener, answer: bytes | None
) -> None:
    server = await _fake_redis(answer)
    port = server.sockets[0].getsockname()[1]
    try:
        store = await opened(f"redis://127.0.0.1:{port}/0", busy_timeout_ms=200)
        started = time.monotonic()
        for call in (
            lambda: store.get_session(ID),
            lambda: store.insert_session(_session()),
            lambda: store.count_wrong_token(ID),
        ):
            with pytest.raises(StoreUnavailable):
                await call()
        assert time.monotonic() - started < 5.0
    finally:
        server.close()


async def test_opening_with_redis_down_is_store_unavailable(
    postgresql_store_url: str, clock: FrozenClock
) -> None:
    down = f"redis://127.0.0.1:{_closed_port()}/0"
    with pytest.raises(StoreUnavailable):
        await migrate_store(postgresql_store_url, down, clock=clock, busy_timeout_ms=200)
    await migrate_store(postgresql_store_url, clock=clock)
    with pytest.raises(StoreUnavailable):
        await open_store(postgresql_store_url, down, clock=clock, busy_timeout_ms=200)


async def test_a_step_spent_before_redis_failed_stays_spent(
    opened: Opener, redis_store_url: str
) -> None:
    """The code is durable: Redis failing after it was spent fails closed."""
    working = await opened()
    broken = await opened(f"redis://127.0.0.1:{_closed_port()}/0", busy_timeout_ms=200)
    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    with pytest.raises(StoreUnavailable):
        await broken.insert_session(_session(), spend=spend)
    assert await working.last_totp_step("bob") == 1000
    assert not await working.insert_session(_session(), spend=spend)
    assert await working.get_session(ID) is None


async def test_a_reply_that_cannot_be_read_is_store_unavailable(
    opened: Opener, redis_server: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = await opened()
    await store.insert_session(_session())
    with redis_client(redis_server) as client:
        client.hset(f"{redis_prefix}:session:{ID}", "state", "secret-value")
    with caplog.at_level(logging.WARNING), pytest.raises(StoreUnavailable) as failed:
        await store.get_session(ID)
    assert "secret-value" not in caplog.text and "secret-value" not in str(failed.value)
    assert "session store unavailable: ValueError" in caplog.text
    with redis_client(redis_server) as client:
        client.hdel(f"{redis_prefix}:session:{ID}", "secret_hash")
    with pytest.raises(StoreUnavailable):
        await store.sessions_of("bob")


async def test_a_closed_store_raises(opened: Opener) -> None:
    store = await opened()
    await store.insert_session(_session())
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await store.get_session(ID)
    await store.aclose()


# -- the generation guard: never revive a session ----------------------------------------------


def _snapshot(redis_server: str, prefix: str) -> tuple[dict[str, str], str]:
    """The session's hash and the marker, as a snapshot (RDB, AOF) would keep them."""
    with redis_client(redis_server) as client:
        fields = client.hgetall(f"{prefix}:session:{ID}")
        marker = client.get(f"{prefix}:generation")
    assert fields and marker
    return fields, marker


def _restore(redis_server: str, prefix: str, fields: dict[str, str], marker: str) -> None:
    """Write a snapshot back, its index entries with it."""
    with redis_client(redis_server) as client:
        client.hset(f"{prefix}:session:{ID}", mapping=fields)
        client.zadd(f"{prefix}:expiry", {ID: float(fields["expires_at"])})
        client.sadd(f"{prefix}:user:bob", ID)
        client.sadd(f"{prefix}:account:bob", ID)
        client.set(f"{prefix}:generation", marker)


async def test_a_session_restored_after_a_data_loss_is_refused(
    opened: Opener, redis_server: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis lost everything (a restart without persistence: here every key of the prefix is
    deleted), a node renewed the generation, then an old snapshot came back."""
    store, other = await opened(), await opened()
    await store.insert_session(_session())
    fields, marker = _snapshot(redis_server, redis_prefix)
    first = await store.get_setting(GENERATION_SETTING)
    assert first is not None and marker.startswith(f"{first}:")
    delete_prefix(redis_server, redis_prefix)
    with caplog.at_level(logging.WARNING):
        assert await store.get_session(ID) is None
    assert "a new session generation" in caplog.text
    second = await store.get_setting(GENERATION_SETTING)
    assert second not in (None, first)
    await store.insert_session(_session("bob:NEWNEWNEWNEWNEWN"))
    _restore(redis_server, redis_prefix, fields, marker)
    for reader in (other, store):
        assert await reader.get_session(ID) is None
        assert [s.session_id for s in await reader.sessions_of("bob")] == []
        assert await reader.expired_session_ids(10_000.0, 10) == []
    assert await store.get_setting(GENERATION_SETTING) not in (first, second)
    assert f"{redis_prefix}:session:{ID}" not in _keys(redis_server, redis_prefix)


async def test_a_session_logged_out_then_restored_by_a_restart_is_refused(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    """A snapshot taken while the session lived, restored by a restart after its logout: the
    marker then names the Redis process that wrote it, not the one running now."""
    store, other = await opened(), await opened()
    await store.insert_session(_session(state=SessionState.UNUSED))
    await other.get_session(ID)  # both nodes hold the generation
    fields, marker = _snapshot(redis_server, redis_prefix)
    assert await store.delete_session(ID)  # the logout, after the snapshot
    generation, _, _ = marker.rpartition(":")
    _restore(redis_server, redis_prefix, fields, f"{generation}:{'0' * 40}")  # an old process
    attempts: list[Callable[[SplitStore], Awaitable[object]]] = [
        lambda s: s.get_session(ID),
        lambda s: s.activate_session(ID, "192.0.2.9", 1100.0),
        lambda s: s.count_wrong_token(ID),
        lambda s: s.delete_session(ID),
    ]
    for attempt in attempts:
        _restore(redis_server, redis_prefix, fields, f"{generation}:{'0' * 40}")
        for node in (other, store):
            assert await attempt(node) in (None, False, 0)


async def test_a_generation_renewed_by_one_node_is_adopted_by_the_other(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    store, other = await opened(), await opened()
    await store.insert_session(_session())
    assert await other.get_session(ID) is not None
    delete_prefix(redis_server, redis_prefix)
    await store.insert_session(_session("bob:NEWNEWNEWNEWNEWN"))  # renews
    renewed = await store.get_setting(GENERATION_SETTING)
    assert await other.get_session("bob:NEWNEWNEWNEWNEWN") is not None  # adopts, no renewal
    assert await other.get_setting(GENERATION_SETTING) == renewed


async def test_nodes_renewing_at_once_agree_on_one_generation(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    stores = [await opened() for _ in range(4)]
    await asyncio.gather(
        *(store.insert_session(_session(f"bob:{index:016d}")) for index, store in enumerate(stores))
    )
    for store in stores:
        assert len(await store.sessions_of("bob")) == 4


async def test_a_code_spent_before_redis_lost_everything_stays_spent(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    store = await opened()
    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    assert await store.insert_session(_session(), spend=spend)
    delete_prefix(redis_server, redis_prefix)  # Redis restarted empty
    assert await store.get_session(ID) is None  # logged out
    assert not await store.insert_session(_session("bob:BBBBBBBBBBBBBBBB"), spend=spend)
    assert await store.get_session("bob:BBBBBBBBBBBBBBBB") is None
    assert not await store.use_totp_step("bob", 1000, "session", "192.0.2.1", 2000.0)


# -- races between two workers: exactly one wins ------------------------------------------------


async def test_two_workers_open_one_session_with_one_code(opened: Opener) -> None:
    first, second = await opened(), await opened()
    spend = StepUse("bob", 1000, "session", "192.0.2.1")
    sessions = [_session(f"bob:{index:016d}") for index in range(10)]
    created = await asyncio.gather(
        *(
            (first if index % 2 else second).insert_session(one, spend=spend)
            for index, one in enumerate(sessions)
        )
    )
    assert created.count(True) == 1
    found = [await first.get_session(one.session_id) for one in sessions]
    assert sum(one is not None for one in found) == 1


async def test_two_workers_activate_rebind_and_count_once(opened: Opener) -> None:
    first, second = await opened(), await opened()
    await first.insert_session(_session(state=SessionState.UNUSED))
    await first.insert_session(_session("bob:BBBBBBBBBBBBBBBB"))
    activated = await asyncio.gather(
        *(
            store.activate_session(ID, f"192.0.2.{index}", 1100.0)
            for index in range(5)
            for store in (first, second)
        )
    )
    assert activated.count(True) == 1
    rebound = await asyncio.gather(
        *(
            store.rebind_session("bob:BBBBBBBBBBBBBBBB", 1000.0, f"192.0.2.{index}", 1100.0 + index)
            for index in range(5)
            for store in (first, second)
        )
    )
    assert rebound.count(True) == 1
    counts = await asyncio.gather(
        *(store.count_wrong_token("bob:BBBBBBBBBBBBBBBB") for store in (first, second) * 5)
    )
    assert sorted(counts) == list(range(1, 11))
    touched = await asyncio.gather(
        *(first.touch_session(ID, 2000.0 + index) for index in range(10)),
        *(second.touch_session(ID, 1500.0 + index) for index in range(10)),
    )
    assert touched == [None] * 20
    final = await second.get_session(ID)
    assert final is not None and final.last_seen == 2009.0  # never moved back


async def test_the_postgresql_split_store_opens_through_open_store(
    postgresql_store_url: str, redis_store_url: str, clock: FrozenClock
) -> None:
    await migrate_store(postgresql_store_url, redis_store_url, clock=clock)
    store: Store = await open_store(postgresql_store_url, redis_store_url, clock=clock)
    try:
        assert isinstance(store, SplitStore)
        assert isinstance(store.durable, PostgresqlStore)
        spend = StepUse("bob", 1000, "session", "192.0.2.1")
        assert await store.insert_session(_session(), spend=spend)
        assert not await store.insert_session(_session("bob:BBBBBBBBBBBBBBBB"), spend=spend)
        assert await store.get_session(ID) == _session()
    finally:
        await store.aclose()
    assert not isinstance(store, SqliteStore)


# -- failure counters: counted in Redis, blocks durable -----------------------------------------

LIMITS = Limits(
    address_window=600.0,
    address_limit=3,
    address_block=900.0,
    brute_window=3600.0,
    brute_limit=0,
    brute_block=86_400.0,
    user_window=300.0,
    user_limit=0,
    user_lock=900.0,
)
T0 = 1_000_000.0
ADDRESS = "192.0.2.7"


def _failure(at: float, user: str = "bob", address: str = ADDRESS) -> Failure:
    return Failure(
        address_key(address), address, user_key(user), user, "cpaneld", Method.PASSWORD, at
    )


async def test_failures_live_in_redis_under_the_prefix_and_expire_with_the_longest_window(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    store = await opened()
    await store.record_failure(_failure(T0), LIMITS, recorded=False)
    assert await store.durable.failures_since(0.0, limit=10) == []  # nothing in the durable store
    assert await store.failures_since(0.0, limit=10) == [_failure(T0)]
    keys = {
        f"{redis_prefix}:hulk:address:{address_key(ADDRESS)}",
        f"{redis_prefix}:hulk:user:{user_key('bob')}",
        f"{redis_prefix}:hulk:failures",
    }
    assert keys <= _keys(redis_server, redis_prefix)
    with redis_client(redis_server) as client:
        for key in keys:
            assert 3600 < client.pttl(key) / 1000 <= 3600 + 60  # the lookback, and a minute


async def test_losing_redis_resets_the_counts_but_never_lifts_a_block(
    opened: Opener, redis_server: str, redis_prefix: str
) -> None:
    """FT-8: a Redis restart (here, every key lost) may reset counts, never lift a block."""
    store = await opened()
    for at in (T0, T0 + 1, T0 + 2):
        await store.record_failure(_failure(at), LIMITS, recorded=False)
    key = address_key(ADDRESS)
    before = await store.address_standing(key, T0 + 3, 3600.0)
    assert (before.failures, before.blocked_until) == (3, T0 + 2 + 900)
    # a restart: the data is gone and every connection dropped, the listener's too
    delete_prefix(redis_server, redis_prefix)
    with redis_client(redis_server) as client:
        for one in client.client_list():
            if one["name"] == "panelauth-listener":
                client.client_kill_filter(_id=one["id"])
    deadline = time.monotonic() + 5
    while store.counters._trusted():  # the listener notices
        assert time.monotonic() < deadline, "the listener did not notice"
        await asyncio.sleep(0.01)
    while not store.counters._trusted():  # listening again, its cache empty
        assert time.monotonic() < deadline, "the listener did not come back"
        await asyncio.sleep(0.05)
    after = await store.address_standing(key, T0 + 3, 3600.0)
    assert (after.failures, after.blocked_until) == (0, T0 + 2 + 900)
    assert not await store.reserve_attempt(_failure(T0 + 4), LIMITS, per_user=False)


async def test_parallel_reservations_over_two_nodes_get_exactly_the_limit(
    opened: Opener,
) -> None:
    """BF-4 across nodes: the count and the record are one step in Redis."""
    nodes = [await opened(), await opened()]
    granted = await asyncio.gather(
        *(
            nodes[i % 2].reserve_attempt(_failure(T0 + i / 100), LIMITS, per_user=False)
            for i in range(40)
        )
    )
    assert sum(granted) == LIMITS.address_limit


async def test_a_failure_counted_on_one_node_reaches_the_others_cache(opened: Opener) -> None:
    first, second = await opened(), await opened()
    key = address_key(ADDRESS)
    assert (await second.address_standing(key, T0, 3600.0)).failures == 0  # cached now
    await first.record_failure(_failure(T0), LIMITS, recorded=False)
    assert await second.counters._caught_up()
    standing = await second.address_standing(key, T0, 3600.0)
    assert standing.failures == 1
    assert standing.has_failures_of(user_key("bob"))
    await first.clear_failures(key, user_key("bob"))
    assert await second.counters._caught_up()
    assert (await second.address_standing(key, T0, 3600.0)).failures == 0


async def test_with_redis_down_successes_still_pass_and_counting_fails_closed(
    opened: Opener,
) -> None:
    store = await opened(f"redis://127.0.0.1:{_closed_port()}/0?prefix=x", busy_timeout_ms=200)
    started = time.monotonic()
    # the standing is the durable one alone: a valid token still gets in (nothing to clear)
    standing = await store.address_standing(address_key(ADDRESS), T0, 3600.0)
    assert (standing.failures, standing.blocked_until) == (0, 0.0)
    for call in (
        lambda: store.reserve_attempt(_failure(T0), LIMITS, per_user=True),
        lambda: store.record_failure(_failure(T0), LIMITS, recorded=False),
        lambda: store.clear_failures(address_key(ADDRESS), user_key("bob")),
        lambda: store.failures_since(0.0, limit=10),
        store.flush_failures,
    ):
        with pytest.raises(StoreUnavailable):
            await call()
    assert time.monotonic() - started < 5.0
