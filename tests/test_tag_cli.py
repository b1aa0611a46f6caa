"""`rnnkit tag train|eval|predict` on tiny files, and its bad-input contract."""

from typer.testing import CliRunner

from rnnkit.cli import app

SMALL = ["--embed-size", "8", "--char-embed-size", "4", "--char-hidden-size", "4", "--hidden-size", "8",
         "--min-freq", "1", "--batch-size", "4", "--batch-tokens", "0", "--threads", "1", "--max-epochs", "2"]


def conllu(sentences):
    out = []
    for words in sentences:
        tags = ["DET" if w in ("the", "a") else "NOUN" for w in words]
        out += [f"{i}\t{w}\t{w}\t{t}\t_\t_\t0\troot\t_\t_" for i, (w, t) in enumerate(zip(words, tags), 1)]
        out.append("")
    return "\n".join(out) + "\n"


def files(tmp_path):
    sentences = [["the", "cat"], ["a", "dog"], ["the", "dog"], ["a", "cat"]] * 3
    for part in ("train", "dev", "test"):
        (tmp_path / f"toy-{part}.conllu").write_text(conllu(sentences), encoding="utf-8")
    return tmp_path / "toy-train.conllu"


def test_train_eval_predict(tmp_path):
    runner, run = CliRunner(), str(tmp_path / "run")
    result = runner.invoke(app, ["tag", "train", "--data", str(files(tmp_path)), "--run-dir", run, *SMALL])
    assert result.exit_code == 0, result.output
    assert "test (12 sentences, best weights): accuracy" in result.output
    result = runner.invoke(app, ["tag", "eval", "--checkpoint", run])
    assert result.exit_code == 0 and "test split: accuracy" in result.output
    raw = tmp_path / "raw.txt"
    raw.write_text("the cat\n\na   dog  \n", encoding="utf-8")
    out = tmp_path / "out.conll"
    result = runner.invoke(app, ["tag", "predict", str(raw), "--checkpoint", run, "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").split("\n")
    assert [ln.split("\t")[0] for ln in lines] == ["the", "cat", "", "a", "dog", "", ""]
    assert all(len(ln.split("\t")) == 2 for ln in lines if ln)
    result = runner.invoke(app, ["tag", "predict", str(raw), "--checkpoint", run, "--output", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output  # never overwrites


def test_malformed_conllu_is_one_error_line_naming_file_and_line(tmp_path):
    path = tmp_path / "bad-train.conllu"
    path.write_text("1\tthe\tthe\tDET\t_\t_\t0\troot\t_\t_\nx\tcat\tcat\tNOUN\t_\t_\t0\troot\t_\t_\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", "train", "--data", str(path), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {path}, line 2: the ID 'x' is not an integer"


def test_missing_data_and_unknown_flag(tmp_path):
    result = CliRunner().invoke(app, ["tag", "train", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--data" in result.output
    result = CliRunner().invoke(app, ["tag", "train", "--data", "x.conllu", "--hiden-size", "3"])
    assert result.exit_code == 2 and "No such option: --hiden-size" in result.output
    result = CliRunner().invoke(app, ["tag", "eval", "--checkpoint", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.output.startswith("error: ")


def test_help_lists_every_setting():
    import dataclasses

    from rnnkit.tasks.seqclass import SeqClassConfig
    from rnnkit.tasks.tag import TagConfig
    from rnnkit.train import TrainConfig

    for command, classes in ((["tag", "train"], (TagConfig, TrainConfig)), (["classify", "train"], (SeqClassConfig,))):
        out = CliRunner().invoke(app, [*command, "--help"], terminal_width=200).output
        for cls in classes:
            for field in dataclasses.fields(cls):
                assert f"--{field.name.replace('_', '-')} " in out, (command, field.name)
