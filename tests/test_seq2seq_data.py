"""Tests of rnnkit.data.pairs: TSV pairs, generated tasks, the special-token vocabulary, splits."""

import datetime

import pytest

from rnnkit.data.pairs import DATE_FORMATS, PairVocab, addition_pairs, date_pairs, pad_batch, read_tsv, split_pairs


def test_addition_pairs_are_correct_distinct_and_seeded():
    pairs = addition_pairs(2000, seed=3)
    assert len(set(pairs)) == 2000 and pairs == addition_pairs(2000, seed=3) != addition_pairs(2000, seed=4)
    for src, tgt in pairs:
        a, b = src.split("+")
        assert 1 <= len(a) <= 3 and 1 <= len(b) <= 3 and int(a) + int(b) == int(tgt)


def test_date_pairs_name_the_iso_date():
    pairs = date_pairs(500, seed=1)
    assert len({s for s, _ in pairs}) == 500 and pairs == date_pairs(500, seed=1)
    for src, tgt in pairs:
        d = datetime.date.fromisoformat(tgt)
        assert src in {f(d) for f in DATE_FORMATS}
    assert DATE_FORMATS[0](datetime.date(2021, 3, 5)) == "march 5th, 2021"
    assert DATE_FORMATS[3](datetime.date(2001, 11, 12)) == "12th of november 2001"


def test_split_is_disjoint_complete_and_seeded():
    pairs = addition_pairs(1000)
    s = split_pairs(pairs, 0.1, 0.2, seed=5)
    assert [len(s[k]) for k in ("train", "val", "test")] == [700, 100, 200]
    assert sorted(s["train"] + s["val"] + s["test"]) == sorted(pairs)
    assert s == split_pairs(pairs, 0.1, 0.2, seed=5)
    with pytest.raises(ValueError, match="val_frac"):
        split_pairs(pairs, 0.6, 0.5)


def test_vocab_specials_encode_decode_and_json():
    v = PairVocab.from_texts(["ab", "ca"])
    assert v.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"] and len(v) == 7
    ids = v.encode("cab")
    assert v.decode(ids + [PairVocab.eos, 5]) == "cab"  # stops at <eos>
    assert v.decode([PairVocab.sos, 4, PairVocab.pad, PairVocab.unk]) == "a?"
    with pytest.raises(ValueError, match="'z' is not in the vocabulary"):
        v.encode("az")
    assert v.encode("az", unknown="unk") == [4, PairVocab.unk]
    assert PairVocab.from_json(v.to_json()).tokens == v.tokens


def test_pad_batch_appends_eos_then_pad():
    assert pad_batch([[5, 6], [7]], eos=True).tolist() == [[5, 6, 2], [7, 2, 0]]
    assert pad_batch([[5]], length=3).tolist() == [[5, 0, 0]]


def test_read_tsv_reports_file_and_line(tmp_path):
    good = tmp_path / "good.tsv"
    good.write_text("hello\tbonjour\n\ncat\tchat\tle\n", encoding="utf-8")
    assert read_tsv(good) == [("hello", "bonjour"), ("cat", "chat\tle")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nno tab here\n")
    with pytest.raises(ValueError, match=r"bad.tsv:2: .*no TAB"):
        read_tsv(bad)
    bad.write_text("a\t\n")
    with pytest.raises(ValueError, match="bad.tsv:1: empty target"):
        read_tsv(bad)
    with pytest.raises(ValueError, match="cannot read pairs file"):
        read_tsv(tmp_path / "missing.tsv")
