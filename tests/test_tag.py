"""Sequence tagging: conlleval spans and metrics by hand-worked examples, the model's contract, and
a tiny tagger that learns, saves, loads and predicts."""

import json

import pytest
import torch

from rnnkit.tasks.tag import (
    Encoder,
    SequenceTagger,
    TagConfig,
    Tagger,
    TaggingTask,
    build_tagger,
    is_span_scheme,
    spans,
    tagging_metrics,
)
from rnnkit.train import TrainConfig


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], {(0, 1, "PER"), (3, 3, "LOC")}),
        (["I-PER", "I-PER", "O"], {(0, 1, "PER")}),  # I after O starts a chunk
        (["B-PER", "I-LOC"], {(0, 0, "PER"), (1, 1, "LOC")}),  # a change of type starts a chunk
        (["B-PER", "B-PER"], {(0, 0, "PER"), (1, 1, "PER")}),
        (["S-PER", "B-LOC", "I-LOC", "E-LOC", "E-LOC"], {(0, 0, "PER"), (1, 3, "LOC"), (4, 4, "LOC")}),
        (["O", "O"], set()),
    ],
)
def test_spans_follow_conlleval(tags, expected):
    assert spans(tags) == expected


def test_metrics_hand_worked():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG"]]  # PER right, LOC missed (ORG instead), ORG right
    m = tagging_metrics(gold, pred)
    assert m["accuracy"] == pytest.approx(4 / 5)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    m = tagging_metrics([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])  # a cut span is wrong
    assert (m["precision"], m["recall"], m["f1"], m["accuracy"]) == pytest.approx((0.0, 0.0, 0.0, 2 / 3))
    assert "f1" not in tagging_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]])  # not a span tag set


def test_span_scheme_detection():
    assert is_span_scheme(["O", "B-PER", "I-PER", "S-LOC", "E-LOC"])
    assert not is_span_scheme(["O", "O"]) and not is_span_scheme(["NOUN", "B-PER"])


SENTENCES = [
    (["The", "cat", "sat"], ["DET", "NOUN", "VERB"]),
    (["A", "dog", "ran", "home"], ["DET", "NOUN", "VERB", "NOUN"]),
    (["The", "dog", "sat"], ["DET", "NOUN", "VERB"]),
    (["A", "cat", "ran"], ["DET", "NOUN", "VERB"]),
] * 4


def small_config(**fields):
    return TagConfig(
        **{
            "embed_size": 8,
            "char_embed_size": 4,
            "char_hidden_size": 4,
            "hidden_size": 8,
            "min_freq": 1,
            "batch_size": 4,
            "batch_tokens": 0,
            "dropout": 0.0,
            "word_dropout": 0.0,
            "members": 1,
            **fields,
        }
    )


def test_each_spelling_is_encoded_once_and_padding_is_ignored():
    cfg = small_config()
    encoder = Encoder.build(SENTENCES, cfg)
    model = SequenceTagger(len(encoder.words), len(encoder.chars), len(encoder.tags), cfg).eval()
    x = encoder.inputs([["The", "cat", "The"], ["cat"]])
    chars = x[..., 1:].reshape(6, -1)
    together = model.spell(chars)
    alone = torch.cat([model.spell(row[None]) for row in chars])  # each spelling encoded by itself
    torch.testing.assert_close(together, alone)
    torch.testing.assert_close(together[0], together[2])
    scores = model(x)[0]
    torch.testing.assert_close(scores[1, :1], model(encoder.inputs([["cat"]]))[0][0])  # padding does not leak


def test_unseen_words_read_as_unk_with_their_spelling():
    cfg = small_config()
    encoder = Encoder.build(SENTENCES, cfg)
    x = encoder.inputs([["Zebra"]])
    assert x[0, 0, 0] == 1 and x[0, 0, 1:6].ne(0).all()  # <unk>, five characters (Z unseen -> <unk> char)
    cfg = small_config(max_word_chars=4)
    assert Encoder.build(SENTENCES, cfg).spelling("abcdefgh") == Encoder.build(SENTENCES, cfg).spelling("abgh")


def test_word_dropout_reads_words_as_unk_in_training_only():
    cfg = small_config()
    encoder = Encoder.build(SENTENCES, cfg)
    model = SequenceTagger(len(encoder.words), len(encoder.chars), len(encoder.tags), cfg)
    model.unk_prob.fill_(1.0)  # every training token read as <unk>
    x = encoder.inputs([["The", "cat", "sat"], ["A", "dog"]])
    unk = x.clone()
    unk[..., 0] = torch.where(x[..., 0] != 0, 1, 0)  # every word <unk>, padding kept
    torch.testing.assert_close(model.train()(x)[0], model.eval()(unk)[0])  # (dropout 0: only words differ)
    assert not torch.allclose(model.eval()(x)[0], model(unk)[0])  # in eval the words are read
    torch.testing.assert_close(model(x)[0], model(x)[0])


def test_an_ensemble_tags_by_the_mean_of_its_members_probabilities():
    cfg = small_config(members=3)
    encoder = Encoder.build(SENTENCES, cfg)
    model = build_tagger(len(encoder.words), len(encoder.chars), len(encoder.tags), cfg).eval()
    x = encoder.inputs([["The", "cat", "sat"], ["A", "dog"]])
    y = encoder.targets([["DET", "NOUN", "VERB"], ["DET", "NOUN"]])
    p = torch.stack([member(x)[0].softmax(-1) for member in model.members]).mean(0)  # (B, T, K)
    log_p, loss, _ = model(x, y)
    torch.testing.assert_close(log_p.exp(), p)
    mask = x[..., 0] != 0
    torch.testing.assert_close(loss, -p[mask].gather(1, y[mask][:, None]).log().mean())
    assert torch.equal(model.decode(x)[mask], p.argmax(-1)[mask])
    members_loss = torch.stack([member(x, y)[1] for member in model.members]).mean()
    torch.testing.assert_close(model.train()(x, y)[1], members_loss)  # (dropout 0) training: their mean loss


def test_a_crf_ensemble_of_equal_members_decodes_as_each_of_them():
    cfg = small_config(members=2, crf=True)
    encoder = Encoder.build(SENTENCES, cfg)
    model = build_tagger(len(encoder.words), len(encoder.chars), len(encoder.tags), cfg).eval()
    with torch.no_grad():
        for param in model.members[0].crf.parameters():
            param.normal_()  # a CRF that decides: emissions alone would give another path
    model.members[1].load_state_dict(model.members[0].state_dict())
    x = encoder.inputs([["The", "cat", "sat"], ["A", "dog"]])
    assert torch.equal(model.decode(x), model.members[0].decode(x))
    assert not torch.equal(model.decode(x), model.members[0](x)[0].argmax(-1))


def test_word_dropout_alpha_drops_rare_words_more():
    cfg = small_config(word_dropout=0.1, word_dropout_alpha=0.25)
    task = TaggingTask(cfg, {"train": SENTENCES[:2] + SENTENCES[1:2], "val": SENTENCES[:1], "test": SENTENCES[:1]})
    counts = dict(zip(task.encoder.words.tokens, task.word_counts().tolist()))
    assert counts["a"] == 2 and counts["the"] == 1 and counts["<unk>"] == 0
    probs = dict(zip(task.encoder.words.tokens, task.model.unk_prob.tolist()))
    assert probs["a"] == pytest.approx(1 - 0.9 * (1 - 0.25 / 2.25))
    assert probs["the"] == pytest.approx(1 - 0.9 * (1 - 0.25 / 1.25))
    plain = TaggingTask(small_config(word_dropout=0.1), task.data).model.unk_prob
    assert plain.tolist() == pytest.approx([0.1] * len(plain))


@pytest.mark.parametrize("fields", [{}, {"crf": True}, {"members": 2}, {"members": 2, "crf": True}])
def test_tiny_tagger_learns_saves_loads_and_predicts(tmp_path, fields):
    tagger = Tagger(
        small_config(**fields),
        TrainConfig(max_epochs=40, run_dir=str(tmp_path / "run"), threads=1, lr=0.03, log_every=1000),
    )
    summary = tagger.fit(SENTENCES, dev=SENTENCES[:4], test=SENTENCES[:4])
    assert summary["metrics"]["accuracy"] == 1.0
    assert tagger.predict([["A", "dog", "sat"]]) == [["DET", "NOUN", "VERB"]]
    tagger.save(tmp_path / "saved")
    with pytest.raises(ValueError, match="already exists"):
        tagger.save(tmp_path / "saved")
    for path in (tmp_path / "saved", tmp_path / "run"):
        assert Tagger.load(path).predict([["A", "dog", "sat"], []]) == [["DET", "NOUN", "VERB"], []]
    if not fields:  # a tagger saved before the members option loads as one tagger
        state_file = tmp_path / "saved" / "last" / "state.json"
        state = json.loads(state_file.read_text())
        del state["meta"]["tag"]["members"]
        state_file.write_text(json.dumps(state))
        assert Tagger.load(tmp_path / "saved").predict([["A", "dog", "sat"]]) == [["DET", "NOUN", "VERB"]]
    raw = tmp_path / "raw.txt"
    raw.write_text("The cat ran\n\nA dog sat home\n", encoding="utf-8")
    assert tagger.predict(raw) == [["DET", "NOUN", "VERB"], ["DET", "NOUN", "VERB", "NOUN"]]


def test_task_carves_dev_and_test_when_there_are_no_sibling_files(tmp_path):
    path = tmp_path / "mine.tsv"
    path.write_text("".join(f"w{i}\tT{i % 2}\nx\tT0\n\n" for i in range(30)), encoding="utf-8")
    task = TaggingTask(small_config(data=str(path)))
    assert {k: len(v) for k, v in task.data.items()} == {"train": 24, "val": 3, "test": 3}
    assert task.meta()["task"] == "tag"


def test_task_uses_dev_and_test_siblings(tmp_path):
    for part in ("train", "dev", "test"):
        (tmp_path / f"x-{part}.tsv").write_text(f"{part}\tA\nword\tB\n\n", encoding="utf-8")
    task = TaggingTask(small_config(data=str(tmp_path / "x-train.tsv")))
    assert [task.data[s][0][0][0] for s in ("train", "val", "test")] == ["train", "dev", "test"]


def test_config_checks_cell_options():
    with pytest.raises(ValueError, match="peephole applies to the lstm cell, not gru"):
        TagConfig(cell="gru", peephole=True)
    model = SequenceTagger(5, 5, 3, small_config(cell="gru", init="orthogonal", zoneout=0.1, num_layers=2))
    layer, chars = model.rnn, model.char_rnn
    assert layer.bidirectional and layer.num_layers == 2 and layer.zoneout == 0.1 and layer.init == "orthogonal"
    assert chars.bidirectional and chars.num_layers == 1 and chars.hidden_size == small_config().char_hidden_size


def test_length_batches_by_sentences_or_by_tokens():
    from rnnkit.tasks.tag import length_batches

    lengths = [5, 1, 3, 1, 2, 9]
    assert length_batches(lengths, 2) == [[1, 3], [4, 2], [0, 5]]
    assert length_batches(lengths, 2, tokens=6) == [[1, 3, 4], [2], [0], [5]]  # 3 x 2 <= 6; 2 x 3; 5; 9 alone
