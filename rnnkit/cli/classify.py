"""`rnnkit classify train|eval|predict`."""

from __future__ import annotations

from typing import Annotated

import typer

from rnnkit.cli.common import RUN_HELP, errors, print_table, train_command
from rnnkit.tasks.classify import TextClassifier

classify_app = typer.Typer(help="Text classification (many-to-one): train, eval, predict.", no_args_is_help=True)
CHECKPOINTS_HELP = RUN_HELP + " Repeat it to average the class probabilities of several classifiers of the same " \
                              "labels (an ensemble)."


def _print_classification(metrics: dict, labels: list[str], title: str) -> None:
    from rich.table import Table

    table = Table()
    for column in ("class", "precision", "recall", "F1", *(f"→ {name}" for name in labels)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(labels):
        table.add_row(name, f"{metrics['precision'][i]:.4f}", f"{metrics['recall'][i]:.4f}",
                      f"{metrics['f1'][i]:.4f}", *map(str, metrics["confusion"][i]))
    print_table(f"{title}: accuracy {metrics['accuracy']:.4f}, MCC {metrics['mcc']:.4f}", table)


@train_command(classify_app, "train", TextClassifier)
def train(cfgs: dict) -> None:
    """Train a text classifier (default data: the bundled SMS Spam Collection), e.g. --data FILE
    --text-col 1 --label-col 0 --pooling attention --lr 0.003. The test split is evaluated once, at the end."""
    clf = TextClassifier(cfgs["classify"])
    clf.fit(train=cfgs["train"])
    if clf.rank == 0:
        texts, _ = clf.test_split()
        _print_classification(clf.evaluate(), clf.labels, f"test split ({len(texts)} texts), best weights")
        typer.echo(f"run in {cfgs['train'].run_dir}")


@classify_app.command("eval")
def evaluate(checkpoint: Annotated[list[str], typer.Option(help=CHECKPOINTS_HELP)],
             data: str = typer.Option("", help="Labelled file to score in full; default: the training "
                                               "data's held-out test split.")) -> None:
    """Accuracy, per-class precision/recall/F1, MCC and the confusion matrix of a trained classifier."""
    from rnnkit.data.labelled import read_classification
    from rnnkit.tasks.classify import (
        load_ensemble,
        predict_mean,
        score_probs,
        shared_test_split,
    )

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
def predict(checkpoint: Annotated[list[str], typer.Option(help=CHECKPOINTS_HELP)],
            texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
            file: str = typer.Option("", help="A file with one text per line (in the model's --encoding).")) -> None:
    """The label and class probabilities of each text, one line each (tab-separated)."""
    from rnnkit.data.text import read_text_file, split_lines
    from rnnkit.tasks.classify import load_ensemble, predict_mean

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
