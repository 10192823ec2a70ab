"""aiohttp's answers to requests it cannot parse, made calm and wire-correct (w§1.6, TR-5).

aiohttp answers an over-long request line or header with 400 and echoes part of the request in
a text body; panelauth answers 431 (or 400 for other malformed messages) with a fixed text, and
never a traceback in the log for what is only bad input.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler

from panelauth.server.responses import BASE_HEADERS

log = logging.getLogger(__name__)

# w§1.6: at least 16 KiB must work (certificates in GET queries); 64 KiB is the ceiling
MAX_LINE_BYTES = 64 * 1024
MAX_HEADERS = 128


class CalmRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        if isinstance(exc, LineTooLong) or (
            isinstance(exc, BadHttpMessage) and "too long" in str(exc).lower()
        ):
            status, text = 431, "Request Header Fields Too Large"
        elif status == 400 or isinstance(exc, BadHttpMessage):
            status, text = 400, "Bad Request"
        else:
            log.error("error before the request reached panelauth", exc_info=exc)
            status, text = 500, "Internal Server Error"
        headers = dict(BASE_HEADERS)
        headers["Content-Type"] = "text/plain; charset=utf-8"
        response = web.Response(status=status, body=text.encode(), headers=headers)
        response.force_close()
        return response


class CalmServer(web.Server):
    """An aiohttp low-level server whose connections use CalmRequestHandler."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_field_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        super().__init__(handler, **kwargs)

    def __call__(self) -> RequestHandler:
        return CalmRequestHandler(self, loop=self._loop, **self._kwargs)
