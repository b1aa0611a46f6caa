"""`rnnkit longrange`: train on a long-range memory task and print its test figures."""

from __future__ import annotations

import typer

from rnnkit.cli.common import declared, train_command
from rnnkit.tasks.longrange import TRAIN_DEFAULTS, LongRangeConfig


@train_command(None, "longrange", declared("longrange", LongRangeConfig, TRAIN_DEFAULTS))
def train(cfgs: dict) -> None:
    """Train on a long-range memory task (--task adding|copy|reber --length T --cell lstm|gru|rnn) and
    print its test figures."""
    from rnnkit.tasks.longrange import LongRangeTask, metrics
    from rnnkit.train import Trainer

    task = LongRangeTask(cfgs["longrange"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank == 0:
        figures = ", ".join(f"{k} {v:.4g}" for k, v in metrics(task, "test").items())
        typer.echo(
            f"{task.cfg.task} T={task.cfg.length} {task.cfg.cell}: test {figures}; "
            f"{summary['step']} updates in {summary['seconds']:.0f} s"
        )
