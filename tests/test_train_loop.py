"""The training loop: non-finite steps and rollback, early stopping, the test split, monitoring, CLI."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.train import Batch, TrainConfig, Trainer, TrainingDiverged, checkpoint


class Echo(nn.Module):
    """y_t = w * x_t through a GRU; training calls listed in `poison` return a NaN loss."""

    def __init__(self, poison=()):
        super().__init__()
        self.rnn, self.head = nn.GRU(1, 8, batch_first=True), nn.Linear(8, 1)
        self.poison, self.calls = set(poison), 0

    def forward(self, x, y=None, state=None):
        out, state = self.rnn(x, state)
        pred = self.head(out)
        loss = None if y is None else F.mse_loss(pred, y)
        if self.training and y is not None:
            self.calls += 1
            if self.calls in self.poison:
                loss = loss * float("nan")
        return pred, loss, state


class EchoTask:
    """Train targets +x; val targets `val_sign` * x; counts how often the test split is read."""

    def __init__(self, model, val_sign=1.0):
        g = torch.Generator().manual_seed(0)
        self.model, self.x = model, torch.randn(8, 4, 6, 1, generator=g)  # 8 batches of (4, 6, 1)
        self.val_sign, self.test_reads = val_sign, 0

    def train_batches(self, epoch, rank, world):
        return (Batch(x, x.clone()) for x in self.x)

    def eval_batches(self, split):
        if split == "test":
            self.test_reads += 1
        return [Batch(x, self.val_sign * x) for x in self.x[:2]]

    def meta(self):
        return {"task": "echo"}


def rows(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def config(tmp_path, **kw):
    return TrainConfig(**{"run_dir": str(tmp_path), "lr": 0.01, "max_epochs": 3, "log_every": 1, "threads": 1, **kw})


def test_non_finite_steps_are_skipped_and_logged(tmp_path):
    torch.manual_seed(0)
    task = EchoTask(Echo(poison={3, 4}))
    Trainer(task, config(tmp_path)).fit()
    assert [(r["step"], r["in_a_row"]) for r in rows(tmp_path, "skip")] == [(3, 1), (4, 2)]
    assert math.isnan(rows(tmp_path, "skip")[0]["loss"])
    assert rows(tmp_path, "rollback") == []
    assert all(torch.isfinite(p).all() for p in task.model.parameters())


def test_a_run_of_non_finite_steps_rolls_back_with_half_the_learning_rate(tmp_path):
    torch.manual_seed(0)
    task = EchoTask(Echo(poison=range(11, 14)))
    summary = Trainer(task, config(tmp_path, max_bad_steps=3, ckpt_every=4)).fit()
    assert [(r["step"], r["lr_scale"]) for r in rows(tmp_path, "rollback")] == [(8, 0.5)]
    lrs = {r["step"]: r["lr"] for r in rows(tmp_path, "train")}
    assert lrs[8] == 0.01 and lrs[9] == 0.005 and lrs[24] == 0.005  # steps 9.. are replayed at half lr
    assert summary["step"] == 24


def test_persistent_non_finite_steps_stop_the_run_with_a_clear_error_and_no_nan_checkpoint(tmp_path):
    torch.manual_seed(0)
    task = EchoTask(Echo(poison=range(5, 1000)))
    with pytest.raises(TrainingDiverged, match="non-finite updates in a row .* after 2 rollbacks; giving up"):
        Trainer(task, config(tmp_path, max_bad_steps=2, max_rollbacks=2, ckpt_every=2)).fit()
    assert len(rows(tmp_path, "rollback")) == 2
    weights = load_file(str(tmp_path / "last" / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_early_stopping_restores_the_best_weights_and_reads_test_once(tmp_path):
    torch.manual_seed(0)
    task = EchoTask(Echo(), val_sign=-1.0)  # learning the train targets makes validation worse
    summary = Trainer(task, config(tmp_path, lr=0.05, max_epochs=20, eval_every=2, patience=3)).fit()
    vals = rows(tmp_path, "val")
    assert len(vals) == 4 and summary["step"] == 8  # best at step 2, then 3 evaluations without progress
    assert summary["best_val"] == min(r["loss"] for r in vals) == vals[0]["loss"]
    assert rows(tmp_path, "early_stop")[0]["step"] == 8
    best = load_file(str(tmp_path / "best" / "model.safetensors"))
    last = load_file(str(tmp_path / "last" / "model.safetensors"))
    state = task.model.state_dict()
    assert all(torch.equal(state[k], best[k]) for k in best)
    assert not all(torch.equal(last[k], best[k]) for k in best)
    assert task.test_reads == 1 and summary["test"] == pytest.approx(
        F.mse_loss(task.model(task.x[:2].reshape(8, 6, 1))[0], -task.x[:2].reshape(8, 6, 1)).item(), rel=1e-5)


class ScoredEchoTask(EchoTask):
    """An EchoTask that names a val metric to maximise: the scripted `scores`, one per evaluation."""

    def __init__(self, model, scores):
        super().__init__(model)
        self.scores = iter(scores)

    def val_score(self):
        return next(self.scores)


def test_a_task_val_score_chooses_the_best_weights_and_stops_early_by_its_maximum(tmp_path):
    torch.manual_seed(0)
    task = ScoredEchoTask(Echo(), scores=[0.5, 0.9, 0.7, 0.95, 0.6, 0.8, 0.9, 0.1])
    summary = Trainer(task, config(tmp_path, max_epochs=20, eval_every=2, patience=3)).fit()
    vals = rows(tmp_path, "val")  # the loss falls throughout (val targets = train targets)
    assert [r["score"] for r in vals] == [0.5, 0.9, 0.7, 0.95, 0.6, 0.8, 0.9]  # 3 evaluations below 0.95
    assert vals[-1]["loss"] < vals[3]["loss"] and summary["step"] == 14
    assert summary["best_score"] == 0.95 and "best_val" not in summary
    assert rows(tmp_path, "early_stop")[0]["best_score"] == 0.95
    best = load_file(str(tmp_path / "best" / "model.safetensors"))
    assert json.loads((tmp_path / "best" / "state.json").read_text())["step"] == 8  # the 0.95 evaluation
    assert all(torch.equal(task.model.state_dict()[k], best[k]) for k in best)
    assert "best validation score</th><td>0.9500" in (tmp_path / "report.html").read_text()


def test_metrics_lines_and_loss_curve_are_written(tmp_path, capsys):
    torch.manual_seed(0)
    Trainer(EchoTask(Echo()), config(tmp_path, log_every=4, max_epochs=2)).fit()
    train = rows(tmp_path, "train")
    assert [r["step"] for r in train] == [4, 8, 12, 16]
    assert set(train[0]) == {"kind", "step", "epoch", "loss", "lr", "grad_norm", "tok_s"}
    assert [r["epoch"] for r in rows(tmp_path, "val")] == [1, 2]
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = capsys.readouterr().out  # not a terminal: plain periodic lines
    assert "kind=train step=8 epoch=0 loss=" in out and "eta=" in out


def test_overwrite_starts_the_metrics_anew_and_resume_appends_to_them(tmp_path):
    torch.manual_seed(0)
    Trainer(EchoTask(Echo()), config(tmp_path, max_epochs=1)).fit()
    assert [r["step"] for r in rows(tmp_path, "train")] == list(range(1, 9))
    Trainer(EchoTask(Echo()), config(tmp_path, max_epochs=1, overwrite=True)).fit()
    assert [r["step"] for r in rows(tmp_path, "train")] == list(range(1, 9))  # not the old run's rows too
    Trainer(EchoTask(Echo()), config(tmp_path, max_epochs=2, resume=str(tmp_path))).fit()
    assert [r["step"] for r in rows(tmp_path, "train")] == list(range(1, 17))


def test_ema_validates_saves_and_predicts_with_the_moving_average_of_the_trained_weights(tmp_path):
    torch.manual_seed(0)
    task = EchoTask(Echo())
    trainer = Trainer(task, config(tmp_path, ema=0.9, max_epochs=1, schedule="constant"))
    trained, step = [], trainer.optimizer.step

    def recording_step(*args, **kwargs):
        out = step(*args, **kwargs)
        trained.append([p.detach().clone() for p in trainer.params])
        return out

    trainer.optimizer.step = recording_step
    initial = [p.detach().clone() for p in trainer.params]
    trainer.fit()
    assert len(trained) == 8
    average = initial
    for n, weights in enumerate(trained, start=1):  # w̄ ← d w̄ + (1 − d) w, d = min(0.9, (1 + n) / (10 + n))
        d = min(0.9, (1 + n) / (10 + n))
        average = [d * a + (1 - d) * w for a, w in zip(average, weights)]
    names = [name for name, p in task.model.named_parameters() if p.requires_grad]
    best = load_file(str(tmp_path / "best" / "model.safetensors"))
    for name, a, p, w in zip(names, average, trainer.params, trained[-1]):
        assert torch.allclose(best[name], a, atol=1e-6) and torch.equal(p.detach(), best[name])  # predicts
        assert not torch.allclose(a, w, atol=1e-4)  # the average is not the last trained weights
    x, y = task.x[:2].reshape(8, 6, 1), task.x[:2].reshape(8, 6, 1)
    assert rows(tmp_path, "val")[-1]["loss"] == pytest.approx(F.mse_loss(task.model(x)[0], y).item(), rel=1e-5)
    state, _ = checkpoint.load(tmp_path / "last", Echo())
    assert all(torch.equal(t, w) for t, w in zip(state["trained"], trained[-1]))  # training goes on from these


def test_ema_resume_is_exact(tmp_path):
    def run(run_dir, **kw):
        torch.manual_seed(0)
        task = EchoTask(Echo())
        Trainer(task, config(run_dir, ema=0.8, schedule="constant", **kw)).fit()
        return task.model.state_dict(), checkpoint.load(run_dir / "last", Echo())[0]["trained"]

    straight, straight_trained = run(tmp_path / "a", max_epochs=2)
    run(tmp_path / "b", max_epochs=1)
    resumed, resumed_trained = run(tmp_path / "b", max_epochs=2, resume=str(tmp_path / "b"))
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert all(torch.equal(a, b) for a, b in zip(straight_trained, resumed_trained, strict=True))


@pytest.mark.parametrize("args,message", [
    (["lm", "train", "--lr", "-1"], "error: lr must be > 0, got -1.0"),
    (["lm", "train", "--hiden-size", "3"], "error: No such option: --hiden-size"),
    (["lm", "train", "--config", "/nonexistent.toml"], "error: cannot read config /nonexistent.toml"),
    (["lm", "sample", "/tmp/model.pt"], "error: /tmp/model.pt"),
])
def test_cli_reports_bad_input_in_one_line(args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_tensorboard_scalars_only_when_asked_and_available(tmp_path):
    torch.manual_seed(0)
    cfg = config(tmp_path, tensorboard=True, max_epochs=1)
    try:
        import tensorboard  # noqa: F401  (an optional dependency: rnnkit[tensorboard])
    except ImportError:
        with pytest.raises(ValueError, match=r"--tensorboard needs the tensorboard package"):
            Trainer(EchoTask(Echo()), cfg)
    else:
        Trainer(EchoTask(Echo()), cfg).fit()
        assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_the_log_names_the_engine_of_each_recurrent_layer(tiny_lm_run):
    rows = [json.loads(line) for line in (tiny_lm_run / "metrics.jsonl").read_text().splitlines()]
    engines = [r for r in rows if r["kind"] == "engine"]
    assert [r["layer"] for r in engines] == ["rnn"] and engines[0]["engine"] == "fast" and engines[0]["reason"]


def test_max_steps_alone_sets_the_schedule_length(tiny_lm_run):
    from rnnkit.tasks.lm import LanguageModelTask, LMConfig
    from rnnkit.train import TrainConfig, Trainer

    lm = LMConfig(**json.loads((tiny_lm_run / "last" / "state.json").read_text())["meta"]["lm"])
    trainer = Trainer(LanguageModelTask(lm), TrainConfig(run_dir=str(tiny_lm_run.parent / "steps"), max_epochs=0,
                                                         max_steps=7, schedule="cosine", threads=1))
    assert trainer.total_steps == 7


def test_device_must_be_one_this_machine_has(tmp_path):
    with pytest.raises(ValueError, match="must be a torch device"):
        TrainConfig(device="cdua")
    if not torch.cuda.is_available():  # a user's `--device cuda` on a CPU machine: one error line, exit 2
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            TrainConfig(device="cuda")
        text = tmp_path / "t.txt"
        text.write_text("to be or not to be\n" * 20)
        args = ["lm", "train", "--data", str(text), "--device", "cuda", "--run-dir", str(tmp_path / "run")]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "torch sees no CUDA device" in result.output
        assert not (tmp_path / "run").exists()
