"""Readers for the files people have: line breaks, encodings, class folders, one file per class, CSV."""

from __future__ import annotations

import pytest

from rnnkit.data.labelled import read_classification, read_labelled
from rnnkit.data.text import read_text_file, split_lines


def test_split_lines_breaks_only_at_newline():
    text = "a\u0085b\r\nc\u2028d\re\nf"
    assert split_lines(text) == ["a\u0085b", "c\u2028d\re", "f"]
    assert split_lines("x\n") == ["x"] and split_lines("x\ny") == ["x", "y"]
    assert "".join(split_lines(text, keepends=True)) == text


def test_tsv_with_nel_reads_every_line_with_the_files_line_numbers(tmp_path):
    path = tmp_path / "reviews.tsv"
    rows = [f"{'pos' if i % 2 else 'neg'}\treview {i} caf\u00e9\u0085second part\u2028" for i in range(200)]
    path.write_text("\r\n".join(rows) + "\r\n", encoding="utf-8")
    texts, labels = read_labelled(path)
    assert len(texts) == 200 and texts[3] == "review 3 caf\u00e9\u0085second part\u2028"
    assert labels[:2] == ["neg", "pos"]
    path.write_text("\n".join(rows[:147] + ["no tab here\u0085still line 148"] + rows[147:]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"reviews.tsv, line 148: 1 column"):
        read_labelled(path)


def test_encoding_latin1_and_the_utf8_error_names_encoding(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_bytes("pos\tna\u00efve \u00e9t\u00e9\nneg\tbad\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"d.tsv, line 1: not UTF-8 text .*--encoding latin-1") as err:
        read_labelled(path)
    assert "\n" not in str(err.value)
    texts, _ = read_labelled(path, encoding="latin-1")
    assert texts[0] == "na\u00efve \u00e9t\u00e9"
    with pytest.raises(ValueError, match="unknown encoding"):
        read_labelled(path, encoding="klingon")


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-be"])
def test_byte_order_marks_are_detected(tmp_path, codec):
    path = tmp_path / "d.txt"
    data = "pos\tcaf\u00e9\nneg\tno\n".encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    assert read_text_file(path) == "pos\tcaf\u00e9\nneg\tno\n"


def test_csv_quoted_fields_with_newlines_and_line_numbers(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('label,text\npos,"two\nlines, and ""quotes"""\nneg,plain\n', encoding="utf-8")
    assert read_labelled(path, "text", "label") == (['two\nlines, and "quotes"', "plain"], ["pos", "neg"])
    path.write_text('label,text\npos,"a\nb"\nneg\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"d.csv, line 4: 1 column"):
        read_labelled(path, "text", "label")


def test_class_folder_layout(tmp_path):
    for label, texts in {"neg": ["awful", "dull\nand long"], "pos": ["great"]}.items():
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(t, encoding="utf-8")
    (tmp_path / ".hidden").mkdir()
    assert read_classification(tmp_path) == (["awful", "dull\nand long", "great"], ["neg", "neg", "pos"])


def test_one_file_per_class(tmp_path):
    (tmp_path / "pos.txt").write_text("good\n\nfine\n", encoding="utf-8")
    (tmp_path / "neg.txt").write_text("bad\n", encoding="utf-8")
    files = [tmp_path / "pos.txt", tmp_path / "neg.txt"]
    expected = (["good", "fine", "bad"], ["pos", "pos", "neg"])
    assert read_classification(files) == expected
    assert read_classification(",".join(map(str, files))) == expected
    with pytest.raises(ValueError, match="nothere.txt: no such file"):
        read_classification([tmp_path / "pos.txt", tmp_path / "nothere.txt"])
    with pytest.raises(ValueError, match="labels .* must differ"):
        read_classification([tmp_path / "pos.txt", tmp_path / "pos.txt"])
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="at least two classes"):
        read_classification(tmp_path)


def test_large_corpus_is_encoded_to_a_memmap_with_the_same_ids(tmp_path, monkeypatch):
    """Above LARGE_TEXT_BYTES the LM reads its corpus piece by piece into a memory-mapped id file
    in the cache; the vocabulary and the ids are those of the in-memory path."""
    import torch

    from rnnkit.data.text import read_pieces
    from rnnkit.tasks import lm

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    text = "".join(f"line {i} caf\u00e9 \u0085 the cat sat\r\n" for i in range(3000))
    assert "".join(read_pieces_of(read_pieces, tmp_path, text)) == text.replace("\r\n", "\n")
    for level, files in (("char", {"corpus.txt": text}),
                         ("word", {"ptb.train.txt": text, "ptb.valid.txt": "the cat\n", "ptb.test.txt": "a dog\n"})):
        for name, body in files.items():
            (tmp_path / name).write_text(body, encoding="utf-8", newline="")
        data = str(tmp_path / next(iter(files)))
        cfg = lm.LMConfig(data=data, level=level, hidden_size=8, embed_size=8, num_layers=1, batch_size=4, seq_len=16)
        small = lm.LanguageModelTask(cfg)
        monkeypatch.setattr(lm, "LARGE_TEXT_BYTES", 1000)
        big = lm.LanguageModelTask(cfg)
        monkeypatch.setattr(lm, "LARGE_TEXT_BYTES", 64 << 20)
        assert big.vocab.to_json() == small.vocab.to_json()
        assert big.train_stream.x.dtype == torch.int32
        assert torch.equal(big.train_stream.x.long(), small.train_stream.x)
        assert all(torch.equal(big.eval_streams[s].y.long(), small.eval_streams[s].y) for s in small.eval_streams)
        batch = next(iter(big.train_batches(0, 0, 1)))
        assert batch.x.dtype == torch.long
    cached = sorted((tmp_path / "cache").iterdir())
    assert any(p.name.startswith("corpus.txt.") and p.stat().st_size == 4 * len(text.replace("\r\n", "\n"))
               for p in cached)


def read_pieces_of(read_pieces, tmp_path, text):
    path = tmp_path / "pieces.txt"
    path.write_bytes(text.encode("utf-8"))
    pieces = list(read_pieces(path, size=100))
    assert len(pieces) > 10 and all(p.endswith("\n") for p in pieces[:-1])
    return pieces


def test_classify_train_from_one_file_per_class_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from rnnkit.cli import app

    (tmp_path / "pos.txt").write_text("".join(f"good fine great {i}\n" for i in range(30)), encoding="utf-8")
    (tmp_path / "neg.txt").write_text("".join(f"bad awful poor {i}\n" for i in range(30)), encoding="latin-1")
    result = CliRunner().invoke(app, ["classify", "train", "--data", str(tmp_path / "pos.txt"), "--data",
                                      str(tmp_path / "neg.txt"), "--max-epochs", "2", "--hidden-size", "4",
                                      "--embed-size", "4", "--threads", "1", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "neg" in result.output and "pos" in result.output
