"""The command line, run as a user runs it."""

import subprocess
import sys


def rnnkit(*args):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=120)


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


def test_train_help_lists_every_setting():
    import dataclasses

    from typer.testing import CliRunner

    from rnnkit.cli import app
    from rnnkit.tasks.classify import ClassifyConfig
    from rnnkit.tasks.forecast import ForecastConfig
    from rnnkit.tasks.seq2seq import Seq2SeqConfig
    from rnnkit.train import TrainConfig

    for task, config in (("classify", ClassifyConfig), ("forecast", ForecastConfig), ("seq2seq", Seq2SeqConfig)):
        out = CliRunner().invoke(app, [task, "train", "--help"], terminal_width=200).output
        for cls in (config, TrainConfig):
            for field in dataclasses.fields(cls):
                assert f"--{field.name.replace('_', '-')} " in out, (task, field.name)
