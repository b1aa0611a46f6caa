"""Tests of rnnkit.data.text: the bundled text, the char vocabulary, the split and streaming."""

import hashlib
import json

import pytest
import torch

from rnnkit.data.text import NANOGPT_TRAIN_CHARS, CharVocab, StreamBatches, load_tinyshakespeare, nanogpt_split


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
