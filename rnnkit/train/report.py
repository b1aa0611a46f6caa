"""The run report: one self-contained ``report.html`` per training run (plots embedded as base64
PNG, no external files or scripts) with the final metrics, the loss curves, samples or forecasts,
timing, events (early stop, skipped updates, rollbacks) and the full configuration.

Everything is read from the run directory: ``metrics.jsonl`` (written by the trainer's monitor)
and the ``state.json`` of its ``last`` checkpoint (config and task meta). The trainer calls
``write_report`` at the end of ``fit()`` with the task's samples (``task.report_samples()``, an
optional method of a task returning {title: text}); ``rnnkit diagnose report RUN_DIR`` rebuilds it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rnnkit._util import write_atomic
from rnnkit._util.html import esc, page, png_uri, table
from rnnkit.train import checkpoint
from rnnkit.train.monitor import plot_losses

EVENTS = ("early_stop", "skip", "rollback", "save_refused")


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.jsonl: not a training run directory")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return "—" if value is None else str(value)


def _short(value, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


def report_html(run_dir: str | Path, samples: dict[str, str] | None = None) -> str:
    """The report page of the run in ``run_dir``."""
    run_dir = Path(run_dir)
    rows = _rows(run_dir)
    state = checkpoint.read_state(run_dir) if (run_dir / "last").exists() else {}
    meta, config = state.get("meta", {}), state.get("config", {})
    summary = next((r for r in reversed(rows) if r["kind"] == "summary"), {})
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "val"]
    title = f"rnnkit run report: {meta.get('task', 'run')} in {run_dir.name}"

    results = [
        ("task", meta.get("task", "—")),
        ("updates", summary.get("step", state.get("step", "—"))),
        ("epochs completed", summary.get("epoch", state.get("epoch", "—"))),
        *([("best validation score", _fmt(summary["best_score"]))] if "best_score" in summary else []),
        ("best validation loss", _fmt(summary.get("best_val"))),
        ("test loss", _fmt(summary.get("test"))),
        ("last training loss (logged window)", _fmt(train[-1]["loss"]) if train else "—"),
        ("last validation loss", _fmt(val[-1]["loss"]) if val else "—"),
    ]
    timing = [("training time", f"{summary['seconds']:.1f} s" if "seconds" in summary else "—")]
    if train:
        tok_s = [r["tok_s"] for r in train if "tok_s" in r]
        timing.append(("throughput (mean of logged windows)", f"{sum(tok_s) / len(tok_s):,.0f} tokens/s"))
        if summary.get("seconds") and summary.get("step"):
            timing.append(("updates per second", f"{summary['step'] / summary['seconds']:.2f}"))
    events = [(kind, sum(r["kind"] == kind for r in rows)) for kind in EVENTS]

    buf = io.BytesIO()
    plot_losses(run_dir / "metrics.jsonl", buf)
    parts = [
        "<h2>Results</h2>",
        table(results),
        "<h2>Loss curves</h2>",
        f'<img alt="loss curves" src="{png_uri(buf.getvalue())}">',
        "<h2>Timing</h2>",
        table(timing),
    ]
    if samples:
        parts.append("<h2>Samples</h2>")
        for name, text in samples.items():
            parts.append(f"<h3>{esc(name)}</h3><pre>{esc(text)}</pre>")
    parts += [
        "<h2>Events</h2>",
        table(events),
        "<h2>Configuration</h2>",
        table([(k, _short(v)) for k, v in config.items()] or [("config", "—")]),
    ]
    for name, value in meta.items():
        if isinstance(value, dict):
            parts += [f"<h3>{esc(name)}</h3>", table([(k, _short(v)) for k, v in value.items()])]
    parts.append(f"<p class='muted'>run directory: {esc(run_dir.resolve())}</p>")
    return page(title, "\n".join(parts))


def write_report(run_dir: str | Path, samples: dict[str, str] | None = None) -> Path:
    """Write ``run_dir/report.html`` (atomically); returns its path."""
    path = Path(run_dir) / "report.html"
    write_atomic(path, report_html(run_dir, samples))
    return path
