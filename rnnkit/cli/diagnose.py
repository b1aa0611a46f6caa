"""`rnnkit diagnose gradient-flow|gates|report`: gradient flow through time, gates at work, run reports."""

from __future__ import annotations

from pathlib import Path

import typer

from rnnkit.cli.common import RUN_HELP, errors

diagnose_app = typer.Typer(
    help="See inside recurrent networks: gradient flow, gates, run reports.", no_args_is_help=True
)


@diagnose_app.command("gradient-flow")
def gradient_flow(
    cells: str = typer.Option("rnn,lstm,gru", help="Cell kinds at initialisation, comma-separated."),
    length: int = typer.Option(200, help="Sequence length T: lags 0 .. T−1 are measured."),
    checkpoint: str = typer.Option(
        None, help=RUN_HELP + " Adds its recurrent layer before (re-initialised) and after training."
    ),
    out: str = typer.Option("diagnostics", help="Directory for gradient_flow.png and .csv."),
    input_size: int = typer.Option(32, help="I of the fresh layers."),
    hidden_size: int = typer.Option(64, help="H of the fresh layers."),
    batch: int = typer.Option(64, help="Random input sequences averaged over."),
    forget_bias: float = typer.Option(1.0, help="Initial forget-gate bias of the fresh LSTM."),
    seed: int = typer.Option(0),
) -> None:
    """‖∂L/∂h_t‖ against the lag T − t, L = wᵀh_T: the vanishing gradient, per cell, as PNG + CSV."""
    from rnnkit.diagnostics import gradient_flow as gf

    with errors():
        kinds = [c.strip() for c in cells.split(",") if c.strip()]
        unknown = sorted(set(kinds) - set(gf.CELLS))
        if unknown:
            raise ValueError(f"--cells: unknown cell kind(s) {', '.join(unknown)} (known: {', '.join(gf.CELLS)})")
        for name, value in (
            ("length", length),
            ("input-size", input_size),
            ("hidden-size", hidden_size),
            ("batch", batch),
        ):
            if value < 1:
                raise ValueError(f"--{name} must be >= 1, got {value}")
        curves = gf.init_curves(kinds, length, input_size, hidden_size, batch, forget_bias, seed)
        if checkpoint:
            curves += gf.checkpoint_curves(checkpoint, length, batch, seed)
        if not curves:
            raise ValueError("nothing to measure: give --cells or --checkpoint")
        Path(out).mkdir(parents=True, exist_ok=True)
        gf.write_csv(curves, Path(out) / "gradient_flow.csv")
        gf.plot(curves, Path(out) / "gradient_flow.png")
    typer.echo("\n".join(gf.summary_lines(curves)))
    typer.echo(f"wrote {Path(out) / 'gradient_flow.png'} and {Path(out) / 'gradient_flow.csv'}")


@diagnose_app.command("gates")
def gates(
    checkpoint: str = typer.Option(
        ...,
        help="A char-LM run or checkpoint directory (a run directory means "
        "its best checkpoint, or its last if it has no best).",
    ),
    text: str = typer.Option(..., help="The text to run the model over."),
    out: str = typer.Option("diagnostics/gates.html", help="The HTML page to write."),
) -> None:
    """Heat-maps of gate activations and cell state per character, and the units that track the text."""
    from rnnkit.diagnostics.gates import write_gates

    with errors():
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        found = write_gates(checkpoint, text.replace("\\n", "\n"), out)
    for u in found:
        typer.echo(f"{u['feature']}: layer {u['layer']} unit {u['unit']} (r = {u['r']:+.2f})")
    typer.echo(f"wrote {out}")


@diagnose_app.command("report")
def report(run_dir: str = typer.Argument(..., help="A training run directory.")) -> None:
    """(Re)write RUN_DIR/report.html from its metrics and last checkpoint (without samples)."""
    from rnnkit.train.report import write_report

    with errors():
        path = write_report(run_dir)
    typer.echo(f"wrote {path}")
