"""The contract between the trainer and a task (language model, classifier, forecaster, ...).

A task owns its model and its data. The model is called as ``model(x, y, state)`` and returns
``(output, loss, state)``: ``loss`` is the mean loss over the targets in ``y`` (a scalar
tensor; ``y=None`` means no loss is wanted), ``state`` the recurrent state after the last step
(any nesting of tensors, tuples and lists; ``None`` means a zero state). Tensors are
batch-first, time on dimension 1, so the trainer can cut a batch into truncated-BPTT chunks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

import torch
from torch import nn


@dataclass
class Batch:
    """One batch: inputs x (B, T, ...), targets y (B, T, ...), and whether it starts new sequences.

    ``reset=True`` starts the batch from a zero state (a new document or an independent set of
    sequences); ``reset=False`` continues the state carried from the previous batch (stateful
    streaming of a long text or series as contiguous rows).
    """

    x: torch.Tensor
    y: torch.Tensor
    reset: bool = True
    count: int | None = None  # targets the mean loss is over, if not y.numel() (padded batches); 0: none


T = TypeVar("T")


def share(rows: Sequence[T], rank: int, world: int) -> tuple[list[T], bool]:
    """Rank `rank`'s disjoint share of one global batch's `rows` (every world-th), and whether it
    counts. A global batch of fewer rows than processes leaves some ranks none: they take the first
    row and must weigh it 0 (Batch.count = 0), so that every rank still runs every update."""
    part = list(rows[rank::world])
    return (part, True) if part else (list(rows[:1]), False)


class Task(Protocol):
    """What the trainer needs from a task."""

    @property
    def model(self) -> nn.Module:
        """The model the trainer optimises (read-only here, so a task may declare a subclass)."""
        ...

    def train_batches(self, epoch: int, rank: int, world: int) -> Iterable[Batch]:
        """This rank's share (`share`) of every training batch of `epoch`, the same every time it is
        asked: with `world` processes each global batch is split among them, so the run takes the
        steps that one process takes, and every rank makes the same number of updates. `count` weighs
        a share in the global batch's mean loss."""
        ...

    def eval_batches(self, split: str) -> Iterable[Batch]:
        """All batches of `split` ("val" or "test"), in a fixed order."""
        ...

    def meta(self) -> dict:
        """JSON-serialisable facts saved with every checkpoint (vocabulary, scaler, model config)."""
        ...


@runtime_checkable
class ScoredTask(Protocol):
    """A task with a val metric to maximise (accuracy, F1): the trainer keeps the `best` weights, and
    stops early, by it instead of by the val loss (which can rise while the metric still improves)."""

    def val_score(self) -> float:
        """The metric of the current model on the val split (higher is better)."""
        ...
