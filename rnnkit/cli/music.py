"""`rnnkit music train|eval|sample`."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.music import MusicConfig

music_app = typer.Typer(help="Polyphonic music: next piano-roll frame, 88 Bernoulli keys.", no_args_is_help=True)


@train_command(music_app, "train", "music", MusicConfig)
def train(cfgs: dict) -> None:
    """Train on piano rolls (--data jsb | nottingham | FILE.json); prints the validation and test NLL."""
    from rnnkit.tasks.music import MusicTask
    from rnnkit.train import Trainer

    task = MusicTask(cfgs["music"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank == 0:
        typer.echo(f"{task.cfg.data}: val NLL {summary['best_val']:.4f}, test NLL {summary['test']:.4f} per frame "
                   f"(summed over 88 keys, pooled over all frames); {summary['step']} updates in "
                   f"{summary['seconds']:.0f} s")


@music_app.command("eval")
def evaluate(run: str = typer.Argument(..., help=RUN_HELP),
             split: str = typer.Option("test", help="train | val | test"),
             data: str = typer.Option("", help="Another data set than the one trained on.")) -> None:
    """Print the pooled NLL per frame of a trained music model on a split."""
    from rnnkit.tasks import music

    with errors():
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test; got {split!r}")
        task = music.load_music(run, data)
        nll = music.pooled_nll(task, split)
    typer.echo(f"{split} NLL {nll:.4f} per frame ({task.cfg.data})")


@music_app.command("sample")
def sample(run: str = typer.Argument(..., help=RUN_HELP),
           out: str = typer.Option("sample", help="Writes OUT.mid and OUT.png."),
           frames: int = typer.Option(64, help="Frames to generate after the prime."),
           prime: int = typer.Option(4, help="Frames of the first test sequence to start from."),
           ticks_per_frame: int = typer.Option(480, help="480 = a quarter note per frame (JSB); 240 = eighths."),
           seed: int = typer.Option(0)) -> None:
    """Generate a piano roll; write it as a standard MIDI file and a PNG picture."""
    from pathlib import Path

    from rnnkit.tasks import music

    with errors():
        task = music.load_music(run)
        first = (task.rolls["test"] or task.rolls["train"])[0]
        if not 1 <= prime <= len(first):
            raise ValueError(f"prime must be in 1..{len(first)}, got {prime}")
        roll = music.sample(task.model, first[:prime], frames, seed)
        Path(out + ".mid").write_bytes(music.roll_to_midi(roll, ticks_per_frame))
        music.save_roll_png(roll, out + ".png", f"{task.cfg.data}, {prime} prime + {frames} sampled frames")
    typer.echo(f"wrote {out}.mid and {out}.png ({len(roll)} frames)")
