"""The `rnnkit` command line: thin wrappers that parse options and call the library."""


import typer

app = typer.Typer(help="rnnkit: recurrent neural networks for sequence data.", no_args_is_help=True)
lm_app = typer.Typer(help="Character-level language models.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")

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

    _train_lm(None, [*DEMO_ARGS, "--max-time", str(seconds), "--run-dir", run_dir, "--threads", str(threads)],
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
    import torch

    from rnnkit.tasks.lm import LanguageModelTask, LMConfig, sample
    from rnnkit.train import Trainer, TrainConfig, build_configs
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged

    from rnnkit.train.checkpoint import read_state

    classes = {"train": TrainConfig, "lm": LMConfig}
    try:
        cfgs = build_configs(classes, config, args)
        if cfgs["train"].resume:  # continue with the saved run's settings, overridden by any flags given
            saved = read_state(cfgs["train"].resume)
            cfgs = build_configs(classes, config, args, base={"train": saved["config"], "lm": saved["meta"]["lm"]})
        torch.manual_seed(cfgs["train"].seed)  # the same initial weights in every process
        task = LanguageModelTask(cfgs["lm"])
        trainer = Trainer(task, cfgs["train"])
        summary = trainer.fit()
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
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
        model, vocab = load_lm(run)
        typer.echo(prime + sample(model, vocab, prime, length, temperature, top_k, seed))
    except (ValueError, CheckpointError) as err:
        fail(str(err))


def main() -> None:
    app()
