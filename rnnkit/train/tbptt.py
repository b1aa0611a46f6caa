"""Back-propagation through time, full and truncated, in the two conventions of its two lengths.

Sutskever (2013), TBPTT(k1, k2) with k2 >= k1 (``tbptt_style = "sutskever"``, the default): every
k1 new steps make one update; the loss of those k1 steps is back-propagated through the last k2
steps (the window), which start from the carried state detached there. Windows overlap when
k2 > k1; every target is scored exactly once.

DL4J (``tbptt_style = "dl4j"``, k2 <= k1): a batch of T steps is cut into updates of k1 =
tbptt_forward steps. Within an update of length n, the first n - k2 steps (k2 = tbptt_backward)
only run forward, the state is detached at that cut, and only the loss of the last k2 steps is
back-propagated: gradient flows back at most k2 steps, and the first k1 - k2 targets of each
update are never scored.

In both, across updates the state is carried forward (forward connections kept) and detached
(backward connections cut). k1 = k2 = T is exactly full BPTT over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import torch

Model = Callable[..., tuple]  # a task's model, or any callable like it: (x, y, state) -> (output, loss, state)


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


def forward_update(model: Model, x: torch.Tensor, y: torch.Tensor, state: Any, k2: int):
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


def windows(length: int, k1: int, k2: int) -> Iterator[tuple[int, int, int, int]]:
    """Sutskever's TBPTT(k1, k2 >= k1) over `length` steps: (w, s, e, nxt) for each update. Steps
    s:e (k1 new ones; the last update may have fewer) are scored, the gradient flows through w:e,
    w = max(0, e - k2), and nxt is where the next update's window starts (`length` after the last).
    k1 = 0: one update over everything."""
    k1 = k1 or length
    k2 = max(k2, k1)
    spans = [(max(0, min(s + k1, length) - k2), s, min(s + k1, length)) for s in range(0, length, k1)]
    for i, (w, s, e) in enumerate(spans):
        yield w, s, e, spans[i + 1][0] if i + 1 < len(spans) else length


def window_update(model: Model, x: torch.Tensor, y: torch.Tensor, state: Any, new: int, advance: int):
    """(loss, state) for one Sutskever update over a window x, y (B, n, ...) that starts from `state`:
    the loss of the last `new` steps, with the graph through all n steps, and the state after the
    first `advance` steps (where the next window starts; 0 <= advance <= n)."""
    n = x.shape[1]
    cut = n - new
    nxt = state
    h = state
    bounds = [0, advance, cut] if 0 < advance < cut else [0, cut]
    for a, b in pairwise(bounds):  # the unscored steps, split where the next window starts
        if b > a:
            _, _, h = model(x[:, a:b], None, h)
            if b == advance:
                nxt = h
    _, loss, end = model(x[:, cut:], y[:, cut:], h)
    if advance == n:
        nxt = end
    elif advance > cut:  # the next window starts among the scored steps: its state, without a graph
        with torch.no_grad():
            _, _, nxt = model(x[:, :advance], None, state)
    return loss, nxt
