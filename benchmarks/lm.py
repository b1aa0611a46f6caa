"""Language models: char-level tiny Shakespeare, word-level PTB and char-level PTB, beside reference numbers.

Writes the `lm-shakespeare`, `lm-ptb-word` and `lm-ptb-char` sections of BENCHMARKS.md (one per task, so a
task rerun alone leaves the others). Usage: python benchmarks/lm.py [--quick] [--tasks shakespeare,ptb-word,ptb-char]
[--steps N]. The configs in benchmarks/configs/lm_*.toml hold the full budgets (minutes of training, max_time;
the cosine schedule anneals over that time); --steps stops a shorter run after N updates (annealing over them).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import torch
from report import command, stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.lm import LanguageModelTask, LMConfig, lm_metrics
from rnnkit.train import TrainConfig, Trainer, build_configs

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = Path(__file__).resolve().parent / "configs"
QUICK_STEPS = 20
OPTIMIZERS = {"sgd": "SGD", "rmsprop": "RMSProp", "adagrad": "AdaGrad", "adam": "Adam", "adamw": "AdamW"}


class Bench(NamedTuple):
    """One task: its config, what it reports, and the reference rows (name, value, source)."""

    config: str
    title: str
    about: str
    metric: str  # "loss" (nats/token, val), "perplexity" or "bits" (test)
    references: list[tuple[str, float, str]]


TASKS = {
    "shakespeare": Bench(
        "lm_shakespeare.toml", "Language model: tiny Shakespeare, char level",
        "Validation loss in nats per character on the nanoGPT validation split (the last 111,540 "
        "characters; train = the first 1,003,854).",
        "loss",
        [("plain torch: nn.LSTM 2×512 (oneDNN), Adam 3e-3, dropout 0.2, 20 min on this machine kind", 1.449,
          "shared/notes/text-baselines.md"),
         ("nanoGPT shakespeare_char Transformer (6 layers, 384 wide), A100, ~3 min", 1.4697,
          "nanoGPT README, PUBLISHED_NUMBERS.md D")]),
    "ptb-word": Bench(
        "lm_ptb_word.toml", "Language model: Penn Treebank, word level",
        "Test perplexity on the test split of Mikolov's PTB (82,430 tokens with <eos>; closed 10k vocabulary).",
        "perplexity",
        [("LSTM, ≈13M parameters (Bai et al. 2018, TCN paper, Table 1)", 78.93, "PUBLISHED_NUMBERS.md E"),
         ("GRU (same table)", 92.48, "PUBLISHED_NUMBERS.md E"),
         ("tanh RNN (same table)", 114.50, "PUBLISHED_NUMBERS.md E")]),
    "ptb-char": Bench(
        "lm_ptb_char.toml", "Language model: Penn Treebank, char level",
        "Test bits per character on the test split of the char PTB (442,423 characters, counting '_' between "
        "words and <eos> per line).",
        "bits",
        [("LSTM, ≈3M parameters (Bai et al. 2018, TCN paper, Table 1)", 1.36, "PUBLISHED_NUMBERS.md E"),
         ("GRU (same table)", 1.37, "PUBLISHED_NUMBERS.md E"),
         ("tanh RNN (same table)", 1.48, "PUBLISHED_NUMBERS.md E")]),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_STEPS} updates per task (a few minutes)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: " + ", ".join(TASKS))
    parser.add_argument("--steps", type=int, default=0, help="updates per task instead of the config's max_steps")
    return parser


def run(bench: Bench, steps: int) -> tuple[dict, dict, float]:
    """Train with the task's config (data paths read from the repository root); (summary, configs, seconds)."""
    with tempfile.TemporaryDirectory() as run_dir:
        classes = {"train": TrainConfig, "lm": LMConfig}
        cfgs = build_configs(classes, str(CONFIGS / bench.config), ["--run-dir", run_dir])
        lm, train = cfgs["lm"], cfgs["train"]
        if lm.data:
            lm.data = str(ROOT / lm.data)
        if steps:
            train.max_steps = steps
        torch.manual_seed(train.seed)
        task = LanguageModelTask(lm)
        started = time.time()
        summary = Trainer(task, train).fit()
        summary["params"] = sum(p.numel() for p in task.model.parameters())
        summary["tokens"] = summary["step"] * lm.batch_size * lm.seq_len
        summary["vocab"] = len(task.vocab)
        summary["predicted"] = {split: s.y.numel() for split, s in task.eval_streams.items()}
        summary["unigram"] = unigram_loss(task, "val" if bench.metric == "loss" else "test")
        return summary, cfgs, time.time() - started


def unigram_loss(task: LanguageModelTask, split: str) -> float:
    """Nats per token on `split` of the unigram model of the training targets (add-one smoothed): the
    loss of a model that has learned token frequencies and nothing else."""
    counts = torch.bincount(task.train_stream.y.flatten(), minlength=len(task.vocab)).double() + 1
    log_p = torch.log(counts / counts.sum())
    return -log_p[task.eval_streams[split].y.flatten()].mean().item()


def section(name: str, bench: Bench, summary: dict, cfgs: dict, seconds: float, steps: int, started: float,
            argv: list[str]) -> str:
    lm, train = cfgs["lm"], cfgs["train"]
    split, loss = ("val", summary["best_val"]) if bench.metric == "loss" else ("test", summary["test"])
    value = lm_metrics(loss)[bench.metric]
    unit = {"loss": "nats/char", "perplexity": "perplexity", "bits": "bits/char"}[bench.metric]
    val = lm_metrics(summary["best_val"])
    model = (f"rnnkit {lm.cell.upper()} {lm.num_layers}×{lm.hidden_size}, embedding {lm.embed_size}"
             f"{', tied' if lm.tie_weights else ''}, dropout {lm.dropout}/{lm.dropout_input}/{lm.dropout_output}, "
             f"{summary['params'] / 1e6:.2f}M parameters")
    reproduce = command("lm.py", ["--tasks", name] + (["--steps", str(steps)] if steps else []))
    rows = [f"| {model}; {summary['step']} updates of {lm.batch_size}×{lm.seq_len} tokens "
            f"({summary['tokens'] / 1e6:.2f}M tokens), {seconds / 60:.1f} min of wall time "
            f"({summary['tokens'] / summary['seconds']:,.0f} tokens/s over the training time, evaluations included) "
            f"| **{value:.4g}** | "
            f"val {val['loss']:.4f} nats/token = {val['bits']:.4f} bits = perplexity {val['perplexity']:.2f} | "
            f"`{reproduce}` |"]
    rows.append(f"| unigram of the training tokens (add-one smoothed): frequencies only, no context | "
                f"{lm_metrics(summary['unigram'])[bench.metric]:.4g} | computed by this script | – |")
    rows += [f"| {ref} | {number} | {source} | – |" for ref, number, source in bench.references]
    budget = ("" if not steps else
              f"\n**Shorter than the full budget**: this run trained {steps} updates; the config's budget is "
              f"`python benchmarks/lm.py --tasks {name}` ({_budget(bench)}). On a shared CPU the "
              f"full run was not affordable here; its number is not claimed.\n")
    return "\n".join([
        f"## {bench.title}",
        "",
        f"{bench.about} The split is read as {lm.eval_batch_size} contiguous streams, each from a zero state, "
        f"which predict {summary['predicted'][split]:,} of its tokens (a stream's row holds (N − 1) // "
        f"{lm.eval_batch_size} of them); lower is better. Config `benchmarks/configs/{bench.config}` ("
        f"{OPTIMIZERS[train.optimizer]} at lr {train.lr:g}, clipping at norm {train.clip_norm:g}, {train.schedule} "
        f"decay, {train.threads} thread{'s' * (train.threads != 1)}, vocabulary {summary['vocab']}).",
        budget,
        f"| model and budget | {split} {unit} | also / source | command |",
        "|---|---|---|---|",
        *rows,
        stamp(started, argv, "lm.py"),
    ])


def _budget(bench: Bench) -> str:
    train = build_configs({"train": TrainConfig, "lm": LMConfig}, str(CONFIGS / bench.config), [])["train"]
    return f"{train.max_time / 60:.0f} min of training" if train.max_time else f"{train.max_steps} updates"


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    steps = QUICK_STEPS if args.quick else args.steps
    for name in args.tasks.split(","):
        if name not in TASKS:
            raise SystemExit(f"error: unknown task {name!r} (known: {', '.join(TASKS)})")
    for name in args.tasks.split(","):
        started = time.time()
        summary, cfgs, seconds = run(TASKS[name], steps)
        body = section(name, TASKS[name], summary, cfgs, seconds, steps, started, argv)
        write_section(f"lm-{name}", body)
        print(body, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
