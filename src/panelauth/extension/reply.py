"""`Reply`: a plugin function's answer when plain data cannot say it all.

Most functions return plain data (UAPI `status` 1). A few cPanel functions answer with another
UAPI `status` and no error: `Features::has_feature` says 0 with a message for a feature the
account lacks and `null` for a feature the server does not know. A function returns
`Reply(data, status=..., messages=...)` for that; raising an error is still the way to fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

UapiStatus = Literal[0, 1] | None


@dataclass(frozen=True, slots=True)
class Reply:
    """`data` as a plain return would give it, with UAPI's `status` and `messages`.

    `status` and `messages` shape the UAPI envelope only (also through WHM and through
    `/json-api/cpanel?cpanel_jsonapi_apiversion=3`); API 2 answers carry `data` alone.
    """

    data: Any = None
    status: UapiStatus = 1
    messages: tuple[str, ...] = ()
