"""Back-propagation through time, full and truncated, as DL4J defines the two lengths.

A batch of T steps is cut into updates of k1 = tbptt_forward steps. Within an update of length
n, the first n - k2 steps (k2 = tbptt_backward <= k1) only run forward, the state is detached at
that cut, and the loss of the last k2 steps is back-propagated: gradient flows back at most k2
steps. Across updates the state is carried forward (forward connections kept) and detached
(backward connections cut). k1 = k2 = T is exactly full BPTT over the batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import nn


def detach(state: Any) -> Any:
    """The state with every tensor detached from the graph (tuples and lists kept, None kept)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach(s) for s in state)
    return state


def update_slices(length: int, k1: int) -> Iterator[slice]:
    """Time slices of consecutive updates of k1 steps (the last may be shorter); k1 = 0: one slice."""
    step = k1 or length
    for start in range(0, length, step):
        yield slice(start, min(start + step, length))


def forward_update(model: nn.Module, x: torch.Tensor, y: torch.Tensor, state: Any, k2: int):
    """(loss, state) for one update: forward over all of x (B, n, ...), loss over the last k2 steps.

    The first n - k2 steps run without a graph; the state is detached at the cut, so gradients of
    the loss reach back at most k2 steps. k2 = 0 or k2 >= n: the whole update is back-propagated.
    """
    cut = x.shape[1] - k2 if 0 < k2 < x.shape[1] else 0
    if cut:
        with torch.no_grad():  # forward connections kept, no graph: the state is cut here
            _, _, state = model(x[:, :cut], None, state)
    _, loss, state = model(x[:, cut:], y[:, cut:], state)
    return loss, state
