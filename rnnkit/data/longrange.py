"""Synthetic long-range memory tasks: the adding problem, copy memory, the embedded Reber grammar.

Shape letters: N = sequences, L = time steps. Every generator draws from a torch.Generator, so a
seed gives the same data everywhere.
"""

from __future__ import annotations

import torch

from rnnkit.data.music import PAD

COPY_DIGITS = 10  # copy memory: digits to remember
COPY_SYMBOLS = 10  # 0 = blank, 1..8 = digits, 9 = "recall now" marker


def adding_problem(n: int, T: int, generator: torch.Generator, variant: str = "hochreiter"):
    """(x (N, L, 2), lengths (N,), target (N,)) for the adding problem; each step is (value, marker).

    hochreiter (Hochreiter & Schmidhuber 1997, Exp. 4): length uniform in [T, T + T/10]; values
    U[-1, 1]; X1 is marked among the first 10 pairs, X2 among the first T/2 - 1 pairs not yet
    marked (marker 1); the first and last pairs otherwise have marker -1, all others 0; a marked
    first pair has its value set to 0. target = 0.5 + (X1 + X2) / 4. Steps past a length are 0.
    tcn (Bai et al. 2018): length T, values U[0, 1], two marks anywhere, target = X1 + X2.
    """
    if variant == "tcn":
        x = torch.zeros(n, T, 2)
        x[..., 0] = torch.rand(n, T, generator=generator)
        marks = torch.rand(n, T, generator=generator).argsort(1)[:, :2]  # two distinct positions
        x[..., 1].scatter_(1, marks, 1.0)
        return x, torch.full((n,), T), (x[..., 0] * x[..., 1]).sum(1)
    if variant != "hochreiter":
        raise ValueError(f"variant must be one of hochreiter, tcn; got {variant!r}")
    if T < 22:
        raise ValueError(
            f"length must be >= 22 for the Hochreiter adding problem (X2 among the first T/2 - 1), got {T}"
        )
    lengths = T + torch.randint(0, T // 10 + 1, (n,), generator=generator)
    x = torch.zeros(n, int(lengths.max()), 2)
    x[..., 0] = torch.rand(x.shape[:2], generator=generator) * 2 - 1
    rows = torch.arange(n)
    x[rows, 0, 1] = -1.0
    x[rows, lengths - 1, 1] = -1.0
    first = torch.randint(0, 10, (n,), generator=generator)
    # X2: uniform over the first T/2 - 1 positions other than `first`
    second = torch.randint(0, T // 2 - 2, (n,), generator=generator)
    second = second + (second >= first).long()
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    x[rows, 0, 0] = torch.where(x[rows, 0, 1] == 1, 0.0, x[rows, 0, 0])  # a marked first pair counts 0
    x[torch.arange(x.shape[1])[None] >= lengths[:, None]] = 0.0
    target = 0.5 + (x[..., 0] * (x[..., 1] == 1)).sum(1) / 4
    return x, lengths, target


def copy_memory(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (N, T + 20) symbols, y (N, T + 20) classes) for copy memory (Bai et al. 2018):
    x = 10 digits in 1..8, T - 1 blanks (0), 11 markers (9); y = 0 except the last 10 steps, which
    repeat the 10 digits."""
    digits = torch.randint(1, 9, (n, COPY_DIGITS), generator=generator)
    x = torch.cat(
        [digits, torch.zeros(n, T - 1, dtype=torch.long), torch.full((n, COPY_DIGITS + 1), 9, dtype=torch.long)], 1
    )
    y = torch.cat([torch.zeros(n, T + COPY_DIGITS, dtype=torch.long), digits], 1)
    return x, y


REBER_SYMBOLS = "BTPSXVE"
# Reber's grammar (Hochreiter & Schmidhuber 1997, Fig. 3): state -> [(symbol, next state)]; 7 = end
REBER = {
    0: [("B", 1)],
    1: [("T", 2), ("P", 3)],
    2: [("S", 2), ("X", 4)],
    3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)],
    5: [("P", 4), ("V", 6)],
    6: [("E", 7)],
}


def embedded_reber(generator: torch.Generator) -> tuple[str, list[set[str]]]:
    """(string, legal next symbols after each of its symbols but the last) of the embedded Reber
    grammar (Fig. 4): B, T or P, a Reber string, the same T or P, E. Each branch has p = 0.5."""
    coin = lambda: int(torch.randint(0, 2, (1,), generator=generator))  # noqa: E731
    outer = "TP"[coin()]
    inner, legal, state = "", [], 0
    while state != 7:
        options = REBER[state]
        symbol, state = options[coin()] if len(options) == 2 else options[0]
        inner += symbol
        legal.append({s for s, _ in REBER[state]} if state != 7 else {outer})
    return "B" + outer + inner + outer + "E", [{"T", "P"}, {"B"}, *legal, {"E"}]


def reber_batch(strings: list[tuple[str, list[set[str]]]]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(x (N, L, 7) one-hot symbols, y (N, L, 7) legal-next indicators, steps): x is each string but
    its last symbol; steps past a string's end have x = 0 and y = PAD; `steps` counts the valid ones."""
    L = max(len(s) for s, _ in strings) - 1
    x = torch.zeros(len(strings), L, len(REBER_SYMBOLS))
    y = torch.full((len(strings), L, len(REBER_SYMBOLS)), PAD)
    for i, (s, legal) in enumerate(strings):
        y[i, : len(s) - 1] = 0.0
        for t, (symbol, nxt) in enumerate(zip(s[:-1], legal, strict=True)):
            x[i, t, REBER_SYMBOLS.index(symbol)] = 1.0
            for c in nxt:
                y[i, t, REBER_SYMBOLS.index(c)] = 1.0
    return x, y, sum(len(s) - 1 for s, _ in strings)
