"""The reference scan: the cell's step equations applied one step at a time under autograd.

It is the ground truth the fast engine is checked against, and works in any dtype (float64 for
gradient checks). Lengths, zoneout and recurrent dropout come in a ScanMasks (rnnkit.engine.masks).
"""

from __future__ import annotations

import torch

from rnnkit.cells.base import Cell
from rnnkit.engine.masks import NO_MASKS, ScanMasks, blend


def reference_scan(cell: Cell, xp, state0, rp, masks: ScanMasks = NO_MASKS):
    """Scan ``cell`` over xp (T, N, G) from state0 (tuple of (N, H)); returns output (T, N, H), final state."""
    state, hs = tuple(state0), []
    updates = masks.updates(len(state))
    for t in range(xp.shape[0]):
        new = cell.reference_step(xp[t], state, rp, masks.h_mask)
        state = tuple(n if u is None else blend(u[t], n, s) for n, s, u in zip(new, state, updates))
        hs.append(state[0])
    return masks.output(torch.stack(hs)), state
