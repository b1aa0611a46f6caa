"""The compiled time loops of the fast engine (C++, rnnkit/engine/csrc/rnnkit_ext.cpp).

``forward_loop`` / ``backward_loop`` here have the contract of rnnkit.engine.fast's Python loops:
same ``states``, same ``saved`` / ``grads`` keys that the cell's ``recurrent_grads`` reads, same
numbers (the tests hold them to 1e-5 in float32, 1e-10 in float64). Only the time loop moves to
C++: the step GEMM goes to the BLAS inside libtorch with the recurrent weight packed once per
loop, and the element-wise math of a step is one pass per batch row. With P threads, each thread
runs the whole loop on its own block of batch rows (rows never interact), so no barrier per step.

Build: JIT with torch.utils.cpp_extension on first use, cached on disk (~40 s cold on 2 cores,
~0.02 s when cached); see ``load``. When the build fails (no compiler, ...), or with
``RNNKIT_COMPILED=0``, the engine keeps its Python loops and warns once, naming the reason.

What the compiled path saves differs from the Python loops in one way: LSTM's act(c) and RNN's
h̃_t are not stored when every state update is 0/1 (no eval-mode zoneout), since they are then
recomputable from the states (a step whose update is 0 gets zero gradient, so the state it
didn't write is never read); with zoneout or eval-mode zoneout they are saved as in Python.
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

import torch

from rnnkit.cells.base import ACTIVATIONS, Cell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.engine.masks import ScanMasks

try:
    import fcntl
except ImportError:  # Windows: build_lock leaves the locking to torch's own lock file
    fcntl = None

CSRC = Path(__file__).parent / "csrc"
SOURCES = [CSRC / "rnnkit_ext.cpp"]

_lock = threading.Lock()
_state: dict = {}  # "ext": module or None, "reason": why not


def _cpu_flags() -> list[str]:
    """-mavx2 -mfma where this CPU has them (the build is per machine: the cache key has the flags)."""
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
    return ["-mavx2", "-mfma"] if {"avx2", "fma"} <= flags else []


def build_flags() -> list[str]:
    return ["-O3", "-fopenmp", "-fno-trapping-math", "-fno-math-errno", *_cpu_flags()]


def cache_dir() -> Path:
    """Where the built extension lives: $RNNKIT_EXT_DIR, else ~/.cache/rnnkit/ext/<python>-<torch>-<tag>,
    the tag a hash of the flags and of each source's path and text (so two checkouts, or two versions
    of the source, never rebuild each other's copy)."""
    root = os.environ.get("RNNKIT_EXT_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnnkit" / "ext"
    key = hashlib.sha1(" ".join(build_flags()).encode())
    for source in SOURCES:
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
                    ext = cpp_load(
                        name="rnnkit_ext", sources=[str(s) for s in SOURCES], extra_cflags=build_flags(),
                        extra_ldflags=["-fopenmp"], build_directory=str(build), verbose=verbose,
                    )  # fmt: skip
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


def _c(t):
    return None if t is None else t.contiguous()


def _act_code(name: str) -> int:
    return ACTIVATIONS.index(name)


def _new_states(xp, state0):
    T = xp.shape[0]
    states = tuple(s.new_empty((T + 1,) + s.shape) for s in state0)
    for buf, s in zip(states, state0):
        buf[0] = s
    return states


# ---- the loops ----------------------------------------------------------------------------------
def forward_loop(cell: Cell, xp, state0, rp, masks: ScanMasks):
    """As rnnkit.engine.fast.forward_loop; returns (states, saved)."""
    ext = load()
    xp = xp.contiguous()
    T, N = xp.shape[0], xp.shape[1]
    H = cell.hidden_size
    states = _new_states(xp, state0)
    ups, binary = _updates(masks, len(state0), xp.dtype)
    h_mask = _c(masks.h_mask)
    saved: dict[str, torch.Tensor] = {}
    if h_mask is not None:
        saved["h_mask"] = masks.h_mask
    if isinstance(cell, LSTMCell):
        r = dict(zip(cell.recurrent_names, (p.contiguous() for p in rp)))
        saved["gates"] = torch.empty_like(xp)
        if not binary:
            saved["act_c"] = xp.new_empty(T, N, H)
        if cell.peephole:
            saved["c_new"] = xp.new_empty(T, N, H)
        if cell.layer_norm:
            saved.update(hh_norm=torch.empty_like(xp), hh_rstd=xp.new_empty(T, N, 1),
                         c_norm=xp.new_empty(T, N, H), c_rstd=xp.new_empty(T, N, 1))  # fmt: skip
        ext.lstm_forward(
            xp, r["weight_hh"], states[0], states[1], saved["gates"], saved.get("act_c"), saved.get("c_new"),
            saved.get("hh_norm"), saved.get("hh_rstd"), saved.get("c_norm"), saved.get("c_rstd"),
            r.get("weight_peephole"), r.get("ln_hh_weight"), r.get("ln_cell_weight"), r.get("ln_cell_bias"),
            ups[0], ups[1], h_mask, cell.cifg, _act_code(cell.activation),
        )  # fmt: skip
    elif isinstance(cell, GRUCell):
        saved.update(gates=torch.empty_like(xp), rec=xp.new_empty(T, N, H))
        b_hn = rp[1].contiguous() if len(rp) > 1 else None
        ext.gru_forward(xp, rp[0].contiguous(), states[0], saved["gates"], saved["rec"], b_hn, ups[0], h_mask,
                        cell.reset_after)  # fmt: skip
    else:
        # h̃_t: with 0/1 updates it is read only where it equals the state, so it lives in the states
        saved["h"] = states[0][1:] if binary else torch.empty_like(xp)
        ext.rnn_forward(xp, rp[0].contiguous(), states[0], saved["h"], ups[0], h_mask, _act_code(cell.nonlinearity))
    return states, saved


def backward_loop(cell: Cell, xp_shape, states, saved, rp, masks: ScanMasks, d_output, d_final):
    """As rnnkit.engine.fast.backward_loop; returns (grads, ∂L/∂state0)."""
    ext = load()
    ref = states[0]
    dtype = ref.dtype
    T, N = xp_shape[0], xp_shape[1]
    H = cell.hidden_size
    ups, _ = _updates(masks, len(states), dtype)
    h_mask = _c(masks.h_mask)
    dout = None if d_output is None else masks.output(d_output).contiguous()
    d_final = tuple(d.contiguous() for d in d_final)
    dxp = ref.new_empty(xp_shape)
    grads = {"dxp": dxp}
    if isinstance(cell, LSTMCell):
        r = dict(zip(cell.recurrent_names, (p.contiguous() for p in rp)))
        if cell.layer_norm:
            grads.update(dhp=torch.empty_like(dxp), dc_read=ref.new_empty(T, N, H))
        dh0, dc0 = ext.lstm_backward(
            dout, d_final[0], d_final[1], r["weight_hh"], states[0], states[1], saved["gates"], saved.get("act_c"),
            saved.get("c_new"), saved.get("hh_norm"), saved.get("hh_rstd"), saved.get("c_norm"),
            saved.get("c_rstd"), r.get("weight_peephole"), r.get("ln_hh_weight"), r.get("ln_cell_weight"),
            r.get("ln_cell_bias"), ups[0], ups[1], h_mask, dxp, grads.get("dhp"), grads.get("dc_read"),
            cell.cifg, _act_code(cell.activation),
        )  # fmt: skip
        return grads, (dh0, dc0)
    if isinstance(cell, GRUCell):
        if cell.reset_after:
            grads["dh_n"] = ref.new_empty(T, N, H)
        dh0 = ext.gru_backward(dout, d_final[0], rp[0].contiguous(), states[0], saved["gates"], saved["rec"], ups[0],
                               h_mask, dxp, grads.get("dh_n"), cell.reset_after)  # fmt: skip
        return grads, (dh0,)
    dh0 = ext.rnn_backward(dout, d_final[0], rp[0].contiguous(), saved["h"], ups[0], h_mask, dxp,
                           _act_code(cell.nonlinearity))  # fmt: skip
    return grads, (dh0,)
