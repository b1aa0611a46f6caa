"""Property tests: arbitrary bytes and unicode through the data readers, tokenizers, vocabularies
and the config parser give a result or a ValueError, never another exception."""

from __future__ import annotations

import contextlib
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data.labelled import TokenVocab, read_labelled, tokenize
from rnnkit.data.text import CharVocab, read_text_file
from rnnkit.tasks.lm import LMConfig
from rnnkit.train.config import TrainConfig, build_configs

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CLASSES = {"train": TrainConfig, "lm": LMConfig}
FLAGS = [f"--{name.replace('_', '-')}" for cls in (TrainConfig, LMConfig) for name in cls.__dataclass_fields__]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                    max_leaves=10)
TSV_BYTES = st.one_of(st.binary(max_size=300),
                      st.text(alphabet=st.sampled_from("ab,\t\n\r\"' \x00é£"), max_size=200).map(str.encode),
                      st.lists(st.tuples(st.sampled_from(["ham", "spam", "x", ""]), st.text(max_size=20)), max_size=12)
                      .map(lambda rows: "".join(f"{y}\t{t}\n" for y, t in rows).encode("utf-8", "surrogatepass")))


def _write(data: bytes, suffix: str) -> Path:
    path = Path(tempfile.mkdtemp()) / f"data{suffix}"
    path.write_bytes(data)
    return path


@FAST
@given(st.text(max_size=200))
def test_char_vocab_round_trips_any_text(text):
    vocab = CharVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text
    assert CharVocab.from_json(vocab.to_json()).chars == vocab.chars


@FAST
@given(st.text(max_size=30), st.text(max_size=30))
def test_char_vocab_encodes_or_names_the_unknown_character(known, other):
    vocab = CharVocab.from_text(known)
    try:
        ids = vocab.encode(other)
    except ValueError as err:
        assert any(c not in known and repr(c) in str(err) for c in other)
    else:
        assert vocab.decode(ids) == other


@FAST
@given(JSON)
def test_vocabularies_from_arbitrary_json_are_built_or_refused(obj):
    for build in (CharVocab.from_json, TokenVocab.from_json):
        with contextlib.suppress(ValueError):
            build(obj)


@FAST
@given(st.text(), st.sampled_from(["word", "char"]))
def test_tokenize_any_unicode(text, level):
    tokens = tokenize(text, level)
    assert all(isinstance(t, str) and t for t in tokens)
    if level == "char":
        assert "".join(tokens) == text
    else:
        assert not any(c in string.whitespace for t in tokens for c in t)


@FAST
@given(TSV_BYTES, st.sampled_from([".tsv", ".csv", ".txt"]),
       st.sampled_from([("1", "0"), ("0", "1"), ("text", "label"), ("5", "0"), ("", "0")]))
def test_read_labelled_any_bytes(data, suffix, cols):
    path = _write(data, suffix)
    try:
        texts, labels = read_labelled(path, *cols)
    except ValueError as err:
        assert str(path) in str(err)
    else:
        assert len(texts) == len(labels) and len(set(labels)) >= 2


@FAST
@given(st.binary(max_size=300))
def test_read_text_file_any_bytes(data):
    path = _write(data, ".txt")
    try:
        text = read_text_file(path)
    except ValueError as err:
        assert str(path) in str(err)
    else:
        if not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):  # a BOM picks the codec
            assert text == data.decode("utf-8").replace("\r\n", "\n")  # lines break only at \n and \r\n
        assert text and "\x00" not in text


@FAST
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                 st.lists(st.tuples(st.sampled_from(["[train]", "[lm]", "[x]", ""]),
                                    st.sampled_from([f.lstrip("-").replace("-", "_") for f in FLAGS] + ["evil"]),
                                    st.sampled_from(["1", "0", "-3", "1e400", "nan", "true", '"adam"', '"x"', "[1]",
                                                     "{a=1}", "2026-01-01", "0.5"])), max_size=6)
                 .map(lambda rows: "\n".join(f"{t}\n{k} = {v}" for t, k, v in rows))))
def test_build_configs_any_toml(text):
    path = _write(text.encode("utf-8", "surrogatepass"), ".toml")
    try:
        cfgs = build_configs(CLASSES, str(path), [])
    except ValueError:
        return
    assert isinstance(cfgs["train"], TrainConfig) and isinstance(cfgs["lm"], LMConfig)


@FAST
@given(st.lists(st.one_of(st.sampled_from(FLAGS + ["--no-tensorboard", "--frob"]),
                          st.sampled_from(["1", "0", "-1", "nan", "inf", "x", "lstm", "1e9", "0.1", ""]),
                          st.text(max_size=6)), max_size=8))
def test_build_configs_any_flags(args):
    try:
        cfgs = build_configs(CLASSES, None, args)
    except ValueError:
        return
    assert cfgs["train"].lr > 0 and cfgs["lm"].hidden_size >= 1
