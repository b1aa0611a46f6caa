"""GRU, in both published forms.

    r = σ(W_r x + U_r h_{t−1} + b_r)                          reset gate
    z = σ(W_z x + U_z h_{t−1} + b_z)                          update gate
    n = tanh(W_n x + b_in + r ∘ (U_n h_{t−1} + b_hn))         reset_after=True (cuDNN, torch)
    n = tanh(W_n x + U_n (r ∘ h_{t−1}) + b_n)                 reset_after=False (Cho et al. 2014)
    h_t = (1 − z) ∘ n + z ∘ h_{t−1}

Gate order in the weights is torch's: r, z, n. With reset_after=True the recurrent bias of the
candidate, b_hn = bias_hh[2H:], stays inside the product with r, so it is a recurrent parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.cells.base import Cell, recurrent_input


@dataclass(frozen=True)
class GRUCell(Cell):
    """GRU step; see the module docstring for the equations."""

    hidden_size: int
    reset_after: bool = True
    bias: bool = True

    state_names = ("h",)
    GATES = {"r": "reset gate", "z": "update gate", "n": "candidate"}

    @property
    def gate_size(self) -> int:
        return 3 * self.hidden_size

    @property
    def recurrent_names(self) -> tuple[str, ...]:
        return ("weight_hh", "bias_hn") if self.reset_after and self.bias else ("weight_hh",)

    def gate_values(self, saved):
        return dict(zip(self.GATES, saved["gates"].split(self.hidden_size, dim=-1)))

    def param_shapes(self, input_size, bias):
        H = self.hidden_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (3 * H, input_size), "weight_hh": (3 * H, H)}
        if bias:
            shapes.update(bias_ih=(3 * H,), bias_hh=(3 * H,))
        return shapes

    def input_projection(self, x, p):
        if "bias_ih" not in p:
            return F.linear(x, p["weight_ih"])
        b_ih, b_hh, H = p["bias_ih"], p["bias_hh"], self.hidden_size
        if self.reset_after:  # b_hn stays inside r ∘ (U_n h + b_hn)
            b_hh = torch.cat([b_hh[: 2 * H], torch.zeros_like(b_hh[2 * H :])])
        return F.linear(x, p["weight_ih"], b_ih + b_hh)

    def recurrent_params(self, p):
        rp = {"weight_hh": p["weight_hh"]}
        if "bias_hn" in self.recurrent_names:
            rp["bias_hn"] = p["bias_hh"][2 * self.hidden_size :]
        return tuple(rp[name] for name in self.recurrent_names)

    # ---- reference: the equations under autograd ---------------------------------------------
    def reference_step(self, xp_t, prev, rp, h_mask=None):
        (h,), H = prev, self.hidden_size
        U, h_in = rp[0], recurrent_input(h, h_mask)  # h_in: h as the recurrent products see it
        x_r, x_z, x_n = xp_t.split(H, dim=-1)
        h_r, h_z = (h_in @ U[: 2 * H].T).split(H, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        if self.reset_after:
            h_n = h_in @ U[2 * H :].T + (rp[1] if len(rp) > 1 else 0)
            n = torch.tanh(x_n + r * h_n)
        else:
            n = torch.tanh(x_n + (r * h_in) @ U[2 * H :].T)
        return ((1 - z) * n + z * h,)

    # ---- fast engine: forward step, saving what backward needs -------------------------------
    def new_saved(self, T, xp):
        N, H = xp.shape[1], self.hidden_size
        # gates: r, z, n activated; rec: U_n h + b_hn (reset_after) or r ∘ h (reset_before)
        return {"gates": torch.empty_like(xp), "rec": xp.new_empty(T, N, H)}

    def forward_step(self, t, xp_t, prev, out, rp, saved):
        (h,), H = prev, self.hidden_size
        U, a, rec = rp[0], saved["gates"][t], saved["rec"][t]
        r, z, n = a.split(H, dim=-1)
        x_n, h_in = xp_t[:, 2 * H :], recurrent_input(h, saved.get("h_mask"))
        if self.reset_after:
            hp = h_in @ U.T  # (N, 3H)
            torch.add(xp_t[:, : 2 * H], hp[:, : 2 * H], out=a[:, : 2 * H])
            a[:, : 2 * H].sigmoid_()
            rec.copy_(hp[:, 2 * H :])  # U_n h + b_hn
            if len(rp) > 1:
                rec.add_(rp[1])
            torch.addcmul(x_n, r, rec, out=n)
        else:
            torch.addmm(xp_t[:, : 2 * H], h_in, U[: 2 * H].T, out=a[:, : 2 * H])
            a[:, : 2 * H].sigmoid_()
            torch.mul(r, h_in, out=rec)
            torch.addmm(x_n, rec, U[2 * H :].T, out=n)
        n.tanh_()
        torch.addcmul(n, z, h - n, out=out[0])  # h_t = n + z ∘ (h_{t−1} − n)

    # ---- fast engine: backward step, hand-derived --------------------------------------------
    def new_grad_buffers(self, T, xp):
        grads = {"dxp": torch.empty_like(xp)}
        if self.reset_after:
            grads["dh_n"] = xp.new_empty(T, xp.shape[1], self.hidden_size)  # ∂L/∂(U_n h + b_hn)
        return grads

    def backward_step(self, t, dnew, prev, rp, saved, grads):
        (dh,), (h,), H = dnew, prev, self.hidden_size
        U, rec = rp[0], saved["rec"][t]
        r, z, n = saved["gates"][t].split(H, dim=-1)
        d_r, d_z, d_n = grads["dxp"][t].split(H, dim=-1)
        torch.mul(dh * (h - n), z * (1 - z), out=d_z)
        torch.mul(dh * (1 - z), 1 - n * n, out=d_n)
        h_mask = saved.get("h_mask")
        if self.reset_after:
            torch.mul(d_n * rec, r * (1 - r), out=d_r)
            dh_n = torch.mul(d_n, r, out=grads["dh_n"][t])
            dh_in = torch.cat([d_r, d_z, dh_n], dim=-1) @ U
        else:
            d_rh = d_n @ U[2 * H :]
            torch.mul(d_rh * recurrent_input(h, h_mask), r * (1 - r), out=d_r)
            dh_in = d_rh * r + grads["dxp"][t][:, : 2 * H] @ U[: 2 * H]
        return (dh * z + recurrent_input(dh_in, h_mask),)

    def recurrent_grads(self, states, saved, grads, rp):
        H = self.hidden_size
        dxp = grads["dxp"].reshape(-1, 3 * H)
        h_prev = recurrent_input(states[0][:-1], saved.get("h_mask")).reshape(-1, H)
        if self.reset_after:
            dh_n = grads["dh_n"].reshape(-1, H)
            dU = torch.cat([dxp[:, : 2 * H], dh_n], dim=-1).T @ h_prev
            return (dU, dh_n.sum(0)) if len(rp) > 1 else (dU,)
        dU_rz = dxp[:, : 2 * H].T @ h_prev
        dU_n = dxp[:, 2 * H :].T @ saved["rec"].reshape(-1, H)  # Σ_t dn_tᵀ (r ∘ h_{t−1})
        return (torch.cat([dU_rz, dU_n]),)
