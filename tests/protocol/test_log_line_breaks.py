"""No log line can be split by any reader: every `str.splitlines()` separator, C0/C1 control and
DEL is escaped in access_log, login_log, session_log and the JSON logs (w§14.4, RX-5, issue 8)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol.logformat import (
    access_line,
    escape,
    json_line,
    login_failure_line,
    login_success_line,
    parse_login_line,
)
from panelauth.protocol.sessionlog import (
    Origin,
    SessionLogLayout,
    new_line,
    parse_session_log_line,
    purge_line,
)
from tests.protocol.test_logformat import unescape

AT = 1_778_750_000.0
# every character str.splitlines() breaks at, plus C0/C1 controls and DEL
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
CONTROLS = "".join(map(chr, range(0x20))) + "\x7f" + "".join(map(chr, range(0x80, 0xA0)))
SEPARATORS = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]

# any text, weighted towards the characters that matter here
_ANY = st.text(
    st.characters() | st.sampled_from(list(LINE_BREAKS + CONTROLS)) | st.just('"'), max_size=40
)
_NO_SURROGATES = st.text(
    st.characters(exclude_categories=["Cs"]) | st.sampled_from(list(LINE_BREAKS + CONTROLS)),
    max_size=40,
)


def test_the_separator_list_is_every_splitlines_break() -> None:
    breaks = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert breaks == set(LINE_BREAKS)


def assert_one_line(line: str) -> None:
    assert line.splitlines() == [line]
    assert not any(char in line for char in LINE_BREAKS + CONTROLS)


# -- properties: any text gives exactly one line, which parses back ----------------------------


@given(user=_ANY, request=_ANY, user_agent=_ANY)
def test_access_line_is_one_line(user: str, request: str, user_agent: str) -> None:
    assert_one_line(
        access_line(
            at=AT,
            address="203.0.113.7",
            user=user,
            request=request,
            status=200,
            size=1,
            user_agent=user_agent,
            port=2083,
        )
    )


@given(request=_NO_SURROGATES, user_agent=_NO_SURROGATES)
def test_access_line_quoted_fields_round_trip(request: str, user_agent: str) -> None:
    line = access_line(
        at=AT,
        address="203.0.113.7",
        user="bob",
        request=request,
        status=200,
        size=1,
        user_agent=user_agent or None,
        port=2083,
    )
    quoted = line.split('"')
    assert unescape(quoted[1]).decode() == request
    assert unescape(quoted[5]).decode() == (user_agent or "-")


@given(user=_ANY, possessor=_ANY)
def test_login_success_line_is_one_parseable_line(user: str, possessor: str) -> None:
    line = login_success_line(
        at=AT, address="203.0.113.7", user=user, service="cpaneld", possessor=possessor or None
    )
    assert_one_line(line)
    fields = parse_login_line(line)
    assert fields is not None and fields["outcome"] == "SUCCESS"
    assert fields["user"] == (escape(user).replace(" ", "\\x20") or "-")


@given(user=_ANY, request=_ANY, reason=_ANY)
def test_login_failure_line_is_one_parseable_line(user: str, request: str, reason: str) -> None:
    line = login_failure_line(
        at=AT,
        address="203.0.113.7",
        claimed_user=user,
        request=request,
        service="cpaneld",
        reason=reason,
    )
    assert_one_line(line)
    fields = parse_login_line(line)
    assert fields is not None and fields["outcome"] == "FAILED"
    assert fields["user"] == (escape(user).replace(" ", "\\x20") or "-")
    assert fields["request"] == escape(request, quoted=True)


@pytest.mark.parametrize("layout", list(SessionLogLayout))
@given(user=_ANY, creator=_ANY, address=_ANY)
def test_session_log_lines_are_one_parseable_line(
    layout: SessionLogLayout, user: str, creator: str, address: str
) -> None:
    origin = Origin(address, "cpaneld", creator, "create_user_session", "api", True)
    session_id = f"{user}:AqI0aGGAFWI_Mab_"
    line = new_line(at=AT, session_id=session_id, origin=origin, layout=layout)
    assert_one_line(line)
    event = parse_session_log_line(line)
    assert event is not None and event.event == "NEW"
    assert list(event.fields) == ["address", "app", "creator", "method", "path", "possessed"]
    assert event.fields["method"] == "create_user_session"
    assert event.session_id.endswith(":AqI0aGGAFWI_Mab_")
    purge = purge_line(
        at=AT, session_id=session_id, reason="logout", address=address or None, layout=layout
    )
    assert_one_line(purge)
    parsed = parse_session_log_line(purge)
    assert parsed is not None and parsed.fields == {"reason": "logout"}
    assert parsed.session_id == event.session_id


@given(value=_ANY, key=_ANY)
def test_json_line_is_one_printable_line_that_loads_back(value: str, key: str) -> None:
    document = {"claimed_user": value, key: value, "time": 1.5}
    line = json_line(document)
    assert_one_line(line)
    assert all(0x20 <= ord(char) <= 0x7E for char in line)
    assert json.loads(line) == document


# -- explicit cases: U+2028, U+2029 and NEL in each field of each log --------------------------


@pytest.mark.parametrize("separator", SEPARATORS)
def test_separators_in_access_log_user_agent_user_and_path(separator: str) -> None:
    line = access_line(
        at=AT,
        address="203.0.113.7",
        user=f"bo{separator}b",
        request=f"GET /x{separator}PURGE HTTP/1.1",
        status=200,
        size=1,
        user_agent=f"curl{separator}/8",
        port=2083,
    )
    assert_one_line(line)
    escaped = escape(separator)
    assert f"bo{escaped}b" in line and f"/x{escaped}PURGE" in line
    assert f'"curl{escaped}/8"' in line


@pytest.mark.parametrize("separator", SEPARATORS)
def test_separators_in_login_log_user_and_request(separator: str) -> None:
    failure = login_failure_line(
        at=AT,
        address="203.0.113.7",
        claimed_user=f"bob{separator}root",
        request=f"GET /{separator} HTTP/1.1",
        service="cpaneld",
        reason="user password incorrect",
    )
    success = login_success_line(
        at=AT,
        address="203.0.113.7",
        user=f"bob{separator}",
        service="cpaneld",
        possessor=f"root{separator}",
    )
    for line in (failure, success):
        assert_one_line(line)
        assert parse_login_line(line) is not None
    fields = parse_login_line(failure)
    assert fields is not None and fields["user"] == f"bob{escape(separator)}root"


@pytest.mark.parametrize("separator", SEPARATORS)
@pytest.mark.parametrize("layout", list(SessionLogLayout))
def test_separators_in_session_log_values(separator: str, layout: SessionLogLayout) -> None:
    origin = Origin(f"1.2.3.4{separator}", "cpaneld", f"root{separator}x", "m", "api", True)
    line = new_line(
        at=AT, session_id=f"bob{separator}:AqI0aGGAFWI_Mab_", origin=origin, layout=layout
    )
    assert_one_line(line)
    event = parse_session_log_line(line)
    assert event is not None
    assert event.fields["creator"] == f"root{escape(separator)}x"
    assert event.session_id == f"bob{escape(separator)}:AqI0aGGAFWI_Mab_"


def test_session_log_values_escape_bytes_instead_of_replacing_them() -> None:
    """w§14.4: `\\xNN`, so `a b`, `a_b` and `aéb` stay distinguishable; `=`/`,` are stripped."""
    origin = Origin("1.2.3.4", "cpaneld", "a b\u00e9=,", "m", "api", False)
    line = new_line(
        at=AT, session_id="bob:Q2s9xY_4mZk1LpWd", origin=origin, layout=SessionLogLayout.SEED
    )
    event = parse_session_log_line(line)
    assert event is not None
    assert event.fields["creator"] == "a\\x20b\\xc3\\xa9"
    assert event.session_id == "bob:Q2s9xY_4mZk1LpWd"


@pytest.mark.parametrize("separator", [*SEPARATORS, "\x7f", "\x9f", "\n"])
def test_separators_in_json_lines(separator: str) -> None:
    document = {"claimed_user": f"bob{separator}root", "user_agent": f"ua{separator}"}
    line = json_line(document)
    assert_one_line(line)
    assert json.loads(line) == document


def test_json_line_keeps_the_fast_path_for_printable_ascii() -> None:
    assert json_line({"user": "bob", "time": 1.5}) == '{"user":"bob","time":1.5}'


def test_json_line_escapes_lone_surrogates_orjson_refuses() -> None:
    document = {"user": "bob\udcff"}
    line = json_line(document)
    assert_one_line(line)
    assert json.loads(line) == document
