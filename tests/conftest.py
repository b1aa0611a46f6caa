"""Shared fixtures: the cell variants every engine test runs over; the documentation site, built once."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell

H = 3

CELL_VARIANTS = {
    **{f"rnn-{a}": RNNCell(H, a) for a in ("tanh", "sigmoid", "relu", "softsign")},
    "lstm": LSTMCell(H),
    "lstm-peephole": LSTMCell(H, peephole=True),
    "lstm-cifg": LSTMCell(H, cifg=True),
    "lstm-layernorm": LSTMCell(H, layer_norm=True),
    "lstm-softsign": LSTMCell(H, activation="softsign"),
    "lstm-all": LSTMCell(H, peephole=True, cifg=True, layer_norm=True, activation="softsign"),
    "gru-reset-after": GRUCell(H, reset_after=True),
    "gru-reset-before": GRUCell(H, reset_after=False),
}

# The same variants as layer constructors: (layer class name, options).
LAYER_VARIANTS = {
    **{f"rnn-{a}": ("RNN", {"nonlinearity": a}) for a in ("tanh", "sigmoid", "relu", "softsign")},
    "lstm": ("LSTM", {}),
    "lstm-peephole": ("LSTM", {"peephole": True}),
    "lstm-cifg": ("LSTM", {"cifg": True}),
    "lstm-layernorm": ("LSTM", {"layer_norm": True}),
    "lstm-softsign": ("LSTM", {"activation": "softsign"}),
    "lstm-all": ("LSTM", {"peephole": True, "cifg": True, "layer_norm": True, "activation": "softsign"}),
    "gru-reset-after": ("GRU", {"reset_after": True}),
    "gru-reset-before": ("GRU", {"reset_after": False}),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_lm_run(tmp_path_factory):
    """A run directory of a tiny char-level LSTM trained for 30 updates (report, checkpoints, metrics)."""
    from rnnkit.tasks.lm import LanguageModelTask, LMConfig
    from rnnkit.train import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("tiny_lm")
    text = root / "text.txt"
    text.write_text('to be, or not to be: that is the question.\nHAMLET:\n"whether (tis) nobler"\n' * 30)
    torch.manual_seed(0)
    task = LanguageModelTask(LMConfig(data=str(text), embed_size=8, hidden_size=16, num_layers=1, batch_size=4,
                                      seq_len=16, eval_batch_size=2))
    Trainer(task, TrainConfig(run_dir=str(root / "run"), max_steps=30, max_epochs=0, eval_every=10,
                              log_every=5, threads=1)).fit()
    return root / "run"


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The documentation site, built once per session with mkdocs build --strict (tests/test_docs*.py)."""
    site = tmp_path_factory.mktemp("site") / "site"
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--quiet",
                           "--site-dir", str(site)], cwd=Path(__file__).resolve().parents[1], text=True,
                          capture_output=True, timeout=300, env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    return site
