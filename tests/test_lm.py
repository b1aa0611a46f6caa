"""Tests of rnnkit.tasks.lm: the char-level language model, its task, loading and sampling."""

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data.text import CharVocab
from rnnkit.tasks.lm import CharLM, LanguageModelTask, LMConfig, load_lm, sample
from rnnkit.train import Trainer, TrainConfig

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
    task = LanguageModelTask(small(text=str(path)))
    assert task.meta()["vocab"]["chars"] == "".join(sorted(set(TEXT)))
    summary = Trainer(task, TrainConfig(run_dir=str(tmp_path / "run"), threads=1, max_epochs=3, lr=0.03, log_every=1000)).fit()
    assert summary["best_val"] < 0.5 * torch.log(torch.tensor(float(len(task.vocab)))).item()
    model, vocab = load_lm(tmp_path / "run" / "best")
    assert vocab.chars == task.vocab.chars
    for a, b in zip(model.state_dict().values(), task.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
