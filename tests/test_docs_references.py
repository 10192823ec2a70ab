"""The repository stands alone: what README, docs/ and comments cite exists in the repository.

* nothing points at the spec and measurements that lived outside the repository;
* every `w§N` / `w§N.M` (and "wire.md §N.M") names a section heading of docs/wire.md;
* every property id (`CV-5`, `TF-2`, `FT-4`, ...) is defined in docs/security.md;
* every relative link in README.md and docs/*.md reaches an existing file (and heading).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("src", "tests", "docs", "bench", "scripts", "README.md")
SKIPPED_DIRS = {"__pycache__", "results", "node_modules"}
WIRE = ROOT / "docs" / "wire.md"
SECURITY = ROOT / "docs" / "security.md"

# spelled in pieces so that this file does not match itself
OUTSIDE = ("../" + "shared", "/work/" + "shared")
PROPERTY_PREFIXES = "CV|TR|PW|BF|TF|SE|CS|TK|AH|SS|AZ|LG|FT|RX"
PROPERTY = re.compile(rf"\b(?:{PROPERTY_PREFIXES})-[0-9]+\b")
PROPERTY_ROW = re.compile(rf"^\| ((?:{PROPERTY_PREFIXES})-[0-9]+) \|", re.MULTILINE)
WIRE_CITATION = re.compile(r"(?:w§|wire\.md §)([0-9]+(?:\.[0-9]+)?)")
WIRE_HEADING = re.compile(r"^#{2,4} ([0-9]+(?:\.[0-9]+)?)[. ]", re.MULTILINE)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _text_files() -> Iterator[tuple[Path, str]]:
    for name in SCANNED:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            relative = path.relative_to(ROOT)
            if not path.is_file() or any(
                part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts
            ):
                continue
            try:
                yield path, path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary files cite nothing


def _where(path: Path, text: str, index: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, index) + 1}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", markdown), re.MULTILINE):
        slug = _slug(heading)
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{_where(path, text, match.start())}: {match.group(0)}"
        for path, text in _text_files()
        for outside in OUTSIDE
        for match in re.finditer(re.escape(outside), text)
    ]
    assert not found, "references outside the repository:\n" + "\n".join(found)


def test_wire_sections_cited_exist() -> None:
    sections = set(WIRE_HEADING.findall(WIRE.read_text(encoding="utf-8")))
    assert {"0", "1.2", "14.1", "21"} <= sections  # the parser sees the headings
    missing = [
        f"{_where(path, text, match.start())}: {match.group(0)}"
        for path, text in _text_files()
        for match in WIRE_CITATION.finditer(text)
        if match.group(1) not in sections
    ]
    assert not missing, "sections missing from docs/wire.md:\n" + "\n".join(missing)


def test_property_ids_cited_exist() -> None:
    defined = set(PROPERTY_ROW.findall(SECURITY.read_text(encoding="utf-8")))
    assert {"CV-1", "TF-2", "FT-11"} <= defined  # the parser sees the tables
    missing = [
        f"{_where(path, text, match.start())}: {match.group(0)}"
        for path, text in _text_files()
        for match in PROPERTY.finditer(text)
        if match.group(0) not in defined
    ]
    assert not missing, "ids missing from docs/security.md:\n" + "\n".join(missing)


MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in _anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no such heading")
    assert not broken, f"broken links in {page.relative_to(ROOT)}:\n" + "\n".join(broken)
