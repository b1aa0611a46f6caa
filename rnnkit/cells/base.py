"""What every cell family provides, and the element-wise functions the cells share.

Shape letters, used in every docstring and comment of rnnkit:
    T  time steps            N  batch size
    I  input features        H  hidden units
    G  gate pre-activations of one step (a multiple of H: 4H for LSTM, 3H for GRU, H for RNN)

A cell is an immutable description of one recurrent step: it holds no weights. The layer that
scans it (rnnkit.layers) owns the parameters and hands them to the cell as a dict (whole-sequence
input projection) or as a tuple of recurrent parameters (inside the time loop). Each family
writes its step three times, side by side in one file:

* ``reference_step``: the equations under autograd (the ground truth, usable in float64);
* ``forward_step`` / ``backward_step``: the same step for the fast engine, saving what the
  hand-derived backward needs and computing that backward, one step at a time;
* ``recurrent_grads``: the weight gradients, as whole-sequence GEMMs and reductions once the
  backward loop is over.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ACTIVATIONS = ("tanh", "sigmoid", "relu", "softsign")


def activate(name: str, x: torch.Tensor) -> torch.Tensor:
    """φ(x) for φ in tanh, sigmoid (logistic), relu, softsign x / (1 + |x|)."""
    if name == "tanh":
        return torch.tanh(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "relu":
        return torch.relu(x)
    return F.softsign(x)


def activation_grad(name: str, y: torch.Tensor) -> torch.Tensor:
    """φ'(x) written in terms of the output y = φ(x), so only y needs saving.

    tanh: 1 − y², sigmoid: y(1 − y), relu: [y > 0], softsign: (1 − |y|)².
    """
    if name == "tanh":
        return 1 - y * y
    if name == "sigmoid":
        return y * (1 - y)
    if name == "relu":
        return (y > 0).to(y.dtype)
    return (1 - y.abs()) ** 2


def check_choice(argument: str, value, choices) -> None:
    """Raise a ValueError naming the argument when ``value`` is not one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{argument} must be one of {', '.join(map(str, choices))}; got {value!r}")


LN_EPS = 1e-5


def layer_norm(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """n = (x − mean(x)) / sqrt(var(x) + ε) over the last dimension; returns n and 1/sqrt(var + ε)."""
    mean = x.mean(-1, keepdim=True)
    centred = x - mean
    rstd = torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + LN_EPS)
    return centred * rstd, rstd


def layer_norm_backward(dn: torch.Tensor, n: torch.Tensor, rstd: torch.Tensor) -> torch.Tensor:
    """∂L/∂x from ∂L/∂n for n = layer_norm(x): rstd · (dn − mean(dn) − n · mean(dn ∘ n))."""
    return rstd * (dn - dn.mean(-1, keepdim=True) - n * (dn * n).mean(-1, keepdim=True))


def recurrent_input(h: torch.Tensor, h_mask: torch.Tensor | None) -> torch.Tensor:
    """h ∘ m, what enters the recurrent products under variational recurrent dropout (m = None: h)."""
    return h if h_mask is None else h * h_mask


class Cell:
    """The contract of a cell family (see the module docstring).

    Attributes set by each family:
        hidden_size: H.
        gate_size: G, the width of the input projection ``xp``.
        state_names: names of the state tensors, ``("h",)`` or ``("h", "c")``; h comes first.
        recurrent_names: names of the parameters used inside the time loop, in the order of the
            ``rp`` tuple handed to the steps (present parameters only).
        GATES: the family's gates, equation symbol -> name, in weight order (empty: no gates).
    """

    GATES: dict[str, str] = {}
    hidden_size: int
    gate_size: int
    state_names: tuple[str, ...]
    recurrent_names: tuple[str, ...]

    def param_shapes(self, input_size: int, bias: bool) -> dict[str, tuple[int, ...]]:
        """Shapes of one layer-direction's parameters, by name (torch's names where torch has them)."""
        raise NotImplementedError

    def input_projection(self, x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
        """xp = x Wᵀ + b for all steps at once: (T, N, I) -> (T, N, G). Differentiable."""
        raise NotImplementedError

    def recurrent_params(self, p: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The tensors the time loop uses, in ``recurrent_names`` order."""
        return tuple(p[name] for name in self.recurrent_names)

    def reference_step(self, xp_t, prev, rp, h_mask=None):
        """One step under autograd: (xp_t (N, G), prev state tuple) -> new state tuple.

        ``h_mask`` (N, H) is the recurrent-dropout mask on h_{t−1} in the recurrent products; the fast
        steps find it as ``saved.get("h_mask")``.
        """
        raise NotImplementedError

    def new_saved(self, T: int, xp: torch.Tensor) -> dict[str, torch.Tensor]:
        """Buffers the forward loop fills for the backward loop.

        Gated cells keep ``gates`` (T, N, G): the activated gates in weight order (LSTM i, f, g, o or
        i, g, o under CIFG; GRU r, z, n); ``gate_values`` reads them from there.
        """
        return {}

    def gate_values(self, saved: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every step's activated gates, {symbol: (T, N, H)} in ``GATES`` order, from the buffers
        the forward loop filled (nothing is recomputed)."""
        return {}

    def forward_step(self, t, xp_t, prev, out, rp, saved) -> None:
        """One step of the fast forward: write the new state into ``out`` and activations into ``saved``."""
        raise NotImplementedError

    def new_grad_buffers(self, T: int, xp: torch.Tensor) -> dict[str, torch.Tensor]:
        """Buffers the backward loop fills: at least ``dxp`` (T, N, G)."""
        return {"dxp": torch.empty_like(xp)}

    def backward_step(self, t, dnew, prev, rp, saved, grads):
        """One step of the hand-derived backward.

        Args:
            dnew: ∂L/∂(the new state this step computed), one tensor per state. The engine's state
                buffers may hold a blend of new and previous state (lengths, zoneout), so what the
                step computed is read from ``saved``, never from the state after the step.
            prev: the states the step started from.
        Writes ∂L/∂xp_t into ``grads["dxp"][t]`` and returns ∂L/∂prev through this step.
        """
        raise NotImplementedError

    def recurrent_grads(self, states, saved, grads, rp) -> tuple[torch.Tensor, ...]:
        """Gradients of the recurrent parameters, after the backward loop, in ``recurrent_names`` order."""
        raise NotImplementedError
