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


music_app = typer.Typer(help="Polyphonic music: next piano-roll frame, 88 Bernoulli keys.", no_args_is_help=True)
app.add_typer(music_app, name="music")


@music_app.command("train", context_settings=EXTRA)
def music_train(ctx: typer.Context, config: str = typer.Option(None, help="A TOML file with [train] and [music] tables.")) -> None:
    """Train on piano rolls (--data jsb | nottingham | FILE.json); any [train]/[music] setting is a flag."""
    from rnnkit.tasks import music
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged

    try:
        task, summary = music.train(config, ctx.args)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
    typer.echo(f"{task.cfg.data}: val NLL {summary['best_val']:.4f}, test NLL {summary['test']:.4f} per frame "
               f"(summed over 88 keys, pooled over all frames); {summary['step']} updates in {summary['seconds']:.0f} s")


@music_app.command("eval")
def music_eval(run: str = typer.Argument(..., help="A run or checkpoint directory."),
               split: str = typer.Option("test", help="train | val | test"),
               data: str = typer.Option("", help="Another data set than the one trained on.")) -> None:
    """Print the pooled NLL per frame of a trained music model on a split."""
    from rnnkit.tasks import music
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test; got {split!r}")
        task = music.load_music(run, data)
        typer.echo(f"{split} NLL {music.pooled_nll(task, split):.4f} per frame ({task.cfg.data})")
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))


@music_app.command("sample")
def music_sample(run: str = typer.Argument(..., help="A run or checkpoint directory."),
                 out: str = typer.Option("sample", help="Writes OUT.mid and OUT.png."),
                 frames: int = typer.Option(64, help="Frames to generate after the prime."),
                 prime: int = typer.Option(4, help="Frames of the first test sequence to start from."),
                 ticks_per_frame: int = typer.Option(480, help="480 = a quarter note per frame (JSB); 240 = eighths."),
                 seed: int = typer.Option(0)) -> None:
    """Generate a piano roll; write it as a standard MIDI file and a PNG picture."""
    from pathlib import Path

    from rnnkit.tasks import music
    from rnnkit.train.checkpoint import CheckpointError

    try:
        task = music.load_music(run)
        first = (task.rolls["test"] or task.rolls["train"])[0]
        if not 1 <= prime <= len(first):
            raise ValueError(f"prime must be in 1..{len(first)}, got {prime}")
        roll = music.sample(task.model, first[:prime], frames, seed)
        Path(out + ".mid").write_bytes(music.roll_to_midi(roll, ticks_per_frame))
        music.save_roll_png(roll, out + ".png", f"{task.cfg.data}, {prime} prime + {frames} sampled frames")
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    typer.echo(f"wrote {out}.mid and {out}.png ({len(roll)} frames)")


@app.command("longrange", context_settings=EXTRA)
def longrange(ctx: typer.Context, config: str = typer.Option(None, help="A TOML file with [train] and [longrange] tables.")) -> None:
    """Train on a long-range memory task (--task adding|copy|reber --length T --cell lstm|gru|rnn) and
    print its test figures; any [train]/[longrange] setting is a flag."""
    from rnnkit.tasks.longrange import metrics, train
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged

    try:
        task, summary = train(config, ctx.args)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
    figures = ", ".join(f"{k} {v:.4g}" for k, v in metrics(task, "test").items())
    typer.echo(f"{task.cfg.task} T={task.cfg.length} {task.cfg.cell}: test {figures}; "
               f"{summary['step']} updates in {summary['seconds']:.0f} s")


def main() -> None:
    app()
