"""CITATION.cff and CHANGELOG.md: present, well-formed, and at the version of pyproject.toml."""

from __future__ import annotations

import datetime
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_citation_is_cff_1_2_0():
    """The keys CFF 1.2.0 requires (cff-version, message, title, authors), the release's version,
    date and licence, and nothing the schema does not know."""
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"]
    assert cff["authors"] == [{"name": "the rnnkit developers"}]
    assert str(cff["version"]) == VERSION
    assert cff["license"] == "MIT"
    datetime.date.fromisoformat(str(cff["date-released"]))
    known = {"abstract", "authors", "cff-version", "commit", "contact", "date-released", "doi", "identifiers",
             "keywords", "license", "license-url", "message", "preferred-citation", "references",
             "repository", "repository-artifact", "repository-code", "title", "type", "url", "version"}
    assert set(cff) <= known, set(cff) - known
    assert cff.get("type", "software") in ("software", "dataset")


def test_changelog_has_unreleased_and_this_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert any(h.startswith(f"{VERSION} ") for h in headings), headings
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert f"## {VERSION} — {cff['date-released']}" in text  # one release date in both files
