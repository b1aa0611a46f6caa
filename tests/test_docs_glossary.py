"""The Korean glossary (docs/ko/glossary.md) is used on every Korean page: one form per term.

The glossary's table has three columns: English, the Korean form used, and the forms not used
(comma-separated). No Korean page (docs/ko, outside code) contains a form not used; a form used in
the glossary's second column appears somewhere in docs/ko; on every page that names LSTM or GRU,
its first mention in the text is glossed, "LSTM(장단기 메모리)" and "GRU(게이트 순환 유닛)".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KO = ROOT / "docs" / "ko"
GLOSSARY = KO / "glossary.md"
GLOSSED = {"LSTM": "LSTM(장단기 메모리)", "GRU": "GRU(게이트 순환 유닛)"}

FENCED = re.compile(r"^(\s*)(`{3,}|~{3,}).*?^\1\2\s*$", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
LINK_TARGET = re.compile(r"\]\([^)]*\)")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def prose(text: str) -> str:
    """The text of a page without code blocks, inline code, display math, link targets and comments."""
    for pattern in (FENCED, MATH, COMMENT, INLINE_CODE, LINK_TARGET):
        text = pattern.sub(" ", text)
    return text


def glossary() -> list[tuple[str, list[str], list[str]]]:
    """(English, forms used, forms not used) for each row of the glossary's table."""
    rows = []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "") or set(cells[0]) <= set("-: "):
            continue
        used = [re.sub(r"\s*\(.*?\)\s*$", "", f).strip() for f in cells[1].split(" / ")]
        avoided = [f.strip() for f in cells[2].split(",") if f.strip()]
        rows.append((cells[0], used, avoided))
    return rows


def pages() -> list[Path]:
    return sorted(p for p in KO.rglob("*.md") if p != GLOSSARY)


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_glossary_is_read():
    rows = glossary()
    assert len(rows) >= 40
    terms = {english: (used, avoided) for english, used, avoided in rows}
    assert terms["horizon"] == (["예측 기간"], ["예측 지평", "호라이즌"])
    assert terms["prediction interval"][0] == ["예측 구간"]
    assert terms["epoch"][0] == ["에포크"] and "에폭" in terms["epoch"][1]


def test_prose_drops_code():
    text = "a `스텝` b\n```console\n$ 스텝\n```\n[링크](x/스텝.md) <!-- 스텝 --> $$스텝$$ c"
    assert "스텝" not in prose(text) and prose(text).split() == ["a", "b", "[링크", "c"]


@pytest.mark.parametrize("page", pages(), ids=ids(pages()))
def test_one_form_per_term(page):
    text = prose(page.read_text(encoding="utf-8"))
    found = [f"{form!r} (use {' / '.join(used)!r} for {english})"
             for english, used, avoided in glossary() for form in avoided if form in text]
    assert not found, f"{page.relative_to(ROOT)} uses forms the glossary rules out: {found}"


def test_glossary_forms_are_used():
    """Each Korean form of the glossary appears on some Korean page, equations included (no stale entries)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in pages())
    unused = [form for _, used, _ in glossary() for form in used if form not in text]
    assert not unused, unused


@pytest.mark.parametrize("page", pages(), ids=ids(pages()))
def test_lstm_and_gru_are_glossed_on_first_use(page):
    lines = [line for line in prose(page.read_text(encoding="utf-8")).splitlines() if not line.startswith("#")]
    text = "\n".join(lines)
    for name, glossed in GLOSSED.items():
        first = re.search(rf"(?<![A-Za-z]){name}(?![A-Za-z])", text)
        if first:
            assert text.startswith(glossed, first.start()), (
                f"{page.relative_to(ROOT)}: the first {name} of the text (…{text[first.start():first.start() + 30]}…) "
                f"is not written {glossed}")
