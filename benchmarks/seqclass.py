"""Classification of numeric sequences (UEA JapaneseVowels and BasicMotions): the recurrent classifier
of `rnnkit classify train --data X_TRAIN.ts` beside a 1-nearest-neighbour baseline.

Protocol: the archive's TRAIN/TEST files. The classifier carves its validation split (stratified,
`val_frac`) from TRAIN, stops early on it, restores the best weights and reads TEST once; mean ± sd
of the test accuracy over 5 training seeds. The baseline standardises each channel with the TRAIN
frames' mean and sd, resamples every sequence linearly to the longest TRAIN length, and gives each
TEST sequence the label of its Euclidean-nearest TRAIN sequence.

`--cv`: how the defaults are chosen without reading TEST: 5-fold cross-validation on TRAIN (stratified
folds, seed 0); fold k's classifier (seed k + 1) trains on the other folds as `fit` does and labels fold
k; the accuracy of all TRAIN sequences so labelled, stored per data set and flags and listed in the section.
`--cv --blocked`: the same with blocked folds: each class's TRAIN sequences, in file order, cut into 5
runs of consecutive ones, so a held-out sequence's neighbours in the file are held out with it, but
at a run's ends (in JapaneseVowels, the same speaker's adjacent utterances). TEST was collected apart
from TRAIN; on JapaneseVowels blocked folds come closer to its accuracy than random ones (see the section).

Writes the `seqclass` section of BENCHMARKS.md.
Usage: python benchmarks/seqclass.py [--quick] [--cv [--blocked]] [--render]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from report import command, stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.labelled import stratified_folds
from rnnkit.data.sequences import read_ts
from rnnkit.tasks.seqclass import TRAIN_DEFAULTS, SeqClassConfig, SequenceClassifier
from rnnkit.train import TrainConfig, build_configs

# The task's trainer defaults (under the flags given), as `rnnkit ... train` flags for the report.
DEFAULT_FLAGS = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in TRAIN_DEFAULTS.items() if k != "run_dir")

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("JapaneseVowels", "BasicMotions")
SEEDS = (1, 2, 3, 4, 5)
STORE = ROOT / "benchmarks" / "results" / "seqclass.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed, 5 epochs per data set, rows not stored")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--render", action="store_true", help="rewrite the section from the stored rows; run nothing")
    parser.add_argument("--cv", action="store_true", help="5-fold cross-validation on TRAIN instead of the TEST runs")
    parser.add_argument("--blocked", action="store_true",
                        help="with --cv: folds of consecutive sequences per class instead of stratified random ones")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated: " + ", ".join(DATASETS))
    parser.add_argument("--flags", default="", help="`rnnkit classify train` flags after its defaults (one string)")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)),
                        help="comma-separated training seeds; runs of one data set with the same flags in several "
                             "processes pool their seeds in the stored row")
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


def configs(name: str, flags: list[str], seed: int, args) -> dict:
    """The SeqClassConfig and TrainConfig of `rnnkit classify train --data NAME_TRAIN.ts FLAGS --seed SEED`."""
    return build_configs({"seqclass": SeqClassConfig, "train": TrainConfig}, None,
                         ["--data", str(ROOT / "data" / "uea" / f"{name}_TRAIN.ts"), *flags, "--seed", str(seed),
                          "--threads", str(args.threads),
                          "--run-dir", f"runs/bench-seqclass/{os.getpid()}/{name}-{seed}", "--overwrite"],
                         base={"train": TRAIN_DEFAULTS})


def settings(name: str, flags: str, args) -> dict:
    """Every setting (both configs, but the per-run ones) that `flags` on today's defaults amount to: a
    stored cross-validation row is listed only while its flags still mean the same settings."""
    cfgs = configs(name, shlex.split(flags), 0, args)
    return {k: v for table in ("seqclass", "train") for k, v in dataclasses.asdict(cfgs[table]).items()
            if k not in ("data", "seed", "threads", "run_dir", "overwrite")}


def settings_key(values: dict) -> str:
    """A stored cross-validation row's key: a digest of its settings (a rerun replaces its row; flags
    would name other settings once the defaults change)."""
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def as_flags(changed: dict) -> str:
    """The `rnnkit classify train` flags that set `changed` ({setting: value})."""
    return " ".join(f"--{'' if v else 'no-'}{k.replace('_', '-')}" if isinstance(v, bool) else
                    f"--{k.replace('_', '-')} {v}" for k, v in sorted(changed.items()))


def cv_folds(labels: list[str], blocked: bool) -> list[list[int]]:
    """5 folds of TRAIN's indices: stratified random (seed 0), or blocked: each class's indices in file
    order cut into 5 runs of consecutive ones (sizes differing by at most one), run k in fold k."""
    classes = sorted(set(labels))
    if not blocked:
        return stratified_folds([classes.index(y) for y in labels], 5, 0)
    runs = [np.array_split([i for i, y in enumerate(labels) if y == c], 5) for c in classes]
    return [sorted(i for per_class in runs for i in per_class[k].tolist()) for k in range(5)]


def cross_validate(name: str, args) -> dict:
    """5-fold cross-validation on TRAIN (TEST unread): {"accuracy", "errors", "folds", "nll" (the mean
    −log p of the true class, finer than accuracy when the folds are almost all right), "wrong" (the
    TRAIN sequences, numbered from 0, labelled wrongly), "seconds"}."""
    samples, labels = read_ts(ROOT / "data" / "uea" / f"{name}_TRAIN.ts")
    flags = shlex.split(args.flags) + (["--max-epochs", "5"] if args.quick else [])
    started, errors, folds, nll, wrong = time.time(), 0, [], 0.0, []
    for k, fold in enumerate(cv_folds(labels, args.blocked)):
        rows = [i for i in range(len(labels)) if i not in set(fold)]
        cfgs = configs(name, flags, k + 1, args)
        torch.manual_seed(k + 1)
        classifier = SequenceClassifier(cfgs["seqclass"], cfgs["train"])
        summary = classifier.fit([samples[i] for i in rows], [labels[i] for i in rows],
                                 test=([samples[i] for i in fold], [labels[i] for i in fold]))
        wrong += [i for i, y in zip(fold, classifier.predict([samples[i] for i in fold])) if y != labels[i]]
        folds.append(summary["metrics"]["accuracy"])
        errors += round((1 - folds[-1]) * len(fold))
        nll += summary["test"] * len(fold)
        print(f"{name} CV fold {k}: {folds[-1]:.4f} ({summary['epoch']} epochs)", flush=True)
    return {"accuracy": 1 - errors / len(labels), "errors": errors, "folds": folds, "nll": nll / len(labels),
            "wrong": sorted(wrong), "seconds": round(time.time() - started)}


def run_dataset(name: str, args, seeds: tuple[int, ...]) -> dict:
    """The 1-NN baseline and the classifier over `seeds` on one data set: one stored row."""
    train_path, test_path = (ROOT / "data" / "uea" / f"{name}_{part}.ts" for part in ("TRAIN", "TEST"))
    train, test = read_ts(train_path), read_ts(test_path)
    flags = shlex.split(args.flags) + (["--max-epochs", "5"] if args.quick else [])
    per_seed = {}
    for seed in seeds:
        cfgs = configs(name, flags, seed, args)
        torch.manual_seed(seed)
        summary = SequenceClassifier(cfgs["seqclass"], cfgs["train"]).fit(train_path)
        per_seed[str(seed)] = {"accuracy": summary["metrics"]["accuracy"], "epochs": summary["epoch"],
                               "seconds": summary["seconds"]}
        print(f"{name} seed {seed}: {json.dumps(per_seed[str(seed)])}", flush=True)
    return {"sizes": [len(train[1]), len(test[1])], "baseline": nearest_neighbour(train, test),
            "settings": settings(name, args.flags, args),
            "per_seed": per_seed,
            "command": shlex.join(["rnnkit", "classify", "train", "--data", f"data/uea/{name}_TRAIN.ts", *flags,
                                   "--seed", "S"])}


def model_name(settings: dict) -> str:
    """The model column of a row's settings: e.g. "bi-GRU 1×128 + FCN 128, 5 members"."""
    s = settings
    return (f"bi-{s['cell'].upper()} {s['num_layers']}×{s['hidden_size']}"
            + (f" + FCN {s['fcn']}" if s["fcn"] else "")
            + ", " + (f"{s['members']} members" if s["members"] > 1 else "one network"))


def seed_results(row: dict) -> tuple[list[float], float, float]:
    """(accuracies, mean epochs, mean seconds) of a stored row (rows without per_seed list them directly)."""
    if "per_seed" not in row:
        return row["accuracies"], row["epochs"], row["seconds"]
    runs = [row["per_seed"][k] for k in sorted(row["per_seed"], key=int)]
    return ([r["accuracy"] for r in runs], statistics.mean(r["epochs"] for r in runs),
            statistics.mean(r["seconds"] for r in runs))


def render(store: dict, args) -> str:
    """The section: the TEST rows of `store` (the data sets' stored rows), then its cross-validation rows."""
    rows = {k: store[k] for k in DATASETS if k in store}
    cfg = SeqClassConfig()
    lines = [
        "## Numeric-sequence classification: UEA JapaneseVowels and BasicMotions (benchmarks/seqclass.py)",
        "",
        (f"The classifier of `rnnkit classify train --data data/uea/NAME_TRAIN.ts` (the TEST twin is the test "
         f"set): per-channel standardisation, a linear projection to {cfg.embed_size}, a "
         f"bi-{cfg.cell.upper()} {cfg.num_layers}×{cfg.hidden_size}, {cfg.pooling} pooling"
         + (f", beside it a convolutional branch (`--fcn {cfg.fcn}`: conv widths 8, 5, 3 of {cfg.fcn}, "
            f"{2 * cfg.fcn}, {cfg.fcn} channels, batch norm over the real frames, ReLU, the mean over the frames; "
            "LSTM-FCN's layout), the two vectors concatenated" if cfg.fcn else "")
         + f", dropout {cfg.dropout}"
         + (f", Gaussian noise (sd {cfg.noise}) on the standardised training frames" if cfg.noise else "")
         + (f", each training sequence shifted by one random vector (sd {cfg.offset}) over its frames"
            if cfg.offset else "")
         + (f", training sequences time-warped by up to ±{cfg.warp:.0%}" if cfg.warp else "")
         + f"; {cfg.members} such networks trained side by side from different initial weights, "
         f"the mean of their class probabilities (`--members`), "
         + (f"cross-fitted (`--cross-fit`): TRAIN is dealt into {cfg.folds} stratified folds, member m "
            "trains on the other folds and is validated on fold m, and early stopping watches the members' "
            "held-out loss, so every TRAIN sequence trains the ensemble and validates it; "
            if cfg.folds else f"{cfg.val_frac:.0%} of TRAIN (stratified) held out for early stopping; ")
         + f"trainer defaults `{DEFAULT_FLAGS}`. "
         "Test accuracy, "
         f"mean ± sd over the seeds; one thread per run, two runs at a time on a 2-core machine."
         + (" **Quick mode: one seed, 5 epochs.**" if args.quick else "")),
        "",
        "| data set | model | train / test | 1-NN baseline | rnnkit test accuracy | per seed | mean epochs "
        "| mean wall time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        acc, mean_epochs, mean_seconds = seed_results(r)
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        lines.append(f"| {name} | {model_name(r['settings'])} | {r['sizes'][0]} / {r['sizes'][1]} | "
                     f"{r['baseline']:.2%} | "
                     f"**{statistics.mean(acc):.2%}** ± {sd:.2%} | {' '.join(f'{a:.2%}' for a in acc)} | "
                     f"{mean_epochs:.0f} | {mean_seconds:.0f} s |")
    lines += ["", "Commands (S = the seed):", ""]
    lines += [f"- {name}: `{r['command']}`" for name, r in rows.items()]
    lines += cv_table(store.get("cv", {}), args, blocked=False)
    lines += cv_table(store.get("cv-blocked", {}), args, blocked=True)
    return "\n".join(lines)


def cv_table(by_name: dict, args, blocked: bool) -> list[str]:
    """The lines of the section's table of stored cross-validation rows (random or blocked folds)."""
    cv = {}  # (data set, the run's settings as flags after today's defaults): its row
    for name, by_flags in by_name.items():
        today = settings(name, "", args)
        for r in by_flags.values():
            missing = sorted(today.keys() - r["settings"].keys())
            if missing:  # else the row would pass for today's values of settings it was measured without
                raise SystemExit(f"error: {STORE}: a {name} row lacks {', '.join(missing)}; "
                                 "store the values it was measured with")
            cv[name, as_flags({k: v for k, v in r["settings"].items() if today.get(k, v) != v})] = r
    if not cv:
        return []
    intro = ("How the defaults were chosen: 5-fold cross-validation on TRAIN, TEST unread (stratified folds; "
             "fold k's classifier, seed k + 1, trains on the other four folds as above and labels fold k): "
             "the accuracy over all TRAIN sequences so labelled, and their mean −log p of the true class "
             "(CV NLL, finer when almost all are right; – for rows measured before it was stored).")
    if blocked:
        intro = ("The same cross-validation with blocked folds (`--blocked`): each class's TRAIN sequences, in "
                 "file order, cut into 5 runs of consecutive ones, run k in fold k, so a held-out sequence's "
                 "neighbours in the file are held out with it, but at a run's ends (in JapaneseVowels the same "
                 "speaker's adjacent utterances). TEST was collected apart from TRAIN, and random folds, "
                 "which train on those neighbours, measure a higher accuracy than TEST gives.")
    lines = ["", intro, "",
             "| data set | the run's settings as flags after today's defaults | CV accuracy | errors | CV NLL "
             "| per fold | command |",
             "|---|---|---|---|---|---|---|"]
    how = ["--cv", "--blocked"] if blocked else ["--cv"]
    return lines + [f"| {name} | `{flags or '(none)'}` | {r['accuracy']:.2%} | {r['errors']} | "
                    + (f"{r['nll']:.4f} | " if "nll" in r else "– | ")
                    + f"{' '.join(f'{a:.1%}' for a in r['folds'])} | "
                    f"`{command('seqclass.py', [*how, '--datasets', name, f'--flags={flags}'])}` |"
                    for (name, flags), r in sorted(cv.items(), key=lambda c: (c[0][0], -c[1]["accuracy"]))]


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    seeds = SEEDS[:1] if args.quick else tuple(int(k) for k in args.seeds.split(","))
    rows = json.loads(STORE.read_text()) if STORE.exists() and not args.quick else {}
    if args.render:
        torch.set_num_threads(args.threads)  # the stamp names the runs' threads
        write_section("seqclass", render(rows, args) + "\n" + stamp(started, argv, "seqclass.py"))
        return
    for name in args.datasets.split(","):
        if name not in DATASETS:
            raise SystemExit(f"error: unknown data set {name!r} (known: {', '.join(DATASETS)})")
        if args.cv:
            row = {**cross_validate(name, args), "settings": settings(name, args.flags, args)}
            print(json.dumps(row), flush=True)
            rows = json.loads(STORE.read_text()) if STORE.exists() and not args.quick else {}
            rows.setdefault("cv-blocked" if args.blocked else "cv", {}).setdefault(name, {})[
                settings_key(row["settings"])] = row
            if not args.quick:
                STORE.write_text(json.dumps(rows, indent=1))
            write_section("seqclass", render(rows, args) + "\n" + stamp(started, argv, "seqclass.py"))
            continue
        row = run_dataset(name, args, seeds)
        print(json.dumps(row), flush=True)
        if not args.quick:  # re-read: another process may have stored a row meanwhile
            rows = json.loads(STORE.read_text()) if STORE.exists() else {}
            old = rows.get(name, {})
            if old.get("settings") == row["settings"] and "per_seed" in old:  # the same runs: pool the seeds
                row["per_seed"] = {**old["per_seed"], **row["per_seed"]}
            rows[name] = row
            STORE.parent.mkdir(parents=True, exist_ok=True)
            STORE.write_text(json.dumps(rows, indent=1))
        else:
            rows[name] = row
        write_section("seqclass", render(rows, args) + "\n" + stamp(started, argv, "seqclass.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
