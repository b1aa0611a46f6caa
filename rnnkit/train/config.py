"""The trainer's configuration; config dataclasses filled from a TOML file and CLI flags, documented
by attribute docstrings (`field_docs`) and checked by declared rules (`Checked`)."""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import math
import textwrap
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rnnkit.cells.base import check_choice  # noqa: F401 (one helper for the whole package; tasks import it from here)


@functools.cache
def _own_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings written in `cls`'s own body: a string literal right after a field."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (built in a REPL): no help
        return {}
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef)).body
    docs = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


def field_docs(cls: type) -> dict[str, str]:
    """{field name: help} of a config dataclass, read from its attribute docstrings (a string literal
    right after the field, as tyro and mkdocstrings read them) with `ast`, in field order, each on one
    line (whitespace runs collapsed). A field
    redeclared in a subclass without a docstring keeps its base class's; a field with none maps to ""."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_docs(klass))
    return {f.name: docs.get(f.name, "") for f in dataclasses.fields(cls)}


# ---- validation, declared once per field ------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """A check of one field's value: `test(value)` is True for a valid value; `expect` says what is valid."""

    test: Callable[[Any], bool]
    expect: str
    choices: tuple = ()

    def __call__(self, name: str, value: Any) -> None:
        if not self.test(value):
            raise ValueError(f"{name} must be {self.expect}{';' if self.choices else ','} got {value!r}")


def one_of(*choices: str) -> Rule:
    return Rule(lambda v: v in choices, f"one of {', '.join(choices)}", tuple(choices))


def at_least(low: float) -> Rule:
    return Rule(lambda v: v >= low, f">= {low}")


def fraction(closed: bool = False) -> Rule:
    """A probability in [0, 1) (dropout-like), or [0, 1] with closed=True."""
    return Rule(
        (lambda v: 0.0 <= v <= 1.0) if closed else (lambda v: 0.0 <= v < 1.0), "in [0, 1]" if closed else "in [0, 1)"
    )


class Checked:
    """Base of the task config dataclasses: ``rules`` ({field: Rule}, merged over the class and its
    bases) are applied after construction, then ``check()`` (checks across fields)."""

    rules: ClassVar[dict[str, Rule]] = {}

    @classmethod
    def all_rules(cls) -> dict[str, Rule]:
        merged: dict[str, Rule] = {}
        for klass in reversed(cls.__mro__):
            merged.update(vars(klass).get("rules", {}))
        return merged

    def __post_init__(self) -> None:
        for name, rule in self.all_rules().items():
            rule(name, getattr(self, name))
        self.check()

    def check(self) -> None:
        """Checks that involve several fields (ValueError); none by default."""


def field_choices(cls: type) -> dict[str, tuple]:
    """{field name: its allowed values} of the fields of a Checked config declared with `one_of`
    (for --help and shell completion); {} for any other class."""
    rules = cls.all_rules() if isinstance(cls, type) and issubclass(cls, Checked) else {}
    return {name: rule.choices for name, rule in rules.items() if rule.choices}


@dataclass
class TrainConfig:
    """Every setting of the trainer; 0 means "off" / "no limit" where stated."""

    seed: int = 1337
    """Seed of the initial weights, dropout and data order."""
    run_dir: str = "runs/run"
    """Where the run goes: last/ and best/ checkpoints, metrics.jsonl, loss.png."""
    resume: str = ""
    """A run directory to continue exactly where its `last` checkpoint stopped."""
    max_epochs: int = 200
    """Passes over the training data; 0 = no limit. A generous cap: early stopping (patience) ends a run first."""
    max_steps: int = 0
    """Updates; 0 = no limit."""
    max_time: float = 0.0
    """Seconds of training (the budget a user thinks in: 600 = 10 minutes); 0 = no limit."""
    threads: int = 0
    """Torch threads per process; 0 = cores / processes."""
    # through time: truncated BPTT lengths (0 = the whole batch, i.e. full BPTT over it)
    tbptt_forward: int = 0
    """Truncated BPTT k1: new time steps per update, the state carried across updates; 0 = the whole batch."""
    tbptt_backward: int = 0
    """Truncated BPTT k2: steps the gradient flows back through; 0 = k1 (see tbptt_style)."""
    tbptt_style: str = "sutskever"
    """sutskever: k2 >= k1, the loss of the k1 new steps back-propagated through the last k2 (every
    target scored) | dl4j: k2 <= k1, only the last k2 steps of each k1-step update scored and
    back-propagated."""
    long_sequence: int = 500
    """With tbptt_forward 0, batches of per-step targets longer than this are trained in TBPTT
    windows of this length, the state carried (logged), so gradients cannot overflow; 0 = never."""
    # optimiser (torch.optim, by name) and its hyper-parameters
    optimizer: str = "adam"
    """sgd | rmsprop | adagrad | adam | adamw."""
    lr: float = 2e-3
    """Learning rate."""
    momentum: float = 0.0
    """Momentum of sgd and rmsprop."""
    nesterov: bool = False
    """Nesterov momentum (sgd)."""
    beta1: float = 0.9
    """First-moment decay of adam and adamw."""
    beta2: float = 0.999
    """Second-moment decay of adam and adamw."""
    alpha: float = 0.99
    """Smoothing constant of rmsprop."""
    eps: float = 1e-8
    """The optimiser's epsilon (adam, adamw, rmsprop, adagrad)."""
    weight_decay: float = 0.0
    """The optimiser's own weight decay (decoupled for adamw)."""
    # regularisation and clipping
    l1: float = 0.0
    """Adds l1 * sum |w| over the weight matrices to the loss."""
    l2: float = 0.0
    """Adds l2 / 2 * sum w^2 over the weight matrices to the loss."""
    weight_noise: float = 0.0
    """Std of Gaussian noise added to the weights for each forward/backward; 0 = off."""
    ema: float = 0.0
    """Polyak averaging: validate, checkpoint and predict with w̄ ← d·w̄ + (1 − d)·w after each update,
    d = min(ema, (1 + step) / (10 + step)), an exponential moving average of the trained weights; 0 = off."""
    clip_norm: float = 5.0
    """Global gradient-norm cap; 0 = off."""
    clip_value: float = 0.0
    """Element-wise clamp of gradients to [-v, v] (char-rnn); 0 = off."""
    # learning-rate schedule, times a linear warm-up over the first warmup_steps updates
    schedule: str = "plateau"
    """Learning-rate schedule: constant | step | cosine | plateau (times the warm-up)."""
    warmup_steps: int = 0
    """Updates of linear learning-rate warm-up; 0 = none."""
    decay_after_epoch: int = 10
    """step schedule: multiply by decay_rate at the end of every epoch >= this."""
    decay_rate: float = 0.97
    """step schedule: the factor applied each epoch."""
    min_lr: float = 0.0
    """cosine schedule: the floor reached at the last update (or at max_time, if that comes first)."""
    plateau_factor: float = 0.5
    """plateau schedule: multiply by this after plateau_patience evaluations without improvement."""
    plateau_patience: int = 2
    """plateau schedule: evaluations without a better validation loss before the decay."""
    # evaluation, early stopping, checkpoints, monitoring
    eval_every: int = 0
    """Updates between validations; 0 = at the end of every epoch only."""
    patience: int = 5
    """Early stopping after this many evaluations without improvement (best weights restored); 0 = off."""
    min_delta: float = 1e-3
    """Early stopping: an evaluation improves only if its loss is below best - min_delta * |best| (relative)."""
    ckpt_every: int = 100
    """Updates between `last` checkpoints (also at every epoch end)."""
    log_every: int = 20
    """Updates between metric lines."""
    max_bad_steps: int = 5
    """Non-finite steps in a row before rolling back to `last`."""
    max_rollbacks: int = 3
    """Rollbacks (each halving the learning rate) before giving up."""
    tensorboard: bool = False
    """Also write TensorBoard scalars and gate/gradient histograms."""
    device: str = "cpu"
    """torch device to train on (cpu, cuda, cuda:1, ...)."""
    overwrite: bool = False
    """Train afresh in a run_dir that already holds a run (replacing its checkpoints)."""

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, ("sgd", "rmsprop", "adagrad", "adam", "adamw"))
        check_choice("schedule", self.schedule, ("constant", "step", "cosine", "plateau"))
        for name in (
            "tbptt_forward",
            "tbptt_backward",
            "max_steps",
            "max_epochs",
            "warmup_steps",
            "eval_every",
            "patience",
            "ckpt_every",
            "threads",
            "min_delta",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.log_every < 1 or self.max_bad_steps < 1:
            raise ValueError("log_every and max_bad_steps must be >= 1")
        check_choice("tbptt_style", self.tbptt_style, ("sutskever", "dl4j"))
        if self.long_sequence < 0:
            raise ValueError(f"long_sequence must be >= 0, got {self.long_sequence}")
        k1, k2 = self.tbptt_forward, self.tbptt_backward
        if k1 and k2 and self.tbptt_style == "dl4j" and k2 > k1:
            raise ValueError(f"tbptt_backward ({k2}) must be <= tbptt_forward ({k1}) with tbptt_style dl4j")
        if k1 and k2 and self.tbptt_style == "sutskever" and k2 < k1:
            raise ValueError(
                f"tbptt_backward ({k2}) must be >= tbptt_forward ({k1}) with tbptt_style sutskever "
                "(every target scored); for DL4J's convention (k2 <= k1) pass --tbptt-style dl4j"
            )
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if not (self.max_epochs or self.max_steps or self.max_time or self.patience):
            raise ValueError("max_epochs, max_steps, max_time and patience are all 0: training would never stop")
        check_device(self.device)


def check_device(device: str) -> None:
    """ValueError unless ``device`` names a torch device (cpu, cuda, cuda:1, ...) that this machine has."""
    import torch  # here, not at the top: parsing a command line stays light

    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be a torch device (cpu, cuda, cuda:1, ...); got {device!r}") from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        build = "" if torch.version.cuda else ", a build without CUDA"
        raise ValueError(f"device {device!r}: torch sees no CUDA device here (torch {torch.__version__}{build})")
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def _coerce(field: dataclasses.Field, raw: Any, source: str) -> Any:
    """`raw` (a TOML value or a CLI string) converted to the field's type, or ValueError."""
    kind = {"int": int, "float": float, "bool": bool, "str": str}[str(field.type)]
    if isinstance(raw, str) and kind is not str:
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"{source}: expected true or false, got {raw!r}")
            return raw.lower() in ("true", "1", "yes")
        try:
            return _coerce(field, kind(raw), source)
        except ValueError:
            raise ValueError(f"{source}: expected {kind.__name__}, got {raw!r}") from None
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if kind is float and isinstance(raw, float) and not math.isfinite(raw):
        raise ValueError(f"{source}: expected a finite number, got {raw!r}")
    if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
        raise ValueError(f"{source}: expected {kind.__name__}, got {raw!r}")
    return raw


def build_configs(
    classes: dict[str, type], toml_path: str | None, args: list[str], base: dict[str, dict] | None = None
) -> dict[str, Any]:
    """Instances of `classes` ({TOML table name: dataclass}) from defaults, then `base` (a saved
    run's config), then the TOML file's tables, then CLI flags ``--name value`` / ``--flag``
    (booleans) / ``--no-flag``; ``--data`` given several times names several files (joined by ",").

    Field names are unique across the classes, so a flag needs no table prefix ("--lr 0.01",
    "--hidden-size 512"). Unknown tables, keys and flags raise ValueError naming them.
    """
    fields = {f.name: (table, f) for table, cls in classes.items() for f in dataclasses.fields(cls)}
    values: dict[str, dict[str, Any]] = {table: {} for table in classes}
    for table, entries in (base or {}).items():  # a saved run's settings: checked like a TOML table
        if table not in classes or not isinstance(entries, dict):
            raise ValueError(f"saved settings: unknown or malformed table {table!r}")
        for key, raw in entries.items():
            if key not in fields or fields[key][0] != table:
                raise ValueError(f"saved settings: unknown key {key!r} in [{table}]")
            values[table][key] = _coerce(fields[key][1], raw, f"saved settings [{table}] {key}")
    if toml_path:
        try:
            doc = tomllib.loads(Path(toml_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise ValueError(f"cannot read config {toml_path}: {err}") from None
        for table, entries in doc.items():
            if table not in classes or not isinstance(entries, dict):
                raise ValueError(f"{toml_path}: unknown table [{table}] (known: {', '.join(classes)})")
            for key, raw in entries.items():
                if key not in fields or fields[key][0] != table:
                    raise ValueError(f"{toml_path}: unknown key {key!r} in [{table}]")
                values[table][key] = _coerce(fields[key][1], raw, f"{toml_path} [{table}] {key}")
    i, repeated = 0, set()
    while i < len(args):
        flag = args[i]
        name = flag[2:].replace("-", "_") if flag.startswith("--") else ""
        negated = name.startswith("no_") and name[3:] in fields and str(fields[name[3:]][1].type) == "bool"
        if negated:
            name = name[3:]
        if name not in fields:
            raise ValueError(f"unknown option {flag!r}")
        table, field = fields[name]
        if str(field.type) == "bool" and (i + 1 == len(args) or args[i + 1].startswith("--")):
            values[table][name] = not negated
            i += 1
            continue
        if i + 1 == len(args):
            raise ValueError(f"option {flag} needs a value")
        value = _coerce(field, args[i + 1], f"option {flag}")
        if name == "data" and name in repeated:  # --data a.txt --data b.txt: several files, joined by ","
            value = f"{values[table][name]},{value}"
        values[table][name] = value
        repeated.add(name)
        i += 2
    return {table: cls(**values[table]) for table, cls in classes.items()}
