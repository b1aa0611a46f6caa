"""The Python API of every task (rnnkit.LanguageModel, TextClassifier, MusicModel, Seq2Seq), the task
contract (tasks/base.py: train defaults under the user's TOML, one build_recurrent) and field_docs."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.tasks.base import LAYERS, RecurrentConfig, TaskModel, build_recurrent
from rnnkit.tasks.captioning import CaptionConfig
from rnnkit.tasks.classify import ClassifyConfig
from rnnkit.tasks.lm import LMConfig
from rnnkit.tasks.longrange import LongRangeConfig
from rnnkit.tasks.music import MusicConfig
from rnnkit.tasks.seq2seq import Seq2SeqConfig
from rnnkit.tasks.seqclass import SeqClassConfig
from rnnkit.tasks.tag import TagConfig
from rnnkit.train.checkpoint import CheckpointError
from rnnkit.train.config import TrainConfig, field_choices, field_docs

ROOT = Path(__file__).resolve().parents[1]
TASK_CONFIGS = (LMConfig, ClassifyConfig, MusicConfig, Seq2SeqConfig, LongRangeConfig, CaptionConfig, TagConfig,
                SeqClassConfig)


def readme_api_blocks() -> list[str]:
    """The python blocks of README.md's "Python API" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def readme_runs(tmp_path_factory):
    """Every README API block run in one temp dir (as a user would): {block number: its namespace}."""
    where = tmp_path_factory.mktemp("api")
    threads, spaces = torch.get_num_threads(), {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(where)
        patch.setattr(os, "cpu_count", lambda: 1)  # the trainer's threads=0 means one thread here (a shared machine)
        for i, block in enumerate(readme_api_blocks()):
            namespace: dict = {}
            exec(compile(block, f"README.md Python API block {i}", "exec"), namespace)  # noqa: S102 (the README's code)
            spaces[i] = namespace
    torch.set_num_threads(threads)
    return where, spaces


def test_readme_shows_each_task_in_five_lines():
    blocks = readme_api_blocks()
    assert len(blocks) == 4
    assert all(len(b.strip().splitlines()) == 5 for b in blocks)
    for name, block in zip(("LanguageModel", "TextClassifier", "MusicModel", "Seq2Seq"), blocks):
        assert f"from rnnkit import {name}" in block


def test_readme_blocks_train_each_task_and_write_a_loadable_run(readme_runs):
    where, spaces = readme_runs
    for i, (name, run) in enumerate((("lm", "api-lm"), ("clf", "api-clf"), ("music", "api-music"),
                                     ("s2s", "api-seq2seq"))):
        api = spaces[i][name]
        run_dir = where / "runs" / run
        assert api.run_dir == Path("runs") / run
        assert (run_dir / "best" / "model.safetensors").is_file() and (run_dir / "last").exists()
        assert (run_dir / "metrics.jsonl").is_file()
        loaded = type(api).load(run_dir)
        assert type(loaded) is type(api) and loaded.config == api.config
        for a, b in zip(loaded.model.state_dict().values(), api.model.state_dict().values(), strict=True):
            assert torch.equal(a, b)  # fit ends with the best weights, which load reads


def test_classifier_learns_the_readme_pairs(readme_runs):
    clf = readme_runs[1][1]["clf"]
    assert clf.predict(["win a free prize now", "lunch at noon?"]) == ["spam", "ham"]
    assert clf.evaluate([("win a free prize now", "spam"), ("lunch at noon?", "ham")])["accuracy"] == 1.0


def test_save_and_load_round_trip_keeps_predictions_and_metrics(readme_runs, tmp_path):
    spaces = readme_runs[1]
    lm, clf, music, s2s = spaces[0]["lm"], spaces[1]["clf"], spaces[2]["music"], spaces[3]["s2s"]
    text = "the cat sat on the log. the dog sat on the mat."
    for api in (lm, clf, music, s2s):
        api.save(tmp_path / type(api).__name__)
    lm2 = rnnkit.LanguageModel.load(tmp_path / "LanguageModel")
    assert lm2.evaluate([text]) == lm.evaluate([text])
    assert lm2.sample("the ", 30, seed=3) == lm.sample("the ", 30, seed=3)
    clf2 = rnnkit.TextClassifier.load(tmp_path / "TextClassifier")
    texts = ["free lunch", "a prize"]
    torch.testing.assert_close(clf2.predict_proba(texts), clf.predict_proba(texts))
    rolls = spaces[2]["rolls"]
    music2 = rnnkit.MusicModel.load(tmp_path / "MusicModel")
    assert music2.evaluate({"train": rolls[:2], "val": rolls[2:4]}, split="val") == \
        music.evaluate({"train": rolls[:2], "val": rolls[2:4]}, split="val")
    assert torch.equal(music2.sample(rolls[1][:3], 5, seed=1), music.sample(rolls[1][:3], 5, seed=1))
    s2s2 = rnnkit.Seq2Seq.load(tmp_path / "Seq2Seq")
    assert s2s2.evaluate(split="val") == s2s.evaluate(split="val")  # the generated data is re-made from the config
    with pytest.raises(ValueError, match="already holds a run"):
        lm.save(tmp_path / "LanguageModel")
    with pytest.raises(CheckpointError, match="written by save\\(\\), not a training run"):
        lm.fit(resume=str(tmp_path / "LanguageModel"))


def test_a_model_trained_in_memory_asks_for_data_after_loading(readme_runs):
    where, _ = readme_runs
    lm = rnnkit.LanguageModel.load(where / "runs" / "api-lm")
    with pytest.raises(ValueError, match="in memory"):
        lm.evaluate()
    assert lm.evaluate(["the cat sat on the mat."])["tokens"] == 22


def test_load_refuses_another_task_and_an_unfitted_model_says_so(readme_runs):
    where, _ = readme_runs
    with pytest.raises(CheckpointError, match="task 'lm', not 'classify'"):
        rnnkit.TextClassifier.load(where / "runs" / "api-lm")
    with pytest.raises(ValueError, match="fit\\(\\) or load\\(\\) it first"):
        rnnkit.LanguageModel().sample("a", 3)


def test_task_defaults_lie_under_the_users_toml_and_flags(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("[train]\nlr = 0.1\nthreads = 2\n[seq2seq]\nhidden_size = 16\n")
    cfgs = rnnkit.Seq2Seq.configs(str(toml), ["--max-epochs", "3"])
    assert (cfgs["train"].lr, cfgs["train"].threads, cfgs["train"].max_epochs) == (0.1, 2, 3)  # TOML, flag
    assert cfgs["train"].schedule == "cosine" and cfgs["train"].run_dir == "runs/seq2seq"  # the task's defaults
    assert cfgs["seq2seq"].hidden_size == 16
    # no TOML, no flag: the trainer's defaults under the task's own (lm: the defaults sweep's learning rate)
    assert rnnkit.LanguageModel.configs(None, [])["train"] == TrainConfig(lr=0.004)
    assert rnnkit.MusicModel.configs(None, [])["train"] == TrainConfig()


def test_build_recurrent_offers_every_cell_option_to_every_task():
    for config in TASK_CONFIGS:
        assert issubclass(config, RecurrentConfig)
        names = {f.name for f in dataclasses.fields(config)}
        assert {f.name for f in dataclasses.fields(RecurrentConfig)} <= names, config
    lstm = build_recurrent(LMConfig(cell="lstm", hidden_size=8, num_layers=2, peephole=True, cifg=True, layer_norm=True,
                                    activation="softsign", zoneout=0.1, recurrent_dropout=0.2, dropout=0.3,
                                    init="orthogonal", chrono_init=5), 4)
    cell = lstm.cell
    assert isinstance(lstm, LAYERS["lstm"]) and (cell.peephole, cell.cifg, cell.layer_norm) == (True, True, True)
    assert cell.activation == "softsign" and (lstm.zoneout, lstm.recurrent_dropout, lstm.dropout) == (0.1, 0.2, 0.3)
    assert lstm.init == "orthogonal" and lstm.chrono_init == 5 and lstm.batch_first
    gru = build_recurrent(ClassifyConfig(cell="gru", reset_after=False, hidden_size=8), 4, bidirectional=True)
    assert not gru.cell.reset_after and gru.bidirectional
    rnn = build_recurrent(MusicConfig(cell="rnn", nonlinearity="relu", hidden_size=8), 4)
    assert rnn.cell.nonlinearity == "relu"


def test_the_stack_of_a_task_model_is_the_layer_torch_would_build_with_the_same_seed():
    """Numbers stay as they were: the LM's stack draws the same initial weights as a plain rnnkit.LSTM."""
    torch.manual_seed(0)
    ours = build_recurrent(LMConfig(hidden_size=8, num_layers=2), 5)
    torch.manual_seed(0)
    plain = rnnkit.LSTM(5, 8, 2, batch_first=True)
    for a, b in zip(ours.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("settings, message", [
    ({"cell": "gru", "peephole": True}, "peephole applies to the lstm cell, not gru"),
    ({"cell": "lstm", "nonlinearity": "relu"}, "nonlinearity applies to the rnn cell"),
    ({"cell": "cnn"}, "cell must be one of lstm, gru, rnn; got 'cnn'"),
    ({"hidden_size": 0}, "hidden_size must be >= 1, got 0"),
    ({"zoneout": 1.0}, "zoneout must be in \\[0, 1\\), got 1.0"),
    ({"chrono_init": 2}, "chrono_init must be 0 \\(off\\) or at least 3"),
])
def test_recurrent_settings_are_checked_once_for_every_task(settings, message):
    for config in TASK_CONFIGS:
        with pytest.raises(ValueError, match=message):
            config(**settings)


def test_field_docs_reads_attribute_docstrings_with_inheritance():
    @dataclass
    class Base:
        a: int = 1
        """The a.
        Second line."""
        b: str = "x"  # a comment is not help
        c: float = 0.5
        """The c."""

    @dataclass
    class Child(Base):
        c: float = 0.25
        d: bool = False
        """Flag "d", with a # sign."""

    assert field_docs(Base) == {"a": "The a. Second line.", "b": "", "c": "The c."}
    assert field_docs(Child) == {"a": "The a. Second line.", "b": "", "c": "The c.", "d": 'Flag "d", with a # sign.'}


def test_every_config_field_is_documented():
    for config in (*TASK_CONFIGS, TrainConfig):
        undocumented = [name for name, doc in field_docs(config).items() if not doc]
        assert not undocumented, (config.__name__, undocumented)


def test_task_classes_follow_the_contract():
    for api in (rnnkit.LanguageModel, rnnkit.TextClassifier, rnnkit.MusicModel, rnnkit.Seq2Seq):
        assert issubclass(api, TaskModel) and api.config_class.__name__.endswith("Config")
        assert set(api.train_defaults) <= {f.name for f in dataclasses.fields(TrainConfig)}
        for method in ("make_task", "from_meta", "evaluate", "predict"):
            assert method in vars(api), (api.__name__, method)
    with pytest.raises(AttributeError):
        rnnkit.NoSuchModel  # noqa: B018
    assert rnnkit.MusicModel(hidden_size=3).config == MusicConfig(hidden_size=3)
    with pytest.raises(TypeError, match="not both"):
        rnnkit.MusicModel(MusicConfig(), hidden_size=3)


def test_a_model_fitted_on_a_path_records_it_and_evaluates_its_split_after_loading(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 20)
    lm = rnnkit.LanguageModel(hidden_size=8, num_layers=1, seq_len=16, batch_size=4)
    summary = lm.fit(text, max_steps=2, max_epochs=0, run_dir=str(tmp_path / "run"), log_every=1000)
    assert lm.config.data == str(text) and summary["step"] == 2
    loaded = rnnkit.LanguageModel.load(tmp_path / "run")
    assert loaded.evaluate()["loss"] == pytest.approx(summary["best_val"], abs=1e-6)  # its val split, best weights
    with pytest.raises(ValueError, match="no test split"):
        loaded.evaluate(split="test")


def test_field_choices_lists_the_declared_values_for_help():
    choices = field_choices(Seq2SeqConfig)
    assert choices["cell"] == ("lstm", "gru", "rnn") and choices["attention"] == ("none", "bahdanau", "luong")
    assert "hidden_size" not in choices and field_choices(TrainConfig) == {}
