"""The TLS listeners' SNI cache: a plugin certificate served by name after one lookup, the
default certificate meanwhile and for names with nothing, and bounds on what names cost."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

from cryptography import x509

from panelauth.extension import CertificatePair
from panelauth.server.sni import SniCache
from panelauth.server.tls import generate_self_signed, server_context
from tests.plugins.test_ssl import Issued, issue

NOW = datetime.datetime.now(datetime.UTC)
UNUSED = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # the callback's third argument, ignored


class Source:
    """A certificate source with one certificate, counting what it is asked."""

    def __init__(self, names: dict[str, Issued]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def __call__(self, server_name: str) -> CertificatePair | None:
        self.asked.append(server_name)
        found = self.names.get(server_name)
        return None if found is None else (found.pem, found.key_pem)


async def served_certificate(port: int, server_name: str) -> x509.Certificate:
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client, server_hostname=server_name
    )
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        writer.close()
    return x509.load_der_x509_certificate(der)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_a_name_gets_its_certificate_once_looked_up(tmp_path: Path) -> None:
    generate_self_signed(tmp_path / "cert.pem", tmp_path / "key.pem", "panelauth.test")
    default = server_context(tmp_path / "cert.pem", tmp_path / "key.pem")
    bob = issue(["bob.example"], at=NOW)
    source = Source({"bob.example": bob})
    SniCache(source).attach(default)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=default)
    port = server.sockets[0].getsockname()[1]
    try:
        first = await served_certificate(port, "bob.example")
        assert first != bob.certificate  # looked up in the background: the default meanwhile
        await settle()
        assert await served_certificate(port, "bob.example") == bob.certificate
        assert await served_certificate(port, "Bob.Example.") == bob.certificate
        await served_certificate(port, "nothing.example")
        await settle()
        assert await served_certificate(port, "nothing.example") != bob.certificate
        assert source.asked == ["bob.example", "nothing.example"]  # each name once, cached
    finally:
        server.close()
        await server.wait_closed()


def select(cache: SniCache, name: str | None) -> ssl.SSLContext | None:
    class Connection:
        context: ssl.SSLContext | None = None

    connection = Connection()
    cache.select(connection, name, UNUSED)  # type: ignore[arg-type]
    return connection.context


async def test_names_that_are_not_host_names_are_never_looked_up() -> None:
    source = Source({})
    cache = SniCache(source)
    for name in (None, "", "localhost", "a" * 300 + ".example", "bad name.example", "*.x.y"):
        assert select(cache, name) is None
    await settle()
    assert source.asked == []


async def test_the_cache_is_bounded_and_entries_expire() -> None:
    now = [0.0]
    source = Source({})
    cache = SniCache(source, monotonic=lambda: now[0], max_entries=2, negative_ttl=3.0)
    for name in ("a.example", "b.example", "c.example"):
        select(cache, name)
        await settle()
    select(cache, "a.example")  # evicted by c: looked up again
    select(cache, "c.example")  # cached, fresh: not asked again
    await settle()
    assert source.asked == ["a.example", "b.example", "c.example", "a.example"]
    now[0] = 4.0  # past the negative entry's life: an install shows within seconds
    select(cache, "c.example")
    await settle()
    assert source.asked[-1] == "c.example"


async def test_a_flood_of_names_starts_a_bounded_number_of_lookups() -> None:
    class Slow(Source):
        async def __call__(self, server_name: str) -> CertificatePair | None:
            self.asked.append(server_name)
            await asyncio.sleep(0.05)
            return None

    source = Slow({})
    cache = SniCache(source)
    for index in range(1000):
        select(cache, f"n{index}.example")
    await asyncio.sleep(0)
    assert len(source.asked) <= 8
