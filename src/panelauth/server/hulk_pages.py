"""WHM's "Brute Force Protection" page (root only): the switch, the configuration, the allow and
deny lists, current blocks with unblock, and the failed-login history (issue 12, w§19).

It calls the same use cases as the cPHulk functions of WHM API 1 (core/bruteforce_admin.py).
Every change is a POST to the page's own `/cpsessN` path (the security token, checked before
this runs, with the cross-site rules of w§6); removing a list entry needs its confirmation box
ticked. A refused change shows why in plain words, keeps what was typed, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from aiohttp import web

from panelauth.core.bruteforce_admin import BruteForceAdmin
from panelauth.core.hulk import HulkConfig, ListName, shown_network, shown_user
from panelauth.errors import InvalidArgument
from panelauth.protocol.services import Listener, Service
from panelauth.server.page_call import PageCall
from panelauth.server.render import not_found_page
from panelauth.server.state import ServerState

HISTORY_SHOWN: Final = 200
ROOT_ONLY: Final = "Only root may manage brute-force protection."


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    label: str
    switch: bool = False


# the keys an operator tunes, in the order the page shows them (cPanel's names, w§19.1)
SETTINGS: Final = (
    Setting("ip_based_protection", "Count failures per address", switch=True),
    Setting("max_failures_byip", "Failures from one address before it is blocked"),
    Setting("ip_brute_force_period_mins", "Address window and block, minutes"),
    Setting("mark_as_brute", "Failures from one address before a one-day block"),
    Setting("username_based_protection", "Count failures per account", switch=True),
    Setting("username_based_protection_for_root", "Count failures for root too", switch=True),
    Setting("max_failures", "Failures of one account before it is locked"),
    Setting("brute_force_period_mins", "Account window, minutes"),
    Setting("lookback_period_min", "Failures are remembered, minutes"),
)
LIST_TITLES: Final = {ListName.WHITE: "Allow list", ListName.BLACK: "Deny list"}


class HulkPage:
    def __init__(self, listener: Listener, state: ServerState) -> None:
        self.service = listener.service
        self.state = state

    async def page(self, call: PageCall) -> web.Response:
        request, identity, info = call.request, call.identity, call.info
        if self.service is not Service.WHM or not identity.is_root:
            return not_found_page(self.service)  # root's alone: nobody else learns it exists
        admin = BruteForceAdmin(self.state.runtime.store, self.state.runtime.clock)
        status, message, kept = 200, None, {}
        if request.method == "POST":
            form = await info.form(request)
            try:
                message = await self._change(admin, form)
            except InvalidArgument as refused:
                status, message, kept = 400, refused.message, _typed(form)
        return await self._render(call, admin, message, kept, status)

    async def _change(self, admin: BruteForceAdmin, form: dict[str, str]) -> str:
        action = form.get("action", "")
        if action in ("enable", "disable"):
            await admin.set_enabled(action == "enable")
            return f"Brute-force protection is {'on' if action == 'enable' else 'off'}."
        if action == "config":
            await admin.update(_config_changes(form))
            return "The configuration was saved."
        if action in LIST_ACTIONS:
            verb, list_name = LIST_ACTIONS[action]
            return await _change_list(admin, verb, list_name, form)
        if action == "unblock":
            target = form.get("target", "")
            removed = await admin.unblock([target])
            shown = shown_user(target)[:64]
            if not removed:
                return f"Nothing was recorded against {shown}."
            return f"{shown} was unblocked ({removed} records forgotten)."
        raise InvalidArgument("This page does not know that action.")

    async def _render(
        self,
        call: PageCall,
        admin: BruteForceAdmin,
        message: str | None,
        kept: dict[str, str],
        status: int,
    ) -> web.Response:
        config = await admin.config()
        now = self.state.runtime.clock.now()
        blocks = await admin.blocks()
        lists = {name: await admin.entries(name) for name in ListName}
        return call.render(
            "hulk.html",
            status=status,
            message=message,
            refused=bool(kept),
            kept=kept,
            enabled=bool(config.is_enabled),
            settings=[(s, _shown_value(config, s, kept)) for s in SETTINGS],
            lists=[
                (
                    name.value,
                    LIST_TITLES[name],
                    [(shown_network(e.network), e) for e in lists[name]],
                )
                for name in ListName
            ],
            blocks=[(block, _when(block.until), _left(block.until - now)) for block in blocks],
            history=[(f, _when(f.at)) for f in await admin.history(limit=HISTORY_SHOWN)],
            requester=call.info.address,
            requester_allowed=await admin.is_allow_listed(call.info.address),
        )


LIST_ACTIONS: Final = {
    "add_white": ("add", ListName.WHITE),
    "add_black": ("add", ListName.BLACK),
    "remove_white": ("remove", ListName.WHITE),
    "remove_black": ("remove", ListName.BLACK),
}


def _config_changes(form: dict[str, str]) -> dict[str, object]:
    """Every setting of the form: an unticked switch is off, a number as typed (validated by
    HulkConfig, all or nothing)."""
    changes: dict[str, object] = {}
    for setting in SETTINGS:
        if setting.switch:
            changes[setting.key] = 1 if form.get(setting.key) == "1" else 0
        else:
            changes[setting.key] = form.get(setting.key, "")
    return changes


async def _change_list(
    admin: BruteForceAdmin, verb: str, list_name: ListName, form: dict[str, str]
) -> str:
    title = LIST_TITLES[list_name].lower()
    if verb == "add":
        change = await admin.add(list_name, [(form.get("ip", ""), form.get("comment", ""))])
    else:
        if form.get("confirm") != "1":
            raise InvalidArgument("Tick the confirmation box to remove an entry.")
        change = await admin.remove(list_name, [form.get("ip", "")])
    if change.failed:
        raise InvalidArgument(next(iter(change.failed.values())))
    shown = shown_network(change.done[0])
    if verb == "remove":
        return f"{shown} was removed from the {title}."
    lifted = " Its blocks were lifted." if change.blocks_removed else ""
    return f"{shown} was added to the {title}.{lifted}"


def _shown_value(config: HulkConfig, setting: Setting, kept: dict[str, str]) -> int | str:
    """The stored value, or what was typed into a configuration form that was refused."""
    if kept.get("action") == "config":
        if setting.switch:
            return 1 if kept.get(setting.key) == "1" else 0
        return kept.get(setting.key, "")
    value = getattr(config, setting.key)
    assert isinstance(value, int)
    return value


def _typed(form: dict[str, str]) -> dict[str, str]:
    """What the user typed, to fill the form it came from again (`action` names it; never a
    secret: this page asks none)."""
    keys = ("action", "ip", "comment", "target", *(setting.key for setting in SETTINGS))
    return {key: form[key] for key in keys if key in form}


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _left(seconds: float) -> str:
    minutes = max(1, int(seconds + 59) // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
