"""The stores failing under real nodes (configuration 3: PostgreSQL + Redis; and 2 for a storm).

What must hold (w§15.5, FT-2, FT-4): a request that needs a store that is stopped, unreachable
or slow gets a 503 with `Retry-After`, in its API's envelope, within a bounded time: never a
hang, never a 500, never access granted on stale data; once the store is back the node serves
again without a restart. A node killed (SIGKILL) in a login storm leaves no half-written
session or counter, and the other nodes are unaffected. A failed transaction leaves nothing
half done.

The layout: two nodes on one PostgreSQL schema of their own and one `redis-server` of the
test's own (`--save '' --appendonly no`, on a free port; stopped and started again by the
tests). `node` reaches both stores through TCP forwarders in the test (`services.Forwarder`),
which can hold every byte (a store that does not answer: "slow" without bound) or cut and
refuse every connection ("unreachable"); its PostgreSQL connections carry an
`application_name` of their own, by which the test cuts them (`pg_terminate_backend`) without
touching anyone else's. `peer` reaches both stores directly: it keeps serving whatever the
`node`'s links do, and makes changes `node` must not miss. Both have
`store_busy_timeout_ms: 1000`, the bound every wait on a store gets. The shared PostgreSQL
server is never stopped.
"""

from __future__ import annotations

import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import psycopg
import pytest

from tests.backends.conftest import postgresql_url, with_prefix, with_schema
from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server
from tests.e2e.services import Answer, Forwarder, RedisServer, fetch, wait_until

pytestmark = pytest.mark.e2e

BUSY_TIMEOUT_MS = 1000
# how soon a request that needs a failing store must have its 503: a request may wait on the
# store twice in a row (seen: 2.0 s with an unreachable PostgreSQL at 1000 ms), plus what the
# rest of the request and a loaded test machine take
PROMPT_SECONDS = 2 * BUSY_TIMEOUT_MS / 1000 + 1.0
HANG_SECONDS = 6  # the client gives up there: an answer that late is a hang
PROPAGATION_SECONDS = 1.0  # a change on one node holds on every other within this
BOB_PASSWORD = "bob-Faults-Pw-1"
INFO = "/execute/Variables/get_user_information"
WHM_VERSION = "/json-api/version?api.version=1"


def node_config(store_url: str, session_url: str | None) -> str:
    return (
        CHEAP_CONFIG
        + f"store_busy_timeout_ms: {BUSY_TIMEOUT_MS}\n"
        + f"store: {store_url}\n"
        + (f"session_store: {session_url}\n" if session_url else "")
    )


def through(url: str, port: int) -> str:
    """`url` (postgresql://user@host:port/db) with 127.0.0.1:`port` as its host and port."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return parts._replace(
        netloc=f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}"
    ).geturl()


def pg_target(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def drop_schema(name: str) -> None:
    with psycopg.connect(postgresql_url(), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def start_nodes(
    base: Path, first_config: str, second_config: str
) -> tuple[RunningServer, RunningServer]:
    first = start_server(base / "first" / "data", config=first_config)
    second_dir = base / "second" / "data"
    second_dir.mkdir(parents=True)
    (second_dir / "panelauth.yaml").write_text(second_config)
    (second_dir / "tfa.key").write_bytes((first.data_dir / "tfa.key").read_bytes())
    (second_dir / "tfa.key").chmod(0o600)
    try:
        return first, start_server(second_dir, config=second_config)
    except BaseException:
        first.stop()
        raise


@dataclass
class Faults:
    node: RunningServer  # through the forwarders
    peer: RunningServer  # direct
    redis: RedisServer
    pg_link: Forwarder
    redis_link: Forwarder
    application_name: str  # of node's PostgreSQL connections

    def cut_postgresql(self) -> int:
        """Terminate every PostgreSQL connection of `node`: how many there were."""
        with psycopg.connect(postgresql_url(), autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()",
                (self.application_name,),
            ).fetchall()
        return len(rows)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    base = tmp_path_factory.mktemp("faults")
    name = f"faults_{uuid.uuid4().hex[:12]}"
    application_name = f"panelauth_{name}"
    redis_server = RedisServer(base / "redis")
    redis_server.start()
    pg_url = postgresql_url()
    try:
        with (
            Forwarder(pg_target(pg_url)) as pg_link,
            Forwarder(("127.0.0.1", redis_server.port)) as redis_link,
        ):
            linked = with_schema(through(pg_url, pg_link.port), name)
            node_store = f"{linked}&application_name={application_name}"
            node_sessions = with_prefix(f"redis://127.0.0.1:{redis_link.port}/0", name)
            peer_store = f"{with_schema(pg_url, name)}&application_name={name}_peer"
            peer_sessions = with_prefix(redis_server.url, name)
            node, peer = start_nodes(
                base,
                node_config(node_store, node_sessions),
                node_config(peer_store, peer_sessions),
            )
            try:
                whm(peer, "createacct", username="bob", domain="bob.example", password=BOB_PASSWORD)
                yield Faults(node, peer, redis_server, pg_link, redis_link, application_name)
            finally:
                node.stop()
                peer.stop()
    finally:
        redis_server.stop()
        drop_schema(name)


# -- requests -----------------------------------------------------------------------------------


def call(node: RunningServer, port: int, path: str, method: str = "GET", **request: Any) -> Answer:
    """One request to `node`, on a connection of its own; a hang fails the test."""
    tls = port in (2083, 2087, 2096)
    try:
        return fetch(
            method,
            node.url(port, path, tls=tls),
            context=ssl.create_default_context(cafile=node.cert),
            timeout=HANG_SECONDS,
            **request,
        )
    except httpx.TimeoutException:
        pytest.fail(f"{method} {path}: no answer within {HANG_SECONDS} s (a hang)")


def whm(node: RunningServer, function: str, **params: str) -> dict[str, Any]:
    answer = call(
        node,
        2087,
        f"/json-api/{function}",
        params={"api.version": "1", **params},
        auth=("root", ROOT_PASSWORD),
    )
    document: dict[str, Any] = answer.response.json()
    assert document["metadata"]["result"] == 1, document
    return document


def log_in(
    node: RunningServer, port: int, user: str, password: str, **request: Any
) -> tuple[str, str]:
    """(Cookie header, /cpsess token) of a new session."""
    answer = call(
        node, port, "/login/?login_only=1", "POST", data={"user": user, "pass": password}, **request
    )
    assert answer.response.status_code == 200, answer.response.text
    cookie = answer.response.headers["Set-Cookie"].split(";", 1)[0]
    return cookie, answer.response.json()["security_token"]


def ready(node: RunningServer) -> int:
    return call(node, 2086, "/readyz").response.status_code


def assert_unavailable(answer: Answer, *, within: float = PROMPT_SECONDS) -> None:
    """A 503 with Retry-After, in time."""
    response = answer.response
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers["Retry-After"].isdigit(), response.headers
    assert answer.seconds < within, f"503 after {answer.seconds:.2f} s"


def token_headers(plain: str) -> dict[str, str]:
    return {"Authorization": f"whm root:{plain}"}


def eventually(check: Callable[[], bool], within: float, what: str) -> float:
    return wait_until(check, within, what, every=0.1)


# -- Redis ----------------------------------------------------------------------------------------


def test_redis_stopped_tokens_still_work_and_sessions_get_503_in_their_envelope(
    faults: Faults,
) -> None:
    node, peer = faults.node, faults.peer
    plain = whm(node, "api_token_create", token_name="redis-stopped")["data"]["token"]
    bob_cookie, bob_token = log_in(node, 2083, "bob", BOB_PASSWORD)
    root_cookie, root_token = log_in(node, 2087, "root", ROOT_PASSWORD)
    faults.redis.stop()
    try:
        for each in (node, peer):
            # tokens and passwords live in PostgreSQL: WHM API 1 still works
            token_call = call(each, 2087, WHM_VERSION, headers=token_headers(plain))
            assert token_call.response.status_code == 200, token_call.response.text
            basic = call(each, 2087, WHM_VERSION, auth=("root", ROOT_PASSWORD))
            assert basic.response.status_code == 200, basic.response.text
            # sessions live in Redis: 503 in each API's envelope
            uapi = call(each, 2083, f"{bob_token}{INFO}", headers={"Cookie": bob_cookie})
            assert_unavailable(uapi)
            document = uapi.response.json()
            assert document["status"] == 0 and document["errors"], document
            assert document["data"] is None
            api2 = call(
                each,
                2083,
                f"{bob_token}/json-api/cpanel",
                params={
                    "cpanel_jsonapi_apiversion": "2",
                    "cpanel_jsonapi_module": "Email",
                    "cpanel_jsonapi_func": "listpops",
                },
                headers={"Cookie": bob_cookie},
            )
            assert_unavailable(api2)
            result = api2.response.json()["cpanelresult"]
            assert result["event"]["result"] == 0 and result["error"], result
            whm1 = call(each, 2087, f"{root_token}{WHM_VERSION}", headers={"Cookie": root_cookie})
            assert_unavailable(whm1)
            metadata = whm1.response.json()["metadata"]
            assert metadata["result"] == 0 and metadata["reason"], metadata
            page = call(
                each,
                2083,
                f"{bob_token}/frontend/jupiter/index.html",
                headers={"Cookie": bob_cookie},
            )
            assert_unavailable(page)
            assert page.response.headers["Content-Type"].startswith("text/html")
            # a password login cannot open a session: 503, never a session
            login = call(
                each,
                2083,
                "/login/?login_only=1",
                "POST",
                data={"user": "bob", "pass": BOB_PASSWORD},
            )
            assert_unavailable(login)
            assert "Set-Cookie" not in login.response.headers
            assert login.response.json()["status"] == 0
        eventually(lambda: ready(node) == 503 and ready(peer) == 503, 4, "readyz 503")
    finally:
        faults.redis.start()  # the same port, empty
    eventually(lambda: ready(node) == 200 and ready(peer) == 200, 5, "readyz 200")
    # Redis lost every session: the old ones are refused (a logout); new ones work everywhere
    for each in (node, peer):
        old = call(each, 2083, f"{bob_token}{INFO}", headers={"Cookie": bob_cookie})
        assert old.response.status_code == 403
    cookie, token = log_in(node, 2083, "bob", BOB_PASSWORD)
    for each in (node, peer):
        answer = call(each, 2083, f"{token}{INFO}", headers={"Cookie": cookie})
        assert answer.response.status_code == 200
        assert answer.response.json()["data"]["user"] == "bob"


def test_redis_not_answering_gets_503_within_the_busy_timeout_then_recovers(
    faults: Faults,
) -> None:
    """A node whose Redis link stalls may answer from what it proved until its listener's
    proofs stop (PROPAGATION_SECONDS, as for PostgreSQL), never a session logged out meanwhile
    on another node; then every session request gets a 503 within the busy timeout."""
    node, peer = faults.node, faults.peer
    cookie, token = log_in(node, 2083, "bob", BOB_PASSWORD)
    session = {"Cookie": cookie}
    gone_cookie, gone_token = log_in(node, 2083, "bob", BOB_PASSWORD)
    for headers, path in (
        ({"Cookie": gone_cookie}, f"{gone_token}{INFO}"),
        (session, f"{token}{INFO}"),
    ):
        for _ in range(2):  # proved, and remembered by the node
            assert call(node, 2083, path, headers=headers).response.status_code == 200
    faults.redis_link.stall()
    try:
        logged_out = call(peer, 2083, "/logout/", headers={"Cookie": gone_cookie})
        assert logged_out.response.status_code == 302
        time.sleep(PROPAGATION_SECONDS)  # what every node must have seen by now
        gone = call(node, 2083, f"{gone_token}{INFO}", headers={"Cookie": gone_cookie})
        assert gone.response.status_code != 200, "a logged-out session let in (stale memo)"
        assert_unavailable(gone)
        for _ in range(2):
            assert_unavailable(call(node, 2083, f"{token}{INFO}", headers=session))
        # readyz: a result is reused for 1 s, a check gives up after 2 s
        eventually(lambda: ready(node) == 503, 3.5, "readyz 503")
        # the other node's link is fine: the session is there, and served
        assert call(peer, 2083, f"{token}{INFO}", headers=session).response.status_code == 200
    finally:
        faults.redis_link.flow()

    def served() -> bool:
        answer = call(node, 2083, f"{token}{INFO}", headers=session)
        assert answer.response.status_code in (200, 503), answer.response.text
        return answer.response.status_code == 200

    eventually(served, 5, "the node serves the session again")
    for _ in range(3):  # and answers are its own, not late replies to earlier commands
        answer = call(node, 2083, f"{token}{INFO}", headers=session)
        assert answer.response.json()["data"]["user"] == "bob"
        assert call(node, 2087, WHM_VERSION, auth=("root", ROOT_PASSWORD)).response.is_success
    assert ready(node) == 200


# -- PostgreSQL -----------------------------------------------------------------------------------


def node_connections(faults: Faults) -> int:
    with psycopg.connect(postgresql_url(), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (faults.application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


def burst(node: RunningServer, requests: int) -> list[int]:
    """`requests` concurrent calls of WHM `listaccts` (which reads the store, uncached): the
    pool grows to serve them."""
    statuses: list[int] = []

    def one() -> None:
        listed = call(node, 2087, "/json-api/listaccts?api.version=1", auth=("root", ROOT_PASSWORD))
        statuses.append(listed.response.status_code)

    threads = [threading.Thread(target=one) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_postgresql_connections_cut_are_replaced_without_a_500(faults: Faults) -> None:
    """Every PostgreSQL connection of the node is terminated (what a server restart or a
    failover does to them): the next requests, reads and writes alike, are served on fresh
    connections at once (a 503 is allowed only while PostgreSQL does not answer, and it
    does), /readyz stays or turns 200 again at once, and the change signal listens again."""
    node, peer = faults.node, faults.peer
    plain = whm(node, "api_token_create", token_name="cut")["data"]["token"]
    cookie, token = log_in(node, 2083, "bob", BOB_PASSWORD)
    # concurrent requests: the pool holds several idle connections afterwards
    assert set(burst(node, 12)) == {200}
    assert node_connections(faults) >= 3
    time.sleep(1.1)  # past the readiness cache: the next /readyz asks the store
    assert faults.cut_postgresql() >= 3  # the idle pooled ones and the listening one
    probe = call(node, 2086, "/readyz")  # a balancer's probe may come first
    statuses = []
    for answer in (
        call(
            node,
            2087,
            "/json-api/api_token_create",
            params={"api.version": "1", "token_name": "after-cut"},
            auth=("root", ROOT_PASSWORD),
        ),
        call(node, 2087, WHM_VERSION, headers=token_headers(plain)),
        call(node, 2087, WHM_VERSION, auth=("root", ROOT_PASSWORD)),
        call(node, 2083, f"{token}{INFO}", headers={"Cookie": cookie}),
    ):
        assert answer.response.status_code != 500
        statuses.append(answer.response.status_code)
    assert statuses == [200] * 4, statuses  # fresh connections, at once
    # the change signal is back too: a token revoked on the peer is refused here within 1 s
    whm(peer, "api_token_revoke", token_name="cut")
    eventually(
        lambda: (
            call(node, 2087, WHM_VERSION, headers=token_headers(plain)).response.status_code
            in (401, 403)
        ),
        1.5,
        "the revocation seen on the node",
    )
    assert probe.response.status_code == 200, (
        "/readyz answered 503 while PostgreSQL answers: its check met a pooled connection "
        "the server had closed, and did not try another"
    )


def test_postgresql_unreachable_gets_503_then_the_node_recovers(faults: Faults) -> None:
    node, peer = faults.node, faults.peer
    plain = whm(node, "api_token_create", token_name="unreachable")["data"]["token"]
    cookie, token = log_in(node, 2083, "bob", BOB_PASSWORD)
    faults.pg_link.refuse()  # every connection cut, new ones refused
    try:
        assert_unavailable(call(node, 2087, WHM_VERSION, headers=token_headers(plain)))
        assert_unavailable(call(node, 2087, WHM_VERSION, auth=("root", ROOT_PASSWORD)))
        assert_unavailable(call(node, 2083, f"{token}{INFO}", headers={"Cookie": cookie}))
        eventually(lambda: ready(node) == 503, 3, "readyz 503")
        whm(peer, "api_token_revoke", token_name="unreachable")  # missed by the node's listener
    finally:
        faults.pg_link.accept()
    eventually(lambda: ready(node) == 200, 5, "readyz 200")
    refused = call(node, 2087, WHM_VERSION, headers=token_headers(plain))
    assert refused.response.status_code in (401, 403)
    assert call(node, 2083, f"{token}{INFO}", headers={"Cookie": cookie}).response.is_success


FEATURE_IDS = ("apitokens", "popaccts", "twofactorauth", "webmail")


def stored_features(faults: Faults, name: str) -> dict[str, bool]:
    schema = faults.application_name.removeprefix("panelauth_")
    with psycopg.connect(postgresql_url(), autocommit=True) as connection:
        rows = connection.execute(
            f'SELECT feature, enabled FROM "{schema}".feature_lists WHERE name = %s', (name,)
        ).fetchall()
    return {str(feature): bool(enabled) for feature, enabled in rows}


def test_a_transaction_cut_short_leaves_nothing_half_done(faults: Faults) -> None:
    """A feature list is saved in one transaction (its name, then each feature's row) while
    the node's connections are cut again and again: every save is all or nothing, and every
    answer is a success or a 503."""
    node = faults.node
    whm(node, "create_featurelist", featurelist="faults", **dict.fromkeys(FEATURE_IDS, "0"))
    stop = threading.Event()
    cuts = [0]

    def cutter() -> None:
        while not stop.is_set():
            cuts[0] += faults.cut_postgresql()
            time.sleep(0.003)

    thread = threading.Thread(target=cutter)
    thread.start()
    outcomes = []
    try:
        for round_ in range(30):
            value = str(round_ % 2)
            answer = call(
                node,
                2087,
                "/json-api/update_featurelist",
                params={
                    "api.version": "1",
                    "featurelist": "faults",
                    **dict.fromkeys(FEATURE_IDS, value),
                },
                auth=("root", ROOT_PASSWORD),
            )
            if answer.response.status_code == 200:
                assert answer.response.json()["metadata"]["result"] == 1
            else:
                assert_unavailable(answer)
            outcomes.append(answer.response.status_code)
            rows = stored_features(faults, "faults")
            assert len(set(rows.values())) == 1, rows  # never half of one save
            assert set(rows) == set(FEATURE_IDS), rows
            if answer.response.status_code == 200:
                assert set(rows.values()) == {value == "1"}, (round_, rows)
    finally:
        stop.set()
        thread.join()
    assert cuts[0] > 0
    assert 503 in outcomes, outcomes  # some saves were cut indeed

    def saved() -> bool:  # without a restart (the first tries may meet dead connections)
        answer = call(
            node,
            2087,
            "/json-api/update_featurelist",
            params={"api.version": "1", "featurelist": "faults", "webmail": "1"},
            auth=("root", ROOT_PASSWORD),
        )
        assert answer.response.status_code in (200, 503)
        return answer.response.status_code == 200

    eventually(saved, 15, "a save after the cuts")


def test_postgresql_not_answering_gets_503_within_the_busy_timeout(faults: Faults) -> None:
    """Every byte between the node and PostgreSQL is held: its pooled and listening connections
    stay open and answer nothing (a store that is slow without bound). What needs the store
    (a write: an account made, a failed login counted) gets a 503 within the busy timeout."""
    node = faults.node
    faults.pg_link.stall()
    try:
        made = call(
            node,
            2087,
            "/json-api/createacct",
            params={
                "api.version": "1",
                "username": "stalled",
                "domain": "stalled.example",
                "password": "stalled-Pw-12",
            },
            auth=("root", ROOT_PASSWORD),
        )
        assert_unavailable(made)
        assert made.response.json()["metadata"]["result"] == 0
        wrong = call(node, 2083, INFO, auth=("bob", "not-the-password"))
        assert_unavailable(wrong)
        # readyz: a result is reused for 1 s, a check gives up after 2 s
        eventually(lambda: ready(node) == 503, 3.5, "readyz 503")
    finally:
        faults.pg_link.flow()
    eventually(lambda: ready(node) == 200, 5, "readyz 200")
    assert call(node, 2087, WHM_VERSION, auth=("root", ROOT_PASSWORD)).response.is_success


def test_a_node_cut_off_from_postgresql_grants_nothing_on_stale_data(faults: Faults) -> None:
    """The node's PostgreSQL link holds every byte (its listening connection too, which
    therefore hears no change): a token it verified and cached before, revoked on the peer
    meanwhile, and bob's old password, changed on the peer meanwhile, must not let anyone in
    there (a 503 is the answer: the node cannot know)."""
    node, peer = faults.node, faults.peer
    whm(peer, "createacct", username="carol", domain="carol.example", password="carol-Old-Pw-1")
    plain = whm(node, "api_token_create", token_name="stale")["data"]["token"]
    assert call(node, 2087, WHM_VERSION, headers=token_headers(plain)).response.is_success
    assert call(node, 2083, INFO, auth=("carol", "carol-Old-Pw-1")).response.is_success
    faults.pg_link.stall()
    try:
        whm(peer, "api_token_revoke", token_name="stale")
        whm(peer, "passwd", user="carol", password="carol-New-Pw-2")
        time.sleep(PROPAGATION_SECONDS)  # what every node must have seen by now
        revoked = call(node, 2087, WHM_VERSION, headers=token_headers(plain))
        assert revoked.response.status_code != 200, "a revoked token let in (stale cache)"
        assert_unavailable(revoked)
        old = call(node, 2083, INFO, auth=("carol", "carol-Old-Pw-1"))
        assert old.response.status_code != 200, "an old password let in (stale cache)"
        assert_unavailable(old)
    finally:
        faults.pg_link.flow()
    eventually(lambda: ready(node) == 200, 5, "readyz 200")
    refused = call(node, 2087, WHM_VERSION, headers=token_headers(plain))
    assert refused.response.status_code in (401, 403)
    assert call(node, 2083, INFO, auth=("carol", "carol-New-Pw-2")).response.is_success


# -- a node killed in a login storm ---------------------------------------------------------------

RIGHT_USERS = 6  # threads logging in with the right password, each its user and address
GHOST_THREADS = 2  # threads sending wrong passwords for users that do not exist
STORM_SECONDS = 1.2  # before the kill
AFTER_KILL_SECONDS = 1.0


@dataclass
class Attempt:
    user: str
    address: str
    right: bool
    at: float = 0.0  # when the answer came (monotonic), or the error
    status: int | None = None  # None: no answer (the connection was lost)
    cookie: str = ""
    token: str = ""
    hung: bool = False
    used: int | None = None  # the status of a call with the session, where one was made


def storm_address(thread: int, count: int, *, base: int) -> str:
    """A loopback address of its own for each (thread, count): no address reaches a limit."""
    return f"127.{base + count // 250}.{thread}.{1 + count % 250}"


def attempt(node: RunningServer, each: Attempt) -> Attempt:
    """One login (`login_only`) from the attempt's address; its outcome recorded on it."""
    password = f"{each.user}-Storm-Pw-1" if each.right else "not-the-password"
    try:
        answer = fetch(
            "POST",
            node.url(2083, "/login/?login_only=1"),
            context=ssl.create_default_context(cafile=node.cert),
            source=each.address,
            timeout=HANG_SECONDS,
            data={"user": each.user, "pass": password},
        )
    except httpx.TimeoutException:
        each.at, each.hung = time.monotonic(), True
        return each
    except httpx.TransportError:
        each.at = time.monotonic()
        return each
    each.at, each.status = time.monotonic(), answer.response.status_code
    if each.status == 200:
        each.cookie = answer.response.headers["Set-Cookie"].split(";", 1)[0]
        each.token = answer.response.json()["security_token"]
    return each


def session_id(cookie: str) -> str:
    """The session's id, as the session list names it, from `cpsession=<id>,<secret>`."""
    return unquote(cookie.split("=", 1)[1]).split(",", 1)[0]


@pytest.fixture(params=["postgresql", "postgresql+redis"])
def storm_nodes(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, RunningServer]]:
    base = tmp_path_factory.mktemp("storm")
    name = f"storm_{uuid.uuid4().hex[:12]}"
    redis_server = RedisServer(base / "redis") if "redis" in request.param else None
    try:
        if redis_server is not None:
            redis_server.start()
        session_url = with_prefix(redis_server.url, name) if redis_server else None
        config = node_config(with_schema(postgresql_url(), name), session_url)
        first, second = start_nodes(base, config, config)
        try:
            for index in range(RIGHT_USERS + 1):
                user = f"storm{index}"
                whm(
                    second,
                    "createacct",
                    username=user,
                    domain=f"{user}.example",
                    password=f"{user}-Storm-Pw-1",
                )
            yield first, second
        finally:
            first.stop()
            second.stop()
    finally:
        if redis_server is not None:
            redis_server.stop()
        drop_schema(name)


def test_a_node_killed_in_a_login_storm_leaves_whole_sessions_and_counters(
    storm_nodes: tuple[RunningServer, RunningServer],
) -> None:
    """Node A takes a storm of logins (right passwords, each user from its own address; wrong
    ones for users that do not exist, each from an address of its own) and is killed with
    SIGKILL in the middle; node B takes its own logins throughout. Afterwards, read through B:
    every session is whole (and each one whose answer arrived is there and works), every
    failure record is whole and belongs to one attempt sent, and B never faltered."""
    victim, survivor = storm_nodes
    stop = threading.Event()
    on_victim: list[Attempt] = []
    on_survivor: list[Attempt] = []

    def right(thread: int) -> None:
        user, address = f"storm{thread}", f"127.0.1.{thread + 1}"
        while not stop.is_set():
            made = attempt(victim, Attempt(user, address, True))
            on_victim.append(made)
            if made.status is None:
                return  # the node is gone

    def ghosts(thread: int) -> None:
        count = 0
        while not stop.is_set():
            address = storm_address(thread, count, base=2)
            made = attempt(victim, Attempt(f"ghost{thread}x{count}", address, False))
            on_victim.append(made)
            if made.status is None:
                return  # the node is gone
            count += 1

    def survivor_logins() -> None:
        user, count = f"storm{RIGHT_USERS}", 0
        while not stop.is_set():
            made = attempt(survivor, Attempt(user, "127.0.2.1", True))
            on_survivor.append(made)
            if made.status == 200:  # and the session works there at once
                try:
                    made.used = fetch(
                        "GET",
                        survivor.url(2083, f"{made.token}{INFO}"),
                        context=ssl.create_default_context(cafile=survivor.cert),
                        source=made.address,
                        timeout=HANG_SECONDS,
                        headers={"Cookie": made.cookie},
                    ).response.status_code
                except httpx.HTTPError:
                    made.used = -1
            address = storm_address(9, count, base=5)
            on_survivor.append(attempt(survivor, Attempt(f"ghostb{count}", address, False)))
            count += 1

    threads = [threading.Thread(target=right, args=(i,)) for i in range(RIGHT_USERS)]
    threads += [threading.Thread(target=ghosts, args=(i,)) for i in range(GHOST_THREADS)]
    threads.append(threading.Thread(target=survivor_logins))
    for thread in threads:
        thread.start()
    try:
        time.sleep(STORM_SECONDS)
        killed = time.monotonic()
        victim.process.kill()
        victim.process.wait(timeout=10)
        time.sleep(AFTER_KILL_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    # the victim answered correctly until it died; then its connections failed
    before = [a for a in on_victim if a.at < killed]
    assert before and all(a.status == (200 if a.right else 401) for a in before), [
        (a.user, a.status) for a in before if a.status != (200 if a.right else 401)
    ]
    assert all(a.status in (None, 200, 401) and not a.hung for a in on_victim)
    # the survivor never faltered, before or after
    assert len([a for a in on_survivor if a.at > killed]) >= 4
    assert all(a.status == (200 if a.right else 401) for a in on_survivor), [
        (a.user, a.status) for a in on_survivor
    ]
    assert all(a.used == 200 for a in on_survivor if a.right), [a.used for a in on_survivor]

    # sessions: every one in the store is whole; every one whose answer arrived is there
    listed = whm(survivor, "panelauth_list_sessions")["data"]["sessions"]
    addresses = {f"storm{i}": f"127.0.1.{i + 1}" for i in range(RIGHT_USERS)}
    addresses[f"storm{RIGHT_USERS}"] = "127.0.2.1"
    sessions = {s["id"]: s for s in listed if s["user"] in addresses}
    for each in sessions.values():
        assert each["id"].startswith(f"{each['user']}:") and len(each["id"]) > len(each["user"]) + 8
        assert each["service"] == "cpaneld" and each["state"] and each["method"], each
        assert each["address"] == addresses[each["user"]], each
        assert 0 < each["created"] <= each["last_seen"], each
    answered = [a for a in on_victim + on_survivor if a.status == 200]
    assert answered and {session_id(a.cookie) for a in answered} <= set(sessions)
    assert len(sessions) <= len([a for a in on_victim + on_survivor if a.right])
    lost = len(sessions) - len(answered)  # written before the kill, never answered
    assert 0 <= lost <= RIGHT_USERS, lost
    # the sessions the victim made last before it died, and the last of each user, work
    # through the survivor
    last = {a.user: a for a in answered}
    recent = [a for a in on_victim if a.status == 200 and a.at > killed - 0.3]
    for each in {id(a): a for a in [*last.values(), *recent]}.values():
        used = call(
            survivor,
            2083,
            f"{each.token}{INFO}",
            headers={"Cookie": each.cookie},
            source=each.address,
        )
        assert used.response.status_code == 200, (each.user, used.response.text)
        assert used.response.json()["data"]["user"] == each.user

    # failure records: each whole, each one attempt's (its user with its own address), and
    # every failure that was answered is there
    failed = whm(survivor, "get_cphulk_failed_logins")["data"]["failed_logins"]
    sent = {a.address: a for a in on_victim + on_survivor if not a.right}
    seen: set[str] = set()
    for record in failed:
        assert all(
            record[key] not in (None, "")
            for key in ("authservice", "ip", "user", "service", "logintime", "exptime")
        ), record
        assert record["ip"] in sent and sent[record["ip"]].user == record["user"], record
        assert record["ip"] not in seen, record  # counted once
        seen.add(record["ip"])
    answered_failures = {a.address for a in sent.values() if a.status == 401}
    assert answered_failures <= seen, answered_failures - seen
    assert len(seen - answered_failures) <= GHOST_THREADS  # in flight at the kill
    # and logins still work for everyone through the survivor: no lock left behind
    for user, address in addresses.items():
        made = attempt(survivor, Attempt(user, address, True))
        assert made.status == 200, user
