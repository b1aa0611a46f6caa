"""Elman RNN: h_t = φ(W x_t + U h_{t−1} + b), φ ∈ {tanh, sigmoid, relu, softsign}."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.cells.base import ACTIVATIONS, Cell, activate, activation_grad, check_choice, recurrent_input


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
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (H, input_size), "weight_hh": (H, H)}
        if bias:
            shapes.update(bias_ih=(H,), bias_hh=(H,))
        return shapes

    def input_projection(self, x, p):
        b = p["bias_ih"] + p["bias_hh"] if "bias_ih" in p else None
        return F.linear(x, p["weight_ih"], b)

    def reference_step(self, xp_t, prev, rp, h_mask=None):
        (h,), (U,) = prev, rp
        return (activate(self.nonlinearity, xp_t + recurrent_input(h, h_mask) @ U.T),)

    def new_saved(self, T, xp):
        return {"h": torch.empty_like(xp)}  # h̃_t = φ(pre_t)

    def forward_step(self, t, xp_t, prev, out, rp, saved):
        h = saved["h"][t]
        torch.addmm(xp_t, recurrent_input(prev[0], saved.get("h_mask")), rp[0].T, out=h)  # xp_t + h Uᵀ
        h.copy_(activate(self.nonlinearity, h))
        out[0].copy_(h)

    def backward_step(self, t, dnew, prev, rp, saved, grads):
        dpre = torch.mul(dnew[0], activation_grad(self.nonlinearity, saved["h"][t]), out=grads["dxp"][t])
        return (recurrent_input(dpre @ rp[0], saved.get("h_mask")),)

    def recurrent_grads(self, states, saved, grads, rp):
        H = self.hidden_size
        h_prev = recurrent_input(states[0][:-1], saved.get("h_mask"))
        return (grads["dxp"].reshape(-1, H).T @ h_prev.reshape(-1, H),)  # dU = Σ_t dpre_tᵀ h_{t−1}
