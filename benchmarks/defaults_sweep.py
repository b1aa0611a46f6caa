"""The sweep that chooses each task's defaults: a small grid of candidate settings per task (lm, classify,
music), each trained on two data sets and scored on their validation split; the setting with the best
mean rank over the two data sets is the default (ties: the smaller mean relative gap to each set's best).

Writes the `defaults-sweep` section of BENCHMARKS.md. Every run is bounded by updates or epochs (never
by wall time), so its result does not depend on the machine's load. A cell is described by the flags it
gives `rnnkit TASK train`, one for every setting its grid varies (the first cell of each grid: the
defaults before the sweep); the rest of its settings are the task's defaults (`TaskModel.configs`),
with the budget flags below.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from defaults import GENRE_TSV  # benchmarks/ is on sys.path when a script runs
from report import results_store, stamp, write_section

from rnnkit.data.music import load_rolls
from rnnkit.data.text import read_splits
from rnnkit.tasks.base import TaskModel
from rnnkit.tasks.classify import ClassificationTask, TextClassifier, predict, score_probs, split_texts
from rnnkit.tasks.lm import LanguageModel, LanguageModelTask
from rnnkit.tasks.music import MusicModel, MusicTask
from rnnkit.train import Trainer

ROOT = Path(__file__).resolve().parent.parent
PTB_VAL_CHARS = 120_000  # of ptb.valid.txt's 400k: the validation of a short lm run stays cheap
NOTTINGHAM_TRAIN = 200  # of its 694 training pieces (valid: all 173)

# task -> (API class, trainer task class, budget flags, full budget note)
TASKS: dict[str, tuple[type[TaskModel], Callable, list[str], str]] = {
    "lm": (LanguageModel, LanguageModelTask, ["--max-steps", "200"], "200 updates of 32×128 characters (0.8 epoch)"),
    "classify": (TextClassifier, ClassificationTask, ["--max-epochs", "40"], "to early stopping (cap 40 epochs)"),
    "music": (MusicModel, MusicTask, [], "to early stopping (the defaults' own cap: 200 epochs)"),
}
QUICK_BUDGET = {"lm": ["--max-steps", "2"], "classify": ["--max-epochs", "1"], "music": ["--max-epochs", "1"]}
# task -> candidate settings, as the flags each adds to the defaults
GRIDS: dict[str, list[str]] = {  # each cell gives every swept setting, so it means the same whatever the defaults
    "lm": [
        "--hidden-size 512 --lr 0.002",
        "--hidden-size 512 --lr 0.004",
        "--hidden-size 256 --lr 0.002",
        "--hidden-size 256 --lr 0.004",
    ],
    "classify": [
        "--embed-size 64 --hidden-size 64 --dropout 0.3 --lr 0.002",
        "--embed-size 128 --hidden-size 128 --dropout 0.3 --lr 0.002",
        "--embed-size 64 --hidden-size 64 --dropout 0.5 --lr 0.002",
        "--embed-size 64 --hidden-size 64 --dropout 0.3 --lr 0.001",
    ],
    "music": [
        "--hidden-size 128 --dropout-output 0",
        "--hidden-size 64 --dropout-output 0",
        "--hidden-size 128 --dropout-output 0.3",
        "--hidden-size 256 --dropout-output 0.3",
        "--hidden-size 128 --dropout-output 0 --lr 0.005",
    ],
}  # the first cell of each grid: the defaults before the sweep
GRID_TEXT = {
    "lm": "size (2×512 vs 2×256) × learning rate (2e-3 vs 4e-3): a 2×512 update costs ~3× the CPU of a 2×256 "
    "one, so within a user's budget the smaller model may reach a lower loss; dropout is left out (nothing "
    "over-fits in under an epoch). The budget is short because a converged run takes hours on one core: this "
    "ranks what the defaults reach in the first epoch, not at convergence",
    "classify": "size (64 vs 128 wide), dropout (0.3 vs 0.5) and learning rate (2e-3 vs 1e-3), one at a time "
    "from the defaults: the issue measured over-fitting by epoch 4 on a review corpus",
    "music": "size (64, 128, 256 hidden), output dropout (0 vs 0.3) and learning rate (2e-3 vs 5e-3): JSB's "
    "tuned recipe is a large model held back by weight noise, Nottingham's a small one (64 hidden)",
}


def ptb_text() -> dict[str, str]:
    """PTB's train text and the first PTB_VAL_CHARS characters of its valid text (no test)."""
    splits = read_splits(str(ROOT / "data" / "ptb" / "ptb.train.txt"))
    return {"train": splits["train"], "val": splits["val"][:PTB_VAL_CHARS]}


def datasets(task: str) -> dict[str, tuple[str, Callable[[], dict]]]:
    """{name: (what it is, a loader of its splits in memory)} of the two data sets of `task`'s sweep."""
    if task == "lm":
        return {
            "shakespeare": ("tiny Shakespeare (nanoGPT 90/10 split)", lambda: read_splits("")),
            "ptb-text": (
                f"PTB text (data/ptb/ptb.train.txt) read by character; validation: the first {PTB_VAL_CHARS:,} "
                "characters of ptb.valid.txt",
                ptb_text,
            ),
        }
    if task == "classify":
        classify = TextClassifier.config_class
        return {
            "sms": ("SMS Spam (bundled), 60/10/30 split", lambda: split_texts(classify())),
            "ewt-genre": (
                "EWT genre (data/ud_ewt_genre, 5 classes), 60/10/30 split",
                lambda: split_texts(classify(data=str(GENRE_TSV))),
            ),
        }

    def nottingham() -> dict:
        rolls = load_rolls("nottingham")
        return {**rolls, "train": rolls["train"][:NOTTINGHAM_TRAIN]}

    return {
        "jsb": ("JSB Chorales (bundled), all splits", lambda: load_rolls("jsb")),
        "nottingham": (f"Nottingham (bundled), the first {NOTTINGHAM_TRAIN} of 694 training pieces", nottingham),
    }


def train_cell(task: str, data: dict, flags: str, budget: list[str], run_dir: str) -> dict:
    """Trains one grid cell on `data` (in memory) as `rnnkit TASK train FLAGS BUDGET` would; its scores."""
    api, task_class, _, _ = TASKS[task]
    args = [
        *shlex.split(flags),
        *budget,
        "--threads",
        "1",
        "--run-dir",
        run_dir,
        "--overwrite",
        "--log-every",
        "100000",
    ]
    cfgs = api.configs(None, args)
    torch.manual_seed(cfgs["train"].seed)
    trainer_task = task_class(cfgs[task], data)
    started = time.process_time()
    summary = Trainer(trainer_task, cfgs["train"]).fit()
    result = {
        "val_loss": summary["best_val"],
        "epochs": summary["epoch"],
        "updates": summary["step"],
        "stopped": summary["stopped"],
        "cpu_s": round(time.process_time() - started, 1),
    }
    if task == "classify":  # the metric users read: MCC on the validation split
        texts, labels = trainer_task.data["val"]
        probs = predict(trainer_task.model, trainer_task.vocab, trainer_task.cfg, texts)
        result["val_mcc"] = score_probs(probs, trainer_task.labels, labels)["mcc"]
    return result


def score(task: str, result: dict, by_loss: bool = False) -> float:
    """The number the sweep ranks by, lower is better: val loss (nats/char, NLL/frame) or, for classify
    unless `by_loss`, −val MCC (the metric its users read)."""
    return -result["val_mcc"] if task == "classify" and not by_loss else result["val_loss"]


def choose(
    task: str, cells: dict[str, dict[str, dict]], by_loss: bool = False
) -> tuple[dict[str, float], dict[str, float], str]:
    """({flags: mean rank}, {flags: mean relative gap to each data set's best}, the chosen flags) over
    the data sets every cell was trained on (none: every rank 0, nothing chosen); see `score`."""
    names = [n for n in datasets(task) if all(n in by_data for by_data in cells.values())]
    if not names:
        return dict.fromkeys(cells, 0.0), dict.fromkeys(cells, 0.0), ""
    ranks: dict[str, list[float]] = {flags: [] for flags in cells}
    gaps: dict[str, list[float]] = {flags: [] for flags in cells}
    for name in names:
        scores = {flags: score(task, by_data[name], by_loss) for flags, by_data in cells.items()}
        best = min(scores.values())
        for flags, s in scores.items():
            below, tied = sum(o < s for o in scores.values()), sum(o == s for o in scores.values())
            ranks[flags].append(1 + below + (tied - 1) / 2)  # ties share the mean of their ranks
            gaps[flags].append((s - best) / abs(best))
    mean_rank = {f: statistics.mean(r) for f, r in ranks.items()}
    mean_gap = {f: statistics.mean(g) for f, g in gaps.items()}
    chosen = min(cells, key=lambda f: (mean_rank[f], mean_gap[f]))
    return mean_rank, mean_gap, chosen


def shown(task: str, result: dict) -> str:
    """A cell's validation figure as the table shows it: MCC (loss) for classify, else the loss."""
    return f"{result['val_mcc']:.4f} ({result['val_loss']:.4f})" if task == "classify" else f"{result['val_loss']:.4f}"


def section(results: dict, started: float, argv: list[str], quick: bool) -> str:
    lines = [
        "## Defaults sweep: how each task's defaults were chosen",
        "",
        "Each task's candidate defaults (a cell = the settings it gives `rnnkit TASK train`, the rest being",
        'the task\'s defaults; "(before)" marks the defaults before the sweep) trained on two data sets with',
        "one thread and seed 1337, scored on",
        "the **validation** split only (best weights restored); the chosen cell has the best mean rank over",
        "the two sets (ties: the smaller mean relative gap to each set's best). Runs are bounded by updates or",
        'epochs, never by wall time, so the numbers do not depend on the machine\'s load; "CPU s" is the',
        "process CPU time of the run. Lower is better except MCC.",
        "",
    ]
    for task in results:
        by_flags = {flags: results[task].get(flags, {}) for flags in GRIDS[task]}  # this grid's cells only
        names = list(datasets(task))
        mean_rank, mean_gap, chosen = choose(task, by_flags)
        loss_rank, _, chosen_by_loss = choose(task, by_flags, by_loss=True)
        what = {name: text for name, (text, _) in datasets(task).items()}
        budget = " ".join(QUICK_BUDGET[task]) + " (quick mode)" if quick else TASKS[task][3]
        metric = "val MCC (val loss)" if task == "classify" else ("val nats/char" if task == "lm" else "val NLL/frame")
        lines += [
            f"### {task}",
            "",
            f"Grid: {GRID_TEXT[task]}. Budget: {budget}. Data: " + "; ".join(f"`{n}` = {what[n]}" for n in names) + ".",
            "",
            "| cell | "
            + " | ".join(f"{n}: {metric}" for n in names)
            + " | "
            + " | ".join(f"{n}: epochs / updates / stopped by / CPU s" for n in names)
            + " | mean rank | mean gap |"
            + (" mean rank by val loss |" if task == "classify" else ""),
            "|---|" + "---|" * (2 * len(names) + 2 + (task == "classify")),
        ]
        for flags, by_data in by_flags.items():
            marks = (" (before)" if flags == GRIDS[task][0] else "") + (" ← chosen" if flags == chosen else "")
            lines.append(
                f"| `{flags}`{marks} | "
                + " | ".join(shown(task, by_data[n]) if n in by_data else "–" for n in names)
                + " | "
                + " | ".join(
                    f"{r['epochs']} / {r['updates']} / {r['stopped']} / {r['cpu_s']:.0f}"
                    if (r := by_data.get(n))
                    else "–"
                    for n in names
                )
                + f" | {mean_rank[flags]:.1f} | {100 * mean_gap[flags]:.1f}% |"
                + (f" {loss_rank[flags]:.1f} |" if task == "classify" else "")
            )
        verdict = "kept" if chosen == GRIDS[task][0] else f"changed from `{GRIDS[task][0]}`"
        lines += ["", f"Chosen: `{chosen}` (the defaults: {verdict})." if chosen else "Not every cell trained yet."]
        if task == "classify" and chosen:
            lines[-1] += (
                " Ranked by validation loss instead of MCC, the same cell wins."
                if chosen_by_loss == chosen
                else f" Ranked by validation loss instead of MCC, `{chosen_by_loss}` would win; the rule is MCC."
            )
        lines.append("")
    lines += [
        "Cells are cached in `benchmarks/results/defaults_sweep.json` (a rerun trains only missing cells); the",
        "whole sweep afresh: `python benchmarks/defaults_sweep.py --redo`. The last invocation:",
        stamp(started, argv, "defaults_sweep.py"),
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"a subset of {','.join(TASKS)}")
    parser.add_argument("--run-dir", default="runs/bench-defaults-sweep")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "defaults_sweep.json"))
    parser.add_argument("--redo", action="store_true", help="retrain cells already in the results file")
    parser.add_argument("--quick", action="store_true", help="2 updates or 1 epoch per cell (checks the script)")
    return parser


def main() -> None:
    argv = build_parser().parse_args()
    torch.set_num_threads(1)
    started = time.time()
    results_path, results = results_store(argv.results, argv.quick)
    for task in argv.tasks.split(","):
        budget = QUICK_BUDGET[task] if argv.quick else TASKS[task][2]
        cells = results.setdefault(task, {flags: {} for flags in GRIDS[task]})
        for name, (_, load) in datasets(task).items():
            data = load()
            for flags in GRIDS[task]:
                if name in cells.setdefault(flags, {}) and not argv.redo:
                    continue
                slug = "-".join(flags.replace("--", "").split()) or "defaults"
                cells[flags][name] = train_cell(task, data, flags, budget, f"{argv.run_dir}/{task}-{name}-{slug}")
                print(task, name, flags or "(defaults)", cells[flags][name], flush=True)
                results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    write_section("defaults-sweep", section(results, started, sys.argv[1:], argv.quick))


if __name__ == "__main__":
    main()
