"""Labelled numeric sequences (one label per sequence of real-valued frames): readers of three layouts.

A sample is a float32 array (T_i, C): T_i frames (lengths may differ) of C channels (the same C for
every sample); each has one label (a string).

- ``.ts`` (the sktime/UEA format): ``#`` comment lines, ``@`` metadata lines (``@dimensions``,
  ``@classLabel true a b c`` ...), then after ``@data`` one sample per line: the channels separated
  by ``:``, each a comma-separated list of values, the class label last.
- ``.csv`` (long format): a header row ``sequence_id, t, feature..., label`` (the first two names
  exactly so; the first column names the sequence, the second orders its frames, the last is its label, the others
  are the channels), then one row per frame; a sequence's rows may come in any order and must all
  carry the same label.
- ``.npz`` (numpy, read without pickle): ``x`` float (N, T_max, C), frames past each length ignored;
  ``lengths`` int (N,) (optional: every sample T_max frames long); ``y`` (N,) labels (ints or strings).

Every problem raises a ValueError of one line naming the file (and the line, where there is one).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rnnkit.data.text import read_text_file

Samples = tuple[list[np.ndarray], list[str]]


def _floats(text: str, where: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"{where}: a value that is not a number in {text[:40]!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{where}: missing or non-finite values are not supported")
    return values


def read_ts(path: str | Path) -> Samples:
    """Samples of a sktime/UEA ``.ts`` file; labels must be among its ``@classLabel`` list."""
    path = Path(path)
    samples, labels = [], []
    declared: list[str] | None = None
    dimensions: int | None = None
    in_data = False
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        line = line.strip()
        where = f"{path}, line {number}"
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise ValueError(f"{where}: expected an @ metadata line or @data before the samples")
            key, _, value = line[1:].partition(" ")
            key, words = key.lower(), value.split()
            if key == "data":
                in_data = True
            elif key == "classlabel" and words and words[0].lower() == "true":
                declared = words[1:]
            elif key == "timestamps" and words and words[0].lower() == "true":
                raise ValueError(f"{where}: time-stamped .ts files are not supported")
            elif key == "dimensions" and words and words[0].isdigit():
                dimensions = int(words[0])
            continue
        *channels, label = line.split(":")
        if not channels:
            raise ValueError(f"{where}: no ':'-separated channels before the label")
        series = [_floats(c, where) for c in channels]
        if len({len(s) for s in series}) != 1:
            raise ValueError(f"{where}: channels of different lengths ({sorted({len(s) for s in series})})")
        width = dimensions if dimensions is not None else (samples[0].shape[1] if samples else len(series))
        if len(series) != width:
            raise ValueError(f"{where}: {len(series)} channel(s), but the file's samples have {width}")
        label = label.strip()
        if declared is not None and label not in declared:
            raise ValueError(f"{where}: label {label!r} is not in @classLabel ({' '.join(declared)})")
        samples.append(np.asarray(series, dtype=np.float32).T)
        labels.append(label)
    if not samples:
        raise ValueError(f"{path}: no samples (is there an @data line?)")
    return samples, labels


def read_long_csv(path: str | Path) -> Samples:
    """Samples of a long-format CSV (``sequence_id, t, feature..., label``), in order of first appearance."""
    path = Path(path)
    rows = list(csv.reader(read_text_file(path).splitlines()))
    if not rows or len(rows[0]) < 4:
        raise ValueError(f"{path}: need a header row 'sequence_id, t, feature..., label' (at least 4 columns)")
    width = len(rows[0])
    frames: dict[str, list[tuple[float, list[float]]]] = {}
    label_of: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        where = f"{path}, line {number}"
        if not row:
            continue
        if len(row) != width:
            raise ValueError(f"{where}: {len(row)} column(s), the header has {width}")
        key, label = row[0].strip(), row[-1].strip()
        t, *features = _floats(",".join(row[1:-1]), where)
        if label_of.setdefault(key, label) != label:
            raise ValueError(f"{where}: sequence {key!r} has label {label!r} here but {label_of[key]!r} before")
        frames.setdefault(key, []).append((t, features))
    if not frames:
        raise ValueError(f"{path}: no rows after the header")
    samples = [np.asarray([f for _, f in sorted(frames[k], key=lambda p: p[0])], dtype=np.float32) for k in frames]
    return samples, [label_of[k] for k in frames]


def read_npz(path: str | Path) -> Samples:
    """Samples of an ``.npz`` holding ``x`` (N, T_max, C), optional ``lengths`` (N,) and ``y`` (N,)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npz without pickled objects ({str(err).splitlines()[0]})") from None
    if "x" not in arrays or "y" not in arrays:
        raise ValueError(f"{path}: needs arrays 'x' (N, T, C) and 'y' (N,); has {', '.join(arrays) or 'none'}")
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{path}: 'x' must be a numeric (N, T, C) array, got shape {x.shape} dtype {x.dtype}")
    if y.shape != (x.shape[0],):
        raise ValueError(f"{path}: 'y' must have shape ({x.shape[0]},), got {y.shape}")
    lengths = arrays.get("lengths", np.full(x.shape[0], x.shape[1]))
    if (
        lengths.shape != y.shape
        or not np.issubdtype(lengths.dtype, np.integer)
        or (lengths < 1).any()
        or (lengths > x.shape[1]).any()
    ):
        raise ValueError(f"{path}: 'lengths' must be {x.shape[0]} integers in 1..{x.shape[1]}")
    samples = [x[i, : lengths[i]].astype(np.float32) for i in range(x.shape[0])]
    if not all(np.isfinite(s).all() for s in samples):
        raise ValueError(f"{path}: missing or non-finite values are not supported")
    return samples, [str(v) for v in y.tolist()]


READERS = {".ts": read_ts, ".csv": read_long_csv, ".npz": read_npz}


def is_sequence_file(path: str | Path) -> bool:
    """True for a ``.ts`` or ``.npz`` file, or a ``.csv`` whose header starts ``sequence_id,t``
    (a long-format table of numeric sequences rather than labelled texts)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".ts", ".npz"):
        return True
    if suffix != ".csv" or not Path(path).is_file():
        return False
    with open(path, encoding="utf-8", errors="replace") as f:
        header = [c.strip().lower() for c in f.readline().split(",")]
    return header[:2] == ["sequence_id", "t"]


def read_sequences(path: str | Path) -> Samples:
    """Samples and labels of a ``.ts``, long-format ``.csv`` or ``.npz`` file (by its extension)."""
    suffix = Path(path).suffix.lower()
    if suffix not in READERS:
        raise ValueError(f"{path}: unknown sequence file type {suffix!r} (use .ts, .csv or .npz)")
    samples, labels = READERS[suffix](path)
    if len({s.shape[1] for s in samples}) != 1:
        raise ValueError(f"{path}: samples have different channel counts ({sorted({s.shape[1] for s in samples})})")
    return samples, labels
