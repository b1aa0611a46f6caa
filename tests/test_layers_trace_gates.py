"""Tests of RecurrentLayer.trace_gates: the traced gates and states obey the cell's equations and
rebuild the layer's own output (lengths, both directions, batch_first, zoneout at evaluation)."""

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.layers import as_rnnkit


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"cifg": True}, {"bidirectional": True},
                                     {"activation": "softsign"}, {"layer_norm": True}], ids=str)
def test_lstm_gates_lie_in_unit_interval_and_rebuild_the_layer_output(options):
    torch.manual_seed(0)
    layer = rnnkit.LSTM(4, 5, num_layers=2, **options)
    x = torch.randn(9, 3, 4)
    act = torch.tanh if options.get("activation", "tanh") == "tanh" else nn.functional.softsign
    traces = layer.trace_gates(x)
    D = layer.num_directions
    assert list(traces) == ["i", "f", "g", "o", "h", "c"]
    assert all(v.shape == (2 * D, 9, 3, 5) for v in traces.values())
    for gate in "ifo":
        assert ((traces[gate] > 0) & (traces[gate] < 1)).all()
    if options.get("cifg"):
        torch.testing.assert_close(traces["f"], 1 - traces["i"])
    for index in range(2 * D):
        tr = {k: v[index] for k, v in traces.items()}
        c = tr["c"] if index % D == 0 else tr["c"].flip(0)  # in the direction of the scan
        c_prev = torch.cat([torch.zeros_like(c[:1]), c[:-1]])
        if index % D:
            c_prev = c_prev.flip(0)
        torch.testing.assert_close(tr["c"], tr["f"] * c_prev + tr["i"] * tr["g"])  # c_t = f c_{t−1} + i g
        if not options.get("layer_norm"):
            torch.testing.assert_close(tr["h"], tr["o"] * act(tr["c"]))  # h_t = o act(c_t)
    top = torch.cat(list(traces["h"][-D:]), dim=-1)
    torch.testing.assert_close(top, layer(x)[0])


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_gates_rebuild_the_layer_output(reset_after):
    layer = rnnkit.GRU(3, 6, reset_after=reset_after)
    x = torch.randn(8, 2, 3)
    tr = {k: v[0] for k, v in layer.trace_gates(x).items()}
    assert list(tr) == ["r", "z", "n", "h"]
    assert ((tr["r"] > 0) & (tr["r"] < 1)).all() and ((tr["z"] > 0) & (tr["z"] < 1)).all()
    h_prev = torch.cat([torch.zeros_like(tr["h"][:1]), tr["h"][:-1]])
    torch.testing.assert_close(tr["h"], (1 - tr["z"]) * tr["n"] + tr["z"] * h_prev)  # h = (1−z) n + z h_{t−1}
    torch.testing.assert_close(tr["h"], layer(x)[0])


def test_rnn_has_no_gates_only_its_state():
    layer = rnnkit.RNN(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    traces = layer.trace_gates(x)
    assert list(traces) == ["h"] and traces["h"].shape == (2, 5, 2, 4)
    torch.testing.assert_close(traces["h"][-1], layer(x)[0])


def test_lengths_batch_first_and_zoneout_match_forward_in_evaluation_mode():
    torch.manual_seed(0)
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True, zoneout=0.3,
                        recurrent_dropout=0.2).train()  # trace_gates is evaluation mode whatever the layer's mode
    x, lengths = torch.randn(3, 7, 3), [7, 4, 1]
    traces = layer.trace_gates(x, lengths=lengths)
    assert traces["h"].shape == (4, 3, 7, 4)  # (L·D, N, T, H) with batch_first
    expected = layer.eval()(x, lengths=lengths)[0]
    torch.testing.assert_close(torch.cat([traces["h"][2], traces["h"][3]], dim=-1), expected)
    assert (traces["i"][:, 1, 4:] == 0).all() and (traces["i"][:, 1, :4] != 0).all()  # zero past the length


def test_an_unbatched_sequence_gives_unbatched_traces():
    layer = rnnkit.GRU(3, 4)
    x = torch.randn(6, 3)
    traces = layer.trace_gates(x)
    assert traces["z"].shape == (1, 6, 4)
    torch.testing.assert_close(traces["h"][0], layer(x)[0])


def test_torch_layers_are_traced_through_their_rnnkit_twin():
    torch.manual_seed(1)
    lstm = nn.LSTM(4, 5, num_layers=2, batch_first=True)
    x = torch.randn(2, 7, 4)  # (N, T, I)
    traces = as_rnnkit(lstm).trace_gates(x)
    torch.testing.assert_close(traces["h"][-1], lstm(x)[0], atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="Linear is not a recurrent layer"):
        as_rnnkit(nn.Linear(2, 2))
