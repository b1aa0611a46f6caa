"""Untrusted files: checkpoints are read as safetensors + JSON only (pickle is never called, not even
on a file that is a pickle), and nothing read from a checkpoint sends the run's writes outside
its run directory."""

from __future__ import annotations

import json
import os
import pickle
import shutil

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks.lm import LanguageModel
from rnnkit.train import checkpoint


class _Payload:
    """Unpickling this would create the directory `marker`: proof that code from a file ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


@pytest.fixture
def no_pickle(monkeypatch):
    """Every way torch or pickle could unpickle raises, so a test fails if any is called."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was called")

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)


def test_every_loader_reads_without_pickle(tiny_lm_run, tmp_path, no_pickle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    LanguageModel.load(tiny_lm_run)
    runner = CliRunner()
    reported = shutil.copytree(tiny_lm_run, tmp_path / "reported", symlinks=True)  # the shared run stays as it is
    commands = [["lm", "sample", str(tiny_lm_run), "--prime", "to", "--length", "5"],
                ["diagnose", "gates", "--checkpoint", str(tiny_lm_run), "--text", "to be", "--out", "g.html"],
                ["diagnose", "report", str(reported)]]
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    # a resumed run loads weights, optimiser and carried state the same way
    run = tmp_path / "run"
    shutil.copytree(tiny_lm_run, run, symlinks=True)
    step = checkpoint.read_state(run)["step"]
    result = runner.invoke(app, ["lm", "train", "--resume", str(run), "--max-steps", str(step + 1)])
    assert result.exit_code == 0, result.output
    assert checkpoint.read_state(run)["step"] == step + 1


@pytest.mark.parametrize("where", ["file", "model.safetensors", "optim.safetensors", "state.json"])
def test_a_malicious_pickle_is_never_executed(tiny_lm_run, tmp_path, where):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    if where == "file":
        target = tmp_path / "model.pt"
        target.write_bytes(payload)
    else:
        target = tmp_path / "ckpt"
        shutil.copytree(tiny_lm_run / "last", target)
        (target / where).write_bytes(payload)
    runner = CliRunner()
    for args in (["lm", "sample", str(target)], ["classify", "predict", "--checkpoint", str(target), "hi"],
                 ["diagnose", "gates", "--checkpoint", str(target), "--text", "to", "--out", str(tmp_path / "g")],
                 ["lm", "train", "--resume", str(target)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "error:" in result.stderr, (args, result.output)
    assert not marker.exists()


def test_resume_writes_only_inside_the_checkpoints_run_dir(tiny_lm_run, tmp_path):
    """A state.json whose config names another run_dir (../.., an absolute path) does not move the
    resumed run's writes there: they go to the directory that holds the checkpoint."""
    run, outside = tmp_path / "copy" / "run", tmp_path / "outside"
    shutil.copytree(tiny_lm_run, run, symlinks=True)
    state_file = run / "last" / "state.json"
    state = json.loads(state_file.read_text())
    step = state["step"]
    for escape in (str(outside), "../../outside"):
        state["config"]["run_dir"] = escape
        state_file.write_text(json.dumps(state))
        result = CliRunner().invoke(app, ["lm", "train", "--resume", str(run), "--max-steps", str(step + 1)])
        assert result.exit_code == 0, result.output
        assert not outside.exists() and not (tmp_path / "outside").exists()
        assert checkpoint.read_state(run)["step"] == step + 1
        state_file = run / "last" / "state.json"
        state = json.loads(state_file.read_text())
        step = state["step"]


def test_cleanup_never_follows_links_out_of_the_run_dir(tiny_lm_run, tmp_path):
    """Stale checkpoint directories are deleted by name inside the run dir; a `ckpt-*` symlink to
    a directory elsewhere is not followed."""
    run, victim = tmp_path / "run", tmp_path / "victim"
    shutil.copytree(tiny_lm_run, run, symlinks=True)
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    (run / "ckpt-99999999-evil").symlink_to(victim, target_is_directory=True)
    step = checkpoint.read_state(run)["step"]
    result = CliRunner().invoke(app, ["lm", "train", "--resume", str(run), "--max-steps", str(step + 1)])
    assert result.exit_code == 0, result.output
    assert (victim / "precious.txt").read_text() == "keep me"
