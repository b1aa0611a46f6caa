"""rnnkit: recurrent neural networks for sequence data.

The layers are drop-in replacements for torch.nn.RNN / LSTM / GRU, trained through rnnkit's own
BPTT engine (rnnkit.engine); the cells (rnnkit.cells) hold the step equations. Each task has a
Python API (fit, evaluate, predict, save, load): LanguageModel, TextClassifier, MusicModel, Seq2Seq.
"""

from importlib import import_module

from rnnkit.layers import GRU, LSTM, RNN

__version__ = "0.1.0"

# The task APIs, imported on first use (they load the trainer and the data readers).
_TASKS = {"LanguageModel": "rnnkit.tasks.lm", "TextClassifier": "rnnkit.tasks.classify",
          "MusicModel": "rnnkit.tasks.music", "Seq2Seq": "rnnkit.tasks.seq2seq"}

__all__ = ["GRU", "LSTM", "RNN", "LanguageModel", "MusicModel", "Seq2Seq", "TextClassifier", "__version__"]


def __getattr__(name: str):
    if name in _TASKS:
        return getattr(import_module(_TASKS[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
