"""`rnnkit tag train|eval|predict`, and the numeric-sequence branch of `rnnkit classify` (files .ts,
.npz or long-format .csv): thin wrappers over rnnkit.tasks.tag and rnnkit.tasks.seqclass."""

from pathlib import Path

import typer

from rnnkit.tasks import seqclass, tag
from rnnkit.tasks.seqclass import SeqClassConfig
from rnnkit.tasks.tag import TagConfig
from rnnkit.train.config import TrainConfig, flags_help

tag_app = typer.Typer(help="Sequence tagging (one tag per token: parts of speech, BIO entities): train, eval, "
                           "predict.", no_args_is_help=True)
EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def as_flags(defaults: dict) -> list[str]:
    """A task's trainer defaults as CLI flags, placed before the user's (which override them)."""
    return [arg for key, value in defaults.items() for arg in (f"--{key.replace('_', '-')}", str(value))]


TAG_DEFAULTS = as_flags(tag.TRAIN_DEFAULTS)
SEQCLASS_DEFAULTS = as_flags({**seqclass.TRAIN_DEFAULTS, "run_dir": "runs/classify"})
# Appended to `rnnkit classify train --help`: the settings of the numeric-sequence branch.
SEQCLASS_HELP = ("\n\nNumeric sequences (--data FILE.ts, FILE.npz, or a .csv whose header starts sequence_id,t) "
                 f"take these settings instead of the text ones (trainer defaults: {' '.join(SEQCLASS_DEFAULTS)}):"
                 "\n\n" + flags_help(SeqClassConfig))


def _metrics_line(m: dict) -> str:
    spans = (f", span precision {m['precision']:.4f} recall {m['recall']:.4f} F1 {m['f1']:.4f} ({m['spans']:,} spans)"
             if "f1" in m else "")
    return f"accuracy {m['accuracy']:.4f} ({m['tokens']:,} tokens){spans}"


@tag_app.command("train", context_settings=EXTRA, epilog=flags_help(TagConfig, TrainConfig))
def tag_train(ctx: typer.Context,
              config: str = typer.Option(None, help="A TOML file with \\[train] and \\[tag] tables.")) -> None:
    """Train a tagger on --data FILE (CoNLL-U: --column upos|xpos|...; or token TAB tag lines); dev and
    test are the files named like it with train -> dev/test, else 10% of it each. Every setting below
    is a flag (--cell gru --crf --hidden-size 256 ...). The test split is evaluated once, at the end."""
    from rnnkit.cli import _fit
    from rnnkit.tasks.tag import Tagger, TaggingTask

    cfgs, task, _, summary = _fit({"tag": TagConfig}, config, [*TAG_DEFAULTS, *ctx.args],
                                        lambda c: TaggingTask(c["tag"]))
    tagger = Tagger.from_parts(task.model, task.encoder, task.cfg)
    typer.echo(f"test ({len(task.data['test']):,} sentences, best weights): {_metrics_line(tagger.evaluate(task.data['test']))}")
    typer.echo(f"{summary['epoch']} epochs in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")


@tag_app.command("eval")
def tag_eval(checkpoint: str = typer.Option(..., help="A run or checkpoint directory."),
             data: str = typer.Option("", help="Tagged file to score (default: the run's test split).")) -> None:
    """Token accuracy (and span precision/recall/F1 for BIO/BIOES tags) of a trained tagger."""
    from rnnkit.cli import fail
    from rnnkit.tasks.tag import Tagger, split_sentences
    from rnnkit.train.checkpoint import CheckpointError

    try:
        tagger = Tagger.load(checkpoint)
        sentences = data or split_sentences(tagger.config)["test"]
        metrics = tagger.evaluate(sentences)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    typer.echo(f"{data or 'test split'}: {_metrics_line(metrics)}")


@tag_app.command("predict")
def tag_predict(file: str = typer.Argument(..., help="Raw text: one sentence per line, tokens split on whitespace."),
                checkpoint: str = typer.Option(..., help="A run or checkpoint directory."),
                output: str = typer.Option("", help="Write the CoNLL output here (default: stdout); never "
                                                    "an existing file.")) -> None:
    """Tag raw text; writes CoNLL: token TAB tag per line, a blank line after each sentence."""
    from rnnkit.cli import fail
    from rnnkit.data.conll import write_tagged
    from rnnkit.tasks.tag import Tagger, read_raw
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if output and Path(output).exists():
            raise ValueError(f"{output} already exists; choose another --output")
        tagger = Tagger.load(checkpoint)
        sentences = read_raw(file)
        text = write_tagged(list(zip(sentences, tagger.predict(sentences))))
        if output:
            Path(output).write_text(text, encoding="utf-8")
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    if not output:
        typer.echo(text, nl=False)


# ------------------------------------------------------------------------------------------------
# The numeric-sequence branch of `rnnkit classify`, called by its commands.


def seqclass_train(config: str | None, args: list[str]) -> None:
    """`rnnkit classify train --data FILE` for sequence files: flags of SeqClassConfig and TrainConfig."""
    from rnnkit.cli import _fit, _print_classification
    from rnnkit.tasks.seqclass import SequenceClassificationTask, SequenceClassifier

    cfgs, task, _, summary = _fit({"seqclass": SeqClassConfig}, config, [*SEQCLASS_DEFAULTS, *args],
                                        lambda c: SequenceClassificationTask(c["seqclass"]))
    classifier = SequenceClassifier.from_parts(task.model, task.scaler, task.labels, task.cfg)
    samples, labels = task.data["test"]
    _print_classification(classifier.evaluate(samples, labels), task.labels,
                   f"test ({len(labels)} sequences), best weights")
    typer.echo(f"{summary['epoch']} epochs in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")


def is_seqclass_run(checkpoint: list[str]) -> bool:
    """True if the first checkpoint is a numeric-sequence classifier's (so classify eval/predict route here)."""
    from rnnkit.train.checkpoint import CheckpointError, read_state

    try:
        return read_state(checkpoint[0])["meta"].get("task") == "seqclass" if checkpoint else False
    except CheckpointError:
        return False


def seqclass_eval(checkpoint: list[str], data: str) -> None:
    """`rnnkit classify eval` of a sequence classifier: on --data, else the run's test file or split."""
    from rnnkit.cli import _print_classification, fail
    from rnnkit.tasks.seqclass import SequenceClassifier, split_sequences
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if len(checkpoint) != 1:
            raise ValueError("sequence classifiers are evaluated one checkpoint at a time")
        classifier = SequenceClassifier.load(checkpoint[0])
        samples, labels = split_sequences(classifier.config)["test"] if not data else (data, None)
        metrics = classifier.evaluate(samples, labels)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    _print_classification(metrics, classifier.labels, data or "test split")


def seqclass_predict(checkpoint: list[str], file: str) -> None:
    """`rnnkit classify predict --file SEQUENCES`: the label and class probabilities of each sequence."""
    from rnnkit.cli import fail
    from rnnkit.tasks.seqclass import SequenceClassifier
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if len(checkpoint) != 1 or not file:
            raise ValueError("give one checkpoint and --file SEQUENCES (.ts, .npz or long-format .csv)")
        classifier = SequenceClassifier.load(checkpoint[0])
        probs = classifier.predict_proba(file)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    for i, p in enumerate(probs):
        best = int(p.argmax())
        typer.echo("\t".join([str(i), classifier.labels[best],
                              *(f"{name}={q:.4f}" for name, q in zip(classifier.labels, p.tolist()))]))


def wants_seqclass(args: list[str]) -> bool:
    """True if the `classify train` flags name a --data file of numeric sequences (.ts, .npz, long .csv)."""
    from rnnkit.data.sequences import is_sequence_file

    return any(flag == "--data" and i + 1 < len(args) and is_sequence_file(args[i + 1]) for i, flag in enumerate(args))
