"""rnnkit: recurrent neural networks for sequence data."""

__version__ = "0.1.0"
