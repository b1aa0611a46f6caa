"""Tests of rnnkit.data.music and rnnkit.tasks.music: piano rolls, the pooled NLL, padding, MIDI, CLI."""

import json
import math
import struct

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.music import (
    KEYS,
    PAD,
    dataset_path,
    frames_to_roll,
    length_batches,
    load_rolls,
    next_frame_batch,
    roll_to_frames,
)
from rnnkit.tasks.music import MusicConfig, MusicRNN, MusicTask, bernoulli_nll, pooled_nll, roll_to_midi, sample

runner = CliRunner()


def tiny_json(tmp_path, seqs=None):
    seqs = seqs or [[[60, 64], [62], [], [60, 67]], [[48], [50, 55], [52]], [[21, 108], [60]]]
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"train": seqs, "valid": seqs[:2], "test": seqs[1:]}))
    return path


def test_bundled_sets_load_with_the_documented_split_sizes():
    rolls = load_rolls("jsb")
    assert [len(rolls[s]) for s in ("train", "val", "test")] == [229, 76, 77]
    assert [sum(len(r) for r in rolls[s]) for s in ("train", "val", "test")] == [13_807, 4_602, 4_725]
    assert rolls["train"][0].shape[1] == KEYS and set(rolls["train"][0].unique().tolist()) <= {0.0, 1.0}
    assert dataset_path("Nottingham.json").stat().st_size == 3_706_783
    assert (dataset_path("Nottingham.json").parent / "Nottingham.SOURCE.txt").is_file()


def test_roll_round_trip_and_key_mapping():
    frames = [[21, 60, 108], [], [64]]
    roll = frames_to_roll(frames)
    assert roll[0, 0] == 1 and roll[0, 87] == 1 and roll[0, 39] == 1 and roll.sum() == 4
    assert roll_to_frames(roll) == frames


def test_nll_on_a_hand_computed_two_frame_example():
    # one sequence of 3 frames -> 2 predicted frames; logits 0 everywhere except two keys
    logits = torch.zeros(1, 2, KEYS)
    logits[0, 0, 5] = 2.0
    logits[0, 1, 7] = -1.0
    y = torch.zeros(1, 2, KEYS)
    y[0, 0, 5] = 1.0  # key 5 on in frame 1 (p = sigmoid(2))
    y[0, 1, 7] = 1.0  # key 7 on in frame 2 (p = sigmoid(-1))
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    frame1 = -math.log(sig(2.0)) + 87 * math.log(2)
    frame2 = -math.log(sig(-1.0)) + 87 * math.log(2)
    total, n = bernoulli_nll(logits, y)
    assert n == 2 and total.item() == pytest.approx(frame1 + frame2, rel=1e-6)


def test_pooled_nll_weights_frames_not_sequences(tmp_path):
    task = MusicTask(MusicConfig(data=str(tiny_json(tmp_path)), hidden_size=4, eval_batch_size=1))
    per_seq = []
    for r in task.rolls["test"]:
        logits, _, _ = task.model(r[None, :-1])
        per_seq.append(bernoulli_nll(logits.detach(), r[None, 1:]))
    expected = sum(float(t) for t, _ in per_seq) / sum(n for _, n in per_seq)
    assert pooled_nll(task, "test") == pytest.approx(expected, rel=1e-5)
    task.cfg.eval_batch_size = 8  # padded batches give the same number
    assert pooled_nll(task, "test") == pytest.approx(expected, rel=1e-5)


def test_loss_ignores_padding():
    torch.manual_seed(0)
    model = MusicRNN(MusicConfig(cell="gru", hidden_size=8)).eval()
    rolls = [torch.bernoulli(torch.full((n, KEYS), 0.1)) for n in (9, 4, 6)]
    x, y, n = next_frame_batch(rolls)
    assert n == 8 + 3 + 5 and (y[1, 3:] == PAD).all() and (x[1, 3:] == 0).all()
    _, loss, (h_n) = model(x, y)
    x2 = x.clone()
    x2[1, 3:] = torch.rand(5, KEYS)  # garbage past the end of sequence 1
    _, loss2, h_n2 = model(x2, y)
    assert torch.allclose(loss, loss2) and torch.allclose(h_n, h_n2)
    # and the batch loss is the frame-pooled mean of the unpadded sequences
    with torch.no_grad():
        total = sum(float(bernoulli_nll(model(r[None, :-1])[0], r[None, 1:])[0]) for r in rolls)
    assert loss.item() == pytest.approx(total / n, rel=1e-5)


def test_length_batches_cover_every_sequence_once_and_are_seeded():
    lengths = [5, 3, 9, 3, 7, 1, 4]
    a = list(length_batches(lengths, 3, seed=1))
    assert sorted(i for b in a for i in b) == list(range(7))
    assert a == list(length_batches(lengths, 3, seed=1))
    assert [lengths[i] for b in length_batches(lengths, 3, seed=None) for i in b] == sorted(lengths)


def parse_midi(data: bytes):
    """An independent reader of a format-0 MIDI file: (division, [(note, start, end), ...])."""
    assert data[:4] == b"MThd"
    _, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert (fmt, ntracks) == (0, 1) and data[14:18] == b"MTrk"
    (length,) = struct.unpack(">I", data[18:22])
    track, i, tick, open_notes, notes = data[22 : 22 + length], 0, 0, {}, []
    assert 22 + length == len(data)
    while i < len(track):
        delta = 0
        while True:
            delta = (delta << 7) | (track[i] & 0x7F)
            i += 1
            if not track[i - 1] & 0x80:
                break
        tick += delta
        status = track[i]
        if status == 0xFF:
            size = track[i + 2]
            i += 3 + size
            continue
        note, velocity = track[i + 1], track[i + 2]
        i += 3
        if status == 0x90 and velocity:
            open_notes[note] = tick
        else:
            notes.append((note, open_notes.pop(note), tick))
    assert not open_notes
    return division, sorted(notes)


def test_midi_bytes_parse_back_to_the_same_notes():
    frames = [[60, 64], [60, 64], [], [60, 67], [72]] + [[]] * 300 + [[40]]  # a long rest: 2-byte delta
    data = roll_to_midi(frames_to_roll(frames), ticks_per_frame=120, ticks_per_beat=480)
    division, notes = parse_midi(data)
    assert division == 480
    assert notes == [(40, 305 * 120, 306 * 120), (60, 0, 240), (60, 360, 480), (64, 0, 240), (67, 360, 480),
                     (72, 480, 600)]


def test_sample_is_reproducible_binary_and_keeps_the_prime():
    torch.manual_seed(0)
    model = MusicRNN(MusicConfig(hidden_size=8))
    prime = frames_to_roll([[60], [62, 65]])
    a = sample(model, prime, 20, seed=3)
    assert a.shape == (22, KEYS) and torch.equal(a[:2], prime) and set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(a, sample(model, prime, 20, seed=3)) and not torch.equal(a, sample(model, prime, 20, seed=4))


def test_cli_trains_evaluates_and_samples(tmp_path):
    data, run = tiny_json(tmp_path), tmp_path / "run"
    result = runner.invoke(app, ["music", "train", "--data", str(data), "--hidden-size", "8", "--max-epochs", "2",
                                 "--run-dir", str(run), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "test NLL" in result.output
    test_nll = float(result.output.split("test NLL ")[1].split()[0].rstrip(","))
    result = runner.invoke(app, ["music", "eval", str(run / "best")])
    assert result.exit_code == 0
    assert float(result.output.split("NLL ")[1].split()[0]) == pytest.approx(test_nll, abs=1e-4)
    out = tmp_path / "s"
    result = runner.invoke(app, ["music", "sample", str(run), "--out", str(out), "--frames", "8", "--prime", "2"])
    assert result.exit_code == 0, result.output
    assert parse_midi((tmp_path / "s.mid").read_bytes())[0] == 480
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("not json", "cannot read music data"),
    ('{"train": []}', "expected a JSON object with keys train, valid, test"),
    ('{"train": [[[60], [200]]], "valid": [], "test": []}', "MIDI note 200 is outside the piano range"),
    ('{"train": [[60, 62]], "valid": [], "test": []}', "must be a list of integer MIDI notes"),
])
def test_cli_bad_data_is_one_error_line_exit_2(tmp_path, content, message):
    path = tmp_path / "d.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["music", "train", "--data", str(path), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
