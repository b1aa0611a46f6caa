"""The trainer every rnnkit task uses: config, loop, truncated BPTT, checkpoints, monitoring.

The names below load on first use (PEP 562), so ``from rnnkit.train import checkpoint`` reads
checkpoints without loading the training loop.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from rnnkit.train.config import TrainConfig, build_configs
    from rnnkit.train.loop import Trainer, TrainingDiverged
    from rnnkit.train.task import Batch, Task

_HOMES = {
    "Batch": "task",
    "Task": "task",
    "TrainConfig": "config",
    "build_configs": "config",
    "Trainer": "loop",
    "TrainingDiverged": "loop",
}

__all__ = ["Batch", "Task", "TrainConfig", "Trainer", "TrainingDiverged", "build_configs"]  # = _HOMES


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
