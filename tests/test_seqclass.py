"""Numeric-sequence classification: standardisation from the training split, lengths, the Python API,
and `rnnkit classify train|eval|predict` on a .ts file (with its bad-input errors)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks.classify import POOLINGS
from rnnkit.tasks.seqclass import (
    FrameClassifier,
    FrameEnsemble,
    MaskedBatchNorm,
    SeqClassConfig,
    SequenceClassificationTask,
    SequenceClassifier,
    Standardizer,
    resample,
)
from rnnkit.train import TrainConfig


def toy(n=40, seed=0):
    """Two classes told apart by the sign of channel 0's slope; lengths 5..12, channel 1 on a large scale."""
    rng = np.random.default_rng(seed)
    samples, labels = [], []
    for i in range(n):
        T, up = int(rng.integers(5, 13)), i % 2 == 0
        ramp = np.linspace(0, 1, T) * (1 if up else -1)
        samples.append(np.stack([ramp + 0.1 * rng.standard_normal(T), 1000 + 50 * rng.standard_normal(T)], 1))
        labels.append("up" if up else "down")
    return samples, labels


def write_ts(path, samples, labels):
    lines = ["@problemName toy", "@dimensions 2", "@classLabel true down up", "@data"]
    lines += [
        ":".join(",".join(f"{v:.5f}" for v in s[:, c]) for c in range(2)) + f":{y}" for s, y in zip(samples, labels)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_standardizer_uses_the_training_frames_and_marks_padding():
    scaler = Standardizer.fit([np.array([[0.0, 10.0], [2.0, 10.0]]), np.array([[4.0, 10.0]])])
    np.testing.assert_allclose(scaler.mean, [2.0, 10.0])
    np.testing.assert_allclose(scaler.std, [np.sqrt(8 / 3), 1.0])  # a constant channel keeps sd 1
    x = scaler.batch([np.array([[2.0, 11.0]]), np.array([[0.0, 10.0], [4.0, 10.0]])])
    assert x.shape == (2, 2, 3)
    torch.testing.assert_close(x[0], torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    assert x[1, :, -1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("fcn", [0, 4])
def test_padding_does_not_change_a_sequences_logits(fcn):
    torch.manual_seed(0)
    for pooling in POOLINGS:
        cfg = SeqClassConfig(hidden_size=8, embed_size=4, pooling=pooling, dropout=0.0, fcn=fcn)
        model = FrameClassifier(2, 3, cfg).eval()
        scaler = Standardizer([0.0, 0.0], [1.0, 1.0])
        short, long = np.random.rand(3, 2).astype(np.float32), np.random.rand(7, 2).astype(np.float32)
        alone = model(scaler.batch([short]))[0]
        padded = model(scaler.batch([short, long]))[0][:1]
        torch.testing.assert_close(alone, padded)


def test_masked_batch_norm_is_batch_norm_of_the_valid_frames_alone():
    torch.manual_seed(0)
    lengths = [3, 7, 1]
    x, valid = torch.randn(3, 4, 7), torch.zeros(3, 1, 7)
    for b, n in enumerate(lengths):
        valid[b, :, :n] = 1
    x = x * valid
    masked, plain = MaskedBatchNorm(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        masked.weight.uniform_(0.5, 2), masked.bias.uniform_(-1, 1)
        plain.load_state_dict(masked.state_dict())
    frames = torch.cat([x[b, :, :n] for b, n in enumerate(lengths)], 1)[None]  # (1, 4, 11): the valid frames
    out, expected = masked(x, valid), plain(frames)
    torch.testing.assert_close(torch.cat([out[b, :, :n] for b, n in enumerate(lengths)], 1)[None], expected)
    assert (out[valid.expand_as(out) == 0] == 0).all()  # padding stays 0
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    masked.eval(), plain.eval()
    torch.testing.assert_close(masked(x, valid)[1:2], plain(x[1:2]))


def test_meanmax_pooling_is_the_mean_beside_the_max_of_the_valid_frames():
    torch.manual_seed(0)
    cfg = SeqClassConfig(hidden_size=8, embed_size=4, pooling="meanmax", dropout=0.0, fcn=0)  # the recurrent branch
    model = FrameClassifier(2, 3, cfg).eval()
    x = Standardizer([0.0, 0.0], [1.0, 1.0]).batch([np.random.rand(n, 2).astype(np.float32) for n in (3, 7)])
    lengths = x[..., -1].sum(1).long()  # row 0 padded with four frames
    with torch.no_grad():
        out, h_n = model.rnn(model.embed(x[..., :-1]), lengths=lengths)
        pooled = model.pool(out, h_n, lengths)
    expected = torch.stack([torch.cat([out[b, :n].mean(0), out[b, :n].amax(0)]) for b, n in enumerate(lengths)])
    assert pooled.shape == (2, 2 * 2 * 8) and model.head.in_features == 2 * 2 * 8
    torch.testing.assert_close(pooled, expected)
    assert (out[0, :3].amax(0) < 0).any()  # some channel's valid maximum is below the padding's 0: padding ignored


def test_ensemble_averages_the_members_probabilities_and_trains_each_on_its_own_loss():
    torch.manual_seed(0)
    cfg = SeqClassConfig(hidden_size=8, embed_size=4, dropout=0.0, noise=0.0, offset=0.0, members=3)
    model = FrameEnsemble(2, 3, cfg)
    x = Standardizer([0.0, 0.0], [1.0, 1.0]).batch([np.random.rand(n, 2).astype(np.float32) for n in (3, 5, 4)])
    y = torch.tensor([[0], [2], [1]])
    model.eval()
    p = torch.stack([torch.softmax(member(x)[0], -1) for member in model.members]).mean(0)
    log_p, loss, _ = model(x, y)
    torch.testing.assert_close(log_p.exp(), p)
    torch.testing.assert_close(loss, -p[torch.arange(3), y[:, 0]].log().mean())  # the ensemble's NLL
    model.train()  # training: the mean of the members' own cross-entropies, so no member's gradient
    _, loss, _ = model(x, y)  # depends on another's weights
    loss.backward()
    for member in model.members:
        grads = [q.grad for q in member.parameters()]
        member.zero_grad()
        (member(x, y)[1] / 3).backward()
        for alone, joint in zip([q.grad for q in member.parameters()], grads, strict=True):
            torch.testing.assert_close(alone, joint)


def test_python_api_learns_variable_length_sequences_and_round_trips(tmp_path):
    samples, labels = toy()
    test = toy(20, seed=1)
    classifier = SequenceClassifier(
        SeqClassConfig(hidden_size=16, embed_size=8, batch_size=8, members=2),
        TrainConfig(max_epochs=30, lr=0.01, run_dir=str(tmp_path / "run"), threads=1, log_every=1000),
    )
    summary = classifier.fit(samples, labels, test=test)
    assert summary["metrics"]["accuracy"] == 1.0 and summary["metrics"]["confusion"] == [[10, 0], [0, 10]]
    assert classifier.predict(test[0][:4]) == test[1][:4]
    classifier.save(tmp_path / "saved")
    again = SequenceClassifier.load(tmp_path / "saved")
    assert again.scaler is not None and classifier.scaler is not None
    np.testing.assert_allclose(again.scaler.mean, classifier.scaler.mean)  # the standardisation is saved
    torch.testing.assert_close(again.predict_proba(test[0]), classifier.predict_proba(test[0]))


def test_a_checkpoint_saved_before_the_convolutional_branch_loads_without_it(tmp_path):
    samples, labels = toy(16)
    classifier = SequenceClassifier(
        SeqClassConfig(hidden_size=8, embed_size=4, members=1, fcn=0),
        TrainConfig(max_epochs=1, run_dir=str(tmp_path / "run"), threads=1, log_every=1000),
    )
    classifier.fit(samples, labels, test=toy(4, seed=1))
    saved = classifier.save(tmp_path / "saved")
    state = json.loads((saved / "last" / "state.json").read_text())
    del state["meta"]["seqclass"]["fcn"]  # as the earlier model wrote it
    del state["meta"]["seqclass"]["offset"]
    (saved / "last" / "state.json").write_text(json.dumps(state))
    again = SequenceClassifier.load(saved)
    assert again.config.fcn == 0 and again.config.offset == 0.0  # it trained without either
    torch.testing.assert_close(again.predict_proba(samples), classifier.predict_proba(samples))


def test_validation_is_carved_stratified_and_the_test_twin_is_found(tmp_path):
    samples, labels = toy(40)
    write_ts(tmp_path / "toy_TRAIN.ts", samples, labels)
    write_ts(tmp_path / "toy_TEST.ts", *toy(10, seed=3))
    task = SequenceClassificationTask(
        SeqClassConfig(data=str(tmp_path / "toy_TRAIN.ts"), val_frac=0.2, cross_fit=False)
    )
    assert {k: len(v[1]) for k, v in task.data.items()} == {"train": 32, "val": 8, "test": 10}
    assert sorted(task.data["val"][1]) == ["down"] * 4 + ["up"] * 4
    assert task.meta()["scaler"]["mean"][1] > 900  # fitted on the training split


def test_cross_fitting_trains_on_all_of_train_each_member_holding_out_its_own_fold(tmp_path):
    samples, labels = toy(40)
    write_ts(tmp_path / "toy_TRAIN.ts", samples, labels)
    write_ts(tmp_path / "toy_TEST.ts", *toy(10, seed=3))
    task = SequenceClassificationTask(SeqClassConfig(data=str(tmp_path / "toy_TRAIN.ts"), members=4))
    assert {k: len(v[1]) for k, v in task.data.items()} == {"train": 40, "val": 40, "test": 10}
    assert task.data["val"] == task.data["train"]  # every sequence validates the member it did not train
    folds = [[labels for labels, fold in zip(task.data["train"][1], task.fold) if fold == m] for m in range(4)]
    assert [sorted(f) for f in folds] == [["down"] * 5 + ["up"] * 5] * 4  # stratified, all dealt out
    batch = next(iter(task.train_batches(0, 0, 1)))
    rows = torch.randperm(40, generator=torch.Generator().manual_seed(0))[:16].tolist()
    assert batch.y[:, 1].tolist() == [task.fold[i] for i in rows] and batch.count == 16
    assert all(b.y[:, 1].eq(-1).all() for b in task.eval_batches("test"))
    alone = SequenceClassificationTask(SeqClassConfig(data=str(tmp_path / "toy_TRAIN.ts"), members=1))
    assert {k: len(v[1]) for k, v in alone.data.items()} == {"train": 32, "val": 8, "test": 10}


@pytest.mark.parametrize("fcn", [0, 4])  # with the conv branch: fold m is out of member m's batch-norm statistics
def test_a_members_fold_is_out_of_its_loss_and_scored_by_it_alone(fcn):
    torch.manual_seed(0)
    cfg = SeqClassConfig(hidden_size=8, embed_size=4, dropout=0.0, noise=0.0, offset=0.0, members=2, fcn=fcn)
    model = FrameEnsemble(2, 3, cfg)
    x = Standardizer([0.0, 0.0], [1.0, 1.0]).batch([np.random.rand(n, 2).astype(np.float32) for n in (3, 5, 4, 6)])
    y = torch.tensor([[0, 0], [2, 1], [1, 1], [1, -1]])  # class, fold (−1: none, as in a test set)
    model.eval()
    member_log_p = [torch.log_softmax(member(x)[0], -1) for member in model.members]
    log_p, loss, _ = model(x, y)
    torch.testing.assert_close(log_p[0], member_log_p[0][0])  # fold 0: member 0's held-out prediction
    torch.testing.assert_close(log_p[1:3], member_log_p[1][1:3])
    torch.testing.assert_close(log_p[3].exp(), (member_log_p[0][3].exp() + member_log_p[1][3].exp()) / 2)
    torch.testing.assert_close(loss, -log_p[torch.arange(4), y[:, 0]].mean())
    model.train()
    _, loss, _ = model(x, y)
    loss.backward()
    for m, kept in ((0, [1, 2, 3]), (1, [0, 3])):  # member m trains on the sequences not of fold m
        member = model.members[m]
        grads = [q.grad for q in member.parameters()]
        member.zero_grad()
        (member(x[kept], y[kept, :1])[1] / 2).backward()
        for alone, joint in zip([q.grad for q in member.parameters()], grads, strict=True):
            torch.testing.assert_close(alone, joint)


def test_noise_jitters_the_frames_in_training_only():
    torch.manual_seed(0)
    model = FrameClassifier(2, 3, SeqClassConfig(hidden_size=8, embed_size=4, dropout=0.0, noise=0.1, offset=0.0))
    x = Standardizer([0.0, 0.0], [1.0, 1.0]).batch([np.random.rand(n, 2).astype(np.float32) for n in (3, 5)])
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0], rtol=0, atol=0)


def test_offset_shifts_each_training_sequence_by_one_vector_over_its_frames():
    torch.manual_seed(0)
    model = FrameClassifier(2, 3, SeqClassConfig(hidden_size=8, embed_size=4, dropout=0.0, noise=0.0, offset=0.5))
    x = Standardizer([0.0, 0.0], [1.0, 1.0]).batch([np.random.rand(n, 2).astype(np.float32) for n in (3, 5)])
    seen = []
    model.embed.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    model(x)
    shift = seen[0] - x[..., :-1]  # (2, 5, 2)
    torch.testing.assert_close(shift[0, :3], shift[0, :1].expand(3, 2))  # one vector per sequence ...
    torch.testing.assert_close(shift[1], shift[1, :1].expand(5, 2))
    assert (shift[0, 3:] == 0).all() and not torch.allclose(shift[0, 0], shift[1, 0])  # ... padding unshifted
    model.eval()
    model(x)
    torch.testing.assert_close(seen[1], x[..., :-1], rtol=0, atol=0)


def test_time_warping_resamples_training_sequences_only():
    ramp = np.stack([np.linspace(0, 1, 5), np.linspace(2, 6, 5)], 1).astype(np.float32)
    np.testing.assert_allclose(resample(ramp, 9), np.stack([np.linspace(0, 1, 9), np.linspace(2, 6, 9)], 1), atol=1e-6)
    samples, labels = toy(40)
    splits = {"train": (samples, labels), "test": toy(10, seed=3)}
    plain = SequenceClassificationTask(SeqClassConfig(members=2), splits)
    warped = SequenceClassificationTask(SeqClassConfig(members=2, warp=0.5), splits)
    for a, b in zip(plain.eval_batches("test"), warped.eval_batches("test")):  # never in evaluation
        torch.testing.assert_close(a.x, b.x)
    for a, b in zip(plain.eval_batches("val"), warped.eval_batches("val")):
        torch.testing.assert_close(a.x, b.x)
    torch.manual_seed(0)
    lengths = [b.x[..., -1].sum(1) for b in warped.train_batches(0, 0, 1)]
    again = [b.x[..., -1].sum(1) for b in warped.train_batches(0, 0, 1)]
    originals = [b.x[..., -1].sum(1) for b in plain.train_batches(0, 0, 1)]
    changed = torch.cat(lengths) != torch.cat(originals)
    ratio = torch.cat(lengths) / torch.cat(originals)
    assert changed.float().mean() > 0.5 and ratio.min() >= 0.35 and ratio.max() <= 1.6
    assert all(torch.equal(a, b) for a, b in zip(lengths, again))  # the same draws for the same epoch and seed


def test_classify_cli_routes_sequence_files(tmp_path):
    samples, labels = toy(40)
    train = write_ts(tmp_path / "toy_TRAIN.ts", samples, labels)
    write_ts(tmp_path / "toy_TEST.ts", *toy(10, seed=3))
    run = str(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "classify",
            "train",
            "--data",
            str(train),
            "--max-epochs",
            "2",
            "--run-dir",
            run,
            "--threads",
            "1",
            "--hidden-size",
            "8",
            "--embed-size",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test (10 sequences)" in result.output
    result = runner.invoke(app, ["classify", "eval", "--checkpoint", run])
    assert result.exit_code == 0 and "test split" in result.output
    result = runner.invoke(app, ["classify", "predict", "--checkpoint", run, "--file", str(tmp_path / "toy_TEST.ts")])
    assert result.exit_code == 0 and len(result.output.splitlines()) == 10
    assert result.output.splitlines()[0].split("\t")[1] in ("up", "down")


@pytest.mark.parametrize(
    "line, message",
    [
        ("1,2:3,4:5,6:up", "3 channel(s), but the file's samples have 2"),
        ("1,2:3,4:sideways", "label 'sideways' is not in @classLabel"),
    ],
)
def test_classify_cli_bad_ts_is_one_error_line(tmp_path, line, message):
    path = tmp_path / "bad_TRAIN.ts"
    path.write_text(f"@dimensions 2\n@classLabel true up down\n@data\n1,2:3,4:up\n{line}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["classify", "train", "--data", str(path), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
