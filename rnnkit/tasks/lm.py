"""Language modelling (many-to-many) at character or word level: the model, its task for the
trainer, evaluation (nats per token, perplexity, bits per token) and sampling.

Shape letters: B = batch rows, T = time steps, E = embedding size, H = hidden size, V = vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.text import (
    LARGE_TEXT_BYTES,
    VOCABS,
    CharVocab,
    StreamBatches,
    WordVocab,
    memmap_splits,
    nanogpt_split,
    read_splits,
    read_text_file,
    vocab_from_json,
)
from rnnkit.tasks.base import (
    IN_MEMORY,
    RecurrentConfig,
    TaskModel,
    build_recurrent,
)
from rnnkit.train.config import Rule, at_least, fraction, one_of
from rnnkit.train.loop import evaluate
from rnnkit.train.task import Batch


@dataclass
class LMConfig(RecurrentConfig):
    """The language model and its data."""

    data: str = ""
    """A UTF-8 text file ("" = the bundled tiny Shakespeare), split 90/10 as nanoGPT; or a PTB-style
    train file (ptb.train.txt) with its valid and test files beside it."""
    encoding: str = "utf-8"
    """Encoding of the text files (a UTF-8 or UTF-16 byte-order mark is detected); e.g. latin-1, cp1252."""
    level: str = "char"
    """Tokens: char | word (whitespace-separated, <eos> per line, unknown words read as <unk>)."""
    hidden_size: int = 256
    """Units per recurrent layer (H); 2×256 was chosen over 2×512 by the defaults sweep (BENCHMARKS.md)."""
    num_layers: int = 2
    embed_size: int = 64
    """Embedding size (E)."""
    dropout_input: float = 0.0
    """Dropout on the embeddings."""
    dropout_output: float = 0.0
    """Dropout on the last layer's output, before the linear decoder."""
    tie_weights: bool = False
    """Decoder weight = embedding matrix (needs embed_size == hidden_size)."""
    batch_size: int = 32
    """B contiguous rows of the training text."""
    seq_len: int = 128
    """T tokens per batch (the BPTT length)."""
    eval_batch_size: int = 64
    """Rows of the validation text (contiguous streams, each from a zero state)."""

    rules: ClassVar[dict[str, Rule]] = {
        "level": one_of(*VOCABS),
        "dropout_input": fraction(),
        "dropout_output": fraction(),
        **{name: at_least(1) for name in ("embed_size", "batch_size", "seq_len", "eval_batch_size")},
    }

    def check(self) -> None:
        super().check()
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise ValueError(
                f"tie_weights needs embed_size == hidden_size, got {self.embed_size} and {self.hidden_size}"
            )


class CharLM(nn.Module):
    """Embedding -> dropout -> recurrent layers -> dropout -> linear decoder over the vocabulary
    (of characters or words: the model is the same at either level)."""

    def __init__(self, vocab_size: int, cfg: LMConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed_size)
        self.drop_in = nn.Dropout(cfg.dropout_input)
        self.rnn = build_recurrent(cfg, cfg.embed_size)
        self.drop_out = nn.Dropout(cfg.dropout_output)
        self.head = nn.Linear(cfg.hidden_size, vocab_size)
        if cfg.tie_weights:  # the shared matrix as a decoder: N(0, 1) rows would give logits of std ~sqrt(H)
            nn.init.uniform_(self.embed.weight, -0.1, 0.1)
            self.head.weight = self.embed.weight

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, state=None):
        """(logits (B, T, V), mean cross-entropy in nats or None, state) for ids idx (B, T)."""
        x = self.drop_in(self.embed(idx))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop_out(out))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return logits, loss, state


def build_vocab(texts: dict[str, str], level: str) -> CharVocab | WordVocab:
    """char: every character of every split (as nanoGPT); word: the training split's words."""
    return CharVocab.from_text("".join(texts.values())) if level == "char" else WordVocab.from_text(texts["train"])


def eval_stream(ids: torch.Tensor, cfg: LMConfig) -> StreamBatches:
    """Evaluation layout: eval_batch_size contiguous rows (fewer if a row would hold less than
    seq_len tokens), each read from a zero state."""
    return StreamBatches(ids, min(cfg.eval_batch_size, max(1, (len(ids) - 1) // cfg.seq_len)), cfg.seq_len)


def stream_batches(stream: StreamBatches):
    """The chunks of a stream as trainer batches: the first resets the state, the rest carry it."""
    return (Batch(x.long(), y.long(), reset=i == 0) for i, (x, y) in enumerate(stream))


class LanguageModelTask:
    """A char- or word-level LM on a text's splits, streamed as contiguous rows (see trainer Task)."""

    def __init__(self, cfg: LMConfig, texts: dict[str, str] | None = None):
        """`texts` ({"train", "val"[, "test"]}: text) replaces reading cfg.data."""
        self.cfg = cfg
        if texts is None and cfg.data and Path(cfg.data).is_file() and Path(cfg.data).stat().st_size > LARGE_TEXT_BYTES:
            self.vocab, ids = memmap_splits(cfg.data, cfg.level, cfg.encoding)  # bounded memory
        else:
            texts = read_splits(cfg.data, cfg.encoding) if texts is None else texts
            self.vocab = build_vocab(texts, cfg.level)
            ids = {split: self.vocab.encode(text) for split, text in texts.items()}
        self.train_stream = StreamBatches(ids["train"], cfg.batch_size, cfg.seq_len)
        self.eval_streams = {split: eval_stream(ids[split], cfg) for split in ("val", "test") if split in ids}
        self.val_stream = self.eval_streams["val"]
        self.model = CharLM(len(self.vocab), cfg)

    def train_batches(self, epoch: int, rank: int, world: int):
        """Rank `rank`'s B / world rows of the training stream; the same every epoch."""
        if self.cfg.batch_size % world:
            raise ValueError(
                f"batch_size ({self.cfg.batch_size}) must be divisible by the number of processes ({world})"
            )
        share = self.cfg.batch_size // world
        return stream_batches(self.train_stream.rows(slice(rank * share, (rank + 1) * share)))

    def eval_batches(self, split: str):
        """Every chunk of the split's stream; none for a test split the data lacks (nanoGPT split)."""
        return stream_batches(self.eval_streams[split]) if split in self.eval_streams else []

    def meta(self) -> dict:
        return {"task": "lm", "vocab": self.vocab.to_json(), "lm": dataclasses.asdict(self.cfg)}

    def report_samples(self) -> dict[str, str]:
        """For the run report: 300 tokens sampled after the first 40 of the validation text."""
        prime = self.vocab.decode(self.val_stream.x[0, :40])
        unit = "characters" if self.cfg.level == "char" else "words"
        return {
            f"sample (temperature 0.8, seed 0) after 40 validation {unit}": prime
            + sample(self.model, self.vocab, prime, 300, temperature=0.8, seed=0)
        }


def lm_metrics(nats: float) -> dict[str, float]:
    """A mean loss of `nats` per token as loss, perplexity = e^nats and bits = nats / ln 2 per token."""
    return {"loss": nats, "perplexity": math.exp(nats), "bits": nats / math.log(2)}


def evaluate_text(model: CharLM, vocab: CharVocab | WordVocab, text: str, cfg: LMConfig) -> tuple[dict, int]:
    """(lm_metrics, predicted tokens) of `model` on all of `text`, laid out as in validation
    (eval_batch_size contiguous streams). Unknown characters raise ValueError; unknown words are <unk>."""
    ids = vocab.encode(text)
    if len(ids) < 2:
        raise ValueError(f"the text holds {len(ids)} token(s); at least 2 are needed to predict one")
    stream = eval_stream(ids, cfg)
    nats = evaluate(model, stream_batches(stream))
    assert nats is not None  # two tokens or more give at least one batch
    return lm_metrics(nats), stream.y.numel()


@torch.no_grad()
def sample(
    model: CharLM,
    vocab: CharVocab | WordVocab,
    prime: str,
    length: int,
    temperature: float = 1.0,
    top_k: int = 0,
    seed: int = 0,
    context: str = "",
) -> str:
    """`length` tokens (characters or words) drawn after `context + prime`, decoded (neither is
    repeated in the result).

    temperature > 0 divides the logits; top_k > 0 keeps only the k likeliest tokens; the draw is
    reproducible for a given seed. A prime character outside a char vocabulary raises
    ValueError naming it; a prime word outside a word vocabulary is read as <unk>. The state starts
    at zero, which a model trained on stateful streams has rarely seen: a `context` of a few lines
    of text gives the prime a typical state.
    """
    if not prime:
        raise ValueError("prime must not be empty")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    ids = vocab.encode(context + prime)[None]  # (1, T)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    logits, _, state = model(ids, None, None)
    out = []
    for _ in range(length):
        last = logits[0, -1] / temperature  # (V,)
        if top_k:
            kth = torch.topk(last, min(top_k, last.numel())).values[-1]
            last = last.masked_fill(last < kth, float("-inf"))
        nxt = torch.multinomial(F.softmax(last, dim=-1), 1, generator=generator)  # (1,)
        out.append(int(nxt))
        logits, _, state = model(nxt.view(1, 1), None, state)
    model.train(was_training)
    return vocab.decode(out)


def text_splits(data: list[str] | dict[str, str]) -> dict[str, str]:
    """Splits of texts given in memory: {"train", "val"[, "test"]} as given, or a list of documents
    joined by newlines and split 90/10 as nanoGPT."""
    if isinstance(data, dict):
        if not {"train", "val"} <= set(data) <= {"train", "val", "test"}:
            raise ValueError(f"splits must be train, val and optionally test; got {', '.join(data)}")
        return dict(data)
    if not isinstance(data, (list, tuple)) or not all(isinstance(t, str) for t in data):
        raise TypeError("give texts as a path, a list of strings or a dict of splits")
    return dict(zip(("train", "val"), nanogpt_split("\n".join(data))))


class LanguageModel(TaskModel):
    """A char- or word-level language model: fit on text, evaluate (nats, perplexity, bits per token),
    sample. Data: a path (see LMConfig.data), a list of strings, or {"train", "val"[, "test"]} texts.

        lm = LanguageModel(hidden_size=128)
        lm.fit(["some text", "more text"], max_steps=100, run_dir="runs/lm")
        print(lm.sample("some", 50))
    """

    name = "lm"
    config_class = LMConfig
    # Adam at 4e-3 with 2×256 beat 2e-3 and 2×512 on tiny Shakespeare and PTB (benchmarks/defaults_sweep.py).
    train_defaults: ClassVar[dict[str, Any]] = {"lr": 0.004}
    config: LMConfig
    vocab: CharVocab | WordVocab

    def make_task(self, data=None) -> LanguageModelTask:
        texts = None if data is None or isinstance(data, (str, Path)) else text_splits(data)
        return LanguageModelTask(self.with_data(data), texts)

    def adopt(self, task: LanguageModelTask) -> None:
        self.model, self.vocab = task.model, task.vocab

    @classmethod
    def from_meta(cls, meta: dict, path) -> LanguageModel:
        obj = cls(cls.saved_config(meta, path))
        obj.vocab = vocab_from_json(meta.get("vocab"))
        obj.model = CharLM(len(obj.vocab), obj.config)
        return obj

    def evaluate(self, data: str | Path | list[str] | None = None, split: str = "val") -> dict[str, float]:
        """lm_metrics and the number of predicted `tokens` on a text file or texts (`data`), or on
        `split` (val | test) of the data the model was trained on."""
        model, cfg = cast(CharLM, self._require_model()), self.config  # from_meta/adopt set a CharLM
        if data is not None:
            text = read_text_file(data, cfg.encoding) if isinstance(data, (str, Path)) else "\n".join(data)
        else:
            one_of("val", "test")("split", split)
            if self.task is not None:  # the splits of the last fit (perhaps in memory)
                stream = self.task.eval_streams.get(split)
                if stream is None:
                    raise ValueError(f"the training data has no {split} split")
                nats = evaluate(model, stream_batches(stream))
                assert nats is not None  # a split that exists has at least one batch
                return {**lm_metrics(nats), "tokens": stream.y.numel()}
            if cfg.data == IN_MEMORY:
                raise ValueError("this model was trained on texts given in memory: give the texts to evaluate")
            texts = read_splits(cfg.data, cfg.encoding)
            if split not in texts:
                raise ValueError(
                    f"{cfg.data or 'tiny Shakespeare'} has no {split} split (one file is split 90/10 "
                    "into train/val); give a text file to score"
                )
            text = texts[split]
        metrics, count = evaluate_text(model, self.vocab, text, cfg)
        return {**metrics, "tokens": count}

    def sample(
        self, prime: str, length: int = 300, temperature: float = 1.0, top_k: int = 0, seed: int = 0, context: str = ""
    ) -> str:
        """`length` tokens drawn after `context + prime` (see `sample`)."""
        return sample(cast(CharLM, self._require_model()), self.vocab, prime, length, temperature, top_k, seed, context)

    predict = sample


# `rnnkit demo`: a small LSTM that learns visibly in about two minutes on 2 CPU cores; its
# samples are read after the play's first two lines (DEMO_CONTEXT) to warm the state.
DEMO_CONTEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
DEMO_ARGS = [
    "--hidden-size",
    "256",
    "--num-layers",
    "1",
    "--embed-size",
    "64",
    "--batch-size",
    "32",
    "--seq-len",
    "64",
    "--optimizer",
    "adam",
    "--lr",
    "0.004",
    "--clip-norm",
    "5",
    "--max-epochs",
    "0",
    "--eval-every",
    "0",
    "--ckpt-every",
    "200",
    "--log-every",
    "20",
]
