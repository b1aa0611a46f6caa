"""Single-prediction latency from a loaded checkpoint, in-process and as a cold CLI command.

A 1-layer, 64-unit LSTM classifier is trained for a few updates on a synthetic file (the weights do
not matter for timing), saved, loaded back, then timed on one short text. Writes the `latency`
section of BENCHMARKS.md. Usage: python benchmarks/latency.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, TextClassifier
from rnnkit.train import TrainConfig, Trainer

TEXT = "Free entry! Call now to claim your prize"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    return parser


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started, repeats, cold_repeats = time.time(), (50 if args.quick else 500), (2 if args.quick else 5)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "d.tsv"
        data.write_text("".join(f"spam\twin a prize {i}\nham\tsee you soon {i}\n" for i in range(64)), encoding="utf-8")
        for bidirectional in (False, True):
            run = Path(tmp) / f"run{int(bidirectional)}"
            cfg = ClassifyConfig(data=str(data), hidden_size=64, embed_size=64, num_layers=1, min_freq=1,
                                 bidirectional=bidirectional, pooling="last")  # fmt: skip
            Trainer(ClassificationTask(cfg), TrainConfig(run_dir=str(run), max_steps=2, max_epochs=0)).fit()
            classifier = TextClassifier.load(run)
            for threads in (1, torch.get_num_threads()):
                torch.set_num_threads(threads)
                ms = median_ms(lambda c=classifier: c.predict_proba([TEXT]), repeats)
                rows.append(f"| classify, {'bi-' if bidirectional else ''}LSTM 1×64, {len(TEXT.split())}-word text, "
                            f"in-process `predict` | {threads} | {ms:.2f} ms |")
        cli = [sys.executable, "-m", "rnnkit", "classify", "predict", "--checkpoint", str(Path(tmp) / "run0"), TEXT]
        cold = []
        for _ in range(cold_repeats):
            start = time.perf_counter()
            subprocess.run(cli, check=True, capture_output=True)
            cold.append(time.perf_counter() - start)
        rows.append(f"| `rnnkit classify predict` as a new process (cold start, median of {cold_repeats}) | all | "
                    f"{1000 * statistics.median(cold):.0f} ms |")
    body = "\n".join([
        "## Single-prediction latency",
        "",
        "Median over repeated calls of one prediction from a loaded checkpoint (goal: ≤ 2 ms in-process for a",
        "1-layer 64-unit model).",
        "",
        "| what | threads | latency |",
        "|---|---|---|",
        *rows,
        stamp(started, argv, "latency.py"),
    ])
    write_section("latency", body)
    print(body)


if __name__ == "__main__":
    main(sys.argv[1:])
