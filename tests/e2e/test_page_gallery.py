"""Every page of every service, as four people see it, in headless Chromium (issue 12).

For root and a reseller on WHM, an account on cPanel and a mailbox on Webmail, the test logs in,
follows every link of the navigation column, and on each page: checks that the page loads
without a console error (a CSP violation is one), runs axe-core (from the npm registry, pinned)
for WCAG 2 A and AA rules, and saves a full-length screenshot at a laptop and a phone width in
`test-artifacts/screenshots/gallery/` for a person to look at (docs/web.md lists them); axe
runs again, and one more screenshot is taken, with the browser preferring dark colours.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.conftest import ROOT_PASSWORD
from tests.e2e.conftest import RunningServer, log_in, start_server

AXE_VERSION = "4.14.1"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "gallery"
WIDTHS = {"laptop": (1280, 800), "phone": (390, 844)}
PASSWORD = "Gallery-Pw-2026"


@dataclass(frozen=True)
class Persona:
    name: str  # in file names
    port: int
    user: str
    password: str
    pages: frozenset[str]  # the navigation links this person must see, by id


PERSONAS = (
    Persona(
        "whm-root",
        2087,
        "root",
        ROOT_PASSWORD,
        frozenset(
            {
                "to-home",
                "to-accounts",
                "to-tokens",
                "to-twofactor",
                "to-sessions",
                "to-access-key",
                "to-hulk",
            }
        ),
    ),
    Persona(
        "whm-reseller",
        2087,
        "rita",
        PASSWORD,
        frozenset({"to-home", "to-accounts", "to-twofactor", "to-sessions"}),
    ),
    Persona(
        "cpanel",
        2083,
        "bob",
        PASSWORD,
        frozenset({"to-home", "to-tokens", "to-twofactor", "to-email", "to-sessions"}),
    ),
    Persona(
        "webmail",
        2096,
        "info@bob.example",
        PASSWORD,
        frozenset({"to-home", "to-twofactor", "to-security", "to-sessions"}),
    ),
)


@pytest.fixture(scope="module")
def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("axe")
    subprocess.run(
        [
            "npm",
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(root),
            f"axe-core@{AXE_VERSION}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return (root / "node_modules" / "axe-core" / "axe.min.js").read_text()


@pytest.fixture(scope="module")
def gallery_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """root; reseller rita (list, create, suspend accounts) owning carol; bob with a mailbox."""
    server = start_server(tmp_path_factory.mktemp("gallery") / "data")
    try:
        with server.client() as client:

            def whm(function: str, **params: str) -> None:
                answer = client.get(
                    server.url(2087, f"/json-api/{function}"),
                    params={"api.version": "1", **params},
                    auth=("root", ROOT_PASSWORD),
                ).json()
                assert answer["metadata"]["result"] == 1, answer

            for user in ("rita", "bob"):
                whm("createacct", username=user, domain=f"{user}.example", password=PASSWORD)
            whm("setupreseller", user="rita", makeowner="1")
            acls = ("list-accts", "create-acct", "suspend-acct")
            whm("setacls", reseller="rita", **{f"acl-{acl}": "1" for acl in acls})
            whm(
                "createacct",
                username="carol",
                domain="carol.example",
                password=PASSWORD,
                owner="rita",
            )
            whm("suspendacct", user="carol", reason="Unpaid invoice")
            added = client.get(
                server.url(2083, "/execute/Email/add_pop"),
                params={"email": "info", "domain": "bob.example", "password": PASSWORD},
                auth=("bob", PASSWORD),
            ).json()
            assert added["status"] == 1, added
        yield server
    finally:
        server.stop()


def _axe_violations(page: Page, axe: str) -> list[str]:
    # evaluated through the DevTools protocol, so the page's CSP (no inline script) stays on
    page.evaluate(axe + "\n;0")
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa']})).violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target)}))"
    )
    return [json.dumps(violation) for violation in found]


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda persona: persona.name)
def test_every_page_loads_is_accessible_and_is_photographed(
    browser: Browser, gallery_server: RunningServer, axe_source: str, persona: Persona
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    try:
        log_in(page, gallery_server, persona.port, persona.user, persona.password)
        links = page.locator("nav.side ul").first.locator("a")
        shown = {
            links.nth(i).get_attribute("id") or "": links.nth(i).get_attribute("href") or ""
            for i in range(links.count())
        }
        assert persona.pages <= set(shown), f"{persona.name} misses {persona.pages - set(shown)}"
        problems: dict[str, list[str]] = {}
        for link_id, href in sorted(shown.items()):
            page.set_viewport_size({"width": 1280, "height": 800})
            page.goto(gallery_server.url(persona.port, href))
            expect(page.locator(f"#{link_id}")).to_have_attribute("aria-current", "page")
            slug = link_id.removeprefix("to-")
            for scheme in ("light", "dark"):  # the browser's preference picks the colours
                page.emulate_media(color_scheme=scheme)
                violations = _axe_violations(page, axe_source)
                if violations:
                    problems[f"{link_id} ({scheme})"] = violations
            page.screenshot(path=str(SHOTS / f"{persona.name}-{slug}-dark.png"), full_page=True)
            page.emulate_media(color_scheme="light")
            for width_name, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.screenshot(
                    path=str(SHOTS / f"{persona.name}-{slug}-{width_name}.png"), full_page=True
                )
        assert not problems, json.dumps(problems, indent=1)
        assert not errors, "\n".join(errors)
    finally:
        context.close()
