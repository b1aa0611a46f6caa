"""Classification of numeric sequences (UEA JapaneseVowels and BasicMotions): the recurrent classifier
of `rnnkit classify train --data X_TRAIN.ts` beside a 1-nearest-neighbour baseline.

Protocol: the archive's TRAIN/TEST files. The classifier carves its validation split (stratified,
`val_frac`) from TRAIN, stops early on it, restores the best weights and reads TEST once; mean ± sd
of the test accuracy over 5 training seeds. The baseline standardises each channel with the TRAIN
frames' mean and sd, resamples every sequence linearly to the longest TRAIN length, and gives each
TEST sequence the label of its Euclidean-nearest TRAIN sequence.

Writes the `seqclass` section of BENCHMARKS.md. Usage: python benchmarks/seqclass.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.sequences import read_ts
from rnnkit.tasks.seqclass import SeqClassConfig, SequenceClassifier
from rnnkit.tasks.tag_cli import SEQCLASS_DEFAULTS
from rnnkit.train import TrainConfig, build_configs

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("JapaneseVowels", "BasicMotions")
SEEDS = (1, 2, 3, 4, 5)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 5 epochs per data set")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    return parser


def nearest_neighbour(train: tuple, test: tuple) -> float:
    """Test accuracy of 1-NN on channel-standardised sequences resampled to the longest training length."""
    frames = np.concatenate(train[0]).astype(np.float64)
    mean, std = frames.mean(0), frames.std(0)
    length = max(len(s) for s in train[0])

    def vector(s: np.ndarray) -> np.ndarray:
        s, grid = (s - mean) / std, np.linspace(0, 1, length)
        return np.stack([np.interp(grid, np.linspace(0, 1, len(s)), s[:, c]) for c in range(s.shape[1])], 1).ravel()

    a, b = np.stack([vector(s) for s in train[0]]), np.stack([vector(s) for s in test[0]])
    nearest = ((b[:, None, :] - a[None]) ** 2).sum(-1).argmin(1)
    return float(np.mean([train[1][i] == y for i, y in zip(nearest, test[1])]))


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    seeds = SEEDS[:1] if args.quick else SEEDS
    rows = []
    for name in DATASETS:
        train_path, test_path = (ROOT / "data" / "uea" / f"{name}_{part}.ts" for part in ("TRAIN", "TEST"))
        baseline = nearest_neighbour(read_ts(train_path), read_ts(test_path))
        accuracies, seconds, epochs = [], [], []
        for seed in seeds:
            flags = [*SEQCLASS_DEFAULTS, "--data", str(train_path), "--seed", str(seed), "--threads",
                     str(args.threads), "--run-dir", f"runs/bench-seqclass-{name}", "--overwrite",
                     *(["--max-epochs", "5"] if args.quick else [])]
            cfgs = build_configs({"seqclass": SeqClassConfig, "train": TrainConfig}, None, flags)
            torch.manual_seed(seed)
            summary = SequenceClassifier(cfgs["seqclass"], cfgs["train"]).fit(train_path)
            accuracies.append(summary["metrics"]["accuracy"])
            seconds.append(summary["seconds"])
            epochs.append(summary["epoch"])
            print(f"{name} seed {seed}: test accuracy {accuracies[-1]:.4f} ({epochs[-1]} epochs, "
                  f"{seconds[-1]:.0f} s)", flush=True)
        sd = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        rows.append(f"| {name} | {len(read_ts(train_path)[1])} / {len(read_ts(test_path)[1])} | {baseline:.2%} | "
                    f"**{statistics.mean(accuracies):.2%}** ± {sd:.2%} | "
                    f"{' '.join(f'{a:.2%}' for a in accuracies)} | {statistics.mean(epochs):.0f} | "
                    f"{statistics.mean(seconds):.0f} s |")
    cfg = SeqClassConfig()
    body = "\n".join([
        "## Numeric-sequence classification: UEA JapaneseVowels and BasicMotions (benchmarks/seqclass.py)",
        "",
        f"The classifier: `rnnkit classify train --data data/uea/NAME_TRAIN.ts --seed S` (TEST is the "
        f"TRAIN file's twin), i.e. per-channel standardisation, a linear projection to {cfg.embed_size}, a "
        f"bi-{cfg.cell.upper()} {cfg.num_layers}×{cfg.hidden_size}, {cfg.pooling} pooling, dropout {cfg.dropout}; "
        f"{cfg.val_frac:.0%} of TRAIN (stratified) for early stopping; defaults "
        f"`{' '.join(a for a in SEQCLASS_DEFAULTS if 'runs/' not in a and a != '--run-dir')}`. "
        f"Mean ± sd over seeds {', '.join(map(str, seeds))}; {args.threads} thread(s) on a shared 2-core machine."
        + (" **Quick mode: one seed, 5 epochs.**" if args.quick else ""),
        "",
        "| data set | train / test | 1-NN baseline | rnnkit test accuracy | per seed | epochs | training time |",
        "|---|---|---|---|---|---|---|",
        *rows,
    ])
    write_section("seqclass", body + "\n" + stamp(started, argv, "seqclass.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
