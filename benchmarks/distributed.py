"""Data-parallel scaling on one machine: the same char-level LM training as 1 process x 2 threads and as
2 processes x 1 thread (torch DDP over gloo, `--nproc 2`), same global batch; 1 process x 1 thread
as a reference.

    python benchmarks/distributed.py            # 3 interleaved rounds of 120 updates per run (~10 min, 2 cores)
    python benchmarks/distributed.py --quick    # 1 round of 60 updates

Each run is `rnnkit lm train` on the bundled tiny Shakespeare (LSTM 1 x 256, embedding 64, B = 32
sequences of T = 64 characters per update, Adam). Throughput is the trainer's own `tok_s` (global
targets per second of update time: forward, backward with DDP's all-reduce, optimiser step), the
median over the logged windows of 20 updates after the first; the table gives each setting's median
over the rounds. Writes the `distributed` section of BENCHMARKS.md.
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
from pathlib import Path

from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--hidden-size", "256", "--num-layers", "1", "--embed-size", "64", "--batch-size", "32", "--seq-len", "64"]
SETTINGS = {
    "1 process × 2 threads": ["--threads", "2"],
    "2 processes × 1 thread": ["--threads", "1", "--nproc", "2"],
    "1 process × 1 thread (reference)": ["--threads", "1"],
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 60 updates")
    return parser


def throughput(run: Path, steps: int, setting: list[str]) -> float:
    """Median logged tokens/s of one `rnnkit lm train` run of `steps` updates (the first window left out)."""
    cmd = [sys.executable, "-m", "rnnkit", "lm", "train", *MODEL, *setting, "--max-steps", str(steps),
           "--max-epochs", "0", "--log-every", "20", "--ckpt-every", "0", "--run-dir", str(run)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(r["tok_s"] for r in rows if r["kind"] == "train" and r["step"] > 20)


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    rounds, steps = (1, 60) if args.quick else (3, 120)
    measured: dict[str, list[float]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # interleaved, so a busy phase of a shared machine hits every setting
            for i, (name, setting) in enumerate(SETTINGS.items()):
                measured[name].append(throughput(Path(tmp) / f"round{r}-setting{i}", steps, setting))
                print(f"round {r + 1}: {name}: {measured[name][-1]:,.0f} tokens/s", flush=True)
    median = {name: statistics.median(values) for name, values in measured.items()}
    two_threads, ddp, one = median.values()
    threads = "slower" if two_threads < one else "faster"
    lines = [
        "## Data parallel on one machine (torch DDP, gloo)",
        "",
        f"`rnnkit lm train` on tiny Shakespeare, LSTM 1 × 256, B = 32 × T = 64 characters per update (the same "
        f"global batch in every setting), {steps} updates per run, {rounds} interleaved round(s). Tokens/s is "
        "the trainer's logged `tok_s` (update time only: forward, backward with DDP's all-reduce, Adam), the "
        "median of each run's windows of 20 updates after the first, then the median over rounds. The machine "
        "was shared with other developers' training jobs while this ran: the ratio is indicative, not a "
        "clean-room speed-up. The GPU path (nccl, one GPU per LOCAL_RANK) was not run here (no GPU).",
        "",
        f"In this run two processes trained {ddp / two_threads:.2f}× as fast as one process with two threads, "
        f"and {ddp / one:.2f}× as fast as one process with one thread; one process ran {threads} with two "
        "threads than with one.",
        "",
        "| setting | tokens/s (median) | per round | vs 1 × 2 | vs 1 × 1 |",
        "|---|---:|---|---:|---:|",
    ]
    for name, values in measured.items():
        per_round = ", ".join(f"{v:,.0f}" for v in values)
        lines.append(
            f"| {name} | {median[name]:,.0f} | {per_round} | {median[name] / two_threads:.2f}× | "
            f"{median[name] / one:.2f}× |"
        )
    write_section("distributed", "\n".join(lines) + "\n" + stamp(started, argv, "distributed.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
