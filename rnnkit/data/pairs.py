"""Sequence pairs for encoder-decoder tasks: TSV files, generated tasks (3-digit addition, date
normalisation), a character vocabulary with <pad>/<sos>/<eos>/<unk>, splits and padded batches.

Shape letters: B = pairs in a batch, L = padded length (the longest source or target + <eos>).
"""

from __future__ import annotations

import datetime
import random
from pathlib import Path

import torch

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)  # ids 0..3 in every PairVocab


class PairVocab:
    """Characters with the four special tokens first: <pad>=0, <sos>=1, <eos>=2, <unk>=3."""

    pad, sos, eos, unk = range(4)

    def __init__(self, chars: str):
        if len(set(chars)) != len(chars):
            raise ValueError(f"chars must be distinct, got {chars!r}")
        self.chars = chars
        self.tokens = list(SPECIALS) + list(chars)
        self.index = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts) -> PairVocab:
        return cls("".join(sorted(set("".join(texts)))))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, unknown: str = "error") -> list[int]:
        """Ids of `text` (no specials added). A character outside the vocabulary raises ValueError
        naming it (unknown="error") or becomes <unk> (unknown="unk")."""
        if unknown == "unk":
            return [self.index.get(c, self.unk) for c in text]
        bad = [c for c in text if c not in self.index]
        if bad:
            raise ValueError(f"character {bad[0]!r} is not in the vocabulary (known: {self.chars!r})")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        """The text of `ids` up to the first <eos>; <pad> and <sos> are dropped, <unk> kept as '?'."""
        out = []
        for i in (int(i) for i in ids):
            if i == self.eos:
                break
            if i >= len(SPECIALS):
                out.append(self.tokens[i])
            elif i == self.unk:
                out.append("?")
        return "".join(out)

    def to_json(self) -> dict:
        return {"kind": "pair-chars", "chars": self.chars}

    @classmethod
    def from_json(cls, obj: object) -> PairVocab:
        if not isinstance(obj, dict) or obj.get("kind") != "pair-chars" or not isinstance(obj.get("chars"), str):
            raise ValueError("not a pair vocabulary: expected {'kind': 'pair-chars', 'chars': '...'}")
        return cls(obj["chars"])


def read_tsv(path: str | Path) -> list[tuple[str, str]]:
    """(source, target) pairs from a UTF-8 file of `source TAB target` lines; blank lines skipped.

    ValueError naming the file and line for a missing file, a line without a TAB or an empty side.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read pairs file {path}: {getattr(err, 'strerror', None) or err}") from None
    pairs = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'source<TAB>target', found no TAB in {line[:40]!r}")
        src, tgt = line.split("\t", 1)
        if not src or not tgt:
            raise ValueError(f"{path}:{n}: empty {'source' if not src else 'target'}")
        pairs.append((src, tgt))
    if not pairs:
        raise ValueError(f"{path} holds no pairs")
    return pairs


def addition_pairs(n: int, seed: int = 0, digits: int = 3) -> list[tuple[str, str]]:
    """`n` distinct pairs ("535+61", "596"): operands with 1..digits digits, as Keras'
    addition_rnn example draws them (a digit count, then that many random digits)."""
    if n > (10**digits) ** 2 // 2:
        raise ValueError(f"n={n} is too many distinct {digits}-digit additions")
    rng, seen, pairs = random.Random(seed), set(), []
    while len(pairs) < n:
        a, b = (int("".join(rng.choice("0123456789") for _ in range(rng.randint(1, digits)))) for _ in "ab")
        if (a, b) not in seen:
            seen.add((a, b))
            pairs.append((f"{a}+{b}", str(a + b)))
    return pairs


MONTHS = ["january", "february", "march", "april", "may", "june",
          "july", "august", "september", "october", "november", "december"]  # fmt: skip
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _ordinal(d: int) -> str:
    return f"{d}{'th' if 10 <= d % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


# Written forms of a date (lower case); the target is always ISO 8601 YYYY-MM-DD.
DATE_FORMATS = (
    lambda d: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",  # march 5th, 2021
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",  # march 5, 2021
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 5 march 2021
    lambda d: f"{_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",  # 5th of march 2021
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",  # mar 5 2021
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 05.03.2021
    lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",  # friday, march 5, 2021
)


def date_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """`n` distinct pairs ("march 5th, 2021", "2021-03-05"): dates 1950-2049 in a random one of
    DATE_FORMATS."""
    rng, seen, pairs = random.Random(seed), set(), []
    start, span = datetime.date(1950, 1, 1), (datetime.date(2050, 1, 1) - datetime.date(1950, 1, 1)).days
    if n > span * len(DATE_FORMATS) // 2:
        raise ValueError(f"n={n} is too many distinct dates")
    while len(pairs) < n:
        d = start + datetime.timedelta(days=rng.randrange(span))
        src = rng.choice(DATE_FORMATS)(d)
        if src not in seen:
            seen.add(src)
            pairs.append((src, d.isoformat()))
    return pairs


def split_pairs(pairs: list, val_frac: float, test_frac: float, seed: int = 0) -> dict[str, list]:
    """{"train", "val", "test"}: a seeded shuffle cut into (1 - val - test, val, test) fractions."""
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"val_frac and test_frac must be >= 0 with a sum < 1, got {val_frac} and {test_frac}")
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_val, n_test = round(len(pairs) * val_frac), round(len(pairs) * test_frac)
    cut = [pairs[i] for i in order]
    return {"test": cut[:n_test], "val": cut[n_test : n_test + n_val], "train": cut[n_test + n_val :]}


def pad_batch(seqs: list[list[int]], length: int | None = None, eos: bool = False) -> torch.Tensor:
    """(B, L) int64 ids, each row `seq` (+ <eos> if eos) then <pad> (id 0, as in TokenVocab too);
    L = the longest row (at least 1), or `length` if longer."""
    rows = [s + [PairVocab.eos] if eos else s for s in seqs]
    L = max(length or 0, 1, max(len(r) for r in rows))
    return torch.tensor([r + [PairVocab.pad] * (L - len(r)) for r in rows], dtype=torch.long)
