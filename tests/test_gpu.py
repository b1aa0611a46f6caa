"""The CUDA path, on a CUDA device (skipped without one): the cells torch has run cuDNN, the others
the fast scan on the GPU, and both equal the reference engine (outputs, states, gradients), with
lengths on any device, and torch.nn layers converted with from_torch give torch's numbers.
Recurrent dropout and zoneout on CUDA: tests/test_layers.py.

What can be checked without a GPU is in tests/test_torch_kernel.py (the same forward, forced or
with the dispatch told it is on CUDA)."""

import warnings

import pytest
import torch
from conftest import LAYER_VARIANTS
from safetensors.torch import load_model, save_model
from test_layers import TORCH_MODULES, make, state_of
from test_torch_kernel import STANDARD, outputs_and_grads, reference_twin
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

CUDA = torch.device("cuda")
OPTIONS = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True)
LENGTHS = [6, 2, 0, 5]


def cuda_state(layer, N, dtype=torch.float64):
    return tuple(s.to(CUDA) for s in state_of(layer, N, dtype))


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_default_engine_picks_cudnn_for_the_cells_torch_has_and_the_fast_scan_otherwise(name):
    info = make(name, **OPTIONS).to(CUDA).engine_info()
    if name in STANDARD:
        assert info["path"] == "torch_kernel" and "cuDNN" in info["reason"], info
    else:
        assert info["path"] == "python_loop" and "not cuDNN" in info["reason"], info
    assert info["device"].startswith("cuda")


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_fast_equals_reference_on_cuda(name):
    fast = make(name, **OPTIONS).double().to(CUDA)
    ref = reference_twin(fast, name, **OPTIONS)
    x, hx = torch.randn(4, 6, 3, dtype=torch.float64, device=CUDA), cuda_state(fast, 4)
    for lengths in (None, LENGTHS):
        for a, b in zip(outputs_and_grads(fast, x, hx, lengths), outputs_and_grads(ref, x, hx, lengths), strict=True):
            assert a.is_cuda
            torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("name", ["rnn-tanh", "lstm", "gru-reset-after", "lstm-all", "gru-reset-before"])
def test_gradcheck_on_cuda(name):
    layer = make(name, input_size=2, hidden_size=2, num_layers=2, bidirectional=True).double().to(CUDA)
    names = [n for n, _ in layer.named_parameters()]
    x, hx = torch.randn(4, 3, 2, dtype=torch.float64, device=CUDA), cuda_state(layer, 3)
    k = len(hx)

    def f(x, *rest):
        params = dict(zip(names, rest[k:]))
        state = rest[:k] if k > 1 else rest[0]
        out, final = torch.func.functional_call(layer, params, (x, state), {"lengths": [4, 1, 3]})
        return (out, *(final if k > 1 else (final,)))

    args = [t.requires_grad_() for t in (x, *hx, *(p.detach().clone() for p in layer.parameters()))]
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-6, nondet_tol=1e-10)


@pytest.mark.parametrize("name", ["lstm", "lstm-peephole", "gru-reset-after", "rnn-softsign"])
def test_lengths_on_any_device(name):
    layer = make(name, **OPTIONS).to(CUDA)
    x = torch.randn(4, 6, 3, device=CUDA)
    want, _ = layer(x, lengths=LENGTHS)
    for lengths in (
        torch.tensor(LENGTHS),
        torch.tensor(LENGTHS, device=CUDA),
        torch.tensor(LENGTHS, dtype=torch.int32),
    ):
        torch.testing.assert_close(layer(x, lengths=lengths)[0], want, atol=0, rtol=0)
    assert (want[1, 2:] == 0).all() and (want[2] == 0).all()


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_cuda_equals_cpu(name):
    layer = make(name, **OPTIONS).double()
    x, hx = torch.randn(4, 6, 3, dtype=torch.float64), state_of(layer, 4, torch.float64)
    on_cpu = outputs_and_grads(layer, x, hx, LENGTHS)
    layer.to(CUDA)
    on_cuda = outputs_and_grads(layer, x.to(CUDA), tuple(s.to(CUDA) for s in hx), LENGTHS)
    for a, b in zip(on_cuda, on_cpu, strict=True):
        torch.testing.assert_close(a.cpu(), b, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("kind", list(TORCH_MODULES))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_from_torch_parity_on_cuda(kind, bidirectional):
    theirs = TORCH_MODULES[kind](4, 6, num_layers=2, bidirectional=bidirectional, batch_first=True).to(CUDA)
    ours = getattr(rnnkit, kind).from_torch(theirs)
    assert ours.engine_info()["path"] == "torch_kernel"
    x, lengths = torch.randn(3, 7, 4, device=CUDA), torch.tensor([7, 3, 5])
    hx = tuple(s.float() for s in cuda_state(ours, 3))
    for packed in (False, True):
        results = []
        for layer in (theirs, ours):
            xi = x.clone().requires_grad_()
            state = hx if kind == "LSTM" else hx[0]
            if layer is ours:
                out, final = ours(xi, state, lengths=lengths if packed else None)
            elif packed:
                out, final = theirs(pack_padded_sequence(xi, lengths, batch_first=True, enforce_sorted=False), state)
                out, _ = pad_packed_sequence(out, batch_first=True, total_length=7)
            else:
                out, final = theirs(xi, state)
            final = final if isinstance(final, tuple) else (final,)
            loss = (out**2).sum() + sum((s * 0.5).sum() for s in final)
            results.append((out, *final, *torch.autograd.grad(loss, [xi, *layer.parameters()])))
        for a, b in zip(*results, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_a_cuda_layer_saves_as_safetensors_and_cudnn_does_not_warn(tmp_path):
    """The weights stay separate tensors on CUDA (nn.LSTM's flattened ones are views safetensors refuses)."""
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True).to(CUDA)
    assert layer.engine_info()["path"] == "torch_kernel"
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*contiguous chunk")  # cuDNN packs the weights at each call
        layer(torch.randn(5, 2, 3, device=CUDA))[0].sum().backward()
    save_model(layer, str(tmp_path / "model.safetensors"))  # the checkpoints' format
    twin = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True).to(CUDA)
    load_model(twin, str(tmp_path / "model.safetensors"))
    for a, b in zip(layer.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("name", STANDARD)
def test_gradients_in_evaluation_mode_on_cuda(name):
    """cuDNN's backward needs a training-mode forward; in evaluation mode with gradients wanted (as the
    diagnostics do) the call runs torch's own CUDA kernels instead, with the same numbers."""
    layer = make(name, **OPTIONS).double().to(CUDA).eval()
    ref = reference_twin(layer, name, **OPTIONS).eval()
    x, hx = torch.randn(4, 6, 3, dtype=torch.float64, device=CUDA), cuda_state(layer, 4)
    for a, b in zip(outputs_and_grads(layer, x, hx, LENGTHS), outputs_and_grads(ref, x, hx, LENGTHS), strict=True):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-9)
