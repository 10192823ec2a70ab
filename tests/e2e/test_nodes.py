"""Two nodes on one PostgreSQL store, as behind a load balancer (issue 13): two `panelauth serve`
processes with their own data directories (configuration, TLS, logs, the copied two-factor key)
and one shared store. What one node decides, the other honours: a session made on one works on
the other, a logout, a revoked token, a password change or a suspension on one is refused on the
other within a second, a one-time code is spent everywhere, failed logins count together.

Every test runs in both configurations of shared nodes: `postgresql` (everything in PostgreSQL)
and `postgresql+redis` (sessions on Redis, the rest in PostgreSQL); a Redis restart that loses
every session logs users out on both nodes, but lifts no block and revives no used code.

The store is the PostgreSQL server on 127.0.0.1:5432 (or $PANELAUTH_TEST_POSTGRESQL), in a
schema of its own, dropped afterwards; the session store the Redis on 127.0.0.1:6379 (or
$PANELAUTH_TEST_REDIS), under a key prefix of its own, deleted afterwards; these tests never
skip.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pyotp
import pytest

from tests.backends.conftest import (
    delete_prefix,
    postgresql_url,
    redis_client,
    redis_server,
    with_prefix,
)
from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server

__all__ = ["redis_server"]

BOB_PASSWORD = "bob-Nodes-Pw-1"
PROPAGATION_SECONDS = 1.0
CONFIGURATIONS = ["postgresql", "postgresql+redis"]


@dataclass(frozen=True)
class Stores:
    """Where a configuration's nodes keep their data."""

    store_url: str
    redis_url: str | None = None  # the session store's server (no prefix), if any
    prefix: str | None = None

    @property
    def session_store_url(self) -> str | None:
        if self.redis_url is None or self.prefix is None:
            return None
        return with_prefix(self.redis_url, self.prefix)

    @property
    def config(self) -> str:
        session_url = self.session_store_url
        return f"store: {self.store_url}\n" + (
            f"session_store: {session_url}\n" if session_url else ""
        )


@pytest.fixture(scope="module", params=CONFIGURATIONS)
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    """A fresh PostgreSQL schema and, with Redis, a fresh key prefix; both removed after."""
    base = postgresql_url()
    name = f"nodes_{uuid.uuid4().hex[:12]}"
    store_url = f"{base}{'&' if '?' in base else '?'}schema={name}"
    redis_url = str(request.getfixturevalue("redis_server")) if "redis" in request.param else None
    try:
        yield Stores(store_url, redis_url, name if redis_url else None)
    finally:
        with psycopg.connect(base.split("?")[0], autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        if redis_url is not None:
            delete_prefix(redis_url, name)


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, stores: Stores
) -> Iterator[tuple[RunningServer, RunningServer]]:
    config = CHEAP_CONFIG + stores.config
    first = start_server(tmp_path_factory.mktemp("node-a") / "data", config=config)
    second_dir = tmp_path_factory.mktemp("node-b") / "data"
    second_dir.mkdir()
    (second_dir / "panelauth.yaml").write_text(config)
    shutil.copy(first.data_dir / "tfa.key", second_dir / "tfa.key")  # one key for the store
    try:
        second = start_server(second_dir, config=config)
    except BaseException:
        first.stop()
        raise
    try:
        whm(first, "createacct", username="bob", domain="bob.example", password=BOB_PASSWORD)
        yield first, second
    finally:
        first.stop()
        second.stop()


def whm(node: RunningServer, function: str, **params: str) -> dict[str, Any]:
    with node.client() as client:
        answer: dict[str, Any] = client.get(
            node.url(2087, f"/json-api/{function}"),
            params={"api.version": "1", **params},
            auth=("root", ROOT_PASSWORD),
        ).json()
    assert answer["metadata"]["result"] == 1, answer
    return answer


def uapi_status(node: RunningServer, path: str, **request: Any) -> int:
    with node.client() as client:
        response = client.get(node.url(2083, path), **request)
    if response.status_code != 200:
        return response.status_code
    status: int = response.json().get("status", 0)
    return 200 if status == 1 else 0


def eventually(check: Callable[[], bool], within: float = PROPAGATION_SECONDS) -> float:
    """Seconds until `check()` held; fails if it did not within `within` (plus one request)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            pytest.fail(f"not seen on the other node within {within} s")
        time.sleep(0.05)
    return time.monotonic() - started


def log_in(node: RunningServer, user: str, password: str) -> tuple[str, str]:
    """A cPanel session: (Cookie header, /cpsess token)."""
    with node.client() as client:
        answer = client.post(
            node.url(2083, "/login/?login_only=1"), data={"user": user, "pass": password}
        )
    assert answer.status_code == 200, answer.text
    return answer.headers["Set-Cookie"].split(";", 1)[0], answer.json()["security_token"]


INFO = "/execute/Variables/get_user_information"


def test_an_account_made_on_one_node_logs_in_on_the_other(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    _, second = nodes
    assert uapi_status(second, INFO, auth=("bob", BOB_PASSWORD)) == 200


def test_a_session_made_on_one_node_works_on_the_other_until_it_logs_out(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    cookie, token = log_in(first, "bob", BOB_PASSWORD)
    assert uapi_status(second, token + INFO, headers={"Cookie": cookie}) == 200
    with first.client() as client:
        client.get(first.url(2083, f"{token}/logout/"), headers={"Cookie": cookie})
    refused = uapi_status(first, token + INFO, headers={"Cookie": cookie})
    assert refused == 403  # the answer to a session that no longer exists (w§15.6)
    eventually(lambda: uapi_status(second, token + INFO, headers={"Cookie": cookie}) == refused)


def test_a_token_revoked_on_one_node_is_refused_on_the_other_within_a_second(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    plain = whm(first, "api_token_create", token_name="nodes")["data"]["token"]
    headers = {"Authorization": f"whm root:{plain}"}

    def version(node: RunningServer) -> int:
        with node.client() as client:
            url = node.url(2087, "/json-api/version?api.version=1")
            return client.get(url, headers=headers).status_code

    assert version(second) == 200  # cached there now
    whm(first, "api_token_revoke", token_name="nodes")
    refused = version(first)
    assert refused != 200
    eventually(lambda: version(second) == refused)


def test_a_password_change_or_a_suspension_on_one_node_holds_on_the_other(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    whm(first, "createacct", username="carol", domain="carol.example", password="carol-Old-Pw-1")
    assert uapi_status(second, INFO, auth=("carol", "carol-Old-Pw-1")) == 200  # verified, cached
    whm(first, "passwd", user="carol", password="carol-New-Pw-2")
    eventually(lambda: uapi_status(second, INFO, auth=("carol", "carol-Old-Pw-1")) != 200)
    assert uapi_status(second, INFO, auth=("carol", "carol-New-Pw-2")) == 200
    whm(second, "suspendacct", user="carol", reason="nodes")
    eventually(lambda: uapi_status(first, INFO, auth=("carol", "carol-New-Pw-2")) != 200)


def test_a_one_time_code_spent_on_one_node_is_a_replay_on_the_other(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    whm(first, "createacct", username="dora", domain="dora.example", password="dora-Nodes-Pw-1")
    auth = ("dora", "dora-Nodes-Pw-1")
    with first.client() as client:
        made = client.get(
            first.url(2083, "/execute/TwoFactorAuth/generate_user_configuration"), auth=auth
        ).json()
        secret = made["data"]["secret"]
        totp = pyotp.TOTP(secret)
        enrolled = client.get(
            first.url(2083, "/execute/TwoFactorAuth/set_user_configuration"),
            params={"secret": secret, "tfa_token": totp.now()},
            auth=auth,
        ).json()
    assert enrolled["status"] == 1, enrolled
    time.sleep(30 - time.time() % 30 + 0.5)  # a new step: the enrolment spent the last one
    code = totp.now()
    assert uapi_status(first, INFO, auth=auth, headers={"X-CPANEL-OTP": code}) == 200
    # the same code from another address would be a replay; from this one, a header use of the
    # same step is allowed (w§9): a login form use of it on the other node is not
    with second.client() as client:
        answer = client.post(
            second.url(2083, "/login/?login_only=1"),
            data={"user": "dora", "pass": "dora-Nodes-Pw-1", "tfa_token": code},
        )
    assert answer.json().get("status") != 1, answer.text
    time.sleep(30 - time.time() % 30 + 0.5)  # the next step's code opens a session there
    with second.client() as client:
        answer = client.post(
            second.url(2083, "/login/?login_only=1"),
            data={"user": "dora", "pass": "dora-Nodes-Pw-1", "tfa_token": totp.now()},
        )
    assert answer.json().get("status") == 1, answer.text


def test_failed_logins_on_both_nodes_count_together(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    whm(first, "createacct", username="erin", domain="erin.example", password="erin-Nodes-Pw-1")
    for attempt in range(6):  # the address's limit is 5 in 15 minutes
        node = (first, second)[attempt % 2]
        assert uapi_status(node, INFO, auth=("erin", f"wrong-{attempt}")) == 403
    # blocked everywhere now, even with the right password (answered as a wrong one, BF-2)
    for node in (first, second):
        assert uapi_status(node, INFO, auth=("erin", "erin-Nodes-Pw-1")) == 403
    brutes = whm(second, "get_cphulk_brutes")["data"]
    assert "127.0.0.1" in str(brutes), brutes
    whm(first, "flush_cphulk_login_history")


def test_the_second_node_shares_the_first_nodes_root_and_key(
    nodes: tuple[RunningServer, RunningServer],
) -> None:
    first, second = nodes
    assert "root password" not in (second.data_dir / "serve.out").read_text()
    assert (first.data_dir / "tfa.key").read_bytes() == (second.data_dir / "tfa.key").read_bytes()


@pytest.mark.parametrize("stores", ["postgresql+redis"], indirect=True)
def test_a_redis_restart_logs_out_everywhere_but_keeps_blocks_and_spent_codes(
    nodes: tuple[RunningServer, RunningServer], stores: Stores
) -> None:
    """Redis restarting without its data (here: every key of the prefix deleted) ends every
    session on both nodes; the brute-force block and the used one-time code, which live in
    PostgreSQL, hold on both."""
    first, second = nodes
    assert stores.redis_url is not None and stores.prefix is not None
    cookie, token = log_in(first, "bob", BOB_PASSWORD)
    assert uapi_status(second, token + INFO, headers={"Cookie": cookie}) == 200
    with redis_client(stores.redis_url) as client:
        assert list(client.scan_iter(match=f"{stores.prefix}:session:bob:*"))  # on Redis
    # a one-time code opens a session on the first node (the enrolment spent the step before)
    whm(first, "createacct", username="fern", domain="fern.example", password="fern-Nodes-Pw-1")
    auth = ("fern", "fern-Nodes-Pw-1")
    with first.client() as client:
        made = client.get(
            first.url(2083, "/execute/TwoFactorAuth/generate_user_configuration"), auth=auth
        ).json()
        totp = pyotp.TOTP(made["data"]["secret"])
        enrolled = client.get(
            first.url(2083, "/execute/TwoFactorAuth/set_user_configuration"),
            params={"secret": made["data"]["secret"], "tfa_token": totp.now()},
            auth=auth,
        ).json()
        assert enrolled["status"] == 1, enrolled
        code = totp.at(time.time() + 30)  # the next step: within the window, still unused
        answer = client.post(
            first.url(2083, "/login/?login_only=1"),
            data={"user": "fern", "pass": "fern-Nodes-Pw-1", "tfa_token": code},
        )
    assert answer.json().get("status") == 1, answer.text
    # the address is blocked (failed logins on both nodes)
    whm(first, "createacct", username="hank", domain="hank.example", password="hank-Nodes-Pw-1")
    for attempt in range(6):
        node = (first, second)[attempt % 2]
        assert uapi_status(node, INFO, auth=("hank", f"wrong-{attempt}")) == 403
    assert uapi_status(second, INFO, auth=("hank", "hank-Nodes-Pw-1")) == 403

    assert delete_prefix(stores.redis_url, stores.prefix) > 0  # Redis restarted, empty

    for node in (first, second):  # logged out everywhere, at the next request
        assert uapi_status(node, token + INFO, headers={"Cookie": cookie}) == 403
    for node in (first, second):  # the block holds
        assert uapi_status(node, INFO, auth=("hank", "hank-Nodes-Pw-1")) == 403
    assert "127.0.0.1" in str(whm(second, "get_cphulk_brutes")["data"])
    whm(first, "flush_cphulk_login_history")
    # the used code is still refused, on either node
    for node in (second, first):
        with node.client() as client:
            answer = client.post(
                node.url(2083, "/login/?login_only=1"),
                data={"user": "fern", "pass": "fern-Nodes-Pw-1", "tfa_token": code},
            )
        assert answer.json().get("status") != 1, answer.text
    # and a new session works on both nodes again
    cookie, token = log_in(second, "bob", BOB_PASSWORD)
    for node in (first, second):
        assert uapi_status(node, token + INFO, headers={"Cookie": cookie}) == 200
