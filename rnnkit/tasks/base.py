"""What every task shares: the recurrent stack's settings and builder, and the task contract that
the Python API classes (rnnkit.LanguageModel, TextClassifier, MusicModel, Seq2Seq) and the CLI
are built on.

A task is a subclass of ``TaskModel`` that declares

- ``name``: its name, written as ``meta["task"]`` in every checkpoint and used as the TOML table
  (and the key in ``meta``) of its config;
- ``config_class``: its config dataclass (a ``RecurrentConfig`` subclass, so it offers every cell
  option; fields documented by attribute docstrings, checked by declared ``rules``);
- ``train_defaults``: TrainConfig values of the task, a layer UNDER the user's TOML and flags;
- ``make_task(data)``: the trainer's task (``rnnkit.train.task.Task``: model, batches, meta) for
  ``data`` (None = the config's own data; a path; or data in memory), which builds the model;
- ``adopt(task)``: take the trained model (and vocabulary, labels...) from that task;
- ``from_meta(meta, path)``: the object, with an untrained model, that a checkpoint's meta describes;
- ``check_train(train)``: refuse trainer settings the task cannot use (optional);
- ``after_fit(task, train)``: a hook run once training is done (rank 0), e.g. forecast calibration;
- ``evaluate(...)`` and ``predict(...)`` (or ``sample`` / ``translate``).

The base class turns these into ``fit``, ``save``, ``load`` and ``configs`` (TOML + flags), so a
run trained from Python has exactly the artifacts of a CLI run, and ``load`` returns one object.
A CLI train command is ``cfgs = Cls.configs(toml, args); api = Cls(cfgs[Cls.name]);
api.fit(train=cfgs["train"])``; inference is ``Cls.load(path)`` (a run directory means its `best`).

A task in outline (rnnkit.tasks.music.MusicModel is a whole one)::

    class Forecaster(TaskModel):
        name, config_class = "forecast", ForecastConfig
        train_defaults = {"max_epochs": 200, "patience": 20}

        def make_task(self, data=None):  # self.train: the TrainConfig of this fit
            return ForecastTask(self.with_data(data), self.train.seed)

        def adopt(self, task):
            self.model, self.data = task.model, task.data

        @classmethod
        def from_meta(cls, meta, path):  # path: the checkpoint directory, its parent the run
            obj = cls(cls.saved_config(meta, path))
            obj.model = ForecastRNN(obj.config)
            return obj

        def after_fit(self, task, train):
            save_calibration(train.run_dir, calibrate(task.model, task.data, self.config))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import torch

from rnnkit.cells.base import ACTIVATIONS
from rnnkit.init import SCHEMES
from rnnkit.layers import GRU, LSTM, RNN, RecurrentLayer
from rnnkit.train import checkpoint
from rnnkit.train.config import (
    Checked,
    Rule,
    TrainConfig,
    at_least,
    build_configs,
    fraction,
    one_of,
)
from rnnkit.train.task import Task

LAYERS: dict[str, Callable[..., RecurrentLayer]] = {"lstm": LSTM, "gru": GRU, "rnn": RNN}
IN_MEMORY = "<in memory>"  # the `data` setting of a run trained on data given in memory


@dataclass
class RecurrentConfig(Checked):
    """The recurrent stack: every option of rnnkit's RNN, LSTM and GRU layers, for every task."""

    cell: str = "lstm"
    """Recurrent cell: lstm | gru | rnn."""
    hidden_size: int = 256
    """Units per layer (H)."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout between stacked recurrent layers."""
    recurrent_dropout: float = 0.0
    """Variational dropout of h_{t-1} inside the recurrence, one mask per sequence (Gal & Ghahramani)."""
    zoneout: float = 0.0
    """Probability that a unit keeps its previous state at a step (Krueger et al.)."""
    init: str = "uniform"
    """Weight initialisation: uniform (torch's) | xavier | orthogonal."""
    forget_bias: float = 1.0
    """lstm: initial forget-gate bias."""
    chrono_init: int = 0
    """lstm, gru: chrono gate biases for dependencies up to this many steps (>= 3); 0 = off."""
    peephole: bool = False
    """lstm: diagonal cell-to-gate peepholes (Graves 2013)."""
    cifg: bool = False
    """lstm: coupled input-forget gate, f = 1 - i."""
    layer_norm: bool = False
    """lstm: layer-normalised gate pre-activations and cell."""
    activation: str = "tanh"
    """lstm: squashing of the cell input and output: tanh | softsign."""
    reset_after: bool = True
    """gru: reset gate after the recurrent product (torch's form); false = Cho et al.'s form."""
    nonlinearity: str = "tanh"
    """rnn: the activation: tanh | relu | sigmoid | softsign."""

    rules: ClassVar[dict[str, Rule]] = {
        "cell": one_of(*LAYERS), "hidden_size": at_least(1), "num_layers": at_least(1),
        "dropout": fraction(), "recurrent_dropout": fraction(), "zoneout": fraction(),
        "init": one_of(*SCHEMES), "activation": one_of("tanh", "softsign"), "nonlinearity": one_of(*ACTIVATIONS),
        "chrono_init": Rule(lambda v: v == 0 or v >= 3, "0 (off) or at least 3 (the longest dependency, in steps)"),
    }  # fmt: skip

    def check(self) -> None:
        """Options of another cell than the chosen one are refused, not ignored."""
        own = {
            "peephole": "lstm",
            "cifg": "lstm",
            "layer_norm": "lstm",
            "activation": "lstm",
            "reset_after": "gru",
            "nonlinearity": "rnn",
            "chrono_init": "lstm gru",
        }
        plain = {f.name: f.default for f in dataclasses.fields(RecurrentConfig)}
        for name, cells in own.items():
            if self.cell not in cells.split() and getattr(self, name) != plain[name]:
                raise ValueError(f"{name} applies to the {' and '.join(cells.split())} cell, not {self.cell}")

    def recurrent(self) -> dict[str, Any]:
        """The fields of RecurrentConfig only (what `build_recurrent` reads)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(RecurrentConfig)}


def build_recurrent(
    cfg: RecurrentConfig, input_size: int, *, bidirectional: bool = False, dropout: float | None = None
) -> RecurrentLayer:
    """The batch-first rnnkit layer stack `cfg` describes, reading `input_size` features; `dropout`
    (if given) replaces cfg.dropout between layers (it is 0 for a single layer)."""
    c = cfg
    options: dict[str, Any] = {
        "lstm": {"forget_bias": c.forget_bias, "peephole": c.peephole, "cifg": c.cifg, "layer_norm": c.layer_norm,
                 "activation": c.activation, "chrono_init": c.chrono_init or None},
        "gru": {"reset_after": c.reset_after, "chrono_init": c.chrono_init or None},
        "rnn": {"nonlinearity": c.nonlinearity},
    }[c.cell]  # fmt: skip
    between = c.dropout if dropout is None else dropout
    return LAYERS[c.cell](
        input_size,
        c.hidden_size,
        c.num_layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=between if c.num_layers > 1 else 0.0,
        init=c.init,
        recurrent_dropout=c.recurrent_dropout,
        zoneout=c.zoneout,
        **options,
    )


def checkpoint_dir(path: str | Path) -> Path:
    """The checkpoint that inference reads from `path`: a run directory means its `best` (its `last`
    if it has no `best`); a checkpoint directory is itself."""
    path = Path(path)
    for name in ("best", "last"):
        if path.is_dir() and (path / name).exists():
            return path / name
    return path


class TaskModel:
    """A task's Python API: configure, ``fit``, ``evaluate``, predict, ``save`` and ``load``.

    ``model`` is the nn.Module (None before fit or load); ``meta`` the facts saved with its
    checkpoints (vocabulary, labels, config); ``task`` the trainer's task of the last ``fit`` (its
    data splits), ``run_dir`` where that run went.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    train_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: Any = None, **settings: Any):
        """`config` (an instance of config_class) or its fields as keyword arguments."""
        if config is not None and settings:
            raise TypeError("give a config or settings, not both")
        self.config = config if config is not None else self.config_class(**settings)
        self.model: torch.nn.Module | None = None
        self.meta: dict = {}
        self.task: Any = None  # the task subclass's trainer task
        self.run_dir: Path | None = None
        self.train: TrainConfig | None = None  # the trainer settings of the last (or running) fit

    # ---- what a task declares -------------------------------------------------------------
    def make_task(self, data: Any = None) -> Task:
        """The trainer's task (data splits and a new model) for `data`: None = the config's data.
        During fit, ``self.train`` holds the trainer settings (e.g. a seed the data split needs)."""
        raise NotImplementedError

    def adopt(self, task: Any) -> None:
        """Take the trained model and what reading it needs (vocabulary, labels...) from `task`."""
        self.model = task.model

    @classmethod
    def from_meta(cls, meta: dict, path: str | Path) -> Self:
        """The object a checkpoint's meta describes, its model built (weights not loaded yet)."""
        raise NotImplementedError

    def evaluate(self, data: Any = None, *args: Any, **kwargs: Any) -> dict:
        """The task's metrics on `data` (None: a held-out split of the data it was trained on)."""
        raise NotImplementedError

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """The task's predictions (labels, samples, translations)."""
        raise NotImplementedError

    def check_train(self, train: TrainConfig) -> None:
        """ValueError for trainer settings the task cannot use (e.g. truncated BPTT); none by default."""

    def after_fit(self, task: Any, train: TrainConfig) -> None:
        """Runs once after training (in the first process only), the best weights loaded; writes any
        artifact the run needs beyond checkpoints and metrics into train.run_dir."""

    # ---- shared -------------------------------------------------------------------------------
    def with_data(self, data: Any) -> Any:
        """The config to record for `data`: a path replaces config.data, data in memory is IN_MEMORY."""
        if data is None:
            return self.config
        return dataclasses.replace(self.config, data=str(data) if isinstance(data, (str, Path)) else IN_MEMORY)

    @classmethod
    def configs(cls, toml: str | None = None, args: list[str] | tuple = ()) -> dict[str, Any]:
        """{"train": TrainConfig, name: config} from the layers, lowest first: defaults, the task's
        train_defaults, the TOML file's tables, flags ``--name value``. With ``--resume RUN`` the saved
        run's settings replace the defaults, and the run continues in the directory that holds the
        checkpoint (unless --run-dir is given)."""
        classes = {"train": TrainConfig, cls.name: cls.config_class}
        args = list(args)
        cfgs = build_configs(classes, toml, args, base={"train": dict(cls.train_defaults)})
        if cfgs["train"].resume:
            saved = cls._resumable(cfgs["train"].resume)
            base: dict[str, Any] = {"train": saved.get("config"), cls.name: saved["meta"].get(cls.name)}
            cfgs = build_configs(classes, toml, args, base=base)
            if "--run-dir" not in args:
                cfgs["train"].run_dir = str(Path(saved["path"]).parent)
        return cfgs

    @classmethod
    def _resumable(cls, path: str | Path) -> dict:
        """The state of the training run at `path` (its `last`), refusing weights written by `save`."""
        state = checkpoint.read_state(path, task=cls.name)
        if not isinstance(state.get("config"), dict):
            raise checkpoint.CheckpointError(f"{path} holds weights written by save(), not a training run to resume")
        return state

    def fit(self, data: Any = None, train: TrainConfig | None = None, **settings: Any) -> dict:
        """Train on `data` (None: the config's data; a path; or data in memory, see the task) with
        `train`, or with TrainConfig(**train_defaults, **settings); returns the trainer's summary.

        Seeds torch with train.seed before building the model, as the CLI does; the model ends with
        the best validation weights; checkpoints and metrics are in train.run_dir.
        """
        from rnnkit.train.loop import Trainer

        if train is not None and settings:
            raise TypeError("give a TrainConfig or its settings, not both")
        train = train if train is not None else TrainConfig(**{**self.train_defaults, **settings})
        self.check_train(train)
        if train.resume:
            self._resumable(train.resume)
        self.train = train
        torch.manual_seed(train.seed)  # the same initial weights in every process
        task = self.make_task(data)
        trainer = Trainer(task, train)
        summary = trainer.fit()
        self.task, self.run_dir, self.meta = task, Path(train.run_dir), task.meta()
        self.config = getattr(task, "cfg", self.config)
        self.adopt(task)
        self.rank = trainer.rank
        if trainer.rank == 0:
            self.after_fit(task, train)
        return summary

    def _require_model(self) -> torch.nn.Module:
        if self.model is None:
            raise ValueError(f"this {type(self).__name__} has no trained model: fit() or load() it first")
        return self.model

    def save(self, path: str | Path) -> Path:
        """Writes the model as a run directory `path` (best and last point at one checkpoint) that
        ``load`` reads; refuses a directory that already holds a run. Returns the checkpoint's path."""
        model = self._require_model()
        path = Path(path)
        if (path / "last").exists() or (path / "best").exists():
            raise ValueError(f"{path} already holds a run; save elsewhere")
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)  # no state: a checkpoint of weights only
        return checkpoint.save(
            path, ("last", "best"), model, optimizer, None, {"step": 0, "epoch": 0, "meta": self.meta, "config": None}
        )

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """The object saved at `path`: a checkpoint directory, or a run directory (its `best`)."""
        path = checkpoint_dir(path)
        meta = checkpoint.read_state(path, task=cls.name)["meta"]
        obj = cls.from_meta(meta, path)
        model = obj._require_model()
        checkpoint.load(path, model)
        model.eval()
        obj.meta = meta
        return obj

    @classmethod
    def saved_config(cls, meta: dict, path: str | Path) -> Any:
        """The config saved in a checkpoint's meta; unknown settings are a CheckpointError."""
        saved = meta.get(cls.name)
        known = {f.name for f in dataclasses.fields(cls.config_class)}
        unknown = sorted(set(saved) - known) if isinstance(saved, dict) else []
        if unknown:
            raise checkpoint.CheckpointError(
                f"{path}: unknown [{cls.name}] settings {', '.join(unknown)} (written by another rnnkit version)"
            )
        return checkpoint.settings(cls.config_class, saved, path)
