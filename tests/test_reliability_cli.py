"""Bad input through the real command line: every case ends in exit code 2, one error line on stderr
(no traceback), and leaves every file that existed before byte-identical (and creates none).

The matrix is built from two tables: TASKS (one entry per task: its train command, data flag and
the commands that load its checkpoints; the generic bad inputs are crossed with each) and
SPECIFIC (bad inputs that only make sense for one task). A new task adds one TASKS entry, and its
own SPECIFIC rows; `test_matrix_covers_every_task_command` fails while a CLI sub-command has no
case. Cases run in-process through typer's CliRunner (same exit code and stderr as
the installed command, in milliseconds); `test_subprocess_sample` runs a few of them as real
processes, and `-m slow` runs the whole matrix that way.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.cli import app

TEXT = "to be, or not to be: that is the question.\n" * 40
SERIES = "date,y\n" + "".join(f"{i},{20 + (i % 12) * 0.5}\n" for i in range(60))
PAIRS = "".join(f"{a}+{b}\t{a + b}\n" for a, b in [(1, 2), (12, 30), (5, 5), (99, 1)] * 20)
MUSIC = ('{"train": [[[60, 64], [62], [60, 67], [64], [65]], [[60], [62, 65], [64], [67]]], '
         '"valid": [[[60], [62, 65], [64]], [[64], [65]]], "test": [[[60, 64], [67], [62]], [[60], [62]]]}')
TAGGED = "".join(f"the\tDET\n{w}\tNOUN\n{v}\tVERB\n\n" for w in ("cat", "dog") for v in ("sat", "ran")) * 10
TSV = "".join(f"{'spam' if i % 3 == 0 else 'ham'}\tmessage {i} {'win cash now' if i % 3 == 0 else 'see you'}\n"
              for i in range(60))


@dataclass
class Task:
    """A task's commands: `train` (fast settings, run dir {tmp}/run), its data flag, a good data file,
    the fixture name of a trained run, and commands that load a checkpoint given as {ckpt}."""

    train: list[str]
    data_flag: str
    good_data: str
    run: str
    loaders: list[list[str]] = field(default_factory=list)
    vocab: str = "vocab"  # the meta key of its vocabulary ("" = none)


TASKS = {
    "lm": Task(["lm", "train", "--run-dir", "{tmp}/run", "--max-steps", "1", "--hidden-size", "8",
                "--embed-size", "4", "--num-layers", "1", "--batch-size", "2", "--seq-len", "8",
                "--eval-batch-size", "2", "--threads", "1"],
               "--data", TEXT, "lm_run",
               [["lm", "sample", "{ckpt}", "--length", "5"], ["lm", "eval", "--checkpoint", "{ckpt}"],
                ["diagnose", "gates", "--checkpoint", "{ckpt}", "--text", "to be", "--out", "{tmp}/g.html"],
                ["diagnose", "gradient-flow", "--checkpoint", "{ckpt}", "--cells", "", "--length", "4",
                 "--out", "{tmp}/gf"]]),
    "classify": Task(["classify", "train", "--run-dir", "{tmp}/run", "--max-steps", "1", "--hidden-size", "4",
                      "--embed-size", "4", "--batch-size", "4", "--threads", "1"],
                     "--data", TSV, "clf_run",
                     [["classify", "predict", "--checkpoint", "{ckpt}", "win cash"],
                      ["classify", "eval", "--checkpoint", "{ckpt}", "--data", "{tmp}/good.tsv"]]),
    "forecast": Task(["forecast", "train", "--run-dir", "{tmp}/run", "--time-col", "date", "--target-col", "y",
                      "--horizon", "2", "--lookback", "4", "--val-size", "6", "--test-size", "6", "--hidden-size", "4",
                      "--max-steps", "1", "--threads", "1"],
                     "--csv", SERIES, "fc_run",
                     [["forecast", "eval", "{ckpt}"], ["forecast", "predict", "{ckpt}", "--out", "{tmp}/f.csv",
                                                       "--plot", "{tmp}/f.png"],
                      ["forecast", "anomalies", "{ckpt}", "--out", "{tmp}/a.csv", "--plot", "{tmp}/a.png"],
                      ["export", "--checkpoint", "{ckpt}", "--out", "{tmp}/m.onnx"]], vocab=""),
    "seq2seq": Task(["seq2seq", "train", "--run-dir", "{tmp}/run", "--hidden-size", "4", "--embed-size", "4",
                     "--batch-size", "4", "--max-steps", "1", "--val-frac", "0.1", "--test-frac", "0.1"],
                    "--data", PAIRS, "s2s_run",
                    [["seq2seq", "translate", "--checkpoint", "{ckpt}", "1+2"]], vocab="src_vocab"),
    "music": Task(["music", "train", "--run-dir", "{tmp}/run", "--hidden-size", "4", "--batch-size", "2",
                   "--max-steps", "1", "--threads", "1"],
                  "--data", MUSIC, "mu_run",
                  [["music", "eval", "{ckpt}"], ["music", "sample", "{ckpt}", "--out", "{tmp}/s", "--frames", "2",
                                                 "--prime", "1"]], vocab=""),
    "tag": Task(["tag", "train", "--run-dir", "{tmp}/run", "--hidden-size", "4", "--embed-size", "4",
                 "--char-embed-size", "4", "--char-hidden-size", "4", "--min-freq", "1", "--batch-size", "4",
                 "--batch-tokens", "0", "--max-steps", "1", "--max-time", "0", "--threads", "1"],
                "--data", TAGGED, "tag_run",
                [["tag", "eval", "--checkpoint", "{ckpt}", "--data", "{tmp}/good.tsv"],
                 ["tag", "predict", "{tmp}/good.tsv", "--checkpoint", "{ckpt}", "--output", "{tmp}/out.conll"]],
                vocab="encoder"),
}
# a checkpoint of another task for each task's run
OTHER_RUN = {"lm_run": "clf_run", "clf_run": "lm_run", "fc_run": "s2s_run", "s2s_run": "fc_run", "mu_run": "lm_run",
             "tag_run": "clf_run"}
TASK_OF_RUN = {task.run: name for name, task in TASKS.items()}


@dataclass
class Case:
    """args with placeholders {tmp}, {lm_run}, {clf_run}; files to create in {tmp} first (bytes or
    text; a callable gets the tmp dir and the runs); `expect`: a substring of the error line (or
several, separated by |, any of which will do)."""

    id: str
    args: list[str]
    expect: str
    files: dict = field(default_factory=dict)


def _copy_ckpt(run: str, damage):
    """A setup that copies `run`'s last checkpoint to {tmp}/ckpt and damages it with damage(path)."""

    def setup(tmp: Path, runs: dict[str, Path]) -> None:
        shutil.copytree(runs[run] / "last", tmp / "ckpt")
        damage(tmp / "ckpt")

    return setup


def _truncate(name: str):
    def damage(ckpt: Path) -> None:
        data = (ckpt / name).read_bytes()
        (ckpt / name).write_bytes(data[: len(data) // 2])

    return damage


def _edit_state(edit):
    def damage(ckpt: Path) -> None:
        import json

        state = json.loads((ckpt / "state.json").read_text())
        edit(state)
        (ckpt / "state.json").write_text(json.dumps(state))

    return damage


def _pickle_as_safetensors(ckpt: Path) -> None:
    import pickle

    (ckpt / "model.safetensors").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))


def _pickle_file(tmp: Path, runs) -> None:
    import pickle

    (tmp / "model.pt").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))


def _state(key, value):
    def edit(state):
        *path, last = key.split(".")
        for part in path:
            state = state[part]
        if value is KeyError:
            del state[last]
        else:
            state[last] = value

    return edit


# Damaged checkpoints: (id, setup, expected substring). The run is the task's own.
def _damaged(run: str) -> list[tuple[str, object, str]]:
    task_key = TASK_OF_RUN[run]
    vocab = TASKS[task_key].vocab
    return [
        ("missing-ckpt", None, "{tmp}/ckpt"),
        ("truncated-model", _copy_ckpt(run, _truncate("model.safetensors")), "safetensors"),
        ("truncated-optim", _copy_ckpt(run, _truncate("optim.safetensors")), "safetensors"),
        ("truncated-state", _copy_ckpt(run, _truncate("state.json")), "not valid JSON"),
        ("pickle-in-safetensors", _copy_ckpt(run, _pickle_as_safetensors), "safetensors"),
        ("state-without-meta", _copy_ckpt(run, _edit_state(_state("meta", KeyError))), "checkpoint|model"),
        ("state-unknown-setting", _copy_ckpt(run, _edit_state(_state(f"meta.{task_key}.evil", 1))), "evil"),
    ] + ([("state-bad-vocab", _copy_ckpt(run, _edit_state(_state(f"meta.{vocab}", 7))), "vocab")] if vocab else [])


def generic_cases() -> list:
    cases = []
    for name, task in TASKS.items():
        data = task.train
        good = {"good.tsv": task.good_data}
        bad_data = [
            ("missing-file", {}, "{tmp}/nope.txt", "nope.txt"),
            ("empty-file", {"data.txt": b""}, "{tmp}/data.txt", "data.txt"),
            ("binary-file", {"data.txt": bytes(range(256)) * 8}, "{tmp}/data.txt", "data.txt"),
            ("non-utf8", {"data.txt": "caf\xe9 au lait\n".encode("latin-1") * 50}, "{tmp}/data.txt", "data.txt"),
            ("directory", {"data.txt/x": b""}, "{tmp}/data.txt", "data.txt"),
        ]
        for cid, files, path, expect in bad_data:
            args = [*data, task.data_flag, path]
            if name == "forecast" and cid == "directory":  # --csv FOLDER is the many-series command
                args = ["forecast", "train", "--run-dir", "{tmp}/run", "--csv", path]
            cases.append(Case(f"{name}-train-{cid}", args, expect, files))
        gd = [task.data_flag, "{tmp}/good.tsv"]
        cases += [
            Case(f"{name}-train-unknown-option", [*data, *gd, "--frobnicate", "1"], "--frobnicate", good),
            Case(f"{name}-train-bad-number", [*data, *gd, "--lr", "fast"], "--lr", good),
            Case(f"{name}-train-nan-lr", [*data, *gd, "--lr", "nan"], "--lr", good),
            Case(f"{name}-train-negative", [*data, *gd, "--hidden-size", "-3"], "hidden_size", good),
            Case(f"{name}-train-missing-value", [*data, *gd, "--lr"], "--lr", good),
            Case(f"{name}-train-tbptt-conflict", [*data, *gd, "--tbptt-forward", "8", "--tbptt-backward", "4"],
                 "tbptt_backward", good),
            Case(f"{name}-train-no-stop-rule", [*data, *gd, "--max-epochs", "0", "--max-steps", "0", "--patience", "0"],
                 "max_epochs", good),
            Case(f"{name}-train-unwritable-run-dir", [*data, *gd, "--run-dir", "{tmp}/afile/run"], "afile",
                 {**good, "afile": b"a file, not a directory"}),
            Case(f"{name}-train-missing-config", [*data, *gd, "--config", "{tmp}/none.toml"], "none.toml", good),
            Case(f"{name}-train-bad-toml", [*data, *gd, "--config", "{tmp}/c.toml"], "c.toml",
                 {**good, "c.toml": "[train\nlr = "}),
            Case(f"{name}-train-toml-unknown-key", [*data, *gd, "--config", "{tmp}/c.toml"], "evil",
                 {**good, "c.toml": "[train]\nevil = 1\n"}),
            Case(f"{name}-train-toml-binary", [*data, *gd, "--config", "{tmp}/c.toml"], "c.toml",
                 {**good, "c.toml": b"\xff\xfe\x00\x01"}),
            Case(f"{name}-train-over-existing-run", [*data, *gd, "--run-dir", f"{{{task.run}}}"], "--resume", good),
            Case(f"{name}-train-resume-missing", [*data, *gd, "--resume", "{tmp}/nothing"], "nothing", good),
            Case(f"{name}-train-resume-other-task", [*data, *gd, "--resume", f"{{{OTHER_RUN[task.run]}}}"],
                 "checkpoint", good),
            Case(f"{name}-train-resume-pickle", [*data, *gd, "--resume", "{tmp}/model.pt"], "pickle",
                 {**good, "model.pt": _pickle_file}),
        ]
        for cid, setup, expect in _damaged(task.run):
            if cid == "state-bad-vocab":  # a resumed run rebuilds its vocabulary from the data
                continue
            cases.append(Case(f"{name}-train-resume-{cid}", [*task.train[:2], "--resume", "{tmp}/ckpt"], expect,
                              {**good, **({"setup": setup} if setup else {})}))
        for loader in task.loaders:
            lid = "-".join(loader[:2])
            sub = lambda ckpt, loader=loader: [a.replace("{ckpt}", ckpt) for a in loader]  # noqa: E731
            cases += [
                Case(f"{lid}-other-task", sub(f"{{{OTHER_RUN[task.run]}}}"), "checkpoint|model", good),
                Case(f"{lid}-pickle-file", sub("{tmp}/model.pt"), "pickle", {**good, "model.pt": _pickle_file}),
                Case(f"{lid}-pt-directory", sub("{tmp}"), "missing", {**good, "model.pt": _pickle_file}),
            ]
            for cid, setup, expect in _damaged(task.run):
                files = {**good, **({"setup": setup} if setup else {})}
                cases.append(Case(f"{lid}-{cid}", sub("{tmp}/ckpt"), expect, files))
    return cases


ONE_CLASS = "ham\thello there\n" * 20
BAD_TS = "@problemName x\n@univariate true\n@classLabel true a b\n@data\n1,2,oops:a\n"
SPECIFIC = [
    # numeric sequences through classify (a .ts file chooses the sequence classifier)
    Case("classify-train-bad-ts", [*TASKS["classify"].train, "--data", "{tmp}/d.ts"], "d.ts", {"d.ts": BAD_TS}),
    Case("classify-train-sequences-bad-ts", ["classify", "train-sequences", "--data", "{tmp}/d.ts", "--max-steps",
                                             "1"], "d.ts", {"d.ts": BAD_TS}),
    Case("classify-train-sequences-text-flag", ["classify", "train", "--data", "{tmp}/d.ts", "--text-col", "2"],
         "text_col|text-col", {"d.ts": BAD_TS}),
    # language model
    Case("lm-train-too-short", [*TASKS["lm"].train, "--data", "{tmp}/t.txt"], "too few", {"t.txt": "abc"}),
    Case("lm-train-tie-conflict", [*TASKS["lm"].train, "--tie-weights"], "tie_weights"),
    Case("lm-sample-unknown-char", ["lm", "sample", "{lm_run}", "--prime", "\u0436"], "\u0436"),
    Case("lm-sample-empty-prime", ["lm", "sample", "{lm_run}", "--prime", ""], "prime"),
    Case("lm-sample-zero-temperature", ["lm", "sample", "{lm_run}", "--temperature", "0"], "temperature"),
    Case("lm-sample-negative-length", ["lm", "sample", "{lm_run}", "--length", "-1"], "length"),
    Case("lm-sample-negative-top-k", ["lm", "sample", "{lm_run}", "--top-k", "-2"], "top_k"),
    Case("diagnose-gates-unknown-char", ["diagnose", "gates", "--checkpoint", "{lm_run}", "--text", "\u0436",
                                         "--out", "{tmp}/g.html"], "\u0436"),
    Case("diagnose-gates-unwritable-out", ["diagnose", "gates", "--checkpoint", "{lm_run}", "--text", "to be",
                                           "--out", "{tmp}/afile/g.html"], "afile", {"afile": b"x"}),
    Case("diagnose-gradient-flow-unwritable-out", ["diagnose", "gradient-flow", "--cells", "rnn", "--length", "3",
                                                   "--out", "{tmp}/afile/gf"], "afile", {"afile": b"x"}),
    Case("diagnose-gradient-flow-unknown-cell", ["diagnose", "gradient-flow", "--cells", "tcn"], "tcn"),
    Case("diagnose-report-not-a-run", ["diagnose", "report", "{tmp}/nothing"], "nothing"),
    # text classification
    Case("classify-train-one-class", [*TASKS["classify"].train, "--data", "{tmp}/d.tsv"], "two classes",
         {"d.tsv": ONE_CLASS}),
    Case("classify-train-missing-column", [*TASKS["classify"].train, "--data", "{tmp}/d.tsv"], "column",
         {"d.tsv": "just one column\n" * 20}),
    Case("classify-train-wrong-column-name", [*TASKS["classify"].train, "--data", "{tmp}/d.csv", "--text-col",
                                              "body", "--label-col", "label"], "body",
         {"d.csv": "label,text\nham,hi\nspam,win\n"}),
    Case("classify-train-too-few-rows", [*TASKS["classify"].train, "--data", "{tmp}/d.tsv"], "d.tsv",
         {"d.tsv": "ham\thi\nspam\twin\n"}),
    Case("classify-train-split-conflict", [*TASKS["classify"].train, "--val-frac", "0.6", "--test-frac", "0.5"],
         "val_frac"),
    Case("classify-train-huge-field", [*TASKS["classify"].train, "--data", "{tmp}/d.csv"], "d.csv",
         {"d.csv": "ham,\"" + "x" * 200_000 + "\"\nspam,win\n"}),
    Case("classify-eval-unseen-label", ["classify", "eval", "--checkpoint", "{clf_run}", "--data", "{tmp}/d.tsv"],
         "eggs", {"d.tsv": "eggs\thello\nham\thi\n"}),
    Case("classify-predict-nothing", ["classify", "predict", "--checkpoint", "{clf_run}"], "texts"),
    Case("classify-predict-missing-file", ["classify", "predict", "--checkpoint", "{clf_run}", "--file",
                                           "{tmp}/none.txt"], "none.txt"),
    Case("classify-predict-non-utf8-file", ["classify", "predict", "--checkpoint", "{clf_run}", "--file",
                                            "{tmp}/t.txt"], "UTF-8", {"t.txt": b"caf\xe9\n"}),
    # forecasting and seq2seq
    Case("forecast-train-non-numeric", [*TASKS["forecast"].train, "--csv", "{tmp}/s.csv"], "s.csv",
         {"s.csv": "date,y\n" + "".join(f"{i},abc\n" for i in range(60))}),
    Case("forecast-train-nan-only", [*TASKS["forecast"].train, "--csv", "{tmp}/s.csv"], "s.csv|missing",
         {"s.csv": "date,y\n" + "".join(f"{i},nan\n" for i in range(60))}),
    Case("forecast-train-missing-column", [*TASKS["forecast"].train, "--csv", "{tmp}/s.csv", "--target-col", "z"],
         "'z'", {"s.csv": SERIES}),
    Case("forecast-train-too-short", [*TASKS["forecast"].train, "--csv", "{tmp}/s.csv"], "s.csv|short|few",
         {"s.csv": SERIES[:40]}),
    # many series (forecast train --id-col / a folder = forecast train-many)
    Case("forecast-train-many-missing-id-col", ["forecast", "train", "--run-dir", "{tmp}/run", "--csv", "{tmp}/p.csv",
                                                "--id-col", "store"], "store",
         {"p.csv": "unique_id,ds,y\n" + "".join(f"a,{i},{i}\n" for i in range(40))}),
    Case("forecast-train-many-duplicate-time", ["forecast", "train-many", "--run-dir", "{tmp}/run", "--csv",
                                                "{tmp}/p.csv"], "duplicate",
         {"p.csv": "unique_id,ds,y\n" + "".join(f"a,{i // 2},{i}\n" for i in range(40))}),
    Case("forecast-train-many-all-missing", ["forecast", "train-many", "--run-dir", "{tmp}/run", "--csv",
                                             "{tmp}/p.csv"], "'b'",
         {"p.csv": "unique_id,ds,y\n" + "".join(f"a,{i},{i}\nb,{i},nan\n" for i in range(40))}),
    Case("forecast-predict-bad-origin", ["forecast", "predict", "{fc_run}", "--origin", "middle"], "--origin"),
    Case("seq2seq-translate-unknown-char", ["seq2seq", "translate", "--checkpoint", "{s2s_run}", "1x2"], "'x'"),
    Case("classify-predict-binary-file", ["classify", "predict", "--checkpoint", "{clf_run}", "--file",
                                          "{tmp}/t.txt"], "t.txt", {"t.txt": b"\x00\x01\x02\n"}),
]

CASES = generic_cases() + SPECIFIC

def _params(cases):
    return [pytest.param(c, id=c.id) for c in cases]


@pytest.fixture(scope="module")
def clf_run(tmp_path_factory):
    """A run directory of a tiny text classifier trained for 4 updates."""
    from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig
    from rnnkit.train import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("tiny_clf")
    (root / "d.tsv").write_text(TSV)
    torch.manual_seed(0)
    task = ClassificationTask(ClassifyConfig(data=str(root / "d.tsv"), embed_size=4, hidden_size=4, batch_size=4,
                                             min_freq=1))
    Trainer(task, TrainConfig(run_dir=str(root / "run"), max_steps=4, log_every=2, threads=1)).fit()
    return root / "run"


def _cli_run(tmp_path_factory, name: str, data: str) -> Path:
    """A run directory of task `name`'s train command (TASKS) on its good data."""
    root = tmp_path_factory.mktemp(name)
    (root / "good.tsv").write_text(data)
    task = TASKS[name]
    args = [a.replace("{tmp}", str(root)) for a in task.train] + [task.data_flag, str(root / "good.tsv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture(scope="module")
def runs(tiny_lm_run, clf_run, tmp_path_factory):
    return {"lm_run": tiny_lm_run, "clf_run": clf_run, "fc_run": _cli_run(tmp_path_factory, "forecast", SERIES),
            "s2s_run": _cli_run(tmp_path_factory, "seq2seq", PAIRS),
            "mu_run": _cli_run(tmp_path_factory, "music", MUSIC),
            "tag_run": _cli_run(tmp_path_factory, "tag", TAGGED)}


def _snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file (symlinks by their target) under `roots`."""
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_symlink():
                out[str(p)] = "-> " + str(p.readlink())
            elif p.is_file():
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _prepare(case: Case, tmp: Path, runs: dict[str, Path]) -> list[str]:
    for name, content in case.files.items():
        if callable(content):
            content(tmp, runs)
            continue
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    values = {"tmp": str(tmp), **{k: str(v) for k, v in runs.items()}}
    return [a.format(**values) if "{" in a else a for a in case.args]


def _check(code: int, stderr: str, expect: str, before: dict, after: dict) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert code == 2, stderr
    assert len(lines) == 1, stderr
    assert any(e in lines[0] for e in expect.split("|")), lines[0]
    assert after == before, "files changed: " + ", ".join(sorted(set(after.items()) ^ set(before.items()))[:1][0])


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_is_one_error_line_exit_2_and_changes_no_file(case, runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # commands that default to ./runs/... write nothing here either
    args = _prepare(case, tmp_path, runs)
    expect = case.expect.format(tmp=tmp_path)
    before = _snapshot(tmp_path, *runs.values())
    result = CliRunner().invoke(app, args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception  # shows the traceback a user would have seen
    _check(result.exit_code, result.stderr, expect, before, _snapshot(tmp_path, *runs.values()))


def test_matrix_covers_every_task_command():
    """Each task's train command and each of its loaders appears with bad input; so does every CLI group."""
    ids = {c.id for c in CASES}
    for name, task in TASKS.items():
        assert f"{name}-train-missing-file" in ids and f"{name}-train-resume-truncated-model" in ids
        for loader in task.loaders:
            assert f"{'-'.join(loader[:2])}-truncated-model" in ids
    # every sub-command of every command group of the CLI (a task merged later included) is in the matrix
    tried = {tuple(c.args[:2]) for c in CASES}
    for group in app.registered_groups:
        for command in group.typer_instance.registered_commands:
            assert (group.name, command.name or command.callback.__name__.replace("_", "-")) in tried


def _subprocess(case: Case, tmp: Path, runs) -> None:
    args = _prepare(case, tmp, runs)
    before = _snapshot(tmp, *runs.values())
    done = subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp)
    _check(done.returncode, done.stderr, case.expect.format(tmp=tmp), before, _snapshot(tmp, *runs.values()))


SUBPROCESS_SAMPLE = ["classify-train-non-utf8", "lm-sample-truncated-model", "classify-predict-pickle-file"]


@pytest.mark.parametrize("case_id", SUBPROCESS_SAMPLE)
def test_subprocess_sample(case_id, runs, tmp_path):
    _subprocess(next(c for c in CASES if c.id == case_id), tmp_path, runs)


@pytest.mark.slow
@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_as_a_real_process(case, runs, tmp_path):
    _subprocess(case, tmp_path, runs)
