"""Data-parallel training with torch's DistributedDataParallel (gloo on CPU, nccl on CUDA).

Every process holds the whole model and a disjoint share of each global batch (train.task.share); DDP
all-reduces the gradients in buckets while the backward pass runs, so every process takes the same
step as one process on the whole global batch would.

One machine:   rnnkit lm train --nproc 2 ...    (starts torchrun for you)
Several:       torchrun --nnodes 2 --nproc-per-node P --rdzv-backend c10d \\
                   --rdzv-endpoint HOST:29500 -m rnnkit lm train ...
The processes find each other through the environment that torchrun sets (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT); without it the run is a single process. After a worker fails,
torchrun --max-restarts K starts the group again (TORCHELASTIC_RESTART_COUNT > 0): see `restarted`.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.distributed_c10d import PrefixStore
from torch.distributed.rendezvous import rendezvous
from torch.nn.parallel import DistributedDataParallel


def setup(device: str) -> tuple[int, int, str]:
    """(rank, world, device): joins the process group when started by torchrun, else (0, 1, device).
    On CUDA each process takes the GPU of its LOCAL_RANK and DDP's gradients go through nccl; the
    small CPU tensors the trainer exchanges (losses, RNG states) go through gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # torchrun's store outlives a restart: each attempt's keys get their own prefix, or a restarted
        # rank could read the address of a process of the failed attempt and fail to connect to it.
        store, rank, world = next(rendezvous("env://"))
        store = PrefixStore(f"rnnkit/attempt_{attempt()}", store)
        backend = "cpu:gloo,cuda:nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend, store=store, rank=rank, world_size=world)
    return dist.get_rank(), world, device


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def local_world(world: int) -> int:
    """Processes on this machine (torchrun's LOCAL_WORLD_SIZE; `world` outside torchrun)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", world))


def attempt() -> int:
    """How many times torchrun has started this group again after a failure (0: the first start)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def restarted() -> bool:
    """True in a group that torchrun started again after a failure (--max-restarts)."""
    return attempt() > 0


def wrap(model: nn.Module, device: str) -> DistributedDataParallel:
    """`model` under DDP: rank 0's weights copied to every process, then the gradients of each
    backward through its forward averaged over processes (bucketed, overlapped with the backward).
    Every trainable parameter must get a gradient in every update, as in every rnnkit task's model
    (else DDP stops the run with an error naming the parameters), so DDP need not walk the graph."""
    ids = [torch.device(device).index] if device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def gather(values: Sequence[float], world: int) -> torch.Tensor:
    """(world, len(values)) float64: every process's `values`, in rank order."""
    mine = torch.tensor([list(values)], dtype=torch.float64)
    if world == 1:
        return mine
    rows = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(rows, mine)
    return torch.cat(rows)


def agree(value: float | None, world: int) -> float | None:
    """Rank 0's `value` on every process (a metric that every rank must take the same decisions on)."""
    if world == 1:
        return value
    t = torch.tensor([value is not None, math.nan if value is None else value], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return t[1].item() if t[0] else None


def copy_from(model: nn.Module, src: int, world: int) -> None:
    """Sets `model`'s parameters and buffers in every process to those of process `src`."""
    if world == 1:
        return
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=src)


def gather_rng(world: int) -> list[torch.Tensor]:
    """Every process's torch CPU RNG state (uint8 tensors), in rank order."""
    state = torch.get_rng_state()
    if world == 1:
        return [state]
    states = [torch.empty_like(state) for _ in range(world)]
    dist.all_gather(states, state)
    return states


def launch(nproc: int, argv: list[str], max_restarts: int = 0) -> int:
    """Runs `python -m rnnkit ARGV` in `nproc` processes on this machine through torchrun's agent (`agent`,
    in a child process), starting the group again up to `max_restarts` times after a failure; the
    agent's exit code. torchrun's own log is kept to critical messages (LOGLEVEL, unless set)."""
    args = ["--standalone", f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}", "-m", "rnnkit", *argv]
    cmd = [sys.executable, "-c", "from rnnkit.train.distributed import agent; agent()", *args]
    try:
        return subprocess.call(cmd, env={**os.environ, "LOGLEVEL": os.environ.get("LOGLEVEL", "CRITICAL")})
    except KeyboardInterrupt:  # Ctrl-C reached the workers too (they stop); the agent is stopped at once
        return 130


def agent() -> None:
    """torchrun with the arguments of this process, exiting with the code of the first process that
    failed (1 for a signal), after one `error:` line naming it unless it is rank 0 (which printed its
    own; the other ranks meeting the same bad input stay silent and leave a moment later)."""
    import logging

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    logging.getLogger("torch.distributed.elastic").setLevel(os.environ.get("LOGLEVEL", "CRITICAL"))
    try:
        run(parse_args(sys.argv[1:]))
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        if rank != 0 or failure.exitcode <= 0:
            code = f"exit code {failure.exitcode}" if failure.exitcode >= 0 else f"signal {-failure.exitcode}"
            print(f"error: process {rank} failed ({code})", file=sys.stderr)
        sys.exit(failure.exitcode if failure.exitcode > 0 else 1)
    except SignalException as err:  # Ctrl-C (or a kill): the workers were stopped
        sys.exit(128 + err.sigval)
