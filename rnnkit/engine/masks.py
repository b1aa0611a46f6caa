"""What makes one scan differ from the plain recurrence: lengths, zoneout, recurrent dropout.

valid   (T, N, 1) bool, t < length: past a sequence's end its state is frozen and its output zero
zoneout one per state, (T, N, H), the fraction of the new value taken at step t:
        s_t = u ∘ s̃_t + (1 − u) ∘ s_{t−1}; 0/1 draws in training (Krueger et al. 2016),
        the constant 1 − p at evaluation
h_mask  (N, H) variational recurrent dropout (Gal & Ghahramani 2016): one mask per sequence,
        scaled by 1/(1 − p), on h_{t−1} where it enters the recurrent products
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True, eq=False)
class ScanMasks:
    valid: torch.Tensor | None = None
    zoneout: tuple[torch.Tensor, ...] | None = None
    h_mask: torch.Tensor | None = None

    def updates(self, n_state: int) -> tuple[torch.Tensor | None, ...]:
        """Per state, the (T, N, 1|H) fraction of the new value kept at each step (None: all of it)."""
        if self.zoneout is None:
            return (self.valid,) * n_state
        if self.valid is None:
            return self.zoneout
        return tuple(z * self.valid for z in self.zoneout)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """The scan's output from the h states (T, N, H): zero past each sequence's end."""
        return h if self.valid is None else h * self.valid


NO_MASKS = ScanMasks()


def blend(update: torch.Tensor, new: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
    """u ∘ new + (1 − u) ∘ prev; exact selection when u is boolean."""
    if update.dtype == torch.bool:
        return torch.where(update, new, prev)
    return torch.lerp(prev, new, update)
