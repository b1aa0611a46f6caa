"""Small helpers every layer of rnnkit may use (nothing here imports the rest of rnnkit):
matplotlib on the Agg backend, one torch thread for step-by-step work, atomic text files."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import torch


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def one_thread():
    """Run torch on one thread inside the block: step-by-step work on small tensors is fastest so,
    and several threads on a busy machine can be ~50x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def write_atomic(path: str | Path, text: str) -> None:
    """Write a text file under a temporary name, then rename it into place."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
