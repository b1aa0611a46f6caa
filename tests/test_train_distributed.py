"""Data parallel: 2 CPU processes (gloo) with global batch B train the same weights as 1 with B."""

import subprocess
import sys

import torch
from safetensors.torch import load_file

from rnnkit.data.text import load_tinyshakespeare
from rnnkit.tasks.lm import CharLM, LMConfig


def test_two_processes_match_one_process(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(load_tinyshakespeare()[:20_000])  # 282 updates of B=4 rows x T=16
    common = [sys.executable, "-m", "rnnkit", "lm", "train", "--text", str(text), "--embed-size", "8",
              "--hidden-size", "32", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16",
              "--eval-batch-size", "4", "--max-epochs", "1", "--threads", "1", "--optimizer", "sgd",
              "--lr", "0.5", "--log-every", "1000"]
    for run, extra in (("one", []), ("two", ["--nproc", "2"])):
        done = subprocess.run([*common, "--run-dir", str(tmp_path / run), *extra], capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    one = load_file(str(tmp_path / "one" / "last" / "model.safetensors"))
    two = load_file(str(tmp_path / "two" / "last" / "model.safetensors"))
    torch.manual_seed(1337)  # the CLI's default seed: these are the weights both runs started from
    initial = CharLM(len(set(text.read_text())), LMConfig(embed_size=8, hidden_size=32, num_layers=1)).state_dict()
    assert one.keys() == two.keys() == initial.keys()
    for k in one:
        assert torch.allclose(one[k], two[k], rtol=0, atol=1e-5), k
    assert max((one[k] - initial[k]).abs().max() for k in one) > 0.1  # and training moved them
