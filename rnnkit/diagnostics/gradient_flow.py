"""Gradient flow through time: how ‖∂L/∂h_t‖ shrinks (vanishing) or grows (exploding) with the lag.

For a recurrent layer run over T steps of input, the loss reads the last state only,

    L = Σ_n w_nᵀ h_T,n,   w_n a random unit vector for each sequence n of the batch,

so ‖∂L/∂h_T‖ = 1 and ‖∂L/∂h_t‖ is the size of the signal that step t receives from step T,
through T − t applications of the recurrent Jacobian ∂h_{k+1}/∂h_k. For a tanh RNN that Jacobian
is diag(1 − h²) U, whose repeated product shrinks geometrically; the LSTM's additive cell path
c_t = f ∘ c_{t−1} + i ∘ g multiplies by the forget gate f instead, and the GRU's h_t = (1 − z) ∘ n
+ z ∘ h_{t−1} by the update gate z, so their gradients persist over longer lags.

The layer is run one step at a time (``layer(x_t, state)``) in float64 (so that ratios down to
~1e-300 do not underflow), keeping every h_t with ``retain_grad()``; the norms are averaged over a
batch of random input sequences, each with its own projection (row n's gradient depends on row n
only). ∂L/∂h_t is the gradient reaching h_t through everything after t (for an LSTM, through the
gates into c_{t+1} as well as through U h_t).

Shapes: T time steps, N batch, I input features, H hidden units.
"""

from __future__ import annotations

import copy
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from rnnkit._util import one_thread, pyplot
from rnnkit.diagnostics.gates import load_model, recurrent_layer
from rnnkit.layers import GRU, LSTM, RNN, RecurrentLayer

THRESHOLD = 1e-3  # the "vanished" level, relative to ‖∂L/∂h_T‖
CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


@dataclass
class Curve:
    """‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ for lags k = 0 .. T−1, under a name such as ``lstm (init)``."""

    name: str
    ratios: list[float]

    @property
    def vanish_lag(self) -> int | None:
        """The first lag k where the ratio falls below THRESHOLD; None if it never does within T."""
        return next((k for k, r in enumerate(self.ratios) if r < THRESHOLD), None)

    def at(self, lag: int) -> float:
        return self.ratios[lag]


def _step_input(x_t: torch.Tensor, layer: nn.Module) -> torch.Tensor:
    """One step x_t (N, I) as the layer's input: (1, N, I), or (N, 1, I) if batch_first."""
    return x_t.unsqueeze(1 if getattr(layer, "batch_first", False) else 0)


def gradient_norms(layer: nn.Module, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """‖∂L/∂h_t,n‖ for t = 1 .. T and each row n (shape (T, N)), L = Σ_n w_nᵀ h_T,n of the top layer.

    x: (T, N, I) inputs; w: (N, H) the loss projections. h_t is the whole stack's hidden state
    (layers, N, H), the norm taken over layers and units. Works for rnnkit's and torch.nn's RNN/LSTM/GRU.
    """
    hs, state = [], None
    for t in range(x.shape[0]):
        _, state = layer(_step_input(x[t], layer), state)
        h = state[0] if isinstance(state, tuple) else state  # (layers, N, H)
        h.retain_grad()
        hs.append(h)
    (hs[-1][-1] * w).sum().backward()
    return torch.stack([h.grad.pow(2).sum((0, 2)).sqrt() for h in hs])  # (T, N)


def measure(layer: RecurrentLayer | nn.RNNBase, x: torch.Tensor, seed: int = 0) -> list[float]:
    """Ratios ‖∂L/∂h_{T−k}‖ / ‖∂L/∂h_T‖ for k = 0 .. T−1, norms averaged over the N rows of x (T, N, I).

    Computed on a float64 copy of ``layer`` in evaluation mode (no dropout between layers).
    """
    layer = copy.deepcopy(layer).double().eval()
    w = torch.randn(x.shape[1], layer.hidden_size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    with one_thread():
        mean = gradient_norms(layer, x.double(), w / w.norm(dim=1, keepdim=True)).mean(1).flip(0)  # index = lag k
    return (mean / mean[0]).tolist()


def fresh_layer(cell: str, input_size: int, hidden_size: int, seed: int = 0, **options) -> RecurrentLayer:
    """An rnnkit layer of kind ``cell`` (rnn, lstm, gru) at initialisation (LSTM: forget bias 1)."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}")
    torch.manual_seed(seed)
    return CELLS[cell](input_size, hidden_size, **options)


def init_curves(
    cells: list[str],
    length: int,
    input_size: int = 32,
    hidden_size: int = 64,
    batch: int = 64,
    forget_bias: float = 1.0,
    seed: int = 0,
) -> list[Curve]:
    """One curve per cell kind at initialisation, on inputs x ~ N(0, 1) of shape (length, batch, input_size)."""
    x = torch.randn(length, batch, input_size, generator=torch.Generator().manual_seed(seed))
    curves = []
    for cell in cells:
        options = {"forget_bias": forget_bias} if cell == "lstm" else {}
        name = f"lstm (init, forget bias {forget_bias:g})" if cell == "lstm" else f"{cell} (init)"
        curves.append(Curve(name, measure(fresh_layer(cell, input_size, hidden_size, seed, **options), x, seed)))
    return curves


def checkpoint_curves(path: str | Path, length: int, batch: int = 64, seed: int = 0) -> list[Curve]:
    """The recurrent layer of a trained checkpoint, before (re-initialised) and after training.

    Both are fed the same inputs: the trained model's embeddings of uniformly random symbols if it
    embeds its input, Gaussian vectors otherwise; only the recurrent weights differ.
    """
    model, _ = load_model(path)
    layer = recurrent_layer(model)
    embed = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    g = torch.Generator().manual_seed(seed)
    if embed is not None and embed.embedding_dim == layer.input_size:
        x = embed(torch.randint(embed.num_embeddings, (length, batch), generator=g)).detach()
    else:
        x = torch.randn(length, batch, layer.input_size, generator=g)
    untrained = copy.deepcopy(layer)
    torch.manual_seed(seed)
    untrained.reset_parameters()
    kind = type(layer).__name__.lower()
    return [
        Curve(f"checkpoint {kind} (re-initialised)", measure(untrained, x, seed)),
        Curve(f"checkpoint {kind} (trained)", measure(layer, x, seed)),
    ]


def write_csv(curves: list[Curve], path: str | Path) -> None:
    """Columns: lag, then one ratio column per curve."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["lag"] + [c.name for c in curves])
        for k in range(len(curves[0].ratios)):
            out.writerow([k] + [f"{c.ratios[k]:.6e}" for c in curves])


def plot(curves: list[Curve], path: str | Path) -> None:
    """The ratios against the lag on a log scale, with the THRESHOLD line and each curve's vanishing lag."""
    fig, ax = pyplot().subplots(figsize=(7.5, 4.5))
    floor = 1e-30  # zeros (fully vanished, underflow) drawn at the bottom of the log axis
    for c in curves:
        lag = c.vanish_lag
        label = f"{c.name}: < 1e-3 at lag {lag}" if lag is not None else f"{c.name}: ≥ 1e-3 over all lags"
        ax.semilogy(range(len(c.ratios)), [max(r, floor) for r in c.ratios], label=label)
    ax.axhline(THRESHOLD, color="grey", linestyle="--", linewidth=1)
    low = min((r for c in curves for r in c.ratios if r > 0), default=THRESHOLD)
    ax.set_ylim(max(low, 1e-24) / 3, max(max(c.ratios) for c in curves) * 3)
    ax.set_xlabel("lag T − t (steps back from the loss)")
    ax.set_ylabel("‖∂L/∂h_t‖ / ‖∂L/∂h_T‖")
    ax.set_title("Gradient flow through time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    pyplot().close(fig)


def summary_lines(curves: list[Curve]) -> list[str]:
    """One line per curve: the vanishing lag and the ratio at a few lags."""
    T = len(curves[0].ratios)
    lags = [k for k in (10, 25, 50, 100, 200) if k < T]
    lines = []
    for c in curves:
        lag = c.vanish_lag
        where = f"falls below 1e-3 at lag {lag}" if lag is not None else f"stays above 1e-3 over all {T} lags"
        at = ", ".join(f"{k}: {c.at(k):.1e}" for k in lags if math.isfinite(c.at(k)))
        lines.append(f"{c.name}: {where} (ratio at lag {at})")
    return lines
