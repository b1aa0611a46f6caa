"""Weight initialisation schemes for the recurrent layers.

* ``uniform``: every parameter ~ U(−1/√H, 1/√H), torch's default for nn.LSTM/GRU/RNN.
* ``xavier``: W and U ~ Glorot-uniform per gate block, biases 0.
* ``orthogonal``: W Glorot-uniform, U orthogonal, per gate block (Saxe et al. 2014), biases 0.

Layer-norm gains start at 1 and shifts at 0 under every scheme. Chrono initialisation
(Tallec & Ollivier 2018) sets the keep-gate biases to log(U(1, T_max − 1)) for dependencies of up
to T_max steps; the layers apply it, since which gate keeps memory is the cell's business.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from rnnkit.cells.base import check_choice

SCHEMES = ("uniform", "xavier", "orthogonal")


def init_parameter(name: str, param: nn.Parameter, hidden_size: int, scheme: str) -> None:
    """Initialise one parameter in place; ``name`` is its base name (e.g. ``weight_hh``)."""
    check_choice("init", scheme, SCHEMES)
    with torch.no_grad():
        if name.startswith("ln_"):
            param.fill_(1.0 if name.endswith("weight") else 0.0)
        elif scheme == "uniform" or name == "weight_peephole":
            bound = 1.0 / math.sqrt(hidden_size)
            param.uniform_(-bound, bound)
        elif name.startswith("bias"):
            param.zero_()
        else:
            for block in param.split(hidden_size, dim=0):  # one gate at a time
                if scheme == "orthogonal" and name == "weight_hh":
                    nn.init.orthogonal_(block)
                else:
                    nn.init.xavier_uniform_(block)


def check_chrono(t_max: int) -> None:
    """ValueError unless T_max (an enabled chrono_init) is at least 3, so U(1, T_max − 1) is not empty."""
    if t_max < 3:
        raise ValueError(f"chrono_init must be 0 (off) or at least 3 (the longest dependency, in steps), got {t_max}")


def chrono_bias(hidden_size: int, t_max: int) -> torch.Tensor:
    """log(U(1, T_max − 1)): a keep-gate bias whose time constants spread over 1..T_max steps."""
    check_chrono(t_max)
    return torch.log(torch.empty(hidden_size).uniform_(1, t_max - 1))
