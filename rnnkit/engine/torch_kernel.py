"""Torch's own fused recurrent kernels (cuDNN on CUDA), for the cells torch has.

``torch.nn.RNNBase.forward`` runs a whole stack (every layer and direction, dropout between
layers) in one call of ``torch._VF.lstm / gru / rnn_tanh / rnn_relu``. ``run_stack`` makes that
same call with an rnnkit layer's parameters, which have torch's names, shapes and gate order
(LSTM i, f, g, o; GRU r, z, n, the reset-after form n = tanh(W_n x + b_in + r ∘ (U_n h + b_hn)),
which is cuDNN's), and its state layout (L·D, N, H), index layer·D + direction. On CUDA torch
picks cuDNN (or its own CUDA kernels where cuDNN can't take the dtype); on the CPU, its ATen or
oneDNN kernels: the same op on every device, so the CPU tests check what a GPU runs.

Which layers it can run (``unsupported``): the standard cells only (RNN tanh/relu, LSTM without
peephole, CIFG, layer norm or softsign, GRU reset_after), without recurrent dropout or zoneout
(cuDNN has neither). Lengths go in as a packed sequence; dropout between layers is the kernel's.
Which layers it does run (``chosen``): engine="torch" always; the default engine="fast" on CUDA
whenever it can. The dtype does not enter: torch's kernels take every floating dtype.

The weights stay the layer's own separate tensors: they are not moved into one cuDNN buffer as
nn.RNNBase.flatten_parameters does (safetensors refuses to save such views, and checkpoints are
safetensors), so cuDNN packs them at each call, a copy of the weights that is small next to the
activations of T steps, and its warning about it is silenced here.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import _VF
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.base import Cell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell

KERNELS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}
UNPACKED = "RNN module weights are not part of single contiguous chunk of memory"  # cuDNN's warning, see run_stack


def missing_from_torch(cell: Cell) -> str | None:
    """The cell's option that torch.nn's RNN, LSTM and GRU lack, e.g. "peephole=True" (None: torch has the cell)."""
    if isinstance(cell, LSTMCell):
        for option, value, plain in (
            ("peephole", cell.peephole, False),
            ("cifg", cell.cifg, False),
            ("layer_norm", cell.layer_norm, False),
            ("activation", cell.activation, "tanh"),
        ):
            if value != plain:
                return f"{option}={value!r}"
        return None
    if isinstance(cell, GRUCell):
        return None if cell.reset_after else "reset_after=False"
    if isinstance(cell, RNNCell):
        return None if cell.nonlinearity in ("tanh", "relu") else f"nonlinearity={cell.nonlinearity!r}"
    return type(cell).__name__


def unsupported(cell: Cell, recurrent_dropout: float, zoneout: float) -> str | None:
    """What keeps torch's kernels from running this layer, as an option (None: nothing)."""
    if recurrent_dropout:
        return f"recurrent_dropout={recurrent_dropout}"
    if zoneout:
        return f"zoneout={zoneout}"
    return missing_from_torch(cell)


def chosen(engine: str, cell: Cell, device: torch.device, recurrent_dropout: float, zoneout: float) -> bool:
    """Whether a layer runs torch's kernel: engine "torch", or the default "fast" on CUDA where it can."""
    if engine == "torch":
        return True
    return engine == "fast" and device.type == "cuda" and unsupported(cell, recurrent_dropout, zoneout) is None


def mode(cell: Cell) -> str:
    """torch's name for the cell's kernel: LSTM, GRU, RNN_TANH or RNN_RELU (for a cell ``unsupported`` admits)."""
    if isinstance(cell, LSTMCell):
        return "LSTM"
    if isinstance(cell, GRUCell):
        return "GRU"
    return "RNN_RELU" if getattr(cell, "nonlinearity", None) == "relu" else "RNN_TANH"


def kernel_name(weight: torch.Tensor) -> str:
    """Which of torch's kernels runs on this weight's device and dtype, in words."""
    if weight.device.type != "cuda":
        return f"torch's {weight.device.type} kernel"
    if torch.backends.cudnn.is_acceptable(weight):
        return f"cuDNN {torch.backends.cudnn.version()}"
    why = "disabled" if not torch.backends.cudnn.enabled else f"not available for {weight.dtype}"
    return f"torch's CUDA kernel (cuDNN {why})"


def run_stack(cell: Cell, x, hx: tuple[torch.Tensor, ...], weights: list[torch.Tensor], bias: bool, lengths,
              num_layers: int, dropout: float, training: bool, bidirectional: bool):  # fmt: skip
    """The whole stack over x (T, N, I) from hx (one (L·D, N, H) tensor per state) in one kernel call.

    ``weights``: per layer-direction w_ih, w_hh, and with ``bias`` b_ih, b_hh (nn.RNNBase's flat
    order). ``lengths``: None or a CPU integer tensor (N,) in 0..T. Returns (output (T, N, D·H),
    final state tuple) with rnnkit's contract: zero output past each length, state at each
    sequence's end (h_0 for length 0).
    On CUDA in evaluation mode with gradients wanted (e.g. diagnostics), cuDNN, whose backward needs
    a training-mode forward, is switched off for the call: torch's own CUDA kernels run instead.
    """
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *hx, *weights))
    cudnn_off = x.is_cuda and needs_grad and not training  # cuDNN's backward needs a training-mode forward
    with contextlib.ExitStack() as context:
        if x.is_cuda:
            context.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", UNPACKED, UserWarning)  # by design: see the module docstring
        if cudnn_off:
            context.enter_context(torch.backends.cudnn.flags(enabled=False))
        return _run(KERNELS[mode(cell)], x, hx, weights, bias, lengths, (num_layers, dropout, training, bidirectional))


def _run(kernel, x, hx: tuple[torch.Tensor, ...], weights: list[torch.Tensor], bias: bool, lengths, options: tuple):
    """run_stack's call; ``options``: num_layers, dropout, training, bidirectional, in the kernel's order."""
    state = hx if len(hx) == 2 else hx[0]
    if lengths is None or bool((lengths == x.shape[0]).all()):  # every sequence full: no packing
        output, *final = kernel(x, state, weights, bias, *options, False)  # batch_first=False
        return output, tuple(final)
    T = x.shape[0]
    packed = pack_padded_sequence(x, lengths.clamp(min=1).to(torch.int64), enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices
    assert order is not None and unorder is not None  # enforce_sorted=False always sorts
    sorted_hx = tuple(s.index_select(1, order) for s in hx)
    state = sorted_hx if len(hx) == 2 else sorted_hx[0]
    output, *final = kernel(packed.data, packed.batch_sizes, state, weights, bias, *options)
    output, _ = pad_packed_sequence(PackedSequence(output, packed.batch_sizes, order, unorder), total_length=T)
    final = tuple(s.index_select(1, unorder) for s in final)
    if (lengths == 0).any():  # packing needs one step: run those on one, then give back zeros and h_0
        empty = (lengths == 0).to(x.device)[None, :, None]
        output = output.masked_fill(empty, 0.0)
        final = tuple(torch.where(empty, s0, s) for s0, s in zip(hx, final))
    return output, final
