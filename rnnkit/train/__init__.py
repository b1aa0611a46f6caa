"""The trainer every rnnkit task uses: config, loop, truncated BPTT, checkpoints, monitoring."""

from rnnkit.train.config import TrainConfig, build_configs
from rnnkit.train.loop import Trainer, TrainingDiverged
from rnnkit.train.task import Batch, Task

__all__ = ["Batch", "Task", "TrainConfig", "Trainer", "TrainingDiverged", "build_configs"]
