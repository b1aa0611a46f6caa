"""TensorBoard histograms for a training run (with ``--tensorboard``; the trainer's monitor logs
the scalars): every recurrent layer's gate activations and states on the rows it was last fed,
and every parameter's gradient with its norm, at each metric-logging step."""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from rnnkit._util import one_thread
from rnnkit.layers import RecurrentLayer, as_rnnkit


class Histograms:
    """Keeps the latest input of each recurrent layer of ``model`` (a forward pre-hook) and writes
    histograms to ``writer`` (a torch.utils.tensorboard SummaryWriter) when ``log`` is called."""

    def __init__(self, model: nn.Module, writer, rows: int = 4):
        self.model, self.writer, self.rows = model, writer, rows
        self.inputs: dict[str, tuple[nn.Module, torch.Tensor]] = {}
        for name, module in model.named_modules():
            if isinstance(module, (RecurrentLayer, nn.RNNBase)):
                module.register_forward_pre_hook(partial(self._keep, name or "rnn"))

    def _keep(self, name: str, module: nn.Module, args: tuple) -> None:
        x = args[0]
        if isinstance(x, torch.Tensor) and x.dim() == 3:  # (T, N, I), or (N, T, I) with batch_first
            self.inputs[name] = (module, (x[: self.rows] if module.batch_first else x[:, : self.rows]).detach())

    def log(self, step: int) -> None:
        """Histograms gates/<layer>.<index>/<gate or state>, grad/<param>; scalars grad_norm/<param>."""
        for name, (module, x) in self.inputs.items():
            with one_thread():
                traces = as_rnnkit(module).trace_gates(x)  # {symbol: (L·D, ...)}
            for key, values in traces.items():
                for index, value in enumerate(values):
                    self.writer.add_histogram(f"gates/{name}.{index}/{key}", value, step)
        for name, p in self.model.named_parameters():
            if p.grad is not None:
                self.writer.add_histogram(f"grad/{name}", p.grad, step)
                self.writer.add_scalar(f"grad_norm/{name}", p.grad.norm().item(), step)
