"""LSTM, with optional peepholes (Graves), coupled input-forget gate (CIFG) and layer norm.

    i = σ(W_i x + U_i h_{t−1} + p_i ∘ c_{t−1} + b_i)          input gate
    f = σ(W_f x + U_f h_{t−1} + p_f ∘ c_{t−1} + b_f)          forget gate   (CIFG: f = 1 − i)
    g = act(W_g x + U_g h_{t−1} + b_g)                        cell input
    c_t = f ∘ c_{t−1} + i ∘ g                                 the additive memory path
    o = σ(W_o x + U_o h_{t−1} + p_o ∘ c_t + b_o)              output gate
    h_t = o ∘ act(c_t)

act is tanh (or softsign); the peephole terms p ∘ c exist only with ``peephole=True``. With
``layer_norm=True`` (Ba et al. 2016, as in haste's LayerNormLSTM) the two projections are
normalised separately over all G gates, W x + b → γ_x ∘ LN(W x) + b and U h → γ_h ∘ LN(U h), and
the output reads h_t = o ∘ act(γ_c ∘ LN(c_t) + β_c). The input projection ``xp`` is then W x
alone, and its layer norm is part of the step (``ln_ih_weight`` γ_x, ``ln_ih_bias`` b = b_ih + b_hh),
so that the time loop normalises each row of W x while it is in cache, for both layer norms at once.

Gate order in the weights is torch's: i, f, g, o (CIFG: i, g, o).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rnnkit.cells.base import (
    LN_EPS,
    Cell,
    activate,
    activation_grad,
    check_choice,
    layer_norm,
    layer_norm_backward,
    recurrent_input,
)


@dataclass(frozen=True)
class LSTMCell(Cell):
    """LSTM step; see the module docstring for the equations."""

    hidden_size: int
    peephole: bool = False
    cifg: bool = False
    layer_norm: bool = False
    activation: str = "tanh"

    state_names = ("h", "c")
    GATES = {"i": "input gate", "f": "forget gate", "g": "cell input", "o": "output gate"}

    def __post_init__(self):
        check_choice("activation", self.activation, ("tanh", "softsign"))

    @property
    def gates(self) -> str:
        """The gate blocks of xp, in order (CIFG computes no f block: f = 1 − i)."""
        return "igo" if self.cifg else "ifgo"

    def gate_values(self, saved):
        values = self._blocks(saved["gates"])
        if self.cifg:
            values["f"] = 1 - values["i"]
        return {name: values[name] for name in self.GATES}

    @property
    def gate_size(self) -> int:
        return len(self.gates) * self.hidden_size

    @property
    def recurrent_names(self) -> tuple[str, ...]:
        names = ["weight_hh"]
        if self.peephole:
            names.append("weight_peephole")
        if self.layer_norm:
            names += ["ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_cell_weight", "ln_cell_bias"]
        return tuple(names)

    def recurrent_params(self, p):
        """As Cell's, plus with layer norm ``ln_ih_bias`` b = b_ih + b_hh (zeros without biases)."""
        if not self.layer_norm:
            return super().recurrent_params(p)
        bias = p["bias_ih"] + p["bias_hh"] if "bias_ih" in p else p["weight_hh"].new_zeros(self.gate_size)
        return tuple(bias if name == "ln_ih_bias" else p[name] for name in self.recurrent_names)

    def param_shapes(self, input_size, bias):
        H, G = self.hidden_size, self.gate_size
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (G, input_size), "weight_hh": (G, H)}
        if bias:
            shapes.update(bias_ih=(G,), bias_hh=(G,))
        if self.peephole:
            shapes["weight_peephole"] = ((len(self.gates) - 1) * H,)  # p_i, [p_f,] p_o
        if self.layer_norm:
            shapes.update(ln_ih_weight=(G,), ln_hh_weight=(G,), ln_cell_weight=(H,), ln_cell_bias=(H,))
        return shapes

    def input_projection(self, x, p):
        """W x + b; with layer norm W x alone (the step normalises it: see the module docstring)."""
        if self.layer_norm or "bias_ih" not in p:
            return F.linear(x, p["weight_ih"])
        return F.linear(x, p["weight_ih"], p["bias_ih"] + p["bias_hh"])

    # ---- helpers shared by the three forms of the step -------------------------------------
    def _blocks(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split (N, G) into named gate blocks (views)."""
        return dict(zip(self.gates, z.split(self.hidden_size, dim=-1)))

    def _peepholes(self, rp: dict) -> dict[str, torch.Tensor]:
        if not self.peephole:
            return {}
        names = "io" if self.cifg else "ifo"
        return dict(zip(names, rp["weight_peephole"].split(self.hidden_size)))

    # ---- reference: the equations under autograd ---------------------------------------------
    def reference_step(self, xp_t, prev, rp, h_mask=None):
        h, c = prev
        rp = dict(zip(self.recurrent_names, rp))
        hp = recurrent_input(h, h_mask) @ rp["weight_hh"].T
        if self.layer_norm:
            G = (self.gate_size,)
            xp_t = F.layer_norm(xp_t, G, rp["ln_ih_weight"], rp["ln_ih_bias"], LN_EPS)
            hp = F.layer_norm(hp, G, rp["ln_hh_weight"], None, LN_EPS)
        pre, peep = self._blocks(xp_t + hp), self._peepholes(rp)
        i = torch.sigmoid(pre["i"] + peep["i"] * c if peep else pre["i"])
        f = 1 - i if self.cifg else torch.sigmoid(pre["f"] + peep["f"] * c if peep else pre["f"])
        g = activate(self.activation, pre["g"])
        c_new = f * c + i * g
        o = torch.sigmoid(pre["o"] + peep["o"] * c_new if peep else pre["o"])
        c_out = c_new
        if self.layer_norm:
            c_out = F.layer_norm(c_new, (self.hidden_size,), rp["ln_cell_weight"], rp["ln_cell_bias"], LN_EPS)
        return o * activate(self.activation, c_out), c_new

    # ---- fast engine: forward step, saving what backward needs -------------------------------
    def new_saved(self, T, xp):
        N, H = xp.shape[1], self.hidden_size
        saved = {"gates": torch.empty_like(xp), "act_c": xp.new_empty(T, N, H)}
        if self.peephole:
            saved["c_new"] = xp.new_empty(T, N, H)  # c̃_t, which the output gate's peephole reads
        if self.layer_norm:
            saved.update(
                ih_norm=torch.empty_like(xp), ih_rstd=xp.new_empty(T, N, 1),
                hh_norm=torch.empty_like(xp), hh_rstd=xp.new_empty(T, N, 1),
                c_norm=xp.new_empty(T, N, H), c_rstd=xp.new_empty(T, N, 1),
            )  # fmt: skip
        return saved

    def forward_step(self, t, xp_t, prev, out, rp, saved):
        (h, c), (h_out, c_out) = prev, out
        rp = dict(zip(self.recurrent_names, rp))
        act = saved["gates"][t]  # (N, G): pre-activations first, activated in place below
        h = recurrent_input(h, saved.get("h_mask"))
        if self.layer_norm:  # pre = γ_x ∘ LN(W x) + b + γ_h ∘ LN(U h)
            ih_norm, ih_rstd = layer_norm(xp_t)
            hh_norm, hh_rstd = layer_norm(h @ rp["weight_hh"].T)
            saved["ih_norm"][t], saved["ih_rstd"][t] = ih_norm, ih_rstd
            saved["hh_norm"][t], saved["hh_rstd"][t] = hh_norm, hh_rstd
            torch.addcmul(rp["ln_ih_bias"], ih_norm, rp["ln_ih_weight"], out=act)
            act.addcmul_(hh_norm, rp["ln_hh_weight"])
        else:
            torch.addmm(xp_t, h, rp["weight_hh"].T, out=act)
        a, peep = self._blocks(act), self._peepholes(rp)
        if peep:
            a["i"].addcmul_(peep["i"], c)
            if not self.cifg:
                a["f"].addcmul_(peep["f"], c)
        a["i"].sigmoid_()
        if not self.cifg:
            a["f"].sigmoid_()
        a["g"].copy_(activate(self.activation, a["g"]))
        f = 1 - a["i"] if self.cifg else a["f"]
        torch.addcmul(f * c, a["i"], a["g"], out=c_out)  # c_t = f c_{t−1} + i g
        if peep:
            saved["c_new"][t] = c_out
            a["o"].addcmul_(peep["o"], c_out)
        a["o"].sigmoid_()
        c_read = c_out
        if self.layer_norm:
            c_norm, c_rstd = layer_norm(c_out)
            saved["c_norm"][t], saved["c_rstd"][t] = c_norm, c_rstd
            c_read = torch.addcmul(rp["ln_cell_bias"], c_norm, rp["ln_cell_weight"])
        act_c = saved["act_c"][t]
        act_c.copy_(activate(self.activation, c_read))
        torch.mul(a["o"], act_c, out=h_out)  # h_t = o act(c_t)

    # ---- fast engine: backward step, hand-derived --------------------------------------------
    def new_grad_buffers(self, T, xp):
        """dxp (T, N, G); with layer norm dhp (T, N, G), ∂L/∂(U h_{t−1}); and the gradients of the
        peepholes and of the layer norms' gains and biases, summed over steps."""
        H, G = self.hidden_size, self.gate_size
        grads = {"dxp": torch.empty_like(xp)}
        if self.peephole:
            grads["weight_peephole"] = xp.new_zeros(G - H)
        if self.layer_norm:
            grads.update(dhp=torch.empty_like(xp), ln_ih_weight=xp.new_zeros(G), ln_ih_bias=xp.new_zeros(G),
                         ln_hh_weight=xp.new_zeros(G), ln_cell_weight=xp.new_zeros(H),
                         ln_cell_bias=xp.new_zeros(H))  # fmt: skip
        return grads

    def backward_step(self, t, dnew, prev, rp, saved, grads):
        (dh, dc), c_prev = dnew, prev[1]
        rp = dict(zip(self.recurrent_names, rp))
        a, peep, act_c = self._blocks(saved["gates"][t]), self._peepholes(rp), saved["act_c"][t]
        dpre = grads["dxp"][t]  # ∂L/∂(gate pre-activations), written block by block
        d = self._blocks(dpre)
        # h_t = o ∘ act(c_read)
        torch.mul(dh * act_c, a["o"] * (1 - a["o"]), out=d["o"])
        d_read = dh * a["o"] * activation_grad(self.activation, act_c)
        if self.layer_norm:  # c_read = γ_c ∘ LN(c_t) + β_c
            grads["ln_cell_weight"] += (d_read * saved["c_norm"][t]).sum(0)
            grads["ln_cell_bias"] += d_read.sum(0)
            d_read = layer_norm_backward(d_read * rp["ln_cell_weight"], saved["c_norm"][t], saved["c_rstd"][t])
        dc = dc + d_read
        if peep:
            dc = dc + d["o"] * peep["o"]
        # c_t = f ∘ c_{t−1} + i ∘ g
        f = 1 - a["i"] if self.cifg else a["f"]
        di = dc * a["g"] - dc * c_prev if self.cifg else dc * a["g"]
        torch.mul(di, a["i"] * (1 - a["i"]), out=d["i"])
        if not self.cifg:
            torch.mul(dc * c_prev, f * (1 - f), out=d["f"])
        torch.mul(dc * a["i"], activation_grad(self.activation, a["g"]), out=d["g"])
        dc_prev = dc * f
        if peep:
            dc_prev = dc_prev + d["i"] * peep["i"]
            if not self.cifg:
                dc_prev = dc_prev + d["f"] * peep["f"]
            p = [(d["i"] * c_prev).sum(0)] + ([] if self.cifg else [(d["f"] * c_prev).sum(0)])
            grads["weight_peephole"] += torch.cat([*p, (d["o"] * saved["c_new"][t]).sum(0)])
        # pre = xp + U h_{t−1}; with layer norm γ_x ∘ LN(xp) + b + γ_h ∘ LN(U h_{t−1})
        dhp = dpre
        if self.layer_norm:
            for side in ("ih", "hh"):
                grads[f"ln_{side}_weight"] += (dpre * saved[f"{side}_norm"][t]).sum(0)
            grads["ln_ih_bias"] += dpre.sum(0)
            dhp = layer_norm_backward(dpre * rp["ln_hh_weight"], saved["hh_norm"][t], saved["hh_rstd"][t])
            grads["dhp"][t] = dhp
            dpre.copy_(layer_norm_backward(dpre * rp["ln_ih_weight"], saved["ih_norm"][t], saved["ih_rstd"][t]))
        return recurrent_input(dhp @ rp["weight_hh"], saved.get("h_mask")), dc_prev

    def recurrent_grads(self, states, saved, grads, rp):
        """∂L/∂U = Σ_t dhp_tᵀ h_{t−1} as one GEMM (dhp = dxp without layer norm); the peephole and
        layer-norm gradients were summed over steps by the backward loop, while each step's rows were at hand."""
        H, G = self.hidden_size, self.gate_size
        dhp = grads["dhp"] if self.layer_norm else grads["dxp"]
        h_prev = recurrent_input(states[0][:-1], saved.get("h_mask"))
        out = {**grads, "weight_hh": dhp.reshape(-1, G).T @ h_prev.reshape(-1, H)}
        return tuple(out[name] for name in self.recurrent_names)
