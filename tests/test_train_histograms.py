"""Tests of rnnkit.train.histograms: gate and gradient histograms of a run with --tensorboard."""

import pytest
import torch

pytest.importorskip("tensorboard", reason="tensorboard is optional: pip install 'rnnkit[tensorboard]'")


def test_tensorboard_run_logs_gate_and_gradient_histograms(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rnnkit.tasks.lm import LanguageModelTask, LMConfig
    from rnnkit.train import TrainConfig, Trainer

    text = tmp_path / "text.txt"
    text.write_text("to be, or not to be: that is the question.\n" * 20)
    torch.manual_seed(0)
    task = LanguageModelTask(LMConfig(data=str(text), cell="gru", embed_size=8, hidden_size=8, num_layers=2,
                                      batch_size=2, seq_len=16, eval_batch_size=2))
    Trainer(task, TrainConfig(run_dir=str(tmp_path / "run"), max_steps=6, max_epochs=0, log_every=3, threads=1,
                              tensorboard=True)).fit()
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), size_guidance={"histograms": 0}).Reload()
    tags = events.Tags()
    for layer in (0, 1):
        for gate in "rz":
            hist = events.Histograms(f"gates/rnn.{layer}/{gate}")
            assert [h.step for h in hist] == [3, 6]
            assert 0 < hist[-1].histogram_value.min <= hist[-1].histogram_value.max < 1
            assert hist[-1].histogram_value.num == 16 * 2 * 8  # T · rows · H activations
    assert "grad/rnn.weight_hh_l1" in tags["histograms"]
    norms = events.Scalars("grad_norm/rnn.weight_hh_l0")
    assert [s.step for s in norms] == [3, 6] and all(s.value > 0 for s in norms)
    assert "train/loss" in tags["scalars"]
