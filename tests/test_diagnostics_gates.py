"""Tests of rnnkit.diagnostics.gates: gate traces equal what the layer computes; the gates page."""

import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.diagnostics.gates import (as_rnnkit, coloured_text, interpretable_units, text_features, trace,
                                      write_gates)


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"cifg": True}, {"bidirectional": True},
                                     {"activation": "softsign"}], ids=str)
def test_lstm_gates_lie_in_unit_interval_and_rebuild_the_layer_output(options):
    layer = rnnkit.LSTM(4, 5, num_layers=2, **options)
    x = torch.randn(9, 3, 4)
    act = torch.tanh if options.get("activation", "tanh") == "tanh" else nn.functional.softsign
    traces = trace(layer, x)
    assert len(traces) == 2 * layer.num_directions
    for index, tr in enumerate(traces):
        for gate in "ifo":
            assert ((tr[gate] > 0) & (tr[gate] < 1)).all()
        c = tr["c"] if index % layer.num_directions == 0 else tr["c"].flip(0)  # in the direction of the scan
        c_prev = torch.cat([torch.zeros_like(c[:1]), c[:-1]])
        if index % layer.num_directions:
            c_prev = c_prev.flip(0)
        torch.testing.assert_close(tr["c"], tr["f"] * c_prev + tr["i"] * tr["g"])  # c_t = f c_{t−1} + i g
        torch.testing.assert_close(tr["h"], tr["o"] * act(tr["c"]))  # h_t = o act(c_t)
    output = layer(x)[0]
    top = torch.cat([tr["h"] for tr in traces[-layer.num_directions :]], dim=-1)
    torch.testing.assert_close(top, output)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_rebuild_the_layer_output(reset_after):
    layer = rnnkit.GRU(3, 6, reset_after=reset_after)
    x = torch.randn(8, 2, 3)
    (tr,) = trace(layer, x)
    assert ((tr["r"] > 0) & (tr["r"] < 1)).all() and ((tr["z"] > 0) & (tr["z"] < 1)).all()
    h_prev = torch.cat([torch.zeros_like(tr["h"][:1]), tr["h"][:-1]])
    torch.testing.assert_close(tr["h"], (1 - tr["z"]) * tr["n"] + tr["z"] * h_prev)  # h = (1−z) n + z h_{t−1}
    torch.testing.assert_close(tr["h"], layer(x)[0])


def test_torch_layers_are_traced_through_their_rnnkit_twin():
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True)
    x = torch.randn(2, 7, 4)  # (N, T, I)
    traces = trace(lstm, x.transpose(0, 1))
    torch.testing.assert_close(traces[-1]["h"].transpose(0, 1), lstm(x)[0], atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="cannot read gates from a Linear"):
        as_rnnkit(nn.Linear(2, 2))


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
