"""The compiled time loops of the fast engine (C++, rnnkit/engine/csrc/: common.h, one file per cell).

``forward_loop`` / ``backward_loop`` here have the contract of rnnkit.engine.fast's Python loops:
same ``states``, same ``saved`` / ``grads`` keys that the cell's ``recurrent_grads`` reads, same
numbers (the tests hold them to 1e-5 in float32, 1e-10 in float64). Only the time loop moves to
C++: the step GEMM goes to the BLAS inside libtorch with the recurrent weight packed once per
loop, and the element-wise math of a step is one pass per batch row. With P threads, each thread
runs the whole loop on its own block of batch rows (rows never interact), so no barrier per step.
Each cell's C++ file declares the buffers its forward saves and its backward fills, and returns
them as dicts; the calls here pass everything by keyword, under the cell's own names (its
``state_names`` and ``recurrent_names``).

Build: JIT with torch.utils.cpp_extension on first use, cached on disk (cold: ~140 s of CPU, the
four .cpp files compiled in parallel; ~0.02 s when cached); see ``load``. When the build fails
(no compiler, ...), or with ``RNNKIT_COMPILED=0``, the engine keeps its Python loops and warns
once, naming the reason.

What the compiled path saves differs from the Python loops in two ways: LSTM's act(c) (and with
layer norm LN(c̃_t)) and RNN's h̃_t are not stored when every state update is 0/1 (no eval-mode
zoneout), since they are then recomputable from the states (a step whose update is 0 gets zero
gradient, so the state it didn't write is never read); with zoneout or eval-mode zoneout they are
saved as in Python. And
the layer-norm LSTM keeps its input W x itself and the mean and 1/σ of each row (``x_proj``,
``ih_mean``, ``ih_rstd``) instead of a (T, N, G) copy of LN(W x), which the backward recomputes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import sys
import threading
import warnings
from pathlib import Path
from types import ModuleType
from typing import cast

import torch

from rnnkit.cells.base import Cell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.engine.masks import ScanMasks

try:
    import fcntl
except ImportError:  # Windows: build_lock leaves the locking to torch's own lock file
    fcntl = None

CSRC = Path(__file__).parent / "csrc"


def sources() -> list[Path]:
    """The translation units that are compiled (csrc/*.cpp; they include csrc/*.h)."""
    return sorted(CSRC.glob("*.cpp"))


def source_files() -> list[Path]:
    """Every file the build reads: the .cpp files and the headers they include."""
    return sources() + sorted(CSRC.glob("*.h"))


_lock = threading.Lock()
_state: dict = {}  # "ext": module or None, "reason": why not
_scratch = threading.local()  # .buffer: this thread's reusable storage (see scratch)


def _cpu_flags() -> list[str]:
    """-mavx2 -mfma, and -mavx512f -mavx512dq, where this CPU has them (the build is per machine: the
    cache key has the flags)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return []
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in info.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if not {"avx2", "fma"} <= flags:
        return []
    # AVX-512 doubles the width of the fused gate loops (the GEMMs are MKL's, which picks its own)
    return ["-mavx2", "-mfma", *(["-mavx512f", "-mavx512dq"] if {"avx512f", "avx512dq"} <= flags else [])]


def build_flags() -> list[str]:
    return ["-O3", "-fopenmp", "-fno-trapping-math", "-fno-math-errno", *_cpu_flags()]


def cache_dir() -> Path:
    """Where the built extension lives: $RNNKIT_EXT_DIR, else ~/.cache/rnnkit/ext/<python>-<torch>-<tag>,
    the tag a hash of the flags and of each source file's path and text, headers included (so two
    checkouts, or two versions of any file, never rebuild each other's copy)."""
    root = (
        os.environ.get("RNNKIT_EXT_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnkit" / "ext"
    )
    key = hashlib.sha1(" ".join(build_flags()).encode())
    for source in source_files():
        key.update(str(source.resolve()).encode() + b"\0" + source.read_bytes())
    tag = key.hexdigest()[:8]
    py = f"py{sys.version_info.major}{sys.version_info.minor}"
    return Path(root) / f"{py}-torch{torch.__version__.replace('+', '_')}-{tag}"


@contextlib.contextmanager
def build_lock(build: Path):
    """Holds an flock on BUILD/.rnnkit.lock (the kernel drops it when its process dies) while the
    extension is built or loaded. Every rnnkit process builds under it, so torch's own lock file
    BUILD/lock found while holding it was left by a build that was killed; it is removed, or torch
    would wait for it forever."""
    if fcntl is None:
        yield
        return
    with open(build / ".rnnkit.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        (build / "lock").unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load(verbose: bool = False):
    """The extension module, building it on first use; None (with a one-time warning) if it can't be built."""
    with _lock:
        if "ext" in _state:
            return _state["ext"]
        ext, reason = None, None
        if os.environ.get("RNNKIT_COMPILED", "1") == "0":
            reason = "RNNKIT_COMPILED=0"
        else:
            try:
                from torch.utils.cpp_extension import load as cpp_load

                build = cache_dir()
                build.mkdir(parents=True, exist_ok=True)
                with build_lock(build):
                    ext = cast(ModuleType, cpp_load(  # a module, as is_python_module defaults to True
                        name="rnnkit_ext", sources=[str(s) for s in sources()], extra_cflags=build_flags(),
                        extra_ldflags=["-fopenmp"], build_directory=str(build), verbose=verbose,
                    ))  # fmt: skip
            except Exception as e:  # no compiler, no ninja, headers missing, ...
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        if ext is None and reason != "RNNKIT_COMPILED=0":
            warnings.warn(
                f"rnnkit: the compiled BPTT loops could not be built ({reason}); the fast engine uses its "
                "Python loops (same results, slower). Set RNNKIT_COMPILED=0 to silence this.",
                RuntimeWarning, stacklevel=3,
            )  # fmt: skip
        _state.update(ext=ext, reason=reason)
        return ext


def status() -> str:
    """One line: whether the compiled loops are in use, and why not."""
    ext = load()
    return "compiled loops: on" if ext is not None else f"compiled loops: off ({_state.get('reason')})"


def supports(cell: Cell, xp: torch.Tensor) -> bool:
    """Whether the compiled loops handle this cell and these tensors (else the Python loops run)."""
    if xp.device.type != "cpu" or xp.dtype not in (torch.float32, torch.float64):
        return False
    if not isinstance(cell, (LSTMCell, GRUCell, RNNCell)):
        return False
    return load() is not None


# ---- helpers ------------------------------------------------------------------------------------
def _updates(masks: ScanMasks, n_state: int, dtype) -> tuple[tuple, bool]:
    """Per-state update fractions in ``dtype`` (None: plain update), and whether a step's new state
    can be read back from the state buffers wherever it gets gradient: every update 0/1 and the
    same for all states (lengths only; zoneout draws differ between h and c)."""
    ups = masks.updates(n_state)
    binary = all(u is None or u.dtype == torch.bool for u in ups) and all(u is ups[0] for u in ups)
    return tuple(None if u is None else u.to(dtype).contiguous() for u in ups), binary


def _loops(cell: Cell):
    """The extension's forward and backward loops for this cell, and its switches as keywords
    (only for a cell and tensors that ``supports`` admits)."""
    ext = load()
    if ext is None:
        raise RuntimeError(status())
    if isinstance(cell, LSTMCell):
        return ext.lstm_forward, ext.lstm_backward, {"cifg": cell.cifg, "activation": cell.activation}
    if isinstance(cell, GRUCell):
        return ext.gru_forward, ext.gru_backward, {"reset_after": cell.reset_after}
    if isinstance(cell, RNNCell):
        return ext.rnn_forward, ext.rnn_backward, {"activation": cell.nonlinearity}
    raise TypeError(f"no compiled loops for {type(cell).__name__}")


def _recurrence(cell: Cell, states, rp, masks: ScanMasks) -> tuple[dict, bool]:
    """Keywords shared by a cell's forward and backward: the state sequences and the recurrent
    parameters under the cell's names, update fractions ``u_<state>``, the recurrent-dropout mask;
    and whether every update is 0/1 (see ``_updates``)."""
    ups, binary = _updates(masks, len(states), states[0].dtype)
    kw = dict(zip(cell.state_names, states))
    kw.update((name, p.contiguous()) for name, p in zip(cell.recurrent_names, rp))
    kw.update((f"u_{name}", u) for name, u in zip(cell.state_names, ups))
    kw["h_mask"] = None if masks.h_mask is None else masks.h_mask.contiguous()
    return kw, binary


def scratch(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised tensor of ``shape``, dtype and device of ``like``, for a buffer that a backward
    loop fills and that is dropped before FastScan.backward returns (the layer-norm LSTM's dhp): a view
    of one storage kept per thread, grown when too small. A fresh (T, N, G) buffer every step costs a
    page fault per 4 KB whenever the allocator has handed the previous one back to the system."""
    numel = shape.numel()
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.numel() < numel or buffer.dtype != like.dtype or buffer.device != like.device:
        buffer = _scratch.buffer = like.new_empty(numel)
    return buffer[:numel].view(shape)


# ---- the loops ----------------------------------------------------------------------------------
def forward_loop(cell: Cell, xp, state0, rp, masks: ScanMasks):
    """As rnnkit.engine.fast.forward_loop; returns (states, saved)."""
    forward, _, switches = _loops(cell)
    xp = xp.contiguous()
    states = tuple(s.new_empty((xp.shape[0] + 1,) + s.shape) for s in state0)
    for buf, s in zip(states, state0):
        buf[0] = s
    kw, binary = _recurrence(cell, states, rp, masks)
    saved = forward(x_proj=xp, **kw, **switches, binary_updates=binary)
    if masks.h_mask is not None:
        saved["h_mask"] = masks.h_mask
    return states, saved


def backward_loop(cell: Cell, states, saved, rp, masks: ScanMasks, d_output, d_final):
    """As rnnkit.engine.fast.backward_loop; returns (grads, ∂L/∂state0)."""
    _, backward, switches = _loops(cell)
    kw, _ = _recurrence(cell, states, rp, masks)
    d_output = None if d_output is None else masks.output(d_output).contiguous()
    finals = {f"d{name}_final": d.contiguous() for name, d in zip(cell.state_names, d_final)}
    if isinstance(cell, LSTMCell) and cell.layer_norm:  # dhp: read by recurrent_grads, then dropped
        kw["dhp"] = scratch(saved["gates"].shape, saved["gates"])
    grads, d_state0 = backward(saved=saved, d_output=d_output, **finals, **kw, **switches)
    return grads, tuple(d_state0)
