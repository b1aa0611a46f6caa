"""The reference scan: the cell's step equations applied one step at a time under autograd.

It is the ground truth the fast engine is checked against, and works in any dtype (float64 for
gradient checks). Variable lengths follow packed-sequence semantics: once t ≥ length, a
sequence's state is frozen and its output is zero.
"""

from __future__ import annotations

import torch

from rnnkit.cells.base import Cell


def reference_scan(cell: Cell, xp, state0, rp, mask=None):
    """Scan ``cell`` over xp (T, N, G) from state0 (tuple of (N, H)).

    Args:
        mask: None, or a bool tensor (T, N, 1) that is True while t < length.
    Returns:
        output (T, N, H) and the final state tuple.
    """
    state, outputs = tuple(state0), []
    for t in range(xp.shape[0]):
        new = cell.reference_step(xp[t], state, rp)
        if mask is None:
            state = new
            outputs.append(new[0])
        else:
            state = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
            outputs.append(new[0] * mask[t])
    return torch.stack(outputs), state
