"""Running API functions locally, as cPanel's `whmapi1` and `uapi` do (w§20)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import yaml

from panelauth.api.answers import Answer, Endpoint, Envelope
from panelauth.api.answers import render as render_answer
from panelauth.api.outcome import Outcome
from panelauth.api.registry import Api
from panelauth.clock import EffectiveClock, HighWaterMark
from panelauth.core.identities import Refusal, decide_identity
from panelauth.core.models import CredentialKind, root_identity
from panelauth.errors import FunctionFailed
from panelauth.protocol import envelopes
from panelauth.protocol.params import Params
from panelauth.protocol.services import Service
from panelauth.server.datadir import DataDir
from panelauth.server.state import ServerState, build_state

LOCAL_ADDRESS = "127.0.0.1"


@asynccontextmanager
async def local_state(data_dir: DataDir) -> AsyncIterator[ServerState]:
    """The server's parts over `data_dir`, for one command run on this machine."""
    # the server's effective time (FT-9), read from its mark; only the server writes the mark
    clock = EffectiveClock(HighWaterMark(data_dir.effective_time))
    state = await build_state(data_dir, data_dir.load_settings(), clock, wall_clock=clock.wall)
    try:
        yield state
    finally:
        await state.aclose()


def render(document: Any, output: str) -> str:
    if output == "json":
        return orjson.dumps(document).decode()
    if output == "jsonpretty":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return yaml.safe_dump(
        document, sort_keys=True, default_flow_style=False, explicit_start=True, allow_unicode=True
    ).rstrip("\n")


async def run_whmapi1(data_dir: DataDir, function: str, params: Params) -> Answer:
    async with local_state(data_dir) as state:
        outcome = await state.dispatcher.whm1(
            root_identity(CredentialKind.LOCAL), function, params, client_address=LOCAL_ADDRESS
        )
    return render_answer(outcome, Endpoint(Envelope.WHM1, "", function), Service.WHM)


async def run_uapi(
    data_dir: DataDir, user: str, module: str, function: str, params: Params
) -> tuple[Answer, dict[str, Any]]:
    """The flat answer and the wrapped document the CLI prints (w§15.2)."""
    async with local_state(data_dir) as state:
        account = await state.runtime.store.get_account(user)
        identity = decide_identity(account, Service.CPANEL, CredentialKind.LOCAL)
        if isinstance(identity, Refusal):
            outcome = Outcome(error=FunctionFailed(f"The user “{user}” is not a cPanel account."))
        else:
            outcome = await state.dispatcher.cpanel(
                Api.UAPI,
                identity,
                Service.CPANEL,
                module,
                function,
                params,
                client_address=LOCAL_ADDRESS,
            )
    answer = render_answer(outcome, Endpoint(Envelope.UAPI, module, function), Service.CPANEL)
    return answer, envelopes.uapi_wrapped(module, function, answer.document)
