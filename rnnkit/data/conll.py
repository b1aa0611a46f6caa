"""Tagged sentences: CoNLL-U files (one column chosen as the tag) and the two-column CoNLL/BIO format.

CoNLL-U (universaldependencies.org/format.html): ten TAB-separated columns ID FORM LEMMA UPOS XPOS
FEATS HEAD DEPREL DEPS MISC, one token per line, a blank line after each sentence; lines starting
with ``#`` are comments; multiword-token ranges (ID ``1-2``) and empty nodes (ID ``1.1``) are skipped,
so a sentence is its syntactic words. The two-column format has ``token TAB tag`` per line (any
whitespace; with more columns the first is the token and the last the tag, as in CoNLL-2003), a blank
line between sentences, and ``-DOCSTART-`` lines ignored.

A sentence is ``(tokens, tags)``, two lists of strings of one length. Every malformed line raises a
ValueError naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path

from rnnkit.data.text import read_text_file

CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
Sentence = tuple[list[str], list[str]]


def conllu_column(column: str | int) -> int:
    """The 0-based index of a CoNLL-U column given by name (``upos``, ``XPOS``, ...) or index."""
    if isinstance(column, int) or str(column).isdigit():
        index = int(column)
        if not 0 <= index < len(CONLLU_COLUMNS):
            raise ValueError(f"CoNLL-U column index must be in 0..9, got {index}")
        return index
    name = str(column).lower()
    if name not in CONLLU_COLUMNS:
        raise ValueError(f"unknown CoNLL-U column {column!r} (known: {', '.join(CONLLU_COLUMNS)} or 0..9)")
    return CONLLU_COLUMNS.index(name)


def _sentences(path: Path, parse_line) -> list[Sentence]:
    """Sentences of a blank-line-separated file; ``parse_line(fields, where)`` gives (token, tag) or None."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            if tokens:
                sentences.append((tokens, tags))
                tokens, tags = [], []
            continue
        if line.startswith("#"):
            continue
        pair = parse_line(line, f"{path}, line {number}")
        if pair is not None:
            tokens.append(pair[0])
            tags.append(pair[1])
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise ValueError(f"{path}: no sentences")
    return sentences


def read_conllu(path: str | Path, column: str | int = "upos") -> list[Sentence]:
    """(FORM, chosen column) per syntactic word of every sentence of a CoNLL-U file."""
    index = conllu_column(column)

    def parse(line: str, where: str):
        fields = line.split("\t")
        if len(fields) != len(CONLLU_COLUMNS):
            raise ValueError(f"{where}: {len(fields)} TAB-separated column(s), CoNLL-U has 10")
        word_id = fields[0]
        if "-" in word_id or "." in word_id:  # a multiword-token range or an empty node
            bounds = word_id.replace("-", ".").split(".")
            if len(bounds) != 2 or not all(b.isdigit() for b in bounds):
                raise ValueError(f"{where}: malformed ID {word_id!r}")
            return None
        if not word_id.isdigit():
            raise ValueError(f"{where}: the ID {word_id!r} is not an integer")
        return fields[1], fields[index]

    return _sentences(Path(path), parse)


def read_two_column(path: str | Path) -> list[Sentence]:
    """(token, tag) per line of a CoNLL/BIO file: the first and last whitespace-separated fields."""

    def parse(line: str, where: str):
        fields = line.split()
        if fields[0] == "-DOCSTART-":
            return None
        if len(fields) < 2:
            raise ValueError(f"{where}: one column; expected 'token TAB tag'")
        return fields[0], fields[-1]

    return _sentences(Path(path), parse)


def read_tagged(path: str | Path, column: str | int = "upos") -> list[Sentence]:
    """Sentences of a CoNLL-U file (``.conllu``, or ten TAB-separated columns on its first token
    line; ``column`` picks the tag) or else of a two-column token/tag file."""
    path = Path(path)
    if path.suffix.lower() == ".conllu":
        return read_conllu(path, column)
    first = next((ln for ln in read_text_file(path).splitlines() if ln.strip() and not ln.startswith("#")), "")
    if len(first.split("\t")) == len(CONLLU_COLUMNS):
        return read_conllu(path, column)
    return read_two_column(path)


def write_tagged(sentences: list[Sentence]) -> str:
    """Sentences as the two-column format: ``token TAB tag`` lines, a blank line after each sentence."""
    return "".join("".join(f"{w}\t{t}\n" for w, t in zip(tokens, tags)) + "\n" for tokens, tags in sentences)
