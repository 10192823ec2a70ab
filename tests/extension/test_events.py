"""Account and domain events reach plugins after the change; a failing handler undoes nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from panelauth.api.context import Runtime
from panelauth.core.models import Account
from panelauth.extension import (
    AccountCreated,
    AccountRemoved,
    AccountSuspended,
    AccountUnsuspended,
    DomainAdded,
    DomainRemoved,
    Event,
    Plugin,
    PluginServices,
    PluginStorage,
)
from tests.api.helpers import ROOT, metadata, whm
from tests.extension.conftest import serving

EVENTS = (
    AccountCreated,
    AccountRemoved,
    AccountSuspended,
    AccountUnsuspended,
    DomainAdded,
    DomainRemoved,
)


def recorder(name: str, seen: list[tuple[str, Event]]) -> Plugin:
    plugin = Plugin(name, "1")

    async def record(event: Any, services: PluginServices) -> None:
        seen.append((services.name, event))

    for event_type in EVENTS:
        plugin.on(event_type)(record)
    return plugin


async def test_the_account_lifecycle_publishes_its_events_in_order(
    runtime: Runtime, root: Account
) -> None:
    seen: list[tuple[str, Event]] = []
    dispatcher = serving(runtime, recorder("watcher", seen))
    created = await whm(
        dispatcher,
        ROOT,
        "createacct",
        username="dana",
        domain="dana.example",
        password="dana-Passw0rd!",
    )
    assert metadata(created)["result"] == 1
    await whm(dispatcher, ROOT, "suspendacct", user="dana", reason="unpaid")
    await whm(dispatcher, ROOT, "unsuspendacct", user="dana")
    await whm(dispatcher, ROOT, "removeacct", user="dana")
    assert [event for _, event in seen] == [
        AccountCreated("dana", "dana.example", "root"),
        DomainAdded("dana", "dana.example"),
        AccountSuspended("dana", "unpaid"),
        AccountUnsuspended("dana"),
        DomainRemoved("dana", "dana.example"),
        AccountRemoved("dana", "dana.example", "root"),
    ]
    assert {name for name, _ in seen} == {"watcher"}


async def test_a_refused_change_publishes_nothing(runtime: Runtime, root: Account) -> None:
    seen: list[tuple[str, Event]] = []
    dispatcher = serving(runtime, recorder("watcher", seen))
    await whm(dispatcher, ROOT, "suspendacct", user="nobody")
    await whm(dispatcher, ROOT, "createacct", username="x", domain="bad domain", password="p")
    assert seen == []


async def test_a_failing_handler_is_logged_and_the_change_stands(
    runtime: Runtime, root: Account, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Plugin("broken", "1")

    @broken.on(AccountCreated)
    async def explode(event: AccountCreated, services: PluginServices) -> None:
        raise RuntimeError("handler bug")

    seen: list[tuple[str, Event]] = []
    dispatcher = serving(runtime, broken, recorder("after", seen))
    with caplog.at_level(logging.ERROR):
        created = await whm(
            dispatcher,
            ROOT,
            "createacct",
            username="erin",
            domain="erin.example",
            password="erin-Passw0rd!",
        )
    assert metadata(created)["result"] == 1
    assert await runtime.store.get_account("erin") is not None
    assert "plugin broken: its AccountCreated handler raised RuntimeError" in caplog.text
    assert (AccountCreated("erin", "erin.example", "root")) in [event for _, event in seen]


async def test_handlers_get_their_own_storage(runtime: Runtime, root: Account) -> None:
    keeper = Plugin("keeper", "1")

    @keeper.on(DomainAdded)
    async def remember(event: DomainAdded, services: PluginServices) -> None:
        await services.storage.put(event.domain, {"user": event.user})

    await whm(
        serving(runtime, keeper),
        ROOT,
        "createacct",
        username="fay",
        domain="fay.example",
        password="fay-Passw0rd!",
    )
    assert await PluginStorage(runtime.store, "keeper").get("fay.example") == {"user": "fay"}
