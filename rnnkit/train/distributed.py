"""Data-parallel training on torch.distributed (gloo on CPU, nccl on CUDA).

Every process holds the whole model and a 1/world share of each global batch; after each
backward the gradients are averaged over processes, so every process takes the same step.

One machine:   rnnkit lm train --nproc 2 ...    (starts torchrun for you)
Several:       torchrun --nnodes 2 --node-rank R --nproc-per-node P \\
                   --rdzv-backend c10d --rdzv-endpoint HOST:29500 -m rnnkit lm train ...
The processes find each other through the environment that torchrun sets (RANK, WORLD_SIZE,
MASTER_ADDR, MASTER_PORT); without it the run is a single process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import torch
import torch.distributed as dist
from torch import nn


def setup(device: str) -> tuple[int, int]:
    """(rank, world): joins the process group when started by torchrun, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), world


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def broadcast_parameters(model: nn.Module) -> None:
    """Copies rank 0's parameters and buffers to every process."""
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(params: list[nn.Parameter], world: int) -> None:
    """Replaces every gradient by its mean over processes (one flat all-reduce)."""
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def mean(value: float, world: int) -> float:
    """The mean of a Python number over processes (itself when world is 1)."""
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return t.item() / world


def gather_rng(world: int) -> list[torch.Tensor]:
    """Every process's torch CPU RNG state (uint8 tensors), in rank order."""
    state = torch.get_rng_state()
    if world == 1:
        return [state]
    states = [torch.empty_like(state) for _ in range(world)]
    dist.all_gather(states, state)
    return states


def launch(nproc: int, argv: list[str]) -> int:
    """Runs `python -m rnnkit ARGV` in `nproc` processes on this machine via torchrun; its exit code."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "rnnkit",
        *argv,
    ]
    return subprocess.call(cmd)
