"""The worker's log writers (server/state.py): a repeated record is the record written in full."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panelauth.clock import FrozenClock
from panelauth.server.logfiles import JsonLinesLog
from panelauth.server.state import AuditLog

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@settings(max_examples=60)
@given(user=_TEXT, address=_TEXT, at=st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_an_authenticated_record_is_what_write_at_writes(
    tmp_path_factory: pytest.TempPathFactory, user: str, address: str, at: float
) -> None:
    folder = tmp_path_factory.mktemp("audit")
    log = JsonLinesLog(folder / "audit_log")
    audit = AuditLog(log, FrozenClock(at))
    fields = {"user": user, "factor": "api_token", "service": "whostmgrd", "address": address}
    audit.write_at(at, event="auth", outcome="success", **fields)
    audit.authenticated_at(at, **fields)
    audit.authenticated_at(at + 1.5, **fields)  # the second time from the serialised fields
    log.close()
    full, remembered, later = _lines(folder / "audit_log")
    assert remembered == full
    assert json.loads(later) == {**json.loads(full), "time": round((at + 1.5) * 1000) / 1000}


def test_each_who_and_where_gets_its_own_record(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path / "audit_log")
    audit = AuditLog(log, FrozenClock(0.0))
    audit.authenticated_at(10.0, user="bob", factor="password", service="cpaneld", address="::1")
    audit.authenticated_at(11.0, user="amy", factor="password", service="cpaneld", address="::1")
    audit.authenticated_at(12.0, user="bob", factor="password", service="webmaild", address="::1")
    log.close()
    records = [json.loads(line) for line in _lines(tmp_path / "audit_log")]
    assert [(r["time"], r["user"], r["service"]) for r in records] == [
        (10.0, "bob", "cpaneld"),
        (11.0, "amy", "cpaneld"),
        (12.0, "bob", "webmaild"),
    ]
    assert all(r["event"] == "auth" and r["outcome"] == "success" for r in records)
