"""Data-parallel scaling on one machine: the same training as 1 process x 2 threads and as 2 processes x
1 thread (`--nproc 2`, torch DDP over gloo); 1 process x 1 thread as a reference. Two workloads:

- lm: `rnnkit lm train` on the bundled tiny Shakespeare (LSTM 1 x 256, embedding 64, B = 32 sequences of
  T = 64 characters per update, Adam, the same global batch in every setting). Throughput is the
  trainer's own `tok_s` (global targets per second of update time: forward, backward with DDP's
  all-reduce, optimiser step), the median over the logged windows of 20 updates after the first.
- forecast: `rnnkit forecast train --id-col ...` (the many-series forecaster, its default model: LSTM
  48, 2 lookbacks x 3 seeds = 6 members, B = 256 windows) on a synthetic panel of 1,000 monthly series
  (forecast_scale.synthetic_panel), a fixed number of updates per member (one backtest check, at the
  end). Throughput is windows per second of the whole fit (updates x members x B / the fit's wall
  seconds, the backtest check and the interval calibration included): in 2 processes the backtest
  member trains data parallel (DDP) and the other 5 members are shared out.

    python benchmarks/distributed.py            # 3 interleaved rounds (~20 min on 2 shared cores)
    python benchmarks/distributed.py --quick    # 1 round, fewer updates

The table gives each setting's median over the rounds. Writes the `distributed` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from forecast_scale import synthetic_panel
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
LM = ["--hidden-size", "256", "--num-layers", "1", "--embed-size", "64", "--batch-size", "32", "--seq-len", "64"]
SERIES = 1000
SETTINGS = {
    "1 process × 2 threads": ["--threads", "2"],
    "2 processes × 1 thread": ["--threads", "1", "--nproc", "2"],
    "1 process × 1 thread (reference)": ["--threads", "1"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of fewer updates")
    return parser


def rnnkit(args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "rnnkit", *args], check=True, capture_output=True, text=True, env=env)


def lm_throughput(run: Path, steps: int, setting: list[str]) -> float:
    """Median logged tokens/s of one `rnnkit lm train` run of `steps` updates (the first window left out)."""
    rnnkit(["lm", "train", *LM, *setting, "--max-steps", str(steps), "--max-epochs", "0", "--log-every", "20",
            "--ckpt-every", "0", "--run-dir", str(run)])  # fmt: skip
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["tok_s"] for r in rows if r["kind"] == "train" and r["step"] > 20)


def forecast_throughput(run: Path, panel: Path, steps: int, setting: list[str]) -> float:
    """Windows/s of one many-series fit of `steps` updates per member (its wall time, all included)."""
    rnnkit(["forecast", "train", "--csv", str(panel), "--id-col", "unique_id", "--max-steps", str(steps),
            "--eval-every", str(steps), *setting, "--run-dir", str(run)])  # fmt: skip
    meta = json.loads((run / "forecaster.json").read_text())
    return meta["steps"] * len(meta["members"]) * meta["config"]["batch_size"] / meta["train_seconds"]


def table(unit: str, measured: dict[str, list[float]]) -> list[str]:
    """A sentence on the ratios, then one row per setting: median, per round, ratios to 1 x 2 and 1 x 1."""
    median = {name: statistics.median(values) for name, values in measured.items()}
    two_threads, ddp, one = median.values()
    lines = [
        f"In this run two processes trained {ddp / two_threads:.2f}× as fast as one process with two threads, "
        f"and {ddp / one:.2f}× as fast as one process with one thread; one process ran "
        f"{'slower' if two_threads < one else 'faster'} with two threads than with one.",
        "",
        f"| setting | {unit} (median) | per round | vs 1 × 2 | vs 1 × 1 |",
        "|---|---:|---|---:|---:|",
    ]
    for name, values in measured.items():
        lines.append(
            f"| {name} | {median[name]:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} | "
            f"{median[name] / two_threads:.2f}× | {median[name] / one:.2f}× |"
        )
    return lines


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    rounds, lm_steps, fc_steps = (1, 60, 50) if args.quick else (3, 120, 100)
    with tempfile.TemporaryDirectory() as tmp:
        panel = Path(tmp) / "panel.csv"
        synthetic_panel(SERIES).to_csv(panel, index=False)
        workloads: dict[str, Callable[[Path, list[str]], float]] = {
            "lm": lambda run, setting: lm_throughput(run, lm_steps, setting),
            "forecast": lambda run, setting: forecast_throughput(run, panel, fc_steps, setting),
        }
        measured = {w: {name: [] for name in SETTINGS} for w in workloads}
        load = os.getloadavg()
        for r in range(rounds):  # interleaved, so a busy phase of a shared machine hits every setting
            for w, measure in workloads.items():
                for i, (name, setting) in enumerate(SETTINGS.items()):
                    measured[w][name].append(measure(Path(tmp) / f"{w}-round{r}-setting{i}", setting))
                    print(f"round {r + 1}: {w}: {name}: {measured[w][name][-1]:,.0f}/s", flush=True)
    lines = [
        "## Data parallel on one machine (torch DDP, gloo)",
        "",
        f"{rounds} interleaved round(s) of each setting. Load average of the machine (1, 5, 15 min) when the "
        f"run began: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} on {os.cpu_count()} cores; other jobs slow "
        "the multi-threaded and multi-process settings most. The GPU path (nccl, one GPU per LOCAL_RANK) "
        "was not run here (no GPU).",
        "",
        f"**Language model.** `rnnkit lm train` on tiny Shakespeare, LSTM 1 × 256, B = 32 × T = 64 characters per "
        f"update (the same global batch in every setting), {lm_steps} updates per run. Tokens/s is the trainer's "
        "logged `tok_s` (update time only: forward, backward with DDP's all-reduce, Adam), the median of each "
        "run's windows of 20 updates after the first, then the median over rounds.",
        "",
        *table("tokens/s", measured["lm"]),
        "",
        f"**Many-series forecaster.** `rnnkit forecast train --id-col unique_id` on a synthetic panel of {SERIES:,} "
        f"monthly series (24–120 points), its default model (LSTM 48, B = 256 windows, 6 ensemble members), "
        f"{fc_steps} updates per member. Windows/s = updates × members × B over the fit's wall time (the "
        "backtest check and the interval calibration included). In two processes the backtest member trains "
        "data parallel (each process half of every batch, DDP) and the other five members are shared out, "
        "each trained by one process.",
        "",
        *table("windows/s", measured["forecast"]),
    ]
    write_section("distributed", "\n".join(lines) + "\n" + stamp(started, argv, "distributed.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
