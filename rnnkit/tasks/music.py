"""Polyphonic music modelling: predict piano-roll frame t+1 from frames <= t with 88 independent
Bernoulli outputs; the task for the trainer, pooled NLL evaluation, sampling, MIDI and PNG output.

Shape letters: B = sequences, T = frames, K = 88 keys, H = hidden size.
NLL (Bai et al. 2018): -sum over predicted frames and keys of [y log p + (1 - y) log(1 - p)],
divided by the number of predicted frames pooled over all sequences (the first frame is not scored).
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.midi import is_midi, load_midi_rolls
from rnnkit.data.music import (
    KEYS,
    LOWEST_NOTE,
    PAD,
    length_batches,
    load_rolls,
    next_frame_batch,
)
from rnnkit.data.pairs import split_pairs
from rnnkit.tasks.base import IN_MEMORY, RecurrentConfig, TaskModel, build_recurrent
from rnnkit.train.config import Rule, at_least, fraction, one_of
from rnnkit.train.task import Batch, share


@dataclass
class MusicConfig(RecurrentConfig):
    """The music model and its data."""

    data: str = "jsb"
    """jsb | nottingham (bundled), a JSON file of the same layout, or a MIDI file or folder of MIDI files."""
    frames_per_beat: int = 2
    """MIDI data: the quantisation grid, frames per quarter note (2 = eighth notes)."""
    split_seed: int = 0
    """MIDI data: the shuffle of the pieces into train/val/test (80/10/10)."""
    hidden_size: int = 128
    dropout_output: float = 0.0
    """Dropout on the last layer's output, before the linear read-out."""
    batch_size: int = 8
    """Sequences per update, grouped by similar length."""
    eval_batch_size: int = 64
    """Sequences per evaluation batch."""

    rules: ClassVar[dict[str, Rule]] = {
        "dropout_output": fraction(),
        "batch_size": at_least(1),
        "eval_batch_size": at_least(1),
        "frames_per_beat": at_least(1),
    }


def valid_lengths(y: torch.Tensor) -> torch.Tensor | None:
    """Per-sequence count of non-PAD target steps of y (B, T, ...), or None if nothing is padded."""
    valid = y.reshape(*y.shape[:2], -1)[..., 0] != PAD  # (B, T)
    return None if bool(valid.all()) else valid.sum(1)


def bernoulli_nll(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(NLL summed over keys and valid steps, number of valid steps) for logits, y (B, T, K);
    steps whose target is PAD count for nothing."""
    valid = y[..., 0] != PAD  # (B, T)
    nll = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0), reduction="none").sum(-1)  # (B, T)
    return (nll * valid).sum(), int(valid.sum())


class MusicRNN(nn.Module):
    """Recurrent layers -> dropout -> linear read-out of K logits (one Bernoulli per key)."""

    def __init__(self, cfg: MusicConfig):
        super().__init__()
        self.rnn = build_recurrent(cfg, KEYS)
        self.drop = nn.Dropout(cfg.dropout_output)
        self.head = nn.Linear(cfg.hidden_size, KEYS)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, state=None):
        """(logits (B, T, K), NLL per valid frame or None, state) for frames x (B, T, K).

        PAD targets in y mark the end of each sequence: the layer is given those lengths.
        """
        lengths = None if y is None else valid_lengths(y)
        out, state = self.rnn(x, state, lengths=lengths)  # (B, T, H)
        logits = self.head(self.drop(out))  # (B, T, K)
        if y is None:
            return logits, None, state
        total, frames = bernoulli_nll(logits, y)
        return logits, total / max(frames, 1), state


class MusicTask:
    """Next-frame prediction on a piano-roll data set (see the trainer's Task)."""

    def __init__(
        self, cfg: MusicConfig, rolls: dict[str, list[torch.Tensor]] | None = None, model: MusicRNN | None = None
    ):
        """`rolls` ({"train", "val", "test"}: piano rolls) replaces reading cfg.data; `model` a new MusicRNN."""
        self.cfg = cfg
        if rolls is None:
            rolls = (
                load_midi_rolls(cfg.data, cfg.frames_per_beat, cfg.split_seed)
                if is_midi(cfg.data)
                else load_rolls(cfg.data)
            )
        self.rolls = rolls
        self.model = MusicRNN(cfg) if model is None else model

    def train_batches(self, epoch: int, rank: int, world: int):
        """Batches of similar-length sequences, shuffled with the epoch as seed; each rank takes
        its share of each batch, padded to the batch's length (the same TBPTT windows on every rank)."""
        train = self.rolls["train"]
        for idx in length_batches([len(r) for r in train], self.cfg.batch_size, seed=epoch):
            part, counted = share(idx, rank, world)
            x, y, n = next_frame_batch([train[i] for i in part], max(len(train[i]) for i in idx) - 1)
            yield Batch(x, y, reset=True, count=n if counted else 0)

    def eval_batches(self, split: str):
        """All sequences of `split`, sorted by length, eval_batch_size at a time; the trainer's
        mean weighted by `count` is the pooled NLL per predicted frame."""
        rolls = self.rolls.get(split, [])
        for idx in length_batches([len(r) for r in rolls], self.cfg.eval_batch_size, seed=None):
            x, y, n = next_frame_batch([rolls[i] for i in idx])
            yield Batch(x, y, reset=True, count=n)

    def meta(self) -> dict:
        return {"task": "music", "music": dataclasses.asdict(self.cfg)}


@torch.no_grad()
def pooled_nll(task: MusicTask, split: str) -> float:
    """NLL summed over keys, averaged over all predicted frames of `split` pooled (Bai et al. 2018)."""
    task.model.eval()
    total, frames = 0.0, 0
    for batch in task.eval_batches(split):
        _, loss, _ = task.model(batch.x, batch.y)
        assert batch.count is not None  # music batches count their predicted frames
        total, frames = total + float(loss) * batch.count, frames + batch.count
    return total / frames


@torch.no_grad()
def sample(model: MusicRNN, prime: torch.Tensor, frames: int, seed: int = 0) -> torch.Tensor:
    """A (P + frames, K) piano roll: the prime (P, K) followed by `frames` frames, each drawn key by key
    from Bernoulli(sigmoid(logit)) and fed back as the next input; reproducible for a given seed."""
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    logits, _, state = model(prime[None])  # (1, P, K)
    out = [prime]
    for _ in range(frames):
        frame = torch.bernoulli(torch.sigmoid(logits[:, -1:]), generator=generator)  # (1, 1, K)
        out.append(frame[0])
        logits, _, state = model(frame, None, state)
    model.train(was_training)
    return torch.cat(out)


def _vlq(n: int) -> bytes:
    """n as a MIDI variable-length quantity: 7 bits per byte, most significant first, high bit = more."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def roll_to_midi(
    roll: torch.Tensor,
    ticks_per_frame: int = 240,
    ticks_per_beat: int = 480,
    tempo_us: int = 500_000,
    velocity: int = 80,
) -> bytes:
    """A standard MIDI file (format 0, one track, channel 0) playing a (T, K) piano roll.

    A key sounding in consecutive frames is one held note; every frame lasts ticks_per_frame ticks
    (JSB frames are quarter notes: 480; Nottingham eighths: 240, at ticks_per_beat = 480).
    """
    on = roll > 0.5  # (T, K)
    padded = torch.cat([torch.zeros(1, KEYS, dtype=torch.bool), on, torch.zeros(1, KEYS, dtype=torch.bool)])
    events = []  # (tick, order, status, note): offs (order 0) before ons at the same tick
    for t in range(1, padded.shape[0]):
        tick = (t - 1) * ticks_per_frame
        for k in torch.nonzero(padded[t - 1] & ~padded[t]).flatten().tolist():
            events.append((tick, 0, 0x80, k + LOWEST_NOTE))
        for k in torch.nonzero(padded[t] & ~padded[t - 1]).flatten().tolist():
            events.append((tick, 1, 0x90, k + LOWEST_NOTE))
    track = bytearray(_vlq(0) + b"\xff\x51\x03" + tempo_us.to_bytes(3, "big"))
    last = 0
    for tick, _, status, note in sorted(events):
        track += _vlq(tick - last) + bytes([status, note, velocity if status == 0x90 else 0])
        last = tick
    track += _vlq(0) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def save_roll_png(roll: torch.Tensor, path: str | Path, title: str = "") -> None:
    """A piano-roll picture: time on x, MIDI note on y, sounding keys dark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = torch.nonzero(roll.sum(0)).flatten()
    lo, hi = (int(keys.min()), int(keys.max())) if len(keys) else (0, KEYS - 1)
    fig, ax = plt.subplots(figsize=(min(16, 2 + roll.shape[0] / 16), 4))
    ax.imshow(
        roll[:, lo : hi + 1].T.numpy(),
        aspect="auto",
        origin="lower",
        cmap="Greys",
        interpolation="nearest",
        extent=(-0.5, roll.shape[0] - 0.5, lo + LOWEST_NOTE - 0.5, hi + LOWEST_NOTE + 0.5),
    )
    ax.set_xlabel("frame")
    ax.set_ylabel("MIDI note")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def roll_splits(data) -> dict[str, list[torch.Tensor]]:
    """Piano rolls given in memory as {"train", "val"[, "test"]} lists, or one list split 80/10/10
    (seeded shuffle); each roll a (T, 88) array or tensor of 0/1."""

    def check(roll, where: str) -> torch.Tensor:
        roll = torch.as_tensor(np.asarray(roll), dtype=torch.float32)
        if roll.dim() != 2 or roll.shape[1] != KEYS or roll.shape[0] < 2:
            raise ValueError(f"{where}: a piano roll is (T >= 2, {KEYS}); got shape {tuple(roll.shape)}")
        if not bool(((roll == 0) | (roll == 1)).all()):
            raise ValueError(f"{where}: a piano roll holds 0 and 1 only")
        return roll

    if isinstance(data, dict):
        if not {"train", "val"} <= set(data) <= {"train", "val", "test"}:
            raise ValueError(f"splits must be train, val and optionally test; got {', '.join(data)}")
        splits = {name: list(data.get(name, [])) for name in ("train", "val", "test")}
    else:
        splits = split_pairs(list(data), 0.1, 0.1, seed=0)
    if not splits["train"] or not splits["val"]:
        raise ValueError(
            f"too few piano rolls to train and validate on (train {len(splits['train'])}, "
            f"val {len(splits['val'])}); give at least 5, or a dict of splits"
        )
    return {name: [check(r, f"{name}[{i}]") for i, r in enumerate(rolls)] for name, rolls in splits.items()}


class MusicModel(TaskModel):
    """Polyphonic music: fit on piano rolls, evaluate the NLL per frame, sample new rolls.
    Data: "jsb" | "nottingham" | a JSON file (see MusicConfig.data), a list of (T, 88) 0/1 arrays
    (split 80/10/10), or {"train", "val"[, "test"]} lists of them.

        music = MusicModel(hidden_size=64)
        music.fit("jsb", max_epochs=2)
        roll = music.sample(prime=first_frames, frames=32)  # (P + 32, 88)
    """

    name = "music"
    config_class = MusicConfig
    config: MusicConfig

    def make_task(self, data=None) -> MusicTask:
        rolls = None if data is None or isinstance(data, (str, Path)) else roll_splits(data)
        return MusicTask(self.with_data(data), rolls)

    @classmethod
    def from_meta(cls, meta: dict, path) -> MusicModel:
        obj = cls(cls.saved_config(meta, path))
        obj.model = MusicRNN(obj.config)
        return obj

    def rolls(self, data=None) -> dict[str, list[torch.Tensor]]:
        """The splits of `data` (as in fit), by default of the data the model was trained on."""
        if data is not None:
            return load_rolls(str(data)) if isinstance(data, (str, Path)) else roll_splits(data)
        if self.task is not None:
            return self.task.rolls
        if self.config.data == IN_MEMORY:
            raise ValueError("this model was trained on piano rolls given in memory: give the rolls")
        return load_rolls(self.config.data)

    def evaluate(self, data=None, split: str = "test") -> dict[str, float]:
        """{"nll": NLL per frame summed over keys, pooled over `split`} of `data` (None: the training
        data; a data set name or file; or rolls in memory)."""
        one_of("train", "val", "test")("split", split)
        task = MusicTask(self.config, self.rolls(data), cast(MusicRNN, self._require_model()))
        if not task.rolls.get(split):
            raise ValueError(f"the data has no {split} sequences")
        return {"nll": pooled_nll(task, split)}

    def sample(self, prime, frames: int = 64, seed: int = 0) -> torch.Tensor:
        """A (P + frames, 88) piano roll: the prime (P, 88) then `frames` sampled frames (see `sample`)."""
        prime = torch.as_tensor(np.asarray(prime), dtype=torch.float32)
        if prime.dim() != 2 or prime.shape[1] != KEYS or not len(prime):
            raise ValueError(f"prime must be (P >= 1, {KEYS}) frames; got shape {tuple(prime.shape)}")
        return sample(cast(MusicRNN, self._require_model()), prime, frames, seed)

    predict = sample
