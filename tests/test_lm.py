"""Tests of rnnkit.tasks.lm: the language model, its char- and word-level task, evaluation, loading and sampling."""

import json
import math
import re

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.text import CharVocab
from rnnkit.tasks.lm import CharLM, LanguageModel, LanguageModelTask, LMConfig, evaluate_text, lm_metrics, sample
from rnnkit.train import TrainConfig, Trainer

TEXT = "to be or not to be, that is the question.\n" * 40


def small(**kw) -> LMConfig:
    return LMConfig(**{"embed_size": 8, "hidden_size": 16, "num_layers": 1, "batch_size": 4, "seq_len": 8,
                       "eval_batch_size": 2, **kw})


def test_forward_returns_logits_mean_cross_entropy_and_state():
    torch.manual_seed(0)
    model = CharLM(11, small(num_layers=2))
    idx, targets = torch.randint(0, 11, (3, 5)), torch.randint(0, 11, (3, 5))
    logits, loss, (h, c) = model(idx, targets)
    assert logits.shape == (3, 5, 11) and h.shape == c.shape == (2, 3, 16)
    assert torch.allclose(loss, F.cross_entropy(logits.reshape(15, 11), targets.reshape(15)))
    assert model(idx)[1] is None


def test_state_carries_the_sequence_across_calls():
    torch.manual_seed(0)
    model = CharLM(7, small(cell="gru")).eval()
    idx = torch.randint(0, 7, (2, 10))
    whole = model(idx)[0]
    first, _, state = model(idx[:, :4])
    second = model(idx[:, 4:], None, state)[0]
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)


def test_tied_weights_share_one_matrix():
    model = CharLM(9, small(embed_size=16, tie_weights=True))
    assert model.head.weight is model.embed.weight
    with pytest.raises(ValueError, match="tie_weights needs embed_size == hidden_size"):
        LMConfig(embed_size=8, hidden_size=16, tie_weights=True)


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="cell must be one of lstm, gru, rnn; got 'tcn'"):
        LMConfig(cell="tcn")
    with pytest.raises(ValueError, match="dropout_output must be in"):
        LMConfig(dropout_output=1.0)


def test_sample_is_reproducible_and_rejects_unknown_prime_characters():
    torch.manual_seed(0)
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(len(vocab), small())
    a = sample(model, vocab, "to ", 50, temperature=0.9, seed=3)
    assert len(a) == 50 and set(a) <= set(vocab.chars)
    assert a == sample(model, vocab, "to ", 50, temperature=0.9, seed=3)
    assert a != sample(model, vocab, "to ", 50, temperature=0.9, seed=4)
    assert sample(model, vocab, "be", 20, seed=1, context="to ") == sample(model, vocab, "to be", 20, seed=1)
    with pytest.raises(ValueError, match="'R' is not in the vocabulary"):
        sample(model, vocab, "ROMEO:", 10)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        sample(model, vocab, "to", 10, temperature=0)


def test_top_k_one_is_greedy_decoding():
    torch.manual_seed(0)
    vocab = CharVocab.from_text(TEXT)
    model = CharLM(len(vocab), small()).eval()
    text = sample(model, vocab, "t", 5, top_k=1, seed=0)
    ids, state, greedy = vocab.encode("t")[None], None, []
    for _ in range(5):
        logits, _, state = model(ids, None, state)
        ids = logits[:, -1].argmax(-1, keepdim=True)
        greedy.append(int(ids))
    assert text == vocab.decode(greedy)


def test_trained_model_beats_uniform_and_reloads_from_its_checkpoint(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    torch.manual_seed(0)
    task = LanguageModelTask(small(data=str(path)))
    assert task.meta()["vocab"]["chars"] == "".join(sorted(set(TEXT)))
    train = TrainConfig(run_dir=str(tmp_path / "run"), threads=1, max_epochs=3, lr=0.03, log_every=1000)
    summary = Trainer(task, train).fit()
    assert summary["best_val"] < 0.5 * torch.log(torch.tensor(float(len(task.vocab)))).item()
    lm = LanguageModel.load(tmp_path / "run" / "best")
    model, vocab = lm.model, lm.vocab
    assert vocab.chars == task.vocab.chars
    for a, b in zip(model.state_dict().values(), task.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_bits_per_token_are_nats_over_ln_2_on_a_uniform_model():
    vocab = CharVocab.from_text("abcd")
    model = CharLM(len(vocab), small())
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)  # every next character has probability 1/4
    metrics, count = evaluate_text(model, vocab, "abcdabcdabcdabcdabcd", small())
    assert count == 18  # eval_batch_size 2 rows of (20 - 1) // 2 = 9 predicted ids
    assert metrics["loss"] == pytest.approx(math.log(4), abs=1e-6)
    assert metrics["bits"] == pytest.approx(2.0, abs=1e-6) and metrics["perplexity"] == pytest.approx(4.0, abs=1e-5)
    assert lm_metrics(1.0) == {"loss": 1.0, "perplexity": math.e, "bits": 1 / math.log(2)}


def ptb_like(root):
    """A tiny PTB-format corpus: toy.{train,valid,test}.txt, one sentence per line."""
    sentences = [" the cat sat on the mat \n", " a dog sat on a log \n", " the dog saw the cat \n"]
    (root / "toy.train.txt").write_text("".join(sentences) * 30)
    (root / "toy.valid.txt").write_text("".join(sentences[::-1]) * 3)
    (root / "toy.test.txt").write_text(" the cat saw a zebra \n" * 5)
    return root / "toy.train.txt"


def test_word_level_task_reads_ptb_format_and_evaluates_the_test_split(tmp_path):
    torch.manual_seed(0)
    task = LanguageModelTask(small(data=str(ptb_like(tmp_path)), level="word", seq_len=6))
    assert len(task.vocab) == 11  # 9 training words + <eos> + <unk>
    assert task.vocab.decode(task.eval_streams["test"].x[0, :6]) == " the cat saw a <unk>\n"
    summary = Trainer(task, TrainConfig(run_dir=str(tmp_path / "run"), threads=1, max_epochs=4, lr=0.03,
                                        log_every=1000)).fit()
    assert summary["test"] is not None and summary["best_val"] < 0.5 * math.log(len(task.vocab))
    lm = LanguageModel.load(tmp_path / "run")
    model, vocab = lm.model, lm.vocab
    assert vocab.tokens == task.vocab.tokens
    text = sample(model, vocab, "the okapi", 12, seed=0)  # an unknown prime word is read as <unk>
    assert set(text.split()) <= set(vocab.tokens)


def test_char_level_task_has_no_test_split():
    task = LanguageModelTask(small(data=""))
    assert list(task.eval_batches("test")) == [] and len(task.vocab) == 65


def cli(*args):
    """`rnnkit ARGS` in this process: (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from rnnkit.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_eval_cli_prints_the_run_s_final_val_loss_perplexity_and_bits(tiny_lm_run):
    code, out, _ = cli("lm", "eval", "--checkpoint", tiny_lm_run)
    assert code == 0
    last_val = [r for r in map(json.loads, (tiny_lm_run / "metrics.jsonl").read_text().splitlines())
                if r["kind"] == "val"][-1]["loss"]
    found = re.search(r"loss ([\d.]+) nats/char, perplexity ([\d.]+), ([\d.]+) bits/char", out)
    nats, ppl, bits = map(float, found.groups())
    assert nats == pytest.approx(last_val, abs=1e-4)
    assert ppl == pytest.approx(math.exp(nats), rel=1e-3) and bits == pytest.approx(nats / math.log(2), abs=1e-4)


@pytest.mark.parametrize("args, message", [
    (["lm", "train", "--data", "/no/such.txt"], "error: /no/such.txt: no such file"),
    (["lm", "sample", "--checkpoint", "RUN", "--prime", "ROMEO:"], "error: character 'R' is not in the vocabulary"),
    (["lm", "eval", "--checkpoint", "RUN", "--split", "test"], "has no test split"),
    (["lm", "eval", "--checkpoint", "RUN", "--data", "/no/such.txt"], "error: /no/such.txt: no such file"),
    (["lm", "eval", "--checkpoint", "RUN", "--split", "train"], "error: split must be one of val, test; got 'train'"),
    (["lm", "sample"], "error: give the model as --checkpoint DIR"),
])
def test_lm_cli_bad_input_is_one_clear_line_and_exit_2(tiny_lm_run, args, message):
    code, out, err = cli(*[tiny_lm_run if a == "RUN" else a for a in args])
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_word_level_cli_trains_evaluates_test_and_samples_with_unk(tmp_path):
    train, run = ptb_like(tmp_path), tmp_path / "run"
    code, out, err = cli("lm", "train", "--data", train, "--level", "word", "--run-dir", run, "--embed-size", 8,
                         "--hidden-size", 16, "--num-layers", 1, "--batch-size", 4, "--seq-len", 6, "--max-epochs", 2,
                         "--threads", 1, "--lr", 0.03)
    assert code == 0, err
    test_line = next(line for line in out.splitlines() if line.startswith("test loss"))
    code, out, _ = cli("lm", "eval", "--checkpoint", run, "--split", "test")
    assert code == 0 and "test split" in out and "nats/word" in out
    assert re.search(r"[\d.]+ nats/word", out).group() == re.search(r"[\d.]+ nats/word", test_line).group()
    code, out, err = cli("lm", "sample", "--checkpoint", run, "--prime", "the okapi", "--length", 5, "--seed", 1)
    assert code == 0 and "'okapi' not in the vocabulary; read as <unk>" in err
    generated = out[len("the okapi"):-1]  # echo ends the output with a newline
    assert out.startswith("the okapi ") and len(generated.split()) + generated.count("\n") == 5  # words + <eos>


def test_char_ptb_files_read_at_word_level_report_bits_per_character(tmp_path):
    """ptb.char files space-separate characters ('_' between words): a token is a character."""
    for split, lines in (("train", 30), ("valid", 3), ("test", 3)):
        (tmp_path / f"toy.char.{split}.txt").write_text(" t h e _ c a t _ s a t \n a _ d o g \n" * lines)
    run = tmp_path / "run"
    code, out, err = cli("lm", "train", "--data", tmp_path / "toy.char.train.txt", "--level", "word", "--run-dir", run,
                         "--embed-size", 8, "--hidden-size", 8, "--num-layers", 1, "--batch-size", 4, "--seq-len", 6,
                         "--max-steps", 3, "--threads", 1)
    assert code == 0, err
    assert re.search(r"test loss [\d.]+ nats/char, perplexity [\d.]+, [\d.]+ bits/char \([\d,]+ predicted chars", out)
    code, out, _ = cli("lm", "eval", "--checkpoint", run, "--split", "test")
    assert code == 0 and "predicted chars; loss" in out and "bits/char" in out and "word" not in out


def test_tied_weights_start_small_so_the_first_loss_is_near_uniform():
    torch.manual_seed(0)
    model = CharLM(65, small(embed_size=512, hidden_size=512, tie_weights=True))
    assert model.embed.weight.abs().max() <= 0.1
    loss = model(torch.randint(0, 65, (4, 32)), torch.randint(0, 65, (4, 32)))[1]
    assert abs(loss.item() - math.log(65)) < 0.5


def test_a_checkpoint_with_unknown_lm_settings_is_a_clear_error(tiny_lm_run, tmp_path):
    import shutil

    ckpt = tmp_path / "ckpt"
    shutil.copytree((tiny_lm_run / "last").resolve(), ckpt)
    state = json.loads((ckpt / "state.json").read_text())
    state["meta"]["lm"]["text"] = state["meta"]["lm"].pop("data")  # as written before --data was named so
    (ckpt / "state.json").write_text(json.dumps(state))
    code, _, err = cli("lm", "sample", "--checkpoint", ckpt)
    assert code == 2 and "unknown [lm] settings text" in err


def test_tied_model_reloaded_from_best_scores_test_like_val_when_they_are_the_same_text(tmp_path):
    train = ptb_like(tmp_path)
    (tmp_path / "toy.test.txt").write_text((tmp_path / "toy.valid.txt").read_text())
    torch.manual_seed(0)
    task = LanguageModelTask(small(data=str(train), level="word", seq_len=6, embed_size=16, tie_weights=True))
    summary = Trainer(task, TrainConfig(run_dir=str(tmp_path / "run"), threads=1, max_steps=5, lr=0.03,
                                        log_every=1000)).fit()
    assert summary["test"] == pytest.approx(summary["best_val"], abs=1e-6)  # test read after reloading `best`
    lm = LanguageModel.load(tmp_path / "run" / "best")
    model, vocab = lm.model, lm.vocab
    assert model.head.weight is model.embed.weight  # the tie survives safetensors' one stored copy
    metrics, _ = evaluate_text(model, vocab, (tmp_path / "toy.valid.txt").read_text(), task.cfg)
    assert metrics["loss"] == pytest.approx(summary["best_val"], abs=1e-6)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"caf\xe9\n", "line 1: not UTF-8 text (byte 3: 0xe9); if it is Latin-1 or Windows-1252 text, "
                    "pass --encoding latin-1"),
    (b"ab\x00cd", "binary data, not text"),
    (b"a", "at least 2 are needed"),
])
def test_eval_of_a_bad_data_file_is_one_clear_line(tiny_lm_run, tmp_path, content, message):
    path = tmp_path / "scored.txt"
    path.write_bytes(content)
    code, _, err = cli("lm", "eval", "--checkpoint", tiny_lm_run, "--data", path)
    assert code == 2 and message in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
