"""Text data for language models: the bundled tiny Shakespeare, train/val/test splits (the nanoGPT
90/10 split of one file, or PTB-style train/valid/test files), character and word vocabularies,
and stateful streaming batches (char-rnn / Zaremba style).

Shape letters: B = batch rows, T = chunk length in tokens, N = tokens in a text.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import numpy as np
import torch

NANOGPT_TRAIN_CHARS = 1_003_854  # nanoGPT's split of tiny Shakespeare: train = text[:1003854]


def load_tinyshakespeare() -> str:
    """The tiny Shakespeare text shipped with rnnkit (1,115,394 ASCII chars; see its SOURCE file)."""
    return resources.files("rnnkit.data").joinpath("bundled/tinyshakespeare.txt").read_text("ascii")


BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode_bytes(data: bytes, encoding: str, where: str | Path) -> str:
    """`data` decoded as `encoding`; with "utf-8" (the default) a UTF-8 or UTF-16 byte-order mark
    picks the codec and is dropped. ValueError naming `where`, the line and the byte, and saying
    which --encoding to try, if the bytes are not of that encoding."""
    codec = encoding
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        codec = next((name for bom, name in BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(codec)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)") from None
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        name = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16"}.get(codec, encoding)
        raise ValueError(
            f"{where}, line {line}: not {name} text (byte {err.start}: {data[err.start]:#04x}); "
            "if it is Latin-1 or Windows-1252 text, pass --encoding latin-1 or --encoding cp1252"
        ) from None


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of a file in `encoding` (see `decode_bytes`: BOMs detected, undecodable bytes
    reported with the --encoding to try), "\r\n" read as "\n" (a lone "\r" is kept); ValueError
    naming the file if it is missing, not a regular file, not of that encoding, binary (contains NUL) or empty."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file" if not path.exists() else f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: cannot read ({err.strerror})") from None
    text = decode_bytes(data, encoding, path).replace("\r\n", "\n")
    if "\x00" in text:
        raise ValueError(f"{path}: binary data, not text")
    if not text:
        raise ValueError(f"{path}: empty file")
    return text


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """The lines of `text`, broken only at "\n" (a "\r" before it belongs to the break), so the
    i-th item is the file's line i + 1. Unlike str.splitlines, U+0085 (NEL), U+2028, a lone "\r"
    and other separators stay inside their line. A final break ends the last line (no empty item)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif keepends:
        return [line + "\n" for line in lines[:-1]] + [lines[-1]]
    if keepends:
        return [line + "\n" for line in lines]
    return [line.removesuffix("\r") for line in lines]


def nanogpt_split(text: str) -> tuple[str, str]:
    """(train, val): the first int(0.9 N) characters and the rest, as nanoGPT's prepare.py splits
    (for tiny Shakespeare: text[:1003854] and text[1003854:])."""
    n = int(len(text) * 0.9)
    return text[:n], text[n:]


def split_files(data: str) -> dict[str, Path]:
    """The files of `data`'s splits: {"train": data} plus, for a PTB-style train file, its "valid"
    and "test" siblings ({"train", "val", "test"}); ValueError naming the file if it is missing."""
    path = Path(data)
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory; give a text file (for PTB the train file, e.g. "
            f"{path / 'ptb.train.txt'}: its valid and test files are found beside it)"
        )
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    files = {"train": path}
    if "train" in path.name:
        for split, word in (("val", "valid"), ("test", "test")):
            files[split] = path.with_name(word.join(path.name.rsplit("train", 1)))
        found = [f.is_file() for f in files.values()]
        if any(found[1:]) and not all(found):
            missing = [str(f) for f in files.values() if not f.is_file()]
            raise ValueError(f"{path}: found some of its sibling splits but not {', '.join(missing)}")
        if not all(found):
            files = {"train": path}
    return files


def read_splits(data: str, encoding: str = "utf-8") -> dict[str, str]:
    """The texts of the splits of `data`: {"train", "val"} or {"train", "val", "test"}.

    "" is the bundled tiny Shakespeare. A file whose name contains "train" and has siblings with
    "valid" and "test" in its place (PTB's ptb.train.txt, ptb.valid.txt, ptb.test.txt) gives the
    three files; any other file is split 90/10 as nanoGPT (no test split). Problems raise a
    ValueError naming the file.
    """
    if not data:
        return dict(zip(("train", "val"), nanogpt_split(load_tinyshakespeare())))
    files = split_files(data)
    texts: dict[str, str] = {split: read_text_file(f, encoding) for split, f in files.items()}
    if len(files) == 1:
        texts = dict(zip(("train", "val"), nanogpt_split(texts["train"])))
    if not texts["train"].strip():
        raise ValueError(f"{data}: no text")
    return texts


class CharVocab:
    """A sorted character vocabulary: id i is the i-th distinct character."""

    unit = "char"  # what one token is, for reporting

    def __init__(self, chars: list[str]):
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError(f"chars must be distinct single characters, got {chars!r}")
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        """Ids of `text` as a (N,) int64 tensor; ValueError naming the first unknown character."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def to_json(self) -> dict:
        return {"kind": "char", "chars": "".join(self.chars)}

    @classmethod
    def from_json(cls, obj: dict) -> CharVocab:
        if not isinstance(obj, dict) or obj.get("kind") != "char" or not isinstance(obj.get("chars"), str):
            raise ValueError("not a character vocabulary: expected {'kind': 'char', 'chars': '...'}")
        return cls(list(obj["chars"]))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


EOS, UNK = "<eos>", "<unk>"


def words(text: str) -> list[str]:
    """Whitespace-separated tokens, with <eos> at the end of every line (PTB: line.split() + [<eos>]).

    A last line without a newline gets no <eos>, so a prime such as "the company" stays open.
    """
    lines = text.split("\n")
    return [t for line in lines[:-1] for t in (*line.split(), EOS)] + lines[-1].split()


class WordVocab:
    """A closed word vocabulary: training words, most frequent first, plus <unk> and <eos>.

    A word outside it is read as <unk> (PTB's own convention: its 10k vocabulary already holds
    <unk>). Text is tokenised by `words`, and decoded as " w1 w2" with <eos> as a newline.
    """

    def __init__(self, tokens: list[str]):
        if len(set(tokens)) != len(tokens) or UNK not in tokens or EOS not in tokens:
            raise ValueError(f"a word vocabulary holds distinct words including {UNK} and {EOS}")
        self.tokens = list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def from_text(cls, text: str) -> WordVocab:
        counts = Counter(words(text))
        counts.update({UNK: 0, EOS: 0})
        return cls(sorted(counts, key=lambda t: (-counts[t], t)))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def unit(self) -> str:
        """What one token is, for reporting: "char" when every token but <unk> and <eos> is a single
        character (char PTB, whose files space-separate the characters), else "word"."""
        return "char" if all(len(t) == 1 for t in self.tokens if t not in (UNK, EOS)) else "word"

    def unknown(self, text: str) -> list[str]:
        """The distinct words of `text` that are read as <unk>, in order of appearance."""
        return list(dict.fromkeys(t for t in words(text) if t not in self.index))

    def encode(self, text: str) -> torch.Tensor:
        """Ids of the words of `text` as a (N,) int64 tensor; unknown words are <unk>."""
        unk = self.index[UNK]
        return torch.tensor([self.index.get(t, unk) for t in words(text)], dtype=torch.long)

    def decode(self, ids: torch.Tensor | list[int]) -> str:
        return "".join("\n" if t == EOS else " " + t for t in (self.tokens[int(i)] for i in ids))

    def to_json(self) -> dict:
        return {"kind": "word", "words": self.tokens}

    @classmethod
    def from_json(cls, obj: dict) -> WordVocab:
        if obj.get("kind") != "word" or not isinstance(obj.get("words"), list):
            raise ValueError("not a word vocabulary: expected {'kind': 'word', 'words': [...]}")
        return cls(obj["words"])


VOCABS = {"char": CharVocab, "word": WordVocab}


def vocab_from_json(obj: object) -> CharVocab | WordVocab:
    """The vocabulary saved as `obj` by either class's to_json."""
    if not isinstance(obj, dict) or obj.get("kind") not in VOCABS:
        kind = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"unknown vocabulary kind {kind!r} (known: {', '.join(VOCABS)})")
    return VOCABS[obj["kind"]].from_json(obj)


class StreamBatches:
    """A long id sequence laid out as B contiguous rows, read as consecutive (B, T) chunks.

    Row b reads ids[b*L : (b+1)*L] and predicts ids[b*L + 1 : (b+1)*L + 1], L = (N - 1) // B, so
    the chunk i of row b continues chunk i - 1 of the same row: a recurrent state carried from one
    chunk to the next sees the text in order (char-rnn / Zaremba et al. 2014). The last chunk may be shorter than T; the
    trailing (N - 1) % B ids are not predicted.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int):
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
        row_len = (len(ids) - 1) // batch_size
        if row_len < 1:
            raise ValueError(f"{len(ids)} ids are too few for {batch_size} rows")
        self.seq_len = seq_len
        self.x = ids[: batch_size * row_len].view(batch_size, row_len)  # (B, L)
        self.y = ids[1 : batch_size * row_len + 1].view(batch_size, row_len)  # (B, L), x shifted by one

    def __len__(self) -> int:
        return -(-self.x.shape[1] // self.seq_len)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, self.x.shape[1], self.seq_len):
            yield self.x[:, start : start + self.seq_len], self.y[:, start : start + self.seq_len]

    def rows(self, rows: slice) -> StreamBatches:
        """The same stream restricted to some rows (one rank's share of a data-parallel batch)."""
        part = object.__new__(StreamBatches)
        part.seq_len, part.x, part.y = self.seq_len, self.x[rows], self.y[rows]
        return part


LARGE_TEXT_BYTES = 64 << 20  # a training file above this size is encoded once into a memory-mapped id file


def read_pieces(path: Path, encoding: str = "utf-8", size: int = 1 << 20) -> Iterator[str]:
    """The text of a file as pieces of about `size` bytes, each ending at a line break (the last at
    the end of the file), decoded incrementally as `read_text_file` decodes a whole file."""
    with open(path, "rb") as f:
        block = f.read(4)
        codec = encoding
        if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            codec = next((name for bom, name in BOMS if block.startswith(bom)), "utf-8")
        try:
            decoder = codecs.getincrementaldecoder(codec)()
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r} (e.g. utf-8, latin-1, cp1252, utf-16)") from None
        carry, offset = "", 0
        while True:
            try:
                carry += decoder.decode(block, final=not block)
            except UnicodeDecodeError as err:
                raise ValueError(
                    f"{path}: not {encoding} text (near byte {offset + err.start}); if it is Latin-1 or "
                    "Windows-1252 text, pass --encoding latin-1 or --encoding cp1252"
                ) from None
            offset += len(block)
            if not block:
                if carry:
                    yield carry.replace("\r\n", "\n")
                return
            cut = carry.rfind("\n") + 1
            if cut:
                yield carry[:cut].replace("\r\n", "\n")
                carry = carry[cut:]
            block = f.read(size)


def cache_dir() -> Path:
    """Where encoded corpora are kept: $RNNKIT_CACHE, else $XDG_CACHE_HOME/rnnkit, else ~/.cache/rnnkit."""
    if os.environ.get("RNNKIT_CACHE"):
        return Path(os.environ["RNNKIT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnkit"


def streamed_vocab(files: dict[str, Path], level: str, encoding: str) -> CharVocab | WordVocab:
    """The vocabulary `rnnkit.tasks.lm.build_vocab` would build (char: every split's characters;
    word: the training split's words), read piece by piece."""
    if level == "char":
        chars: set[str] = set()
        for path in files.values():
            for piece in read_pieces(path, encoding):
                chars.update(piece)
        return CharVocab(sorted(chars))
    counts: Counter = Counter({UNK: 0, EOS: 0})
    for piece in read_pieces(files["train"], encoding):
        counts.update(words(piece))
    return WordVocab(sorted(counts, key=lambda t: (-counts[t], t)))


def encode_to_memmap(path: Path, vocab: CharVocab | WordVocab, encoding: str) -> torch.Tensor:
    """The ids of a file's text as an int32 tensor backed by a memory-mapped file in `cache_dir()`,
    written once (atomically) per file version, vocabulary and encoding, then reused: memory stays
    bounded by one piece of text, whatever the size of the file."""
    stat = path.stat()
    key = json.dumps([str(path.resolve()), stat.st_size, stat.st_mtime_ns, encoding, vocab.to_json()])
    out = cache_dir() / f"{path.name}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.i32"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            f.writelines(vocab.encode(piece).to(torch.int32).numpy().tobytes() for piece in read_pieces(path, encoding))
        os.replace(tmp, out)
    if out.stat().st_size == 0:
        raise ValueError(f"{path}: no text")
    return torch.from_numpy(np.memmap(out, dtype=np.int32, mode="c"))


def memmap_splits(
    data: str, level: str, encoding: str = "utf-8"
) -> tuple[CharVocab | WordVocab, dict[str, torch.Tensor]]:
    """(vocabulary, {"train", "val"[, "test"]: int32 ids}) of a large corpus, in bounded memory: the
    files of `split_files(data)` read piece by piece and encoded once into memory-mapped id files.
    A single file is split 90/10 by tokens (for characters, nanoGPT's split)."""
    files = split_files(data)
    vocab = streamed_vocab(files, level, encoding)
    ids = {split: encode_to_memmap(path, vocab, encoding) for split, path in files.items()}
    if len(files) == 1:
        n = int(len(ids["train"]) * 0.9)
        ids = {"train": ids["train"][:n], "val": ids["train"][n:]}
    return vocab, ids
