"""Long-range memory: tanh-RNN, GRU and LSTM on the adding problem (T = 100, 200, 600), copy memory
(T = 100, 1000) and the embedded Reber grammar, side by side.

Writes the `longrange` section of BENCHMARKS.md. Each run trains `rnnkit longrange ...` under a
training-time cap (--seconds; --quick makes it short) and reports the test figures of its best
validation checkpoint next to the chance level and the published numbers.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time

import torch

from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs
from rnnkit.tasks.longrange import LongRangeConfig, LongRangeTask, metrics
from rnnkit.train import Trainer, TrainConfig, build_configs

CELLS = ("rnn", "gru", "lstm")
TASKS = [("adding", 100, "hochreiter"), ("adding", 200, "hochreiter"), ("adding", 600, "hochreiter"),
         ("adding", 600, "tcn"), ("copy", 100, ""), ("copy", 1000, ""), ("reber", 0, "")]
MODEL = "--hidden-size 64 --optimizer adam --lr 0.003 --clip-norm 1 --batch-size 32 --patience 10 --max-epochs 1000"
PUBLISHED = {
    ("adding", 100, "hochreiter"): "LSTM: 1/2560 wrong after 74,000 sequences (Hochreiter & Schmidhuber 1997)",
    ("adding", 600, "tcn"): "MSE LSTM 0.164, GRU 5.3e-5, RNN 0.177 (Bai et al. 2018, ≈70K params)",
    ("copy", 1000, ""): "CE LSTM 0.0204, GRU 0.0197, RNN 0.0202 (Bai et al. 2018; all at chance)",
    ("reber", 0, ""): "LSTM 100% of trials succeed after 8,440–39,740 strings; Elman net 0% (H&S 1997)",
}


def chance(task: LongRangeTask) -> str:
    """The loss of the best input-blind prediction on the test split."""
    cfg = task.cfg
    if cfg.task == "adding":
        targets = torch.cat([b.y[:, 0] for b in task.eval_batches("test")])
        return f"MSE {targets.var(unbiased=False).item():.4f}"
    if cfg.task == "copy":
        return f"CE {10 * math.log(8) / (cfg.length + 20):.4f}"
    return "–"


def run(name: str, length: int, variant: str, cell: str, cap: float, sizes: str, threads: int,
        run_dir: str) -> dict:
    """Trains one model as `rnnkit longrange ...` would; returns its figures."""
    base = ["--task", name, *(["--length", str(length)] if length else []),
            *(["--variant", variant] if variant else []), "--cell", cell, *shlex.split(MODEL),
            *shlex.split(sizes), *(["--max-time", str(cap)] if cap else [])]
    args = [*base, "--run-dir", run_dir, "--threads", str(threads), "--log-every", "100000"]
    cfgs = build_configs({"train": TrainConfig, "longrange": LongRangeConfig}, None, args)
    torch.manual_seed(cfgs["train"].seed)
    task = LongRangeTask(cfgs["longrange"])
    start = time.perf_counter()
    summary = Trainer(task, cfgs["train"]).fit()
    return {"params": sum(p.numel() for p in task.model.parameters()), "updates": summary["step"],
            "sequences": summary["step"] * task.cfg.batch_size, "wall": time.perf_counter() - start,
            "metrics": metrics(task, "test"), "chance": chance(task),
            "command": "rnnkit longrange " + shlex.join(base)}


def key(name: str, length: int, variant: str) -> str:
    """A task's name for --tasks: adding-100, adding-tcn-600, copy-1000, reber."""
    return "-".join([name, *(["tcn"] if variant == "tcn" else []), *([str(length)] if length else [])])


def describe(m: dict) -> str:
    """The task figure in words: adding % wrong, copy recall accuracy, Reber strings right."""
    if "wrong" in m:
        return f"{100 * m['wrong']:.1f}% wrong (error > 0.04)"
    if "recall_accuracy" in m:
        return f"{100 * m['recall_accuracy']:.1f}% digits recalled"
    return f"{100 * m['strings_correct']:.1f}% strings all right"


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 s of training per run, smaller val/test sets")
    parser.add_argument("--seconds", type=float, default=0.0, help="training time cap per run (default 6 quick, 300 full)")
    parser.add_argument("--tasks", default="", help="a subset, e.g. adding-100,adding-tcn-600,copy-1000,reber")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--run-dir", default="runs/bench-longrange")
    return parser


def main() -> None:
    parser = build_parser()
    argv = parser.parse_args()
    cap = argv.seconds or (6.0 if argv.quick else 300.0)
    sizes = "--val-size 64 --test-size 256" if argv.quick else "--val-size 512 --test-size 2560"
    started = time.time()
    lines = [
        "## Long-range memory: adding problem, copy memory, embedded Reber grammar",
        "",
        "Hidden size 64 for every cell, Adam (lr 0.003), gradient norm clipped to 1, batches of 32 fresh",
        "sequences (3,200 per epoch), test figures of the best validation checkpoint. adding = Hochreiter &",
        "Schmidhuber 1997 (length T..1.1T, values in [−1, 1], target 0.5 + (X1+X2)/4, loss MSE); adding-tcn =",
        "Bai et al. 2018 (length T, values in [0, 1], target X1+X2); copy = Bai et al. (cross-entropy over",
        "all T+20 steps); reber = next-symbol legal sets, a string is right when at every step the legal",
        f"symbols are exactly the most active outputs. Every run was capped at {cap:g} s of training on a",
        "shared 2-core machine: far fewer sequences than the papers used (see the \"sequences\" column).",
        "",
        "| task | T | cell | params | updates | sequences | test loss | test figure | chance | wall s | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes, verdicts = [], []
    chosen = [t for t in TASKS if not argv.tasks or key(*t) in argv.tasks.split(",")]
    if not chosen:
        parser.error(f"--tasks: none of {argv.tasks!r}; known: {', '.join(key(*t) for t in TASKS)}")
    for name, length, variant in chosen:
        label = name + ("-tcn" if variant == "tcn" else "")
        losses = {}
        for cell in CELLS:
            r = run(name, length, variant, cell, cap, sizes, argv.threads, f"{argv.run_dir}/{label}-{length}-{cell}")
            losses[cell] = r["metrics"]["loss"]
            print(label, length, cell, {k: v for k, v in r.items() if k != "command"}, flush=True)
            lines.append(f"| {label} | {length or '≥ 9'} | {cell} | {r['params']:,} | {r['updates']} | "
                         f"{r['sequences']:,} | {r['metrics']['loss']:.4g} | {describe(r['metrics'])} | "
                         f"{r['chance']} | {r['wall']:.0f} | `{r['command']}` |")
        order = " < ".join(f"{c} {losses[c]:.4g}" for c in sorted(losses, key=losses.get))
        where = f"{label} T={length}" if length else label
        verdicts.append(f"- {where}: test loss {order}")
        if (name, length, variant) in PUBLISHED:
            notes.append(f"- {where}: {PUBLISHED[(name, length, variant)]}")
    lines += ["", "Ranking by test loss (lower is better):", *verdicts, "", "Published:", *notes,
              stamp(started, sys.argv[1:], "longrange.py")]
    write_section("longrange", "\n".join(lines))


if __name__ == "__main__":
    main()
