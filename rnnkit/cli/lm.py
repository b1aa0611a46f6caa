"""`rnnkit lm train|eval|sample`."""

from __future__ import annotations

from typing import cast

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.lm import LanguageModel, LanguageModelTask, lm_metrics

lm_app = typer.Typer(help="Language models (char or word level): train, eval, sample.", no_args_is_help=True)


def _metrics_line(m: dict, unit: str) -> str:
    return f"{m['loss']:.4f} nats/{unit}, perplexity {m['perplexity']:.2f}, {m['bits']:.4f} bits/{unit}"


def train_and_report(cfgs: dict, prime: str = "", sample_chars: int = 0, context: str = "") -> None:
    """Trains a LanguageModel with `cfgs`; prints its val and test loss (and a sample of `sample_chars`)."""
    lm = LanguageModel(cfgs["lm"])
    summary = lm.fit(train=cfgs["train"])
    if lm.rank != 0:
        return
    unit = lm.vocab.unit
    for split, loss in (("val", summary["best_val"]), ("test", summary["test"])):
        if loss is not None:
            stream = cast(LanguageModelTask, lm.task).eval_streams[split]
            typer.echo(
                f"{split} loss {_metrics_line(lm_metrics(loss), unit)} ({stream.y.numel():,} predicted {unit}s "
                f"of the {split} split, as {stream.x.shape[0]} contiguous streams)"
            )
    typer.echo(f"after {summary['step']} updates in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")
    if sample_chars:
        typer.echo(
            f"\n--- sample (temperature 0.8, seed 0, after {context!r}) ---\n{prime}"
            + lm.sample(prime, sample_chars, temperature=0.8, seed=0, context=context)
        )


@train_command(lm_app, "train", LanguageModel)
def train(cfgs: dict) -> None:
    """Train a language model (--data FILE --level word --cell gru --lr 0.003 --hidden-size 256
    --tie-weights ...). PTB: --data ptb.train.txt finds ptb.valid.txt and ptb.test.txt beside it, and the
    test split is evaluated once, at the end.

    --resume RUN continues a run exactly where its last checkpoint stopped, with its settings (flags
    given override them).
    """
    train_and_report(cfgs)


@lm_app.command("eval")
def evaluate(
    checkpoint: str = typer.Option(..., help=RUN_HELP),
    split: str = typer.Option("val", help="val | test: a split of the data the model was trained on."),
    data: str = typer.Option("", help="A text file to score instead of a split."),
) -> None:
    """Loss in nats per token, perplexity and bits per token (per character for a char model, or for
    word-level files of space-separated characters such as char PTB)."""
    with errors():
        lm = LanguageModel.load(checkpoint)
        metrics = lm.evaluate(data or None, split)
    source = data or f"the {split} split of {lm.config.data or 'tiny Shakespeare'}"
    unit = lm.vocab.unit
    typer.echo(f"{source}: {metrics['tokens']:,} predicted {unit}s; loss {_metrics_line(metrics, unit)}")


@lm_app.command("sample")
def sample(
    run: str = typer.Argument(None, help=RUN_HELP + " (or give --checkpoint)"),
    checkpoint: str = typer.Option(None, help=RUN_HELP),
    prime: str = typer.Option("ROMEO:", help="Text to start from."),
    length: int = typer.Option(300, help="Tokens (characters or words) to generate."),
    temperature: float = typer.Option(0.8),
    top_k: int = typer.Option(0, help="Keep only the k likeliest tokens; 0 = all."),
    seed: int = typer.Option(0),
) -> None:
    """Generate text from a trained language model (prime words unknown to a word model are read as <unk>)."""
    from rnnkit.data.text import WordVocab

    with errors():
        if not (run or checkpoint):
            raise ValueError("give the model as --checkpoint DIR")
        if length < 0:
            raise ValueError(f"--length must be >= 0, got {length}")
        lm = LanguageModel.load(checkpoint or run)
        text = lm.sample(prime, length, temperature, top_k, seed)
    if isinstance(lm.vocab, WordVocab) and lm.vocab.unknown(prime):
        typer.echo(
            f"note: {', '.join(map(repr, lm.vocab.unknown(prime)))} not in the vocabulary; read as <unk>", err=True
        )
    typer.echo(prime + text)
