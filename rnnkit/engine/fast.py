"""The fast scan: forward over the whole sequence, then a hand-derived backward through time.

Only the recurrent step stays inside the time loop. The input projection of all steps (one GEMM)
happens before the scan under ordinary autograd; the scan returns ∂L/∂xp for all steps at once,
so ∂L/∂W and ∂L/∂x are whole-sequence GEMMs, and the cell turns its per-step buffers into the
recurrent weight gradients (∂L/∂U = Σ_t dpre_tᵀ h_{t−1} as one GEMM, peephole and layer-norm
gains as reductions) after the loop.

Buffers (shape letters as in rnnkit.cells.base):
    `states[k]`  (T+1, N, H)  state k at every step, `states[k][0]` = initial state
    `saved`      cell-specific activations, filled by the forward loop
    `grads`      cell-specific gradients, filled by the backward loop; `grads["dxp"]` is (T, N, G)
"""

from __future__ import annotations

import torch

from rnnkit.cells.base import Cell
from rnnkit.engine import compiled
from rnnkit.engine.masks import NO_MASKS, ScanMasks, blend


def forward_loop(cell: Cell, xp, state0, rp, masks: ScanMasks):
    """Run the cell over all steps; returns (states, saved)."""
    T = xp.shape[0]
    states = tuple(s.new_empty((T + 1,) + s.shape) for s in state0)
    for buf, s in zip(states, state0):
        buf[0] = s
    saved = cell.new_saved(T, xp)
    if masks.h_mask is not None:
        saved["h_mask"] = masks.h_mask
    updates = masks.updates(len(state0))
    for t in range(T):
        prev, out = tuple(s[t] for s in states), tuple(s[t + 1] for s in states)
        cell.forward_step(t, xp[t], prev, out, rp, saved)
        for o, p, u in zip(out, prev, updates):  # frozen past the end; zoneout
            if u is not None:
                o.copy_(blend(u[t], o, p))
    return states, saved


def backward_loop(cell: Cell, xp, states, saved, rp, masks: ScanMasks, d_output, d_final):
    """Back-propagate through time; returns (grads buffers, ∂L/∂state0)."""
    T = xp.shape[0]
    grads = cell.new_grad_buffers(T, xp)
    updates = tuple(None if u is None else u.to(xp.dtype) for u in masks.updates(len(states)))
    d_output = masks.output(d_output)
    dstate = list(d_final)
    for t in reversed(range(T)):
        dstate[0] = dstate[0] + d_output[t]
        prev = tuple(s[t] for s in states)
        # s_t = u s̃_t + (1 − u) s_{t−1}: the share u flows into the cell, the rest straight to s_{t−1}
        d_new = tuple(d if u is None else d * u[t] for d, u in zip(dstate, updates))
        through = cell.backward_step(t, d_new, prev, rp, saved, grads)
        dstate = [dc if u is None else dc + d * (1 - u[t]) for dc, d, u in zip(through, dstate, updates)]
    return grads, tuple(dstate)


class FastScan(torch.autograd.Function):
    """autograd.Function around the forward / backward loops: the compiled ones
    (rnnkit.engine.compiled) when they are built and handle the cell, else the Python ones above.

    apply(cell, masks, n_state, xp, *state0, *rp) -> (output (T, N, H), *final_state)

    Everything the backward reads goes through save_for_backward (so saved-tensor hooks and the
    in-place checks see it); xp itself is not kept, only its shape.
    """

    @staticmethod
    def forward(ctx, cell: Cell, masks: ScanMasks, n_state: int, xp, *tensors):
        state0, rp = tensors[:n_state], tensors[n_state:]
        use_compiled = compiled.supports(cell, xp)
        with torch.no_grad():
            loop = compiled.forward_loop if use_compiled else forward_loop
            states, saved = loop(cell, xp, state0, rp, masks)
        ctx.cell, ctx.masks, ctx.n_state, ctx.compiled = cell, masks, n_state, use_compiled
        ctx.xp_shape, ctx.n_rp, ctx.saved_keys = xp.shape, len(rp), tuple(saved)
        ctx.save_for_backward(*rp, *states, *saved.values())
        return (masks.output(states[0][1:]), *(s[-1].clone() for s in states))

    @staticmethod
    def backward(ctx, d_output, *d_final):
        cell, masks, n_state, n_rp = ctx.cell, ctx.masks, ctx.n_state, ctx.n_rp
        tensors = ctx.saved_tensors
        rp, states = tensors[:n_rp], tensors[n_rp : n_rp + n_state]
        saved = dict(zip(ctx.saved_keys, tensors[n_rp + n_state :]))
        d_final = tuple(torch.zeros_like(s[0]) if d is None else d for d, s in zip(d_final, states))
        with torch.no_grad():
            if ctx.compiled:
                grads, d_state0 = compiled.backward_loop(cell, states, saved, rp, masks, d_output, d_final)
            else:
                if d_output is None:
                    d_output = torch.zeros_like(states[0][1:])
                xp = states[0].new_empty(ctx.xp_shape)  # shape and dtype only
                grads, d_state0 = backward_loop(cell, xp, states, saved, rp, masks, d_output, d_final)
            d_rp = cell.recurrent_grads(states, saved, grads, rp)
        return (None, None, None, grads["dxp"], *d_state0, *d_rp)


def fast_scan(cell: Cell, xp, state0, rp, masks: ScanMasks = NO_MASKS):
    """Same contract as reference_scan, computed by FastScan."""
    output, *final = FastScan.apply(cell, masks, len(state0), xp, *state0, *rp)
    return output, tuple(final)
