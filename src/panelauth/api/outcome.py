"""What a function call comes to: its data and notes, or the error that stopped it.

The dispatcher returns an Outcome and never an envelope; the envelope of whichever API was
called (WHM API 1, UAPI, API 2, `uapi_cpanel`, legacy `applist`) is built once, at the edge,
by `api/answers.render`. Pages and the command line read `data` or `error` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from panelauth.core.session_manager import Created
from panelauth.errors import PanelauthError


@dataclass(slots=True)
class Outcome:
    """A function's result. Functions return plain data, or this when they have more to say."""

    data: Any = None
    reason: str = "OK"  # WHM API 1 `metadata.reason`
    raw_output: str | None = None  # WHM API 1 `metadata.output.raw` (w§15.1)
    messages: tuple[str, ...] = ()  # UAPI `messages`
    warnings: tuple[str, ...] = ()  # UAPI `warnings`
    # UAPI `status` of an answer that is no failure: 0 or null for a "no" (Features::has_feature)
    uapi_status: int | None = 1
    # the caller's session was replaced (its own password changed, PW-9): the answer carries
    # the successor's cookie (Set-Cookie) and security token (metadata.security_token)
    session: Created | None = None
    error: PanelauthError | None = None  # set: the call failed, and this is why

    @property
    def ok(self) -> bool:
        return self.error is None
