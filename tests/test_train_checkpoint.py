"""Checkpoints: safetensors + JSON round trips, refusals, and exact resume after a real SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.data.text import load_tinyshakespeare
from rnnkit.tasks.lm import CharLM, LMConfig
from rnnkit.train import checkpoint


def model_and_adam():
    torch.manual_seed(0)
    model = CharLM(10, LMConfig(embed_size=8, hidden_size=8, num_layers=1, tie_weights=True))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randint(0, 10, (2, 5)), torch.randint(0, 10, (2, 5)))[1].backward()
    opt.step()
    return model, opt


def test_round_trip_restores_weights_optimizer_and_carried_state(tmp_path):
    model, opt = model_and_adam()
    carry = (torch.randn(1, 2, 8), torch.randn(1, 2, 8))
    path = checkpoint.save(tmp_path, ("last", "best"), model, opt, carry, {"step": 7, "note": "x"})
    assert os.readlink(tmp_path / "last") == os.readlink(tmp_path / "best") == path.name
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "optim.safetensors", "state.json"]
    fresh, fresh_opt = model_and_adam()
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    fresh_opt.state.clear()
    state, fresh_carry = checkpoint.load(tmp_path / "last", fresh, fresh_opt)
    assert state["step"] == 7 and state["note"] == "x"
    assert fresh.head.weight is fresh.embed.weight  # tying survives loading
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(fresh_carry, carry)) and isinstance(fresh_carry, tuple)
    for p, q in zip(opt.param_groups[0]["params"], fresh_opt.param_groups[0]["params"]):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], fresh_opt.state[q][key])


def test_new_checkpoint_replaces_the_old_one(tmp_path):
    model, opt = model_and_adam()
    first = checkpoint.save(tmp_path, ("last", "best"), model, opt, None, {"step": 1})
    second = checkpoint.save(tmp_path, ("last",), model, opt, None, {"step": 2})
    assert first.exists()  # still `best`
    third = checkpoint.save(tmp_path, ("last", "best"), model, opt, None, {"step": 3})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last", "best", third.name])
    assert not first.exists() and not second.exists()


def test_refuses_to_save_nan_weights(tmp_path):
    model, opt = model_and_adam()
    with torch.no_grad():
        model.head.bias[0] = float("nan")
    with pytest.raises(checkpoint.CheckpointError, match="NaN/Inf"):
        checkpoint.save(tmp_path, ("last",), model, opt, None, {"step": 1})
    assert list(tmp_path.iterdir()) == []


def test_refuses_pickle_files_and_foreign_directories(tmp_path):
    model, _ = model_and_adam()
    (tmp_path / "model.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(checkpoint.CheckpointError, match="pickle files such as .pt/.pth/.bin are never loaded"):
        checkpoint.load(tmp_path / "model.pt", model)
    with pytest.raises(checkpoint.CheckpointError, match="missing model.safetensors, optim.safetensors, state.json"):
        checkpoint.load(tmp_path, model)
    for name in checkpoint.FILES:
        (tmp_path / name).write_text("{}")
    with pytest.raises(checkpoint.CheckpointError, match="not an rnnkit checkpoint state"):
        checkpoint.load(tmp_path, model)


def _lm_command(text, run_dir, *extra):
    return [sys.executable, "-m", "rnnkit", "lm", "train", "--text", str(text), "--run-dir", str(run_dir),
            "--embed-size", "8", "--hidden-size", "32", "--num-layers", "1", "--batch-size", "4",
            "--seq-len", "16", "--eval-batch-size", "4", "--dropout-output", "0.2", "--max-epochs", "2",
            "--ckpt-every", "10", "--eval-every", "150", "--threads", "1", "--log-every", "1000", *extra]


def _last_step(run_dir):
    try:
        return json.loads((run_dir / "last" / "state.json").read_text())["step"]
    except (OSError, ValueError):
        return -1


def test_sigkill_mid_epoch_then_resume_is_bit_exact(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(load_tinyshakespeare()[:30_000])  # 422 updates per epoch, 844 in all
    straight = subprocess.run(_lm_command(text, tmp_path / "a"), capture_output=True, text=True, timeout=300)
    assert straight.returncode == 0, straight.stderr

    killed = subprocess.Popen(_lm_command(text, tmp_path / "b"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while _last_step(tmp_path / "b") < 100 and time.time() < deadline and killed.poll() is None:
        time.sleep(0.01)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = _last_step(tmp_path / "b")
    assert 100 <= killed_at < 422  # a checkpoint in the middle of the first epoch

    resume = [sys.executable, "-m", "rnnkit", "lm", "train", "--resume", str(tmp_path / "b")]  # saved settings
    resumed = subprocess.run(resume, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    final_a = load_file(str(tmp_path / "a" / "last" / "model.safetensors"))
    final_b = load_file(str(tmp_path / "b" / "last" / "model.safetensors"))
    assert final_a.keys() == final_b.keys()
    assert all(torch.equal(final_a[k], final_b[k]) for k in final_a)
    loss_line = [line for line in straight.stdout.splitlines() if line.startswith("val loss")]
    assert loss_line and loss_line[0].split()[2] == [
        line for line in resumed.stdout.splitlines() if line.startswith("val loss")][0].split()[2]
