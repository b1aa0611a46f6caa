"""Watching a run: a rich progress bar on a terminal (plain lines otherwise), metrics as JSONL,
optional TensorBoard scalars, and a loss-curve PNG at the end."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rnnkit._util import pyplot


class Monitor:
    """Receives metric rows from the trainer and shows/records them. Only rank 0 makes one."""

    def __init__(
        self,
        run_dir: str | Path,
        total_steps: int,
        max_time: float,
        tensorboard: bool,
        tty: bool | None = None,
        append: bool = False,
    ):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # A resumed run appends to its metrics; a fresh one (--overwrite included) starts them anew.
        self.jsonl = open(self.run_dir / "metrics.jsonl", "a" if append else "w", encoding="utf-8")  # noqa: SIM115 (open for the run)
        self.total_steps, self.max_time = total_steps, max_time
        self.start = time.perf_counter()
        self.start_step = 0  # the step this process started from (set by the trainer on resume)
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.console = Console()
        self.progress = None
        if self.tty:
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}  {task.fields[tok_s]:,.0f} tok/s  ETA {task.fields[eta]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self.bar = self.progress.add_task(
                "train", total=total_steps or None, epoch=0, loss=float("nan"), tok_s=0.0, eta="?"
            )
            self.progress.start()
        self.writer = None
        if tensorboard:  # imported only when asked for: tensorboard is an optional dependency
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ValueError(
                    "--tensorboard needs the tensorboard package: pip install 'rnnkit[tensorboard]'"
                ) from None
            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    def eta(self, step: int) -> str:
        """Time left, from the step rate since this process started and the time budget."""
        elapsed = time.perf_counter() - self.start
        left = []
        if self.total_steps and step > self.start_step:
            left.append(elapsed / (step - self.start_step) * (self.total_steps - step))
        if self.max_time:
            left.append(self.max_time - elapsed)
        return time.strftime("%H:%M:%S", time.gmtime(max(0.0, min(left)))) if left else "?"

    def log(self, row: dict) -> None:
        """Records one metric row ({"kind": "train" | "val" | "epoch" | "test" | ..., ...})."""
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.writer.add_scalar(f"{row['kind']}/{key}", value, row.get("step", 0))
        if row["kind"] == "train" and self.progress is not None:
            self.progress.update(
                self.bar,
                completed=row["step"],
                epoch=row["epoch"],
                loss=row["loss"],
                tok_s=row["tok_s"],
                eta=self.eta(row["step"]),
            )
        elif row["kind"] == "train":
            self.print(" ".join(f"{k}={_fmt(v)}" for k, v in row.items()) + f" eta={self.eta(row['step'])}")
        else:
            self.print(" ".join(f"{k}={_fmt(v)}" for k, v in row.items()))

    def print(self, text: str) -> None:
        """A line of text above the progress bar (or on stdout without one)."""
        if self.progress is not None:
            self.progress.console.print(text, highlight=False, markup=False)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.writer is not None:
            self.writer.close()
        self.jsonl.close()
        plot_losses(self.run_dir / "metrics.jsonl", self.run_dir / "loss.png")


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def plot_losses(jsonl: Path, png: Path | BinaryIO) -> None:
    """The train and validation loss against the update step, from a metrics.jsonl, as a PNG."""
    plt = pyplot()
    rows = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line]
    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, style in (("train", "-"), ("val", "o-")):
        points = sorted({r["step"]: r["loss"] for r in rows if r["kind"] == kind}.items())
        if points:
            ax.plot(*zip(*points), style, label=kind, markersize=3)
    ax.set_xlabel("update step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
