"""What every command shares: one error-mapping path, output that does not depend on the terminal,
and the factory of train commands (flags generated from the config dataclasses)."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.exceptions import ClickException  # typer carries its own click
from typer.core import TyperGroup

# The one rule for run directories, stated in every --help that takes one.
RUN_HELP = "A run directory (meaning its best checkpoint, or its last if it has no best) or a checkpoint directory."


def fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr and a non-zero exit: how bad input is reported, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


class OneLineErrors(TyperGroup):
    """The root command group: a usage error (an unknown command or option, a value of the wrong type,
    a missing option) is one `error:` line on stderr and exit 2, as every other bad input is."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except ClickException as err:
            if type(err).__name__ != "NoArgsIsHelpError":  # (that one has printed the help)
                typer.echo(f"error: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            fail("aborted", 1)
        sys.exit(code if isinstance(code, int) else 0)


@contextmanager
def errors() -> Iterator[None]:
    """The one error-mapping path of every command: bad input (ValueError, OSError, CheckpointError,
    UnicodeDecodeError) is one `error:` line and exit 2; divergence exit 1; Ctrl-C one line and exit
    130. A data warning (SeriesWarning) is a `warning:` line on stderr; other warnings are left as they are."""
    from rnnkit.data.series import SeriesWarning
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged, TrainingInterrupted

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SeriesWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    default = warnings.showwarning
    error = None
    with warnings.catch_warnings():
        warnings.simplefilter("always", SeriesWarning)
        warnings.showwarning = show
        try:
            yield
        except (ValueError, OSError, CheckpointError, UnicodeDecodeError) as err:
            error = (str(err), 2)
        except TrainingDiverged as err:
            error = (str(err), 1)
        except TrainingInterrupted as err:
            error = (str(err), 130)
        except KeyboardInterrupt:  # Ctrl-C outside the training loop (reading data, evaluating)
            error = ("interrupted", 130)
    if error:
        if os.environ.get("LOCAL_RANK", "0") != "0":  # data parallel: one line per machine, local rank 0's
            time.sleep(0.5)  # (all meet the same input): it fails first, and torchrun's agent reports it
            raise typer.Exit(error[1])
        fail(*error)


def console() -> Console:
    """A rich console that never wraps when the output is not a terminal (a pipe or a file)."""
    return Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)


def print_table(title: str, table) -> None:
    """A title line, then a rich table (a title inside the table would wrap at the table's width)."""
    typer.echo(title)
    console().print(table)


# ---- the train-command factory -------------------------------------------------------------------
KINDS = {"int": int, "float": float, "str": str, "bool": bool}


def _field_parameters(classes: dict[str, type], defaults: dict[str, Any]) -> list[inspect.Parameter]:
    """One typer option per config field: its type, its default (the task's trainer default if it has
    one) and its attribute docstring as help, grouped in a panel per TOML table."""
    from rnnkit.train.config import field_choices, field_docs

    params = []
    for table, cls in classes.items():
        docs, choices = field_docs(cls), field_choices(cls)
        for f in dataclasses.fields(cls):
            kind: Any = KINDS[str(f.type)]
            default = defaults.get(f.name, f.default)
            if isinstance(default, str) and kind is not str:  # a trainer default written as a flag value
                default = default.lower() in ("true", "1", "yes") if kind is bool else kind(default)
            if f.name in choices:  # typer's choices (listed in --help, completed by the shell) are an Enum
                kind = enum.Enum(f.name, {str(c): str(c) for c in choices[f.name]})
                default = kind(str(default))
            if f.name == "data" and kind is str:  # --data a.txt --data b.txt: several files (one per class)
                kind, default = list[str], [default] if default else None
            option = typer.Option(
                default,
                help=escape(docs.get(f.name, "")),
                rich_help_panel=escape(f"[{table}] settings"),
                show_default=True,
            )
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind))
    return params


def given_flags(ctx: typer.Context, values: dict[str, Any]) -> list[str]:
    """The settings given on the command line, as flags again (`--name value`, `--flag`/`--no-flag`):
    the top layer over the defaults, the TOML file and a resumed run's settings."""
    args = []
    for name, value in values.items():
        source = ctx.get_parameter_source(name)  # (typer carries its own click: compare by name)
        if source is None or source.name != "COMMANDLINE":
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, enum.Enum):
            args += [flag, value.value]
        elif isinstance(value, list):
            for item in value:
                args += [flag, str(item)]
        elif isinstance(value, bool):
            args.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            args += [flag, repr(value) if isinstance(value, float) else str(value)]
    return args


def declared(name: str, config_class: type, train_defaults: dict[str, Any] | None = None) -> type:
    """A TaskModel that declares only a task's name, config class and trainer defaults: what a train
    command needs (`configs`), for a task that has no Python API class yet (forecast, longrange)."""
    from rnnkit.tasks.base import TaskModel

    return type(
        f"{config_class.__name__}Task",
        (TaskModel,),
        {"name": name, "config_class": config_class, "train_defaults": dict(train_defaults or {})},
    )


@dataclasses.dataclass
class TrainCommand:
    """A train command: `task` (a TaskModel class: its name is the TOML table, its config_class and
    train_defaults give the flags; `task.configs` layers defaults < train_defaults < TOML < flags) and
    `body(cfgs)`, which trains (one library call) and prints."""

    task: type
    body: Callable[[dict[str, Any]], None]
    callback: Callable[..., None]  # the typer command: flags → configs → body

    @property
    def classes(self) -> dict[str, type]:
        from rnnkit.train import TrainConfig

        return {"train": TrainConfig, self.task.name: self.task.config_class}

    def run(self, config: str | None, args: list[str]) -> None:
        run_training(self.task, self.body, config, args)


def run_training(task: type, body: Callable[[dict[str, Any]], None], config: str | None, args: list[str]) -> None:
    """Builds `task`'s configs from the TOML file `config` and the flags `args` and runs `body(cfgs)`,
    every error mapped by `errors`."""
    import torch

    with errors():
        cfgs = task.configs(config, args)
        torch.manual_seed(cfgs["train"].seed)  # the same initial weights in every process
        body(cfgs)


def train_command(app: typer.Typer | None, name: str, task: type) -> Callable[[Callable], TrainCommand]:
    """Decorator: makes `body(cfgs)` the train command of `task` (a TaskModel class, see TrainCommand),
    its `callback`, with --config, --nproc, --max-restarts (see `data_parallel`) and one flag per field
    of TrainConfig and task.config_class (so --resume, --overwrite, --threads, ...), and registers it as
    command `name` of `app` (if given). The body's docstring is the command's help."""

    def register(body: Callable[[dict[str, Any]], None]) -> TrainCommand:
        def command(ctx: typer.Context, config: str | None, nproc: int, max_restarts: int, **values: Any) -> None:
            args = given_flags(ctx, values)
            data_parallel(ctx, config, args, nproc, max_restarts)
            spec.run(config, args)

        fixed = [
            *_context_and_config(
                f"A TOML file with [train] and [{task.name}] tables: over the defaults, under the flags given."
            ),
            *_parallel_parameters("each restart resumes from the run's `last` checkpoint"),
        ]
        spec = TrainCommand(task, body, command)
        params = fixed + _field_parameters(spec.classes, task.train_defaults)
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = body.__doc__
        if app is not None:
            app.command(name)(command)
        return spec

    return register


def data_parallel(
    ctx: typer.Context,
    config: str | None,
    args: list[str],
    nproc: int,
    max_restarts: int,
    check: Callable[[str | None, list[str]], Any] | None = None,
) -> None:
    """With --nproc N >= 2, reruns the command (its --config and the flags given, `args`) as N
    data-parallel processes through torchrun and exits with their status; else returns. `check(config,
    args)`, run here first, raises on bad input: one error line before any process starts."""
    if max_restarts and nproc < 2:
        fail("--max-restarts restarts the processes of --nproc N (N >= 2); under torchrun, give it to torchrun")
    if nproc < 2:
        return
    if check is not None:
        with errors():
            check(config, args)
    from rnnkit.train.distributed import launch

    argv = [*_command_path(ctx), *(["--config", config] if config else []), *args]
    raise typer.Exit(launch(nproc, argv, max_restarts))


def _parallel_parameters(restart: str) -> list[inspect.Parameter]:
    """The --nproc and --max-restarts options (see `data_parallel`); `restart` says what a restart does."""
    return [
        inspect.Parameter(
            "nproc",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=int,
            default=typer.Option(1, help="Data-parallel processes on this machine (started through torchrun)."),
        ),
        inspect.Parameter(
            "max_restarts",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=int,
            default=typer.Option(
                0,
                help=f"With --nproc: times torchrun starts the processes again after one fails; {restart}.",
                min=0,
            ),
        ),
    ]


def _context_and_config(config_help: str) -> list[inspect.Parameter]:
    """The typer context and the --config option that every generated command takes first."""
    return [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "config",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=str | None,
            default=typer.Option(None, help=escape(config_help)),
        ),
    ]


def settings_command(
    app: typer.Typer,
    name: str,
    classes: dict[str, type],
    body: Callable[[str | None, list[str]], None],
    parallel: tuple[Callable[[str | None, list[str]], Any], str] | None = None,
) -> None:
    """Registers command `name` of `app` with --config and one flag per field of `classes` ({TOML
    table: config dataclass}, help from the attribute docstrings); `body(config, flags given)` runs
    it, every error mapped by `errors`. For a command whose settings are not a TrainConfig and a task
    config (the many-series forecaster trains with its own loop). With `parallel` = (check, what a
    restart does) it also takes --nproc and --max-restarts (see `data_parallel`)."""

    def command(ctx: typer.Context, config: str | None, **values: Any) -> None:
        if parallel is not None:
            nproc, max_restarts = values.pop("nproc"), values.pop("max_restarts")
            data_parallel(ctx, config, given_flags(ctx, values), nproc, max_restarts, parallel[0])
        with errors():
            body(config, given_flags(ctx, values))

    params = [
        *_context_and_config(f"A TOML file with {', '.join(f'[{t}]' for t in classes)} tables: under the flags given."),
        *(_parallel_parameters(parallel[1]) if parallel else []),
        *_field_parameters(classes, {}),
    ]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = body.__doc__
    app.command(name)(command)


def _command_path(ctx: Any) -> list[str]:
    """The command's words after the program name (["lm", "train"], ["longrange"])."""
    words = []
    while ctx.parent is not None:
        words.append(ctx.info_name or "")
        ctx = ctx.parent
    return words[::-1]
