"""Training-step and inference speed of rnnkit's fast engine against torch, in one process.

    python benchmarks/speed.py            # full grid, B in {1, 32, 128}, H in {256, 512} (~10 min, 2 cores)
    python benchmarks/speed.py --quick    # B in {1, 32}, H = 256, fewer repeats (~1-2 min)
    python benchmarks/speed.py --device cuda   # on a GPU: rnnkit against cuDNN (section speed-cuda)

For each shape (T = 100, I = 128, float32) every model runs on the same input; a training step is
forward + backward of output.sum() (the input requires grad, as for a layer inside a network),
inference is the forward under torch.no_grad(). Models are timed interleaved, round after round,
and the median over rounds is reported, so slow phases of a shared machine hit every model alike.
Ratios are to torch's model of the same family (LSTM variants and the Python loops to nn.LSTM,
GRU to nn.GRU, RNN to nn.RNN). "GEMM %" is the model's training FLOP rate (3 x 2·T·N·(I+H)·G: the
forward GEMMs, then the data and weight gradients) as a fraction of a sequence-batched fp32 GEMM
(T·N x H) @ (H x 4H) measured in the same run. "saved" is the memory of the tensors autograd saves
for backward (saved_tensors_hooks, each storage counted once), in bytes per token per hidden unit
would be shape-free, here in MB.

On CUDA (``--device cuda``) the same models run on the GPU, torch's through cuDNN; rnnkit's standard
cells dispatch to cuDNN too (rnnkit.engine.torch_kernel), its variants run the fast scan as per-step
ops. Each timed call is bracketed by torch.cuda.synchronize(). Without a CUDA device it prints one
``error:`` line and exits 2.

The tables go into BENCHMARKS.md between the speed markers (CUDA: speed-cuda); other sections are
kept. Not a test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from report import environment, stamp, write_section  # benchmarks/ is on sys.path when a script runs
from torch import nn

import rnnkit
from rnnkit.engine import compiled

ROOT = Path(__file__).resolve().parent.parent

T, I = 100, 128


# ---- models ----------------------------------------------------------------------------------
class LSTMCellLoop(nn.Module):
    """What users write: nn.LSTMCell stepped in Python, under autograd."""

    def __init__(self, I, H):
        super().__init__()
        self.cell = nn.LSTMCell(I, H)

    def forward(self, x):
        N, H = x.shape[1], self.cell.hidden_size
        h = c = x.new_zeros(N, H)
        out = []
        for x_t in x:
            h, c = self.cell(x_t, (h, c))
            out.append(h)
        return torch.stack(out), (h, c)


class PeepholeLoop(nn.Module):
    """A hand-written peephole LSTM loop under autograd (the common way to get a variant)."""

    def __init__(self, I, H):
        super().__init__()
        k = H**-0.5
        self.W = nn.Parameter(torch.empty(4 * H, I).uniform_(-k, k))
        self.U = nn.Parameter(torch.empty(4 * H, H).uniform_(-k, k))
        self.b = nn.Parameter(torch.zeros(4 * H))
        self.p = nn.Parameter(torch.empty(3, H).uniform_(-k, k))

    def forward(self, x):
        N, H = x.shape[1], self.U.shape[1]
        h = c = x.new_zeros(N, H)
        xp = x @ self.W.T + self.b
        out = []
        for t in range(x.shape[0]):
            i, f, g, o = (xp[t] + h @ self.U.T).chunk(4, dim=-1)
            i, f = torch.sigmoid(i + self.p[0] * c), torch.sigmoid(f + self.p[1] * c)
            c = f * c + i * torch.tanh(g)
            h = torch.sigmoid(o + self.p[2] * c) * torch.tanh(c)
            out.append(h)
        return torch.stack(out), (h, c)


def models(H, quick, device="cpu"):
    """(name, family, module on ``device``, gate width G)."""
    rk = [
        ("rnnkit LSTM", "lstm", rnnkit.LSTM(I, H), 4),
        ("rnnkit LSTM peephole", "lstm", rnnkit.LSTM(I, H, peephole=True), 4),
        ("rnnkit LSTM cifg", "lstm", rnnkit.LSTM(I, H, cifg=True), 3),
        ("rnnkit LSTM layer_norm", "lstm", rnnkit.LSTM(I, H, layer_norm=True), 4),
        ("rnnkit LSTM softsign", "lstm", rnnkit.LSTM(I, H, activation="softsign"), 4),
        ("rnnkit GRU", "gru", rnnkit.GRU(I, H), 3),
        ("rnnkit GRU reset_before", "gru", rnnkit.GRU(I, H, reset_after=False), 3),
    ]
    rk += [
        (f"rnnkit RNN {a}", "rnn", rnnkit.RNN(I, H, nonlinearity=a), 1) for a in ("tanh", "relu", "sigmoid", "softsign")
    ]
    # regularisation inside the recurrence (issue 13: its cost against the same cell without it)
    rk += [
        ("rnnkit LSTM + recurrent dropout 0.25", "lstm", rnnkit.LSTM(I, H, recurrent_dropout=0.25), 4),
        ("rnnkit LSTM + zoneout 0.1", "lstm", rnnkit.LSTM(I, H, zoneout=0.1), 4),
        ("rnnkit GRU + recurrent dropout 0.25", "gru", rnnkit.GRU(I, H, recurrent_dropout=0.25), 3),
    ]
    torch_models = [
        ("torch nn.LSTM", "lstm", nn.LSTM(I, H), 4),
        ("torch nn.GRU", "gru", nn.GRU(I, H), 3),
        ("torch nn.RNN", "rnn", nn.RNN(I, H), 1),
        ("torch LSTMCell loop", "lstm", LSTMCellLoop(I, H), 4),
        ("torch peephole loop", "lstm", PeepholeLoop(I, H), 4),
    ]
    return [(name, family, m.to(device), g) for name, family, m, g in torch_models + rk]


BASELINE = {"lstm": "torch nn.LSTM", "gru": "torch nn.GRU", "rnn": "torch nn.RNN"}


# ---- measurement -------------------------------------------------------------------------------
def saved_bytes(module, x) -> int:
    storages: dict[int, int] = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = max(storages.get(s.data_ptr(), 0), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = module(x)[0]
    del out
    return sum(storages.values())


def gemm_rate(N, H, repeats, device="cpu") -> float:
    """FLOP/s of a sequence-batched fp32 GEMM (T·N x H) @ (H x 4H), median of ``repeats``."""
    a, b = torch.randn(T * N, H, device=device), torch.randn(H, 4 * H, device=device)
    out = torch.empty(T * N, 4 * H, device=device)
    torch.mm(a, b, out=out)
    times = [timed(lambda: torch.mm(a, b, out=out)) for _ in range(max(repeats, 5))]
    return 2 * T * N * H * 4 * H / statistics.median(times)


CLOCK = time.perf_counter
SYNC = None  # torch.cuda.synchronize on CUDA: kernels are asynchronous


def timed(f) -> float:
    """Seconds that ``f()`` takes, on CLOCK, the device's queue drained before and after."""
    if SYNC:
        SYNC()
    t0 = CLOCK()
    f()
    if SYNC:
        SYNC()
    return CLOCK() - t0


def bench_shape(N, H, repeats, quick, device="cpu"):
    torch.manual_seed(0)
    x = torch.randn(T, N, I, device=device, requires_grad=True)
    ms = models(H, quick, device)
    steps = {}
    for name, _, m, _ in ms:
        def train(m=m):
            m.zero_grad(set_to_none=True)
            x.grad = None
            m(x)[0].sum().backward()

        def infer(m=m):
            with torch.no_grad():
                m(x)

        steps[name] = (train, infer)
    for train, infer in steps.values():  # warm-up (builds the extension, fills caches)
        train()
        infer()
    times = {name: ([], []) for name in steps}
    for _ in range(repeats):
        for name, (train, infer) in steps.items():
            for k, f in enumerate((train, infer)):
                times[name][k].append(timed(f))
    rate = gemm_rate(N, H, repeats, device)
    rows = []
    for name, family, m, g in ms:
        tr, inf = (statistics.median(v) for v in times[name])
        flops = 3 * 2 * T * N * (I + H) * g * H
        rows.append(dict(name=name, family=family, train=tr, infer=inf, flops=flops,
                         saved=saved_bytes(m, x)))  # fmt: skip
    base = {r["name"]: r for r in rows}
    for r in rows:
        b = base[BASELINE[r["family"]]]
        r["ratio"], r["iratio"] = r["train"] / b["train"], r["infer"] / b["infer"]
        r["saved_ratio"] = r["saved"] / b["saved"]
        r["gemm"] = r["flops"] / r["train"] / rate
    return rows, rate


# ---- report ------------------------------------------------------------------------------------
def hardware(device: str = "cpu") -> str:
    if device == "cuda":
        return (f"{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
                f"torch {torch.__version__}")  # fmt: skip
    return f"{environment()}, {compiled.status()}"


NOT_ON_GPU = (
    "\nThe CUDA path (cuDNN for the cells torch has, the fast scan on the GPU for the others) was not "
    "measured: this machine has no GPU. `python benchmarks/speed.py --device cuda` measures it on one.\n"
)


def table(results) -> str:
    lines = []
    for (N, H), (rows, rate) in results.items():
        lines += [
            f"\n#### B={N}, H={H} (T={T}, I={I}; fp32 GEMM rate {rate / 1e9:.0f} GFLOP/s)\n",
            "| model | train ms | × torch | tokens/s | GEMM % | infer ms | × torch | saved MB | × torch |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {r['name']} | {r['train'] * 1e3:.2f} | {r['ratio']:.2f} | {T * N / r['train']:,.0f} | "
                f"{100 * r['gemm']:.0f} | {r['infer'] * 1e3:.2f} | {r['iratio']:.2f} | {r['saved'] / 1e6:.1f} | "
                f"{r['saved_ratio']:.2f} |"
            )  # fmt: skip
        base = {r["name"]: r["train"] for r in rows}
        costs = [
            f"{r['name'][7:]} {r['train'] / base[r['name'].split(' + ')[0]]:.2f}×" for r in rows if " + " in r["name"]
        ]
        if costs:  # goal ≤ 1.15× the same cell without it
            lines += ["", "Cost of regularisation inside the recurrence, training step against the same cell "
                      "without it (goal ≤ 1.15×): " + "; ".join(costs) + "."]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="B in {1, 32}, H = 256, 3 rounds (~1-2 min)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                    help="thread counts to measure, each in its own table (default: 1 and all cores)")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per shape (default 5, quick 3)")
    ap.add_argument("--batch", type=int, nargs="*", default=None)
    ap.add_argument("--hidden", type=int, nargs="*", default=None)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: this thread's CPU time (needs --threads 1; robust on a busy machine)")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cuda: on the GPU against cuDNN (section speed-cuda), host threads the first --threads")
    ap.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    return ap


def main(argv: list[str]) -> None:
    ap = build_parser()
    args = ap.parse_args(argv)
    started = time.time()
    global CLOCK, SYNC
    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("error: --device cuda needs a CUDA device, and torch sees none on this machine", file=sys.stderr)
            sys.exit(2)
        if args.clock == "cpu":
            ap.error("--clock cpu times the host thread, not the GPU: use the wall clock with --device cuda")
        SYNC, args.threads = torch.cuda.synchronize, args.threads[:1]
    if args.clock == "cpu":
        if args.threads != [1]:
            ap.error("--clock cpu measures one thread: use it with --threads 1")
        CLOCK = time.thread_time
    batches = args.batch or ([1, 32] if args.quick else [1, 32, 128])
    hiddens = args.hidden or ([256] if args.quick else [256, 512])
    repeats = args.repeats or (3 if args.quick else 5)
    cuda = args.device == "cuda"
    t_build = time.perf_counter()
    if not cuda:  # the compiled loops are CPU-only
        compiled.load()
    t_build = time.perf_counter() - t_build
    title = "on CUDA against cuDNN" if cuda else "against torch"
    parts = [f"## Speed: training and inference steps {title} (benchmarks/speed.py{' --device cuda' if cuda else ''})"]
    for threads in args.threads:  # 1 thread and all cores, each against torch at the same thread count
        torch.set_num_threads(threads)
        t0, results = time.perf_counter(), {}
        for H in hiddens:
            for N in batches:
                results[(N, H)] = bench_shape(N, H, repeats, args.quick, args.device)
                print(table({(N, H): results[(N, H)]}), flush=True)
        heading = "GPU" if cuda else f"{threads} thread{'s' if threads > 1 else ''}"
        parts.append(
            f"\n### {heading}\n\n"
            f"Measured {datetime.date.today()} on {hardware(args.device)}; "
            f"{'' if cuda else f'extension load {t_build:.2f} s; '}"
            f"{repeats} interleaved rounds, medians, {args.clock} clock; took {time.perf_counter() - t0:.0f} s"
            f"{' (--quick)' if args.quick else ''}. Timings on a shared machine vary ±25%: compare ratios, "
            "which are measured in the same rounds.\n" + table(results))
    if not cuda and not torch.cuda.is_available():
        parts.append(NOT_ON_GPU)
    md = "\n".join(parts)
    if not args.no_write:
        write_section("speed-cuda" if cuda else "speed", md + "\n" + stamp(started, argv, "speed.py"), args.output)
        print(f"\nwrote {args.output}")
    else:
        print(md)


if __name__ == "__main__":
    main(sys.argv[1:])
