"""Tests of rnnkit.data.longrange and rnnkit.tasks.longrange: generators, losses, learning, CLI."""

import math

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.longrange import REBER, REBER_SYMBOLS, adding_problem, copy_memory, embedded_reber, reber_batch
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeTask, metrics
from rnnkit.train import TrainConfig, Trainer

runner = CliRunner()


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_hochreiter_adding_problem_statistics():
    T, n = 100, 4000
    x, lengths, target = adding_problem(n, T, gen())
    assert x.shape == (n, int(lengths.max()), 2)
    assert lengths.min() >= T and lengths.max() <= T + T // 10 and len(lengths.unique()) > 5
    markers = x[..., 1]
    assert ((markers == 1).sum(1) == 2).all()  # exactly two marked pairs
    positions = (markers == 1).nonzero()[:, 1].view(n, 2)  # ascending within each row
    assert (positions[:, 0] < 10).all() and (positions[:, 1] <= T // 2 - 2).all()
    rows = torch.arange(n)
    last = x[rows, lengths - 1, 1]
    assert (last == -1).all() and ((markers[:, 0] == -1) | (markers[:, 0] == 1)).all()
    assert (x[torch.arange(x.shape[1])[None] >= lengths[:, None]] == 0).all()  # nothing past the end
    marked_first = markers[:, 0] == 1
    assert marked_first.any() and (x[marked_first, 0, 0] == 0).all()  # X1 = 0 when the first pair is marked
    x1, x2 = x[rows, positions[:, 0], 0], x[rows, positions[:, 1], 0]
    assert torch.allclose(target, 0.5 + (x1 + x2) / 4)
    values = x[..., 0][torch.arange(x.shape[1])[None] < lengths[:, None]]
    assert values.min() >= -1 and values.max() <= 1 and abs(values.mean()) < 0.01


def test_tcn_adding_problem_statistics():
    x, lengths, target = adding_problem(3000, 50, gen(), variant="tcn")
    assert x.shape == (3000, 50, 2) and (lengths == 50).all()
    assert ((x[..., 1] == 1).sum(1) == 2).all() and ((x[..., 1] == 0) | (x[..., 1] == 1)).all()
    assert torch.allclose(target, (x[..., 0] * x[..., 1]).sum(1))
    assert target.var().item() == pytest.approx(1 / 6, abs=0.02)  # two U[0, 1]: variance 2/12


def test_copy_memory_layout_and_chance_loss():
    x, y = copy_memory(5, 30, gen())
    assert x.shape == y.shape == (5, 50)
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all() and (x[:, 10:39] == 0).all() and (x[:, 39:] == 9).all()
    assert (y[:, :40] == 0).all() and torch.equal(y[:, 40:], x[:, :10])
    # the memoryless baseline of Bai et al.: 10 ln 8 / (T + 20)
    assert 10 * math.log(8) / 1020 == pytest.approx(0.0204, abs=5e-5)


def reber_accepts(s: str) -> bool:
    state = 0
    for c in s:
        moves = dict(REBER[state]) if state != 7 else {}
        if c not in moves:
            return False
        state = moves[c]
    return state == 7


def test_embedded_reber_strings_are_grammatical_with_the_right_legal_sets():
    g = gen()
    strings = [embedded_reber(g) for _ in range(300)]
    for s, legal in strings:
        assert s[0] == "B" and s[1] in "TP" and s[-2] == s[1] and s[-1] == "E"
        assert reber_accepts(s[2:-2]) and len(legal) == len(s) - 1
        assert legal[-2] == {s[1]} and legal[0] == {"T", "P"}
        assert all(nxt in options for nxt, options in zip(s[1:], legal))
    assert {s[1] for s, _ in strings} == {"T", "P"}
    assert min(len(s) for s, _ in strings) == 9  # B T BTXSE T E: the outer symbols 6 steps apart
    x, y, steps = reber_batch(strings[:3])
    assert steps == sum(len(s) - 1 for s, _ in strings[:3])
    assert torch.equal(x[0, 0], torch.eye(7)[REBER_SYMBOLS.index("B")])
    assert (y[1, len(strings[1][0]) - 1 :] == -1).all()


def small_task(**kw):
    return LongRangeTask(LongRangeConfig(**{"hidden_size": 16, "batch_size": 64, "train_size": 64 * 50,
                                            "val_size": 256, "test_size": 256, **kw}))


def test_a_tiny_lstm_learns_the_adding_problem_at_T22(tmp_path):
    # Hochreiter's shortest valid length; the target's variance (the MSE of a constant guess) is ~0.04
    torch.manual_seed(0)
    task = small_task(task="adding", length=22)
    assert task.model(*[torch.cat(t) for t in zip(*[(b.x, b.y) for b in task.fixed["test"]])])[1].item() > 0.03
    summary = Trainer(task, TrainConfig(run_dir=str(tmp_path), max_epochs=4, lr=0.01, log_every=1000,
                                        threads=1)).fit()
    assert summary["test"] < 0.01
    assert metrics(task, "test")["loss"] == pytest.approx(summary["test"], rel=1e-5)


def test_losses_ignore_padding_and_copy_scores_every_step():
    torch.manual_seed(0)
    task = small_task(task="adding", length=40, batch_size=8)
    batch = task.fixed["val"][0]
    pred, loss, _ = task.model(batch.x, batch.y)
    x2 = batch.x.clone()
    x2[batch.y == -1] = 5.0  # garbage past each end
    assert torch.allclose(task.model(x2, batch.y)[1], loss)
    lengths = (batch.y != -1).sum(1)
    singles = torch.stack([task.model(batch.x[i : i + 1, : lengths[i]])[0][0] for i in range(8)])
    assert torch.allclose(pred, singles, atol=1e-5)
    copy = small_task(task="copy", length=10)
    b = copy.fixed["val"][0]
    logits, loss, _ = copy.model(b.x, b.y)
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(logits.reshape(-1, 10), b.y.reshape(-1)))


def test_cli_longrange_runs_and_rejects_bad_options(tmp_path):
    result = runner.invoke(app, ["longrange", "--task", "reber", "--cell", "gru", "--hidden-size", "8",
                                 "--train-size", "64", "--val-size", "32", "--test-size", "32",
                                 "--run-dir", str(tmp_path / "r"), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "reber" in result.output and "strings_correct" in result.output
    for args, message in ((["--task", "parity"], "'parity' is not one of 'adding', 'copy', 'reber'"),
                          (["--task", "adding", "--length", "10"], "length must be >= 22"),
                          (["--cell", "lstm", "--length", "x"], "--length"),
                          (["--chrono-init", "2"], "chrono_init must be 0 (off) or at least 3"),
                          (["--init", "he"], "'he' is not one of 'uniform', 'xavier', 'orthogonal'")):
        result = runner.invoke(app, ["longrange", *args, "--run-dir", str(tmp_path / "e")])
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output


def test_chrono_and_forget_bias_options_reach_the_keep_gates():
    H = 16
    torch.manual_seed(0)
    cfg = LongRangeConfig(cell="lstm", hidden_size=H, chrono_init=120, val_size=1, test_size=1)
    lstm = LongRangeTask(cfg).model.rnn
    b_i, b_f = lstm.bias_ih_l0[:H] + lstm.bias_hh_l0[:H], lstm.bias_ih_l0[H : 2 * H] + lstm.bias_hh_l0[H : 2 * H]
    assert (b_f >= 0).all() and (b_f <= math.log(119)).all() and b_f.std() > 0.3 and torch.equal(b_i, -b_f)
    gru = LongRangeTask(LongRangeConfig(cell="gru", hidden_size=H, chrono_init=50, val_size=1, test_size=1)).model.rnn
    b_z = gru.bias_ih_l0[H : 2 * H] + gru.bias_hh_l0[H : 2 * H]
    assert (b_z >= 0).all() and (b_z <= math.log(49)).all()
    plain = LongRangeTask(LongRangeConfig(cell="lstm", hidden_size=H, forget_bias=3.0, init="orthogonal",
                                          val_size=1, test_size=1)).model.rnn
    assert torch.allclose(plain.bias_ih_l0[H : 2 * H] + plain.bias_hh_l0[H : 2 * H], torch.full((H,), 3.0))
    U = plain.weight_hh_l0[:H]
    assert torch.allclose(U @ U.T, torch.eye(H), atol=1e-5)  # orthogonal recurrent blocks


def test_train_batches_are_fresh_each_epoch_and_shared_across_ranks():
    task = small_task(task="copy", length=5, batch_size=4, train_size=17)  # 5 batches, the last of 1
    whole, a, b = task.train_batches(0, 0, 1), task.train_batches(0, 0, 2), task.train_batches(0, 1, 2)
    assert len(whole) == len(a) == len(b) == 5
    for w, x, y in zip(whole[:4], a, b):  # rank r: rows r, r + 2, ... of every global batch
        assert torch.equal(w.x[0::2], x.x) and torch.equal(w.x[1::2], y.x) and x.count == y.count == x.y.numel()
    assert torch.equal(a[4].x, whole[4].x) and a[4].count == a[4].y.numel() and b[4].count == 0  # rank 1: weight 0
    assert not torch.equal(task.train_batches(1, 0, 1)[0].x, whole[0].x)
