"""Music from MIDI files: quantisation to a frame grid, the split by piece, and training from a folder."""

from __future__ import annotations

import mido
import pytest
import torch

from rnnkit.data.midi import load_midi_rolls, read_midi
from rnnkit.data.music import KEYS, LOWEST_NOTE
from rnnkit.tasks.music import roll_to_midi


def write_midi(path, notes, ticks_per_beat=480, channel=0):
    """A type-1 MIDI file of (note, start beat, end beat) with a tempo track, written with mido."""
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    midi.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0)]))
    events = sorted([(round(s * ticks_per_beat), 1, n) for n, s, _ in notes]
                    + [(round(e * ticks_per_beat), 0, n) for n, _, e in notes])
    track, last = mido.MidiTrack(), 0
    for tick, on, note in events:
        kind = "note_on" if on else "note_off"
        track.append(mido.Message(kind, note=note, velocity=64 if on else 0, channel=channel, time=tick - last))
        last = tick
    midi.tracks.append(track)
    midi.save(str(path))


def test_read_midi_quantises_notes_to_the_grid(tmp_path):
    path = tmp_path / "a.mid"
    # C4 for beats 0-1, E4 for beats 1-3, a G4 grace note of 1/16 beat at 2, A0 (lowest) and a note too high
    write_midi(path, [(60, 0, 1), (64, 1, 3), (67, 2, 2.0625), (21, 0, 0.5), (120, 0, 1)])
    roll = read_midi(path, frames_per_beat=2)
    assert roll.shape == (6, KEYS)
    on = {(t, int(k) + LOWEST_NOTE) for t, k in torch.nonzero(roll).tolist()}
    assert on == {(0, 60), (1, 60), (2, 64), (3, 64), (4, 64), (5, 64), (4, 67), (0, 21)}


def test_roll_to_midi_round_trip(tmp_path):
    g = torch.Generator().manual_seed(0)
    roll = (torch.rand(16, KEYS, generator=g) < 0.05).float()
    roll[-1, 40] = 1.0  # the last frame sounds, so the piece keeps its length
    (tmp_path / "r.mid").write_bytes(roll_to_midi(roll, ticks_per_frame=240, ticks_per_beat=480))
    assert torch.equal(read_midi(tmp_path / "r.mid", frames_per_beat=2), roll)


def test_folder_split_by_piece_with_a_seed(tmp_path):
    for i in range(10):
        write_midi(tmp_path / f"p{i}.mid", [(40 + i, 0, 2 + i)])
    parts = load_midi_rolls(str(tmp_path), frames_per_beat=1, seed=3)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 8, "val": 1, "test": 1}
    lengths = sorted(len(r) for v in parts.values() for r in v)
    assert lengths == [2 + i for i in range(10)]  # every piece once
    again = load_midi_rolls(str(tmp_path), frames_per_beat=1, seed=3)
    assert all(torch.equal(a, b) for k in parts for a, b in zip(parts[k], again[k]))
    other = load_midi_rolls(str(tmp_path), frames_per_beat=1, seed=4)
    assert [len(r) for r in other["train"]] != [len(r) for r in parts["train"]]


def test_one_file_is_cut_in_time_and_bad_files_name_themselves(tmp_path):
    write_midi(tmp_path / "one.mid", [(60, 0, 50)])
    parts = load_midi_rolls(str(tmp_path / "one.mid"), frames_per_beat=2)
    assert [len(parts[k][0]) for k in ("train", "val", "test")] == [80, 10, 10]
    (tmp_path / "bad.mid").write_bytes(b"MThd garbage")
    with pytest.raises(ValueError, match="bad.mid: not a readable MIDI file"):
        read_midi(tmp_path / "bad.mid", 2)
    write_midi(tmp_path / "drums.mid", [(38, 0, 1)], channel=9)
    with pytest.raises(ValueError, match="drums.mid: no piano notes"):
        read_midi(tmp_path / "drums.mid", 2)


def test_music_train_from_a_folder_of_midi_files(tmp_path):
    from typer.testing import CliRunner

    from rnnkit.cli import app

    g = torch.Generator().manual_seed(1)
    for i in range(6):
        notes = [(48 + int(torch.randint(0, 24, (), generator=g)), b, b + 1) for b in range(12)]
        write_midi(tmp_path / f"piece{i}.mid", notes)
    result = CliRunner().invoke(app, ["music", "train", "--data", str(tmp_path), "--hidden-size", "8",
                                      "--max-epochs", "2", "--threads", "1", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "test NLL" in result.output
