"""Music from MIDI files: piano rolls quantised to a grid of frames per beat, and a split by piece.

A note sounds in frames round(on / F) .. round(off / F) - 1 (at least one frame), F = ticks per
frame = ticks_per_beat / frames_per_beat; drums (channel 10) and notes outside the piano's
21..108 are left out. Shape letters as in rnnkit.data.music: T = frames, K = 88 keys.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from rnnkit.data.music import KEYS, LOWEST_NOTE

MIDI_SUFFIXES = (".mid", ".midi")
DRUM_CHANNEL = 9  # General MIDI channel 10, counted from 0


def is_midi(spec: str) -> bool:
    """Whether `spec` names a MIDI file or a folder (MIDI files are looked for in it)."""
    path = Path(spec)
    return path.is_dir() or path.suffix.lower() in MIDI_SUFFIXES


def midi_files(spec: str) -> list[Path]:
    """The MIDI files named by `spec`: the file itself, or every *.mid / *.midi under a folder, sorted."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())
        if not files:
            raise ValueError(f"{path}: no MIDI files (*.mid, *.midi) in this folder")
        return files
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    return [path]


def read_midi(path: str | Path, frames_per_beat: int) -> torch.Tensor:
    """The (T, K) 0/1 piano roll of a MIDI file on a grid of `frames_per_beat` frames per beat
    (quarter note). ValueError naming the file if it cannot be read or holds no piano notes."""
    import mido

    try:
        midi = mido.MidiFile(str(path))
    except Exception as err:  # noqa: BLE001 (mido raises OSError, EOFError, ValueError, KeyError ... on bad files)
        raise ValueError(f"{path}: not a readable MIDI file ({type(err).__name__}: {err})") from None
    if midi.type == 2:
        raise ValueError(f"{path}: MIDI type 2 (independent sequences) is not supported")
    per_frame = midi.ticks_per_beat / frames_per_beat
    notes, sounding, tick = [], {}, 0  # (key, on tick, off tick); (channel, note) -> on tick
    for msg in mido.merge_tracks(midi.tracks):
        tick += msg.time
        if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            if key in sounding:  # re-struck without a note-off: end the previous one here
                notes.append((msg.note, sounding.pop(key), tick))
            sounding[key] = tick
        elif key in sounding:
            notes.append((msg.note, sounding.pop(key), tick))
    notes += [(note, on, tick) for (_, note), on in sounding.items()]  # never released: until the end
    notes = [n for n in notes if LOWEST_NOTE <= n[0] < LOWEST_NOTE + KEYS]
    if not notes:
        raise ValueError(f"{path}: no piano notes (MIDI 21..108, drums left out)")
    spans = [(note, round(on / per_frame), round(off / per_frame)) for note, on, off in notes]
    frames = max(max(start + 1, end) for _, start, end in spans)
    roll = torch.zeros(frames, KEYS)
    for note, start, end in spans:
        roll[start : max(start + 1, end), note - LOWEST_NOTE] = 1.0
    return roll


def load_midi_rolls(
    spec: str, frames_per_beat: int = 2, seed: int = 0, val_frac: float = 0.1, test_frac: float = 0.1
) -> dict[str, list[torch.Tensor]]:
    """{"train" | "val" | "test": [(T_i, K) piano roll, ...]} from a MIDI file or a folder of them.

    With at least 3 pieces the split is by piece, shuffled with `seed` (at least one piece each in
    val and test); with fewer, each piece is cut in time into its first 80%, next 10% and last 10%.
    """
    if frames_per_beat < 1:
        raise ValueError(f"frames_per_beat must be >= 1, got {frames_per_beat}")
    rolls = [read_midi(f, frames_per_beat) for f in midi_files(spec)]
    if len(rolls) < 3:
        parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
        for roll in rolls:
            if len(roll) < 20:
                raise ValueError(
                    f"{spec}: {len(roll)} frames are too few to split into train/val/test; "
                    "give a folder of at least 3 MIDI files or a longer piece"
                )
            a, b = round(len(roll) * (1 - val_frac - test_frac)), round(len(roll) * (1 - test_frac))
            parts["train"].append(roll[:a])
            parts["val"].append(roll[a:b])
            parts["test"].append(roll[b:])
        return parts
    order = list(range(len(rolls)))
    random.Random(seed).shuffle(order)
    n_test, n_val = max(1, round(len(order) * test_frac)), max(1, round(len(order) * val_frac))
    return {
        "test": [rolls[i] for i in order[:n_test]],
        "val": [rolls[i] for i in order[n_test : n_test + n_val]],
        "train": [rolls[i] for i in order[n_test + n_val :]],
    }
