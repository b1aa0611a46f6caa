"""Export to ONNX and TorchScript, through torch.nn twins of rnnkit's layers.

ONNX and TorchScript know torch.nn.LSTM / GRU / RNN, not rnnkit's autograd.Function. So an export
first copies the model and swaps every rnnkit layer for its torch twin (``layer.to_torch()``, same
weights): the standard cells convert, and a configuration torch lacks (peepholes, CIFG, layer norm,
softsign, reset-before GRU, sigmoid/softsign RNN, zoneout) is refused with a ValueError naming it.
The twin is traced, so models that pass ``lengths=`` to their layers cannot be exported.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.layers import RecurrentLayer

FORMATS = ("onnx", "torchscript")


class _NoLengths(nn.Module):
    """A torch layer that refuses ``lengths=``, which a traced export cannot honour."""

    def __init__(self, layer: nn.RNNBase):
        super().__init__()
        self.layer = layer

    def forward(self, input, hx=None, lengths=None):
        if lengths is not None:
            raise ValueError(
                "this model passes lengths= to its recurrent layers; export supports "
                "fixed-length models (language models, forecasters), not variable-length ones"
            )
        return self.layer(input, hx)


def torch_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in evaluation mode whose rnnkit layers are torch.nn layers with the same weights."""
    twin = copy.deepcopy(model).eval()
    if isinstance(twin, RecurrentLayer):
        return twin.to_torch().eval()
    for name, module in list(twin.named_modules()):
        if isinstance(module, RecurrentLayer):
            parent_name, _, attr = name.rpartition(".")
            parent = twin.get_submodule(parent_name) if parent_name else twin
            setattr(parent, attr, _NoLengths(module.to_torch().eval()))
    return twin


class _FirstOutput(nn.Module):
    """Keeps only a model's first output (e.g. logits of ``(logits, loss, state)``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        out = self.model(*inputs)
        return out[0] if isinstance(out, tuple) else out


def export(
    model: nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    path: str | Path,
    fmt: str,
    input_names: list[str],
    dynamic: dict[str, dict[int, str]],
) -> Path:
    """Write ``model``'s first output as a function of ``example_inputs`` to ``path`` in format ``fmt``.

    ``dynamic`` names the axes that may change size (e.g. ``{"ids": {0: "batch", 1: "time"}}``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
    wrapped = _FirstOutput(torch_twin(model)).eval()
    path = Path(path)
    with torch.no_grad():
        wrapped(*example_inputs)  # fails here, with a clear message, for what cannot be exported
        if fmt == "onnx":
            kwargs: dict[str, Any] = (
                {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
            )
            torch.onnx.export(wrapped, example_inputs, str(path), input_names=input_names, output_names=["output"],
                              dynamic_axes=dynamic, **kwargs)  # fmt: skip
        else:
            torch.jit.trace(wrapped, example_inputs).save(str(path))  # pyright: ignore[reportAttributeAccessIssue]
    return path


def export_checkpoint(path: str | Path, fmt: str, out: str | Path) -> Path:
    """Export the model of a saved run: a language model (ids (N, T) → logits (N, T, V)) or a
    forecaster (windows (N, L, F + S) → outputs (N, L, S, K)); other tasks read variable-length
    inputs and are refused with a ValueError."""
    from rnnkit.train import checkpoint

    task = checkpoint.read_state(path)["meta"].get("task")
    if task == "lm":
        from rnnkit.tasks.lm import LanguageModel

        model = LanguageModel.load(path).model
        assert model is not None  # load builds the model
        example, name = torch.zeros(1, 8, dtype=torch.long), "ids"
    elif task == "forecast":
        from rnnkit.tasks.forecast import load_forecaster

        model, cfg, _, _ = load_forecaster(path)
        example, name = torch.zeros(1, cfg.lookback, model.n_features + model.steps), "window"
    else:
        raise ValueError(
            f"{path} holds a {task!r} model; export supports language models (lm) and forecasters "
            "(forecast), whose inputs have a fixed layout"
        )
    return export(model, (example,), out, fmt, [name], {name: {0: "batch", 1: "time"}})
