"""Checkpoints as safetensors + JSON, written atomically; pickle is never written nor read.

A run directory holds ``last`` and ``best``, each a symlink to a ``ckpt-<step>-<id>`` directory with

- ``model.safetensors``: the model's parameters and buffers (tied weights stored once);
- ``optim.safetensors``: the optimiser's tensors (``optim.<param>.<name>``) and the recurrent state
  carried between batches (``carry.<i>``) and, with weight averaging, the trained weights
  (``trained.<i>``; model.safetensors then holds the averaged ones, which predict);
- ``state.json``: the run state (step, epoch, RNG states, best metric, config, task meta such as
  the vocabulary) plus the optimiser's hyper-parameters and non-tensor entries.

A checkpoint directory is complete before it is published: it is written under a temporary name
and renamed, then the ``last``/``best`` symlink is swapped with ``os.replace``. A reader never
sees a half-written checkpoint, even if the writer is killed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

FORMAT = "rnnkit-checkpoint"
FILES = ("model.safetensors", "optim.safetensors", "state.json")


class CheckpointError(Exception):
    """A checkpoint that cannot be written or read; the message says why."""


def _flatten(state: Any, prefix: str, out: dict[str, torch.Tensor]) -> Any:
    """Moves the tensors of a nested state into `out`; returns its JSON structure with key names."""
    if isinstance(state, torch.Tensor):
        key = f"{prefix}{len(out)}"
        out[key] = state.detach().cpu().contiguous()
        return {"tensor": key}
    if isinstance(state, (tuple, list)):
        return {"seq": [_flatten(s, prefix, out) for s in state], "tuple": isinstance(state, tuple)}
    if isinstance(state, dict):
        return {"dict": {str(k): _flatten(v, prefix, out) for k, v in state.items()}}
    return {"value": state}


def _unflatten(spec: dict, tensors: dict[str, torch.Tensor]) -> Any:
    if "tensor" in spec:
        return tensors[spec["tensor"]]
    if "seq" in spec:
        items = [_unflatten(s, tensors) for s in spec["seq"]]
        return tuple(items) if spec["tuple"] else items
    if "dict" in spec:
        return {k: _unflatten(v, tensors) for k, v in spec["dict"].items()}
    return spec["value"]


def _all_finite(tensors) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors if t.is_floating_point())


def save(
    run_dir: str | Path,
    names: tuple[str, ...],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    carry: Any,
    state: dict,
    trained: list[torch.Tensor] | None = None,
) -> Path:
    """Writes one checkpoint and points each of `names` ("last", "best") at it; returns its path.
    `trained`: the weights training continues from when `model` holds their average (Trainer, ema).

    Raises CheckpointError, writing nothing, if any weight or optimiser tensor is NaN/Inf.
    """
    run_dir = Path(run_dir)
    tensors: dict[str, torch.Tensor] = {}
    optim_state = optimizer.state_dict()
    optim_spec = _flatten(optim_state["state"], "optim.", tensors)
    carry_spec = _flatten(carry, "carry.", tensors)
    trained_spec = _flatten(trained, "trained.", tensors)
    if not _all_finite(list(model.state_dict().values()) + list(tensors.values())):
        raise CheckpointError("refusing to save a checkpoint with NaN/Inf weights or optimiser state")
    state = {
        **state,
        "format": FORMAT,
        "version": 1,
        "optim_state": optim_spec,
        "optim_param_groups": optim_state["param_groups"],
        "carry": carry_spec,
        "trained": trained_spec,
    }
    final = run_dir / f"ckpt-{state['step']:08d}-{uuid.uuid4().hex[:8]}"  # never overwrites one in use
    tmp = run_dir / f".tmp-{final.name}"
    try:
        tmp.mkdir(parents=True)
        save_model(model, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "optim.safetensors"))
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        for f in FILES:
            with open(tmp / f, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
    except (OSError, SafetensorError) as err:  # e.g. disk full: the previous checkpoints stay as they were
        shutil.rmtree(tmp, ignore_errors=True)
        reason = getattr(err, "strerror", None) or str(err)
        raise OSError(
            getattr(err, "errno", None),
            f"cannot write a checkpoint in {run_dir} ({reason}); `last` and `best` still point at the previous ones",
        ) from None
    for name in names:
        link = run_dir / f".tmp-{name}-{os.getpid()}"
        link.unlink(missing_ok=True)
        link.symlink_to(final.name)
        os.replace(link, run_dir / name)
    _remove_unreferenced(run_dir)
    return final


def _remove_unreferenced(run_dir: Path) -> None:
    """Deletes ckpt-* directories that neither `last` nor `best` points to, and temporaries left by
    a writer that was killed (there is one writer per run directory)."""
    kept = {os.readlink(run_dir / n) for n in ("last", "best") if (run_dir / n).is_symlink()}
    for d in run_dir.glob("ckpt-*"):
        if d.name not in kept:
            shutil.rmtree(d, ignore_errors=True)
    for d in run_dir.glob(".tmp-ckpt-*"):
        shutil.rmtree(d, ignore_errors=True)


def read_state(path: str | Path, task: str | None = None) -> dict:
    """The state.json of the checkpoint at `path` (a checkpoint directory, or a run directory,
    meaning its `last`), after checking that it is an rnnkit safetensors + JSON checkpoint (of
    `task`, if given). Its "meta" is a dict ({} if the writer gave none)."""
    path = Path(path)
    if path.is_dir() and (path / "last").exists():
        path = path / "last"
    if path.is_file():
        raise CheckpointError(
            f"{path} is a file; rnnkit loads checkpoint directories of safetensors + "
            "JSON only (pickle files such as .pt/.pth/.bin are never loaded)"
        )
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise CheckpointError(f"{path} is not an rnnkit checkpoint: missing {', '.join(missing)}")
    try:
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path / 'state.json'} is not valid JSON: {err}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path / 'state.json'} is not an rnnkit checkpoint state")
    meta = state.setdefault("meta", {})
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path / 'state.json'}: meta is not a JSON object")
    if task is not None and meta.get("task") != task:
        raise CheckpointError(f"{path} is a checkpoint of task {meta.get('task')!r}, not {task!r}")
    state["path"] = str(path)
    return state


def settings(cls: type, values: Any, path: str | Path, earlier: dict[str, Any] | None = None) -> Any:
    """`cls(**values)`: a task's config dataclass rebuilt from a checkpoint's meta, a setting it lacks
    taken from `earlier` (what the model was before the setting existed) or else cls's default;
    unknown or invalid settings are a CheckpointError naming the checkpoint."""
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: the saved {cls.__name__} is not a JSON object")
    try:
        return cls(**{**(earlier or {}), **values})
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: saved settings do not fit {cls.__name__}: {err}") from None


def load(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, task: str | None = None):
    """Loads weights (and optimiser state) from the checkpoint at `path` (of `task`, if given);
    returns (state, carry), state["trained"] the trained weights if the model's are their average."""
    state = read_state(path, task)
    path = Path(state["path"])
    try:
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False)
        tensors = load_file(str(path / "optim.safetensors"))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: unreadable safetensors file: {err}") from None
    except RuntimeError as err:  # shapes that differ from the model's
        raise CheckpointError(f"{path}: weights do not match the model: {str(err).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model (missing {sorted(missing)}, unexpected {sorted(unexpected)})"
        )
    try:
        if optimizer is not None:
            optim_state = _unflatten(state["optim_state"], tensors)
            optimizer.load_state_dict(
                {"state": {int(k): v for k, v in optim_state.items()}, "param_groups": state["optim_param_groups"]}
            )
        state["trained"] = _unflatten(state.get("trained", {"value": None}), tensors)
        return state, _unflatten(state["carry"], tensors)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: optimiser or carried state does not match its tensors ({type(err).__name__}: {err})"
        ) from None
