"""UD English EWT part-of-speech tagging (UPOS): the bi-LSTM + character tagger beside the
most-frequent-tag baseline, on the treebank's own train/dev/test files.

Protocol: train on en_ewt-ud-train.conllu with `rnnkit tag train`'s defaults (early stopping on the
dev file, at most 20 minutes of training, no pretrained embeddings), restore the best weights, then
read the test file once. The baseline tags each word form with its most frequent training tag
(ties: the alphabetically first), unseen forms NOUN.

Writes the `tag` section of BENCHMARKS.md. Usage: python benchmarks/tag.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.conll import read_conllu
from rnnkit.tasks.tag import TagConfig, Tagger, tagging_metrics
from rnnkit.tasks.tag_cli import TAG_DEFAULTS
from rnnkit.train import TrainConfig, build_configs

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "ud_english_ewt"
TRAIN, DEV, TEST = (DATA / f"en_ewt-ud-{part}.conllu" for part in ("train", "dev", "test"))
QUICK_SECONDS = 60


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS} s of training instead of 20 min")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
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


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    train, test = read_conllu(TRAIN), read_conllu(TEST)
    baseline = most_frequent_tag(train, test)
    print(f"most-frequent-tag baseline: test accuracy {baseline:.4%}", flush=True)
    flags = [*TAG_DEFAULTS, "--data", str(TRAIN), "--threads", str(args.threads), "--run-dir", "runs/bench-tag",
             "--overwrite", *(["--max-time", str(QUICK_SECONDS)] if args.quick else [])]
    cfgs = build_configs({"tag": TagConfig, "train": TrainConfig}, None, flags)
    torch.manual_seed(cfgs["train"].seed)
    tagger = Tagger(cfgs["tag"], cfgs["train"])
    summary = tagger.fit(TRAIN)
    test_acc, dev_acc = summary["metrics"]["accuracy"], tagger.evaluate(DEV)["accuracy"]
    print(f"tagger: test accuracy {test_acc:.4%}, dev {dev_acc:.4%}, {summary['epoch']} epochs in "
          f"{summary['seconds']:.0f} s", flush=True)
    cfg = cfgs["tag"]
    shown = " ".join(a for a in flags if not a.startswith(("runs/", "/")) and a not in ("--run-dir", "--overwrite"))
    shown = shown.replace(f"--data {TRAIN}", "--data data/ud_english_ewt/en_ewt-ud-train.conllu")
    body = "\n".join([
        "## Part-of-speech tagging: UD English EWT, UPOS (benchmarks/tag.py)",
        "",
        (f"Train / dev / test: {len(train):,} / {len(read_conllu(DEV)):,} / {len(test):,} sentences "
         f"({sum(len(t) for t, _ in test):,} test tokens). No pretrained embeddings. Training on "
         f"{platform.machine()}, {args.threads} thread(s), on a 2-core machine shared with other jobs (the "
         "time budget is wall-clock, so a loaded machine trains fewer epochs)."
         + (" **Quick mode: 60 s of training.**" if args.quick else "")),
        "",
        "| model | test accuracy | dev accuracy | epochs | training time |",
        "|---|---|---|---|---|",
        f"| most frequent tag per word form (unseen: NOUN) | {baseline:.2%} | – | – | – |",
        (f"| bi-{cfg.cell.upper()} {cfg.num_layers}×{cfg.hidden_size} over word embedding {cfg.embed_size} ⊕ "
         f"char bi-{cfg.cell.upper()} 2×{cfg.char_hidden_size}{' + CRF' if cfg.crf else ''} | {test_acc:.2%} | "
         f"{dev_acc:.2%} | {summary['epoch']} | {summary['seconds'] / 60:.1f} min |"),
        "",
        f"Tagger command: `rnnkit tag train {shown}` (the flags before --data are `rnnkit tag train`'s defaults).",
    ])
    write_section("tag", body + "\n" + stamp(started, argv, "tag.py"))


if __name__ == "__main__":
    main(sys.argv[1:])
