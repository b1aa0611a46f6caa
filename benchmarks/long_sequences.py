"""Long sequences are numerically safe: Nottingham pieces concatenated into pieces of >= 4,000 frames,
trained with the JSB recipe of benchmarks/music.py (LSTM 256, RMSProp, clip 1, weight noise 0.18) with
full BPTT over each piece (--long-sequence 0, the old behaviour) and with the default automatic
chunking (--long-sequence 500: truncated-BPTT windows, state carried), with the Nottingham recipe
(its --long-sequence 2000), and with the defaults alone.

Counts the updates skipped for a non-finite loss or gradient (`kind=skip` rows) and the largest
gradient norm seen; writes the `long-sequences` section of BENCHMARKS.md. Each run is capped by
--seconds (the machine is shared: a short cap, not a run to convergence).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import torch
from music import TUNED  # benchmarks/ is on sys.path when a script runs
from report import stamp, write_section

from rnnkit.data.music import dataset_path
from rnnkit.tasks.music import MusicConfig, MusicTask
from rnnkit.train import TrainConfig, Trainer, build_configs

SETTINGS = {"jsb-recipe-full-bptt": TUNED["jsb"] + " --long-sequence 0",
            "jsb-recipe": TUNED["jsb"],
            "nottingham-recipe": TUNED["nottingham"],
            "defaults": ""}


def long_set(min_frames: int, pieces: int, path: Path) -> Path:
    """A JSON music set whose every piece is consecutive Nottingham pieces of a split joined until
    it has >= min_frames frames (at most `pieces` per split); written to `path`."""
    doc = json.loads(dataset_path("nottingham").read_text(encoding="utf-8"))
    out = {}
    for split, seqs in doc.items():
        joined, current = [], []
        for seq in seqs:
            current += seq
            if len(current) >= min_frames:
                joined.append(current)
                current = []
            if len(joined) == pieces:
                break
        out[split] = joined
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out), encoding="utf-8")
    return path


def run(data: Path, flags: str, seconds: float, threads: int, run_dir: str) -> None:
    """Trains one model as `rnnkit music train --data DATA FLAGS --max-time SECONDS` would."""
    args = [*command_args(data, flags, seconds), "--run-dir", run_dir, "--threads", str(threads), "--log-every", "1",
            "--overwrite"]
    cfgs = build_configs({"train": TrainConfig, "music": MusicConfig}, None, args)
    torch.manual_seed(cfgs["train"].seed)
    Trainer(MusicTask(cfgs["music"]), cfgs["train"]).fit()


def command_args(data: Path, flags: str, seconds: float) -> list[str]:
    return ["--data", str(data), *shlex.split(flags), "--max-time", str(seconds)]


def summarise(run_dir: str) -> dict:
    """The figures of the latest run in run_dir, from its metrics.jsonl (every update logged)."""
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()]
    start = max((i for i, r in enumerate(rows) if r.get("kind") == "engine"), default=0)
    while start and rows[start - 1].get("kind") in ("engine", "chunking"):  # the rows a run opens with
        start -= 1
    rows = rows[start:]
    summary = next(r for r in reversed(rows) if r.get("kind") == "summary")
    norms = [r["grad_norm"] for r in rows if r.get("kind") in ("train", "skip")]
    return {"updates": summary["step"], "skipped": sum(r.get("kind") == "skip" for r in rows),
            "max_grad_norm": max((n for n in norms if math.isfinite(n)), default=float("nan")),
            "chunked": any(r.get("kind") == "chunking" for r in rows), "val": summary["best_val"],
            "test": summary["test"], "stopped": summary["stopped"], "seconds": summary["seconds"]}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="training time cap per run")
    parser.add_argument("--min-frames", type=int, default=4000)
    parser.add_argument("--pieces", type=int, default=8, help="long pieces per split")
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--run-dir", default="runs/bench-long")
    parser.add_argument("--render", action="store_true", help="train nothing: rewrite the section from the run dirs")
    parser.add_argument("--quick", action="store_true", help="30 s per run, 2 pieces per split")
    return parser


def main() -> None:
    argv = build_parser().parse_args()
    if argv.quick:
        argv.seconds, argv.pieces = 30.0, 2
    started = time.time()
    data = long_set(argv.min_frames, argv.pieces, Path(argv.run_dir) / "nottingham_long.json")
    doc = json.loads(data.read_text(encoding="utf-8"))
    lengths = {k: [len(s) for s in v] for k, v in doc.items()}
    results = {}
    for name in argv.settings.split(","):
        if not argv.render:
            run(data, SETTINGS[name], argv.seconds, argv.threads, f"{argv.run_dir}/{name}")
        results[name] = summarise(f"{argv.run_dir}/{name}")
        results[name]["command"] = "rnnkit music train " + shlex.join(command_args(data, SETTINGS[name], argv.seconds))
        print(name, results[name], flush=True)
    lines = ["## Long sequences: pieces of 4,000+ frames", "",
             f"Nottingham pieces joined into pieces of at least {argv.min_frames:,} frames (train/valid/test: "
             + ", ".join(f"{len(v)} pieces of {min(v):,}–{max(v):,} frames" for v in lengths.values())
             + f"). Each run capped at {argv.seconds:g} s of training on a shared machine: this measures whether "
             "any update has a non-finite loss or gradient, not the NLL at convergence. `--long-sequence 0` is "
             "full BPTT over each piece (before the automatic chunking); the default (500) trains such pieces "
             "in truncated-BPTT windows of 500 frames with the state carried. Gradient norms are before clipping "
             "(to 1 in every recipe here). Finite is not the same as useful: a largest norm many orders above the "
             "clip threshold means the recurrence (here, under weight noise 0.18) expands gradients through the "
             "window, and the clipped update is dominated by those directions; compare the NLL columns.", "",
             "| setting | updates | non-finite updates skipped | largest finite grad norm | chunked | val NLL "
             "| test NLL | stopped by | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        norm = r["max_grad_norm"]
        shown = norm if not math.isfinite(norm) else f"{norm:.3g}"
        lines.append(f"| {name} | {r['updates']} | {r['skipped']} | {shown} | "
                     f"{'yes' if r['chunked'] else 'no'} | {r['val']:.3f} | {r['test']:.3f} | {r['stopped']} | "
                     f"`{r['command']}` |")
    rewritten = " (this text rewritten from the run directories by --render: the wall time is the rewrite's)"
    lines += ["", "Produced by" + (rewritten if argv.render else "") + ":",
              stamp(started, [a for a in sys.argv[1:] if a != "--render"], "long_sequences.py")]
    write_section("long-sequences", "\n".join(lines))


if __name__ == "__main__":
    main()
