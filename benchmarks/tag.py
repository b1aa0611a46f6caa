"""UD English EWT part-of-speech tagging (UPOS): the bi-LSTM + character tagger beside the
most-frequent-tag baseline, on the treebank's own train/dev/test files.

Protocol: train on en_ewt-ud-train.conllu with `rnnkit tag train`'s defaults (early stopping on the
dev file, at most 20 minutes of training, no pretrained embeddings), restore the best weights, then
read the test file once. The baseline tags each word form with its most frequent training tag
(ties: the alphabetically first), unseen forms NOUN.

Writes the `tag` section of BENCHMARKS.md. Usage: python benchmarks/tag.py [--quick] [--threads N] [--render]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.conll import read_conllu
from rnnkit.tasks.tag import TRAIN_DEFAULTS, TagConfig, Tagger, tagging_metrics
from rnnkit.train import TrainConfig, build_configs

# The task's trainer defaults (under the flags given), as `rnnkit ... train` flags for the report.
DEFAULT_FLAGS = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in TRAIN_DEFAULTS.items() if k != "run_dir")
# Those of the rows stored before each row kept its own (the best weights then chosen by dev loss).
EARLIER_DEFAULTS = "--max-epochs 50 --patience 3 --max-time 1200.0 --lr 0.005 --schedule cosine --log-every 100"

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "ud_english_ewt"
TRAIN, DEV, TEST = (DATA / f"en_ewt-ud-{part}.conllu" for part in ("train", "dev", "test"))
QUICK_SECONDS = 60
STORE = ROOT / "benchmarks" / "results" / "tag.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS} s of training, the row not stored")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--name", default="default", help="the row's name in the stored results")
    parser.add_argument(
        "--flags",
        default="--max-epochs 12 --max-time 0",
        help="`rnnkit tag train` flags after its defaults (one string)",
    )
    parser.add_argument(
        "--render", action="store_true", help="rewrite the section from the stored rows, training nothing"
    )
    return parser


def most_frequent_tag(train: list, test: list) -> float:
    """Token accuracy of tagging each form with its most frequent training tag (unseen forms: NOUN)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for tokens, tags in train:
        for word, tag in zip(tokens, tags):
            counts[word][tag] += 1
    best = {word: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for word, c in counts.items()}
    predicted = [[best.get(w, "NOUN") for w in tokens] for tokens, _ in test]
    return tagging_metrics([tags for _, tags in test], predicted)["accuracy"]


def run_tagger(args) -> dict:
    """Trains `rnnkit tag train --data TRAIN <defaults> <flags>` and scores it: one stored row."""
    flags = shlex.split(args.flags) + (["--max-time", str(QUICK_SECONDS)] if args.quick else [])
    cfgs = build_configs(
        {"tag": TagConfig, "train": TrainConfig},
        None,
        [
            "--data",
            str(TRAIN),
            *flags,
            "--threads",
            str(args.threads),
            "--run-dir",
            f"runs/bench-tag-{args.name}",
            "--overwrite",
        ],
        base={"train": TRAIN_DEFAULTS},
    )
    torch.manual_seed(cfgs["train"].seed)
    tagger = Tagger(cfgs["tag"], cfgs["train"])
    cpu = time.process_time()
    summary = tagger.fit(TRAIN)
    cfg = cfgs["tag"]
    return {
        "model": (
            f"bi-{cfg.cell.upper()} {cfg.num_layers}×{cfg.hidden_size} over word embedding "
            f"{cfg.embed_size} ⊕ char bi-{cfg.cell.upper()} 2×{cfg.char_hidden_size}"
            + (" + CRF" if cfg.crf else "")
            + (f", {cfg.members} members" if cfg.members > 1 else "")
        ),
        "test": summary["metrics"]["accuracy"],
        "dev": tagger.evaluate(DEV)["accuracy"],
        "epochs": summary["epoch"],
        "train_s": summary["seconds"],
        "cpu_s": round(time.process_time() - cpu),
        "command": shlex.join(
            [
                "rnnkit",
                "tag",
                "train",
                "--data",
                "data/ud_english_ewt/en_ewt-ud-train.conllu",
                *flags,
                "--threads",
                str(args.threads),
            ]
        ),
        "defaults": DEFAULT_FLAGS,
        "selection": "dev accuracy",
    }


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    train, test = read_conllu(TRAIN), read_conllu(TEST)
    baseline = most_frequent_tag(train, test)
    print(f"most-frequent-tag baseline: test accuracy {baseline:.4%}", flush=True)
    row = {} if args.render else run_tagger(args)
    print(json.dumps(row), flush=True)
    rows = json.loads(STORE.read_text()) if STORE.exists() else {}
    if not args.quick and not args.render:
        rows[args.name] = row
        STORE.parent.mkdir(parents=True, exist_ok=True)
        STORE.write_text(json.dumps(rows, indent=1))
    shown = rows if not args.quick else {"quick": row}
    body = "\n".join(
        [
            "## Part-of-speech tagging: UD English EWT, UPOS (benchmarks/tag.py)",
            "",
            (
                f"Train / dev / test: {len(train):,} / {len(read_conllu(DEV)):,} / {len(test):,} sentences "
                f"({sum(len(t) for t, _ in test):,} test tokens); test accuracy of the best weights on the dev file. "
                "No pretrained embeddings. One thread per run on a 2-core machine shared with other jobs: the wall "
                "time depends on the load, the CPU time (the training process's, evaluations included) does not. "
                "The defaults were chosen on the dev file: short runs (4 epochs) of each change compared at equal "
                "epochs, then full runs of the best (the rows below) compared on dev accuracy; each run reads the "
                "test file once, at its end." + (" **Quick mode: 60 s of training.**" if args.quick else "")
            ),
            "",
            "| model | best weights by | test accuracy | dev accuracy | epochs | wall time | CPU time |",
            "|---|---|---|---|---|---|---|",
            f"| most frequent tag per word form (unseen: NOUN) | – | {baseline:.2%} | – | – | – | – |",
            *(
                f"| {r['model']} | {r.get('selection', 'dev loss')} | **{r['test']:.2%}** | {r['dev']:.2%} | "
                f"{r['epochs']} | {r['train_s'] / 60:.1f} min | {r['cpu_s'] / 60:.1f} min |"
                for r in shown.values()
            ),
            "",
            (f"Commands (after `rnnkit tag train`'s defaults: `{DEFAULT_FLAGS}`):"),
            "",
            *(
                f"- {name}: `{r['command']}`"
                + (
                    ""
                    if r.get("defaults") == DEFAULT_FLAGS
                    else f" (trainer defaults then: `{r.get('defaults', EARLIER_DEFAULTS)}`)"
                )
                for name, r in shown.items()
            ),
        ]
    )
    write_section("tag", body + "\n" + stamp(started, argv, "tag.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
