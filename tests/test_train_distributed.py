"""Data parallel through torch DDP: N processes (gloo on CPU), each a share of every global batch, train
the weights that 1 process trains on the same global batches; torchrun's restart resumes from `last`."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.data.text import load_tinyshakespeare
from rnnkit.tasks.lm import CharLM, LMConfig

# A music run in float64 (so that the sums of the all-reduce agree with one process to ~1e-12): 7 piano
# rolls of 3 lengths in batches of 3, so that the two ranks' shares hold 2 and 1 sequences (weighed by
# their frames) and the last batch (1 sequence) leaves rank 1 a share of weight 0; TBPTT windows of 4
# scored steps through 6 put an unscored prefix before the DDP forward. RNNKIT_KILL_AT=N: rank 1 of the
# first attempt dies after N updates (a worker lost mid-run).
RUN = """
import os, sys
import torch
from rnnkit.tasks.music import MusicConfig, MusicTask
from rnnkit.train import Trainer, TrainConfig
from rnnkit.train.loop import Trainer as Loop

torch.set_default_dtype(torch.float64)
g = torch.Generator().manual_seed(0)
roll = lambda n: (torch.rand(n, 88, generator=g) < 0.1).double()
rolls = {"train": [roll(n) for n in (9, 9, 9, 12, 12, 12, 15)], "val": [roll(10), roll(8)], "test": [roll(9)]}
kill = int(os.environ.get("RNNKIT_KILL_AT", "0"))
if kill and os.environ.get("RANK") == "1" and os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0":
    update = Loop._update
    def dying(self, *args):
        update(self, *args)
        if self.step == kill:
            os._exit(1)
    Loop._update = dying
torch.manual_seed(0)
cfg = MusicConfig(hidden_size=8, batch_size=3)
task = MusicTask(cfg, rolls)
Trainer(task, TrainConfig(run_dir=sys.argv[1], max_epochs=3, threads=1, lr=0.01, tbptt_forward=4,
                          tbptt_backward=6, ckpt_every=3, log_every=1, patience=0)).fit()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *args]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "last" / "model.safetensors"))


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=atol), (k, (a[k] - b[k]).abs().max())


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    """The float64 music run as a script, and the folder its runs go in."""
    root = tmp_path_factory.mktemp("ddp")
    (root / "run.py").write_text(RUN)
    return root / "run.py", root


def finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err


def test_two_torchrun_agents_on_one_rendezvous_train_what_one_process_trains(script):
    path, root = script
    endpoint = f"localhost:{free_port()}"
    agent = torchrun("--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
                     "--rdzv-id", "two-agents", str(path), str(root / "two"))  # fmt: skip
    alone = [sys.executable, str(path), str(root / "one")]
    # all at once, so that the test waits for the start-ups once
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in (alone, agent, agent)]  # fmt: skip
    for proc in procs:
        finish(proc)
    one, two = weights(root / "one"), weights(root / "two")
    assert_same(one, two, atol=1e-6)
    assert max((one[k] - two[k]).abs().max() for k in one) < 1e-9  # float64: the same steps, not close ones
    steps = [r["step"] for r in rows(root / "two") if r["kind"] == "train"]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > 10  # one row per update, rank 0 only


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_restarted_by_torchrun_and_resumes_from_last(script):
    path, root = script
    run, alone = root / "killed", root / "alone"
    finish(subprocess.Popen([sys.executable, str(path), str(alone)], stderr=subprocess.PIPE, text=True))
    done = subprocess.run(
        torchrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1", str(path), str(run)),
        capture_output=True, text=True, timeout=600, env={**os.environ, "RNNKIT_KILL_AT": "7"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "failed (exitcode: 1) local_rank: 1" in done.stderr  # torchrun saw rank 1 die, and started again
    log = rows(run)
    assert [r for r in log if r["kind"] == "resume"] == [{"kind": "resume", "step": 6, "from": str(run)}]
    assert [r["kind"] for r in log].count("summary") == 1
    assert_same(weights(alone), weights(run), atol=1e-6)  # resumed at step 6 == never interrupted


@pytest.mark.slow
def test_two_processes_match_one_process_through_the_cli(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text(load_tinyshakespeare()[:20_000])  # 282 updates of B=4 rows x T=16
    common = [sys.executable, "-m", "rnnkit", "lm", "train", "--data", str(text), "--embed-size", "8",
              "--hidden-size", "32", "--num-layers", "1", "--batch-size", "4", "--seq-len", "16",
              "--eval-batch-size", "4", "--max-epochs", "1", "--threads", "1", "--optimizer", "sgd",
              "--lr", "0.5", "--log-every", "1000"]  # fmt: skip
    for run, extra in (("one", []), ("two", ["--nproc", "2"])):
        done = subprocess.run([*common, "--run-dir", str(tmp_path / run), *extra], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    torch.manual_seed(1337)  # the CLI's default seed: these are the weights both runs started from
    initial = CharLM(len(set(text.read_text())), LMConfig(embed_size=8, hidden_size=32, num_layers=1)).state_dict()
    assert one.keys() == initial.keys()
    assert_same(one, two, atol=1e-5)  # float32, 282 updates
    assert max((one[k] - initial[k]).abs().max() for k in one) > 0.1  # and training moved them


def test_max_restarts_without_nproc_is_one_error_line(tmp_path):
    result = CliRunner().invoke(app, ["music", "train", "--max-restarts", "1", "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --max-restarts restarts the processes of --nproc N (N >= 2); under torchrun, give it to torchrun"
    ]
    assert not (tmp_path / "run").exists()


def test_bad_input_under_nproc_is_one_error_line_and_its_exit_code(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", "music", "train", "--data", str(tmp_path / "none.json"), "--nproc", "2",
         "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2  # the processes' own code, not torchrun's 1
    assert done.stderr.splitlines() == [  # rank 0's line only: no torchrun log or traceback
        f"error: music data '{tmp_path / 'none.json'}': no such file (bundled sets: jsb, nottingham)"
    ]
    assert not (tmp_path / "run").exists()
