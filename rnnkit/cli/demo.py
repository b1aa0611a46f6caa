"""`rnnkit demo`: the language-model train command with the demo's settings, then a sample."""

from __future__ import annotations

import typer

from rnnkit.cli.common import run_training
from rnnkit.cli.lm import train_and_report
from rnnkit.tasks.lm import LanguageModel


def demo(
    seconds: float = typer.Option(120.0, help="Training time budget in seconds."),
    run_dir: str = typer.Option("runs/demo", help="Where checkpoints and metrics go."),
    threads: int = typer.Option(0, help="torch threads; 0 = all cores (use 1 on a busy machine)."),
) -> None:
    """Train a small char-level LSTM on tiny Shakespeare, then print val loss and a sample."""
    from rnnkit.tasks.lm import DEMO_ARGS, DEMO_CONTEXT

    args = [*DEMO_ARGS, "--max-time", str(seconds), "--run-dir", run_dir, "--threads", str(threads), "--overwrite"]
    run_training(LanguageModel, lambda cfgs: train_and_report(cfgs, "ROMEO:", 300, DEMO_CONTEXT), None, args)
