"""`SessionUrl`: a `create_user_session` URL opened once, then calls with its session (w§10)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from panelauth.client import LoginFailed, Password, SessionUrl
from panelauth.client.answers import Response
from panelauth.client.core import read_session_url
from panelauth.protocol.services import Service
from tests.client.conftest import MakeEither, Serve
from tests.conftest import ROOT_PASSWORD


def at(base_url: str, url: str) -> str:
    """`url` on the test server (the real one names the configured hostname and port 2083)."""
    parts = urlsplit(url)
    return f"{base_url}{parts.path}?{parts.query}"


async def test_a_session_url_is_consumed_once_then_used_for_calls(
    serve: Serve, make: MakeEither
) -> None:
    whm = make(await serve(), Password("root", ROOT_PASSWORD))
    created = await whm("whm", "create_user_session", user="bob", service="cpaneld")
    url = at(await serve(Service.CPANEL), created.data["url"])
    auth = SessionUrl(url)
    assert "session=" not in repr(auth)  # the URL is a credential
    bob = make(auth.base_url, auth)
    domains = await bob("uapi", "DomainInfo", "list_domains")
    assert domains.data["main_domain"] == "bob.example"
    again = await bob("uapi", "DomainInfo", "list_domains")  # the same session, not reopened
    assert again.data == domains.data
    assert bob.client._core.session is not None
    assert bob.client._core.session.token == created.data["cp_security_token"]
    second = make(auth.base_url, SessionUrl(url))
    with pytest.raises(LoginFailed) as refused:
        await second("uapi", "DomainInfo", "list_domains")
    assert refused.value.status == 401


def test_not_a_session_url() -> None:
    with pytest.raises(ValueError, match="not a session URL"):
        SessionUrl("https://host.example:2083/login/")


def test_the_token_comes_from_the_url_when_the_location_has_none() -> None:
    url = "https://h:2083/cpsess0123456789/login/?session=bob:abcd:create_user_session,ff"
    answer = Response(302, [("Location", "/"), ("Set-Cookie", "cpsession=bob%3aabcd; path=/")], b"")
    session = read_session_url(url, answer)
    assert (session.cookie, session.token) == ("cpsession=bob%3aabcd", "/cpsess0123456789")
    with pytest.raises(LoginFailed):
        read_session_url(url, Response(200, [], b"<html>login</html>"))
