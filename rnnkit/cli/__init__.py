"""The `rnnkit` command line: one module per task, each command a thin wrapper (parse, one library
call, print); every train command is made by `common.train_command` from the config dataclasses."""

from __future__ import annotations

import os
import sys

import typer
import typer.rich_utils

from rnnkit.cli import longrange
from rnnkit.cli.classify import classify_app
from rnnkit.cli.common import OneLineErrors
from rnnkit.cli.demo import demo
from rnnkit.cli.diagnose import diagnose_app
from rnnkit.cli.export import export
from rnnkit.cli.forecast import forecast_app
from rnnkit.cli.lm import lm_app
from rnnkit.cli.music import music_app
from rnnkit.cli.seq2seq import seq2seq_app
from rnnkit.cli.tag import tag_app

# --help to a pipe or file has one width, whatever the terminal (COLUMNS) says: the flag names of the
# options tables are never cut. (TERMINAL_WIDTH, typer's own setting, still wins.)
if not sys.stdout.isatty() and not os.environ.get("TERMINAL_WIDTH"):
    typer.rich_utils.MAX_WIDTH = 120

app = typer.Typer(help="rnnkit: recurrent neural networks for sequence data.", no_args_is_help=True, cls=OneLineErrors)
for name, sub_app in (
    ("lm", lm_app),
    ("diagnose", diagnose_app),
    ("seq2seq", seq2seq_app),
    ("classify", classify_app),
    ("forecast", forecast_app),
    ("music", music_app),
    ("tag", tag_app),
):
    app.add_typer(sub_app, name=name)
app.command("demo")(demo)
app.command("export")(export)
app.command("longrange")(longrange.train.callback)


@app.command()
def version() -> None:
    """Print rnnkit's version."""
    from rnnkit import __version__

    typer.echo(__version__)


def main() -> None:
    app()
