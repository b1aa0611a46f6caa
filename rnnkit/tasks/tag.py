"""Sequence tagging (many-to-many: one tag per token), e.g. parts of speech or BIO named entities.

The tagger (Plank et al. 2016; Lample et al. 2016): each token is its lower-cased word embedding
(rare words, and a random ``word_dropout`` share in training, read as <unk>) concatenated with a
character-level bidirectional recurrent encoding of its spelling (the last forward and the first
backward state), so unseen words get a representation; a bidirectional recurrent layer stack reads
the tokens; a linear layer gives per-token tag scores, decoded independently (softmax) or jointly
by an optional CRF (rnnkit.crf). By default two such taggers are trained side by side (``members``)
and tag by the mean of their probabilities.

Shape letters: B = sentences, T = tokens (padded), L = characters per word (padded), U = distinct
spellings in a batch, K = tags.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.crf import CRF
from rnnkit.data.conll import Sentence, read_tagged
from rnnkit.data.labelled import TokenVocab
from rnnkit.data.music import length_batches as similar_length_batches
from rnnkit.data.text import read_text_file
from rnnkit.tasks.base import RecurrentConfig, build_recurrent, checkpoint_dir
from rnnkit.train import checkpoint
from rnnkit.train.config import Rule, TrainConfig, at_least, fraction
from rnnkit.train.task import Batch, share

SPAN_TAG = re.compile(r"^[BIES]-.+$")
# The trainer's defaults for tagging (Tagger and `rnnkit tag train`): the learning rate annealed
# (cosine) over 20 epochs, no wall-clock budget (so a loaded machine trains the same run, only
# slower), the weights of the best dev accuracy kept (TaggingTask.val_score), early stopping after
# 5 epochs without a gain of 0.01% of it (see benchmarks/tag.py).
TRAIN_DEFAULTS = {
    "max_epochs": 20,
    "patience": 5,
    "min_delta": 1e-4,
    "max_time": 0.0,
    "lr": 0.005,
    "schedule": "cosine",
    "log_every": 100,
    "run_dir": "runs/tag",
}


@dataclass
class TagConfig(RecurrentConfig):
    """The tagger and its data; the recurrent options (RecurrentConfig) apply to both the word and the
    character layers."""

    data: str = ""
    """Training file: CoNLL-U, or token TAB tag lines with a blank line after each sentence."""
    dev: str = ""
    """Dev file; "" = the file named like data with train -> dev if it exists, else 10% of data."""
    test: str = ""
    """Test file; "" = the file named like data with train -> test if it exists, else 10% of data."""
    column: str = "upos"
    """CoNLL-U column of the tags: a name (upos, xpos, deprel, ...) or a 0-based index."""
    split_seed: int = 0
    """Seed of the dev/test sentences carved from data when there are no such files."""
    hidden_size: int = 256
    """Units per direction of the word-level layers."""
    dropout: float = 0.33
    """Dropout on the token vectors, between the word-level layers and on their outputs."""
    embed_size: int = 100
    """Word embedding size."""
    min_freq: int = 2
    """Lower-cased words seen fewer times in training are <unk>."""
    word_dropout: float = 0.05
    """Share of training tokens read as <unk> (their characters are still read)."""
    word_dropout_alpha: float = 0.0
    """> 0: besides, a training token of a word seen n times reads as <unk> with probability
    alpha / (alpha + n) (Kiperwasser & Goldberg 2016), so rare words teach the character encoder."""
    char_embed_size: int = 32
    """Character embedding size."""
    char_hidden_size: int = 32
    """Units per direction of the character layer (one layer)."""
    max_word_chars: int = 24
    """Longer words keep their first and last max_word_chars/2 characters."""
    crf: bool = False
    """A CRF output layer: joint Viterbi decoding, consistent BIO spans."""
    members: int = 2
    """Taggers trained side by side from different initial weights, each on its own loss; a token's
    tag is the best of their mean tag probabilities (with crf: Viterbi over their mean scores)."""
    batch_size: int = 32
    """Sentences per batch, when batch_tokens is 0."""
    batch_tokens: int = 500
    """> 0: batches of about this many tokens (every token weighs the same in the loss)."""

    rules: ClassVar[dict[str, Rule]] = {
        **{name: at_least(1) for name in ("embed_size", "min_freq", "char_embed_size", "char_hidden_size",
                                          "max_word_chars", "batch_size")},
        "word_dropout": fraction(), "word_dropout_alpha": at_least(0), "batch_tokens": at_least(0),
        "members": at_least(1),
    }  # fmt: skip


class SequenceTagger(nn.Module):
    """Word embedding ⊕ character encoder → dropout → bidirectional layers → dropout → linear (→ CRF)."""

    unk_prob: torch.Tensor  # (words,) buffer: the probability that a training token of each word reads as <unk>

    def __init__(
        self, num_words: int, num_chars: int, num_tags: int, cfg: TagConfig, word_counts: torch.Tensor | None = None
    ):
        """word_counts (num_words,): training occurrences of each word id, for word_dropout_alpha."""
        super().__init__()
        # per word id, the probability that a training token reads as <unk>:
        # 1 - (1 - word_dropout) (1 - alpha / (alpha + n)) for a word seen n times
        rare = torch.zeros(num_words)
        if cfg.word_dropout_alpha and word_counts is not None:
            rare = cfg.word_dropout_alpha / (cfg.word_dropout_alpha + word_counts.double().clamp(min=1)).float()
        self.register_buffer("unk_prob", 1 - (1 - cfg.word_dropout) * (1 - rare), persistent=False)
        self.words = nn.Embedding(num_words, cfg.embed_size, padding_idx=0)
        self.chars = nn.Embedding(num_chars, cfg.char_embed_size, padding_idx=0)
        char_cfg = dataclasses.replace(cfg, hidden_size=cfg.char_hidden_size, num_layers=1)
        self.char_rnn = build_recurrent(char_cfg, cfg.char_embed_size, bidirectional=True)
        self.rnn = build_recurrent(cfg, cfg.embed_size + 2 * cfg.char_hidden_size, bidirectional=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(2 * cfg.hidden_size, num_tags)
        self.crf = CRF(num_tags) if cfg.crf else None

    def spell(self, chars: torch.Tensor) -> torch.Tensor:
        """(N, 2·Hc) encodings of character rows (N, L), each distinct spelling encoded once."""
        spellings, inverse = torch.unique(chars, dim=0, return_inverse=True)  # (U, L), (N,)
        lengths = (spellings != 0).sum(1)
        spellings = spellings[:, : max(1, int(lengths.max()))]
        _, h_n = self.char_rnn(self.chars(spellings), lengths=lengths)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n  # LSTM: (h, c)
        return h_n[-2:].transpose(0, 1).flatten(1)[inverse]  # forward at its end, backward at its start

    def forward(self, x: torch.Tensor, tags: torch.Tensor | None = None, state=None):
        """(tag scores (B, T, K), mean loss per token or None, None) for x (B, T, 1 + L): the word id
        then the character ids of each token (0 = padding); tags (B, T)."""
        words, mask = x[..., 0], x[..., 0] != 0
        if self.training:
            dropped = torch.rand(words.shape, device=words.device) < self.unk_prob[words]
            words = torch.where(dropped & mask, torch.ones_like(words), words)  # 1 = <unk>
        B, T = words.shape
        spelled = self.spell(x[..., 1:].reshape(B * T, -1)).view(B, T, -1)
        tokens = self.drop(torch.cat([self.words(words), spelled], dim=-1))
        out, _ = self.rnn(tokens, lengths=mask.sum(1))
        scores = self.head(self.drop(out))
        if tags is None:
            return scores, None, None
        if self.crf is not None:
            loss = self.crf.nll(scores, tags, mask).sum() / mask.sum()
        else:
            loss = F.cross_entropy(scores[mask], tags[mask])
        return scores, loss, None

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted tag ids (B, T) of x: Viterbi with a CRF, else each token's best score."""
        scores = self(x)[0]
        return self.crf.decode(scores, x[..., 0] != 0) if self.crf is not None else scores.argmax(-1)


class TaggerEnsemble(nn.Module):
    """``members`` SequenceTaggers trained side by side, each on its own loss. Without a CRF the
    ensemble's tag probabilities are the mean of theirs, p = (1/M) Σ_m softmax(s_m); with one, it
    decodes by Viterbi over the mean of their emission, start, end and transition scores."""

    def __init__(self, members: list[SequenceTagger]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.crfs = [member.crf for member in members if member.crf is not None]  # a plain list: theirs

    def forward(self, x: torch.Tensor, tags: torch.Tensor | None = None, state=None):
        """(scores (B, T, K), loss or None, None) for x as SequenceTagger reads it: log p, or with a
        CRF the mean emission scores; the loss is the members' mean loss in training (and with a CRF),
        the ensemble's −log p(tag) per token in evaluation."""
        outputs = [member(x, tags) for member in self.members]  # M × (scores (B, T, K), loss, None)
        if self.crfs:
            scores = torch.stack([scores for scores, _, _ in outputs]).mean(0)
        else:
            scores = torch.stack([F.log_softmax(s, -1) for s, _, _ in outputs]).logsumexp(0) - math.log(len(outputs))
        if tags is None:
            return scores, None, None
        if self.training or self.crfs:
            return scores, torch.stack([loss for _, loss, _ in outputs]).mean(), None
        mask = x[..., 0] != 0
        return scores, F.nll_loss(scores[mask], tags[mask]), None

    @torch.no_grad()
    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted tag ids (B, T) of x: each token's most probable tag under the mean, or with
        a CRF the Viterbi path under the mean scores."""
        scores = self(x)[0]
        if not self.crfs:
            return scores.argmax(-1)
        states = [crf.state_dict() for crf in self.crfs]
        mean = CRF(scores.shape[-1])
        mean.load_state_dict({name: torch.stack([state[name] for state in states]).mean(0) for name in states[0]})
        return mean.decode(scores, x[..., 0] != 0)


def build_tagger(
    num_words: int, num_chars: int, num_tags: int, cfg: TagConfig, word_counts: torch.Tensor | None = None
) -> SequenceTagger | TaggerEnsemble:
    """A SequenceTagger, or with cfg.members > 1 an ensemble of them."""
    if cfg.members == 1:
        return SequenceTagger(num_words, num_chars, num_tags, cfg, word_counts)
    return TaggerEnsemble(
        [SequenceTagger(num_words, num_chars, num_tags, cfg, word_counts) for _ in range(cfg.members)]
    )


class Encoder:
    """Vocabularies of lower-cased words, characters and tags, and the tensors a tagger reads."""

    def __init__(self, words: TokenVocab, chars: TokenVocab, tags: list[str], max_word_chars: int):
        self.words, self.chars, self.tags, self.max_word_chars = words, chars, tags, max_word_chars
        self.tag_ids = {t: i for i, t in enumerate(tags)}

    @classmethod
    def build(cls, sentences: list[Sentence], cfg: TagConfig) -> Encoder:
        words = TokenVocab.build([[w.lower() for w in tokens] for tokens, _ in sentences], cfg.min_freq)
        chars = TokenVocab.build([list("".join(tokens)) for tokens, _ in sentences], 1)
        tags = sorted({t for _, tags in sentences for t in tags})
        return cls(words, chars, tags, cfg.max_word_chars)

    def spelling(self, word: str) -> list[int]:
        half = self.max_word_chars // 2
        if len(word) > self.max_word_chars:
            word = word[:half] + word[-half:]
        return self.chars.encode(list(word))

    def inputs(self, sentences: list[list[str]]) -> torch.Tensor:
        """(B, T, 1 + L) word and character ids of tokenised sentences, zero-padded."""
        T = max(1, max(map(len, sentences)))
        spelled = [[self.spelling(w) for w in tokens] for tokens in sentences]
        L = max((len(s) for row in spelled for s in row), default=1)
        x = torch.zeros(len(sentences), T, 1 + L, dtype=torch.long)
        for b, tokens in enumerate(sentences):
            if not tokens:
                continue
            x[b, : len(tokens), 0] = torch.tensor(self.words.encode([w.lower() for w in tokens]))
            for t, ids in enumerate(spelled[b]):
                x[b, t, 1 : 1 + len(ids)] = torch.tensor(ids)
        return x

    def targets(self, tag_lists: list[list[str]]) -> torch.Tensor:
        """(B, T) tag ids, 0 after each sentence's end; a tag not seen in training is a ValueError."""
        y = torch.zeros(len(tag_lists), max(1, max(map(len, tag_lists))), dtype=torch.long)
        for b, tags in enumerate(tag_lists):
            unknown = sorted(set(tags) - self.tag_ids.keys())
            if unknown:
                raise ValueError(f"tag(s) {', '.join(map(repr, unknown))} are not among the training tags")
            y[b, : len(tags)] = torch.tensor([self.tag_ids[t] for t in tags], dtype=torch.long)
        return y

    def to_json(self) -> dict:
        return {
            "words": self.words.to_json(),
            "chars": self.chars.to_json(),
            "tags": self.tags,
            "max_word_chars": self.max_word_chars,
        }

    @classmethod
    def from_json(cls, meta: dict) -> Encoder:
        return cls(
            TokenVocab.from_json(meta["words"]),
            TokenVocab.from_json(meta["chars"]),
            list(meta["tags"]),
            int(meta["max_word_chars"]),
        )


def length_batches(lengths: list[int], size: int, tokens: int = 0) -> list[list[int]]:
    """Indices in batches of sentences of similar length (sorted by length, stable): ``size`` sentences
    each, or with ``tokens`` > 0 as many sentences as fit in about that many tokens (at least one)."""
    if not tokens:
        return list(similar_length_batches(lengths, size, seed=None))
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = [[]]
    for i in order:
        if batches[-1] and (len(batches[-1]) + 1) * lengths[i] > tokens:
            batches.append([])
        batches[-1].append(i)
    return batches


def sibling(path: str, part: str) -> str:
    """The file named like ``path`` with "train" replaced by ``part``, if it exists; else ""."""
    name = Path(path).name
    if "train" not in name:
        return ""
    candidate = Path(path).with_name(name.replace("train", part))
    return str(candidate) if candidate.is_file() else ""


def split_sentences(cfg: TagConfig) -> dict[str, list[Sentence]]:
    """{"train" | "val" | "test": sentences}: cfg.data, and cfg.dev / cfg.test or their sibling files,
    or else 10% each of cfg.data's sentences (shuffled with split_seed)."""
    if not cfg.data:
        raise ValueError("give the training data: --data FILE (CoNLL-U or token TAB tag)")
    train = read_tagged(cfg.data, cfg.column)
    splits = {"train": train}
    carve = []
    for split, given, part in (("val", cfg.dev, "dev"), ("test", cfg.test, "test")):
        path = given or sibling(cfg.data, part)
        if path:
            splits[split] = read_tagged(path, cfg.column)
        else:
            carve.append(split)
    if carve:
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.split_seed)).tolist()
        n = max(1, len(train) // 10)
        if len(train) < (len(carve) + 1) * n or len(train) - len(carve) * n < 1:
            raise ValueError(f"{cfg.data}: too few sentences ({len(train)}) to carve {' and '.join(carve)} from")
        for k, split in enumerate(carve):
            splits[split] = [train[i] for i in order[k * n : (k + 1) * n]]
        splits["train"] = [train[i] for i in order[len(carve) * n :]]
    return splits


class TaggingTask:
    """Tagged sentences as batches for the trainer: x (B, T, 1 + L) word and character ids, y (B, T)."""

    def __init__(self, cfg: TagConfig, splits: dict[str, list[Sentence]] | None = None):
        self.cfg = cfg
        self.data = split_sentences(cfg) if splits is None else splits
        self.encoder = Encoder.build(self.data["train"], cfg)
        self.rows = {
            split: list(length_batches([len(s[0]) for s in sentences], cfg.batch_size, cfg.batch_tokens))
            for split, sentences in self.data.items()
        }  # the sentences of each batch
        self.batches = {
            split: [self._batch(self.data[split], idx) for idx in rows] for split, rows in self.rows.items()
        }
        self.model = build_tagger(
            len(self.encoder.words), len(self.encoder.chars), len(self.encoder.tags), cfg, self.word_counts()
        )

    def word_counts(self) -> torch.Tensor:
        """(words,) how often each word id occurs in the training split (<unk> counts its words)."""
        counts = torch.zeros(len(self.encoder.words))
        for tokens, _ in self.data["train"]:
            counts.index_add_(
                0, torch.tensor(self.encoder.words.encode([w.lower() for w in tokens])), torch.ones(len(tokens))
            )
        return counts

    def _batch(self, sentences: list[Sentence], rows: list[int]) -> Batch:
        picked = [sentences[i] for i in rows]
        y = self.encoder.targets([tags for _, tags in picked])
        return Batch(
            self.encoder.inputs([tokens for tokens, _ in picked]), y, count=sum(len(tokens) for tokens, _ in picked)
        )

    def train_batches(self, epoch: int, rank: int, world: int):
        """The training batches (sentences of similar length) in an order fixed by the epoch; with
        several processes each rank takes its share of each batch."""
        order = torch.randperm(len(self.batches["train"]), generator=torch.Generator().manual_seed(epoch)).tolist()
        for b in order:
            if world == 1:
                yield self.batches["train"][b]
                continue
            rows, counted = share(self.rows["train"][b], rank, world)
            batch = self._batch(self.data["train"], rows)
            batch.count = batch.count if counted else 0
            yield batch

    def eval_batches(self, split: str):
        return self.batches[split]

    def val_score(self) -> float:
        """Token accuracy on the val split: the trainer keeps, and stops early on, the weights that
        maximise it (rather than minimise the val loss, which turns up while the accuracy still rises)."""
        correct = total = 0
        self.model.eval()
        for batch in self.batches["val"]:
            mask = batch.x[..., 0] != 0
            correct += int((self.model.decode(batch.x) == batch.y)[mask].sum())
            total += int(mask.sum())
        self.model.train()
        return correct / max(1, total)

    def meta(self) -> dict:
        return {"task": "tag", "encoder": self.encoder.to_json(), "tag": dataclasses.asdict(self.cfg)}


# ---------------------------------------------------------------------------------------------
# Metrics


def is_span_scheme(tags: list[str]) -> bool:
    """True if every tag is O or B-/I-/E-/S-TYPE (a BIO or BIOES tag set) and one is not O."""
    return any(t != "O" for t in tags) and all(t == "O" or SPAN_TAG.match(t) for t in tags)


def _split_tag(tag: str) -> tuple[str, str]:
    return (tag[0], tag[2:]) if SPAN_TAG.match(tag) else ("O", "")


def spans(tags: list[str]) -> set[tuple[int, int, str]]:
    """Chunks (first, last, type) of a BIO/BIOES tag sequence by conlleval's rules: a chunk starts
    at B or S, or at I/E after O, after E/S, or after another type; it ends before the next start or O."""
    found, start, kind = set(), None, ""
    previous = "O"
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, type_ = _split_tag(tag)
        prev_prefix = previous
        ends = start is not None and (prefix in ("B", "S", "O") or prev_prefix in ("E", "S") or type_ != kind)
        if ends:
            found.add((start, i - 1, kind))
            start = None
        begins = prefix in ("B", "S") or (prefix in ("I", "E") and (start is None or type_ != kind))
        if begins:
            start, kind = i, type_
        previous = prefix
    return found


def tagging_metrics(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Token accuracy; for BIO/BIOES gold tags also span precision, recall and F1 (conlleval)."""
    pairs = [(g, p) for gs, ps in zip(gold, predicted, strict=True) for g, p in zip(gs, ps, strict=True)]
    metrics = {"tokens": len(pairs), "accuracy": sum(g == p for g, p in pairs) / max(1, len(pairs))}
    if is_span_scheme([g for g, _ in pairs]):
        gold_spans = {(s, *c) for s, tags in enumerate(gold) for c in spans(tags)}
        pred_spans = {(s, *c) for s, tags in enumerate(predicted) for c in spans(tags)}
        correct = len(gold_spans & pred_spans)
        precision = correct / len(pred_spans) if pred_spans else 0.0
        recall = correct / len(gold_spans) if gold_spans else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics.update(precision=precision, recall=recall, f1=f1, spans=len(gold_spans))
    return metrics


# ---------------------------------------------------------------------------------------------
# Python API


def _sentences(data, column: str) -> list[Sentence]:
    if isinstance(data, (str, Path)):
        return read_tagged(data, column)
    sentences = [(list(tokens), list(tags)) for tokens, tags in data]
    for i, (tokens, tags) in enumerate(sentences):
        if len(tokens) != len(tags) or not tokens:
            raise ValueError(f"sentence {i}: {len(tokens)} token(s) and {len(tags)} tag(s); need as many, at least one")
    return sentences


def read_raw(path: str | Path) -> list[list[str]]:
    """Raw text for tagging: one sentence per non-blank line, tokens split on whitespace."""
    return [line.split() for line in read_text_file(path).splitlines() if line.strip()]


class Tagger:
    """A sequence tagger: ``Tagger(hidden_size=128).fit("train.conllu")``, then ``evaluate``,
    ``predict``, ``save`` and ``Tagger.load``. Data are paths or lists of (tokens, tags)."""

    def __init__(self, config: TagConfig | None = None, train: TrainConfig | None = None, **fields):
        self.config = dataclasses.replace(config or TagConfig(), **fields)
        self.train_config = train or TrainConfig(**TRAIN_DEFAULTS)
        self.model: SequenceTagger | TaggerEnsemble | None = None
        self.encoder: Encoder | None = None
        self.summary: dict = {}

    def fit(self, data, dev=None, test=None) -> dict:
        """Trains on ``data`` (early stopping on ``dev``, see split_sentences for the defaults) and
        returns the trainer's summary with the test split's metrics under "metrics"."""
        from rnnkit.train.loop import Trainer

        cfg = self.config
        if isinstance(data, (str, Path)):
            cfg = dataclasses.replace(
                cfg,
                data=str(data),
                dev=str(dev) if isinstance(dev, (str, Path)) else cfg.dev,
                test=str(test) if isinstance(test, (str, Path)) else cfg.test,
            )
            splits = split_sentences(cfg)
        else:
            splits = {"train": _sentences(data, cfg.column)}
            if dev is None or test is None:
                raise ValueError("in-memory data needs dev and test sentences too")
        for split, given in (("val", dev), ("test", test)):
            if given is not None:
                splits[split] = _sentences(given, cfg.column)
        self.config = cfg
        task = TaggingTask(cfg, splits)
        self.summary = Trainer(task, self.train_config).fit()
        self.model, self.encoder = task.model.eval(), task.encoder
        self.run_dir = Path(self.train_config.run_dir)
        self.summary["metrics"] = self.evaluate(splits["test"])
        return self.summary

    def _need_model(self) -> tuple[SequenceTagger | TaggerEnsemble, Encoder]:
        if self.model is None or self.encoder is None:
            raise ValueError("the tagger is not trained: call fit() or Tagger.load()")
        return self.model, self.encoder

    def predict(self, sentences, batch_size: int = 256) -> list[list[str]]:
        """Tags of each sentence (lists of tokens, or a raw-text file: one sentence per line)."""
        model, encoder = self._need_model()
        sentences = read_raw(sentences) if isinstance(sentences, (str, Path)) else [list(s) for s in sentences]
        out: list[list[str]] = [[] for _ in sentences]
        model.eval()
        for rows in length_batches([len(s) for s in sentences], batch_size):
            rows = [i for i in rows if sentences[i]]
            if not rows:
                continue
            ids = model.decode(encoder.inputs([sentences[i] for i in rows]))
            for b, i in enumerate(rows):
                out[i] = [encoder.tags[k] for k in ids[b, : len(sentences[i])].tolist()]
        return out

    def evaluate(self, data) -> dict:
        """tagging_metrics of the predictions for tagged sentences (a path or (tokens, tags) pairs)."""
        sentences = _sentences(data, self.config.column)
        return tagging_metrics([tags for _, tags in sentences], self.predict([tokens for tokens, _ in sentences]))

    def save(self, path: str | Path) -> Path:
        """Writes the tagger (weights and vocabularies) as a checkpoint directory at ``path``, atomically."""
        model, encoder = self._need_model()
        path = Path(path)
        if path.exists():
            raise ValueError(f"{path} already exists; save elsewhere or remove it")
        checkpoint.save(
            path,
            ("last",),
            model,
            torch.optim.SGD(model.parameters(), lr=1.0),
            None,
            {"step": 0, "meta": {"task": "tag", "encoder": encoder.to_json(), "tag": dataclasses.asdict(self.config)}},
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tagger:
        """A tagger from a run directory (its best checkpoint, else its last) or a checkpoint directory."""
        return cls.from_parts(*load_tagger(path))

    @classmethod
    def from_parts(cls, model: SequenceTagger | TaggerEnsemble, encoder: Encoder, cfg: TagConfig) -> Tagger:
        """A tagger of a trained model (a TaggingTask's model and encoder after training)."""
        tagger = cls(cfg)
        tagger.model, tagger.encoder = model.eval(), encoder
        return tagger


def load_tagger(path: str | Path) -> tuple[SequenceTagger | TaggerEnsemble, Encoder, TagConfig]:
    """The model, vocabularies and config of a saved tagger (a run directory: its best checkpoint)."""
    path = checkpoint_dir(path)  # a run directory: its best, else its last
    meta = checkpoint.read_state(path, task="tag")["meta"]
    # saved before the option: one tagger
    cfg = checkpoint.settings(TagConfig, meta.get("tag"), path, earlier={"members": 1})
    try:
        encoder = Encoder.from_json(meta["encoder"])
    except (KeyError, TypeError, ValueError):
        raise checkpoint.CheckpointError(f"{path}: the saved vocabularies are missing or malformed") from None
    model = build_tagger(len(encoder.words), len(encoder.chars), len(encoder.tags), cfg)
    checkpoint.load(path, model)
    return model.eval(), encoder, cfg
