"""The `rnnkit` command line: thin wrappers that parse options and call the library."""


from pathlib import Path

import typer

from rnnkit.diagnostics.cli import diagnose_app

app = typer.Typer(help="rnnkit: recurrent neural networks for sequence data.", no_args_is_help=True)
lm_app = typer.Typer(help="Character-level language models.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")
app.add_typer(diagnose_app, name="diagnose")
classify_app = typer.Typer(help="Text classification (many-to-one): train, eval, predict.", no_args_is_help=True)
app.add_typer(classify_app, name="classify")

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def fail(message: str, code: int = 2) -> None:
    """One line on stderr and a non-zero exit: how bad input is reported, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def _commands() -> None:
    """rnnkit: recurrent neural networks for sequence data."""


@app.command()
def version() -> None:
    """Print rnnkit's version."""
    from rnnkit import __version__

    typer.echo(__version__)


@app.command()
def demo(seconds: float = typer.Option(120.0, help="Training time budget in seconds."),
         run_dir: str = typer.Option("runs/demo", help="Where checkpoints and metrics go."),
         threads: int = typer.Option(0, help="torch threads; 0 = all cores (use 1 on a busy machine).")) -> None:
    """Train a small char-level LSTM on tiny Shakespeare, then print val loss and a sample."""
    from rnnkit.tasks.lm import DEMO_ARGS, DEMO_CONTEXT

    _train_lm(None, [*DEMO_ARGS, "--max-time", str(seconds), "--run-dir", run_dir, "--threads", str(threads),
                     "--overwrite"],
              prime="ROMEO:", sample_chars=300, context=DEMO_CONTEXT)


@lm_app.command("train", context_settings=EXTRA)
def lm_train(ctx: typer.Context,
             config: str = typer.Option(None, help="A TOML file with [train] and [lm] tables."),
             nproc: int = typer.Option(1, help="Data-parallel processes on this machine (torchrun)."),
             ) -> None:
    """Train a language model; any [train]/[lm] setting can be given as a flag (--lr 0.003, --hidden-size 256).

    --resume RUN_DIR continues a run exactly where its last checkpoint stopped, with its settings.
    """
    if nproc > 1:
        from rnnkit.train.distributed import launch

        argv = ["lm", "train", *(["--config", config] if config else []), *ctx.args]
        raise typer.Exit(launch(nproc, argv))
    _train_lm(config, ctx.args, prime="", sample_chars=0, context="")


def _train_lm(config: str | None, args: list[str], prime: str, sample_chars: int, context: str) -> None:
    from rnnkit.tasks.lm import LanguageModelTask, LMConfig, sample

    cfgs, task, trainer, summary = _fit({"lm": LMConfig}, config, args, lambda c: LanguageModelTask(c["lm"]))
    if trainer.rank != 0:
        return
    lm = cfgs["lm"]
    typer.echo(f"val loss {summary['best_val']:.4f} nats/char (all {task.val_stream.y.numel():,} "
               f"predicted chars of the nanoGPT val split, as {lm.eval_batch_size} contiguous streams), "
               f"after {summary['step']} updates in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")
    if sample_chars:
        typer.echo(f"\n--- sample (temperature 0.8, seed 0, after {context!r}) ---\n{prime}"
                   + sample(task.model, task.vocab, prime, sample_chars, temperature=0.8, seed=0, context=context))


@lm_app.command("sample")
def lm_sample(run: str = typer.Argument(..., help="A run or checkpoint directory."),
              prime: str = typer.Option("ROMEO:", help="Text to start from."),
              length: int = typer.Option(300, help="Characters to generate."),
              temperature: float = typer.Option(0.8),
              top_k: int = typer.Option(0, help="Keep only the k likeliest characters; 0 = all."),
              seed: int = typer.Option(0)) -> None:
    """Generate text from a trained language model."""
    from rnnkit.tasks.lm import load_lm, sample
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if length < 0:
            raise ValueError(f"--length must be >= 0, got {length}")
        model, vocab = load_lm(run)
        typer.echo(prime + sample(model, vocab, prime, length, temperature, top_k, seed))
    except (ValueError, CheckpointError) as err:
        fail(str(err))


def _fit(tables: dict, config: str | None, args: list[str], make_task):
    """Build the configs, the task and the trainer, and train; bad input ends in one error line.

    `tables` is {the task's name: its config class}; the task saves that config in its meta under
    the same name, so --resume continues with the saved settings, overridden by any flags given,
    in the directory that holds the checkpoint (never a run_dir named inside state.json).
    """
    import torch

    from rnnkit.train import Trainer, TrainConfig, build_configs
    from rnnkit.train.checkpoint import CheckpointError, read_state
    from rnnkit.train.loop import TrainingDiverged, TrainingInterrupted

    classes = {"train": TrainConfig, **tables}
    try:
        cfgs = build_configs(classes, config, args)
        if cfgs["train"].resume:
            name = next(iter(tables))
            saved = read_state(cfgs["train"].resume, task=name)
            cfgs = build_configs(classes, config, args,
                                 base={"train": saved.get("config"), name: saved["meta"].get(name)})
            if "--run-dir" not in args:
                cfgs["train"].run_dir = str(Path(saved["path"]).parent)
        torch.manual_seed(cfgs["train"].seed)  # the same initial weights in every process
        task = make_task(cfgs)
        trainer = Trainer(task, cfgs["train"])
        summary = trainer.fit()
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
    except TrainingInterrupted as err:
        fail(str(err), code=130)
    return cfgs, task, trainer, summary


def _print_classification(metrics: dict, labels: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title}: accuracy {metrics['accuracy']:.4f}, MCC {metrics['mcc']:.4f}")
    for column in ("class", "precision", "recall", "F1", *(f"→ {name}" for name in labels)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(labels):
        table.add_row(name, f"{metrics['precision'][i]:.4f}", f"{metrics['recall'][i]:.4f}",
                      f"{metrics['f1'][i]:.4f}", *map(str, metrics["confusion"][i]))
    Console().print(table)


@classify_app.command("train", context_settings=EXTRA)
def classify_train(ctx: typer.Context,
                   config: str = typer.Option(None, help="A TOML file with [train] and [classify] tables."),
                   nproc: int = typer.Option(1, help="Data-parallel processes on this machine.")) -> None:
    """Train a text classifier (default data: the bundled SMS Spam Collection); any [train]/[classify]
    setting is a flag (--data FILE --text-col 1 --label-col 0 --pooling attention --lr 0.003 ...).
    The test split is evaluated once, at the end."""
    if nproc > 1:
        from rnnkit.train.distributed import launch

        raise typer.Exit(launch(nproc, ["classify", "train", *(["--config", config] if config else []), *ctx.args]))
    from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, evaluate_texts

    cfgs, task, trainer, summary = _fit({"classify": ClassifyConfig}, config, ctx.args,
                                        lambda c: ClassificationTask(c["classify"]))
    if trainer.rank == 0:
        texts, labels = task.data["test"]
        metrics = evaluate_texts(task.model, task.vocab, task.labels, task.cfg, texts, labels)
        _print_classification(metrics, task.labels, f"test split ({len(texts)} texts), best weights")
        typer.echo(f"run in {cfgs['train'].run_dir}")


@classify_app.command("eval")
def classify_eval(checkpoint: str = typer.Option(..., help="A run or checkpoint directory."),
                  data: str = typer.Option("", help="Labelled file to score in full; default: the training "
                                                    "data's held-out test split.")) -> None:
    """Accuracy, per-class precision/recall/F1, MCC and the confusion matrix of a trained classifier."""
    import dataclasses

    from rnnkit.data.labelled import read_labelled
    from rnnkit.tasks.classify import evaluate_texts, load_classifier, split_texts
    from rnnkit.train.checkpoint import CheckpointError

    try:
        model, vocab, labels, cfg = load_classifier(checkpoint)
        if data:
            texts, truth = read_labelled(data, cfg.text_col, cfg.label_col)
        else:
            texts, truth = split_texts(dataclasses.replace(cfg))["test"]
        metrics = evaluate_texts(model, vocab, labels, cfg, texts, truth)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    _print_classification(metrics, labels, f"{data or 'test split'} ({len(texts)} texts)")


@classify_app.command("predict")
def classify_predict(texts: list[str] = typer.Argument(None, help="Texts to classify."),
                     checkpoint: str = typer.Option(..., help="A run or checkpoint directory."),
                     file: str = typer.Option("", help="A UTF-8 file with one text per line.")) -> None:
    """The label and class probabilities of each text, one line each (tab-separated)."""
    from rnnkit.data.text import read_text_file
    from rnnkit.tasks.classify import load_classifier, predict
    from rnnkit.train.checkpoint import CheckpointError

    try:
        model, vocab, labels, cfg = load_classifier(checkpoint)
        items = list(texts or [])
        if file:
            items += read_text_file(file).splitlines()
        if not items:
            raise ValueError("give texts as arguments or --file")
        probs = predict(model, vocab, cfg, items)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    for text, p in zip(items, probs):
        best = int(p.argmax())
        typer.echo("\t".join([labels[best], *(f"{name}={q:.4f}" for name, q in zip(labels, p.tolist())), text]))


def main() -> None:
    app()
