"""The per-user session cap over HTTP (SE-13): a login past it ends the oldest (`limit`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelauth.clock import FrozenClock
from panelauth.core.shared_settings import change
from panelauth.protocol.services import Service
from panelauth.server.state import ServerState
from tests.conftest import BOB_PASSWORD
from tests.server.conftest import MakeClient
from tests.server.sessions_helpers import login, session_events

INFO = "/execute/Variables/get_user_information"


@pytest.fixture(autouse=True)
async def cap_of_two(server_state: ServerState) -> None:
    """max_sessions_per_user is shared by every node: it lives in the store, where
    `set_tweaksetting` puts it (core/shared_settings.py)."""
    store = server_state.runtime.store
    await change(server_state.shared, store, "panelauth_max_sessions_per_user", "2")


async def test_a_third_login_ends_the_oldest_with_limit(
    make_client: MakeClient, logs: Path, clock: FrozenClock
) -> None:
    cpanel = await make_client(Service.CPANEL)
    first = await login(cpanel, "bob", BOB_PASSWORD)
    clock.advance(1)
    second = await login(cpanel, "bob", BOB_PASSWORD)
    clock.advance(1)
    third = await login(cpanel, "bob", BOB_PASSWORD)
    assert (await cpanel.get(first.token + INFO, headers=first.headers)).status != 200
    for browser in (second, third):
        assert (await cpanel.get(browser.token + INFO, headers=browser.headers)).status == 200
    [purge] = [e for e in session_events(logs) if e.event == "PURGE"]
    assert purge.fields == {"reason": "limit"}
    assert purge.session_id == first.cookie.split("=", 1)[1].split("%2c")[0].replace("%3a", ":")
