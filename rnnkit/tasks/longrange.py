"""Long-range memory tasks for the trainer: the adding problem (regression at the last step), copy
memory (10-way classification at every step), the embedded Reber grammar (legal next symbols).

Shape letters: B = sequences, L = time steps, H = hidden size, C = output units.
Data are drawn afresh every epoch from seed + epoch; the val and test sets are fixed draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.longrange import (
    COPY_SYMBOLS,
    REBER_SYMBOLS,
    adding_problem,
    copy_memory,
    embedded_reber,
    reber_batch,
)
from rnnkit.data.music import PAD
from rnnkit.tasks.base import RecurrentConfig, build_recurrent
from rnnkit.tasks.music import bernoulli_nll, valid_lengths
from rnnkit.train.config import Rule, at_least, one_of
from rnnkit.train.task import Batch, share

TASKS = ("adding", "copy", "reber")
ADDING_TOLERANCE = 0.04  # Hochreiter & Schmidhuber 1997: a prediction is wrong if |error| > 0.04


# The trainer's defaults for these tasks: the whole sequence is one BPTT window (chunking a copy or
# adding sequence would cut the very dependency the task measures).
TRAIN_DEFAULTS = {"long_sequence": 0}


@dataclass
class LongRangeConfig(RecurrentConfig):
    """The task, its length, and the model."""

    task: str = "adding"
    """adding | copy | reber."""
    length: int = 100
    """T: the adding problem's minimal length, copy's blank stretch (the Reber length is random)."""
    variant: str = "hochreiter"
    """adding: hochreiter (1997) | tcn (Bai et al. 2018)."""
    hidden_size: int = 32
    batch_size: int = 32
    """Sequences per update."""
    train_size: int = 3200
    """Sequences per epoch (new ones every epoch)."""
    val_size: int = 512
    """Validation sequences (one fixed draw)."""
    test_size: int = 2560
    """Test sequences (one fixed draw; Hochreiter & Schmidhuber 1997 test 2,560 adding sequences)."""
    data_seed: int = 0
    """Seed of the drawn sequences."""

    rules: ClassVar[dict[str, Rule]] = {
        "task": one_of(*TASKS),
        "variant": one_of("hochreiter", "tcn"),
        **{name: at_least(1) for name in ("length", "batch_size", "train_size", "val_size", "test_size")},
    }

    def check(self) -> None:
        super().check()
        if self.task == "adding" and self.variant == "hochreiter" and self.length < 22:
            raise ValueError(f"length must be >= 22 for the Hochreiter adding problem, got {self.length}")


class LongRangeRNN(nn.Module):
    """Recurrent layers -> linear read-out; the loss depends on the task:

    adding: y (B, L) holds the target at every step of a sequence and PAD after its end; the
      output at the last valid step is the prediction; loss = mean squared error over sequences.
    copy: x (B, L) symbols (one-hot inside), y (B, L) classes; loss = cross-entropy over all steps.
    reber: x, y (B, L, 7) one-hot symbols and legal-next indicators (PAD after the end);
      loss = Bernoulli NLL summed over the 7 outputs, averaged over valid steps.
    """

    def __init__(self, cfg: LongRangeConfig):
        super().__init__()
        self.task = cfg.task
        inputs, outputs = {
            "adding": (2, 1),
            "copy": (COPY_SYMBOLS, COPY_SYMBOLS),
            "reber": (len(REBER_SYMBOLS), len(REBER_SYMBOLS)),
        }[cfg.task]
        self.rnn = build_recurrent(cfg, inputs)
        self.head = nn.Linear(cfg.hidden_size, outputs)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, state=None):
        """(outputs, loss or None, state); outputs are (B,) predictions for adding, else (B, L, C) logits."""
        if self.task == "copy":
            x = F.one_hot(x, COPY_SYMBOLS).float()
        lengths = None if y is None or self.task == "copy" else valid_lengths(y)
        out, state = self.rnn(x, state, lengths=lengths)  # (B, L, H)
        if self.task == "adding":
            last = (lengths - 1) if lengths is not None else torch.full((x.shape[0],), x.shape[1] - 1)
            pred = self.head(out[torch.arange(x.shape[0]), last]).squeeze(-1)  # (B,)
            loss = None if y is None else F.mse_loss(pred, y[:, 0])
            return pred, loss, state
        logits = self.head(out)  # (B, L, C)
        if y is None:
            return logits, None, state
        if self.task == "copy":
            return logits, F.cross_entropy(logits.reshape(-1, COPY_SYMBOLS), y.reshape(-1)), state
        total, steps = bernoulli_nll(logits, y)
        return logits, total / max(steps, 1), state


class LongRangeTask:
    """A synthetic long-range task for the trainer (see the trainer's Task)."""

    def __init__(self, cfg: LongRangeConfig):
        self.cfg = cfg
        self.model = LongRangeRNN(cfg)
        self.fixed = {
            "val": self._draw(cfg.val_size, cfg.data_seed + 1_000_003),
            "test": self._draw(cfg.test_size, cfg.data_seed + 2_000_003),
        }

    def _draw(self, n: int, seed: int, rank: int = 0, world: int = 1) -> list[Batch]:
        """n new sequences as batches of batch_size, of which rank `rank` of `world` keeps its share
        (train.task.share); `count` is what each batch's mean loss is over."""
        g, cfg = torch.Generator().manual_seed(seed), self.cfg
        batches = []
        for start in range(0, n, cfg.batch_size):
            b = min(cfg.batch_size, n - start)
            rows, counted = share(range(b), rank, world)
            if cfg.task == "adding":
                x, lengths, target = adding_problem(b, cfg.length, g, cfg.variant)
                y = torch.where(torch.arange(x.shape[1])[None] < lengths[:, None], target[:, None], PAD)
                batch = Batch(x[rows], y[rows], count=len(rows))
            elif cfg.task == "copy":
                x, y = copy_memory(b, cfg.length, g)
                batch = Batch(x[rows], y[rows], count=y[rows].numel())
            else:
                strings = [embedded_reber(g) for _ in range(b)]
                x, y, steps = reber_batch([strings[i] for i in rows])
                batch = Batch(x, y, count=steps)
            batch.count = batch.count if counted else 0
            batches.append(batch)
        return batches

    def train_batches(self, epoch: int, rank: int, world: int):
        """train_size new sequences drawn from data_seed + epoch; each rank takes its share of each batch."""
        return self._draw(self.cfg.train_size, self.cfg.data_seed + epoch, rank, world)

    def eval_batches(self, split: str):
        return self.fixed.get(split, [])

    def meta(self) -> dict:
        return {"task": "longrange", "longrange": dataclasses.asdict(self.cfg)}


@torch.no_grad()
def metrics(task: LongRangeTask, split: str) -> dict:
    """The task's figures on `split`: loss (as the trainer averages it) and
    adding: MSE and the fraction of sequences with |error| > 0.04;
    copy: accuracy over the 10 recalled digits;
    reber: the fraction of strings whose every step's legal next symbols are exactly the most active outputs."""
    model = task.model.eval()
    loss = hits = count = 0.0
    for batch in task.eval_batches(split):
        out, batch_loss, _ = model(batch.x, batch.y)
        n = batch.y.numel() if batch.count is None else batch.count
        loss += float(batch_loss) * n
        count += n
        if task.cfg.task == "adding":
            hits += float(((out - batch.y[:, 0]).abs() > ADDING_TOLERANCE).sum())
        elif task.cfg.task == "copy":
            hits += float((out[:, -10:].argmax(-1) == batch.y[:, -10:]).float().mean(1).sum())
        else:
            k = batch.y.clamp(min=0).sum(-1, keepdim=True)  # legal symbols per step (B, L, 1)
            rank = out.argsort(-1, descending=True).argsort(-1)  # rank of each output (B, L, C)
            right = ((rank < k) == (batch.y == 1)).all(-1) | (batch.y[..., 0] == PAD)  # (B, L)
            hits += float(right.all(1).sum())
    sequences = sum(b.x.shape[0] for b in task.eval_batches(split))
    name = {"adding": "wrong", "copy": "recall_accuracy", "reber": "strings_correct"}[task.cfg.task]
    return {"loss": loss / count, name: hits / sequences}
