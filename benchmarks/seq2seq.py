"""Exact-match benchmarks of the encoder-decoder and the one-to-many decoder; writes its section of
BENCHMARKS.md and the attention heat-maps under benchmarks/results/.

    .venv/bin/python benchmarks/seq2seq.py                       # every run below (~25 min on 2 cores)
    .venv/bin/python benchmarks/seq2seq.py --runs caption dates  # a subset (rows of other runs are kept)

Each seq2seq run is `rnnkit seq2seq train` with its defaults plus the run's flags; exact match is
the fraction of held-out pairs decoded exactly (greedy on the whole test split; beam search on its
first BEAM_PAIRS pairs, as beam search decodes one pair at a time).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.captioning import CaptionConfig, DigitsCaptionTask
from rnnkit.tasks.seq2seq import Seq2Seq, plot_attention
from rnnkit.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parent.parent

RESULTS = ROOT / "benchmarks" / "results"
BEAM, BEAM_PAIRS = 4, 1000
# name: (flags over Seq2Seq.train_defaults, input for the attention heat-map or None)
RUNS = {
    "addition-bahdanau": (["--task", "addition", "--attention", "bahdanau"], "535+61"),
    "addition-luong": (["--task", "addition", "--attention", "luong"], "535+61"),
    "addition-none": (["--task", "addition", "--attention", "none"], None),
    "dates-bahdanau": (["--task", "dates", "--n-pairs", "20000", "--max-epochs", "6"], "march 5th, 2021"),
}
DEFAULT_FLAGS = " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else f"--{k.replace('_', '-')} {v}"
                         for k, v in Seq2Seq.train_defaults.items() if k != "run_dir")
CAPTION_TRAIN = {"max_epochs": 30, "patience": 0, "lr": 0.005, "schedule": "cosine", "threads": 1, "log_every": 1000}


def run_seq2seq(name: str) -> dict:
    flags, heatmap_input = RUNS[name]
    run_dir = f"runs/bench-{name}"
    started = time.perf_counter()
    flags = ["--patience", "0", *flags]  # the recipe anneals over its epochs, without early stopping
    cfgs = Seq2Seq.configs(None, [*flags, "--run-dir", run_dir])  # as `rnnkit seq2seq train` builds them
    translator = Seq2Seq(cfgs["seq2seq"])
    summary = translator.fit(train=cfgs["train"])
    task = translator.task
    row = {"name": name, "command": "rnnkit seq2seq train " + " ".join(flags),
           "pairs": {k: len(v) for k, v in task.splits.items()}, "updates": summary["step"],
           "train_s": summary["seconds"], "wall_s": round(time.perf_counter() - started, 1),
           "val_greedy": translator.exact_match(task.splits["val"]),
           "test_greedy": translator.exact_match(task.splits["test"]),
           "test_beam": translator.exact_match(task.splits["test"][:BEAM_PAIRS], beam=BEAM)}
    if heatmap_input:
        output, weights = translator.translate_with_attention(heatmap_input)
        png = plot_attention(heatmap_input, output, weights, RESULTS / f"seq2seq-attention-{name}.png")
        row["heatmap"] = {"input": heatmap_input, "output": output, "png": str(png.relative_to(ROOT))}
    return row


def run_caption() -> dict:
    torch.manual_seed(1337)
    task = DigitsCaptionTask(CaptionConfig())
    summary = Trainer(task, TrainConfig(run_dir="runs/bench-caption", **CAPTION_TRAIN)).fit()
    return {"name": "caption-digits", "pairs": {k: len(v) for k, v in task.splits.items()},
            "updates": summary["step"], "train_s": summary["seconds"],
            "val_greedy": task.exact_match("val"), "test_greedy": task.exact_match("test"),
            "test_beam": task.exact_match("test", beam=BEAM)}


def render(rows: dict) -> str:
    pct = "{:.2%}".format
    lines = [
        "## Encoder-decoder and one-to-many: exact match (benchmarks/seq2seq.py)",
        "",
        f"Written by `benchmarks/seq2seq.py` on {platform.machine()}, torch {torch.__version__}, 1 thread per "
        "run on a 2-core machine shared with other jobs (times vary with the load). Exact match: the decoded "
        f"output equals the target exactly. Greedy on the whole split; beam {BEAM} on the first "
        f"{BEAM_PAIRS:,} test pairs (all test images for captioning). Defaults of `rnnkit seq2seq train`: "
        f"`{DEFAULT_FLAGS}`, GRU, bidirectional "
        "encoder, hidden 128, embedding 32, batch 128, 60,000 generated pairs split 85/5/10.",
        "",
        "| run | train / val / test | updates | training s | val EM greedy | test EM greedy | test EM beam |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        p = row["pairs"]
        lines.append(f"| {row['name']} | {p['train']:,} / {p['val']:,} / {p['test']:,} | {row['updates']:,} | "
                     f"{row['train_s']:.0f} | {pct(row['val_greedy'])} | {pct(row['test_greedy'])} | "
                     f"{pct(row['test_beam'])} |")
    lines += ["", "Commands (seq2seq runs; the caption run is `DigitsCaptionTask` with "
              f"`TrainConfig({', '.join(f'{k}={v}' for k, v in CAPTION_TRAIN.items())})`):", ""]
    lines += [f"- {row['name']}: `{row['command']}`" for row in rows.values() if "command" in row]
    maps = [row for row in rows.values() if "heatmap" in row]
    if maps:
        lines += ["", "Attention heat-maps (greedy decoding; rows: output characters, columns: source):", ""]
        lines += [f"- {r['name']}: \"{r['heatmap']['input']}\" -> \"{r['heatmap']['output']}\": "
                  f"[{r['heatmap']['png']}]({r['heatmap']['png']})" for r in maps]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=[*RUNS, "caption"], default=[*RUNS, "caption"])
    parser.add_argument("--quick", action="store_true", help="the captioning run only (under a minute)")
    return parser


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    if args.quick:
        args.runs = ["caption"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    store = RESULTS / "seq2seq.json"
    rows = json.loads(store.read_text()) if store.exists() else {}
    for name in args.runs:
        rows[name] = run_caption() if name == "caption" else run_seq2seq(name)
        print(json.dumps(rows[name]), flush=True)
        store.write_text(json.dumps(rows, indent=1))
    ordered = {k: rows[k] for k in [*RUNS, "caption"] if k in rows}
    write_section("seq2seq", render(ordered) + "\n" + stamp(started, argv, "seq2seq.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
