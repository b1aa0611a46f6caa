"""Polyphonic music as 88-key piano rolls: the bundled JSB Chorales and Nottingham sets
(Boulanger-Lewandowski et al. 2012), JSON loading with checks, and padded next-frame batches.

Shape letters: B = sequences in a batch, T = time steps (frames), K = 88 piano keys.
A JSON file holds ``{"train": [seq, ...], "valid": [...], "test": [...]}``; a sequence is a list of
frames, a frame an ascending list of MIDI note numbers in 21..108 (A0..C8); key k = note - 21.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import torch

KEYS = 88
LOWEST_NOTE = 21  # MIDI A0, key 0
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # rnnkit split name -> JSON key
BUNDLED = {"jsb": "JSB_Chorales.json", "nottingham": "Nottingham.json"}
PAD = -1.0  # target value of frames past a sequence's end


def dataset_path(spec: str) -> Path:
    """The JSON file named by `spec`: a bundled set ("jsb", "nottingham", or its file name
    JSB_Chorales.json / Nottingham.json) unless `spec` is an existing path."""
    path = Path(spec)
    if path.is_file():
        return path
    name = {**BUNDLED, **{v.lower(): v for v in BUNDLED.values()}}.get(spec.lower())
    if name:
        return Path(str(resources.files("rnnkit.data").joinpath("bundled", name)))
    raise ValueError(f"music data {spec!r}: no such file (bundled sets: {', '.join(BUNDLED)})")


def load_rolls(spec: str) -> dict[str, list[torch.Tensor]]:
    """{"train" | "val" | "test": [(T_i, K) float 0/1 piano roll, ...]} from a JSON file (see `dataset_path`).

    Raises ValueError naming the file and the first thing that is not of the expected shape.
    """
    path = dataset_path(spec)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read music data {path}: {err}") from None
    if not isinstance(doc, dict) or any(k not in doc for k in SPLITS.values()):
        raise ValueError(
            f"{path}: expected a JSON object with keys train, valid, test "
            "(each a list of sequences of frames of MIDI notes)"
        )
    rolls = {}
    for split, key in SPLITS.items():
        if not isinstance(doc[key], list):
            raise ValueError(f"{path}: {key} must be a list of sequences")
        rolls[split] = [frames_to_roll(seq, f"{path}: {key}[{i}]") for i, seq in enumerate(doc[key])]
    if not rolls["train"]:
        raise ValueError(f"{path}: the train split is empty")
    return rolls


def frames_to_roll(seq, where: str = "sequence") -> torch.Tensor:
    """A (T, K) float piano roll from a list of T frames of MIDI notes; ValueError saying `where`."""
    if not isinstance(seq, list) or len(seq) < 2:
        raise ValueError(f"{where} must be a list of at least 2 frames (lists of MIDI notes)")
    roll = torch.zeros(len(seq), KEYS)
    for t, frame in enumerate(seq):
        if not isinstance(frame, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in frame):
            raise ValueError(f"{where}[{t}] must be a list of integer MIDI notes, got {frame!r}")
        for n in frame:
            if not LOWEST_NOTE <= n < LOWEST_NOTE + KEYS:
                raise ValueError(f"{where}[{t}]: MIDI note {n} is outside the piano range 21..108")
            roll[t, n - LOWEST_NOTE] = 1.0
    return roll


def roll_to_frames(roll: torch.Tensor) -> list[list[int]]:
    """The inverse of `frames_to_roll`: each frame's sounding MIDI notes, ascending."""
    return [[int(k) + LOWEST_NOTE for k in torch.nonzero(frame > 0.5).flatten()] for frame in roll]


def next_frame_batch(rolls: list[torch.Tensor], steps: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(x (B, T, K), y (B, T, K), frames): inputs are frames 0..T_i-2, targets frames 1..T_i-1,
    T = max(max T_i - 1, steps). Past each sequence's end x is 0 and y is PAD; `frames` counts the
    valid targets."""
    T = max(max(len(r) for r in rolls) - 1, steps)
    x = torch.zeros(len(rolls), T, KEYS)
    y = torch.full((len(rolls), T, KEYS), PAD)
    for b, r in enumerate(rolls):
        x[b, : len(r) - 1] = r[:-1]
        y[b, : len(r) - 1] = r[1:]
    return x, y, sum(len(r) - 1 for r in rolls)


def length_batches(lengths: list[int], batch_size: int, seed: int | None) -> Iterator[list[int]]:
    """Index lists of `batch_size` sequences of similar length (little padding).

    seed None: sorted by length, in order. Otherwise sorted by (length, random key) and the
    batches shuffled, the same for the same seed.
    """
    rng = random.Random(seed)
    keys = [rng.random() if seed is not None else 0.0 for _ in lengths]
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], keys[i]))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if seed is not None:
        rng.shuffle(batches)
    return iter(batches)
