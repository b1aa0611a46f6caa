"""Optimisers by name, learning-rate schedules, gradient clipping, penalties and weight noise."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import nn

from rnnkit.train.config import TrainConfig


def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig) -> torch.optim.Optimizer:
    """The torch.optim optimiser named by cfg.optimizer, with its hyper-parameters from cfg."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, eps=cfg.eps, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, weight_decay=cfg.weight_decay)


class Schedule:
    """The learning rate at each update: cfg.lr x warm-up x decay (step, cosine or plateau).

    Its only mutable state (the plateau and step-decay factors) is in `state_dict()`, plain JSON.
    """

    def __init__(self, cfg: TrainConfig, total_steps: int):
        self.cfg, self.total_steps = cfg, total_steps
        self.factor = 1.0  # accumulated step/plateau decay
        self.best = math.inf  # plateau: best validation loss so far
        self.bad_evals = 0  # plateau: evaluations since it improved

    def lr(self, step: int, elapsed: float = 0.0) -> float:
        """Learning rate for update number `step` (0-based) after `elapsed` seconds of training.

        cosine: lr(p) = min_lr + (lr - min_lr) (1 + cos(pi p)) / 2, with progress p the larger of
        step / total_steps and elapsed / max_time (whichever budget is set), so a run bounded by a
        wall-clock budget also ends annealed.
        """
        cfg = self.cfg
        warm = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
        if cfg.schedule == "cosine" and (self.total_steps > 0 or cfg.max_time > 0):
            progress = min(
                1.0,
                max(
                    step / self.total_steps if self.total_steps else 0.0,
                    elapsed / cfg.max_time if cfg.max_time else 0.0,
                ),
            )
            return cfg.min_lr + (cfg.lr - cfg.min_lr) * warm * 0.5 * (1 + math.cos(math.pi * progress))
        return cfg.lr * warm * self.factor

    def end_epoch(self, epoch: int) -> None:
        """char-rnn's step decay: after every epoch >= decay_after_epoch (epochs count from 1)."""
        if self.cfg.schedule == "step" and epoch + 1 >= self.cfg.decay_after_epoch:
            self.factor *= self.cfg.decay_rate

    def observe(self, val_loss: float) -> None:
        """Reduce-on-plateau: scale by plateau_factor after plateau_patience evaluations without a new best."""
        if self.cfg.schedule != "plateau":
            return
        if val_loss < self.best:
            self.best, self.bad_evals = val_loss, 0
            return
        self.bad_evals += 1
        if self.bad_evals >= self.cfg.plateau_patience:
            self.factor *= self.cfg.plateau_factor
            self.bad_evals = 0

    def state_dict(self) -> dict:
        return {"factor": self.factor, "best": self.best, "bad_evals": self.bad_evals}

    def load_state_dict(self, state: dict) -> None:
        self.factor, self.best, self.bad_evals = state["factor"], state["best"], state["bad_evals"]


def weight_matrices(model: nn.Module) -> Iterator[nn.Parameter]:
    """Parameters with two or more dimensions (weights, embeddings), not biases; shared ones once."""
    return (p for p in model.parameters() if p.dim() >= 2)


def penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor | float:
    """l1 * sum |w| + l2 / 2 * sum w^2 over the weight matrices (0.0 when both are off)."""
    total: torch.Tensor | float = 0.0
    for w in weight_matrices(model):
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + 0.5 * l2 * w.pow(2).sum()
    return total


def add_weight_noise(model: nn.Module, std: float) -> list[torch.Tensor]:
    """Adds N(0, std^2) noise to every weight matrix in place; returns the noise to remove later."""
    noise = []
    with torch.no_grad():
        for w in weight_matrices(model):
            n = torch.randn_like(w) * std
            w.add_(n)
            noise.append(n)
    return noise


def remove_weight_noise(model: nn.Module, noise: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for w, n in zip(weight_matrices(model), noise, strict=True):
            w.sub_(n)


def global_norm(tensors: list[torch.Tensor]) -> float:
    """The L2 norm of all `tensors` taken together."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors])).item()


def clip_gradients(params: list[nn.Parameter], clip_norm: float, clip_value: float) -> float:
    """Clamps gradients element-wise to [-clip_value, clip_value] (if set), then rescales them to a
    global norm <= clip_norm (if set). Returns the global norm before the norm clipping (inf or nan
    if any gradient is non-finite, in which case nothing is changed)."""
    grads = [p.grad for p in params if p.grad is not None]
    norm = global_norm(grads)
    if not math.isfinite(norm):
        return norm
    if clip_value:
        for g in grads:
            g.clamp_(-clip_value, clip_value)
        norm = global_norm(grads)
    if clip_norm and norm > clip_norm:
        for g in grads:
            g.mul_(clip_norm / (norm + 1e-6))
    return norm
