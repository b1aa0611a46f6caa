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

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.data.midi import is_midi, load_midi_rolls
from rnnkit.data.music import KEYS, LOWEST_NOTE, PAD, length_batches, load_rolls, next_frame_batch
from rnnkit.init import SCHEMES, check_chrono
from rnnkit.tasks.lm import RNN_CLASSES
from rnnkit.train import checkpoint
from rnnkit.train.config import check_choice
from rnnkit.train.task import Batch


@dataclass
class MusicConfig:
    """The music model and its data."""

    data: str = "jsb"  # jsb | nottingham (bundled), a JSON file of the same layout, or a MIDI file or folder of MIDI files
    frames_per_beat: int = 2  # MIDI data: the quantisation grid, frames per quarter note (2 = eighth notes)
    split_seed: int = 0  # MIDI data: the shuffle of the pieces into train/val/test (80/10/10)
    cell: str = "lstm"  # lstm | gru | rnn
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0  # between recurrent layers
    dropout_output: float = 0.0  # on the last layer's output, before the linear read-out
    recurrent_dropout: float = 0.0  # variational dropout on h_{t-1} (rnnkit layers)
    zoneout: float = 0.0
    peephole: bool = False  # lstm: Graves 2013 diagonal peepholes (Chung et al. 2014)
    reset_after: bool = True  # gru: False = Cho/Bahdanau form tanh(W x + U (r * h)) (Chung et al.)
    init: str = "uniform"  # uniform | xavier | orthogonal (rnnkit.init)
    forget_bias: float = 1.0  # lstm: initial forget-gate bias
    chrono_init: int = 0  # lstm, gru: chrono keep-gate biases for dependencies up to this many steps; 0 = off
    batch_size: int = 8  # sequences per update, grouped by similar length
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, tuple(RNN_CLASSES))
        for name in ("hidden_size", "num_layers", "batch_size", "eval_batch_size", "frames_per_beat"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_layer_init(self)
        for name in ("dropout", "dropout_output", "recurrent_dropout", "zoneout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


def check_layer_init(cfg) -> None:
    """ValueError for an unknown init scheme or a chrono_init that is neither 0 (off) nor >= 3 steps."""
    check_choice("init", cfg.init, SCHEMES)
    if cfg.chrono_init:
        check_chrono(cfg.chrono_init)


def make_layer(cfg, input_size: int) -> nn.Module:
    """The batch-first rnnkit layer stack a config describes (fields of MusicConfig / LongRangeConfig)."""
    chrono = cfg.chrono_init or None
    options = {"lstm": {"peephole": cfg.peephole, "forget_bias": cfg.forget_bias, "chrono_init": chrono},
               "gru": {"reset_after": cfg.reset_after, "chrono_init": chrono}, "rnn": {}}[cfg.cell]
    return RNN_CLASSES[cfg.cell](input_size, cfg.hidden_size, cfg.num_layers, batch_first=True, init=cfg.init,
                                 dropout=cfg.dropout if cfg.num_layers > 1 else 0.0,
                                 recurrent_dropout=cfg.recurrent_dropout, zoneout=cfg.zoneout, **options)


def valid_lengths(y: torch.Tensor) -> torch.Tensor | None:
    """Per-sequence count of non-PAD target steps of y (B, T, ...), or None if nothing is padded."""
    valid = (y.reshape(*y.shape[:2], -1)[..., 0] != PAD)  # (B, T)
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
        self.rnn = make_layer(cfg, KEYS)
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

    def __init__(self, cfg: MusicConfig):
        self.cfg = cfg
        self.rolls = (load_midi_rolls(cfg.data, cfg.frames_per_beat, cfg.split_seed) if is_midi(cfg.data)
                      else load_rolls(cfg.data))
        self.model = MusicRNN(cfg)

    def train_batches(self, epoch: int, rank: int, world: int):
        """Batches of similar-length sequences, shuffled with the epoch as seed; each rank takes
        every world-th sequence of each batch."""
        train = self.rolls["train"]
        for idx in length_batches([len(r) for r in train], self.cfg.batch_size, seed=epoch):
            part = idx[rank::world] or idx[:1]
            x, y, n = next_frame_batch([train[i] for i in part])
            yield Batch(x, y, reset=True, count=n)

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
        total, frames = total + float(loss) * batch.count, frames + batch.count
    return total / frames


def load_music(path: str | Path, data: str = "") -> MusicTask:
    """The task of a saved music checkpoint (a checkpoint or run directory) with its weights loaded;
    `data` replaces the data set it was trained on."""
    cfg = checkpoint.settings(MusicConfig, checkpoint.read_state(path, task="music")["meta"].get("music"), path)
    task = MusicTask(dataclasses.replace(cfg, data=data) if data else cfg)
    checkpoint.load(path, task.model)
    return task


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


def roll_to_midi(roll: torch.Tensor, ticks_per_frame: int = 240, ticks_per_beat: int = 480,
                 tempo_us: int = 500_000, velocity: int = 80) -> bytes:
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
    ax.imshow(roll[:, lo : hi + 1].T.numpy(), aspect="auto", origin="lower", cmap="Greys", interpolation="nearest",
              extent=(-0.5, roll.shape[0] - 0.5, lo + LOWEST_NOTE - 0.5, hi + LOWEST_NOTE + 0.5))
    ax.set_xlabel("frame")
    ax.set_ylabel("MIDI note")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)

