"""Two nodes behind Debian's nginx, end to end (configuration 3: PostgreSQL + Redis).

nginx is a TCP balancer (`stream`): one listener per panelauth port, round robin to the two
nodes, `proxy_protocol on` (v1) on every upstream connection; TLS ends on the nodes. The nodes
run with `proxy_protocol: true` and nginx's address as their only trusted proxy.

The layout on loopback (every 127.x address is the machine's own):

* nginx listens on 127.0.0.1, on ports of its own (one per panelauth port, `NGINX_PORTS`), and
  connects to the nodes from 127.0.0.3 (`proxy_bind`): `trusted_proxies: [127.0.0.3/32]`.
* Chromium cannot choose its source address: it connects from 127.0.0.1; the test's httpx
  clients connect from 127.0.0.2 (`local_address`; 127.0.0.4 for one that collects refusals).
  All are clients, none is the proxy, so each node's logs must name the client's address,
  never 127.0.0.3.
* Why not nginx on 127.0.0.1 with `trusted_proxies: [127.0.0.1/32]`: the browser's address
  would then be the proxy's too, and no log could tell them apart; and every direct connection
  to a node from 127.0.0.1 (the harness' start-up probe, the test's direct `/readyz` and admin
  calls) would have to start with a PROXY header, or be closed unanswered.
* Each node's ports are at its own offset, reached directly at 127.0.0.1 (untrusted there:
  served as without the setting); the test asks them directly for `/readyz`, and through nginx
  for everything a client does.

Which node answered a request made through nginx is told by the TLS certificate it showed (each
node made its own). The test's own `redis-server` is the session store, so that it can stop and
start it again; PostgreSQL is the shared test server (`tests/backends/conftest.py`), in a
schema of the test's own, dropped afterwards.

The tests run in this file's order on one pair of nodes: the last one kills a node.
"""

from __future__ import annotations

import re
import shutil
import signal
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Page

from tests.backends.conftest import postgresql_url, with_prefix, with_schema
from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, free_port_offset, start_server
from tests.e2e.services import (
    Answer,
    Nginx,
    RedisServer,
    certificate_of,
    fetch,
    nginx_config,
    pinned_context,
    wait_until,
)

pytestmark = pytest.mark.e2e

BROWSER = "127.0.0.1"  # Chromium's address (it cannot bind another)
CLIENT = "127.0.0.2"  # the httpx clients'
BALANCER = "127.0.0.3"  # nginx's, towards the nodes: the one trusted proxy
POLLER = "127.0.0.4"  # a client whose refused requests count against it, not against CLIENT
PORTS = (2082, 2083, 2086, 2087, 2095, 2096)
BOB_PASSWORD = "bob-Balanced-Pw-1"
PROPAGATION_SECONDS = 1.0
INFO = "/execute/Variables/get_user_information"


@dataclass
class Cluster:
    nodes: dict[str, RunningServer]
    nginx: Nginx
    nginx_offset: int  # nginx listens on 127.0.0.1:<panelauth port + this>
    redis: RedisServer
    certificates: dict[bytes, str] = field(default_factory=dict)  # DER -> node name

    def url(self, port: int, path: str, *, tls: bool = True) -> str:
        """A URL on nginx's listener for the panelauth port `port`."""
        return f"{'https' if tls else 'http'}://127.0.0.1:{port + self.nginx_offset}{path}"

    @property
    def context(self) -> ssl.SSLContext:
        return pinned_context()

    def fetch(self, method: str, port: int, path: str, **request: Any) -> Answer:
        """One request through nginx on a connection of its own (from CLIENT by default)."""
        request.setdefault("source", CLIENT)
        tls = request.pop("tls", True)
        answer = fetch(method, self.url(port, path, tls=tls), context=self.context, **request)
        # TLS is not verified in the handshake: the certificate must be one of the nodes'
        assert not tls or answer.certificate in self.certificates, "not a node's certificate"
        return answer

    def served(self, answer: Answer) -> str:
        """The node that answered a request on a TLS port."""
        return self.certificates[answer.certificate]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("balanced")
    name = f"balanced_{uuid.uuid4().hex[:12]}"
    redis_server = RedisServer(base / "redis")
    redis_server.start()
    config = (
        CHEAP_CONFIG
        + f"store: {with_schema(postgresql_url(), name)}\n"
        + f"session_store: {with_prefix(redis_server.url, name)}\n"
        + f"trusted_proxies: [{BALANCER}/32]\nproxy_protocol: true\n"
    )
    nodes: dict[str, RunningServer] = {}
    nginx: Nginx | None = None
    try:
        nodes["a"] = start_server(base / "node-a" / "data", config=config)
        second = base / "node-b" / "data"
        second.mkdir(parents=True)
        (second / "panelauth.yaml").write_text(config)
        shutil.copy(nodes["a"].data_dir / "tfa.key", second / "tfa.key")  # one key per store
        nodes["b"] = start_server(second, config=config)
        offset = free_port_offset()
        routes = {port + offset: [port + node.offset for node in nodes.values()] for port in PORTS}
        nginx = Nginx(base / "nginx", nginx_config(base / "nginx", routes, bind=BALANCER))
        nginx.start()
        running = Cluster(nodes, nginx, offset, redis_server)
        running.certificates = {certificate_of(n.cert): key for key, n in nodes.items()}
        assert len(running.certificates) == 2
        whm(running, "createacct", username="bob", domain="bob.example", password=BOB_PASSWORD)
        yield running
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes.values():
            node.stop()
        redis_server.stop()
        with psycopg.connect(postgresql_url(), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def whm(cluster: Cluster, function: str, **params: str) -> dict[str, Any]:
    """A WHM API 1 call as root (Basic), through nginx from CLIENT; it must succeed."""
    answer = cluster.fetch(
        "GET",
        2087,
        f"/json-api/{function}",
        params={"api.version": "1", **params},
        auth=("root", ROOT_PASSWORD),
    )
    document: dict[str, Any] = answer.response.json()
    assert document["metadata"]["result"] == 1, document
    return document


def log_lines(node: RunningServer, name: str, containing: str, timeout: float = 3) -> list[str]:
    """The lines of the node's logs/`name` that contain `containing`, once there is one (lines
    are written in batches, ~100 ms apart)."""
    path = node.data_dir / "logs" / name
    deadline = time.monotonic() + timeout
    while True:
        text = path.read_text() if path.exists() else ""
        found = [line for line in text.splitlines() if containing in line]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ready_is(node: RunningServer, status: int) -> bool:
    """Whether the node's own /readyz (asked directly, not through nginx) answers `status`."""
    return fetch("GET", node.url(2086, "/readyz", tls=False)).response.status_code == status


def test_a_browser_logs_in_through_nginx_and_its_session_is_served_by_both_nodes(
    cluster: Cluster, page: Page
) -> None:
    page.goto(cluster.url(2083, "/"))
    page.fill("#user", "bob")
    page.fill("#pass", BOB_PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/cpsess\d{10}/frontend/jupiter/index\.html$"))
    found = re.search(r"/cpsess\d{10}", page.url)
    assert found is not None
    token = found.group(0)
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}["cpsession"]
    served: dict[str, list[int]] = {"a": [], "b": []}
    for index in range(6):  # the session is bound to the browser's address: call from there
        answer = cluster.fetch(
            "GET",
            2083,
            f"{token}{INFO}?n=browser{index}",
            headers={"Cookie": f"cpsession={cookie}"},
            source=BROWSER,
        )
        assert answer.response.status_code == 200, answer.response.text
        assert answer.response.json()["status"] == 1
        served[cluster.served(answer)].append(index)
    assert served["a"] and served["b"], served  # round robin: both nodes served the session
    for key, node in cluster.nodes.items():
        for index in served[key]:
            [line] = log_lines(node, "access_log", f"n=browser{index} ")
            assert line.startswith(f"{BROWSER} ") and BALANCER not in line, line
    # the login itself: one node logged it, with the browser's address
    logins = [
        line
        for node in cluster.nodes.values()
        for line in log_lines(node, "login_log", "bob", timeout=0.5)
    ]
    assert logins and all(BROWSER in line and BALANCER not in line for line in logins), logins
    new = [
        line
        for node in cluster.nodes.values()
        for line in log_lines(node, "session_log", "NEW bob:", timeout=0.5)
    ]
    assert len(new) == 1 and f"address={BROWSER}" in new[0], new


def test_api_calls_alternate_between_nodes_and_each_logs_the_clients_address(
    cluster: Cluster,
) -> None:
    served = []
    for index in range(6):
        answer = cluster.fetch(
            "GET",
            2087,
            f"/json-api/version?api.version=1&n=client{index}",
            auth=("root", ROOT_PASSWORD),
        )
        assert answer.response.status_code == 200, answer.response.text
        served.append(cluster.served(answer))
    # one nginx worker, one round robin per port: the connections alternate strictly
    assert all(served[i] != served[i + 1] for i in range(5)), served
    for index, key in enumerate(served):
        node = cluster.nodes[key]
        [line] = log_lines(node, "access_log", f"n=client{index} ")
        assert line.startswith(f"{CLIENT} ") and BALANCER not in line, line
    for node in cluster.nodes.values():
        logins = log_lines(node, "login_log", CLIENT)
        assert logins and all("root" in line for line in logins), logins
        assert not log_lines(node, "login_log", BALANCER, timeout=0)
    # a failure counts against the client, on whichever node it happened (bob's: root's own
    # addresses are exempt once root logged in from them)
    wrong = cluster.fetch("GET", 2083, INFO, auth=("bob", "not-the-password"))
    assert wrong.response.status_code in (401, 403)
    failed = whm(cluster, "get_cphulk_failed_logins")["data"]["failed_logins"]
    assert [(entry["ip"], entry["user"]) for entry in failed] == [(CLIENT, "bob")], failed
    whm(cluster, "flush_cphulk_login_history")


def test_a_token_revoked_through_one_node_is_refused_through_the_other_within_a_second(
    cluster: Cluster,
) -> None:
    plain = whm(cluster, "api_token_create", token_name="balanced")["data"]["token"]
    headers = {"Authorization": f"whm root:{plain}"}

    def version() -> Answer:  # from an address of its own: the refusals count against it
        return cluster.fetch(
            "GET", 2087, "/json-api/version?api.version=1", headers=headers, source=POLLER
        )

    warmed = {cluster.served(answer) for answer in (version(), version())}
    assert warmed == {"a", "b"}  # both nodes have verified (and cached) the token
    revoked = cluster.fetch(
        "GET",
        2087,
        "/json-api/api_token_revoke",
        params={"api.version": "1", "token_name": "balanced"},
        auth=("root", ROOT_PASSWORD),
    )
    done = time.monotonic()
    assert revoked.response.json()["metadata"]["result"] == 1
    other = "b" if cluster.served(revoked) == "a" else "a"
    refused_at: dict[str, float] = {}
    while len(refused_at) < 2:  # consecutive connections alternate: both nodes are asked
        answer = version()
        assert answer.response.status_code != 500
        if answer.response.status_code != 200:
            refused_at.setdefault(cluster.served(answer), time.monotonic() - done)
        else:
            assert cluster.served(answer) == other, "refused at once on the node that revoked"
        assert time.monotonic() - done < PROPAGATION_SECONDS + 1, refused_at
    assert refused_at[other] <= PROPAGATION_SECONDS + answer.seconds, refused_at
    for _ in range(2):  # and it stays refused on both
        assert version().response.status_code in (401, 403)
    whm(cluster, "flush_cphulk_login_history")  # the poller's failures


def test_readyz_turns_503_while_redis_is_stopped_and_200_once_it_is_back(
    cluster: Cluster,
) -> None:
    login = cluster.fetch(
        "POST", 2083, "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}
    )
    assert login.response.status_code == 200, login.response.text
    cookie = login.response.headers["Set-Cookie"].split(";", 1)[0]
    token = login.response.json()["security_token"]

    assert all(ready_is(node, 200) for node in cluster.nodes.values())
    cluster.redis.stop()
    try:
        for node in cluster.nodes.values():
            wait_until(partial(ready_is, node, 503), 5, "readyz 503")
            answer = fetch("GET", node.url(2087, "/readyz"), context=cluster.context)
            assert answer.response.json() == {"status": "unavailable"}
            assert answer.response.headers["Retry-After"] == "5"
        for _ in range(2):  # through nginx too, on a plain port: what a balancer would see
            through = cluster.fetch("GET", 2086, "/readyz", tls=False)
            assert through.response.status_code == 503
        # through nginx, a session's request: 503 in UAPI's envelope, promptly
        for _ in range(2):  # both nodes
            answer = cluster.fetch("GET", 2083, f"{token}{INFO}", headers={"Cookie": cookie})
            assert answer.response.status_code == 503, answer.response.text
            assert answer.response.headers["Retry-After"].isdigit()
            document = answer.response.json()
            assert document["status"] == 0 and document["errors"], document
            assert document["data"] is None
            assert answer.seconds < 3, answer.seconds
    finally:
        cluster.redis.start()  # the same port, empty, a new run id
    for node in cluster.nodes.values():
        wait_until(partial(ready_is, node, 200), 5, "readyz 200")
    # Redis lost every session (a logout, allowed); a new login works through both nodes
    old = cluster.fetch("GET", 2083, f"{token}{INFO}", headers={"Cookie": cookie})
    assert old.response.status_code == 403
    login = cluster.fetch(
        "POST", 2083, "/login/?login_only=1", data={"user": "bob", "pass": BOB_PASSWORD}
    )
    assert login.response.status_code == 200, login.response.text
    cookie = login.response.headers["Set-Cookie"].split(";", 1)[0]
    token = login.response.json()["security_token"]
    served = set()
    for _ in range(2):
        answer = cluster.fetch("GET", 2083, f"{token}{INFO}", headers={"Cookie": cookie})
        assert answer.response.status_code == 200
        served.add(cluster.served(answer))
    assert served == {"a", "b"}


def test_a_killed_node_leaves_the_other_serving_through_nginx(cluster: Cluster) -> None:
    """SIGKILL one node while two clients call through nginx: a request in flight on the killed
    node may lose its connection (nginx cannot replay it), every other one is answered by the
    survivor (nginx tries the next upstream when a connect fails), and none gets a 500."""
    plain = whm(cluster, "api_token_create", token_name="kill")["data"]["token"]
    headers = {"Authorization": f"whm root:{plain}"}
    results: list[tuple[float, int | str, str]] = []  # (when, status or error, node)
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                answer = cluster.fetch(
                    "GET", 2087, "/json-api/version?api.version=1", headers=headers, timeout=10
                )
                results.append(
                    (time.monotonic(), answer.response.status_code, cluster.served(answer))
                )
            except httpx.TransportError as error:  # lost with the node: counted below
                results.append((time.monotonic(), type(error).__name__, ""))

    threads = [threading.Thread(target=client) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.7)
        victim = cluster.nodes["b"]
        killed = time.monotonic()
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        time.sleep(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    before = [r for r in results if r[0] < killed]
    assert {node for _, _, node in before} == {"a", "b"}, before  # no error before the kill
    assert all(status != 500 for _, status, _ in results)
    errors = [r for r in results if not isinstance(r[1], int)]
    assert len(errors) <= len(threads), errors  # at most the requests in flight at the kill
    late = [r for r in results if r[0] > killed + 0.5]
    assert len(late) >= 10, len(late)
    assert all(status == 200 and node == "a" for _, status, node in late), late
    # nginx saw the dead node refuse, and went on to the next upstream
    assert "Connection refused) while connecting to upstream" in cluster.nginx.errors()
