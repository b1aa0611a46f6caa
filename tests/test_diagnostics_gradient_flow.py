"""Tests of rnnkit.diagnostics.gradient_flow: the vanishing gradient, measured."""

import csv

import torch
from torch import nn

import rnnkit
from rnnkit.diagnostics.gradient_flow import (
    Curve,
    checkpoint_curves,
    gradient_norms,
    init_curves,
    measure,
    plot,
    write_csv,
)


def test_tanh_rnn_gradient_vanishes_much_sooner_than_the_lstm_with_forget_bias_1():
    rnn, lstm, gru = init_curves(["rnn", "lstm", "gru"], length=45, batch=16)
    # benchmarks/diagnostics.py (T = 200, batch 64) measured lags 10 (rnn), 24 (lstm), 14 (gru)
    assert rnn.vanish_lag is not None and lstm.vanish_lag is not None
    assert lstm.vanish_lag >= 2 * rnn.vanish_lag
    assert lstm.at(40) > 1e5 * rnn.at(40)  # the gap widens geometrically with the lag
    assert rnn.vanish_lag < gru.vanish_lag < lstm.vanish_lag
    assert all(r == 1.0 for r in (rnn.at(0), lstm.at(0), gru.at(0)))
    (big_bias,) = init_curves(["lstm"], length=45, batch=16, forget_bias=5.0)
    assert big_bias.vanish_lag is None and big_bias.at(44) > 1e-2  # f ≈ σ(5) ≈ 0.99 keeps it alive


def test_gradient_norms_match_autograd_through_the_whole_sequence():
    torch.manual_seed(0)
    layer = rnnkit.GRU(3, 4, engine="reference").double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    w = torch.randn(2, 4, dtype=torch.float64)
    norms = gradient_norms(layer, x, w)  # (T, N)
    # ∂L/∂h_2 by hand: split the run at t = 2 and differentiate the rest with respect to h_2
    h2 = layer(x[:2])[1].detach().requires_grad_()
    (layer(x[2:], h2)[1][-1] * w).sum().backward()
    torch.testing.assert_close(norms[1], h2.grad[0].norm(dim=-1))
    torch.testing.assert_close(norms[-1], w.norm(dim=-1))


def test_torch_layers_with_batch_first_are_measured_too():
    torch.manual_seed(0)
    ratios = measure(nn.LSTM(3, 8, batch_first=True), torch.randn(20, 4, 3))
    assert len(ratios) == 20 and ratios[0] == 1.0 and ratios[-1] < ratios[1]


def test_checkpoint_curves_compare_the_trained_layer_with_its_initialisation(tiny_lm_run):
    before, after = checkpoint_curves(tiny_lm_run, length=30, batch=8)
    assert before.name == "checkpoint lstm (re-initialised)" and after.name == "checkpoint lstm (trained)"
    assert len(after.ratios) == 30 and before.ratios != after.ratios


def test_csv_and_png(tmp_path):
    curves = [Curve("a", [1.0, 1e-2, 1e-4, 0.0]), Curve("b", [1.0, 0.5, 0.25, 0.125])]
    assert curves[0].vanish_lag == 2 and curves[1].vanish_lag is None
    write_csv(curves, tmp_path / "g.csv")
    rows = list(csv.reader((tmp_path / "g.csv").read_text().splitlines()))
    assert rows[0] == ["lag", "a", "b"] and float(rows[3][1]) == 1e-4 and len(rows) == 5
    plot(curves, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
