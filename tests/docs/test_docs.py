"""The project's own documents point only at things that exist in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_every_path_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    paths = set(re.findall(r"`((?:src|tests|benchmarks|docs)/[^`\s]*)`", text))
    assert len(paths) > 30  # the table of rooms is there
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_links_between_documents_resolve(document: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
        assert (document.parent / target).exists(), f"{document.name} links to {target}"


def test_code_and_tests_point_only_inside_the_repository() -> None:
    """No reference to the research notes that live outside the repository."""
    outside = re.compile(r"DESIGN\.md|PROTOCOL\.md|PERF-NOTES\.md|shared/")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("src", "tests", "benchmarks", "docs")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".md", ".lua") and path != Path(__file__)
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if outside.search(line)
    ]
    assert found == []
