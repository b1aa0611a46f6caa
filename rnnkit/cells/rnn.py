"""Elman RNN: h_t = φ(W x_t + U h_{t−1} + b), φ ∈ {tanh, sigmoid, relu, softsign}."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.cells.base import ACTIVATIONS, Cell, activate, activation_grad, check_choice


@dataclass(frozen=True)
class RNNCell(Cell):
    """Elman step. Parameters: weight_ih (H, I) = W, weight_hh (H, H) = U, bias_ih + bias_hh = b."""

    hidden_size: int
    nonlinearity: str = "tanh"

    state_names = ("h",)
    recurrent_names = ("weight_hh",)

    def __post_init__(self):
        check_choice("nonlinearity", self.nonlinearity, ACTIVATIONS)

    @property
    def gate_size(self) -> int:
        return self.hidden_size

    def param_shapes(self, input_size, bias):
        H = self.hidden_size
        shapes = {"weight_ih": (H, input_size), "weight_hh": (H, H)}
        if bias:
            shapes.update(bias_ih=(H,), bias_hh=(H,))
        return shapes

    def input_projection(self, x, p):
        b = p["bias_ih"] + p["bias_hh"] if "bias_ih" in p else None
        return F.linear(x, p["weight_ih"], b)

    def reference_step(self, xp_t, prev, rp):
        (h,), (U,) = prev, rp
        return (activate(self.nonlinearity, xp_t + h @ U.T),)

    def forward_step(self, t, xp_t, prev, out, rp, saved):
        torch.addmm(xp_t, prev[0], rp[0].T, out=out[0])  # pre = xp_t + h U^T
        out[0].copy_(activate(self.nonlinearity, out[0]))

    def backward_step(self, t, dcur, prev, cur, rp, saved, grads):
        dpre = torch.mul(dcur[0], activation_grad(self.nonlinearity, cur[0]), out=grads["dxp"][t])
        return (dpre @ rp[0],)

    def recurrent_grads(self, states, saved, grads, rp):
        H = self.hidden_size
        return (grads["dxp"].reshape(-1, H).T @ states[0][:-1].reshape(-1, H),)  # dU = Σ_t dpre_tᵀ h_{t−1}
