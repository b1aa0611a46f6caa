"""rnnkit: recurrent neural networks for sequence data.

The layers are drop-in replacements for torch.nn.RNN / LSTM / GRU, trained through rnnkit's own
BPTT engine (rnnkit.engine); the cells (rnnkit.cells) hold the step equations.
"""

from rnnkit.layers import GRU, LSTM, RNN
from rnnkit.tasks.forecaster import Forecaster

__version__ = "0.1.0"

__all__ = ["GRU", "LSTM", "RNN", "Forecaster", "__version__"]
