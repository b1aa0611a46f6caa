"""Text classification (many-to-one): a recurrent encoder read out by pooling, then a softmax.

Shape letters: B = batch, T = tokens (padded), E = embedding size, H = hidden size,
D = directions, C = classes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.labelled import (
    TokenVocab,
    bundled_sms_spam,
    pad_batch,
    read_classification,
    stratified_split,
    tokenize,
)
from rnnkit.tasks.base import IN_MEMORY, RecurrentConfig, TaskModel, build_recurrent
from rnnkit.train import checkpoint
from rnnkit.train.config import Rule, at_least, one_of
from rnnkit.train.task import Batch

POOLINGS = ("last", "mean", "max", "meanmax", "thirds", "attention")


@dataclass
class ClassifyConfig(RecurrentConfig):
    """The classifier and its data."""

    data: str = ""
    """A .tsv/.csv file of labelled texts, a folder of class sub-folders, or one file per class
    (--data given once per file); "" = the bundled SMS Spam Collection."""
    encoding: str = "utf-8"
    """Encoding of the data files (a UTF-8 or UTF-16 byte-order mark is detected); e.g. latin-1, cp1252."""
    text_col: str = "1"
    """The text column: a 0-based number (no header row) or a name (header row)."""
    label_col: str = "0"
    """The label column: a 0-based number (no header row) or a name (header row)."""
    level: str = "word"
    """Tokens: word | char."""
    digits: str = "keep"
    """keep | zero: every digit read as 0, so unseen numbers share a shape (08712300220 -> 00000000000)."""
    min_freq: int = 2
    """Words seen fewer times in the training split map to <unk>."""
    max_tokens: int = 200
    """Longer texts are cut to their first max_tokens tokens."""
    embed_size: int = 64
    """Embedding size (E)."""
    hidden_size: int = 64
    bidirectional: bool = True
    """Read each text both ways (the pooled vector is 2H wide)."""
    pooling: str = "attention"
    """How the outputs become one vector: last | mean | max | meanmax (mean ⊕ max, 2× wide) | thirds
    (the means of the first, middle and last third of the steps, concatenated: 3× wide) | attention."""
    dropout: float = 0.3
    """Dropout on the embeddings and on the pooled vector (none between recurrent layers)."""
    batch_size: int = 32
    """Texts per update."""
    val_frac: float = 0.1
    """Validation fraction, carved from the training side."""
    test_frac: float = 0.3
    """Held-out test fraction: a fixed stratified 70/30 train/test split, as the SMS spam benchmark."""
    split_seed: int = 0
    """Seed of the stratified split; independent of the training seed."""

    rules: ClassVar[dict[str, Rule]] = {
        "level": one_of("word", "char"),
        "digits": one_of("keep", "zero"),
        "pooling": one_of(*POOLINGS),
        **{name: at_least(1) for name in ("min_freq", "max_tokens", "embed_size", "batch_size")},
    }

    def check(self) -> None:
        super().check()
        if not (0 < self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 1):
            raise ValueError(
                f"val_frac and test_frac must be in (0, 1) with a sum below 1, got {self.val_frac} and {self.test_frac}"
            )


class TextClassifierNet(nn.Module):
    """Embedding → dropout → recurrent layers (lengths from the padding) → pooling → dropout → linear."""

    def __init__(self, vocab_size: int, num_classes: int, cfg: ClassifyConfig):
        super().__init__()
        self.pooling = cfg.pooling
        self.embed = nn.Embedding(vocab_size, cfg.embed_size, padding_idx=0)
        self.rnn = build_recurrent(cfg, cfg.embed_size, bidirectional=cfg.bidirectional, dropout=0.0)
        width = cfg.hidden_size * (2 if cfg.bidirectional else 1)
        if cfg.pooling == "attention":  # score_t = vᵀ tanh(A o_t)
            self.attend = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1, bias=False))
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(width * {"meanmax": 2, "thirds": 3}.get(cfg.pooling, 1), num_classes)

    def forward(self, ids: torch.Tensor, targets: torch.Tensor | None = None, state=None):
        """(logits (B, C), mean cross-entropy or None, None) for padded ids (B, T); targets (B, 1)."""
        lengths = (ids != 0).sum(1)  # (B,)
        out, h_n = self.rnn(self.drop(self.embed(ids)), lengths=lengths)  # (B, T, D·H)
        pooled = self.pool(out, h_n[0] if isinstance(h_n, tuple) else h_n, lengths)  # (B, D·H)
        logits = self.head(self.drop(pooled))
        loss = None if targets is None else F.cross_entropy(logits, targets[:, 0])
        return logits, loss, None

    def pool(self, out: torch.Tensor, h_n: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector per sequence: the last state (each direction's), or a masked mean, max, both
        concatenated (meanmax: [mean ⊕ max], 2·D·H wide), the means of thirds or attention."""
        valid = (torch.arange(out.shape[1], device=out.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        if self.pooling == "last":  # h_n's last layer: forward at its length-1, backward at step 0
            return h_n[-2:].transpose(0, 1).flatten(1) if self.rnn.bidirectional else h_n[-1]
        if self.pooling in ("mean", "max", "meanmax"):  # padded outputs are 0 (the recurrent layers' contract)
            mean = out.sum(1) / lengths.clamp(min=1)[:, None]
            top = out.masked_fill(~valid, -math.inf).amax(1).nan_to_num(neginf=0.0)
            return {"mean": mean, "max": top, "meanmax": torch.cat([mean, top], 1)}[self.pooling]
        if self.pooling == "thirds":
            return thirds(out, lengths)
        scores = self.attend(out).masked_fill(~valid, -math.inf)  # (B, T, 1)
        weights = torch.softmax(scores, dim=1).nan_to_num()  # an empty text attends to nothing
        return (weights * out).sum(1)


def thirds(out: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """(B, 3·F): the mean of out (B, T, F) over each third of a sequence's L steps, [start ⊕ middle ⊕
    end]; step t is in third ⌊3t / L⌋, and a third with no step (L < 3) takes step ⌊(k + ½)·L / 3⌋."""
    L = lengths.clamp(min=1)[:, None, None]  # (B, 1, 1)
    t = torch.arange(out.shape[1], device=out.device)[None, None, :]  # (1, 1, T)
    k = torch.arange(3, device=out.device)[None, :, None]  # (1, 3, 1)
    member = (3 * t // L == k) & (t < L)  # (B, 3, T)
    member |= ~member.any(2, keepdim=True) & (t == (2 * k + 1) * L // 6)
    weights = member.to(out.dtype)
    return torch.bmm(weights / weights.sum(2, keepdim=True), out).flatten(1)


def split_texts(cfg: ClassifyConfig) -> dict[str, tuple[list[str], list[str]]]:
    """{"train" | "val" | "test": (texts, labels)}: ``cfg.data`` split stratified with ``cfg.split_seed``."""
    return split_labelled(
        *read_classification(cfg.data or bundled_sms_spam(), cfg.text_col, cfg.label_col, cfg.encoding), cfg
    )


def split_labelled(texts: list[str], labels: list[str], cfg: ClassifyConfig) -> dict[str, tuple[list[str], list[str]]]:
    """{"train" | "val" | "test": (texts, labels)}: split stratified as ``cfg`` says."""
    names = sorted(set(labels))
    index = stratified_split([names.index(y) for y in labels], cfg.val_frac, cfg.test_frac, cfg.split_seed)
    return {split: ([texts[i] for i in idx], [labels[i] for i in idx]) for split, idx in index.items()}


def text_tokens(text: str, cfg: ClassifyConfig) -> list[str]:
    """The tokens a classifier reads from a text: its level and digit setting, cut to max_tokens."""
    return tokenize(text, cfg.level, zero_digits=cfg.digits == "zero")[: cfg.max_tokens]


def encode_texts(texts: list[str], vocab: TokenVocab, cfg: ClassifyConfig) -> list[list[int]]:
    return [vocab.encode(text_tokens(t, cfg)) for t in texts]


class ClassificationTask:
    """Labelled texts split 60/10/30 (stratified, seeded), tokenised, batched with padding.

    ``splits`` ({"train" | "val" | "test": (texts, labels)}) replaces the split of ``cfg.data``, as
    cross-validation does."""

    def __init__(self, cfg: ClassifyConfig, splits: dict[str, tuple[list[str], list[str]]] | None = None):
        self.cfg = cfg
        self.data = split_texts(cfg) if splits is None else splits
        sizes = {split: len(texts) for split, (texts, _) in self.data.items()}
        if min(sizes.values()) == 0 or sizes["train"] < cfg.batch_size:
            raise ValueError(
                f"{cfg.data or 'the data'}: too few rows to split into train/val/test "
                f"({sizes}) with batch_size {cfg.batch_size}"
            )
        self.labels = sorted(set(self.data["train"][1] + self.data["val"][1] + self.data["test"][1]))
        min_freq = cfg.min_freq if cfg.level == "word" else 1
        train_tokens = [text_tokens(t, cfg) for t in self.data["train"][0]]
        self.vocab = TokenVocab.build(train_tokens, min_freq)
        self.encoded = {
            split: (encode_texts(texts, self.vocab, cfg), torch.tensor([self.labels.index(y) for y in labels]))
            for split, (texts, labels) in self.data.items()
        }  # fmt: skip
        self.model = TextClassifierNet(len(self.vocab), len(self.labels), cfg)

    def _batch(self, split: str, rows: list[int]) -> Batch:
        ids, y = self.encoded[split]
        return Batch(pad_batch([ids[i] for i in rows]), y[rows][:, None], reset=True)

    def train_batches(self, epoch: int, rank: int, world: int):
        """Shuffled full batches of the train split (the order fixed by epoch); each rank takes its rows."""
        if self.cfg.batch_size % world:
            raise ValueError(
                f"batch_size ({self.cfg.batch_size}) must be divisible by the number of processes ({world})"
            )
        B, share = self.cfg.batch_size, self.cfg.batch_size // world
        ids, generator = self.encoded["train"][0], torch.Generator().manual_seed(epoch)
        order = torch.randperm(len(ids), generator=generator).tolist()
        # Bucketing: sorted by length within groups of 16 batches, so a batch carries little padding.
        order = [
            i for g in range(0, len(order), 16 * B) for i in sorted(order[g : g + 16 * B], key=lambda i: len(ids[i]))
        ]
        batches = [order[start : start + B] for start in range(0, len(order) - B + 1, B)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield self._batch("train", batches[b][rank * share : (rank + 1) * share])

    def eval_batches(self, split: str):
        n = len(self.encoded[split][0])
        return [self._batch(split, list(range(s, min(s + 256, n)))) for s in range(0, n, 256)]

    def meta(self) -> dict:
        return {
            "task": "classify",
            "vocab": self.vocab.to_json(),
            "labels": self.labels,
            "classify": dataclasses.asdict(self.cfg),
        }


def load_ensemble(paths: list[str]) -> list[TextClassifier]:
    """Several saved classifiers of the same labels, read together as one (see `predict_mean`)."""
    members = [TextClassifier.load(path) for path in paths]
    if not members:
        raise ValueError("give at least one checkpoint")
    for path, member in zip(paths[1:], members[1:]):
        if member.labels != members[0].labels:
            raise checkpoint.CheckpointError(
                f"{path}: its labels {member.labels} differ from {paths[0]}'s {members[0].labels}"
            )
    return members


def shared_test_split(members: list[TextClassifier]) -> tuple[list[str], list[str]]:
    """The held-out test split of the members' data, which they must all have split alike (else a
    ValueError: one member's test texts could be another's training texts)."""
    first = members[0].config
    split = [(f, getattr(first, f)) for f in ("data", "text_col", "label_col", "val_frac", "test_frac", "split_seed")]
    for member in members[1:]:
        differ = [
            f"{f} {getattr(member.config, f)!r} vs {value!r}"
            for f, value in split
            if getattr(member.config, f) != value
        ]
        if differ:
            raise ValueError(
                f"the checkpoints split their data differently ({', '.join(differ)}); "
                "give --data FILE to score them on one file"
            )
    return members[0].test_split()


def predict_mean(members: list[TextClassifier], texts: list[str]) -> torch.Tensor:
    """The mean of the members' class probabilities (N, C): an ensemble, each member reading the
    texts with its own tokens."""
    return torch.stack([member.predict_proba(texts) for member in members]).mean(0)


@torch.no_grad()
def predict(model: TextClassifierNet, vocab: TokenVocab, cfg: ClassifyConfig, texts: list[str]) -> torch.Tensor:
    """Class probabilities (N, C) for raw texts, 256 at a time."""
    model.eval()
    probs = [torch.softmax(model(pad_batch(encode_texts(texts[s : s + 256], vocab, cfg)))[0], dim=-1)
             for s in range(0, len(texts), 256)]  # fmt: skip
    return torch.cat(probs)


def classification_metrics(y_true: torch.Tensor, y_pred: torch.Tensor, num_classes: int) -> dict:
    """Accuracy, per-class precision/recall/F1, Matthews correlation (Gorodkin's K-class form), confusion.

    `confusion[i][j]` counts examples of true class i predicted as j.
    """
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((y_true, y_pred), torch.ones_like(y_true), accumulate=True)
    c = confusion.double()
    tp, predicted, actual, n = c.diag(), c.sum(0), c.sum(1), c.sum()
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), 0.0)
    recall = torch.where(actual > 0, tp / actual.clamp(min=1), 0.0)
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0.0)
    cov = tp.sum() * n - (predicted * actual).sum()
    denom = math.sqrt((n * n - (predicted * predicted).sum()) * (n * n - (actual * actual).sum()))
    return {
        "accuracy": (tp.sum() / n).item(),
        "precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist(),
        "mcc": (cov / denom).item() if denom > 0 else 0.0,
        "confusion": confusion.tolist(),
    }  # fmt: skip


def score_probs(probs: torch.Tensor, labels: list[str], true_labels: list[str]) -> dict:
    """classification_metrics of the likeliest label of each row of `probs` (N, C) against label names."""
    unknown = sorted(set(true_labels) - set(labels))
    if unknown:
        raise ValueError(f"label(s) {', '.join(map(repr, unknown))} were not among the training labels {labels}")
    y_true = torch.tensor([labels.index(y) for y in true_labels])
    return classification_metrics(y_true, probs.argmax(-1), len(labels))


def labelled_pairs(data) -> tuple[list[str], list[str]]:
    """(texts, labels) of labelled texts given in memory as (text, label) pairs."""
    if not isinstance(data, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
        raise TypeError("give labelled texts as a path or a list of (text, label) pairs")
    texts, labels = [str(t) for t, _ in data], [str(y) for _, y in data]
    if len(set(labels)) < 2:
        raise ValueError("a classifier needs at least two labels")
    return texts, labels


class TextClassifier(TaskModel):
    """A text classifier: fit on labelled texts, evaluate (accuracy, F1, MCC, confusion), predict labels.
    Data: a path (see ClassifyConfig.data) or a list of (text, label) pairs.

        clf = TextClassifier(hidden_size=32)
        clf.fit([("free prize now", "spam"), ("see you at noon", "ham"), ...], max_epochs=3)
        clf.predict(["win a free prize"])  # ["spam"]
    """

    name = "classify"
    config_class = ClassifyConfig
    config: ClassifyConfig
    vocab: TokenVocab
    labels: list[str]

    def make_task(self, data=None) -> ClassificationTask:
        cfg = self.with_data(data)
        splits = None if data is None or isinstance(data, (str, Path)) else split_labelled(*labelled_pairs(data), cfg)
        return ClassificationTask(cfg, splits)

    def adopt(self, task: ClassificationTask) -> None:
        self.model, self.vocab, self.labels = task.model, task.vocab, task.labels

    @classmethod
    def from_meta(cls, meta: dict, path) -> TextClassifier:
        obj = cls(cls.saved_config(meta, path))
        labels = meta.get("labels")
        if not (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(y, str) for y in labels)):
            raise checkpoint.CheckpointError(f"{path}: the saved labels are not a list of at least two names")
        obj.vocab, obj.labels = TokenVocab.from_json(meta.get("vocab")), labels
        obj.model = TextClassifierNet(len(obj.vocab), len(labels), obj.config)
        return obj

    def test_split(self) -> tuple[list[str], list[str]]:
        """(texts, labels) held out for testing from the data the model was trained on."""
        if self.task is not None:
            return self.task.data["test"]
        if self.config.data == IN_MEMORY:
            raise ValueError("this classifier was trained on texts given in memory: give labelled texts to evaluate")
        return split_texts(self.config)["test"]

    def predict_proba(self, texts: list[str]) -> torch.Tensor:
        """Class probabilities (N, C), columns in the order of `labels`."""
        return predict(cast(TextClassifierNet, self._require_model()), self.vocab, self.config, list(texts))

    def predict(self, texts: list[str]) -> list[str]:
        """The likeliest label of each text."""
        return [self.labels[i] for i in self.predict_proba(texts).argmax(-1).tolist()]

    def evaluate(self, data: str | Path | list[tuple[str, str]] | None = None) -> dict:
        """classification_metrics on a labelled file (read with the config's columns), on (text, label)
        pairs, or (None) on the held-out test split of the training data."""
        if data is None:
            texts, truth = self.test_split()
        elif isinstance(data, (str, Path)):
            texts, truth = read_classification(data, self.config.text_col, self.config.label_col, self.config.encoding)
        else:
            texts, truth = labelled_pairs(data)
        return score_probs(self.predict_proba(texts), self.labels, truth)
