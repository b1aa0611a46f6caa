"""The `rnnkit` command line: thin wrappers that parse options and call the library."""

import typer

app = typer.Typer(help="rnnkit: recurrent neural networks for sequence data.", no_args_is_help=True)


@app.callback()
def _commands() -> None:
    """rnnkit: recurrent neural networks for sequence data."""


@app.command()
def version() -> None:
    """Print rnnkit's version."""
    from rnnkit import __version__

    typer.echo(__version__)


def main() -> None:
    app()
