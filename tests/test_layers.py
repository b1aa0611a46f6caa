"""The drop-in layers: torch parity, gradient checks through stacking/directions/lengths, options, errors."""

import pytest
import torch
from conftest import LAYER_VARIANTS
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit

LENGTHS = [4, 1, 3]


def make(name, **kw):
    kind, options = LAYER_VARIANTS[name]
    return getattr(rnnkit, kind)(**options, **kw)


def state_of(layer, N, dtype):
    n = len(layer.cell.state_names)
    shape = (layer.num_layers * layer.num_directions, N, layer.hidden_size)
    return tuple(torch.randn(shape, dtype=dtype) for _ in range(n))


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_layer_gradcheck_two_layers_bidirectional_ragged(name):
    layer = make(name, input_size=2, hidden_size=2, num_layers=2, bidirectional=True).double()
    names = [n for n, _ in layer.named_parameters()]
    x = torch.randn(4, 3, 2, dtype=torch.float64)
    hx = state_of(layer, 3, torch.float64)
    k = len(hx)

    def f(x, *rest):
        params = dict(zip(names, rest[k:]))
        state = rest[:k] if k > 1 else rest[0]
        out, final = torch.func.functional_call(layer, params, (x, state), {"lengths": LENGTHS})
        return (out, *(final if k > 1 else (final,)))

    args = [t.requires_grad_() for t in (x, *hx, *(p.detach().clone() for p in layer.parameters()))]
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("name", list(LAYER_VARIANTS))
def test_fast_layer_equals_reference_layer(name):
    fast = make(name, input_size=3, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True)
    ref = make(
        name, input_size=3, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True, engine="reference"
    )
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, 4, 3)
    results = []
    for layer in (fast, ref):
        xi = x.clone().requires_grad_()
        out, state = layer(xi, lengths=LENGTHS)
        state = state if isinstance(state, tuple) else (state,)
        loss = (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum() + sum(s.sum() for s in state)
        results.append((out, *state, *torch.autograd.grad(loss, [xi, *layer.parameters()])))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


ON_CUDA = pytest.param(
    "cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
)


@pytest.mark.parametrize("device", ["cpu", ON_CUDA])
@pytest.mark.parametrize("name", ["rnn-relu", "lstm", "lstm-peephole", "gru-reset-after", "gru-reset-before"])
def test_recurrent_dropout_and_zoneout_fast_equals_reference(name, device):
    """cuDNN has neither, so the fast scan runs them on every device, and equals the reference."""
    options = dict(input_size=3, hidden_size=4, num_layers=2, recurrent_dropout=0.3, zoneout=0.2)
    fast, ref = make(name, **options).to(device), make(name, **options, engine="reference").to(device)
    ref.load_state_dict(fast.state_dict())
    assert fast.engine_info()["path"] != "torch_kernel"
    x = torch.randn(6, 2, 3, device=device)
    for training in (True, False):
        results = []
        for layer in (fast, ref):
            layer.train(training)
            torch.manual_seed(7)  # the same mask draws for both engines
            out, _ = layer(x, lengths=[6, 3])
            results.append((out, *torch.autograd.grad(out.square().sum(), list(layer.parameters()))))
        for a, b in zip(*results):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_recurrent_dropout_is_off_and_zoneout_is_an_expectation_at_evaluation():
    plain = rnnkit.GRU(3, 4).eval()
    dropped = rnnkit.GRU(3, 4, recurrent_dropout=0.5).eval()
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(dropped(x)[0], plain(x)[0])
    dropped.train()
    assert not torch.allclose(dropped(x)[0], plain(x)[0])
    zoned = rnnkit.RNN(3, 4, zoneout=0.25).eval()
    out, _ = zoned(x)
    h = torch.zeros(2, 4)
    for t in range(5):  # h_t = p h_{t−1} + (1 − p) tanh(W x_t + U h_{t−1} + b)
        new = torch.tanh(x[t] @ zoned.weight_ih_l0.T + h @ zoned.weight_hh_l0.T + zoned.bias_ih_l0 + zoned.bias_hh_l0)
        h = 0.25 * h + 0.75 * new
        torch.testing.assert_close(out[t], h)


TORCH_MODULES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}


@pytest.mark.parametrize("kind", list(TORCH_MODULES))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_from_torch_matches_outputs_and_gradients(kind, bidirectional):
    theirs = TORCH_MODULES[kind](4, 6, num_layers=2, bidirectional=bidirectional)
    ours = getattr(rnnkit, kind).from_torch(theirs)
    x = torch.randn(7, 3, 4)
    hx = state_of(ours, 3, torch.float32)
    hx = hx if kind == "LSTM" else hx[0]
    results = []
    for layer in (theirs, ours):
        xi = x.clone().requires_grad_()
        out, state = layer(xi, hx)
        state = state if isinstance(state, tuple) else (state,)
        loss = (out**2).sum() + sum((s * 0.5).sum() for s in state)
        results.append((out, *state, *torch.autograd.grad(loss, [xi, *layer.parameters()])))
    assert len(results[0]) == len(results[1])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", list(TORCH_MODULES))
def test_lengths_equal_packed_sequences(kind):
    theirs = TORCH_MODULES[kind](3, 4, num_layers=2, bidirectional=True, batch_first=True)
    ours = getattr(rnnkit, kind).from_torch(theirs)
    x = torch.randn(3, 4, 3)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out_p, state_p = theirs(packed)
    out_p, _ = pad_packed_sequence(out_p, batch_first=True, total_length=4)
    out, state = ours(x, lengths=torch.tensor(LENGTHS))  # a tensor, unsorted
    torch.testing.assert_close(out, out_p, atol=1e-6, rtol=1e-5)
    for a, b in zip(state if kind == "LSTM" else (state,), state_p if kind == "LSTM" else (state_p,)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_unbatched_input_and_state():
    layer = rnnkit.GRU(3, 4, num_layers=2)
    x, h0 = torch.randn(5, 3), torch.randn(2, 4)
    out, h = layer(x, h0)
    out_b, h_b = layer(x.unsqueeze(1), h0.unsqueeze(1))
    assert out.shape == (5, 4) and h.shape == (2, 4)
    torch.testing.assert_close(out, out_b.squeeze(1))
    torch.testing.assert_close(h, h_b.squeeze(1))


@pytest.mark.parametrize("kind, batch_first", [("LSTM", False), ("GRU", True), ("RNN", False)])
def test_step_by_step_equals_whole_sequence(kind, batch_first):
    layer = getattr(rnnkit, kind)(3, 5, num_layers=2, batch_first=batch_first)
    x = torch.randn(4, 6, 3) if batch_first else torch.randn(6, 4, 3)
    out, final = layer(x)
    state, steps = None, []
    for t in range(6):
        y, state = layer.step(x[:, t] if batch_first else x[t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, dim=1 if batch_first else 0), out)
    for a, b in zip(state if kind == "LSTM" else (state,), final if kind == "LSTM" else (final,)):
        torch.testing.assert_close(a, b)
    y, _ = layer.step(x[0, 0])  # unbatched (I,)
    assert y.shape == (5,)
    with pytest.raises(ValueError, match="bidirectional"):
        rnnkit.GRU(3, 5, bidirectional=True).step(x[0])


def test_engine_info_names_the_path_and_reference_warns():
    assert rnnkit.LSTM(3, 4).engine_info()["engine"] == "fast"
    with pytest.warns(UserWarning, match="reference engine"):
        layer = rnnkit.GRU(3, 4, engine="reference")
    assert "chosen by engine='reference'" in layer.engine_info()["reason"]


def test_dropout_only_between_layers_and_only_in_training():
    layer = rnnkit.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = torch.randn(6, 2, 3)
    layer.eval()
    torch.testing.assert_close(layer(x)[0], layer(x)[0])
    layer.train()
    assert not torch.equal(layer(x)[0], layer(x)[0])
    single = rnnkit.LSTM(3, 8, num_layers=1, dropout=0.5)  # nothing between layers: deterministic
    torch.testing.assert_close(single(x)[0], single(x)[0])


def test_forget_bias_and_chrono_initialisation():
    H = 5
    lstm = rnnkit.LSTM(3, H, forget_bias=2.0)
    b = lstm.bias_ih_l0 + lstm.bias_hh_l0
    torch.testing.assert_close(b[H : 2 * H], torch.full((H,), 2.0))
    cifg = rnnkit.LSTM(3, H, cifg=True, forget_bias=2.0)
    torch.testing.assert_close((cifg.bias_ih_l0 + cifg.bias_hh_l0)[:H], torch.full((H,), -2.0))
    chrono = rnnkit.LSTM(3, H, chrono_init=100, init="orthogonal")
    b = chrono.bias_ih_l0 + chrono.bias_hh_l0
    assert torch.all(b[H : 2 * H] >= 0) and torch.all(b[H : 2 * H] <= torch.log(torch.tensor(99.0)))
    torch.testing.assert_close(b[:H], -b[H : 2 * H])
    gru = rnnkit.GRU(3, H, chrono_init=50)
    bz = (gru.bias_ih_l0 + gru.bias_hh_l0)[H : 2 * H]
    assert torch.all(bz >= 0) and bz.std() > 0


def test_orthogonal_recurrent_weights_per_gate():
    lstm = rnnkit.LSTM(3, 6, init="orthogonal")
    for block in lstm.weight_hh_l0.detach().split(6):
        torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)
    assert torch.all(lstm.bias_ih_l0[:6] == 0)


@pytest.mark.parametrize(
    "build, call, message",
    [
        (lambda: rnnkit.LSTM(3, 4), lambda m: m(torch.randn(2, 3, 4, 5)), "3-D"),
        (lambda: rnnkit.LSTM(3, 4), lambda m: m(torch.randn(2, 3, 5)), "input_size=3"),
        (lambda: rnnkit.GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=[3, -1]), "lengths"),
        (lambda: rnnkit.GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=[3, 6]), "lengths"),
        (lambda: rnnkit.GRU(3, 4), lambda m: m(torch.randn(5, 2, 3), lengths=[3]), "one length per sequence"),
        (lambda: rnnkit.RNN(3, 4), lambda m: m(torch.randn(5, 2, 3), torch.randn(1, 3, 4)), "h_0"),
        (lambda: rnnkit.LSTM(3, 4), lambda m: m(torch.randn(5, 2, 3), torch.randn(1, 2, 4)), "2 tensor"),
        (lambda: rnnkit.LSTM(3, 4), lambda m: m(torch.zeros(5, 2, 3, dtype=torch.long)), "floating-point"),
        (lambda: rnnkit.LSTM(3, 4, peepholes=True), None, "unknown option.*peepholes"),
        (lambda: rnnkit.LSTM(3, 4, activation="relu"), None, "activation"),
        (lambda: rnnkit.RNN(3, 4, nonlinearity="gelu"), None, "nonlinearity"),
        (lambda: rnnkit.GRU(3, 0), None, "hidden_size"),
        (lambda: rnnkit.GRU(3, 4, dropout=1.5), None, "dropout"),
        (lambda: rnnkit.LSTM(3, 4, recurrent_dropout=-0.1), None, "recurrent_dropout"),
        (lambda: rnnkit.RNN(3, 4, zoneout=1.0), None, "zoneout"),
        (lambda: rnnkit.GRU(3, 4, engine="turbo"), None, "engine"),
        (lambda: rnnkit.GRU(3, 4, init="he"), None, "init"),
        (lambda: rnnkit.LSTM(3, 4, chrono_init=2), None, "chrono_init"),
        (lambda: rnnkit.LSTM(3, 4, bias=False, chrono_init=20), None, "bias"),
        (lambda: rnnkit.LSTM.from_torch(torch.nn.LSTM(3, 4, proj_size=2)), None, "proj_size"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_problem(build, call, message):
    with pytest.raises(ValueError, match=message):
        layer = build()
        call(layer)


def test_layers_are_drop_in_for_torch_names():
    ours = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    ours.load_state_dict(theirs.state_dict())  # state dicts are interchangeable
