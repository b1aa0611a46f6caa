"""Torch's fused kernels (rnnkit.engine.torch_kernel): the dispatch decision, and the code a GPU runs,
run here on the CPU (engine="torch" forces it; the CUDA decision is simulated). tests/test_gpu.py
repeats the checks on a CUDA device where there is one."""

import pytest
import torch
from conftest import LAYER_VARIANTS
from test_layers import TORCH_MODULES, make, state_of
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.engine import torch_kernel

STANDARD = ["rnn-tanh", "rnn-relu", "lstm", "gru-reset-after"]  # the cells torch (and cuDNN) has
CUDA, CPU = torch.device("cuda"), torch.device("cpu")
LENGTHS = (None, [6, 0, 3, 1], torch.tensor([2, 6, 6, 5]), [6] * 4)  # none, with an empty one, a tensor, all full


def outputs_and_grads(layer, x, hx, lengths=None) -> tuple[torch.Tensor, ...]:
    """Output, final state, and the gradients of a loss over both wrt input, initial state and parameters."""
    xi, hx = x.clone().requires_grad_(), [h.clone().requires_grad_() for h in hx]
    out, state = layer(xi, tuple(hx) if len(hx) == 2 else hx[0], lengths=lengths)
    state = state if isinstance(state, tuple) else (state,)
    ramp = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    loss = (out * ramp).sum() + sum((k + 1) * s.sum() for k, s in enumerate(state))
    return (out, *state, *torch.autograd.grad(loss, [xi, *hx, *layer.parameters()]))


def reference_twin(layer, name, **options):
    """Variant ``name`` with ``options`` on the reference engine, with ``layer``'s weights, device, dtype."""
    with pytest.warns(UserWarning, match="reference engine"):
        ref = make(name, **options, engine="reference")
    ref.to(next(layer.parameters()))
    ref.load_state_dict(layer.state_dict())
    return ref


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_dispatch_cudnn_on_cuda_for_the_cells_torch_has_only(name):
    cell = make(name, input_size=2, hidden_size=3).cell
    assert torch_kernel.chosen("fast", cell, CUDA, 0.0, 0.0) is (name in STANDARD)
    assert not torch_kernel.chosen("fast", cell, CPU, 0.0, 0.0)  # the CPU keeps the compiled loops
    assert not torch_kernel.chosen("fast", cell, CUDA, 0.25, 0.0)  # cuDNN has no recurrent dropout
    assert not torch_kernel.chosen("fast", cell, CUDA, 0.0, 0.1)  # nor zoneout
    assert not torch_kernel.chosen("reference", cell, CUDA, 0.0, 0.0)
    assert torch_kernel.chosen("torch", cell, CPU, 0.0, 0.0)


def test_unsupported_names_the_option_and_engine_torch_refuses_it():
    assert torch_kernel.unsupported(LSTMCell(3, peephole=True), 0.0, 0.0) == "peephole=True"
    assert torch_kernel.unsupported(LSTMCell(3, activation="softsign"), 0.0, 0.0) == "activation='softsign'"
    assert torch_kernel.unsupported(GRUCell(3, reset_after=False), 0.0, 0.0) == "reset_after=False"
    assert torch_kernel.unsupported(RNNCell(3, "sigmoid"), 0.0, 0.0) == "nonlinearity='sigmoid'"
    assert torch_kernel.unsupported(GRUCell(3), 0.25, 0.0) == "recurrent_dropout=0.25"
    assert torch_kernel.unsupported(LSTMCell(3), 0.0, 0.1) == "zoneout=0.1"
    assert torch_kernel.unsupported(LSTMCell(3), 0.0, 0.0) is None
    with pytest.raises(ValueError, match="engine='torch'.*cifg=True"):
        rnnkit.LSTM(3, 4, cifg=True, engine="torch")
    with pytest.raises(ValueError, match="zoneout=0.1"):
        rnnkit.GRU(3, 4, zoneout=0.1, engine="torch")
    layer = rnnkit.GRU(3, 4, engine="torch")
    layer.recurrent_dropout = 0.5  # set after construction: refused when it runs, never silently dropped
    with pytest.raises(ValueError, match="recurrent_dropout=0.5"):
        layer(torch.randn(2, 1, 3))
    with pytest.raises(ValueError, match="torch.nn.LSTM has no layer_norm=True"):
        rnnkit.LSTM(3, 4, layer_norm=True).to_torch()


@pytest.mark.parametrize("name", STANDARD)
@pytest.mark.parametrize("bias", [True, False])
def test_torch_kernel_equals_reference_in_float64(name, bias):
    options = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True, bias=bias)
    ours = make(name, **options, engine="torch").double()
    ref = reference_twin(ours, name, **options)
    assert ours.engine_info()["path"] == "torch_kernel"
    x, hx = torch.randn(4, 6, 3, dtype=torch.float64), state_of(ours, 4, torch.float64)
    for lengths in LENGTHS:
        for a, b in zip(outputs_and_grads(ours, x, hx, lengths), outputs_and_grads(ref, x, hx, lengths), strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_unbatched_input_through_the_torch_kernel():
    layer = rnnkit.LSTM(3, 4, num_layers=2, engine="torch")
    x, h0, c0 = torch.randn(5, 3), torch.randn(2, 4), torch.randn(2, 4)
    out, (h, c) = layer(x, (h0, c0))
    out_b, (h_b, c_b) = layer(x[:, None], (h0[:, None], c0[:, None]))
    assert out.shape == (5, 4) and h.shape == c.shape == (2, 4)
    torch.testing.assert_close((out, h, c), (out_b[:, 0], h_b[:, 0], c_b[:, 0]))


def test_default_engine_on_cuda_runs_the_torch_kernel(monkeypatch):
    """The dispatch a GPU makes, here: the decision is told the device is CUDA; the forward is the layer's own."""
    decide, calls = torch_kernel.chosen, []
    monkeypatch.setattr(torch_kernel, "chosen", lambda engine, cell, _, *rest: decide(engine, cell, CUDA, *rest))
    run = torch_kernel.run_stack
    monkeypatch.setattr(torch_kernel, "run_stack", lambda *a: calls.append(a) or run(*a))
    x = torch.randn(6, 4, 3, dtype=torch.float64)
    for name in LAYER_VARIANTS:
        layer = make(name, input_size=3, hidden_size=4, num_layers=2, bidirectional=True).double()
        n_calls, hx = len(calls), state_of(layer, 4, torch.float64)
        got = outputs_and_grads(layer, x, hx, [6, 2, 0, 5])
        assert (len(calls) > n_calls) is (name in STANDARD), name
        assert (layer.engine_info()["path"] == "torch_kernel") is (name in STANDARD), name
        if name in STANDARD:
            ref = reference_twin(layer, name, input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
            want = outputs_and_grads(ref, x, hx, [6, 2, 0, 5])
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    zoned = rnnkit.LSTM(3, 4, zoneout=0.1)  # a standard cell with an option cuDNN lacks: the fast scan
    assert zoned.engine_info()["path"] != "torch_kernel"


@pytest.mark.parametrize("kind", list(TORCH_MODULES))
def test_torch_kernel_is_torchs_own_call_dropout_and_packing_included(kind):
    """from_torch(engine="torch") makes the call nn.RNNBase makes: the same numbers, the same dropout draws."""
    theirs = TORCH_MODULES[kind](3, 5, num_layers=3, dropout=0.5, bidirectional=True, batch_first=True)
    ours = getattr(rnnkit, kind).from_torch(theirs, engine="torch")
    x, lengths = torch.randn(4, 7, 3), torch.tensor([7, 2, 5, 7])
    outputs = {}
    for training in (True, False):
        results = []
        for layer in (theirs, ours):
            layer.train(training)
            xi = x.clone().requires_grad_()
            torch.manual_seed(5)
            if layer is theirs:
                out, state = theirs(pack_padded_sequence(xi, lengths, batch_first=True, enforce_sorted=False))
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=7)
            else:
                out, state = ours(xi, lengths=lengths)
            state = state if isinstance(state, tuple) else (state,)
            loss = (out**2).sum() + sum(s.sum() for s in state)
            results.append((out, *state, *torch.autograd.grad(loss, [xi, *layer.parameters()])))
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
        outputs[training] = results[1][0]
    assert not torch.equal(outputs[True], outputs[False])  # dropout between layers was on in training


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_fast_scan_has_no_cpu_only_assumptions(name):
    """The fast scan runs on a device that is not the CPU (meta: shapes only, and any CPU tensor mixed
    in is an error, as on CUDA), with recurrent dropout, zoneout and lengths given on the CPU."""
    with pytest.raises(RuntimeError, match="device"):
        _ = torch.zeros(2, device="meta") + torch.zeros(2)  # what makes this a check
    options = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, recurrent_dropout=0.25, zoneout=0.1)
    layer = make(name, **options).to("meta")
    info = layer.engine_info()
    assert info["path"] == "python_loop" and "compiled loops are CPU-only" in info["reason"]
    for lengths in ([5, 3], torch.tensor([5, 3]), None):
        x = torch.randn(5, 2, 3, device="meta", requires_grad=True)
        out, state = layer(x, lengths=lengths)
        state = state if isinstance(state, tuple) else (state,)
        (out.sum() + sum(s.sum() for s in state)).backward()
        assert out.shape == (5, 2, 8) and x.grad is not None and x.grad.is_meta
        assert all(p.grad is not None and p.grad.is_meta for p in layer.parameters())
    layer.eval()
    traces = layer.trace_gates(torch.randn(5, 2, 3, device="meta"), lengths=[5, 3])
    assert traces["h"].shape == (4, 5, 2, 4) and traces["h"].is_meta


def test_flatten_parameters_is_a_no_op():
    """Kept for code written for torch.nn; the weights stay separate tensors (safetensors saves them)."""
    layer = rnnkit.LSTM(3, 4, num_layers=2, engine="torch")
    before = [p.data_ptr() for p in layer.parameters()]
    layer.flatten_parameters()
    assert [p.data_ptr() for p in layer.parameters()] == before
