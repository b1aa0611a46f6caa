"""Tests of rnnkit.train.optim and rnnkit.train.config: optimisers, schedules, clipping, penalties."""

import math

import pytest
import torch
from torch import nn

from rnnkit.train.config import TrainConfig, build_configs
from rnnkit.train.optim import Schedule, add_weight_noise, clip_gradients, make_optimizer, penalty, remove_weight_noise


@pytest.mark.parametrize("name,cls,check", [
    ("sgd", torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ("rmsprop", torch.optim.RMSprop, {"alpha": 0.95, "momentum": 0.9}),
    ("adagrad", torch.optim.Adagrad, {"eps": 1e-6}),
    ("adam", torch.optim.Adam, {"betas": (0.8, 0.99)}),
    ("adamw", torch.optim.AdamW, {"weight_decay": 0.1}),
])
def test_optimizers_by_name_get_their_hyper_parameters(name, cls, check):
    cfg = TrainConfig(optimizer=name, lr=0.01, momentum=0.9, nesterov=name == "sgd", alpha=0.95, eps=1e-6,
                      beta1=0.8, beta2=0.99, weight_decay=0.1)
    opt = make_optimizer([nn.Parameter(torch.ones(2))], cfg)
    assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.01
    for key, value in check.items():
        assert opt.param_groups[0][key] == value


def test_clip_by_value_clamps_each_element_then_by_norm_rescales():
    p = nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([3.0, -4.0, 0.5])
    assert clip_gradients([p], clip_norm=0, clip_value=1.0) == pytest.approx(math.sqrt(2.25))
    assert torch.equal(p.grad, torch.tensor([1.0, -1.0, 0.5]))
    q = nn.Parameter(torch.zeros(2))
    p.grad, q.grad = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 4.0])
    assert clip_gradients([p, q], clip_norm=1.0, clip_value=0) == pytest.approx(5.0)
    assert torch.allclose(torch.cat([p.grad, q.grad]), torch.tensor([0.6, 0, 0, 0, 0.8]), atol=1e-6)


def test_non_finite_gradient_is_reported_and_left_alone():
    p = nn.Parameter(torch.zeros(2))
    p.grad = torch.tensor([float("nan"), 1.0])
    assert math.isnan(clip_gradients([p], clip_norm=1.0, clip_value=0.5))
    assert p.grad[1] == 1.0


def test_penalties_apply_to_weight_matrices_only():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, -2.0], [0.0, 3.0]]))
        layer.bias.fill_(10.0)
    assert penalty(layer, l1=0.1, l2=0.0).item() == pytest.approx(0.6)
    assert penalty(layer, l1=0.0, l2=0.2).item() == pytest.approx(0.5 * 0.2 * 14)
    assert penalty(layer, 0.0, 0.0) == 0.0


def test_weight_noise_is_removed_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    before = [p.clone() for p in model.parameters()]
    noise = add_weight_noise(model, 0.1)
    assert not torch.equal(model[0].weight, before[0]) and torch.equal(model[0].bias, before[1])
    remove_weight_noise(model, noise)
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(model.parameters(), before))


def test_warmup_then_char_rnn_step_decay():
    s = Schedule(TrainConfig(lr=1.0, schedule="step", warmup_steps=4, decay_after_epoch=2, decay_rate=0.5), 100)
    assert [s.lr(i) for i in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    s.end_epoch(0)  # epoch 1 ends: no decay yet
    assert s.lr(10) == 1.0
    s.end_epoch(1)
    s.end_epoch(2)
    assert s.lr(10) == 0.25


def test_cosine_goes_from_lr_to_min_lr():
    s = Schedule(TrainConfig(lr=1.0, schedule="cosine", min_lr=0.1), total_steps=10)
    assert s.lr(0) == 1.0 and s.lr(5) == pytest.approx(0.55) and s.lr(10) == pytest.approx(0.1)


def test_plateau_reduces_after_patience_and_round_trips_its_state():
    s = Schedule(TrainConfig(lr=1.0, schedule="plateau", plateau_factor=0.5, plateau_patience=2), 0)
    for loss in (3.0, 2.0, 2.5, 2.1):
        s.observe(loss)
    assert s.lr(0) == 0.5
    t = Schedule(TrainConfig(lr=1.0, schedule="plateau"), 0)
    t.load_state_dict(s.state_dict())
    assert t.lr(0) == 0.5 and t.best == 2.0


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="optimizer must be one of sgd, rmsprop, adagrad, adam, adamw; got 'lbfgs'"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match=r"tbptt_backward \(8\) must be <= tbptt_forward \(4\) with tbptt_style dl4j"):
        TrainConfig(tbptt_forward=4, tbptt_backward=8, tbptt_style="dl4j")


def test_configs_from_toml_then_flags(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[train]\nlr = 1\noptimizer = "sgd"\nnesterov = true\n[other]\nx = 1\n')
    with pytest.raises(ValueError, match=r"unknown table \[other\]"):
        build_configs({"train": TrainConfig}, str(toml), [])
    toml.write_text('[train]\nlr = 1\noptimizer = "sgd"\nnesterov = true\n')
    cfg = build_configs({"train": TrainConfig}, str(toml), ["--lr", "0.5", "--no-nesterov", "--tensorboard",
                                                           "--tbptt-forward", "32"])["train"]
    assert (cfg.lr, cfg.optimizer, cfg.nesterov, cfg.tensorboard, cfg.tbptt_forward) == (0.5, "sgd", False, True, 32)
    with pytest.raises(ValueError, match="unknown option '--lrr'"):
        build_configs({"train": TrainConfig}, None, ["--lrr", "1"])
    with pytest.raises(ValueError, match="option --max-steps: expected int, got 'many'"):
        build_configs({"train": TrainConfig}, None, ["--max-steps", "many"])


def test_cosine_follows_the_time_budget_when_it_runs_out_first():
    s = Schedule(TrainConfig(lr=1.0, schedule="cosine", min_lr=0.1, max_time=100.0), total_steps=1000)
    assert s.lr(10, elapsed=50.0) == pytest.approx(0.55)  # half the time, 1% of the steps
    assert s.lr(500, elapsed=10.0) == pytest.approx(0.55)  # half the steps, 10% of the time
    assert s.lr(20, elapsed=100.0) == pytest.approx(0.1)
    timed_only = Schedule(TrainConfig(lr=1.0, schedule="cosine", min_lr=0.0, max_time=10.0), total_steps=0)
    assert timed_only.lr(0, elapsed=0.0) == 1.0 and timed_only.lr(3, elapsed=5.0) == pytest.approx(0.5)
