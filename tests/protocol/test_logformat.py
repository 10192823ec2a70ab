"""access_log and login_log layouts, escaping and redaction (w§14.2-14.4, RX-5, LG-3)."""

from __future__ import annotations

import calendar
import json
import time
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.protocol import logformat
from panelauth.protocol.logformat import (
    MAX_REQUEST_LINE_LOGGED,
    REDACTED_PARAMETERS,
    JsonFields,
    access_line,
    accounting_line,
    escape,
    json_line,
    login_failure_line,
    login_success_line,
    parse_login_line,
    redact_target,
    request_line,
    timed_json_line,
)
from panelauth.protocol.services import Service

# 2026-05-14 09:12:44 UTC, the time of the spec's examples
AT = float(calendar.timegm((2026, 5, 14, 9, 12, 44)))
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
_NO_SPACE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters=" "), min_size=1)


def unescape(text: str) -> bytes:
    """Inverse of escape(quoted=True): there every backslash starts a `\\xNN`."""
    out = bytearray()
    index = 0
    while index < len(text):
        if text[index] == "\\":
            assert text[index + 1] == "x"
            out.append(int(text[index + 2 : index + 4], 16))
            index += 4
        else:
            out.append(ord(text[index]))
            index += 1
    return bytes(out)


# -- escape -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted", "expected"),
    [
        ("bob", False, "bob"),
        ("a b", False, "a b"),
        ("bob\n", False, "bob\\x0a"),
        ("a\r\nb", True, "a\\x0d\\x0ab"),
        ("\x00\x1f\x7f", False, "\\x00\\x1f\\x7f"),
        ("tab\t", False, "tab\\x09"),
        ("\u00e9", False, "\\xc3\\xa9"),
        ("\u2028", False, "\\xe2\\x80\\xa8"),
        ('say "hi"', True, "say \\x22hi\\x22"),
        ('say "hi"', False, 'say "hi"'),
        ("back\\slash", True, "back\\x5cslash"),
        ("back\\slash", False, "back\\slash"),
        ("~!#$%&'()*+,-./:;<=>?@[]^_`{|}", True, "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"),
    ],
)
def test_escape_table(value: str, quoted: bool, expected: str) -> None:
    assert escape(value, quoted=quoted) == expected


@given(_TEXT, st.booleans())
def test_escape_emits_only_printable_ascii(value: str, quoted: bool) -> None:
    escaped = escape(value, quoted=quoted)
    assert all(0x20 <= ord(c) <= 0x7E for c in escaped)
    assert "\n" not in escaped
    assert "\r" not in escaped


@given(_TEXT)
def test_quoted_escape_never_emits_a_quote_and_is_reversible(value: str) -> None:
    escaped = escape(value, quoted=True)
    assert '"' not in escaped
    assert unescape(escaped) == value.encode()


def test_escape_passes_surrogate_escaped_bytes_through_as_hex() -> None:
    assert escape(b"a\xffb".decode("utf-8", "surrogateescape")) == "a\\xffb"


def test_escape_never_raises_on_lone_surrogates() -> None:
    assert escape("a\ud800b").startswith("a")


# -- redaction ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(REDACTED_PARAMETERS))
def test_redacts_each_secret_parameter(key: str) -> None:
    redacted = redact_target(f"/login/?user=bob&{key}=canary-value&goto_uri=%2F")
    assert "canary-value" not in redacted
    assert f"{key}=***" in redacted
    assert "user=bob" in redacted


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/login/?PASS=hunter2", "/login/?PASS=***"),
        ("/login/?%70ass=hunter2", "/login/?pass=***"),
        ("/x?pass=a&pass=b", "/x?pass=***&pass=***"),
        ("/x?pass", "/x?pass=***"),
        ("/x?pass=&a=1", "/x?pass=***&a=1"),
        ("/x?token=a%26b&note=c+d", "/x?token=***&note=c%20d"),
    ],
)
def test_redaction_table(target: str, expected: str) -> None:
    assert redact_target(target) == expected


@pytest.mark.parametrize(
    "target",
    ["/", "/execute/Email/list_pops", "/x?", "/x?user=bob&passwd_hint=x", "/x?a=1+2&b=%41"],
)
def test_targets_without_secrets_are_unchanged(target: str) -> None:
    assert redact_target(target) == target


@given(key=st.sampled_from(sorted(REDACTED_PARAMETERS)), value=_TEXT)
def test_redaction_never_leaks_the_secret_value(key: str, value: str) -> None:
    secret = "Canary" + value
    redacted = redact_target(f"/p?a=1&{key.upper()}={quote(secret)}&z=2")
    assert secret not in redacted
    assert quote(secret) not in redacted
    assert quote(secret, safe="") not in redacted


def test_request_line_redacts_and_truncates() -> None:
    line = request_line("GET", "/x?session=abc&q=" + "a" * 3000, "HTTP/1.1")
    assert line.startswith("GET /x?session=***&q=aaa")
    assert "abc" not in line
    assert len(line) == MAX_REQUEST_LINE_LOGGED


def test_request_line_keeps_a_short_line_whole() -> None:
    assert request_line("POST", "/login/?login_only=1", "HTTP/1.1") == (
        "POST /login/?login_only=1 HTTP/1.1"
    )


# -- access_log ---------------------------------------------------------------------------------


def test_access_line_matches_the_spec_layout() -> None:
    line = access_line(
        at=AT + 1,
        address="203.0.113.7",
        user="bob",
        request="GET /cpsess4821907736/execute/Email/list_pops HTTP/1.1",
        status=200,
        size=512,
        user_agent="curl/8.5.0",
        port=2083,
    )
    assert line == (
        '203.0.113.7 - bob [05/14/2026:09:12:45 -0000] "GET /cpsess4821907736/execute/Email/'
        'list_pops HTTP/1.1" 200 512 "-" "curl/8.5.0" "-" "-" 2083'
    )


def test_access_line_uses_dashes_for_missing_user_and_agent() -> None:
    line = access_line(
        at=0.0, address="::1", user=None, request="GET / HTTP/1.1", status=302, size=0,
        user_agent=None, port=2087,
    )  # fmt: skip
    assert line == '::1 - - [01/01/1970:00:00:00 -0000] "GET / HTTP/1.1" 302 0 "-" "-" "-" "-" 2087'


def test_access_line_escapes_request_data_into_one_line() -> None:
    line = access_line(
        at=AT,
        address="203.0.113.7",
        user="bob\nroot",
        request='GET /"x\r\n HTTP/1.1',
        status=400,
        size=0,
        user_agent='evil"\n203.0.113.9 - root',
        port=2083,
    )
    assert "\n" not in line
    assert "\r" not in line
    assert "bob\\x0aroot" in line
    assert '"GET /\\x22x\\x0d\\x0a HTTP/1.1"' in line
    assert '"evil\\x22\\x0a203.0.113.9 - root"' in line
    assert line.count('"') == 10


# -- login_log ----------------------------------------------------------------------------------


def test_login_success_line_matches_the_spec_layout() -> None:
    assert login_success_line(at=AT, address="203.0.113.7", user="bob", service="cpaneld") == (
        "[2026-05-14 09:12:44 +0000] info [cpsrvd] 203.0.113.7 - bob - SUCCESS LOGIN cpaneld"
    )


def test_login_success_line_names_the_possessor() -> None:
    line = login_success_line(
        at=AT + 26, address="203.0.113.7", user="alice", service="cpaneld", possessor="root"
    )
    assert line == (
        "[2026-05-14 09:13:10 +0000] info [cpsrvd] 203.0.113.7 - alice (possessor: root) - "
        "SUCCESS LOGIN cpaneld"
    )


def test_login_failure_line_matches_the_spec_layout() -> None:
    line = login_failure_line(
        at=AT + 131,
        address="203.0.113.9",
        claimed_user="bob",
        request="POST /login/?login_only=1 HTTP/1.1",
        service="cpaneld",
        reason="user password incorrect",
    )
    assert line == (
        '[2026-05-14 09:14:55 +0000] info [cpsrvd] 203.0.113.9 - bob "POST /login/?login_only=1 '
        'HTTP/1.1" FAILED LOGIN cpaneld: user password incorrect'
    )


def test_login_failure_line_without_claimed_user_uses_a_dash() -> None:
    line = login_failure_line(
        at=AT, address="203.0.113.9", claimed_user="", request="GET / HTTP/1.1",
        service="whostmgrd", reason="user name not provided or invalid user",
    )  # fmt: skip
    assert ' - - "GET / HTTP/1.1" FAILED LOGIN whostmgrd' in line


def test_forged_claimed_user_cannot_add_a_login_line() -> None:
    forged = "x\n[2026-05-14 09:12:44 +0000] info [cpsrvd] 198.51.100.1 - root - SUCCESS LOGIN"
    line = login_failure_line(
        at=AT, address="203.0.113.9", claimed_user=forged, request='GET /"\n HTTP/1.1',
        service="whostmgrd", reason="user password incorrect\nSUCCESS",
    )  # fmt: skip
    assert "\n" not in line
    assert "\r" not in line
    assert line.startswith("[2026-05-14 09:12:44 +0000] info [cpsrvd] 203.0.113.9 - x\\x0a[")
    assert line.endswith("FAILED LOGIN whostmgrd: user password incorrect\\x0aSUCCESS")


# -- parse_login_line ---------------------------------------------------------------------------


def test_parses_spec_example_lines() -> None:
    assert parse_login_line(
        "[2026-05-14 09:13:10 +0000] info [cpsrvd] 203.0.113.7 - alice (possessor: root) - "
        "SUCCESS LOGIN cpaneld"
    ) == {
        "time": "2026-05-14 09:13:10 +0000",
        "address": "203.0.113.7",
        "user": "alice",
        "possessor": "root",
        "request": None,
        "outcome": "SUCCESS",
        "service": "cpaneld",
        "reason": None,
    }


@pytest.mark.parametrize(
    "line",
    [
        "",
        '203.0.113.7 - bob [05/14/2026:09:12:45 -0000] "GET / HTTP/1.1" 200 512 "-" "-" "-" "-" 1',
        "[2026-05-14 09:12:44 +0000] info [cpsrvd] 203.0.113.7 - bob - LOGGED IN cpaneld",
        "[2026-05-14 09:12:44 +0000] warn [cpsrvd] 203.0.113.7 - bob - SUCCESS LOGIN cpaneld",
        "prefix [2026-05-14 09:12:44 +0000] info [cpsrvd] 1.2.3.4 - bob - SUCCESS LOGIN cpaneld",
    ],
)
def test_parse_login_line_rejects_other_lines(line: str) -> None:
    assert parse_login_line(line) is None


_TIMES = st.integers(min_value=0, max_value=4_102_444_800).map(float)
_ADDRESSES = st.ip_addresses().map(str)
_SERVICES = st.sampled_from([service.value for service in Service])


def _log_time(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(at))


@given(at=_TIMES, address=_ADDRESSES, user=_NO_SPACE, service=_SERVICES)
def test_success_line_round_trips(at: float, address: str, user: str, service: str) -> None:
    fields = parse_login_line(
        login_success_line(at=at, address=address, user=user, service=service)
    )
    assert fields is not None
    assert fields["time"] == _log_time(at)
    assert (fields["address"], fields["user"], fields["service"]) == (
        address,
        escape(user),
        service,
    )
    assert (fields["outcome"], fields["possessor"], fields["request"]) == ("SUCCESS", None, None)


@given(user=_NO_SPACE, possessor=_NO_SPACE)
def test_success_line_with_possessor_round_trips(user: str, possessor: str) -> None:
    line = login_success_line(
        at=AT, address="::1", user=user, service="cpaneld", possessor=possessor
    )
    fields = parse_login_line(line)
    assert fields is not None
    assert (fields["user"], fields["possessor"]) == (escape(user), escape(possessor))


@given(
    at=_TIMES,
    address=_ADDRESSES,
    user=_NO_SPACE | st.just(""),
    request=_TEXT,
    service=_SERVICES,
    reason=_TEXT,
)
def test_failure_line_round_trips(
    at: float, address: str, user: str, request: str, service: str, reason: str
) -> None:
    line = login_failure_line(
        at=at, address=address, claimed_user=user, request=request, service=service, reason=reason
    )
    fields = parse_login_line(line)
    assert fields is not None
    assert fields["time"] == _log_time(at)
    assert fields["address"] == address
    assert fields["user"] == (escape(user) if user else "-")
    assert fields["request"] == escape(request, quoted=True)
    assert (fields["outcome"], fields["service"]) == ("FAILED", service)
    assert fields["reason"] == escape(reason)
    assert fields["possessor"] is None


def test_failure_line_with_a_space_in_the_claimed_user_round_trips() -> None:
    line = login_failure_line(
        at=AT, address="203.0.113.9", claimed_user="a b", request="GET / HTTP/1.1",
        service="cpaneld", reason="user password incorrect",
    )  # fmt: skip
    fields = parse_login_line(line)
    assert fields is not None
    assert fields["outcome"] == "FAILED"


# -- accounting.log -----------------------------------------------------------------------------


def test_accounting_line_uses_cpanels_layout_and_escapes_colons() -> None:
    line = accounting_line(at=AT, action="CREATE", fields=["root", "bob:x", "a\nb", ""])
    assert line == "Thu May 14 09:12:44 2026:CREATE:root:bob\\x3ax:a\\x0ab:"


@given(st.lists(_TEXT, max_size=5))
def test_accounting_line_keeps_one_field_per_value(fields: list[str]) -> None:
    line = accounting_line(at=AT, action="REMOVE", fields=fields)
    assert "\n" not in line
    assert len(line.split(":")) == 4 + len(fields)  # the time itself holds two colons


def test_request_lines_are_memoised_in_a_bounded_memo_that_keeps_no_secret() -> None:
    memo = logformat._request_lines
    memo.clear()
    assert request_line("GET", "/x?a=1", "HTTP/1.1") == "GET /x?a=1 HTTP/1.1"
    assert ("GET", "/x?a=1", "HTTP/1.1") in memo
    assert request_line("GET", "/x?a=1", "HTTP/1.1") is memo[("GET", "/x?a=1", "HTTP/1.1")]
    assert request_line("GET", "/x?pass=s", "HTTP/1.1") == "GET /x?pass=*** HTTP/1.1"
    assert not any("pass=s" in target for _, target, _ in memo)  # a secret is never kept
    for number in range(1100):  # attacker-chosen targets cannot grow it without bound
        request_line("GET", f"/p{number}", "HTTP/1.1")
    assert len(memo) <= logformat.REQUEST_LINE_MEMO_ENTRIES


def test_the_same_who_and_where_at_another_second_gets_its_own_time() -> None:
    # the part after the time is built once: a later line must still carry its own time
    first = login_success_line(at=AT, address="203.0.113.7", user="bob", service="cpaneld")
    later = login_success_line(at=AT + 61, address="203.0.113.7", user="bob", service="cpaneld")
    assert first.startswith("[2026-05-14 09:12:44 +0000] ")
    assert later.startswith("[2026-05-14 09:13:45 +0000] ")
    assert first.partition("] ")[2] == later.partition("] ")[2]


@given(
    at=st.floats(allow_nan=False, allow_infinity=False),
    fields=st.dictionaries(st.text(min_size=1, max_size=8), _TEXT, min_size=1, max_size=5),
)
def test_timed_json_line_is_json_line_of_the_document_with_its_time_first(
    at: float, fields: dict[str, str]
) -> None:
    rest = {key: value for key, value in fields.items() if key != "time"}
    if not rest:
        return
    line = timed_json_line(at, JsonFields.of(rest))
    # byte for byte, whichever encoder the rest needed (DEL and C1 controls take json.dumps,
    # which writes small and large times in exponent form, where orjson does not)
    assert line == json_line({"time": at, **rest})
    assert json.loads(line) == {"time": at, **rest}


def test_the_time_is_written_as_json_line_writes_it_beside_the_ascii_fallback() -> None:
    # found by the property above: json.dumps and orjson write 6.103515625e-05 differently
    fallback = JsonFields.of({"0": "\x7f"})
    assert fallback.fallback
    assert timed_json_line(6.103515625e-05, fallback) == '{"time":6.103515625e-05,"0":"\\u007f"}'
    plain = JsonFields.of({"0": "a"})
    assert timed_json_line(6.103515625e-05, plain) == json_line({"time": 6.103515625e-05, "0": "a"})


def test_json_fields_need_a_member() -> None:
    with pytest.raises(ValueError):
        JsonFields.of({})
