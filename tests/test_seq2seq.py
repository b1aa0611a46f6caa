"""Tests of rnnkit.tasks.seq2seq: attention, decoding, training to exact match, translation."""

import pytest
import torch

from rnnkit.data.pairs import PairVocab, pad_batch
from rnnkit.tasks.seq2seq import Seq2Seq, Seq2SeqConfig, Seq2SeqNet, Seq2SeqTask, beam_search, greedy, plot_attention
from rnnkit.train import TrainConfig, Trainer

SOURCES = ["12+5", "7+300", "999+1", "40+40", "3+3"]


def small(**kw) -> Seq2SeqConfig:
    return Seq2SeqConfig(**{"embed_size": 8, "hidden_size": 16, "batch_size": 8, "eval_batch_size": 8,
                            "n_pairs": 40, **kw})


def encode(model, vocab, texts):
    return model.encode(pad_batch([vocab.encode(t) for t in texts]))


@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong"])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_beam_of_one_is_greedy(attention, cell):
    torch.manual_seed(0)
    vocab = PairVocab("+0123456789")
    model = Seq2SeqNet(len(vocab), len(vocab), small(attention=attention, cell=cell)).eval()
    state, memory = encode(model, vocab, SOURCES)
    ids, weights = greedy(model.decoder, state, memory, max_len=6)
    for b, text in enumerate(SOURCES):
        one_state, one_memory = encode(model, vocab, [text])
        beam_ids, beam_weights = beam_search(model.decoder, one_state, one_memory, beam=1, max_len=6)
        row = ids[b].tolist()
        row = row[: row.index(PairVocab.eos) + 1] if PairVocab.eos in row else row
        assert beam_ids == row
        assert not set(row) & {PairVocab.pad, PairVocab.sos, PairVocab.unk}  # never decoded
        if attention != "none":
            assert torch.allclose(beam_weights, weights[b, : len(row), : len(text)], atol=1e-6)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_weights_sum_to_one_and_ignore_pad(attention):
    torch.manual_seed(0)
    vocab = PairVocab("+0123456789")
    model = Seq2SeqNet(len(vocab), len(vocab), small(attention=attention, bidirectional=True)).eval()
    y = pad_batch([vocab.encode("17"), vocab.encode("307")], eos=True)
    with torch.no_grad():
        state, memory = encode(model, vocab, ["12+5", "7+300"])
        y_in = torch.cat([torch.full_like(y[:, :1], PairVocab.sos), y[:, :-1]], dim=1)
        logits, weights = model.decoder(y_in, state, memory)  # weights (B, T, S)
        assert torch.allclose(weights.sum(-1), torch.ones(2, y.shape[1]))
        assert (weights[0, :, 4:] == 0).all() and (weights[0, :, :4] > 0).all()  # "12+5" is padded to 5
        # the padded row decodes exactly as it does alone: <pad> changes neither encoder nor attention
        state1, memory1 = encode(model, vocab, ["12+5"])
        logits1, weights1 = model.decoder(y_in[:1], state1, memory1)
    assert torch.allclose(logits1, logits[:1], atol=1e-5)
    assert torch.allclose(weights1, weights[:1, :, :4], atol=1e-6)


def test_teacher_forcing_zero_feeds_own_predictions():
    torch.manual_seed(0)
    vocab = PairVocab("+0123456789")
    model = Seq2SeqNet(len(vocab), len(vocab), small()).train()
    state, memory = encode(model, vocab, ["12+5", "7+300"])
    y_in = torch.tensor([[1, 5, 6, 7], [1, 8, 9, 10]])
    other = torch.tensor([[1, 9, 4, 4], [1, 4, 4, 4]])
    model.decoder.teacher_forcing = 1.0
    assert not torch.allclose(model.decoder(y_in, state, memory)[0], model.decoder(other, state, memory)[0])
    model.decoder.teacher_forcing = 0.0
    assert torch.equal(model.decoder(y_in, state, memory)[0], model.decoder(other, state, memory)[0])


def test_teacher_forcing_schedule_is_linear_then_constant():
    cfg = small(teacher_forcing=1.0, teacher_forcing_end=0.5, teacher_forcing_epochs=4)
    assert [cfg.teacher_forcing_at(e) for e in (0, 2, 4, 9)] == [1.0, 0.75, 0.5, 0.5]
    assert small(teacher_forcing=0.8).teacher_forcing_at(7) == 0.8


def test_config_errors_name_the_argument():
    with pytest.raises(ValueError, match="attention"):
        small(attention="dot")
    with pytest.raises(ValueError, match="teacher_forcing"):
        small(teacher_forcing=1.5)


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A tiny model trained on 8 addition pairs until it reproduces them (a few seconds)."""
    pairs = "\n".join(f"{a}+{b}\t{a + b}" for a, b in [(1, 2), (12, 30), (5, 5), (99, 1), (7, 80),
                                                       (40, 4), (3, 333), (61, 535)])
    data = tmp_path_factory.mktemp("data") / "pairs.tsv"
    data.write_text((pairs + "\n") * 25)  # 200 lines: 10 updates per epoch, fewer epoch-end saves
    torch.manual_seed(0)
    task = Seq2SeqTask(small(data=str(data), val_frac=0.0, test_frac=0.0, hidden_size=32, embed_size=16,
                             batch_size=20))
    run = tmp_path_factory.mktemp("run")
    Trainer(task, TrainConfig(run_dir=str(run), max_epochs=12, lr=0.02, threads=1, log_every=1000,
                              ckpt_every=0)).fit()
    return task, run


def test_tiny_model_overfits_a_handful_of_pairs_to_exact_match(overfit):
    task, _ = overfit
    translator = Seq2Seq(task.cfg)
    translator.adopt(task)
    assert translator.exact_match(task.splits["train"]) == 1.0


def test_translate_reloads_from_checkpoint_and_beam_agrees(overfit, tmp_path):
    task, run = overfit
    translator = Seq2Seq.load(run)
    assert translator.translate("61+535") == "596"
    assert translator.translate(["61+535"], beam=4) == ["596"]
    out, weights = translator.translate_with_attention("12+30")
    assert out == "42" and weights.shape == (3, 5)  # "4", "2", <eos> over 5 source chars
    png = plot_attention("12+30", out, weights, tmp_path / "attn.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_translate_rejects_characters_outside_the_vocabulary(overfit):
    translator = Seq2Seq(overfit[0].cfg)
    translator.adopt(overfit[0])
    with pytest.raises(ValueError, match="'x' is not in the vocabulary"):
        translator.translate("12x3")
    assert isinstance(translator.translate("12x3", unknown="unk"), str)
