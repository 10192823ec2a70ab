"""Session-log lines (w§14.1, D9): both layouts, escaping, and the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.sessionlog import (
    Origin,
    SessionLogLayout,
    new_line,
    parse_session_log_line,
    purge_line,
)

AT = 1_778_750_000.0  # 2026-05-14 09:13:20 UTC
ORIGIN = Origin("203.0.113.7", "cpaneld", "bob", "handle_form_login", "form", possessed=False)


def test_seed_layout_matches_the_documented_lines() -> None:
    assert new_line(
        at=AT, session_id="bob:Q2s9xY_4mZk1LpWd", origin=ORIGIN, layout=SessionLogLayout.SEED
    ) == (
        "[05/14/2026:09:13:20 -0000] NEW bob:Q2s9xY_4mZk1LpWd address=203.0.113.7,app=cpaneld,"
        "creator=bob,method=handle_form_login,path=form,possessed=0"
    )
    assert purge_line(
        at=AT,
        session_id="bob:Q2s9xY_4mZk1LpWd",
        reason="expired",
        address=None,
        layout=SessionLogLayout.SEED,
    ) == ("[05/14/2026:09:13:20 -0000] PURGE bob:Q2s9xY_4mZk1LpWd expired")


def test_cpsrvd_layout_matches_the_documented_lines() -> None:
    assert new_line(
        at=AT, session_id="bob:Q2s9xY_4mZk1LpWd", origin=ORIGIN, layout=SessionLogLayout.CPSRVD
    ) == (
        "[2026-05-14 09:13:20 +0000] info [cpsrvd] 203.0.113.7 NEW bob:Q2s9xY_4mZk1LpWd "
        "address=203.0.113.7,app=cpaneld,creator=bob,method=handle_form_login,path=form,"
        "possessed=0"
    )
    assert purge_line(
        at=AT, session_id="bob:x", reason="expired", address=None, layout=SessionLogLayout.CPSRVD
    ).endswith("info [cpsrvd] internal PURGE bob:x expired")


def test_unknown_purge_reason_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="reason"):
        purge_line(
            at=AT, session_id="a:b", reason="because", address=None, layout=SessionLogLayout.SEED
        )


@pytest.mark.parametrize("layout", list(SessionLogLayout))
@given(
    user=st.text(min_size=1, max_size=40),
    creator=st.text(max_size=40),
    possessed=st.booleans(),
)
def test_any_values_make_exactly_one_parseable_line(
    layout: SessionLogLayout, user: str, creator: str, possessed: bool
) -> None:
    origin = Origin("198.51.100.4", "webmaild", creator, "create_user_session", "api", possessed)
    line = new_line(at=AT, session_id=f"{user}:AqI0aGGAFWI_Mab_", origin=origin, layout=layout)
    assert "\n" not in line and "\r" not in line
    event = parse_session_log_line(line)
    assert event is not None and event.event == "NEW"
    assert list(event.fields) == ["address", "app", "creator", "method", "path", "possessed"]
    assert event.fields["possessed"] == str(int(possessed))
    assert event.fields["method"] == "create_user_session"


def test_crlf_equals_and_commas_in_values_cannot_add_fields() -> None:
    evil = Origin("1.2.3.4", "cpaneld", "x\r\nPURGE root:x expired,possessed=1", "m", "p", False)
    line = new_line(
        at=AT, session_id="bob:AqI0aGGAFWI_Mab_", origin=evil, layout=SessionLogLayout.SEED
    )
    event = parse_session_log_line(line)
    assert event is not None
    assert event.fields["possessed"] == "0"
    assert len(event.fields) == 6


def test_parser_rejects_other_lines() -> None:
    assert parse_session_log_line("hello world") is None
    assert parse_session_log_line("[x] NEW a:b address") is None
