"""Truncated BPTT against a hand-unrolled LSTM reference with explicit detach() at the cuts."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.tasks.lm import CharLM, LMConfig
from rnnkit.train import Batch, Trainer, TrainConfig
from rnnkit.train.tbptt import detach, forward_update, update_slices

V, B, T = 7, 3, 12


def make_model() -> CharLM:
    torch.manual_seed(0)
    return CharLM(V, LMConfig(embed_size=5, hidden_size=6, num_layers=1))


def reference_loss(model, x, y, state, cut, cut_graph=True):
    """Loss over steps >= cut of x (B, n), stepping an LSTM by hand; h and c detached at `cut`."""
    rnn = model.rnn
    h, c = (s[0] for s in state) if state is not None else (torch.zeros(x.shape[0], 6),) * 2
    losses = []
    for t in range(x.shape[1]):
        if t == cut and cut_graph:
            h, c = h.detach(), c.detach()
        gates = model.embed(x[:, t]) @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if t >= cut:
            losses.append(F.cross_entropy(model.head(h), y[:, t], reduction="none"))
    return torch.cat(losses).mean(), (h[None], c[None])


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
                      tbptt_forward=k1, tbptt_backward=k2, log_every=100)
    Trainer(OneBatchTask(model, x, y), cfg).fit()
    state = None
    for start in range(0, T, k1):
        loss, state = reference_loss(reference, x[:, start:start + k1], y[:, start:start + k1], state, cut=k1 - k2)
        for p, g in zip(reference.parameters(), grads(reference, loss)):
            p.data -= 0.5 * g
        state = detach(state)
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
