"""SMS spam classification: rnnkit's LSTM and GRU beside the published classifiers (Almeida et al. 2011).

Writes the `classify` section of BENCHMARKS.md. Usage: python benchmarks/classify.py [--quick] [--cells lstm,gru]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, evaluate_texts
from rnnkit.train import Trainer, TrainConfig, build_configs

CONFIG = Path(__file__).resolve().parent / "configs" / "classify.toml"
PUBLISHED = [  # Almeida, Gómez Hidalgo, Yamakami, DocEng 2011, Table 7 (their 30/70 split)
    ("SVM + tok1 (best published)", 83.10, 0.18, 97.64, 0.893),
    ("Boosted NB + tok2", 84.48, 0.53, 97.50, 0.887),
    ("Multinomial TF NB + tok1", 52.06, 0.00, 93.74, 0.697),
    ("Trivial rejection (all ham)", 0.0, 0.0, 86.95, None),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one epoch of an LSTM only (a few minutes)")
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated cells to train")
    return parser


def run(cell: str, quick: bool) -> tuple[dict, float, int, ClassificationTask]:
    """Train one classifier with the benchmark config; (test metrics, seconds, epochs run, the task)."""
    with tempfile.TemporaryDirectory() as run_dir:
        flags = ["--cell", cell, "--run-dir", run_dir] + (["--max-epochs", "1"] if quick else [])
        cfgs = build_configs({"train": TrainConfig, "classify": ClassifyConfig}, str(CONFIG), flags)
        torch.manual_seed(cfgs["train"].seed)
        task = ClassificationTask(cfgs["classify"])
        started = time.time()
        summary = Trainer(task, cfgs["train"]).fit()
        seconds = time.time() - started
    texts, labels = task.data["test"]
    return evaluate_texts(task.model, task.vocab, task.labels, task.cfg, texts, labels), seconds, summary["epoch"], task


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    rows = []
    for cell in args.cells.split(","):
        m, seconds, epochs, task = run(cell, args.quick)
        ham, spam = 0, 1  # labels sorted: ham, spam
        caught = 100 * m["recall"][spam]
        blocked = 100 * m["confusion"][ham][spam] / sum(m["confusion"][ham])
        rows.append(f"| rnnkit bi-{cell.upper()} + attention pooling ({epochs} epoch{'s' if epochs > 1 else ''}, {seconds:.0f} s) | "
                    f"{caught:.2f} | {blocked:.2f} | {100 * m['accuracy']:.2f} | {m['mcc']:.3f} |")
    published = [f"| {name} | {sc:.2f} | {bh:.2f} | {acc:.2f} | {'–' if mcc is None else f'{mcc:.3f}'} |"
                 for name, sc, bh, acc, mcc in PUBLISHED]
    task_cfg, n_test = task.cfg, len(task.data["test"][0])
    n_messages = sum(len(texts) for texts, _ in task.data.values())
    body = "\n".join([
        "## Text classification: SMS Spam Collection",
        "",
        f"Test split: {round(100 * task_cfg.test_frac)}% of the {n_messages:,} messages, stratified, `split_seed` "
        f"{task_cfg.split_seed} ({n_test:,} messages); validation {round(100 * task_cfg.val_frac)}% (from the training side) for",
        "early stopping; config `benchmarks/configs/classify.toml`. The published rows (Almeida et al. 2011,",
        "Table 7) used their own 30/70 split, so they line up only roughly. SC = spam caught (spam recall),",
        "BH = blocked ham (ham flagged as spam).",
        "",
        "| classifier | SC % | BH % | Acc % | MCC |",
        "|---|---|---|---|---|",
        *rows,
        *published,
        stamp(started, argv, "classify.py"),
    ])
    write_section("classify", body)
    print(body)


if __name__ == "__main__":
    main(sys.argv[1:])
