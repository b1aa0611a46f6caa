"""`rnnkit lm train|eval|sample` and `rnnkit demo`."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.lm import LMConfig

lm_app = typer.Typer(help="Language models (char or word level): train, eval, sample.", no_args_is_help=True)


def _metrics_line(m: dict, unit: str) -> str:
    return f"{m['loss']:.4f} nats/{unit}, perplexity {m['perplexity']:.2f}, {m['bits']:.4f} bits/{unit}"


def train_and_report(cfgs: dict, prime: str = "", sample_chars: int = 0, context: str = "") -> None:
    from rnnkit.tasks.lm import LanguageModelTask, lm_metrics, sample
    from rnnkit.train import Trainer

    task = LanguageModelTask(cfgs["lm"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank != 0:
        return
    unit = task.vocab.unit
    for split, loss in (("val", summary["best_val"]), ("test", summary["test"])):
        if loss is not None:
            stream = task.eval_streams[split]
            typer.echo(f"{split} loss {_metrics_line(lm_metrics(loss), unit)} ({stream.y.numel():,} predicted {unit}s "
                       f"of the {split} split, as {stream.x.shape[0]} contiguous streams)")
    typer.echo(f"after {summary['step']} updates in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")
    if sample_chars:
        typer.echo(f"\n--- sample (temperature 0.8, seed 0, after {context!r}) ---\n{prime}"
                   + sample(task.model, task.vocab, prime, sample_chars, temperature=0.8, seed=0, context=context))


@train_command(lm_app, "train", "lm", LMConfig)
def train(cfgs: dict) -> None:
    """Train a language model (--data FILE --level word --cell gru --lr 0.003 --hidden-size 256
    --tie-weights ...). PTB: --data ptb.train.txt finds ptb.valid.txt and ptb.test.txt beside it, and the
    test split is evaluated once, at the end.

    --resume RUN continues a run exactly where its last checkpoint stopped, with its settings (flags
    given override them).
    """
    train_and_report(cfgs)


@lm_app.command("eval")
def evaluate(checkpoint: str = typer.Option(..., help=RUN_HELP),
             split: str = typer.Option("val", help="val | test: a split of the data the model was trained on."),
             data: str = typer.Option("", help="A text file to score instead of a split.")) -> None:
    """Loss in nats per token, perplexity and bits per token (per character for a char model, or for
    word-level files of space-separated characters such as char PTB)."""
    from rnnkit.data.text import read_splits, read_text_file
    from rnnkit.tasks.lm import evaluate_text, lm_config, load_lm
    from rnnkit.train.config import check_choice

    with errors():
        check_choice("split", split, ("val", "test"))
        cfg = lm_config(checkpoint)
        model, vocab = load_lm(checkpoint)
        if data:
            text, source = read_text_file(data), data
        else:
            texts = read_splits(cfg.data)
            if split not in texts:
                raise ValueError(f"{cfg.data or 'tiny Shakespeare'} has no {split} split (one file is split 90/10 "
                                 "into train/val); give --data FILE to score another file")
            text, source = texts[split], f"the {split} split of {cfg.data or 'tiny Shakespeare'}"
        metrics, count = evaluate_text(model, vocab, text, cfg)
    typer.echo(f"{source}: {count:,} predicted {vocab.unit}s; loss {_metrics_line(metrics, vocab.unit)}")


@lm_app.command("sample")
def sample(run: str = typer.Argument(None, help=RUN_HELP + " (or give --checkpoint)"),
           checkpoint: str = typer.Option(None, help=RUN_HELP),
           prime: str = typer.Option("ROMEO:", help="Text to start from."),
           length: int = typer.Option(300, help="Tokens (characters or words) to generate."),
           temperature: float = typer.Option(0.8),
           top_k: int = typer.Option(0, help="Keep only the k likeliest tokens; 0 = all."),
           seed: int = typer.Option(0)) -> None:
    """Generate text from a trained language model (prime words unknown to a word model are read as <unk>)."""
    from rnnkit.data.text import WordVocab
    from rnnkit.tasks.lm import load_lm, sample

    with errors():
        if not (run or checkpoint):
            raise ValueError("give the model as --checkpoint DIR")
        if length < 0:
            raise ValueError(f"--length must be >= 0, got {length}")
        model, vocab = load_lm(checkpoint or run)
        if isinstance(vocab, WordVocab) and vocab.unknown(prime):
            typer.echo(f"note: {', '.join(map(repr, vocab.unknown(prime)))} not in the vocabulary; read as <unk>",
                       err=True)
        text = sample(model, vocab, prime, length, temperature, top_k, seed)
    typer.echo(prime + text)
