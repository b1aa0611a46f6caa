"""The command line, run as a user runs it: help, Ctrl-C, configuration layers, output to a pipe."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.train import checkpoint

# Every train command: its argv, and its task's config class (by module and name).
TRAIN_COMMANDS = {"lm": ["lm", "train"], "classify": ["classify", "train"], "forecast": ["forecast", "train"],
                  "seq2seq": ["seq2seq", "train"], "music": ["music", "train"], "longrange": ["longrange"],
                  "tag": ["tag", "train"]}
SERIES = "date,y\n" + "".join(f"{i},{20 + (i % 12) * 0.5 + (i % 5) * 0.1}\n" for i in range(120))
PAIRS = "".join(f"{a}+{b}\t{a + b}\n" for a, b in [(1, 2), (12, 30), (5, 5), (99, 1)] * 20)
MUSIC = ('{"train": [[[60, 64], [62], [60, 67], [64], [65]], [[60], [62, 65], [64], [67]]], '
         '"valid": [[[60], [62, 65], [64]], [[64], [65]]], "test": [[[60, 64], [67], [62]], [[60], [62]]]}')


def rnnkit(*args, **env):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **env})


def _popen(*args, **env):
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **env})


def test_help_lists_commands():
    result = rnnkit("--help")
    assert result.returncode == 0
    assert "version" in result.stdout


def test_version():
    from rnnkit import __version__

    assert rnnkit("version").stdout.strip() == __version__


def test_unknown_command_is_one_clear_error():
    result = rnnkit("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "frobnicate" in result.stderr


def test_train_help_lists_every_setting_in_the_options_table():
    from rnnkit.cli import classify, forecast, lm, longrange, music, seq2seq, tag
    from rnnkit.cli.common import TrainCommand

    for module in (lm, classify, forecast, seq2seq, music, longrange, tag):
        assert isinstance(module.train, TrainCommand)
        argv = TRAIN_COMMANDS[module.train.task.name]
        out = CliRunner().invoke(app, [*argv, "--help"], terminal_width=200).output
        for cls in module.train.classes.values():
            for field in dataclasses.fields(cls):
                assert f"│ --{field.name.replace('_', '-')} " in out, (argv, field.name)  # a row of the table
        for flag in ("--config", "--nproc", "--resume", "--overwrite", "--threads"):
            assert f"│ {flag} " in out, (argv, flag)
        if module is not forecast:  # (ForecastConfig declares no choices yet)
            assert "<lstm|gru|rnn>" in out, argv  # declared choices are listed (and completed by the shell)


def test_every_train_help_lists_its_flags_in_a_pipe_on_a_narrow_terminal():
    """COLUMNS=40 and stdout a pipe: the flag names are whole, as they are on a wide terminal."""
    procs = {task: _popen(*argv, "--help", COLUMNS="40") for task, argv in TRAIN_COMMANDS.items()}
    for task, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        for flag in ("--hidden-size", "--max-time", "--nproc", "--config"):
            assert f" {flag} " in out, (task, flag)


def test_inference_help_states_which_checkpoint_a_run_directory_means():
    for argv in (["lm", "eval"], ["lm", "sample"], ["classify", "eval"], ["classify", "predict"],
                 ["forecast", "eval"], ["forecast", "predict"], ["forecast", "anomalies"], ["music", "eval"],
                 ["music", "sample"], ["seq2seq", "translate"], ["export"]):
        out = " ".join(CliRunner().invoke(app, [*argv, "--help"], terminal_width=200).output.split())
        assert "best checkpoint, or its last if it has no best" in out.replace("│ ", ""), argv


def test_sigint_during_training_is_one_line_and_exit_130_for_every_task(tmp_path):
    """forecast, seq2seq and music started at once; each gets SIGINT once its run has a checkpoint."""
    (tmp_path / "s.csv").write_text(SERIES)
    (tmp_path / "p.tsv").write_text(PAIRS)
    (tmp_path / "m.json").write_text(MUSIC)
    long = ["--max-epochs", "0", "--max-steps", "1000000", "--patience", "0", "--threads", "1", "--hidden-size", "4"]
    procs = {
        "forecast": _popen("forecast", "train", "--csv", str(tmp_path / "s.csv"), "--time-col", "date",
                           "--target-col", "y", "--horizon", "2", "--lookback", "4", "--val-size", "6",
                           "--test-size", "6", "--run-dir", str(tmp_path / "forecast"), *long),
        "seq2seq": _popen("seq2seq", "train", "--data", str(tmp_path / "p.tsv"), "--embed-size", "4",
                          "--batch-size", "4", "--run-dir", str(tmp_path / "seq2seq"), *long),
        "music": _popen("music", "train", "--data", str(tmp_path / "m.json"), "--batch-size", "2",
                        "--run-dir", str(tmp_path / "music"), *long),
    }
    end = time.monotonic() + 120
    waiting = dict(procs)
    while waiting:
        for task, proc in list(waiting.items()):
            assert proc.poll() is None, (task, proc.communicate())
            if (tmp_path / task / "last").exists():
                time.sleep(0.3)  # a few updates past the first checkpoint
                proc.send_signal(signal.SIGINT)
                del waiting[task]
        assert time.monotonic() < end, f"no checkpoint from {list(waiting)}"
        time.sleep(0.01)
    for task, proc in procs.items():
        _, stderr = proc.communicate(timeout=60)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert proc.returncode == 130, (task, stderr)
        assert len(lines) == 1 and lines[0].startswith("error: interrupted"), (task, stderr)
        assert f"--resume {tmp_path / task}" in lines[0], (task, stderr)


def test_task_defaults_lie_under_the_toml_file_and_flags_over_it(tmp_path):
    """seq2seq's trainer defaults (lr 0.005, 12 epochs, ...) never override the user's [train] table."""
    from rnnkit.cli import seq2seq

    (tmp_path / "c.toml").write_text('[train]\nlr = 0.01\nmax_epochs = 5\n[seq2seq]\nhidden_size = 8\n')
    cfgs = seq2seq.train.task.configs(str(tmp_path / "c.toml"), ["--max-epochs", "3"])
    assert (cfgs["train"].lr, cfgs["train"].max_epochs, cfgs["train"].threads) == (0.01, 3, 1)
    assert (cfgs["train"].schedule, cfgs["train"].run_dir, cfgs["seq2seq"].hidden_size) == ("cosine", "runs/seq2seq", 8)


def test_toml_survives_through_the_command_and_resume_keeps_the_run_settings(tmp_path):
    (tmp_path / "p.tsv").write_text(PAIRS)
    (tmp_path / "c.toml").write_text('[train]\nlr = 0.0123\nmax_steps = 1\n')
    run = tmp_path / "run"
    tiny = ["--data", str(tmp_path / "p.tsv"), "--hidden-size", "4", "--embed-size", "4", "--batch-size", "4"]
    result = CliRunner().invoke(app, ["seq2seq", "train", "--config", str(tmp_path / "c.toml"), *tiny,
                                      "--clip-norm", "2", "--run-dir", str(run)])
    assert result.exit_code == 0, result.output
    saved = checkpoint.read_state(run)["config"]
    assert (saved["lr"], saved["clip_norm"], saved["max_steps"], saved["schedule"]) == (0.0123, 2.0, 1, "cosine")
    result = CliRunner().invoke(app, ["seq2seq", "train", "--resume", str(run), "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    saved = checkpoint.read_state(run)["config"]
    assert (saved["lr"], saved["clip_norm"], saved["max_steps"]) == (0.0123, 2.0, 2)  # not the task defaults


def test_a_run_directory_means_its_best_checkpoint_else_its_last(tmp_path):
    from rnnkit.tasks.base import checkpoint_dir

    run = tmp_path / "run"
    for name in ("ckpt-1", "ckpt-2"):
        (run / name).mkdir(parents=True)
    (run / "last").symlink_to("ckpt-2")
    assert checkpoint_dir(run) == run / "last"  # no best yet
    (run / "best").symlink_to("ckpt-1")
    assert checkpoint_dir(run) == run / "best"
    assert checkpoint_dir(run / "ckpt-2") == run / "ckpt-2"


@pytest.mark.slow  # ~40 s under load: two torchrun launches
def test_music_and_forecast_train_with_two_processes(tmp_path):
    (tmp_path / "s.csv").write_text(SERIES)
    (tmp_path / "m.json").write_text(MUSIC)
    tiny = ["--hidden-size", "4", "--max-steps", "2", "--threads", "1", "--nproc", "2"]
    procs = {
        "forecast": _popen("forecast", "train", "--csv", str(tmp_path / "s.csv"), "--time-col", "date",
                           "--target-col", "y", "--horizon", "2", "--lookback", "4", "--val-size", "6",
                           "--test-size", "6", "--run-dir", str(tmp_path / "forecast"), *tiny),
        "music": _popen("music", "train", "--data", str(tmp_path / "m.json"), "--batch-size", "2",
                        "--run-dir", str(tmp_path / "music"), *tiny),
    }
    for task, proc in procs.items():
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, (task, stderr)
        assert checkpoint.read_state(tmp_path / task)["world"] == 2, task
