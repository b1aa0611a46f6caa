"""Polyphonic music NLL: Chung et al. 2014 (Table 2) reproduced with tanh-RNN, GRU and LSTM side by
side, plus a tuned configuration of ours, on the bundled JSB Chorales and Nottingham sets.

Writes the `music-jsb` / `music-nottingham` sections of BENCHMARKS.md and benchmarks/results/music.json
(every run's figures; a run that is not --quick merges its models into it, so the models of a data set
can be measured by separate invocations, e.g. with different caps). NLL = -log p summed over the 88
keys, averaged over every predicted frame of a split pooled (Bai et al. 2018). --quick caps every run
at a few tens of seconds; the full run trains each model until early stopping.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from report import compact, stamp, val_rows, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.music import MusicConfig, MusicTask, pooled_nll
from rnnkit.train import TrainConfig, Trainer, build_configs

# Chung et al. 2014, Tables 1-2: one layer of about 20K parameters per cell (LSTM with peepholes,
# GRU in the Cho/Bahdanau form); RMSProp, gradient norm rescaled to 1, weight noise 0.075, early
# stopping on validation. Their learning rate was the best of 10 draws in [e^-12, e^-6]; ours is
# one value inside that range; batch size and epochs they do not state.
CHUNG_MODEL = {"rnn": "--cell rnn --hidden-size 100", "gru": "--cell gru --hidden-size 46 --no-reset-after",
               "lstm": "--cell lstm --hidden-size 36 --peephole"}
# --long-sequence 2000: every bundled piece (Nottingham's longest: 1,793 frames) trains with full BPTT, as when
# these numbers were measured (the default, 500, would cut Nottingham's longest pieces into windows).
CHUNG_TRAIN = ("--optimizer rmsprop --lr 0.002 --clip-norm 1 --weight-noise 0.075 --batch-size 8 --schedule constant "
               "--patience 5 --max-epochs 500 --long-sequence 2000")
CHUNG_PUBLISHED = {("jsb", "rnn"): (8.82, 9.10), ("jsb", "gru"): (6.94, 8.54), ("jsb", "lstm"): (8.15, 8.67),
                   ("nottingham", "rnn"): (3.22, 3.13), ("nottingham", "gru"): (2.79, 3.23),
                   ("nottingham", "lstm"): (3.08, 3.20)}
TUNED = {# JSB: Chung et al.'s recipe on a wider LSTM with stronger weight noise, chosen on validation NLL from
         # probes at hidden 256 of noise 0.075 / 0.12 / 0.18 (val 8.31 / 8.21 / 8.16 at early stopping) and
         # 0.25 (8.63 when capped at 200 s).
         "jsb": ("--cell lstm --hidden-size 256 --optimizer rmsprop --lr 0.002 --clip-norm 1 --weight-noise 0.18 "
                 "--batch-size 8 --schedule plateau --plateau-patience 3 --patience 10 --max-epochs 500"),
         # Nottingham: the JSB recipe (Chung et al.'s RMSProp + weight noise on an LSTM) at the width a 7-minute
         # cap lets converge on tunes of 254 frames on average (a GRU 256 with truncated BPTT 50 and Adam was
         # still at 4.25 val NLL when capped at 360 s).
         "nottingham": ("--cell lstm --hidden-size 64 --optimizer rmsprop --lr 0.002 --clip-norm 1 --weight-noise 0.1 "
                        "--batch-size 8 --schedule plateau --plateau-patience 3 --patience 10 --max-epochs 500 "
                        "--long-sequence 2000")}
MODELS = ("chung-rnn", "chung-gru", "chung-lstm", "tuned")
RESULTS = Path(__file__).resolve().parent / "results" / "music.json"
TITLES = {"jsb": "JSB Chorales", "nottingham": "Nottingham"}
TARGETS = {"jsb": 8.20, "nottingham": 3.00}
BEST_PUBLISHED_RNN = {"jsb": "8.43 (GRU, Bai et al. 2018)", "nottingham": "3.13 (tanh-RNN, Chung et al. 2014)"}


def run(data: str, flags: str, max_time: float, threads: int, run_dir: str) -> dict:
    """Trains one model as `rnnkit music train --data DATA FLAGS` would; returns its figures."""
    base = ["--data", data, *shlex.split(flags), *(["--max-time", str(max_time)] if max_time else [])]
    args = [*base, "--run-dir", run_dir, "--threads", str(threads), "--log-every", "100000", "--overwrite"]
    cfgs = build_configs({"train": TrainConfig, "music": MusicConfig}, None, args)
    torch.manual_seed(cfgs["train"].seed)
    task = MusicTask(cfgs["music"])
    start = time.perf_counter()
    summary = Trainer(task, cfgs["train"]).fit()
    wall = time.perf_counter() - start
    stopped = ("time cap" if max_time and summary["seconds"] >= max_time
               else "max epochs" if summary["epoch"] >= cfgs["train"].max_epochs else "early stop")
    return {"params": sum(p.numel() for p in task.model.parameters()), "epochs": summary["epoch"],
            "updates": summary["step"], "stopped": stopped, "train": pooled_nll(task, "train"),
            "val": summary["best_val"], "test": summary["test"], "wall": wall,
            "curve": [(r["step"], r["loss"]) for r in val_rows(run_dir)],
            "command": "rnnkit music train " + shlex.join(base)}


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="cap every run at --seconds (default 25)")
    parser.add_argument("--seconds", type=float, default=0.0, help="training time cap per run; 0 = none")
    parser.add_argument("--data", default="jsb,nottingham")
    parser.add_argument("--models", default=",".join(MODELS), help=f"a subset of {','.join(MODELS)}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default="runs/bench-music")
    parser.add_argument("--render", action="store_true", help="train nothing: rewrite the sections from music.json")
    return parser


def main() -> None:
    parser = build_parser()
    argv = parser.parse_args()
    cap = argv.seconds or (25.0 if argv.quick else 0.0)
    models = argv.models.split(",")
    if set(models) - set(MODELS):
        parser.error(f"--models: unknown {', '.join(sorted(set(models) - set(MODELS)))}; known: {', '.join(MODELS)}")
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() and not argv.quick else {}
    for data in argv.data.split(","):
        started, runs = time.time(), results.setdefault(data, {})
        if argv.render:
            if runs:
                write_section(f"music-{data}", section(data, runs))
            continue
        for model in models:
            flags = TUNED[data] if model == "tuned" else f"{CHUNG_MODEL[model.split('-')[1]]} {CHUNG_TRAIN}"
            runs[model] = run(data, flags, cap, argv.threads, f"{argv.run_dir}/{data}-{model}")
            runs[model]["cap"] = cap
            print(data, model, {k: v for k, v in runs[model].items() if k != "command"}, flush=True)
        invocation = stamp(started, sys.argv[1:], "music.py").strip()
        for model in models:
            runs[model]["invocation"] = invocation
        if not argv.quick:
            RESULTS.write_text(json.dumps(results, indent=1), encoding="utf-8")
        write_section(f"music-{data}", section(data, runs))


def section(data: str, runs: dict) -> str:
    """The BENCHMARKS.md section of one data set: the table, the gaps to the published numbers, the stamps."""
    rows = []
    for model in (m for m in MODELS if m in runs):
        cell = model.split("-")[1] if model != "tuned" else "tuned"
        published = (f"target ≤ {TARGETS[data]:.2f}; best RNN {BEST_PUBLISHED_RNN[data]}" if model == "tuned"
                     else "{:.2f} / {:.2f}".format(*CHUNG_PUBLISHED[(data, cell)]))
        rows.append((cell, "ours, tuned" if model == "tuned" else f"Chung et al. {cell}", runs[model], published))
    lines = [
        f"## Polyphonic music: NLL per frame, {TITLES[data]}",
        "",
        "NLL = −log p summed over the 88 keys, averaged over all predicted frames of a split pooled (the first",
        "frame of each sequence is not scored; Bai et al. 2018). Lower is better. \"published\" = Chung et al.",
        "2014 Table 2 (train / test; their inputs index raw MIDI numbers, 93/96 dims, ours the 88-key roll; they",
        "chose the learning rate from 10 draws, we ran one). Chung rows: one layer, RMSProp, gradient norm",
        "clipped to 1, weight noise 0.075, early stopping after 5 validations without improvement.",
        "Each run is capped at the training time in the \"cap s\" column (– = none: trained to early stopping);",
        "the machine was shared with other jobs, so wall times are indicative.",
        "",
        "| model | params | cap s | epochs | updates | stopped by | train NLL | val NLL | test NLL | published "
        "| wall s | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, name, r, published in rows:
        cap = format(r["cap"], "g") if r.get("cap") else "–"
        lines.append(f"| {name} | {r['params']:,} | {cap} | {r['epochs']} | {r['updates']} | {r['stopped']} | "
                     f"{r['train']:.3f} | {r['val']:.3f} | {r['test']:.3f} | {published} | {r['wall']:.0f} | "
                     f"`{r['command']}` |")
    gaps = ", ".join(f"{cell} {r['test'] - CHUNG_PUBLISHED[(data, cell)][1]:+.2f}" for cell, _, r, _ in rows
                     if cell != "tuned")
    best = min(r["test"] for *_, r, _ in rows)
    verdict = "meets" if best <= TARGETS[data] else f"misses by {best - TARGETS[data]:.2f}"
    capped = [f"| {name} | {compact([(x / 1000, y) for x, y in r['curve']], 'k')} |" for _, name, r, _ in rows
              if r["stopped"] == "time cap" and r.get("curve")]
    if capped:
        lines += ["", "Runs stopped by their time cap before early stopping: validation NLL against updates "
                  "(thousands):", "", "| model | curve |", "|---|---|", *capped]
    lines += ["", f"Against the published test NLL (ours − theirs; positive = we fall short): Chung et al. cells "
              f"{gaps}. The best of these runs, {best:.3f}, {verdict} our target {TARGETS[data]:.2f} (best "
              f"published RNN {BEST_PUBLISHED_RNN[data]}).", "", "Produced by:",
              *[f"- {line}" for line in dict.fromkeys(r["invocation"] for *_, r, _ in rows)], "",
              f"The full reproduction (every run to early stopping): `python benchmarks/music.py --data {data}`."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
