"""Function arguments and cPanel's `key-N` list convention (w§20)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panelauth.errors import BadRequest, InvalidArgument
from panelauth.protocol.params import MAX_PARAMETERS, Params

# -- construction -------------------------------------------------------------------------------


def test_from_query_keeps_blank_values_and_order() -> None:
    params = Params.from_query("a=1&b=&c&a=2")
    assert params.pairs() == [("a", "1"), ("b", ""), ("c", ""), ("a", "2")]


def test_from_query_reads_the_query_before_the_body() -> None:
    params = Params.from_query("user=bob&x=1", "user=carol")
    assert params.pairs() == [("user", "bob"), ("x", "1"), ("user", "carol")]
    assert params["user"] == "carol"


@pytest.mark.parametrize(
    ("encoded", "pairs"),
    [
        ("name=J%C3%BCrgen+M", [("name", "J\u00fcrgen M")]),
        ("k%3D=v%26w", [("k=", "v&w")]),
        ("crt=-----BEGIN%0AAB", [("crt", "-----BEGIN\nAB")]),
    ],
)
def test_from_query_decodes_percent_escapes_and_plus(
    encoded: str, pairs: list[tuple[str, str]]
) -> None:
    assert Params.from_query(encoded).pairs() == pairs


def test_from_query_accepts_an_empty_query_and_body() -> None:
    params = Params.from_query("", "")
    assert len(params) == 0
    assert params.pairs() == []


@pytest.mark.parametrize("encoded", ["name=%FF", "%C3=x", "a=%ED%A0%80"])
def test_from_query_rejects_invalid_utf8(encoded: str) -> None:
    with pytest.raises(BadRequest):
        Params.from_query(encoded)


def test_from_query_rejects_too_many_fields_in_one_string() -> None:
    with pytest.raises(BadRequest):
        Params.from_query("&".join(f"k{i}=v" for i in range(MAX_PARAMETERS + 1)))


def test_from_query_rejects_too_many_fields_across_query_and_body() -> None:
    half = "&".join(f"k{i}=v" for i in range(MAX_PARAMETERS // 2 + 1))
    with pytest.raises(BadRequest):
        Params.from_query(half, half)


def test_accepts_exactly_the_maximum_number_of_parameters() -> None:
    params = Params.from_query("&".join(f"k{i}=v" for i in range(MAX_PARAMETERS)))
    assert len(params) == MAX_PARAMETERS


def test_constructor_rejects_too_many_pairs() -> None:
    with pytest.raises(BadRequest):
        Params([("k", "v")] * (MAX_PARAMETERS + 1))


@pytest.mark.parametrize(
    ("words", "pairs"),
    [
        (["user=bob"], [("user", "bob")]),
        (["a=b=c"], [("a", "b=c")]),
        (["empty="], [("empty", "")]),
        (["acl-0=list-accts", "acl-1=passwd"], [("acl-0", "list-accts"), ("acl-1", "passwd")]),
    ],
)
def test_from_cli_splits_at_the_first_equals(
    words: list[str], pairs: list[tuple[str, str]]
) -> None:
    assert Params.from_cli(words).pairs() == pairs


@pytest.mark.parametrize("word", ["user", "=bob", ""])
def test_from_cli_rejects_words_that_are_not_key_value(word: str) -> None:
    with pytest.raises(InvalidArgument, match="key=value"):
        Params.from_cli(["ok=1", word])


# -- mapping behaviour --------------------------------------------------------------------------


def test_mapping_gives_the_last_value_of_each_key() -> None:
    params = Params([("a", "1"), ("b", "2"), ("a", "3")])
    assert params["a"] == "3"
    assert params.get("b") == "2"
    assert params.get("missing") is None
    assert list(params) == ["a", "b"]
    assert len(params) == 2
    assert "a" in params
    assert "c" not in params


def test_missing_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        Params()["nope"]


def test_pairs_returns_a_copy() -> None:
    params = Params([("a", "1")])
    params.pairs().append(("b", "2"))
    assert params.pairs() == [("a", "1")]


def test_require_returns_a_present_value() -> None:
    assert Params([("user", "bob")]).require("user") == "bob"


@pytest.mark.parametrize("pairs", [[], [("user", "")], [("user", "bob"), ("user", "")]])
def test_require_rejects_missing_or_empty_values(pairs: list[tuple[str, str]]) -> None:
    with pytest.raises(InvalidArgument, match="user"):
        Params(pairs).require("user")


@pytest.mark.parametrize(
    ("pairs", "default", "expected"),
    [
        ([("flag", "1")], False, True),
        ([("flag", "0")], True, False),
        ([], True, True),
        ([], False, False),
        ([("flag", "")], True, True),
        ([("flag", "1"), ("flag", "0")], True, False),
    ],
)
def test_get_bool_reads_cpanel_booleans(
    pairs: list[tuple[str, str]], default: bool, expected: bool
) -> None:
    assert Params(pairs).get_bool("flag", default) is expected


@pytest.mark.parametrize("value", ["true", "yes", "2", " 1", "on"])
def test_get_bool_rejects_anything_but_one_or_zero(value: str) -> None:
    with pytest.raises(InvalidArgument, match="flag"):
        Params([("flag", value)]).get_bool("flag")


def test_without_drops_every_value_of_the_named_keys() -> None:
    params = Params([("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")]).without("a", "c")
    assert params.pairs() == [("b", "2")]


# -- key-N lists --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "pairs", "expected"),
    [
        ("acl", [("acl", "a")], ["a"]),
        ("acl", [("acl-1", "b"), ("acl-0", "a")], ["a", "b"]),
        ("acl", [("acl-2", "c"), ("acl", "bare"), ("acl-10", "k")], ["bare", "c", "k"]),
        ("acl", [("acl", "x"), ("acl", "y")], ["x", "y"]),
        ("acl", [("acl-007", "seven"), ("acl-3", "three")], ["three", "seven"]),
        ("acl", [("acl-1", "first"), ("acl-1", "second")], ["first", "second"]),
        ("acl", [("acl-999999", "last"), ("acl-5", "mid")], ["mid", "last"]),
        ("whitelist_ip", [("whitelist_ip-1", "b"), ("whitelist_ip-0", "a")], ["a", "b"]),
        ("acl", [], []),
    ],
)
def test_get_list_merges_bare_and_indexed_forms(
    key: str, pairs: list[tuple[str, str]], expected: list[str]
) -> None:
    assert Params(pairs).get_list(key) == expected


@pytest.mark.parametrize(
    "key",
    ["aclx-0", "acl-", "acl-x", "acl-1234567", "xacl-0", "acl-0-1", "acl-1.5", "ACL-0", "acl--1"],
)
def test_get_list_ignores_keys_that_are_not_key_n(key: str) -> None:
    assert Params([(key, "v")]).get_list("acl") == []


def test_get_list_of_a_hyphenated_base() -> None:
    params = Params([("a-b-1", "y"), ("a-b", "x"), ("a-1", "other")])
    assert params.get_list("a-b") == ["x", "y"]
    assert params.get_list("a") == ["other"]


@given(st.permutations(list(range(12))), st.lists(st.text(max_size=5), max_size=3))
def test_get_list_orders_indexed_values_by_number_after_bare_values(
    order: list[int], bare: list[str]
) -> None:
    pairs = [(f"item-{index}", f"value{index}") for index in order]
    pairs[len(pairs) // 2 : len(pairs) // 2] = [("item", value) for value in bare]
    pairs.append(("other-0", "noise"))
    assert Params(pairs).get_list("item") == bare + [f"value{i}" for i in range(12)]


@given(st.lists(st.tuples(st.from_regex(r"[a-z]{1,3}(-[0-9]{1,2})?", fullmatch=True), st.text())))
def test_get_list_never_loses_or_invents_values(pairs: list[tuple[str, str]]) -> None:
    params = Params(pairs)
    for base in {key.split("-")[0] for key, _ in pairs}:
        expected = sorted(v for k, v in pairs if k.split("-")[0] == base)
        assert sorted(params.get_list(base)) == expected


def test_get_list_ignores_an_index_followed_by_a_newline() -> None:
    assert Params.from_query("acl-0%0A=passwd").get_list("acl") == []


def test_get_list_ignores_non_ascii_digit_indexes() -> None:
    assert Params([("acl-\u0663", "passwd")]).get_list("acl") == []
