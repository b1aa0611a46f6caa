"""`rnnkit export`: a trained model as ONNX or TorchScript."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors


def export(
    checkpoint: str = typer.Option(..., help=RUN_HELP + " Of an lm or forecast run."),
    format: str = typer.Option("onnx", help="onnx or torchscript."),
    out: str = typer.Option(..., help="The file to write."),
) -> None:
    """Export a trained model to ONNX or TorchScript (standard cells only; see rnnkit.export)."""
    from rnnkit.export import export_checkpoint

    with errors():
        path = export_checkpoint(checkpoint, format, out)
    typer.echo(f"wrote {path}")
