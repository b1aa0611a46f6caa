"""rnnkit: recurrent neural networks for sequence data.

The layers are drop-in replacements for torch.nn.RNN / LSTM / GRU, trained through rnnkit's own
BPTT engine (rnnkit.engine); the cells (rnnkit.cells) hold the step equations. Each task has a
Python API (fit, evaluate, predict, save, load): LanguageModel, TextClassifier, MusicModel, Seq2Seq.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from rnnkit.layers import GRU, LSTM, RNN

if TYPE_CHECKING:  # for type checkers; at run time they are imported on first use (see __getattr__)
    from rnnkit.tasks.classify import TextClassifier
    from rnnkit.tasks.lm import LanguageModel
    from rnnkit.tasks.music import MusicModel
    from rnnkit.tasks.seq2seq import Seq2Seq

__version__ = "0.1.0"

# The task APIs, imported on first use (they load the trainer and the data readers).
_TASKS = {"LanguageModel": "rnnkit.tasks.lm", "TextClassifier": "rnnkit.tasks.classify",
          "MusicModel": "rnnkit.tasks.music", "Seq2Seq": "rnnkit.tasks.seq2seq"}

__all__ = ["GRU", "LSTM", "RNN", "LanguageModel", "MusicModel", "Seq2Seq", "TextClassifier", "__version__"]


def __getattr__(name: str):
    if name in _TASKS:
        return getattr(import_module(_TASKS[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
