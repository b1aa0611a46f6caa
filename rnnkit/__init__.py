"""rnnkit: recurrent neural networks for sequence data.

The layers are drop-in replacements for torch.nn.RNN / LSTM / GRU, trained through rnnkit's own
BPTT engine (rnnkit.engine); the cells (rnnkit.cells) hold the step equations. Each task has a
Python API (fit, evaluate, predict, save, load): LanguageModel, TextClassifier, MusicModel, Seq2Seq,
Tagger, SequenceClassifier, Forecaster.

This module is the public facade: it re-exports the public API lazily (PEP 562), each name loaded
from its home module on first use, so ``import rnnkit`` is cheap and importing one part of the
package (``rnnkit.cells``, ``rnnkit.train.checkpoint``) does not load the rest. Modules inside the
package never import this facade; they import from the home module (tests/test_layering.py).
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from rnnkit.layers import GRU, LSTM, RNN
    from rnnkit.tasks.classify import TextClassifier
    from rnnkit.tasks.forecaster import Forecaster
    from rnnkit.tasks.lm import LanguageModel
    from rnnkit.tasks.music import MusicModel
    from rnnkit.tasks.seq2seq import Seq2Seq
    from rnnkit.tasks.seqclass import SequenceClassifier
    from rnnkit.tasks.tag import Tagger

__version__ = "0.1.0"

# public name -> home module
_HOMES = {
    "GRU": "rnnkit.layers",
    "LSTM": "rnnkit.layers",
    "RNN": "rnnkit.layers",
    "LanguageModel": "rnnkit.tasks.lm",
    "TextClassifier": "rnnkit.tasks.classify",
    "MusicModel": "rnnkit.tasks.music",
    "Seq2Seq": "rnnkit.tasks.seq2seq",
    "Tagger": "rnnkit.tasks.tag",
    "SequenceClassifier": "rnnkit.tasks.seqclass",
    "Forecaster": "rnnkit.tasks.forecaster",
}

__all__ = [  # = _HOMES and __version__ (tests/test_layering.py checks that every name resolves)
    "GRU",
    "LSTM",
    "RNN",
    "Forecaster",
    "LanguageModel",
    "MusicModel",
    "Seq2Seq",
    "SequenceClassifier",
    "Tagger",
    "TextClassifier",
    "__version__",
]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
