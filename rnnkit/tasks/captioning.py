"""One-to-many: a character decoder conditioned on one feature vector (captioning in miniature).

``ConditionalDecoder(feature_size, vocab_size)`` generates a sequence from any feature vector f:
the input's encoding u = tanh(W_u f + b_u) sets the decoder's initial state (Bridge: h_0 =
tanh(W_h u + b_h), c_0 = W_c u + b_c) and is fed as the fixed context at every step (the
seq2seq Decoder with attention "none"). The demo task captions scikit-learn's 8x8 digits (bundled
with rnnkit) with the digit's English name, character by character.

Shape letters: B = batch, F = features, T = target length, V = vocabulary.
"""

from __future__ import annotations

import dataclasses
import gzip
import random
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
from torch import nn

from rnnkit.data.pairs import PairVocab, pad_batch, split_pairs
from rnnkit.tasks.base import RecurrentConfig
from rnnkit.tasks.seq2seq import Bridge, Decoder, generate, teacher_forced
from rnnkit.train.task import Batch, share

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 64) float32 in [0, 1], labels (1797,) int64): the 8x8 digits bundled with
    rnnkit (scikit-learn's copy of the UCI optdigits test set, pixel counts 0..16 divided by 16)."""
    raw = resources.files("rnnkit.data").joinpath("bundled/digits.csv.gz").read_bytes()
    table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",", dtype=np.int64)
    return (table[:, :64] / 16.0).astype(np.float32), table[:, 64]


class ConditionalDecoder(nn.Module):
    """A recurrent decoder whose initial state and context are learned projections of a feature vector.

    Called as the trainer's model: ``(logits (B, T, V), loss, None) = model(features (B, F), y (B, T))``
    with y = target ids, <eos>, <pad>... (PairVocab ids); ``generate(features, vocab)`` decodes.
    The recurrent stack is `rnn`, or RecurrentConfig(cell="gru", hidden_size=64, **settings).
    """

    def __init__(
        self, feature_size: int, vocab_size: int, embed_size: int = 16, rnn: RecurrentConfig | None = None, **settings
    ):
        super().__init__()
        rnn = rnn if rnn is not None else RecurrentConfig(**{"cell": "gru", "hidden_size": 64, **settings})
        if feature_size < 1:
            raise ValueError(f"feature_size must be >= 1, got {feature_size}")
        self.feature_size = feature_size
        self.encode_features = nn.Linear(feature_size, rnn.hidden_size)
        self.bridge = Bridge(rnn.hidden_size, rnn.hidden_size, rnn.num_layers, rnn.cell)
        self.decoder = Decoder(vocab_size, embed_size, rnn, "none", context_size=rnn.hidden_size)

    def start(self, features: torch.Tensor):
        """(decoder state, Memory) for features (B, F)."""
        if features.dim() != 2 or features.shape[1] != self.feature_size:
            raise ValueError(f"features must have shape (B, {self.feature_size}), got {tuple(features.shape)}")
        u = torch.tanh(self.encode_features(features))  # (B, H)
        memory = self.decoder.memory(context=u)
        return self.decoder.initial(self.bridge(u), memory), memory

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, state=None):
        if y is None:
            raise ValueError("ConditionalDecoder needs targets y; decode with generate()")
        logits, loss = teacher_forced(self.decoder, y, *self.start(x))
        return logits, loss, None

    @torch.no_grad()
    def generate(self, features: torch.Tensor, vocab: PairVocab, max_len: int = 20, beam: int = 1) -> list[str]:
        """The text generated for each row of features (B, F)."""
        was_training = self.training
        self.eval()
        out = generate(self.decoder, *self.start(features), vocab, max_len, beam)
        self.train(was_training)
        return out


@dataclass
class CaptionConfig(RecurrentConfig):
    """The digits captioning demo: image (64 pixels) -> the digit's name."""

    cell: str = "gru"
    hidden_size: int = 64
    embed_size: int = 16
    """Embedding size of the name's characters."""
    batch_size: int = 32
    """Images per update."""
    val_frac: float = 0.1
    """Validation fraction of the images."""
    test_frac: float = 0.2
    """Test fraction of the images."""
    data_seed: int = 0
    """Seed of the split and of the order of the images."""


class DigitsCaptionTask:
    """The 1,797 digits split (seeded) train/val/test; batches x = pixels (B, 64), y = name ids (B, T)."""

    def __init__(self, cfg: CaptionConfig):
        self.cfg = cfg
        images, labels = load_digits()
        self.vocab = PairVocab.from_texts(DIGIT_NAMES)
        self.splits = split_pairs(list(range(len(labels))), cfg.val_frac, cfg.test_frac, seed=cfg.data_seed)
        self.images, self.labels = torch.from_numpy(images), labels
        self.model = ConditionalDecoder(64, len(self.vocab), cfg.embed_size, rnn=cfg)

    def _batches(self, rows: list[int], batch_size: int):
        for start in range(0, len(rows), batch_size):
            idx = rows[start : start + batch_size]
            names = [self.vocab.encode(DIGIT_NAMES[self.labels[i]]) for i in idx]
            yield Batch(self.images[idx], pad_batch(names, eos=True))

    def train_batches(self, epoch: int, rank: int, world: int):
        """The training images shuffled (seeded by epoch) in batches; each rank takes its share of each."""
        rows = random.Random(self.cfg.data_seed * 1000 + epoch).sample(self.splits["train"], len(self.splits["train"]))
        for start in range(0, len(rows), self.cfg.batch_size):
            part, counted = share(rows[start : start + self.cfg.batch_size], rank, world)
            batch = next(self._batches(part, len(part)))
            batch.count = int((batch.y != PairVocab.pad).sum()) if counted else 0
            yield batch

    def eval_batches(self, split: str):
        return self._batches(self.splits[split], 256)

    def exact_match(self, split: str, beam: int = 1) -> float:
        """Fraction of `split`'s images whose generated caption is exactly the digit's name."""
        rows = self.splits[split]
        out = self.model.generate(self.images[rows], self.vocab, beam=beam)
        return sum(o == DIGIT_NAMES[self.labels[i]] for o, i in zip(out, rows)) / len(rows)

    def meta(self) -> dict:
        return {"task": "caption-digits", "vocab": self.vocab.to_json(), "caption": dataclasses.asdict(self.cfg)}
