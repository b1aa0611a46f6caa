"""The fast scan's hand-derived backward against autograd: gradcheck in float64, and fast == reference."""

import pytest
import torch
from conftest import CELL_VARIANTS

from rnnkit.engine import ScanMasks, fast_scan, reference_scan

T, N, I = 5, 3, 4
LENGTHS = torch.tensor([5, 2, 0])


def inputs(cell, dtype):
    p = {k: torch.randn(s, dtype=dtype) * 0.5 for k, s in cell.param_shapes(I, True).items()}
    x = torch.randn(T, N, I, dtype=dtype)
    state0 = tuple(torch.randn(N, cell.hidden_size, dtype=dtype) for _ in cell.state_names)
    return p, x, state0


def mask_of(lengths):
    return (torch.arange(T)[:, None] < lengths[None, :]).unsqueeze(-1)


def masks_for(kind, cell, dtype):
    """Scan masks: none, ragged lengths, or lengths + zoneout draws + a recurrent-dropout mask."""
    if kind == "full":
        return ScanMasks()
    if kind == "ragged":
        return ScanMasks(valid=mask_of(LENGTHS))
    H = cell.hidden_size
    zoneout = tuple(torch.rand(T, N, H) > 0.3 for _ in cell.state_names)
    if kind == "eval-zoneout":  # the expectation: a constant fraction, as floats
        zoneout = tuple(torch.full((T, 1, 1), 0.7, dtype=dtype) for _ in cell.state_names)
    h_mask = (torch.rand(N, H) > 0.4).to(dtype) / 0.6
    return ScanMasks(valid=mask_of(LENGTHS), zoneout=zoneout, h_mask=h_mask)


MASK_KINDS = ["full", "ragged", "regularised", "eval-zoneout"]


@pytest.mark.parametrize("kind", ["full", "ragged", "regularised"])
@pytest.mark.parametrize("name", list(CELL_VARIANTS))
def test_fast_scan_gradcheck_float64(name, kind):
    cell = CELL_VARIANTS[name]
    p, x, state0 = inputs(cell, torch.float64)
    mask = masks_for(kind, cell, torch.float64)
    names, k = list(p), len(state0)

    def f(x, *rest):
        params = dict(zip(names, rest[k:]))
        out, final = fast_scan(cell, cell.input_projection(x, params), rest[:k], cell.recurrent_params(params), mask)
        return (out, *final)

    args = [t.requires_grad_() for t in (x, *state0, *p.values())]
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("name", list(CELL_VARIANTS))
def test_fast_equals_reference_float32(name, kind):
    cell = CELL_VARIANTS[name]
    p, x, state0 = inputs(cell, torch.float32)
    mask = masks_for(kind, cell, torch.float32)
    results = []
    for scan in (fast_scan, reference_scan):
        leaves = [t.clone().requires_grad_() for t in (x, *state0, *p.values())]
        params = dict(zip(p, leaves[1 + len(state0) :]))
        out, final = scan(cell, cell.input_projection(leaves[0], params), tuple(leaves[1 : 1 + len(state0)]),
                          cell.recurrent_params(params), mask)  # fmt: skip
        weights = torch.randn(out.shape, generator=torch.Generator().manual_seed(1))
        loss = (out * weights).sum() + sum((s**2).sum() for s in final)
        results.append((out, *final, *torch.autograd.grad(loss, leaves)))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_state_is_frozen_and_output_zero_after_the_end():
    cell = CELL_VARIANTS["lstm"]
    p, x, state0 = inputs(cell, torch.float64)
    xp = cell.input_projection(x, p)
    out, (h, c) = fast_scan(cell, xp, state0, cell.recurrent_params(p), ScanMasks(valid=mask_of(LENGTHS)))
    assert torch.all(out[2:, 1] == 0) and torch.all(out[:, 2] == 0)
    short, (h_short, c_short) = fast_scan(cell, xp[:2, 1:2], tuple(s[1:2] for s in state0), cell.recurrent_params(p))
    torch.testing.assert_close(out[:2, 1:2], short)
    torch.testing.assert_close(h[1:2], h_short)
    torch.testing.assert_close(c[1:2], c_short)
    torch.testing.assert_close(h[2], state0[0][2])  # length 0: the initial state comes back


def test_in_place_change_of_the_output_is_caught():
    cell = CELL_VARIANTS["gru-reset-after"]
    p, x, state0 = inputs(cell, torch.float64)
    p = {k: v.requires_grad_() for k, v in p.items()}
    out, _ = fast_scan(cell, cell.input_projection(x, p), state0, cell.recurrent_params(p))
    with pytest.raises(RuntimeError, match="inplace"):  # the output shares memory with saved states
        out.mul_(2)
