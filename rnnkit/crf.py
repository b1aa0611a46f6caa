"""A linear-chain conditional random field over per-step tag scores (Lafferty et al. 2001; Lample et al. 2016).

For emissions e (B, T, K), tags y of a sequence of length n, start scores s, end scores f and
transitions A (K, K) (A[i, j]: tag i followed by tag j)::

    score(y) = s[y_1] + Σ_t e_t[y_t] + Σ_{t≥2} A[y_{t−1}, y_t] + f[y_n]
    −log p(y | e) = log Σ_y' exp score(y') − score(y)      (the forward algorithm gives the log-sum)

Decoding finds argmax_y score(y) by the Viterbi algorithm. Steps at or past a sequence's length
(``mask`` False) are ignored; every sequence has at least one step.
"""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    """Start, end and transition scores for ``num_tags`` tags; ``nll`` and ``decode`` over emissions."""

    def __init__(self, num_tags: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """−log p(tags | emissions) per sequence (B,); emissions (B, T, K), tags (B, T), mask (B, T) bool."""
        return self.log_partition(emissions, mask) - self.score(emissions, tags, mask)

    def score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """score(tags) per sequence (B,)."""
        m = mask.to(emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(-1)).squeeze(-1)  # (B, T)
        moved = self.transitions[tags[:, :-1], tags[:, 1:]] * m[:, 1:]  # (B, T-1)
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1).clamp(min=0)).squeeze(1)  # (B,)
        return self.start[tags[:, 0]] + (emitted * m).sum(1) + moved.sum(1) + self.end[last]

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """log Σ_y exp score(y) per sequence (B,), by the forward algorithm."""
        alpha = self.start + emissions[:, 0]  # (B, K)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t : t + 1], step, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The highest-scoring tags (B, T) by Viterbi; 0 past each sequence's length."""
        B, T, _ = emissions.shape
        best = self.start + emissions[:, 0]  # (B, K)
        pointers = []
        for t in range(1, T):
            candidates = best.unsqueeze(2) + self.transitions  # (B, K from, K to)
            top, arg = candidates.max(1)
            pointers.append(arg)
            best = torch.where(mask[:, t : t + 1], top + emissions[:, t], best)
        lengths = mask.sum(1).tolist()
        last = (best + self.end).argmax(1).tolist()
        out = torch.zeros(B, T, dtype=torch.long)
        for b in range(B):
            tag = last[b]
            out[b, lengths[b] - 1] = tag
            for t in range(lengths[b] - 1, 0, -1):
                tag = int(pointers[t - 1][b, tag])
                out[b, t - 1] = tag
        return out.to(emissions.device)
