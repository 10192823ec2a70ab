"""U+2028, U+2029 and NEL from requests never split a log line: access_log, login_log, the JSON
audit log and the app log, read back from the files (w§14.4, issue 8)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from panelauth.protocol.logformat import escape, parse_login_line
from panelauth.protocol.services import Service
from panelauth.server.applog import JsonLinesHandler
from panelauth.server.logfiles import JsonLinesLog, LogFile
from tests.server.conftest import MakeClient

SEPARATORS = ["\u2028", "\u2029", "\x85"]
EVERY_BREAK = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def lines_of(path: Path) -> list[str]:
    """The file's lines; no record may hold anything any reader takes for a line break."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text[:-1].split("\n")
    assert text.splitlines() == lines
    return lines


def audit_records(logs: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines_of(logs / "audit_log")]


async def raw_request(client: Any, head: str) -> bytes:
    """Send a request as raw bytes (aiohttp's client would encode the header)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(head.encode("utf-8"))
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_separators_in_the_user_agent_stay_inside_one_access_log_line(
    make_client: MakeClient, logs: Path
) -> None:
    client = await make_client(Service.CPANEL)
    for separator in SEPARATORS:
        answer = await raw_request(
            client,
            f"GET /login/ HTTP/1.1\r\nHost: a\r\nUser-Agent: ua{separator}PURGE bob:x expired\r\n"
            "Connection: close\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 200")
    lines = lines_of(logs / "access_log")
    assert len(lines) == len(SEPARATORS)
    for line, separator in zip(lines, SEPARATORS, strict=True):
        assert f'"ua{escape(separator)}PURGE bob:x expired"' in line


@pytest.mark.parametrize("separator", SEPARATORS)
async def test_separators_in_a_claimed_user_and_path_stay_inside_one_line(
    make_client: MakeClient, logs: Path, separator: str
) -> None:
    """Basic on WHM, a form login and a JSON login, each with the separator in the user name."""
    claimed = f"ghost{separator}[2026-05-14] info [cpsrvd] 1.2.3.4 - root - SUCCESS LOGIN whostmgrd"
    whm = await make_client(Service.WHM)
    cpanel = await make_client(Service.CPANEL)
    token = base64.b64encode(f"{claimed}:pw".encode()).decode()
    path = "/json-api/version%E2%80%A8x?api.version=1"
    basic = await whm.get(path, headers={"Authorization": f"Basic {token}"})
    assert basic.status == 403
    form = await cpanel.post("/login", data={"user": claimed, "pass": "pw"}, allow_redirects=False)
    assert form.status == 401
    json_login = await cpanel.post("/login/?login_only=1", data={"user": claimed, "pass": "pw"})
    assert json_login.status == 401

    failures = lines_of(logs / "login_log")
    assert len(failures) == 3
    for line in failures:
        fields = parse_login_line(line)
        assert fields is not None and fields["outcome"] == "FAILED"
        assert fields["user"] == escape(claimed).replace(" ", "\\x20")
    assert "/json-api/version%E2%80%A8x" in failures[0]
    records = [r for r in audit_records(logs) if r.get("outcome") == "failure"]
    assert len(records) == 3
    assert all(record["claimed_user"] == claimed for record in records)
    assert len(lines_of(logs / "access_log")) == 3


@pytest.mark.parametrize("separator", [*SEPARATORS, "\x7f", "\x9f", "\x0b", "\x1c"])
def test_the_json_audit_log_holds_one_record_per_line(tmp_path: Path, separator: str) -> None:
    log = JsonLinesLog(tmp_path / "audit_log")
    values = [f"bob{separator}", f"{separator}root", "plain", f"a{separator}{separator}b"]
    for value in values:
        log.write(event="auth", claimed_user=value, user_agent=value)
    log.close()
    records = audit_records(tmp_path)
    assert [r["claimed_user"] for r in records] == values
    assert [r["user_agent"] for r in records] == values


def test_the_app_log_holds_one_record_per_line(tmp_path: Path) -> None:
    handler = JsonLinesHandler(tmp_path / "panelauth.log")
    message = "user bob\u2028root\u2029x\x85y\x7f"
    try:
        raise ValueError(f"cause with {message}")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "panelauth.test", logging.WARNING, __file__, 1, message, (), exc_info
    )
    handler.emit(record)
    handler.emit(logging.LogRecord("panelauth.test", logging.INFO, __file__, 2, "ok", (), None))
    lines = lines_of(tmp_path / "panelauth.log")
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["message"] == message
    assert message in first["exception"]
    assert all(0x20 <= ord(char) <= 0x7E for char in lines[0])


@pytest.mark.parametrize("separator", list(EVERY_BREAK))
def test_the_log_file_guard_breaks_no_line_whatever_a_caller_passes(
    tmp_path: Path, separator: str
) -> None:
    log = LogFile(tmp_path / "log")
    log.write_line(f"one{separator}two")
    log.close()
    assert lines_of(tmp_path / "log") == ["one two"]
