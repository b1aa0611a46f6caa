"""Each cell's step equations on fixed weights, checked against hand-computed values and torch's cells."""

import math

import pytest
import torch

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell


def sig(v):
    return 1 / (1 + math.exp(-v))


def params(cell, input_size=2, fill=0.0):
    """Parameters of one layer-direction, all set to ``fill``, in float64."""
    return {k: torch.full(s, fill, dtype=torch.float64) for k, s in cell.param_shapes(input_size, True).items()}


def test_rnn_step_on_fixed_weights():
    cell = RNNCell(1, "softsign")
    p = params(cell, input_size=1)
    p["weight_ih"][:] = 2.0
    p["weight_hh"][:] = -0.5
    p["bias_ih"][:] = 0.25
    x, h = torch.tensor([[[1.5]]], dtype=torch.float64), torch.tensor([[0.4]], dtype=torch.float64)
    (h1,) = cell.reference_step(cell.input_projection(x, p)[0], (h,), cell.recurrent_params(p))
    pre = 2.0 * 1.5 - 0.5 * 0.4 + 0.25
    assert h1.item() == pytest.approx(pre / (1 + abs(pre)), abs=1e-12)


@pytest.mark.parametrize("peephole", [False, True])
def test_lstm_step_on_fixed_weights(peephole):
    """W = U = 0: the gates are σ(b) (plus peepholes), c_1 = f c_0 + i g, h_1 = o tanh(c_1)."""
    cell = LSTMCell(1, peephole=peephole)
    p = params(cell)
    p["bias_ih"][:] = torch.tensor([0.5, 1.0, -0.3, 0.2], dtype=torch.float64)  # i, f, g, o
    if peephole:
        p["weight_peephole"][:] = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    c0 = 0.7
    x = torch.zeros(1, 1, 2, dtype=torch.float64)
    h1, c1 = cell.reference_step(
        cell.input_projection(x, p)[0],
        (torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), c0, dtype=torch.float64)),
        cell.recurrent_params(p),
    )
    pi, pf, po = (0.1, -0.2, 0.3) if peephole else (0, 0, 0)
    i, f, g = sig(0.5 + pi * c0), sig(1.0 + pf * c0), math.tanh(-0.3)
    c = f * c0 + i * g
    o = sig(0.2 + po * c)
    assert c1.item() == pytest.approx(c, abs=1e-12)
    assert h1.item() == pytest.approx(o * math.tanh(c), abs=1e-12)


def test_lstm_cifg_couples_forget_to_input():
    cell = LSTMCell(1, cifg=True)
    p = params(cell)
    p["bias_ih"][:] = torch.tensor([0.5, -0.3, 0.2], dtype=torch.float64)  # i, g, o
    c0 = torch.full((1, 1), 0.7, dtype=torch.float64)
    h1, c1 = cell.reference_step(
        cell.input_projection(torch.zeros(1, 1, 2, dtype=torch.float64), p)[0],
        (torch.zeros_like(c0), c0),
        cell.recurrent_params(p),
    )
    i = sig(0.5)
    assert c1.item() == pytest.approx((1 - i) * 0.7 + i * math.tanh(-0.3), abs=1e-12)


def test_gru_forms_differ_only_in_where_reset_applies():
    """reset_after: n = tanh(x_n + r (U_n h + b_hn)); reset_before: n = tanh(x_n + U_n (r h) + b_hn)."""
    h0, u, b_hn, b_r = 0.6, 0.8, 0.5, -0.4
    r = sig(b_r)
    results = {}
    for reset_after in (True, False):
        cell = GRUCell(1, reset_after=reset_after)
        p = params(cell)
        p["weight_hh"][2] = u  # U_n only
        p["bias_ih"][0] = b_r
        p["bias_hh"][2] = b_hn
        x = torch.zeros(1, 1, 2, dtype=torch.float64)
        state = (torch.full((1, 1), h0, dtype=torch.float64),)
        (h1,) = cell.reference_step(cell.input_projection(x, p)[0], state, cell.recurrent_params(p))
        results[reset_after] = h1.item()
    z = sig(0.0)
    n_after, n_before = math.tanh(r * (u * h0 + b_hn)), math.tanh(u * r * h0 + b_hn)
    assert results[True] == pytest.approx((1 - z) * n_after + z * h0, abs=1e-12)
    assert results[False] == pytest.approx((1 - z) * n_before + z * h0, abs=1e-12)


@pytest.mark.parametrize(
    "cell, torch_cell",
    [
        (LSTMCell(4), torch.nn.LSTMCell(3, 4)),
        (GRUCell(4), torch.nn.GRUCell(3, 4)),
        (RNNCell(4, "relu"), torch.nn.RNNCell(3, 4, nonlinearity="relu")),
    ],
    ids=["lstm", "gru", "rnn-relu"],
)
def test_reference_step_equals_torch_cell(cell, torch_cell):
    p = dict(torch_cell.named_parameters())
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    state = (h, torch.randn(5, 4)) if isinstance(cell, LSTMCell) else (h,)
    ours = cell.reference_step(cell.input_projection(x, p), state, cell.recurrent_params(p))
    theirs = torch_cell(x, state if len(state) > 1 else h)
    theirs = theirs if isinstance(theirs, tuple) else (theirs,)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_bad_cell_options_name_the_argument():
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, "swish")
    with pytest.raises(ValueError, match="activation"):
        LSTMCell(3, activation="relu")
