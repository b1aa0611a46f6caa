"""Labelled texts for classification: reading TSV/CSV files, class folders and one file per class,
tokenising, a vocabulary, a split.

The bundled example is the SMS Spam Collection (UCI; 5,574 messages, 747 spam; see its SOURCE
file): one message per line, ``label<TAB>text``, no header.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import torch

from rnnkit.data.pairs import pad_batch  # noqa: F401 (<pad> is id 0 here too; the one pad_batch)
from rnnkit.data.text import read_text_file, split_lines

PAD, UNK = "<pad>", "<unk>"
WORD = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")
DIGIT = re.compile(r"[0-9]")


def bundled_sms_spam() -> Path:
    """Path of the SMS Spam Collection shipped with rnnkit."""
    return Path(str(resources.files("rnnkit.data").joinpath("bundled/sms_spam.txt")))


def _column(spec: str, header: list[str] | None, path: Path) -> int:
    """The index of a column given as a 0-based number or, with a header row, by name."""
    if spec.isdigit():
        return int(spec)
    if header is None or spec not in header:
        known = f"; the header has {', '.join(header)}" if header else ""
        raise ValueError(f"{path}: no column named {spec!r}{known}")
    return header.index(spec)


def read_labelled(
    path: str | Path, text_col: str = "1", label_col: str = "0", encoding: str = "utf-8"
) -> tuple[list[str], list[str]]:
    """(texts, labels) from a .csv (comma; quoted fields may hold commas, quotes and newlines) or any
    other file (TAB-separated, no quoting).

    Lines break only at "\n" / "\r\n" (see `split_lines`), so a text may hold U+0085 or U+2028 and
    line numbers are the file's. Columns are 0-based numbers (no header row) or names (the first
    row is the header). Every problem raises a one-line ValueError naming the file and, where
    there is one, the line.
    """
    path = Path(path)
    raw = read_text_file(path, encoding)
    named = not (text_col.isdigit() and label_col.isdigit())
    rows: list[tuple[int, list[str]]] = []  # (line where the row starts, fields)
    if path.suffix.lower() == ".csv":
        reader = csv.reader(split_lines(raw, keepends=True), delimiter=",", quoting=csv.QUOTE_MINIMAL, strict=True)
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                raise ValueError(f"{path}, line {line}: {err}") from None
            rows.append((line, row))
    else:
        rows = [(i, line.split("\t")) for i, line in enumerate(split_lines(raw), start=1)]
    if named and rows:
        header = rows.pop(0)[1]
    else:
        header = None
    t, y = _column(text_col, header, path), _column(label_col, header, path)
    texts, labels = [], []
    for line, row in rows:
        if not row or row == [""]:
            continue
        if max(t, y) >= len(row):
            raise ValueError(f"{path}, line {line}: {len(row)} column(s), need column {max(t, y)} (0-based)")
        texts.append(row[t])
        labels.append(row[y].strip())
    if not texts:
        raise ValueError(f"{path}: no labelled rows")
    check_classes(labels, path)
    return texts, labels


def check_classes(labels: list[str], where) -> None:
    """ValueError unless `labels` hold at least two classes."""
    if len(set(labels)) < 2:
        raise ValueError(f"{where}: every text has the label {labels[0]!r}; a classifier needs at least two classes")


def read_class_folder(folder: Path, encoding: str = "utf-8") -> tuple[list[str], list[str]]:
    """(texts, labels) from a folder with one sub-folder per class and one text per file (the
    layout of Keras' text_dataset_from_directory); hidden files and folders are skipped."""
    texts, labels = [], []
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise ValueError(f"{folder}: a folder of classification data holds one sub-folder per class; found none")
    for sub in classes:
        files = sorted(f for f in sub.rglob("*") if f.is_file() and not f.name.startswith("."))
        for file in files:
            texts.append(read_text_file(file, encoding))
            labels.append(sub.name)
    return texts, labels


def read_class_files(paths: list[Path], encoding: str = "utf-8") -> tuple[list[str], list[str]]:
    """(texts, labels) from one file per class, one text per line (blank lines skipped); the label
    is the file's name without its extension (pos.txt -> "pos")."""
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise ValueError(
            f"one file per class: the labels (file names without extension) must differ, got {', '.join(stems)}"
        )
    texts, labels = [], []
    for path, stem in zip(paths, stems):
        lines = [line for line in split_lines(read_text_file(path, encoding)) if line.strip()]
        if not lines:
            raise ValueError(f"{path}: no texts")
        texts += lines
        labels += [stem] * len(lines)
    return texts, labels


def data_paths(data: str | Path | list) -> list[Path]:
    """The paths named by `data`: a path, a list of paths, or several paths joined by "," (a string
    that is itself an existing path is one path)."""
    if isinstance(data, (list, tuple)):
        return [Path(p) for p in data]
    if "," in str(data) and not Path(data).exists():
        return [Path(p.strip()) for p in str(data).split(",") if p.strip()]
    return [Path(data)]


def read_classification(
    data: str | Path | list, text_col: str = "1", label_col: str = "0", encoding: str = "utf-8"
) -> tuple[list[str], list[str]]:
    """(texts, labels) from any of the layouts people have: one delimited file (`read_labelled`), a
    folder of class sub-folders (`read_class_folder`) or one file per class (`read_class_files`).
    At least two classes are needed; problems raise a one-line ValueError naming the file."""
    paths = data_paths(data)
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
    if len(paths) > 1:
        texts, labels = read_class_files(paths, encoding)
    elif paths[0].is_dir():
        texts, labels = read_class_folder(paths[0], encoding)
    else:
        texts, labels = read_labelled(paths[0], text_col, label_col, encoding)
    if not texts:
        raise ValueError(f"{data}: no texts")
    check_classes(labels, data)
    return texts, labels


def tokenize(text: str, level: str, zero_digits: bool = False) -> list[str]:
    """Words (lower-cased runs of letters, digits and apostrophes; other symbols alone) or characters;
    with ``zero_digits`` every digit is read as 0 first, so numbers seen once share their shape
    ("call 08712300220" -> "call", "00000000000")."""
    if zero_digits:
        text = DIGIT.sub("0", text)
    return WORD.findall(text.lower()) if level == "word" else list(text)


class TokenVocab:
    """Tokens by id, with <pad> = 0 and <unk> = 1; unknown tokens map to <unk>."""

    def __init__(self, tokens: list[str]):
        self.tokens = [PAD, UNK] + [t for t in tokens if t not in (PAD, UNK)]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists: list[list[str]], min_freq: int = 1, max_size: int = 0) -> TokenVocab:
        """The tokens seen at least ``min_freq`` times, most frequent first, at most ``max_size`` (0: all)."""
        counts = Counter(t for tokens in token_lists for t in tokens)
        ranked = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size else ranked)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.index.get(t, 1) for t in tokens]

    def to_json(self) -> list[str]:
        return self.tokens[2:]

    @classmethod
    def from_json(cls, tokens: object) -> TokenVocab:
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ValueError("not a token vocabulary: expected a JSON list of strings")
        return cls(list(tokens))


def stratified_split(labels: list[int], val_frac: float, test_frac: float, seed: int) -> dict[str, list[int]]:
    """Indices of train/val/test: each class shuffled with ``seed`` and cut in the same proportions."""
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        order = [members[i] for i in torch.randperm(len(members), generator=generator).tolist()]
        n_test, n_val = round(len(order) * test_frac), round(len(order) * val_frac)
        parts["test"] += order[:n_test]
        parts["val"] += order[n_test : n_test + n_val]
        parts["train"] += order[n_test + n_val :]
    return {name: sorted(idx) for name, idx in parts.items()}


def stratified_folds(labels: list[int], k: int, seed: int) -> list[list[int]]:
    """Indices of ``k`` folds for cross-validation: each class shuffled with ``seed`` and dealt out in
    turn, so every fold holds each class's share (sizes differ by at most one per class)."""
    if not 2 <= k <= len(labels):
        raise ValueError(f"k must be in [2, {len(labels)}], got {k}")
    generator = torch.Generator().manual_seed(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        for j in torch.randperm(len(members), generator=generator).tolist():
            folds[dealt % k].append(members[j])
            dealt += 1
    return [sorted(fold) for fold in folds]
