"""`rnnkit classify train|train-sequences|eval|predict`: text classification, and numeric-sequence
classification (rnnkit.tasks.seqclass) for --data files of sequences (.ts, .npz, or a .csv whose
header starts sequence_id,t) and for the runs trained on them."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Annotated

import typer

from rnnkit.cli.common import RUN_HELP, declared, errors, print_table, train_command
from rnnkit.tasks import seqclass
from rnnkit.tasks.classify import TextClassifier

classify_app = typer.Typer(help="Text classification (many-to-one): train, eval, predict.", no_args_is_help=True)
CHECKPOINTS_HELP = (
    RUN_HELP + " Repeat it to average the class probabilities of several classifiers of the same labels (an ensemble)."
)


def _print_classification(metrics: dict, labels: list[str], title: str) -> None:
    from rich.table import Table

    table = Table()
    for column in ("class", "precision", "recall", "F1", *(f"→ {name}" for name in labels)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(labels):
        table.add_row(
            name,
            f"{metrics['precision'][i]:.4f}",
            f"{metrics['recall'][i]:.4f}",
            f"{metrics['f1'][i]:.4f}",
            *map(str, metrics["confusion"][i]),
        )
    print_table(f"{title}: accuracy {metrics['accuracy']:.4f}, MCC {metrics['mcc']:.4f}", table)


@train_command(None, "train", TextClassifier)
def train_text(cfgs: dict) -> None:
    """Train a text classifier (default data: the bundled SMS Spam Collection), e.g. --data FILE
    --text-col 1 --label-col 0 --pooling attention --lr 0.003. The test split is evaluated once, at the end."""
    clf = TextClassifier(cfgs["classify"])
    clf.fit(train=cfgs["train"])
    if clf.rank == 0:
        texts, _ = clf.test_split()
        _print_classification(clf.evaluate(), clf.labels, f"test split ({len(texts)} texts), best weights")
        typer.echo(f"run in {cfgs['train'].run_dir}")


SEQUENCES = declared("seqclass", seqclass.SeqClassConfig, {**seqclass.TRAIN_DEFAULTS, "run_dir": "runs/classify"})


@train_command(classify_app, "train-sequences", SEQUENCES)
def train_sequences(cfgs: dict) -> None:
    """Train a classifier of numeric sequences on --data FILE (.ts of UEA/sktime, .npz, or a long .csv
    whose header starts sequence_id,t); the test set is the file named like it with TRAIN -> TEST, else
    carved from it. `rnnkit classify train --data FILE` runs this for such files."""
    from rnnkit.tasks.seqclass import SequenceClassificationTask, SequenceClassifier
    from rnnkit.train import Trainer

    task = SequenceClassificationTask(cfgs["seqclass"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank != 0:
        return
    classifier = SequenceClassifier.from_parts(task.model, task.scaler, task.labels, task.cfg)
    samples, labels = task.data["test"]
    _print_classification(
        classifier.evaluate(samples, labels), task.labels, f"test ({len(labels)} sequences), best weights"
    )
    typer.echo(f"{summary['epoch']} epochs in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")


def _route(ctx: typer.Context, config: str | None, nproc: int, **values) -> None:
    from rnnkit.data.sequences import is_sequence_file

    chosen = train_sequences if any(is_sequence_file(d) for d in values.get("data") or []) else train_text
    chosen.callback(ctx, config, nproc, **values)


# `classify train`: the text command's flags, then the sequence-only ones (their own panel); each
# branch refuses the other's own flags. Shared flags show the text defaults; see train-sequences --help.
_params = list(inspect.signature(train_text.callback).parameters.values())
_params += [
    p
    for p in inspect.signature(train_sequences.callback).parameters.values()
    if p.name not in {q.name for q in _params}
]
_route.__signature__ = inspect.Signature(_params)  # type: ignore[attr-defined]
_route.__annotations__ = {p.name: p.annotation for p in _params}
_route.__doc__ = (
    f"{train_text.body.__doc__}\n\n    Numeric sequences (--data FILE.ts, .npz or a long .csv) "
    "train a sequence classifier instead, as `rnnkit classify train-sequences` (whose --help "
    "lists its defaults)."
)
train = dataclasses.replace(train_text, callback=_route)
classify_app.command("train")(train.callback)


def _sequence_run(checkpoint: list[str]) -> bool:
    """True if the first checkpoint is a numeric-sequence classifier's (eval/predict route to seqclass)."""
    from rnnkit.tasks.base import checkpoint_dir
    from rnnkit.train.checkpoint import CheckpointError, read_state

    try:
        return bool(checkpoint) and read_state(checkpoint_dir(checkpoint[0]))["meta"].get("task") == "seqclass"
    except CheckpointError:
        return False


@classify_app.command("eval")
def evaluate(
    checkpoint: Annotated[list[str], typer.Option(help=CHECKPOINTS_HELP)],
    data: str = typer.Option(
        "", help="Labelled file to score in full; default: the training data's held-out test split."
    ),
) -> None:
    """Accuracy, per-class precision/recall/F1, MCC and the confusion matrix of a trained classifier."""
    from rnnkit.data.labelled import read_classification
    from rnnkit.tasks.classify import (
        load_ensemble,
        predict_mean,
        score_probs,
        shared_test_split,
    )

    if _sequence_run(checkpoint):
        return _evaluate_sequences(checkpoint, data)
    with errors():
        members = load_ensemble(checkpoint)
        labels, cfg = members[0].labels, members[0].config
        if data:
            texts, truth = read_classification(data, cfg.text_col, cfg.label_col, cfg.encoding)
        else:
            texts, truth = shared_test_split(members)
        metrics = score_probs(predict_mean(members, texts), labels, truth)
    models = f", mean of {len(members)} models" if len(members) > 1 else ""
    _print_classification(metrics, labels, f"{data or 'test split'} ({len(texts)} texts{models})")


@classify_app.command("predict")
def predict(
    checkpoint: Annotated[list[str], typer.Option(help=CHECKPOINTS_HELP)],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    file: str = typer.Option("", help="A file with one text per line (in the model's --encoding)."),
) -> None:
    """The label and class probabilities of each text, one line each (tab-separated)."""
    from rnnkit.data.text import read_text_file, split_lines
    from rnnkit.tasks.classify import load_ensemble, predict_mean

    if _sequence_run(checkpoint):
        return _predict_sequences(checkpoint, file)
    with errors():
        members = load_ensemble(checkpoint)
        labels = members[0].labels
        items = list(texts or [])
        if file:
            items += split_lines(read_text_file(file, members[0].config.encoding))
        if not items:
            raise ValueError("give texts as arguments or --file")
        probs = predict_mean(members, items)
    for text, p in zip(items, probs):
        best = int(p.argmax())
        typer.echo("\t".join([labels[best], *(f"{name}={q:.4f}" for name, q in zip(labels, p.tolist())), text]))


def _evaluate_sequences(checkpoint: list[str], data: str) -> None:
    """`classify eval` of a sequence classifier: on --data, else the run's test file or split."""
    from rnnkit.tasks.seqclass import SequenceClassifier, split_sequences

    with errors():
        if len(checkpoint) != 1:
            raise ValueError("sequence classifiers are evaluated one checkpoint at a time")
        classifier = SequenceClassifier.load(checkpoint[0])
        samples, labels = split_sequences(classifier.config)["test"] if not data else (data, None)
        metrics = classifier.evaluate(samples, labels)
    _print_classification(metrics, classifier.labels, data or "test split")


def _predict_sequences(checkpoint: list[str], file: str) -> None:
    """`classify predict --file SEQUENCES`: index, label and class probabilities of each sequence."""
    from rnnkit.tasks.seqclass import SequenceClassifier

    with errors():
        if len(checkpoint) != 1 or not file:
            raise ValueError("give one checkpoint and --file SEQUENCES (.ts, .npz or long-format .csv)")
        classifier = SequenceClassifier.load(checkpoint[0])
        probs = classifier.predict_proba(file)
    for i, p in enumerate(probs):
        best = int(p.argmax())
        typer.echo(
            "\t".join(
                [
                    str(i),
                    classifier.labels[best],
                    *(f"{name}={q:.4f}" for name, q in zip(classifier.labels, p.tolist())),
                ]
            )
        )
