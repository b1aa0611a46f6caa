"""The defaults alone: each task trained with only `--data` (plus a time budget, a thread count and a run
directory) on its bundled data and on a public data set that was never used to choose the defaults,
beside the tuned recipe's number from BENCHMARKS.md.

Writes the `defaults` section of BENCHMARKS.md. Every run is capped by --seconds of training (the
machine is shared and loaded): a run the cap stops says so ("max_time"), and its number is a floor
on what the defaults reach, not their converged result.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path

import torch
from report import PATH as BENCHMARKS  # benchmarks/ is on sys.path when a script runs
from report import stamp, write_section

from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, predict, score_probs
from rnnkit.tasks.lm import LanguageModelTask, LMConfig
from rnnkit.tasks.music import MusicConfig, MusicTask
from rnnkit.train import TrainConfig, Trainer, build_configs

ROOT = Path(__file__).resolve().parent.parent
EWT = Path("/work/shared/datasets/ud_english_ewt")  # only to rebuild data/ud_ewt_genre (see ewt_genre_tsv)
GENRE_TSV = ROOT / "data" / "ud_ewt_genre" / "ewt_genre.tsv"
# (task, data, what the number is, where the tuned number comes from)
RUNS = {
    "music-jsb": ("music", "jsb", "test NLL per frame", ("music.json", "jsb")),
    "music-nottingham": ("music", "nottingham", "test NLL per frame", ("music.json", "nottingham")),
    "classify-sms": ("classify", "", "test MCC", ("section", "classify")),
    "classify-ewt-genre": ("classify", str(GENRE_TSV.relative_to(ROOT)), "test MCC", None),
    "lm-shakespeare": ("lm", "", "val nats/char", ("section", "lm-shakespeare")),
    "lm-ptb": ("lm", "data/ptb/ptb.train.txt", "val nats/char", None),  # the defaults read it by character
}
TASKS = {"music": (MusicConfig, MusicTask), "classify": (ClassifyConfig, ClassificationTask),
         "lm": (LMConfig, LanguageModelTask)}


def ewt_genre_tsv(out: Path = GENRE_TSV) -> None:
    """data/ud_ewt_genre/ewt_genre.tsv: every EWT sentence of >= 3 words as `genre<TAB>text`, the
    genre being its document's source (answers, email, newsgroup, reviews, weblog)."""
    rows = []
    for split in ("train", "dev", "test"):
        sent_id = None
        for line in (EWT / f"en_ewt-ud-{split}.conllu").read_text(encoding="utf-8").split("\n"):
            if line.startswith("# sent_id = "):
                sent_id = line.removeprefix("# sent_id = ").strip()
            elif line.startswith("# text = ") and sent_id:
                text = line.removeprefix("# text = ")
                if len(text.split()) >= 3 and "\t" not in text:
                    rows.append(f"{sent_id.split('-')[0]}\t{text}\n")
                sent_id = None
    out.write_text("".join(rows), encoding="utf-8")


def tuned(source: tuple[str, str] | None) -> str:
    """The tuned recipe's number: from benchmarks/results/music.json, or the first bold number of a
    BENCHMARKS.md section (its headline figure)."""
    if source is None:
        return "– (no tuned recipe)"
    kind, name = source
    if kind == "music.json":
        runs = json.loads((ROOT / "benchmarks" / "results" / "music.json").read_text(encoding="utf-8"))[name]
        return f"{runs['tuned']['test']:.3f} (`music-{name}` section, tuned)"
    text = BENCHMARKS.read_text(encoding="utf-8")
    section = re.search(rf"<!-- BEGIN {name} -->(.*?)<!-- END {name} -->", text, re.DOTALL)
    bold = re.search(r"\*\*([\d.]+)\*\*", section.group(1)) if section else None
    return f"{bold.group(1)} (`{name}` section)" if bold else "–"


def run(name: str, seconds: float, threads: int, run_dir: str) -> dict:
    """Trains one task as `rnnkit TASK train --data DATA --max-time SECONDS` would; returns its figures."""
    task_name, data, metric, _ = RUNS[name]
    user = [*(["--data", data] if data else []), "--max-time", str(seconds)]
    args = [*user, "--run-dir", run_dir, "--threads", str(threads), "--log-every", "100000", "--overwrite"]
    config, task_class = TASKS[task_name]
    cfgs = build_configs({"train": TrainConfig, task_name: config}, None, args)
    torch.manual_seed(cfgs["train"].seed)
    task = task_class(cfgs[task_name])
    summary = Trainer(task, cfgs["train"]).fit()
    if task_name == "classify":
        texts, labels = task.data["test"]
        value = score_probs(predict(task.model, task.vocab, task.cfg, texts), task.labels, labels)["mcc"]
    elif metric.startswith("val"):
        value = summary["best_val"]
    else:
        value = summary["test"]
    return {"value": value, "metric": metric, "epochs": summary["epoch"], "updates": summary["step"],
            "stopped": summary["stopped"], "seconds": summary["seconds"],
            "command": f"rnnkit {task_name} train " + shlex.join(user)}


def adopt(name: str, run_dir: str) -> dict:
    """The figures of a finished run of `rnnkit TASK train --data DATA` with no other flag (no time cap),
    read from its metrics.jsonl (music and lm metrics only: they are the trainer's losses)."""
    task_name, data, metric, _ = RUNS[name]
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    summary = next(r for r in reversed(rows) if r.get("kind") == "summary")
    return {"value": summary["best_val" if metric.startswith("val") else "test"], "metric": metric,
            "epochs": summary["epoch"], "updates": summary["step"], "stopped": summary["stopped"],
            "seconds": summary["seconds"], "cap": 0,
            "command": f"rnnkit {task_name} train " + shlex.join(["--data", data] if data else [])}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=240.0, help="training time cap per run")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"a subset of {','.join(RUNS)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-dir", default="runs/bench-defaults")
    parser.add_argument("--adopt", default="", help="NAME=RUN_DIR: record a finished uncapped run instead of training")
    parser.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "defaults.json"))
    parser.add_argument("--quick", action="store_true", help="60 s per run")
    return parser


def main() -> None:
    argv = build_parser().parse_args()
    if argv.quick:
        argv.seconds = 60.0
    started = time.time()
    results_path = Path(argv.results)
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    if argv.adopt:
        name, run_dir = argv.adopt.split("=", 1)
        results[name] = adopt(name, run_dir)
    for name in argv.runs.split(",") if not argv.adopt else []:
        results[name] = run(name, argv.seconds, argv.threads, f"{argv.run_dir}/{name}")
        results[name]["cap"] = argv.seconds
        print(name, results[name], flush=True)
        results_path.write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = ["## Defaults: each task with only `--data`", "",
             "Each task trained with its defaults and nothing but `--data` (and `--max-time`, `--threads 1`, a run",
             "directory), beside the tuned recipe's number from its own section. The defaults: early stopping on the",
             "validation split (patience 5, best weights restored), a plateau learning-rate schedule, at most 200",
             "epochs. The machine is shared and loaded, so every run is capped (\"cap s\"): a run stopped by",
             "`max_time` had not converged, and its number is what the defaults reach in that budget (– = no cap:",
             "`rnnkit music train --data jsb` exactly as written, both threads). The EWT genre",
             "set (`data/ud_ewt_genre`: UD English EWT sentences labelled by source genre, 5 classes) was never",
             "used to choose a default.", "",
             "| run | metric | defaults | tuned recipe | epochs | updates | stopped by | cap s | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in sorted(results.items(), key=lambda item: list(RUNS).index(item[0])):
        lines.append(f"| {name} | {r['metric']} | {r['value']:.3f} | {tuned(RUNS[name][3])} | {r['epochs']} | "
                     f"{r['updates']} | {r['stopped']} | {format(r['cap'], 'g') if r['cap'] else '–'} | `{r['command']}` |")
    lines += ["", "Produced by:", stamp(started, sys.argv[1:], "defaults.py")]
    write_section("defaults", "\n".join(lines))


if __name__ == "__main__":
    main()
