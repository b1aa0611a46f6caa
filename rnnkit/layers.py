"""Recurrent layers: a cell scanned over time, stacked, in one or two directions, with state.

``rnnkit.RNN``, ``rnnkit.LSTM`` and ``rnnkit.GRU`` keep torch.nn's constructor, parameter names,
gate order and call convention, so they are drop-in replacements:

    output, h_n = rnn(input, h_0)                 # RNN, GRU
    output, (h_n, c_n) = lstm(input, (h_0, c_0))  # LSTM

with, in addition, ``lengths=`` in forward (variable-length batches, no sorting or packing) and
options torch lacks (peepholes, CIFG, layer norm, softsign, GRU's reset-before form, forget-bias,
orthogonal and chrono initialisation, recurrent dropout and zoneout, the choice of BPTT engine).

Engines (``engine_info`` says which runs): ``fast`` scans each layer-direction with a hand-derived
BPTT, its time loop compiled on the CPU; on CUDA the cells torch has (RNN tanh/relu, LSTM without
variants, GRU reset-after), without recurrent dropout or zoneout, go to cuDNN through torch's own
fused op (rnnkit.engine.torch_kernel), and the rest run the fast scan as per-step torch ops on the
GPU. ``torch`` forces torch's op on any device; ``reference`` is autograd over the equations.

Regularisation inside the recurrence, for every cell, in the fast engine (rnnkit.engine.masks):
    recurrent_dropout=p  variational dropout of h_{t−1} in the recurrent products, one mask per
                         sequence (Gal & Ghahramani 2016); off at evaluation
    zoneout=p            each unit of each state keeps its previous value with probability p at
                         each step (Krueger et al. 2016); at evaluation s_t = p s_{t−1} + (1 − p) s̃_t

Shapes (letters as in rnnkit.cells.base; L layers, D = 2 if bidirectional else 1):
    input   (T, N, I), or (N, T, I) with batch_first, or (T, I) unbatched
    h_0/c_0 (L·D, N, H), or (L·D, H) unbatched; zeros when not given
    output  (T, N, D·H): the last layer's h_t for both directions; zero past a sequence's length
    h_n/c_n (L·D, N, H): each layer-direction's state at the end of each sequence
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.cells.base import ACTIVATIONS, Cell, check_choice
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.rnn import RNNCell
from rnnkit.engine import ENGINES, ScanMasks, compiled, torch_kernel
from rnnkit.engine.fast import forward_loop
from rnnkit.init import SCHEMES, chrono_bias, init_parameter


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return value


def check_lengths(lengths, T: int, N: int) -> torch.Tensor:
    """Validate ``lengths`` (list or tensor, any device, any order): N integers in 0..T; returned on the CPU."""
    lengths = torch.as_tensor(lengths, device="cpu")
    if lengths.dim() != 1 or lengths.shape[0] != N:
        raise ValueError(f"lengths must hold one length per sequence ({N}); got shape {tuple(lengths.shape)}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"lengths must be integers; got dtype {lengths.dtype}")
    if (lengths < 0).any() or (lengths > T).any():
        raise ValueError(f"lengths must lie in 0..{T} (the sequence length); got {lengths.tolist()}")
    return lengths


def lengths_mask(lengths, T: int, N: int, device) -> torch.Tensor | None:
    """Validate ``lengths`` (as ``check_lengths``) and return the (T, N, 1) mask t < length on ``device``.

    Returns None when every sequence runs the full T steps.
    """
    lengths = check_lengths(lengths, T, N)
    if (lengths == T).all():
        return None
    return (torch.arange(T)[:, None] < lengths[None, :]).unsqueeze(-1).to(device)


def reverse_in_length(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Reverse each sequence within its own length (steps past the end stay in place); an involution."""
    if mask is None:
        return x.flip(0)
    T = x.shape[0]
    lengths = mask.sum(0)  # (N, 1)
    t = torch.arange(T, device=x.device)[:, None, None]
    index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, N, 1)
    return x.gather(0, index.expand_as(x))


class RecurrentLayer(nn.Module):
    """A stack of scans of one cell, in one or two directions, with dropout between layers: what
    RNN, LSTM and GRU share (forward, step, trace_gates, to_torch)."""

    cell: Cell

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        init: str = "uniform",
        engine: str = "fast",
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
    ):
        super().__init__()
        self.input_size = _positive_int("input_size", input_size)
        self.hidden_size = cell.hidden_size
        self.num_layers = _positive_int("num_layers", num_layers)
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout), ("zoneout", zoneout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
                raise ValueError(f"{name} must be a probability in [0, 1); got {p!r}")
        self.recurrent_dropout, self.zoneout = float(recurrent_dropout), float(zoneout)
        check_choice("engine", engine, (*ENGINES, "torch"))
        check_choice("init", init, SCHEMES)
        if getattr(self, "chrono_init", None) is not None and not bias:
            raise ValueError("chrono_init sets gate biases, so it needs bias=True")
        self.cell, self.bias, self.batch_first = cell, bool(bias), bool(batch_first)
        self.dropout, self.bidirectional, self.init, self.engine = float(dropout), bool(bidirectional), init, engine
        self.num_directions = 2 if bidirectional else 1
        self._param_names: list[dict[str, str]] = []  # per layer-direction: base name -> attribute
        for layer in range(self.num_layers):
            layer_input = input_size if layer == 0 else self.hidden_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                names = {}
                for base, shape in cell.param_shapes(layer_input, self.bias).items():
                    self.register_parameter(base + suffix, nn.Parameter(torch.empty(shape)))
                    names[base] = base + suffix
                self._param_names.append(names)
        self.reset_parameters()
        self._uses_torch_kernel(torch.device("cpu"))  # engine="torch" with an option torch lacks: ValueError now
        if engine == "reference":  # no silent slow paths
            warnings.warn(f"{type(self).__name__}: {self.engine_info()['reason']}", stacklevel=3)

    def reset_parameters(self) -> None:
        """Re-initialise every parameter with the layer's scheme (see rnnkit.init)."""
        for names in self._param_names:
            for base, attr in names.items():
                init_parameter(base, getattr(self, attr), self.hidden_size, self.init)

    def _gate_bias(self, names: dict[str, str], gate: int, value: torch.Tensor | float) -> None:
        """Set the total bias of gate block ``gate`` (bias_ih + bias_hh) to ``value``."""
        if "bias_ih" not in names:
            return
        H = self.hidden_size
        with torch.no_grad():
            getattr(self, names["bias_ih"])[gate * H : (gate + 1) * H] = value
            getattr(self, names["bias_hh"])[gate * H : (gate + 1) * H] = 0.0

    def layer_params(self, index: int) -> dict[str, torch.Tensor]:
        """The parameters of layer-direction ``index`` (= layer · D + direction), by base name."""
        return {base: getattr(self, attr) for base, attr in self._param_names[index].items()}

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None):
        """Run the stacked layers over a batch of sequences, as torch.nn's ``layer(input, hx)``, plus ``lengths``.

        Letters: T time steps, N sequences, I = input_size, H = hidden_size, L = num_layers,
        D = 2 if bidirectional else 1.

        Args:
            input: (T, N, I), or (N, T, I) with batch_first, or (T, I) unbatched; floating point.
            hx: the initial state, zeros if None: h_0 of shape (L·D, N, H) for RNN and GRU, the pair
                (h_0, c_0) for LSTM; (L·D, H) unbatched. Never batch-first, as in torch.
            lengths: each sequence's length, N integers in 0..T in any order (a list or a tensor on
                any device): variable-length batches without sorting or packing. Steps past a
                sequence's end are zero in ``output`` and leave its state unchanged; the backward
                direction of a bidirectional layer starts at each sequence's own last step.

        Returns:
            ``(output, h_n)`` for RNN and GRU, ``(output, (h_n, c_n))`` for LSTM. ``output`` is
                (T, N, D·H), or (N, T, D·H) with batch_first: the last layer's h_t, both directions
                concatenated, zero past a sequence's length. ``h_n`` and ``c_n`` are (L·D, N, H):
                each layer-direction's state at the end of each sequence, index layer·D + direction
                (layer 0 first, forward before backward).

        Raises:
            ValueError: a wrong shape, dtype or length, named in the message.
        """
        x, hx, unbatched = self._check_input(input, hx)
        if self.batch_first:
            x = x.transpose(0, 1)
        T, N = x.shape[0], x.shape[1]
        lengths = None if lengths is None else check_lengths(lengths, T, N)
        if hx is None:
            zeros = x.new_zeros(self.num_layers * self.num_directions, N, self.hidden_size)
            hx = tuple(zeros for _ in self.cell.state_names)
        if self._uses_torch_kernel(x.device):
            options = (self.num_layers, self.dropout, self.training, self.bidirectional)
            x, state = torch_kernel.run_stack(self.cell, x, hx, self._flat_weights(), self.bias, lengths, *options)
        else:
            x, state = self._scan_stack(x, hx, lengths)
        if self.batch_first:
            x = x.transpose(0, 1)
        if unbatched:
            x, state = x.squeeze(1), tuple(s.squeeze(1) for s in state)
        return x, (state[0] if len(state) == 1 else state)

    def _scan_stack(self, x, hx, lengths) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The layers one after the other, each direction one scan of the engine: (output, final state),
        as ``torch_kernel.run_stack``."""
        T, N = x.shape[0], x.shape[1]
        mask = None if lengths is None else lengths_mask(lengths, T, N, x.device)
        n_state = len(self.cell.state_names)
        scan = ENGINES[self.engine]
        finals = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                p = self.layer_params(index)
                x_dir = reverse_in_length(x, mask) if direction else x
                xp = self.cell.input_projection(x_dir, p)
                masks = self._scan_masks(mask, T, N, n_state, xp)
                out, final = scan(self.cell, xp, tuple(s[index] for s in hx), self.cell.recurrent_params(p), masks)
                outputs.append(reverse_in_length(out, mask) if direction else out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if self.num_directions == 2 else outputs[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        return x, tuple(torch.stack(s) for s in zip(*finals))

    def step(self, input, hx=None):
        """One time step, for streaming (not for bidirectional layers).

        Feeding each step's state to the next equals one ``forward`` over the whole sequence.

        Args:
            input: one step, (N, I) or unbatched (I,).
            hx: the state returned by the previous step, shaped as in ``forward``; None starts from
                zeros (this is how a stream is reset).

        Returns:
            ``(output, state)``: output (N, D·H) (the top layer's h_t), state as ``forward`` returns it.
        """
        if self.bidirectional:
            raise ValueError("step() runs forward in time; a bidirectional layer needs the whole sequence")
        if not isinstance(input, torch.Tensor) or input.dim() not in (1, 2):
            shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
            raise ValueError(f"step() takes one time step, (N, I) or unbatched (I,); got {shape}")
        time_dim = 1 if self.batch_first and input.dim() == 2 else 0
        output, state = self(input.unsqueeze(time_dim), hx)
        return output.squeeze(time_dim), state

    @torch.no_grad()
    def trace_gates(self, input, lengths=None) -> dict[str, torch.Tensor]:
        """The gate activations and states of every layer-direction over ``input``, from a zero state,
        as the layer computes them in evaluation mode (no dropout; zoneout's expectation).

        Returns {symbol: (L·D, T, N, H)} ((L·D, N, T, H) with batch_first, (L·D, T, H) unbatched),
        index layer · D + direction: the cell's gates (``cell.GATES``: LSTM i, f, g, o, with f = 1 − i
        under CIFG; GRU r, z, n; RNN none) and states (h, and c for LSTM). They are the fast engine's
        saved buffers (rnnkit.engine.fast.forward_loop), not a recomputation; the top layer's h is the
        output of ``forward`` in evaluation mode. Zero past a sequence's length.
        """
        x, _, unbatched = self._check_input(input, None)
        if self.batch_first:
            x = x.transpose(0, 1)
        T, N, D = x.shape[0], x.shape[1], self.num_directions
        mask = None if lengths is None else lengths_mask(lengths, T, N, x.device)
        n_state = len(self.cell.state_names)
        traces = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                p = self.layer_params(layer * D + direction)
                xp = self.cell.input_projection(reverse_in_length(x, mask) if direction else x, p)
                state0 = tuple(xp.new_zeros(N, self.hidden_size) for _ in range(n_state))
                masks = self._scan_masks(mask, T, N, n_state, xp, training=False)
                states, saved = forward_loop(self.cell, xp, state0, self.cell.recurrent_params(p), masks)
                trace = {**self.cell.gate_values(saved), **dict(zip(self.cell.state_names, (s[1:] for s in states)))}
                if mask is not None:
                    trace = {k: v * mask for k, v in trace.items()}
                if direction:
                    trace = {k: reverse_in_length(v, mask) for k, v in trace.items()}
                traces.append(trace)
                outputs.append(trace["h"])
            x = torch.cat(outputs, dim=-1)
        stacked = {k: torch.stack([trace[k] for trace in traces]) for k in traces[0]}
        if unbatched:
            return {k: v.squeeze(2) for k, v in stacked.items()}
        return {k: v.transpose(1, 2) for k, v in stacked.items()} if self.batch_first else stacked

    def engine_info(self) -> dict[str, str]:
        """Which path runs the time loop, and why: {"engine", "path", "device", "reason"}, path one of
        ``torch_kernel`` (torch's fused kernel, cuDNN on CUDA), ``compiled_loop``, ``python_loop``
        (per-step torch ops, e.g. a variant on CUDA) or ``autograd`` (the reference engine)."""
        weight = next(self.parameters())
        device = weight.device
        if self._uses_torch_kernel(device):
            path = "torch_kernel"
            why = "engine='torch'" if self.engine == "torch" else "the default engine on CUDA, for a cell torch has"
            reason = (f"{torch_kernel.kernel_name(weight)}: torch's fused {torch_kernel.mode(self.cell)} op over "
                      f"the whole stack, backward by autograd; chosen by {why}")  # fmt: skip
        elif self.engine == "reference":
            path = "autograd"
            reason = (
                "reference engine: autograd over the step equations, several times slower; chosen by engine='reference'"
            )
        elif compiled.supports(self.cell, weight):
            path, reason = "compiled_loop", "fast engine: hand-derived BPTT, time loop compiled (C++)"
        else:
            path = "python_loop"
            why = compiled.status() if device.type == "cpu" else "the compiled loops are CPU-only"
            if device.type == "cuda":
                option = torch_kernel.unsupported(self.cell, self.recurrent_dropout, self.zoneout)
                why += f"; not cuDNN, which has no {option}"
            reason = f"fast engine: hand-derived BPTT, time loop of per-step torch ops on {device.type} ({why})"
        return {"engine": self.engine, "path": path, "device": str(device), "reason": reason}

    def _uses_torch_kernel(self, device: torch.device) -> bool:
        """Whether forward on ``device`` runs torch's fused kernel (rnnkit.engine.torch_kernel.chosen).

        Raises:
            ValueError: engine='torch' with an option torch's kernels lack, named.
        """
        if self.engine == "torch":
            option = torch_kernel.unsupported(self.cell, self.recurrent_dropout, self.zoneout)
            if option is not None:
                raise ValueError(f"engine='torch' runs torch's own kernels, which have no {option}; use engine='fast'")
        return torch_kernel.chosen(self.engine, self.cell, device, self.recurrent_dropout, self.zoneout)

    def _flat_weights(self) -> list[torch.Tensor]:
        """Each layer-direction's weight_ih, weight_hh[, bias_ih, bias_hh]: torch.nn.RNNBase's flat order."""
        order = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        return [getattr(self, names[base]) for names in self._param_names for base in order if base in names]

    def flatten_parameters(self) -> None:
        """Does nothing; kept so that code written for torch.nn's layers runs. rnnkit's weights stay
        separate tensors on every device, so safetensors can save them (rnnkit.engine.torch_kernel)."""

    def _scan_masks(
        self, valid, T: int, N: int, n_state: int, like: torch.Tensor, training: bool | None = None
    ) -> ScanMasks:
        """Lengths, plus this layer-direction's recurrent-dropout and zoneout draws (rnnkit.engine.masks);
        ``training`` defaults to the layer's mode."""
        H, h_mask, zoneout = self.hidden_size, None, None
        training = self.training if training is None else training
        if self.recurrent_dropout and training:
            keep = 1 - self.recurrent_dropout
            h_mask = like.new_empty(N, H).bernoulli_(keep) / keep
        if self.zoneout and training:
            zoneout = tuple(like.new_empty(T, N, H).bernoulli_(1 - self.zoneout).bool() for _ in range(n_state))
        elif self.zoneout:
            zoneout = (like.new_full((T, 1, 1), 1 - self.zoneout),) * n_state
        return ScanMasks(valid, zoneout, h_mask)

    def _check_input(self, input, hx):
        """Validate shapes; return (input as (T, N, I) or (N, T, I), hx as a tuple or None, unbatched)."""
        if not isinstance(input, torch.Tensor) or not input.is_floating_point():
            raise ValueError(f"input must be a floating-point tensor; got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(f"input must be 3-D (T, N, I) or 2-D unbatched (T, I); got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"input has {input.shape[-1]} features, the layer expects input_size={self.input_size}")
        unbatched = input.dim() == 2
        if unbatched:
            input = input.unsqueeze(1 if not self.batch_first else 0)
        if input.shape[0 if not self.batch_first else 1] == 0:
            raise ValueError("input has no time steps")
        if hx is None:
            return input, None, unbatched
        hx = tuple(hx) if isinstance(hx, (tuple, list)) else (hx,)
        names = self.cell.state_names
        if len(hx) != len(names):
            raise ValueError(f"hx must hold {len(names)} tensor(s) ({', '.join(names)}); got {len(hx)}")
        N = input.shape[1 if not self.batch_first else 0]
        expected = (self.num_layers * self.num_directions,) + (() if unbatched else (N,)) + (self.hidden_size,)
        for name, s in zip(names, hx):
            if not isinstance(s, torch.Tensor) or tuple(s.shape) != expected:
                shape = tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                raise ValueError(f"initial state {name}_0 must have shape {expected}; got {shape}")
        if unbatched:
            hx = tuple(s.unsqueeze(1) for s in hx)
        return input, hx, unbatched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
        for name, default in (
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("recurrent_dropout", 0.0),
            ("zoneout", 0.0),
        ):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + f", cell={self.cell}, init={self.init!r}, engine={self.engine!r}"

    # ---- torch interoperability --------------------------------------------------------------
    @classmethod
    def _torch_config(cls, module: nn.RNNBase) -> dict:
        if getattr(module, "proj_size", 0):
            raise ValueError("LSTMs with proj_size > 0 have no rnnkit equivalent")
        return dict(
            input_size=module.input_size, hidden_size=module.hidden_size, num_layers=module.num_layers,
            bias=module.bias, batch_first=module.batch_first, dropout=module.dropout,
            bidirectional=module.bidirectional,
        )  # fmt: skip

    def to_torch(self) -> nn.RNNBase:
        """The torch.nn equivalent (nn.RNN, nn.LSTM or nn.GRU) with the same weights, on the same device
        and in the same train/eval mode, e.g. for ONNX or TorchScript export (rnnkit.export).

        Raises:
            ValueError: naming the option torch has no equivalent for (zoneout; RNN sigmoid/softsign;
                LSTM peephole, cifg, layer_norm, softsign; GRU reset_after=False).
        """
        if self.zoneout:
            raise ValueError("zoneout changes evaluation outputs and torch.nn has no equivalent")
        kind = {RNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU}[type(self)]
        option = torch_kernel.missing_from_torch(self.cell)
        if option is not None:
            raise ValueError(f"torch.nn.{kind.__name__} has no {option}; only the cells torch has convert")
        options = {"nonlinearity": self.cell.nonlinearity} if isinstance(self, RNN) else {}
        twin = kind(self.input_size, self.hidden_size, self.num_layers, bias=self.bias, batch_first=self.batch_first,
                    dropout=self.dropout, bidirectional=self.bidirectional, **options)  # fmt: skip
        with torch.no_grad():
            for name, param in self.named_parameters():
                getattr(twin, name).copy_(param)
        return twin.to(next(self.parameters()).device).train(self.training)

    def _copy_from(self, module: nn.Module):
        """Copy every parameter from a torch module that uses the same names."""
        with torch.no_grad():
            for name, param in self.named_parameters():
                source = getattr(module, name)
                param.copy_(source)
            self.to(next(module.parameters()).device)
        return self


class RNN(RecurrentLayer):
    """Elman RNN: h_t = φ(W x_t + U h_{t−1} + b), φ = ``nonlinearity``; a drop-in torch.nn.RNN.

    Parameters per layer k (suffix ``_reverse`` for the backward direction): weight_ih_lk (H, I),
    weight_hh_lk (H, H), bias_ih_lk (H), bias_hh_lk (H), as in torch.nn.RNN.

    Args:
        input_size: I, features per time step.
        hidden_size: H, units per layer.
        num_layers: L, stacked layers; layer k > 0 reads the output of layer k − 1.
        nonlinearity: φ: ``tanh``, ``relu``, ``sigmoid`` or ``softsign`` (torch has the first two).
        bias: with the biases bias_ih and bias_hh (torch's two-bias layout).
        batch_first: input and output are (N, T, ·) instead of (T, N, ·); states are never batch-first.
        dropout: dropout on the output of every layer but the last, in training.
        bidirectional: a second scan per layer, backward in time within each sequence's length;
            outputs of the two directions are concatenated (D·H features).
        init: weight initialisation: ``uniform`` (torch's U(−1/√H, 1/√H)), ``xavier`` or
            ``orthogonal`` (rnnkit.init).
        engine: ``fast`` (hand-derived BPTT, compiled time loop on the CPU; on CUDA, cuDNN for
            the cells torch has, see ``engine_info``), ``reference`` (autograd over the step
            equations; slower, warns) or ``torch`` (torch's fused kernel on any device; only the
            cells torch has, without recurrent dropout or zoneout).
        recurrent_dropout: variational dropout of h_{t−1} in the recurrent products, one mask per
            sequence (Gal & Ghahramani 2016); off at evaluation.
        zoneout: probability that each unit of each state keeps its previous value at a step
            (Krueger et al. 2016); at evaluation s_t = p s_{t−1} + (1 − p) s̃_t.

    Raises:
        ValueError: an unknown option or a value out of range, named in the message.
    """

    cell: RNNCell

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, init="uniform", engine="fast", recurrent_dropout=0.0,
                 zoneout=0.0, **unknown):  # fmt: skip
        _reject(unknown, "RNN")
        check_choice("nonlinearity", nonlinearity, ACTIVATIONS)
        cell = RNNCell(_positive_int("hidden_size", hidden_size), nonlinearity)
        super().__init__(
            cell,
            input_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            init,
            engine,
            recurrent_dropout,
            zoneout,
        )

    @classmethod
    def from_torch(cls, module: nn.RNN, **options) -> RNN:
        """An rnnkit.RNN with the configuration, weights and device of a torch.nn.RNN; ``options`` are
        rnnkit's own (e.g. ``engine``, ``zoneout``)."""
        return cls(nonlinearity=module.nonlinearity, **cls._torch_config(module), **options)._copy_from(module)


class LSTM(RecurrentLayer):
    """LSTM (equations: rnnkit.cells.lstm), optionally with peepholes, CIFG, layer norm; a drop-in torch.nn.LSTM.

    Parameters per layer k (suffix ``_reverse`` for the backward direction): weight_ih_lk (G, I),
    weight_hh_lk (G, H), bias_ih_lk (G), bias_hh_lk (G), G = 4H, gate order i, f, g, o as in
    torch.nn.LSTM. The state is the pair (h, c).

    Args:
        input_size: I, features per time step.
        hidden_size: H, units per layer.
        num_layers: L, stacked layers; layer k > 0 reads the output of layer k − 1.
        bias: with the biases bias_ih and bias_hh (torch's two-bias layout).
        batch_first: input and output are (N, T, ·) instead of (T, N, ·); states are never batch-first.
        dropout: dropout on the output of every layer but the last, in training.
        bidirectional: a second scan per layer, backward in time within each sequence's length;
            outputs of the two directions are concatenated (D·H features).
        init: weight initialisation: ``uniform`` (torch's U(−1/√H, 1/√H)), ``xavier`` or
            ``orthogonal`` (rnnkit.init).
        engine: ``fast`` (hand-derived BPTT, compiled time loop on the CPU; on CUDA, cuDNN for
            the cells torch has, see ``engine_info``), ``reference`` (autograd over the step
            equations; slower, warns) or ``torch`` (torch's fused kernel on any device; only the
            cells torch has, without recurrent dropout or zoneout).
        recurrent_dropout: variational dropout of h_{t−1} in the recurrent products, one mask per
            sequence (Gal & Ghahramani 2016); off at evaluation.
        zoneout: probability that each unit of each state keeps its previous value at a step
            (Krueger et al. 2016); at evaluation s_t = p s_{t−1} + (1 − p) s̃_t.
        forget_bias: initial forget-gate bias (torch's LSTM has 0; with CIFG the input gate gets
            −forget_bias).
        peephole: diagonal cell-to-gate weights (Gers & Schmidhuber 2000), weight_peephole_lk (3H:
            p_i, p_f, p_o).
        cifg: coupled input-forget gate, f = 1 − i; gates i, g, o only (G = 3H).
        layer_norm: layer-normalised W x, U h and cell (ln_ih_weight, ln_hh_weight, ln_cell_weight
            and ln_cell_bias).
        activation: ``tanh`` or ``softsign``, the cell input and output squashing.
        chrono_init: T_max, the longest dependency in steps: chrono biases b_f ~ log U(1, T_max − 1),
            b_i = −b_f (Tallec & Ollivier 2018); None = off.

    Raises:
        ValueError: an unknown option or a value out of range, named in the message.
    """

    cell: LSTMCell

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, forget_bias=1.0, peephole=False, cifg=False, layer_norm=False,
                 activation="tanh", init="uniform", chrono_init=None, engine="fast", recurrent_dropout=0.0,
                 zoneout=0.0, **unknown):  # fmt: skip
        _reject(unknown, "LSTM")
        cell = LSTMCell(
            _positive_int("hidden_size", hidden_size), bool(peephole), bool(cifg), bool(layer_norm), activation
        )
        self.forget_bias, self.chrono_init = forget_bias, chrono_init
        super().__init__(
            cell,
            input_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            init,
            engine,
            recurrent_dropout,
            zoneout,
        )

    def reset_parameters(self) -> None:
        """Initialise with the scheme, then the forget gate: chrono biases if chrono_init, else forget_bias."""
        super().reset_parameters()
        for names in self._param_names:
            if self.chrono_init:
                keep = chrono_bias(self.hidden_size, self.chrono_init)
            elif self.forget_bias is not None:
                keep = self.forget_bias
            else:
                continue
            if self.cell.cifg:  # f = 1 − i
                self._gate_bias(names, 0, -keep)
            else:
                self._gate_bias(names, 1, keep)
                if self.chrono_init:
                    self._gate_bias(names, 0, -keep)  # b_i = −b_f

    @classmethod
    def from_torch(cls, module: nn.LSTM, **options) -> LSTM:
        """An rnnkit.LSTM with the configuration, weights and device of a torch.nn.LSTM; ``options`` are
        rnnkit's own (e.g. ``engine``, ``zoneout``). ValueError for an LSTM with proj_size > 0."""
        return cls(**cls._torch_config(module), **options)._copy_from(module)


class GRU(RecurrentLayer):
    """GRU (equations: rnnkit.cells.gru) in the reset-after (torch/cuDNN) or reset-before form; a drop-in torch.nn.GRU.

    Parameters per layer k (suffix ``_reverse`` for the backward direction): weight_ih_lk (3H, I),
    weight_hh_lk (3H, H), bias_ih_lk (3H), bias_hh_lk (3H), gate order r, z, n as in torch.nn.GRU.

    Args:
        input_size: I, features per time step.
        hidden_size: H, units per layer.
        num_layers: L, stacked layers; layer k > 0 reads the output of layer k − 1.
        bias: with the biases bias_ih and bias_hh (torch's two-bias layout).
        batch_first: input and output are (N, T, ·) instead of (T, N, ·); states are never batch-first.
        dropout: dropout on the output of every layer but the last, in training.
        bidirectional: a second scan per layer, backward in time within each sequence's length;
            outputs of the two directions are concatenated (D·H features).
        init: weight initialisation: ``uniform`` (torch's U(−1/√H, 1/√H)), ``xavier`` or
            ``orthogonal`` (rnnkit.init).
        engine: ``fast`` (hand-derived BPTT, compiled time loop on the CPU; on CUDA, cuDNN for
            the cells torch has, see ``engine_info``), ``reference`` (autograd over the step
            equations; slower, warns) or ``torch`` (torch's fused kernel on any device; only the
            cells torch has, without recurrent dropout or zoneout).
        recurrent_dropout: variational dropout of h_{t−1} in the recurrent products, one mask per
            sequence (Gal & Ghahramani 2016); off at evaluation.
        zoneout: probability that each unit of each state keeps its previous value at a step
            (Krueger et al. 2016); at evaluation s_t = p s_{t−1} + (1 − p) s̃_t.
        reset_after: True (torch's form, n = tanh(W_n x + b_in + r ∘ (U_n h + b_hn))) or False
            (Cho et al. 2014, n = tanh(W_n x + U_n (r ∘ h) + b)).
        chrono_init: T_max, the longest dependency in steps: update-gate biases log U(1, T_max − 1)
            (Tallec & Ollivier 2018); None = off.

    Raises:
        ValueError: an unknown option or a value out of range, named in the message.
    """

    cell: GRUCell

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, *, reset_after=True, init="uniform", chrono_init=None, engine="fast",
                 recurrent_dropout=0.0, zoneout=0.0, **unknown):  # fmt: skip
        _reject(unknown, "GRU")
        cell = GRUCell(_positive_int("hidden_size", hidden_size), bool(reset_after), bool(bias))
        self.chrono_init = chrono_init
        super().__init__(
            cell,
            input_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            init,
            engine,
            recurrent_dropout,
            zoneout,
        )

    def reset_parameters(self) -> None:
        """Initialise with the scheme; with chrono_init, the update gate z (which keeps h_{t−1}) gets chrono biases."""
        super().reset_parameters()
        if self.chrono_init:
            for names in self._param_names:
                self._gate_bias(names, 1, chrono_bias(self.hidden_size, self.chrono_init))

    @classmethod
    def from_torch(cls, module: nn.GRU, **options) -> GRU:
        """An rnnkit.GRU with the configuration, weights and device of a torch.nn.GRU; ``options`` are
        rnnkit's own (e.g. ``engine``, ``zoneout``)."""
        return cls(**cls._torch_config(module), **options)._copy_from(module)


TORCH_TWINS = {nn.RNN: RNN, nn.LSTM: LSTM, nn.GRU: GRU}


def as_rnnkit(layer: nn.Module) -> RecurrentLayer:
    """``layer`` itself if it is an rnnkit layer, else the rnnkit twin (same weights) of a torch.nn
    RNN, LSTM or GRU; ValueError for any other module."""
    if isinstance(layer, RecurrentLayer):
        return layer
    twin = TORCH_TWINS.get(type(layer))
    if twin is None:
        raise ValueError(f"{type(layer).__name__} is not a recurrent layer (rnnkit or torch.nn RNN, LSTM, GRU)")
    return twin.from_torch(layer)


def _reject(unknown: dict, layer: str) -> None:
    if unknown:
        raise ValueError(f"{layer} got unknown option(s): {', '.join(sorted(unknown))}")
