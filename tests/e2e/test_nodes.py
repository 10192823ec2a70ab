"""Two nodes on one PostgreSQL store, as behind a load balancer (issue 13): two `panelauth serve`
processes with their own data directories (configuration, TLS, logs, the copied two-factor key)
and one shared store. What one node decides, the other honours: a session made on one works on
the other, a logout, a revoked token, a password change or a suspension on one is refused on the
other within a second, a one-time code is spent everywhere, failed logins count together.

The store is the PostgreSQL server on 127.0.0.1:5432 (or $PANELAUTH_TEST_POSTGRESQL), in a
schema of its own, dropped afterwards; these tests never skip.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pyotp
import pytest

from tests.backends.conftest import postgresql_url
from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import CHEAP_CONFIG, RunningServer, start_server

BOB_PASSWORD = "bob-Nodes-Pw-1"
PROPAGATION_SECONDS = 1.0


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    base = postgresql_url()
    schema = f"nodes_{uuid.uuid4().hex[:12]}"
    yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    with psycopg.connect(base.split("?")[0], autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, store_url: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    config = CHEAP_CONFIG + f"store: {store_url}\n"
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
