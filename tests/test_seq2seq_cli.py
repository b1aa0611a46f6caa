"""`rnnkit seq2seq train|translate`: train in-process, then translate as a user runs it; bad input."""

import subprocess
import sys

from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.train.checkpoint import read_state


def rnnkit(*args):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300)


def one_error_line(*args, words=()):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for w in words:
        assert w in result.stderr


def test_train_rejects_missing_file_line_without_tab_and_bad_options(tmp_path):
    one_error_line("seq2seq", "train", "--data", str(tmp_path / "nope.tsv"), words=("nope.tsv", "cannot read"))
    bad = tmp_path / "bad.tsv"
    bad.write_text("12+5\t17\n3+4 7\n")
    one_error_line("seq2seq", "train", "--data", str(bad), words=("bad.tsv:2", "TAB"))
    one_error_line("seq2seq", "train", "--attention", "dot", words=("attention",))
    one_error_line("seq2seq", "train", "--tbptt-forward", "3", words=("tbptt_forward",))


def test_train_then_translate_with_attention_png(tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{a}+{b}\t{a + b}\n" for a, b in [(1, 2), (12, 30), (5, 5), (99, 1)]) * 20)
    run, toml = tmp_path / "run", tmp_path / "run.toml"
    toml.write_text('[train]\nlr = 0.01\nschedule = "constant"\n')
    result = CliRunner().invoke(app, ["seq2seq", "train", "--data", str(data), "--val-frac", "0", "--test-frac",
                                      "0", "--hidden-size", "16", "--embed-size", "8", "--batch-size", "16",
                                      "--max-epochs", "2", "--run-dir", str(run), "--config", str(toml)])
    assert result.exit_code == 0, result.output
    assert "checkpoint in" in result.stdout
    saved = read_state(run)["config"]  # the user's TOML over the task's defaults (clip_norm 1), flags over both
    assert (saved["lr"], saved["schedule"], saved["clip_norm"], saved["max_epochs"]) == (0.01, "constant", 1.0, 2)
    png = tmp_path / "attn.png"
    result = rnnkit("seq2seq", "translate", "--checkpoint", str(run), "12+30", "--beam", "3",
                    "--attention-png", str(png))
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.strip()) <= set("0123456789?")
    assert png.read_bytes()[:4] == b"\x89PNG"
    one_error_line("seq2seq", "translate", "--checkpoint", str(run), "12x30", words=("'x'", "vocabulary"))
    one_error_line("seq2seq", "translate", "--checkpoint", str(tmp_path), "1+2", words=("not an rnnkit checkpoint",))
