"""Truncated BPTT against a hand-unrolled LSTM reference with explicit detach() at the cuts."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.tasks.lm import CharLM, LMConfig
from rnnkit.train import Batch, TrainConfig, Trainer
from rnnkit.train.tbptt import (
    detach,
    forward_update,
    update_slices,
    window_update,
    windows,
)

V, B, T = 7, 3, 12


def make_model() -> CharLM:
    torch.manual_seed(0)
    return CharLM(V, LMConfig(embed_size=5, hidden_size=6, num_layers=1))


def reference_loss(model, x, y, state, cut, cut_graph=True, score_from=None, keep_at=None):
    """Loss over steps >= cut of x (B, n), stepping an LSTM by hand; h and c detached at `cut`.
    With score_from, only steps >= score_from are scored (the graph still reaches back to `cut`);
    with keep_at, the state after keep_at steps is returned instead of the final one."""
    rnn = model.rnn
    zeros = torch.zeros(x.shape[0], 6, dtype=rnn.weight_hh_l0.dtype)
    h, c = (s[0] for s in state) if state is not None else (zeros, zeros)
    losses, kept = [], None
    score_from = cut if score_from is None else score_from
    for t in range(x.shape[1]):
        if t == keep_at:
            kept = (h[None], c[None])
        if t == cut and cut_graph:
            h, c = h.detach(), c.detach()
        gates = model.embed(x[:, t]) @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if t >= score_from:
            losses.append(F.cross_entropy(model.head(h), y[:, t], reduction="none"))
    return torch.cat(losses).mean(), kept if kept is not None else (h[None], c[None])


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


def data():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, V, (B, T), generator=g), torch.randint(0, V, (B, T), generator=g)


def test_k1_equal_k2_equal_T_is_exactly_full_bptt():
    model, (x, y) = make_model(), data()
    full = grads(model, F.cross_entropy(model(x)[0].reshape(-1, V), y.reshape(-1)))
    truncated = grads(model, forward_update(model, x, y, None, k2=T)[0])
    reference = grads(model, reference_loss(model, x, y, None, cut=0)[0])
    for a, b, r in zip(full, truncated, reference, strict=True):
        assert torch.equal(a, b)
        assert torch.allclose(a, r, atol=1e-6)


@pytest.mark.parametrize("k2", [1, 4, 11])
def test_k2_below_k1_is_the_gradient_with_a_detach_at_the_cut(k2):
    model, (x, y) = make_model(), data()
    torch.manual_seed(5)
    carried = (torch.randn(1, B, 6), torch.randn(1, B, 6))  # a state carried from an earlier update
    loss, state = forward_update(model, x, y, carried, k2=k2)
    ref_loss, ref_state = reference_loss(model, x, y, carried, cut=T - k2)
    assert torch.allclose(loss, ref_loss, atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(state, ref_state))
    ref_grads = grads(model, ref_loss)
    for a, r in zip(grads(model, loss), ref_grads, strict=True):
        assert torch.allclose(a, r, atol=1e-6)
    # the cut matters: the same loss without the detach has another recurrent-weight gradient
    uncut_loss = reference_loss(model, x, y, carried, cut=T - k2, cut_graph=False)[0]
    assert not torch.allclose(ref_grads[2], grads(model, uncut_loss)[2], atol=1e-4)


def test_update_slices_cover_the_batch_in_k1_steps():
    assert list(update_slices(10, 4)) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert list(update_slices(10, 0)) == [slice(0, 10)]


def test_detach_keeps_structure_and_cuts_the_graph():
    w = torch.ones(2, requires_grad=True)
    state = detach(((w * 2, w * 3), [w], None))
    assert isinstance(state, tuple) and isinstance(state[0], tuple) and isinstance(state[1], list)
    assert not state[0][0].requires_grad and state[2] is None


class OneBatchTask:
    def __init__(self, model, x, y):
        self.model, self.x, self.y = model, x, y

    def train_batches(self, epoch, rank, world):
        return [Batch(self.x, self.y, reset=True)]

    def eval_batches(self, split):
        return []

    def meta(self):
        return {}


@pytest.mark.parametrize("k1,k2", [(4, 4), (6, 2)])
def test_trainer_updates_match_the_reference_with_the_state_carried_and_detached(tmp_path, k1, k2):
    """SGD over a 12-step batch in updates of k1 steps equals the hand reference, update by update."""
    model, (x, y) = make_model(), data()
    reference = make_model()
    cfg = TrainConfig(run_dir=str(tmp_path), threads=1, optimizer="sgd", lr=0.5, clip_norm=0, max_epochs=1,
                      tbptt_forward=k1, tbptt_backward=k2, tbptt_style="dl4j", log_every=100)
    Trainer(OneBatchTask(model, x, y), cfg).fit()
    state = None
    for start in range(0, T, k1):
        loss, state = reference_loss(reference, x[:, start:start + k1], y[:, start:start + k1], state, cut=k1 - k2)
        for p, g in zip(reference.parameters(), grads(reference, loss)):
            p.data -= 0.5 * g
        state = detach(state)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_sutskever_windows_score_every_target_once():
    plan = list(windows(12, 4, 6))
    assert plan == [(0, 0, 4, 2), (2, 4, 8, 6), (6, 8, 12, 12)]
    for k1, k2, n in ((4, 4, 12), (3, 7, 11), (5, 9, 23), (2, 5, 9), (4, 0, 10), (0, 0, 7)):
        plan = list(windows(n, k1, k2))
        assert [t for _, s, e, _ in plan for t in range(s, e)] == list(range(n))  # each target once
        assert all(e - w <= max(k1, k2) or not k1 for w, _, e, _ in plan)
        assert all(w <= nxt <= e for w, _, e, nxt in plan)


@pytest.mark.parametrize("new,advance", [(4, 3), (3, 5), (4, 8), (4, 0), (8, 8), (3, 1)])
def test_window_update_is_the_hand_unrolled_gradient_in_float64(new, advance):
    """Loss of the last `new` steps of an 8-step window, back-propagated through all 8, equals the
    hand-unrolled LSTM's in float64; the state handed on is the one after `advance` steps."""
    model, (x, y) = make_model().double(), data()
    x, y = x[:, :8], y[:, :8]
    torch.manual_seed(5)
    carried = (torch.randn(1, B, 6, dtype=torch.float64), torch.randn(1, B, 6, dtype=torch.float64))
    loss, state = window_update(model, x, y, carried, new, advance)
    ref_loss, ref_state = reference_loss(model, x, y, carried, cut=0, score_from=8 - new, keep_at=advance)
    assert torch.allclose(loss, ref_loss, rtol=1e-12, atol=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(state, ref_state))
    for a, r in zip(grads(model, loss), grads(model, ref_loss), strict=True):
        assert torch.allclose(a, r, rtol=1e-10, atol=1e-12)


def test_dl4j_update_is_the_hand_unrolled_gradient_in_float64():
    model, (x, y) = make_model().double(), data()
    loss, _ = forward_update(model, x, y, None, k2=5)
    ref_loss, _ = reference_loss(model, x, y, None, cut=T - 5)
    for a, r in zip(grads(model, loss), grads(model, ref_loss), strict=True):
        assert torch.allclose(a, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k1,k2", [(4, 4), (4, 6), (3, 8), (5, 5)])
def test_trainer_sutskever_matches_the_hand_reference_update_by_update(tmp_path, k1, k2):
    """SGD with TBPTT(k1, k2): every k1 new steps, their loss back-propagated through the last k2
    steps from the state carried (computed with the weights before the update), by hand."""
    model, (x, y) = make_model().double(), data()
    reference = make_model().double()
    cfg = TrainConfig(run_dir=str(tmp_path), threads=1, optimizer="sgd", lr=0.5, clip_norm=0, max_epochs=1,
                      tbptt_forward=k1, tbptt_backward=k2, log_every=100, schedule="constant")
    Trainer(OneBatchTask(model, x, y), cfg).fit()
    state, w = None, 0  # the state at the start w of the current window
    for s in range(0, T, k1):
        e = min(s + k1, T)
        w = max(0, e - k2)
        nxt = max(0, min(e + k1, T) - k2) if e < T else T
        loss, kept = reference_loss(reference, x[:, w:e], y[:, w:e], state, cut=0, score_from=s - w, keep_at=nxt - w)
        for p, g in zip(reference.parameters(), grads(reference, loss)):
            p.data -= 0.5 * g
        state = detach(kept)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-10)


def test_config_checks_each_convention():
    with pytest.raises(ValueError, match="tbptt-style dl4j"):
        TrainConfig(tbptt_forward=32, tbptt_backward=16)
    with pytest.raises(ValueError, match="<= tbptt_forward"):
        TrainConfig(tbptt_forward=16, tbptt_backward=32, tbptt_style="dl4j")
    TrainConfig(tbptt_forward=16, tbptt_backward=32)


def test_long_batches_are_chunked_and_the_log_says_so(tmp_path):
    model, (x, y) = make_model(), data()
    cfg = TrainConfig(run_dir=str(tmp_path), threads=1, max_epochs=2, long_sequence=5, log_every=100)
    trainer = Trainer(OneBatchTask(model, x, y), cfg)
    summary = trainer.fit()
    assert trainer.steps_per_epoch == 3 and summary["step"] == 6  # ceil(12 / 5) windows per batch
    assert summary["stopped"] == "max_epochs"
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert any('"kind": "chunking"' in r and '"longest": 12' in r for r in rows)
    cfg = TrainConfig(run_dir=str(tmp_path / "b"), threads=1, max_steps=1, long_sequence=0)
    trainer = Trainer(OneBatchTask(make_model(), x, y), cfg)
    assert trainer.steps_per_epoch == 1 and trainer.fit()["stopped"] == "max_steps"
