"""Classification of numeric sequences (many-to-one over real-valued frames: sensors, audio or video
features): standardised frames → linear projection → recurrent layers (lengths from the padding) →
pooling → linear, i.e. text classification's model (rnnkit.tasks.classify) with frames for words;
an ensemble of such networks trained side by side, their class probabilities averaged.

Shape letters: B = sequences, T = frames (padded), C = channels, K = classes, M = members.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.labelled import stratified_folds, stratified_split
from rnnkit.data.sequences import read_sequences
from rnnkit.tasks.base import RecurrentConfig, checkpoint_dir
from rnnkit.tasks.classify import POOLINGS, ClassifyConfig, TextClassifierNet, score_probs
from rnnkit.train import checkpoint
from rnnkit.train.config import Rule, TrainConfig, at_least, one_of
from rnnkit.train.task import Batch, share

Splits = dict[str, tuple[list[np.ndarray], list[str]]]
# The trainer's defaults (SequenceClassifier and `rnnkit classify train --data X.ts`): small data
# sets, many short epochs, early stopping on the carved validation split (see benchmarks/seqclass.py).
TRAIN_DEFAULTS = {
    "max_epochs": 300,
    "patience": 40,
    "plateau_patience": 5,
    "lr": 1e-3,
    "ema": 0.99,
    "log_every": 1000,
    "run_dir": "runs/seqclass",
}


@dataclass
class SeqClassConfig(RecurrentConfig):
    """The sequence classifier and its data."""

    data: str = ""
    """Training sequences: .ts (UEA/sktime), long-format .csv or .npz (see rnnkit.data.sequences)."""
    test: str = ""
    """Test sequences; "" = the file named like data with TRAIN -> TEST if it exists, else test_frac of data."""
    val_frac: float = 0.2
    """Validation share carved (stratified) from the training file, unless cross-fitted."""
    test_frac: float = 0.2
    """Test share carved (stratified) from data when there is no test file."""
    split_seed: int = 0
    """Seed of the stratified carving; independent of the training seed."""
    cell: str = "gru"
    """Recurrent cell: lstm | gru | rnn."""
    embed_size: int = 64
    """Each standardised frame is projected linearly to this size."""
    fcn: int = 128
    """Channels c of a convolutional branch beside the recurrent one (LSTM-FCN, Karim et al. 2018): the
    standardised frames through three blocks conv → batch norm → ReLU of (c, width 8), (2c, 5), (c, 3),
    averaged over the frames and concatenated to the pooled recurrent vector (0: none)."""
    hidden_size: int = 64
    """Units per direction of the recurrent layers."""
    bidirectional: bool = True
    """Read each sequence both ways (the pooled vector is 2H wide)."""
    pooling: str = "max"
    """How the outputs become one vector: last | mean | max | meanmax (mean ⊕ max, 2× wide) | thirds
    (the means of the first, middle and last third of the frames, concatenated: 3× wide) | attention."""
    dropout: float = 0.2
    """Dropout on the projected frames and on the pooled vector (none between recurrent layers)."""
    noise: float = 0.1
    """Sd of Gaussian noise added to the standardised frames in training (augmentation)."""
    offset: float = 0.2
    """Sd of a Gaussian offset per training sequence and channel, the same on all its frames
    (augmentation: a sensor's bias, a recording channel's colouring of cepstra)."""
    warp: float = 0.0
    """Each epoch, each training sequence of T frames is resampled (linear interpolation) to
    round(T·u) frames, u ~ U(1 − warp, 1 + warp) (augmentation; 0: none)."""
    batch_size: int = 16
    """Sequences per update."""
    members: int = 5
    """Networks trained side by side from different initial weights; the prediction is the mean of
    their class probabilities (early stopping on the ensemble's validation loss)."""
    cross_fit: bool = True
    """With members > 1: the training file is dealt into `members` stratified folds, member m trains
    on all folds but m and is validated on fold m (early stopping on the members' held-out loss), so
    every sequence trains the ensemble; off: one val_frac split validates every member."""

    rules: ClassVar[dict[str, Rule]] = {
        "pooling": one_of(*POOLINGS),
        "embed_size": at_least(1),
        "fcn": at_least(0),
        "batch_size": at_least(1),
        "noise": at_least(0),
        "offset": at_least(0),
        "warp": at_least(0),
        "members": at_least(1),
    }

    @property
    def folds(self) -> int:
        """Folds of the cross-fitted ensemble: members, or 0 (one val_frac split validates them all)."""
        return self.members if self.cross_fit and self.members > 1 else 0

    def check(self) -> None:
        super().check()
        if self.warp >= 1:
            raise ValueError(f"warp must be below 1, got {self.warp}")
        if not (0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise ValueError(
                f"val_frac and test_frac must be in (0, 1) with a sum below 1, got {self.val_frac} and {self.test_frac}"
            )


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d of (B, E, T) whose batch statistics are each channel's mean and variance over the
    counted frames only (by default the valid ones; padding is neither counted nor changed: it stays 0)."""

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None, counted: torch.Tensor | None = None):
        """x (B, E, T); valid (B, 1, T): 1 for a frame, 0 for padding; counted (B, 1, T): the frames
        of the batch statistics (default: valid; fewer than 2: the running statistics normalise)."""
        assert valid is not None and self.running_mean is not None and self.running_var is not None
        counted = valid if counted is None else counted
        n = counted.sum()
        if not self.training or n < 2:
            running = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
            return running * valid
        mean = (x * counted).sum((0, 2)) / n
        var = ((x - mean[:, None]) ** 2 * counted).sum((0, 2)) / n
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum or 0.1)
            self.running_var.lerp_(var * n / (n - 1), self.momentum or 0.1)
        scale = self.weight / torch.sqrt(var + self.eps)
        return ((x - mean[:, None]) * scale[:, None] + self.bias[:, None]) * valid


class ConvBranch(nn.Module):
    """The FCN of Wang et al. (2017) over the valid frames: three blocks h ← ReLU(BN(conv(h))) of
    (c, width 8), (2c, 5), (c, 3), 'same' padding with zeros beyond each end, then the mean over the frames."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        shapes = [(channels, width, 8), (width, 2 * width, 5), (2 * width, width, 3)]
        self.widths = [k for _, _, k in shapes]
        self.convs = nn.ModuleList(nn.Conv1d(c_in, c_out, k) for c_in, c_out, k in shapes)
        self.norms = nn.ModuleList(MaskedBatchNorm(c_out) for _, c_out, _ in shapes)

    def forward(self, frames: torch.Tensor, valid: torch.Tensor, counted: torch.Tensor | None = None) -> torch.Tensor:
        """(B, c) for frames (B, C, T) zero at padding, valid (B, 1, T), and counted, the frames of the
        batch norms' statistics (default: valid)."""
        h = frames
        for k, conv, norm in zip(self.widths, self.convs, self.norms, strict=True):
            h = F.relu(norm(conv(F.pad(h, ((k - 1) // 2, k // 2))), valid, counted))
        return h.sum(2) / valid.sum(2).clamp(min=1)


class FrameClassifier(TextClassifierNet):
    """TextClassifierNet whose embedding is a linear projection of each frame (C → embed_size), the
    frames jittered with Gaussian noise (sd ``noise``) in training; with ``fcn``, a ConvBranch's vector
    beside the pooled recurrent one."""

    def __init__(self, channels: int, num_classes: int, cfg: SeqClassConfig):
        text_cfg = ClassifyConfig(
            **{
                **cfg.recurrent(),
                "embed_size": cfg.embed_size,
                "pooling": cfg.pooling,
                "bidirectional": cfg.bidirectional,
            }
        )
        super().__init__(1, num_classes, text_cfg)
        self.embed = nn.Linear(channels, cfg.embed_size)
        self.noise, self.offset = cfg.noise, cfg.offset
        self.conv = ConvBranch(channels, cfg.fcn) if cfg.fcn else None
        if cfg.fcn:
            self.head = nn.Linear(self.head.in_features + cfg.fcn, num_classes)

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, state=None, held_out=None):
        """(logits (B, K), mean cross-entropy or None, None) for x (B, T, C + 1): the standardised
        frames, then 1 for a frame and 0 for padding; targets (B, 1); held_out (B,) bool: sequences
        left out of the batch norms' statistics."""
        frames, lengths = x[..., :-1], x[..., -1].sum(1).long()
        if self.training and self.noise:
            frames = frames + self.noise * torch.randn_like(frames) * x[..., -1:]
        if self.training and self.offset:
            frames = frames + self.offset * torch.randn_like(frames[:, :1]) * x[..., -1:]
        out, h_n = self.rnn(self.drop(self.embed(frames)), lengths=lengths)
        pooled = self.pool(out, h_n[0] if isinstance(h_n, tuple) else h_n, lengths)
        if self.conv is not None:
            valid = x[..., -1:].transpose(1, 2)  # (B, 1, T)
            counted = None if held_out is None else valid * ~held_out[:, None, None]
            pooled = torch.cat([pooled, self.conv(frames.transpose(1, 2), valid, counted)], 1)
        logits = self.head(self.drop(pooled))
        loss = None if targets is None else F.cross_entropy(logits, targets[:, 0])
        return logits, loss, None


class FrameEnsemble(nn.Module):
    """``members`` FrameClassifiers trained side by side, each on its own cross-entropy; the
    ensemble's class probabilities are the mean of theirs, p = (1/M) Σ_m softmax(z_m). A sequence
    of fold m (cross-fitting) is held out of member m: left out of its loss, scored by it alone."""

    def __init__(self, channels: int, num_classes: int, cfg: SeqClassConfig):
        super().__init__()
        self.members = nn.ModuleList(FrameClassifier(channels, num_classes, cfg) for _ in range(cfg.members))

    def forward(self, x: torch.Tensor, targets: torch.Tensor | None = None, state=None):
        """(log p (B, K), loss or None, None) for x as FrameClassifier reads it; targets (B, 1) the
        classes, or (B, 2) the classes and each sequence's fold (−1: none). Training: the mean over
        members of member m's cross-entropy on the sequences not of fold m. Evaluation: log p of
        member m for a sequence of fold m (its held-out prediction), else the ensemble's, and the
        loss −log p(target). A sequence of fold m is out of member m's batch-norm statistics too."""
        fold = torch.full((len(x),), -1, device=x.device) if targets is None or targets.shape[1] < 2 else targets[:, 1]
        log_ps = torch.stack([F.log_softmax(member(x, held_out=fold == m)[0], -1)
                              for m, member in enumerate(self.members)])  # fmt: skip
        log_p = log_ps.logsumexp(0) - math.log(len(self.members))  # (M, B, K) → (B, K)
        if targets is None:
            return log_p, None, None
        if self.training:
            nll = -log_ps.gather(2, targets[None, :, :1].expand(len(log_ps), -1, 1))[..., 0]  # (M, B)
            kept = (fold[None] != torch.arange(len(log_ps))[:, None]).to(nll.dtype)
            return log_p, ((nll * kept).sum(1) / kept.sum(1).clamp(min=1)).mean(), None
        held = log_ps[fold.clamp(min=0), torch.arange(len(fold))]
        log_p = torch.where((fold >= 0)[:, None], held, log_p)
        return log_p, F.nll_loss(log_p, targets[:, 0]), None


class Standardizer:
    """Per-channel (x − mean) / std, the statistics of every frame of the training split."""

    def __init__(self, mean: list[float], std: list[float]):
        self.mean, self.std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)

    @classmethod
    def fit(cls, samples: list[np.ndarray]) -> Standardizer:
        frames = np.concatenate(samples).astype(np.float64)
        std = frames.std(0)
        return cls(frames.mean(0).tolist(), np.where(std > 0, std, 1.0).tolist())

    def batch(self, samples: list[np.ndarray]) -> torch.Tensor:
        """(B, T, C + 1) standardised frames zero-padded after each end, with the validity channel."""
        if any(s.ndim != 2 or s.shape[1] != len(self.mean) for s in samples):
            raise ValueError(f"every sequence must be an array (T, {len(self.mean)}) of {len(self.mean)} channels")
        if any(len(s) == 0 for s in samples):
            raise ValueError("a sequence has no frames")
        x = np.zeros((len(samples), max(len(s) for s in samples), len(self.mean) + 1), dtype=np.float32)
        for b, s in enumerate(samples):
            x[b, : len(s), :-1] = (s - self.mean) / self.std
            x[b, : len(s), -1] = 1.0
        return torch.from_numpy(x)

    def to_json(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


def resample(s: np.ndarray, length: int) -> np.ndarray:
    """(length, C): the frames of s (T, C) linearly interpolated at `length` evenly spaced times."""
    grid, t = np.linspace(0, 1, length), np.linspace(0, 1, len(s))
    return np.stack([np.interp(grid, t, s[:, c]) for c in range(s.shape[1])], 1).astype(s.dtype)


def test_file(path: str) -> str:
    """The file named like ``path`` with TRAIN → TEST (or train → test), if it exists; else ""."""
    name = Path(path).name
    for old, new in (("TRAIN", "TEST"), ("train", "test")):
        if old in name and (Path(path).with_name(name.replace(old, new))).is_file():
            return str(Path(path).with_name(name.replace(old, new)))
    return ""


def split_sequences(cfg: SeqClassConfig) -> Splits:
    """{"train" | "val" | "test": (samples, labels)}: val carved stratified from cfg.data; test from
    cfg.test or the TEST twin of cfg.data, else carved too."""
    if not cfg.data:
        raise ValueError("give the training sequences: --data FILE (.ts, long-format .csv or .npz)")
    test_path = cfg.test or test_file(cfg.data)
    splits = carve(*read_sequences(cfg.data), cfg, has_test=bool(test_path))
    if test_path:
        splits["test"] = read_sequences(test_path)
    return splits


def carve(samples: list[np.ndarray], labels: list[str], cfg: SeqClassConfig, has_test: bool) -> Splits:
    """{"train"[, "val"][, "test"]}: val (unless the ensemble is cross-fitted) and, without a test set
    of its own, test carved stratified."""
    names = sorted(set(labels))
    index = stratified_split(
        [names.index(y) for y in labels],
        0.0 if cfg.folds else cfg.val_frac,
        0.0 if has_test else cfg.test_frac,
        cfg.split_seed,
    )
    index = {split: idx for split, idx in index.items() if split == "train" or idx}
    return {split: ([samples[i] for i in idx], [labels[i] for i in idx]) for split, idx in index.items()}


class SequenceClassificationTask:
    """Labelled numeric sequences, standardised with the training split's statistics, in batches;
    cross-fitted (cfg.folds), the val split is the train split, each sequence marked with its fold."""

    def __init__(self, cfg: SeqClassConfig, splits: Splits | None = None):
        self.cfg = cfg
        self.data = dict(split_sequences(cfg) if splits is None else splits)
        if cfg.folds:
            if "val" in self.data:
                raise ValueError("a cross-fitted ensemble validates on folds of the train split: give no val split")
            self.data["val"] = self.data["train"]
        sizes = {split: len(labels) for split, (_, labels) in self.data.items()}
        if min(sizes.values()) == 0:
            raise ValueError(f"{cfg.data or 'the data'}: an empty split ({sizes})")
        self.labels = sorted(set(self.data["train"][1]))
        if len(self.labels) < 2:
            raise ValueError(f"{cfg.data or 'the data'}: one class only; a classifier needs at least two")
        for split, (_, labels) in self.data.items():
            unknown = sorted(set(labels) - set(self.labels))
            if unknown:
                raise ValueError(f"{split} label(s) {', '.join(map(repr, unknown))} are not among the training labels")
        channels = {s.shape[1] for samples, _ in self.data.values() for s in samples}
        if len(channels) != 1:
            raise ValueError(f"the splits' sequences have different channel counts ({sorted(channels)})")
        self.scaler = Standardizer.fit(self.data["train"][0])
        self.model = FrameEnsemble(channels.pop(), len(self.labels), cfg)
        train_labels = self.data["train"][1]
        self.fold = [-1] * len(train_labels)  # each train sequence's fold (−1: not cross-fitted)
        if cfg.folds:
            indices = stratified_folds([self.labels.index(y) for y in train_labels], cfg.folds, cfg.split_seed)
            for m, fold in enumerate(indices):
                for i in fold:
                    self.fold[i] = m

    def _batch(self, split: str, rows: list[int], warp: np.random.Generator | None = None) -> Batch:
        """x as Standardizer.batch makes it (each sequence time-warped by `warp`'s draws if given);
        y (B, 2): each sequence's class and fold (−1 outside train/val)."""
        samples, labels = self.data[split]
        folds = self.fold if split in ("train", "val") else [-1] * len(labels)
        y = torch.tensor([[self.labels.index(labels[i]), folds[i]] for i in rows])
        chosen = [samples[i] for i in rows]
        if warp is not None:
            w = self.cfg.warp
            chosen = [resample(s, max(2, round(len(s) * warp.uniform(1 - w, 1 + w)))) for s in chosen]
        return Batch(self.scaler.batch(chosen), y, count=len(rows))

    def train_batches(self, epoch: int, rank: int, world: int):
        """Shuffled batches of the train split (the order fixed by epoch; the last may be smaller);
        each rank takes its share of each."""
        n, B = len(self.data["train"][1]), self.cfg.batch_size
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch)).tolist()
        # Warps drawn from (the trainer's seed, epoch, rank): the same after a resume.
        warp = np.random.default_rng([torch.initial_seed(), epoch, rank]) if self.cfg.warp else None
        for start in range(0, n, B):
            rows, counted = share(order[start : start + B], rank, world)
            batch = self._batch("train", rows, warp)
            batch.count = batch.count if counted else 0
            yield batch

    def eval_batches(self, split: str):
        n = len(self.data[split][1])
        return [self._batch(split, list(range(s, min(s + 256, n)))) for s in range(0, n, 256)]

    def meta(self) -> dict:
        return {
            "task": "seqclass",
            "labels": self.labels,
            "scaler": self.scaler.to_json(),
            "seqclass": dataclasses.asdict(self.cfg),
        }


class SequenceClassifier:
    """``SequenceClassifier(hidden_size=64).fit(samples, labels)`` (a list of (T_i, C) arrays and their
    labels, or a path), then ``predict``, ``evaluate``, ``save`` and ``SequenceClassifier.load``."""

    def __init__(self, config: SeqClassConfig | None = None, train: TrainConfig | None = None, **fields):
        self.config = dataclasses.replace(config or SeqClassConfig(), **fields)
        self.train_config = train or TrainConfig(**TRAIN_DEFAULTS)
        self.model: FrameEnsemble | None = None
        self.scaler: Standardizer | None = None
        self.labels: list[str] = []

    def fit(self, data, labels: list | None = None, test: tuple | str | None = None) -> dict:
        """Trains on a path, or on samples with ``labels`` (val carved stratified unless cross-fitted;
        ``test`` a path or (samples, labels), else carved as well); returns the trainer's summary with
        the test split's metrics under "metrics"."""
        from rnnkit.train.loop import Trainer

        cfg = self.config
        if isinstance(data, (str, Path)):
            cfg = dataclasses.replace(
                cfg, data=str(data), test=str(test) if isinstance(test, (str, Path)) else cfg.test
            )
            splits = split_sequences(cfg)
        else:
            if labels is None or len(labels) != len(data):
                raise ValueError("give one label per sequence")
            samples = [np.asarray(s, dtype=np.float32) for s in data]
            splits = carve(samples, [str(y) for y in labels], cfg, has_test=test is not None)
        if test is not None and not isinstance(test, (str, Path)):
            splits["test"] = ([np.asarray(s, dtype=np.float32) for s in test[0]], [str(y) for y in test[1]])
        self.config = cfg
        task = SequenceClassificationTask(cfg, splits)
        summary = Trainer(task, self.train_config).fit()
        self.model, self.scaler, self.labels = task.model.eval(), task.scaler, task.labels
        summary["metrics"] = self.evaluate(*splits["test"])
        return summary

    @torch.no_grad()
    def predict_proba(self, samples) -> torch.Tensor:
        """Class probabilities (N, K) of (T_i, C) arrays (or of the sequences of a file)."""
        if self.model is None or self.scaler is None:
            raise ValueError("the classifier is not trained: call fit() or SequenceClassifier.load()")
        if isinstance(samples, (str, Path)):
            samples = read_sequences(samples)[0]
        samples = [np.asarray(s, dtype=np.float32) for s in samples]
        self.model.eval()
        return torch.cat([torch.softmax(self.model(self.scaler.batch(samples[s : s + 256]))[0], -1)
                          for s in range(0, len(samples), 256)])  # fmt: skip

    def predict(self, samples) -> list[str]:
        """The likeliest label of each sequence."""
        return [self.labels[k] for k in self.predict_proba(samples).argmax(-1).tolist()]

    def evaluate(self, samples, labels: list | None = None) -> dict:
        """classify's classification_metrics (accuracy, per-class P/R/F1, MCC, confusion) of labelled
        sequences, or of a file's."""
        if isinstance(samples, (str, Path)):
            samples, labels = read_sequences(samples)
        if labels is None:
            raise ValueError("give one label per sequence")
        return score_probs(self.predict_proba(samples), self.labels, [str(y) for y in labels])

    def save(self, path: str | Path) -> Path:
        """Writes the classifier (weights, labels, standardisation) as a checkpoint directory at ``path``."""
        if self.model is None or self.scaler is None:
            raise ValueError("the classifier is not trained: call fit() or SequenceClassifier.load()")
        path = Path(path)
        if path.exists():
            raise ValueError(f"{path} already exists; save elsewhere or remove it")
        meta = {
            "task": "seqclass",
            "labels": self.labels,
            "scaler": self.scaler.to_json(),
            "seqclass": dataclasses.asdict(self.config),
        }
        checkpoint.save(
            path,
            ("last",),
            self.model,
            torch.optim.SGD(self.model.parameters(), lr=1.0),
            None,
            {"step": 0, "meta": meta},
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> SequenceClassifier:
        """A classifier from a run directory (its best checkpoint, else its last) or a checkpoint directory."""
        path = checkpoint_dir(path)  # a run directory: its best, else its last
        meta = checkpoint.read_state(path, task="seqclass")["meta"]
        # saved before the convolutional branch or the offset augmentation existed: neither
        cfg = checkpoint.settings(SeqClassConfig, meta.get("seqclass"), path, earlier={"fcn": 0, "offset": 0.0})
        try:
            labels, scaler = [str(y) for y in meta["labels"]], Standardizer(**meta["scaler"])
        except (KeyError, TypeError, ValueError):
            raise checkpoint.CheckpointError(f"{path}: the saved labels or standardisation are malformed") from None
        model = FrameEnsemble(len(scaler.mean), len(labels), cfg)
        checkpoint.load(path, model)
        return cls.from_parts(model, scaler, labels, cfg)

    @classmethod
    def from_parts(
        cls, model: FrameEnsemble, scaler: Standardizer, labels: list[str], cfg: SeqClassConfig
    ) -> SequenceClassifier:
        """A classifier of a trained model (a SequenceClassificationTask's parts after training)."""
        classifier = cls(cfg)
        classifier.model, classifier.scaler, classifier.labels = model.eval(), scaler, labels
        return classifier
