"""`rnnkit music train|eval|sample`."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.music import MusicModel

music_app = typer.Typer(help="Polyphonic music: next piano-roll frame, 88 Bernoulli keys.", no_args_is_help=True)


@train_command(music_app, "train", MusicModel)
def train(cfgs: dict) -> None:
    """Train on piano rolls (--data jsb | nottingham | FILE.json); prints the validation and test NLL."""
    model = MusicModel(cfgs["music"])
    summary = model.fit(train=cfgs["train"])
    if model.rank == 0:
        typer.echo(
            f"{model.config.data}: val NLL {summary['best_val']:.4f}, test NLL {summary['test']:.4f} per frame "
            f"(summed over 88 keys, pooled over all frames); {summary['step']} updates in "
            f"{summary['seconds']:.0f} s"
        )


@music_app.command("eval")
def evaluate(
    run: str = typer.Argument(..., help=RUN_HELP),
    split: str = typer.Option("test", help="train | val | test"),
    data: str = typer.Option("", help="Another data set than the one trained on."),
) -> None:
    """Print the pooled NLL per frame of a trained music model on a split."""
    with errors():
        model = MusicModel.load(run)
        nll = model.evaluate(data or None, split)["nll"]
    typer.echo(f"{split} NLL {nll:.4f} per frame ({data or model.config.data})")


@music_app.command("sample")
def sample(
    run: str = typer.Argument(..., help=RUN_HELP),
    out: str = typer.Option("sample", help="Writes OUT.mid and OUT.png."),
    frames: int = typer.Option(64, help="Frames to generate after the prime."),
    prime: int = typer.Option(4, help="Frames of the first test sequence to start from."),
    ticks_per_frame: int = typer.Option(480, help="480 = a quarter note per frame (JSB); 240 = eighths."),
    seed: int = typer.Option(0),
) -> None:
    """Generate a piano roll; write it as a standard MIDI file and a PNG picture."""
    from pathlib import Path

    from rnnkit.tasks import music

    with errors():
        model = MusicModel.load(run)
        rolls = model.rolls()
        first = (rolls["test"] or rolls["train"])[0]
        if not 1 <= prime <= len(first):
            raise ValueError(f"prime must be in 1..{len(first)}, got {prime}")
        roll = model.sample(first[:prime], frames, seed)
        Path(out + ".mid").write_bytes(music.roll_to_midi(roll, ticks_per_frame))
        music.save_roll_png(roll, out + ".png", f"{model.config.data}, {prime} prime + {frames} sampled frames")
    typer.echo(f"wrote {out}.mid and {out}.png ({len(roll)} frames)")
