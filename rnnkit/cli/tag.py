"""`rnnkit tag train|eval|predict`: thin wrappers over rnnkit.tasks.tag."""

from __future__ import annotations

from pathlib import Path

import typer

from rnnkit.cli.common import RUN_HELP, declared, errors, train_command
from rnnkit.tasks.tag import TRAIN_DEFAULTS, TagConfig

tag_app = typer.Typer(
    help="Sequence tagging (one tag per token: parts of speech, BIO entities): train, eval, predict.",
    no_args_is_help=True,
)


def metrics_line(m: dict) -> str:
    """Token accuracy, and span precision/recall/F1 when the tags are BIO/BIOES spans."""
    spans = (
        f", span precision {m['precision']:.4f} recall {m['recall']:.4f} F1 {m['f1']:.4f} ({m['spans']:,} spans)"
        if "f1" in m
        else ""
    )
    return f"accuracy {m['accuracy']:.4f} ({m['tokens']:,} tokens){spans}"


@train_command(tag_app, "train", declared("tag", TagConfig, TRAIN_DEFAULTS))
def train(cfgs: dict) -> None:
    """Train a tagger on --data FILE (CoNLL-U: --column upos|xpos|...; or token TAB tag lines); dev and
    test are the files named like it with train -> dev/test, else 10% of it each. The test split is
    evaluated once, at the end, with the best weights."""
    from rnnkit.tasks.tag import Tagger, TaggingTask
    from rnnkit.train import Trainer

    task = TaggingTask(cfgs["tag"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank != 0:
        return
    tagger = Tagger.from_parts(task.model, task.encoder, task.cfg)
    typer.echo(
        f"test ({len(task.data['test']):,} sentences, best weights): {metrics_line(tagger.evaluate(task.data['test']))}"
    )
    typer.echo(f"{summary['epoch']} epochs in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")


@tag_app.command("eval")
def evaluate(
    checkpoint: str = typer.Option(..., help=RUN_HELP),
    data: str = typer.Option("", help="Tagged file to score (default: the run's test split)."),
) -> None:
    """Token accuracy (and span precision/recall/F1 for BIO/BIOES tags) of a trained tagger."""
    from rnnkit.tasks.tag import Tagger, split_sentences

    with errors():
        tagger = Tagger.load(checkpoint)
        metrics = tagger.evaluate(data or split_sentences(tagger.config)["test"])
    typer.echo(f"{data or 'test split'}: {metrics_line(metrics)}")


@tag_app.command("predict")
def predict(
    file: str = typer.Argument(..., help="Raw text: one sentence per line, tokens split on whitespace."),
    checkpoint: str = typer.Option(..., help=RUN_HELP),
    output: str = typer.Option("", help="Write the CoNLL output here (default: stdout); never an existing file."),
) -> None:
    """Tag raw text; writes CoNLL: token TAB tag per line, a blank line after each sentence."""
    from rnnkit.data.conll import write_tagged
    from rnnkit.tasks.tag import Tagger, read_raw

    with errors():
        if output and Path(output).exists():
            raise ValueError(f"{output} already exists; choose another --output")
        tagger = Tagger.load(checkpoint)
        sentences = read_raw(file)
        text = write_tagged(list(zip(sentences, tagger.predict(sentences))))
        if output:
            Path(output).write_text(text, encoding="utf-8")
    if not output:
        typer.echo(text, nl=False)
