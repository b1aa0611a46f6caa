"""Text classification: data reading, pooling over variable lengths, metrics, and the CLI end to end."""

import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from rnnkit.data.labelled import TokenVocab, pad_batch, read_labelled, stratified_folds, stratified_split, tokenize
from rnnkit.tasks.classify import (
    POOLINGS,
    ClassificationTask,
    ClassifyConfig,
    TextClassifier,
    TextClassifierNet,
    classification_metrics,
    load_ensemble,
    predict,
    predict_mean,
    text_tokens,
    thirds,
)


def test_metrics_on_a_hand_counted_example():
    # truth: 3 ham (0), 2 spam (1); predictions: ham ham spam | spam ham  -> TP(spam)=1, FP=1, FN=1, TN=2
    m = classification_metrics(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 0, 1, 1, 0]), 2)
    assert m["confusion"] == [[2, 1], [1, 1]]
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx([2 / 3, 1 / 2]) and m["recall"] == pytest.approx([2 / 3, 1 / 2])
    tp, tn, fp, fn = 1, 2, 1, 1
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert m["mcc"] == pytest.approx(mcc)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_prediction(pooling, bidirectional):
    model = TextClassifierNet(20, 3, ClassifyConfig(pooling=pooling, bidirectional=bidirectional, hidden_size=8,
                                                 embed_size=6)).eval()
    short = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, 0, 0, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(model(short)[0], model(padded)[0])
        batch = pad_batch([[5, 6, 7], [8, 9, 10, 11, 12, 13]])  # a shorter row beside a longer one
        torch.testing.assert_close(model(batch)[0][0], model(short)[0][0])


def test_thirds_pooling_means_the_start_middle_and_end_of_each_sequence():
    out = torch.arange(1.0, 9.0)[None, :, None].repeat(4, 1, 1)  # step t has output t + 1; T = 8
    pooled = thirds(torch.cat([out, -out], 2), torch.tensor([7, 3, 2, 1]))  # (4, 3 · 2), padding ignored
    assert pooled[:, ::2].tolist() == [[2.0, 4.5, 6.5], [1.0, 2.0, 3.0], [1.0, 2.0, 2.0], [1.0, 1.0, 1.0]]
    assert torch.equal(pooled[:, 1::2], -pooled[:, ::2])  # every feature alike, [start ⊕ middle ⊕ end]


def test_vocabulary_and_tokens():
    assert tokenize("Don't WIN £100!!", "word") == ["don't", "win", "£", "100", "!", "!"]
    vocab = TokenVocab.build([["a", "b", "a"], ["a", "c"]], min_freq=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a"] and vocab.encode(["a", "zzz"]) == [2, 1]
    assert TokenVocab.from_json(vocab.to_json()).tokens == vocab.tokens


def test_zero_digits_gives_unseen_numbers_a_shared_shape():
    assert tokenize("Call 08712300220 for £1000", "word", zero_digits=True) == [
        "call", "00000000000", "for", "£", "0000"]
    assert tokenize("R2D2", "char", zero_digits=True) == ["R", "0", "D", "0"]
    cfg = ClassifyConfig(digits="zero", max_tokens=2)
    assert text_tokens("win 500 now", cfg) == ["win", "000"]
    with pytest.raises(ValueError, match="digits"):
        ClassifyConfig(digits="drop")


def test_stratified_folds_partition_the_rows_with_each_class_share():
    labels = [0] * 70 + [1] * 30
    folds = stratified_folds(labels, 7, seed=1)
    assert sorted(i for fold in folds for i in fold) == list(range(100))
    assert all(len(fold) in (14, 15) and sum(labels[i] for i in fold) in (4, 5) for fold in folds)
    assert folds == stratified_folds(labels, 7, seed=1) and folds != stratified_folds(labels, 7, seed=2)
    with pytest.raises(ValueError, match="k must be"):
        stratified_folds(labels, 1, seed=0)


def test_a_task_on_given_splits_reads_only_them():
    splits = {"train": (["win cash now"] * 20 + ["see you at lunch"] * 20, ["spam"] * 20 + ["ham"] * 20),
              "val": (["win now", "lunch"], ["spam", "ham"]), "test": (["cash", "see you"], ["spam", "ham"])}
    task = ClassificationTask(ClassifyConfig(batch_size=8, min_freq=1), splits)
    assert task.data is splits and task.labels == ["ham", "spam"]
    assert sorted(task.vocab.tokens) == sorted(["<pad>", "<unk>", "win", "cash", "now", "see", "you", "at", "lunch"])


def test_stratified_split_keeps_class_shares_and_is_disjoint():
    labels = [0] * 80 + [1] * 20
    parts = stratified_split(labels, 0.1, 0.2, seed=3)
    assert sorted(parts["train"] + parts["val"] + parts["test"]) == list(range(100))
    assert sum(labels[i] for i in parts["test"]) == 4 and len(parts["test"]) == 20
    assert parts == stratified_split(labels, 0.1, 0.2, seed=3)


@pytest.mark.parametrize(
    "content, cols, message",
    [
        (b"", ("1", "0"), "empty file"),
        (b"ham\thello\nham\tbye\n", ("1", "0"), "two classes"),
        (b"ham hello\nspam win\n", ("1", "0"), "line 1: 1 column"),
        (b"ok\tfine\n\xc3\x28bad", ("1", "0"), "line 2: not UTF-8"),
        (b"label,text\nham,hi\nspam,win\n", ("message", "label"), "no column named 'message'"),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, content, cols, message):
    path = tmp_path / ("data.csv" if b"," in content else "data.tsv")
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_labelled(path, *cols)


def test_csv_with_named_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"hello, world",pos\nbad day,neg\n', encoding="utf-8")
    assert read_labelled(path, "text", "label") == (["hello, world", "bad day"], ["pos", "neg"])


def rnnkit(*args, cwd=None):
    """The CLI in a subprocess; a wide console, so rich never wraps a table title (temp paths vary)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small classifier trained for 40 updates on a synthetic two-class file."""
    tmp = tmp_path_factory.mktemp("cls")
    rows = [f"spam\twin a free prize now call {i}" for i in range(60)]
    rows += [f"ham\tsee you at lunch {i}" for i in range(140)]
    (tmp / "d.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = rnnkit("classify", "train", "--data", str(tmp / "d.tsv"), "--run-dir", str(tmp / "run"),
                    "--max-steps", "40", "--batch-size", "16", "--hidden-size", "16", "--embed-size", "16",
                    "--min-freq", "1", "--lr", "0.01", "--max-epochs", "0", "--log-every", "20")  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tmp, result


def test_train_reports_test_metrics_and_predict_uses_the_checkpoint(trained):
    tmp, result = trained
    assert "accuracy" in result.stdout and "MCC" in result.stdout
    out = rnnkit("classify", "predict", "--checkpoint", str(tmp / "run"), "win a free prize", "lunch at noon")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["spam", "ham"]
    ev = rnnkit("classify", "eval", "--checkpoint", str(tmp / "run"), "--data", str(tmp / "d.tsv"))
    assert ev.returncode == 0 and "accuracy 1.0000" in ev.stdout


def test_an_ensemble_averages_its_members_probabilities(trained, tmp_path):
    tmp, _ = trained
    run = tmp / "run"
    members = load_ensemble([str(run / "best"), str(run / "last")])
    texts = ["win a free prize", "lunch at noon", "see you"]
    best, last = TextClassifier.load(run / "best"), TextClassifier.load(run / "last")
    expected = (predict(best.model, best.vocab, best.config, texts)
                + predict(last.model, last.vocab, last.config, texts)) / 2
    torch.testing.assert_close(predict_mean(members, texts), expected)
    ev = rnnkit("classify", "eval", "--checkpoint", str(run / "best"), "--checkpoint", str(run / "last"),
                "--data", str(tmp / "d.tsv"))
    assert ev.returncode == 0 and "mean of 2 models" in ev.stdout and "accuracy 1.0000" in ev.stdout
    other = tmp_path / "other"
    shutil.copytree(run / "last", other)
    state = json.loads((other / "state.json").read_text())
    state["meta"]["labels"] = ["neg", "pos"]
    (other / "state.json").write_text(json.dumps(state))
    bad = rnnkit("classify", "predict", "--checkpoint", str(run), "--checkpoint", str(other), "x")
    assert bad.returncode == 2 and "labels ['neg', 'pos'] differ" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    state["meta"]["labels"] = ["ham", "spam"]
    state["meta"]["classify"]["split_seed"] = 7
    (other / "state.json").write_text(json.dumps(state))
    bad = rnnkit("classify", "eval", "--checkpoint", str(run), "--checkpoint", str(other))
    assert bad.returncode == 2 and "split their data differently (split_seed 7 vs 0)" in bad.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", "train", "--data", "/nonexistent.tsv"], "no such file"),
        (["classify", "train", "--pooling", "median"], "pooling"),
        (["classify", "predict", "--checkpoint", "/nonexistent", "x"], "nonexistent"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    result = rnnkit(*args, "--run-dir", str(tmp_path / "r")) if args[1] == "train" else rnnkit(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
