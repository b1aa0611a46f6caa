"""Tests of rnnkit.data.text: the bundled text, splits, char and word vocabularies, and streaming."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from rnnkit.data.text import (
    EOS,
    NANOGPT_TRAIN_CHARS,
    UNK,
    CharVocab,
    StreamBatches,
    WordVocab,
    load_tinyshakespeare,
    nanogpt_split,
    read_splits,
    vocab_from_json,
    words,
)

ROOT = Path(__file__).resolve().parent.parent


def test_bundled_text_is_the_char_rnn_file_byte_for_byte():
    text = load_tinyshakespeare()
    assert len(text) == 1_115_394
    digest = hashlib.sha256(text.encode("ascii")).hexdigest()
    assert digest == "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def test_nanogpt_split_of_tiny_shakespeare():
    train, val = nanogpt_split(load_tinyshakespeare())
    assert (len(train), len(val)) == (NANOGPT_TRAIN_CHARS, 111_540)
    assert train + val == load_tinyshakespeare()


def test_vocab_round_trips_text_and_json(tmp_path):
    vocab = CharVocab.from_text("hello, world\n")
    assert vocab.chars == sorted(set("hello, world\n"))
    ids = vocab.encode("world")
    assert ids.dtype == torch.long and vocab.decode(ids) == "world"
    vocab.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text()) == {"kind": "char", "chars": "\n ,dehlorw"}
    assert CharVocab.load(tmp_path / "vocab.json").chars == vocab.chars


def test_vocab_names_an_unknown_character():
    with pytest.raises(ValueError, match="'Z' is not in the vocabulary"):
        CharVocab.from_text("abc").encode("abZc")


def test_vocab_rejects_json_that_is_not_a_char_vocab():
    with pytest.raises(ValueError, match="not a character vocabulary"):
        CharVocab.from_json({"kind": "bpe"})


def test_stream_rows_are_contiguous_and_targets_are_the_next_id():
    ids = torch.arange(103)
    stream = StreamBatches(ids, batch_size=4, seq_len=10)  # L = 102 // 4 = 25 ids per row
    chunks = list(stream)
    assert len(stream) == len(chunks) == 3 and [c[0].shape[1] for c in chunks] == [10, 10, 5]
    rows = torch.cat([x for x, _ in chunks], dim=1)
    targets = torch.cat([y for _, y in chunks], dim=1)
    assert torch.equal(rows, torch.arange(100).view(4, 25))  # row b continues itself chunk after chunk
    assert torch.equal(targets, rows + 1)


def test_stream_rows_split_the_batch_between_processes():
    stream = StreamBatches(torch.arange(41), batch_size=4, seq_len=5)
    (x0, _), (x1, _) = next(iter(stream.rows(slice(0, 2)))), next(iter(stream.rows(slice(2, 4))))
    assert torch.equal(torch.cat([x0, x1]), next(iter(stream))[0])


def test_stream_rejects_bad_sizes():
    with pytest.raises(ValueError, match="too few"):
        StreamBatches(torch.arange(3), batch_size=4, seq_len=2)
    with pytest.raises(ValueError, match="seq_len"):
        StreamBatches(torch.arange(30), batch_size=2, seq_len=0)


def test_words_end_every_line_with_eos_and_leave_an_open_last_line():
    assert words(" the cat \n sat <unk> \n") == ["the", "cat", EOS, "sat", UNK, EOS]
    assert words("the company") == ["the", "company"]
    assert words("a\n\nb") == ["a", EOS, EOS, "b"]


def test_word_vocab_is_closed_maps_unknown_words_to_unk_and_round_trips_json():
    vocab = WordVocab.from_text(" a b a \n c a \n")
    assert vocab.tokens == ["a", EOS, "b", "c", UNK]  # by training frequency, then alphabetically
    assert vocab.encode("a zebra c\n").tolist() == [0, 4, 3, 1]
    assert vocab.unknown("zebra a okapi zebra") == ["zebra", "okapi"]
    assert vocab.decode(vocab.encode("a b\nc")) == " a b\n c"
    restored = vocab_from_json(json.loads(json.dumps(vocab.to_json())))
    assert isinstance(restored, WordVocab) and restored.tokens == vocab.tokens
    assert isinstance(vocab_from_json(CharVocab.from_text("ab").to_json()), CharVocab)
    with pytest.raises(ValueError, match="unknown vocabulary kind 'bpe'"):
        vocab_from_json({"kind": "bpe"})
    with pytest.raises(ValueError, match="including <unk> and <eos>"):
        WordVocab(["a", "b"])


def test_a_vocabulary_says_whether_a_token_is_a_character_or_a_word():
    assert CharVocab.from_text("abc").unit == "char"
    assert WordVocab.from_text(" a b _ c \n").unit == "char"  # char PTB: characters separated by spaces
    assert WordVocab.from_text(" a cat \n").unit == "word"


def test_ptb_closed_vocabulary_has_ten_thousand_words():
    text = (ROOT / "data" / "ptb" / "ptb.train.txt").read_text()
    vocab = WordVocab.from_text(text)
    assert len(vocab) == 10_000 and len(words(text)) == 929_589
    assert vocab.unknown((ROOT / "data" / "ptb" / "ptb.test.txt").read_text()) == []


def _ptb_like(root, prefix="toy"):
    for split, text in (("train", " a b \n b c \n"), ("valid", " c a \n"), ("test", " a a d \n")):
        (root / f"{prefix}.{split}.txt").write_text(text)
    return root / f"{prefix}.train.txt"


def test_read_splits_finds_valid_and_test_beside_a_train_file(tmp_path):
    texts = read_splits(str(_ptb_like(tmp_path)))
    assert texts == {"train": " a b \n b c \n", "val": " c a \n", "test": " a a d \n"}


def test_read_splits_of_a_single_file_is_the_nanogpt_split(tmp_path):
    (tmp_path / "story.txt").write_text("x" * 90 + "y" * 10)
    assert read_splits(str(tmp_path / "story.txt")) == {"train": "x" * 90, "val": "y" * 10}
    assert read_splits("") == dict(zip(("train", "val"), nanogpt_split(load_tinyshakespeare())))


def test_read_splits_names_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="nope.txt: no such file"):
        read_splits(str(tmp_path / "nope.txt"))
    with pytest.raises(ValueError, match="is a directory; give a text file"):
        read_splits(str(tmp_path))
    train = _ptb_like(tmp_path)
    (tmp_path / "toy.test.txt").unlink()
    with pytest.raises(ValueError, match="but not .*toy.test.txt"):
        read_splits(str(train))
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        read_splits(str(tmp_path / "latin1.txt"))
