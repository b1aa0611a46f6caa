"""Tests of rnnkit.diagnostics.gates: the units that track the text, the gates page. (The gate traces
themselves are the layer's: tests/test_layers_trace_gates.py.)"""

import numpy as np

from rnnkit.diagnostics.gates import coloured_text, interpretable_units, text_features, write_gates


def test_text_features_and_the_unit_that_tracks_line_position():
    text = 'ab "cd"\nEFG\nh(i)j'
    features = text_features(text)
    assert features["position in line"].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 0, 1, 2, 3, 4]
    assert features['inside "quotes"'].tolist()[3:7] == [1, 1, 1, 0]
    assert features["in an upper-case line (speaker)"].tolist()[8:12] == [1, 1, 1, 1]
    rng = np.random.default_rng(0)
    state = rng.normal(size=(len(text), 6))
    state[:, 4] = -features["position in line"] + 0.01 * rng.normal(size=len(text))
    found = {u["feature"]: u for u in interpretable_units([{"c": state}], text, "c")}
    assert found["position in line"]["unit"] == 4 and found["position in line"]["r"] < -0.99


def test_coloured_text_escapes_html_and_spans_every_character():
    html = coloured_text("<a>\n", np.array([0.0, 1.0, 0.5, 0.2]))
    assert "&lt;" in html and "<a>" not in html and html.count("<span") == 4 and "↵" in html
    assert "rgb(255, 255, 255)" in html and "rgb(0, 0, 255)" in html and "rgb(255, 0, 0)" in html


def test_gates_page_of_a_trained_char_lm(tiny_lm_run, tmp_path):
    out = tmp_path / "gates.html"
    found = write_gates(tiny_lm_run, "to be or not to be,\nthat is", out)
    page = out.read_text(encoding="utf-8")
    assert "forget gate f" in page and "data:image/png;base64," in page
    assert {u["feature"] for u in found} >= {"position in line", "inside a word"}
    assert page.count("<span") >= 2 * len("to be or not to be,\nthat is")
