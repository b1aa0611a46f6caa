"""Tests of rnnkit.tasks.captioning: the feature-conditioned decoder and the digits demo task."""

import hashlib
from importlib import resources

import pytest
import torch

from rnnkit.data.pairs import PairVocab, pad_batch
from rnnkit.tasks.captioning import DIGIT_NAMES, CaptionConfig, ConditionalDecoder, DigitsCaptionTask, load_digits
from rnnkit.train import TrainConfig, Trainer


def test_bundled_digits_match_their_source():
    raw = resources.files("rnnkit.data").joinpath("bundled/digits.csv.gz").read_bytes()
    source = resources.files("rnnkit.data").joinpath("bundled/digits.SOURCE.txt").read_text()
    assert hashlib.sha256(raw).hexdigest() in source
    images, labels = load_digits()
    assert images.shape == (1797, 64) and images.min() == 0.0 and images.max() == 1.0
    assert sorted(set(labels.tolist())) == list(range(10)) and min((labels == d).sum() for d in range(10)) > 170


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_conditional_decoder_learns_names_from_feature_vectors(cell):
    torch.manual_seed(0)
    names = ["cat", "dog", "bird", "cow"]
    vocab = PairVocab.from_texts(names)
    features = torch.randn(4, 5)
    y = pad_batch([vocab.encode(n) for n in names], eos=True)
    model = ConditionalDecoder(5, len(vocab), embed_size=8, hidden_size=24, cell=cell)
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    for _ in range(60):
        _, loss, _ = model(features, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model.generate(features, vocab) == names
    assert model.generate(features, vocab, beam=3) == names
    with pytest.raises(ValueError, match=r"features must have shape \(B, 5\)"):
        model.generate(torch.randn(2, 6), vocab)


def test_digits_captions_reach_high_exact_match_after_a_short_training(tmp_path):
    torch.manual_seed(0)
    task = DigitsCaptionTask(CaptionConfig())
    assert task.exact_match("test") < 0.2  # untrained
    Trainer(task, TrainConfig(run_dir=str(tmp_path), max_epochs=5, lr=0.005, threads=1, log_every=1000)).fit()
    assert task.exact_match("test") > 0.85
    assert set(task.model.generate(task.images[:50], task.vocab)) <= set(DIGIT_NAMES)
