"""The API reference a user can work from, and the "Your own data" pages.

The built site (the built_site fixture of conftest.py, shared with test_docs.py) shows the layers'
constructor signatures and forward's `lengths`, the config fields with their docs and defaults, and
leaves internal helpers out. Every task has a "Your own data" page in English and Korean, with the
same code blocks in both.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.test_docs import DOCS, KO, RUN_LANGS, blocks_of

DATA_PAGES = ("index", "lm", "classify", "music", "seq2seq", "forecast", "tag", "sequences")


def page_text(site: Path, page: str) -> str:
    """The visible text of a built page, tags dropped, entities decoded, without whitespace (the
    highlighter splits a signature into tokens)."""
    raw = (site / page).read_text(encoding="utf-8")
    return "".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def shows(text: str, wanted: str) -> bool:
    return "".join(wanted.split()) in text


def test_layers_page_shows_signatures_and_lengths(built_site):
    text = page_text(built_site, "api/layers.html")
    assert shows(text, "LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0")
    assert shows(text, "GRU(input_size, hidden_size") and shows(text, "RNN(input_size, hidden_size")
    assert shows(text, "forward(input, hx=None, lengths=None)")
    assert shows(text, "lengths each sequence's length, N integers in 0..T in any order")
    for method in ("step(input, hx=None)", "from_torch(module", "to_torch()"):
        assert shows(text, method), method
    assert shows(text, "chrono_init T_max, the longest dependency")  # the constructor's arguments are documented


def test_config_fields_render_with_docs_and_defaults(built_site):
    text = page_text(built_site, "api/tasks.html")
    assert shows(text, "hidden_size: int = 256 Units per layer (H).")  # RecurrentConfig
    assert shows(text, "pooling: str = 'attention' How the outputs become one vector")  # ClassifyConfig
    assert shows(text, "horizon: int = 12 H steps forecast from each origin.")  # ForecastConfig
    assert re.search(r"max_epochs:int=\d+Passes", page_text(built_site, "api/train.html"))


def test_reference_pages_exist_and_leave_internals_out(built_site):
    for page in ("data", "export", "tasks"):
        assert (built_site / "api" / f"{page}.html").is_file(), page
    export = page_text(built_site, "api/export.html")
    assert shows(export, "export_checkpoint(") and shows(export, "chrono_bias(")
    assert "read_labelled" in page_text(built_site, "api/data.html")
    headings = " ".join(p.read_text(encoding="utf-8") for p in (built_site / "api").glob("*.html"))
    for internal in ("train_args", "check_layer_init", "arima_orders", "_NoLengths", "rules", "lengths_mask"):
        assert not re.search(rf'id="rnnkit[\w.]*\.{internal}"', headings), internal


@pytest.mark.parametrize("name", DATA_PAGES)
def test_own_data_page_in_both_languages(name):
    """docs/data/NAME.md and docs/ko/data/NAME.md exist with the same code and output blocks."""
    english, korean = DOCS / "data" / f"{name}.md", KO / "data" / f"{name}.md"
    assert english.is_file() and korean.is_file(), name
    same = [b.signature() for b in blocks_of(english) if b.lang in RUN_LANGS or b.output]
    assert [b.signature() for b in blocks_of(korean) if b.lang in RUN_LANGS or b.output] == same


@pytest.mark.parametrize("name", DATA_PAGES[1:])
def test_own_data_page_trains_predicts_and_loads(name):
    """Each task page shows the command line and Python, and loading a trained model."""
    blocks = blocks_of(DOCS / "data" / f"{name}.md")
    console = "\n".join(b.body for b in blocks if b.lang == "console")
    python = "\n".join(b.body for b in blocks if b.lang == "python")
    assert re.search(r"^\$ rnnkit \w+ train --data|^\$ rnnkit forecast train --csv", console, re.M)
    assert ".load(" in python and ".fit(" in python
