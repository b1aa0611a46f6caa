"""SMS spam classification: rnnkit's recurrent classifiers beside the published ones (Almeida et al. 2011).

Protocol: the issue's fixed stratified 70/30 train/test split (`split_seed` 0). The tokenisation, the
cell, or a mean of several such models (an ensemble) is chosen by 7-fold cross-validation on the 70% side
alone (each run scores one fold, stops early on the next, trains on the other five), by the MCC of the
pooled out-of-fold predictions. Only the chosen entry and the best single model, each model trained on the
standard 60/10 part of that side, ever read the 30% test side.

Writes the `classify` section of BENCHMARKS.md. Usage: python benchmarks/classify.py [--quick]
[--cells lstm,gru] [--candidates word,...] [--jobs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.labelled import stratified_folds
from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, predict, score_probs, split_texts
from rnnkit.train import TrainConfig, Trainer, build_configs

CONFIG = Path(__file__).resolve().parent / "configs" / "classify.toml"
CANDIDATES = {  # name: flags over the config
    "word": [],
    "word-zero-digits": ["--digits", "zero"],
    "char": ["--level", "char"],
    "char-zero-digits": ["--level", "char", "--digits", "zero"],
}
FOLDS, QUICK_FOLDS = 7, 3
PUBLISHED = [  # Almeida, Gómez Hidalgo, Yamakami, DocEng 2011, Table 7 (their 30/70 split)
    ("SVM + tok1 (best published)", 83.10, 0.18, 97.64, 0.893),
    ("Boosted NB + tok2", 84.48, 0.53, 97.50, 0.887),
    ("Multinomial TF NB + tok1", 52.06, 0.00, 93.74, 0.697),
    ("Trivial rejection (all ham)", 0.0, 0.0, 86.95, None),
]
Splits = dict[str, tuple[list[str], list[str]]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"one epoch per run, {QUICK_FOLDS} folds, the first two candidates and the first "
                             "cell only")
    parser.add_argument("--cells", default="lstm,gru", help="comma-separated cells to cross-validate")
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help="comma-separated tokenisations to cross-validate: " + ", ".join(CANDIDATES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="training runs at a time (1 thread each)")
    return parser


def fit(flags: list[str], splits: Splits | None) -> tuple[torch.Tensor, list[str], float, int]:
    """Train on splits (None: the config's standard split) and predict its test part:
    (probabilities (N, C), label names, seconds of training, epochs run)."""
    with tempfile.TemporaryDirectory() as run_dir:
        cfgs = build_configs({"train": TrainConfig, "classify": ClassifyConfig}, str(CONFIG),
                             flags + ["--run-dir", run_dir])
        torch.manual_seed(cfgs["train"].seed)
        task = ClassificationTask(cfgs["classify"], splits)
        started = time.time()
        summary = Trainer(task, cfgs["train"]).fit()
        seconds = time.time() - started
    return predict(task.model, task.vocab, task.cfg, task.data["test"][0]), task.labels, seconds, summary["epoch"]


def standard_split() -> Splits:
    """The config's 60/10/30 split."""
    return split_texts(build_configs({"train": TrainConfig, "classify": ClassifyConfig}, str(CONFIG), [])["classify"])


def fold_splits(folds: int) -> list[Splits]:
    """The cross-validation runs over the 70% side of the standard split: run k scores fold k, stops
    early on fold k + 1 and trains on the rest."""
    standard = standard_split()
    texts, labels = (standard["train"][0] + standard["val"][0], standard["train"][1] + standard["val"][1])
    names = sorted(set(labels))
    index = stratified_folds([names.index(y) for y in labels], folds, seed=0)
    runs = []
    for k in range(folds):
        held = {"test": index[k], "val": index[(k + 1) % folds]}
        held["train"] = sorted(set(range(len(texts))) - set(held["test"]) - set(held["val"]))
        runs.append({split: ([texts[i] for i in idx], [labels[i] for i in idx]) for split, idx in held.items()})
    return runs


def scores(probs: torch.Tensor, labels: list[str], true_labels: list[str]) -> dict:
    """score_probs, plus spam caught / ham blocked in %."""
    m = score_probs(probs, labels, true_labels)
    ham, spam = labels.index("ham"), labels.index("spam")
    m["caught"] = 100 * m["recall"][spam]
    m["blocked"] = 100 * m["confusion"][ham][spam] / sum(m["confusion"][ham])
    return m


Member = tuple[str, str]  # (cell, candidate)


def label(members: tuple[Member, ...]) -> str:
    """A table name for one model or a mean of several."""
    if len(members) == 1:
        (cell, name), = members
        return f"bi-{cell.upper()}, {name} (`{' '.join(['--cell', cell] + CANDIDATES[name])}`)"
    return f"mean probability of the {len(members)} " + ("word-level models" if all(
        "char" not in name for _, name in members) else "models above")


def entries(grid: list[Member]) -> list[tuple[Member, ...]]:
    """What cross-validation chooses from: each model alone, the mean of the word-level ones, the mean of all."""
    words = tuple(m for m in grid if "char" not in m[1])
    means = [group for group in (words, tuple(grid)) if len(group) > 1]
    return [(m,) for m in grid] + list(dict.fromkeys(means))


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    quick = ["--max-epochs", "1"] if args.quick else []
    cells, names = args.cells.split(","), args.candidates.split(",")
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        raise SystemExit(f"error: unknown candidate(s) {unknown}; known: {list(CANDIDATES)}")
    if args.quick:
        cells, names = cells[:1], names[:2]
    runs = fold_splits(QUICK_FOLDS if args.quick else FOLDS)
    grid = [(cell, name) for name in names for cell in cells]
    flags = {m: ["--cell", m[0]] + CANDIDATES[m[1]] + quick for m in grid}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = {(m, k): pool.submit(fit, flags[m], run) for m in grid for k, run in enumerate(runs)}
        oof = {m: [jobs[m, k].result() for k in range(len(runs))] for m in grid}  # out-of-fold predictions
        cv_labels, labels = [y for run in runs for y in run["test"][1]], oof[grid[0]][0][1]
        probs = {m: torch.cat([d[0] for d in done]) for m, done in oof.items()}
        cv = {e: scores(torch.stack([probs[m] for m in e]).mean(0), labels, cv_labels) for e in entries(grid)}
        chosen = max(cv, key=lambda e: cv[e]["mcc"])
        best_single = max((e for e in cv if len(e) == 1), key=lambda e: cv[e]["mcc"])
        finals = list(dict.fromkeys(best_single + chosen))
        trained = dict(zip(finals, pool.map(fit, [flags[m] for m in finals], [None] * len(finals))))
    test_labels = standard_split()["test"][1]
    test_rows = []
    for e in dict.fromkeys([best_single, chosen]):
        m = scores(torch.stack([trained[member][0] for member in e]).mean(0), labels, test_labels)
        epochs = "/".join(str(trained[member][3]) for member in e)
        seconds = sum(trained[member][2] for member in e)
        test_rows.append(f"| rnnkit {label(e)}, attention pooling ({epochs} epoch{'s' * (epochs != '1')}, "
                         f"{seconds:.0f} s of training"
                         f"{'; chosen' if e == chosen else '; best single model'}) | {m['caught']:.2f} | "
                         f"{m['blocked']:.2f} | {100 * m['accuracy']:.2f} | **{m['mcc']:.3f}** |")

    n_side = len(cv_labels)
    cv_rows = [f"| {label(e)} | {s['caught']:.2f} | {s['blocked']:.2f} | {100 * s['accuracy']:.2f} | {s['mcc']:.4f}"
               f"{' ← chosen' if e == chosen else ''} | "
               f"{sum(d[2] for member in e for d in oof[member]):.0f} s |" for e, s in cv.items()]
    published = [f"| {pub} | {sc:.2f} | {bh:.2f} | {acc:.2f} | {'–' if mcc is None else f'{mcc:.3f}'} |"
                 for pub, sc, bh, acc, mcc in PUBLISHED]
    body = "\n".join([
        "## Text classification: SMS Spam Collection",
        "",
        f"Fixed stratified 70/30 train/test split of the 5,574 messages (`split_seed` 0; {len(test_labels):,} test "
        "messages). Config `benchmarks/configs/classify.toml` (attention pooling, Adam, early stopping); "
        f"SC = spam caught (spam recall), BH = blocked ham (ham flagged as spam). Each training run uses one "
        f"thread; {max(1, args.jobs)} run at a time.",
        "",
        f"**Model selection**, on the 70% side only ({n_side:,} messages): {len(runs)}-fold stratified "
        "cross-validation, each run scoring one fold, stopping early on the next and training on the rest; "
        "the scores pool every fold's predictions. A mean averages its models' class probabilities. "
        "The test side is not read.",
        "",
        "| candidate | SC % | BH % | Acc % | MCC | training time, all folds |",
        "|---|---|---|---|---|---|",
        *cv_rows,
        "",
        "**Test**: the chosen entry and the best single model, each model trained once on the standard split "
        "(60% train, 10% validation for early stopping), then read the test side once. The published rows "
        "(Almeida et al. 2011, Table 7) used their own 30/70 split, so they line up only roughly.",
        "",
        "| classifier | SC % | BH % | Acc % | MCC |",
        "|---|---|---|---|---|",
        *test_rows,
        *published,
        stamp(started, argv, "classify.py"),
    ])
    write_section("classify", body)
    print(body)


if __name__ == "__main__":
    main(sys.argv[1:])
