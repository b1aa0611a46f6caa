"""Faults during a run: SIGKILL while a checkpoint is being written, Ctrl-C (SIGINT), a full disk.

After each, the run's `last` checkpoint loads and the run can be resumed from it.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks.lm import LanguageModel
from rnnkit.train import checkpoint

TEXT = "to be, or not to be: that is the question.\nHAMLET: whether 'tis nobler in the mind\n" * 40


def _train_args(text: Path, run: Path, *extra: str) -> list[str]:
    return ["lm", "train", "--data", str(text), "--run-dir", str(run), "--hidden-size", "16", "--embed-size", "8",
            "--num-layers", "1", "--batch-size", "4", "--seq-len", "16", "--eval-batch-size", "2", "--threads", "1",
            "--log-every", "1000", *extra]


def _popen(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"exited early ({proc.returncode}): {proc.stderr.read()}"
        assert time.monotonic() < end, "timed out"
        time.sleep(0.0005)


def _writing(run: Path) -> bool:
    """A checkpoint is being written: its temporary directory or symlink exists."""
    try:
        return any(e.name.startswith(".tmp-") for e in os.scandir(run))
    except FileNotFoundError:
        return False


def test_sigkill_while_writing_checkpoints_leaves_last_loadable(tmp_path):
    """Each round resumes the run, waits until a checkpoint is half-written, and SIGKILLs the writer."""
    (tmp_path / "t.txt").write_text(TEXT)
    run, steps = tmp_path / "run", []
    for round_ in range(3):
        resume = ["--resume", str(run)] if round_ else []
        proc = _popen(_train_args(tmp_path / "t.txt", run, "--ckpt-every", "1", "--max-epochs", "0",
                                  "--max-steps", "100000", *resume))
        _wait_for(lambda: (run / "last").exists() and _writing(run), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        vocab = LanguageModel.load(run / "last").vocab  # weights, optimiser file and state all readable
        state = checkpoint.read_state(run)
        steps.append(state["step"])
        assert len(vocab) == len(set(TEXT))
    assert steps == sorted(steps)  # each round resumed from the previous one's `last`


def test_sigint_stops_cleanly_saves_last_and_resumes(tmp_path):
    (tmp_path / "t.txt").write_text(TEXT)
    run = tmp_path / "run"
    proc = _popen(_train_args(tmp_path / "t.txt", run, "--ckpt-every", "1000", "--max-epochs", "0",
                              "--max-steps", "100000"))
    _wait_for(lambda: (run / "last").exists(), proc)
    time.sleep(1.0)  # a few updates past the first checkpoint
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert proc.returncode == 130, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "interrupted at step" in lines[0] and f"--resume {run}" in lines[0]
    state = checkpoint.read_state(run)
    assert state["step"] > 0 and f"(step {state['step']})" in lines[0]  # saved at the stop, not at step 0
    LanguageModel.load(run / "last")
    resumed = CliRunner().invoke(app, ["lm", "train", "--resume", str(run), "--max-steps", str(state["step"] + 2)])
    assert resumed.exit_code == 0, resumed.output
    assert checkpoint.read_state(run)["step"] == state["step"] + 2


def test_disk_full_while_writing_a_checkpoint_is_reported_and_keeps_last(tmp_path, monkeypatch):
    (tmp_path / "t.txt").write_text(TEXT)
    run = tmp_path / "run"
    first = CliRunner().invoke(app, _train_args(tmp_path / "t.txt", run, "--max-steps", "3", "--max-epochs", "0"))
    assert first.exit_code == 0, first.output
    before = checkpoint.read_state(run)
    calls = {"n": 0}
    real = checkpoint.save_file

    def full_after_one(tensors, filename, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 1:  # the first save of the resumed run succeeds, the next finds the disk full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "save_file", full_after_one)
    result = CliRunner().invoke(app, ["lm", "train", "--resume", str(run), "--max-steps", "9", "--ckpt-every", "2"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "No space left on device" in lines[0] and "cannot write a checkpoint" in lines[0]
    assert calls["n"] == 2
    assert checkpoint.read_state(run)["step"] == before["step"]  # `last`: the resumed run's first save
    assert not [p for p in run.iterdir() if p.name.startswith(".tmp-")]  # no half-written leftovers
    LanguageModel.load(run / "last")


@pytest.mark.slow
def test_many_sigkills_at_random_points(tmp_path):
    """SIGKILL at random times during training (not only while writing), 15 times in a row; `last`
    always loads and the run keeps advancing."""
    import random

    rng = random.Random(0)
    (tmp_path / "t.txt").write_text(TEXT)
    run, steps = tmp_path / "run", []
    for round_ in range(15):
        resume = ["--resume", str(run)] if round_ else []
        proc = _popen(_train_args(tmp_path / "t.txt", run, "--ckpt-every", "1", "--max-epochs", "0",
                                  "--max-steps", "100000", *resume))
        _wait_for(lambda: (run / "last").exists() and _writing(run), proc)  # training has started
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        LanguageModel.load(run / "last")
        steps.append(checkpoint.read_state(run)["step"])
    assert steps == sorted(steps) and steps[-1] > steps[0]
