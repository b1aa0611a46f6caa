"""Gates at work: the gate activations and states of a character model's recurrent layer over a
text, and the hidden units that track something readable in it.

The activations are the layer's own (``RecurrentLayer.trace_gates``: the fast engine's saved
buffers, nothing recomputed), so what is drawn is exactly what the layer computes. torch.nn
layers are read through their rnnkit twin (``rnnkit.layers.as_rnnkit``).

Shapes: T time steps (characters), N batch, I input features, H hidden units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnkit._util import one_thread, pyplot, write_atomic
from rnnkit._util.html import esc, figure_uri, page, table
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.layers import RecurrentLayer, as_rnnkit
from rnnkit.train import checkpoint

# What the heat-maps show, per cell family: gates in (0, 1), then the state.
SHOWN = {LSTMCell: ("i", "f", "o", "c"), GRUCell: ("r", "z", "h")}
GATE_TITLES = {symbol: f"{name} {symbol}" for cell in (LSTMCell, GRUCell) for symbol, name in cell.GATES.items()}
GATE_TITLES.update(c="cell state c", h="hidden state h")


def load_model(path: str | Path):
    """(model, vocab) of a checkpoint whose task has a loader (today: the char LM, task "lm")."""
    from rnnkit.tasks.lm import LanguageModel

    def load_lm(path):
        lm = LanguageModel.load(path)
        assert lm.model is not None  # load builds the model
        return lm.model, lm.vocab

    loaders = {"lm": load_lm}
    task = checkpoint.read_state(path)["meta"].get("task")
    if task not in loaders:
        raise checkpoint.CheckpointError(
            f"{path}: no diagnostics loader for a checkpoint of task {task!r} (known: {', '.join(loaders)})"
        )
    return loaders[task](path)


def recurrent_layer(model: nn.Module) -> RecurrentLayer | nn.RNNBase:
    """The first recurrent layer (rnnkit or torch.nn RNN/LSTM/GRU) inside ``model``."""
    for module in model.modules():
        if isinstance(module, (RecurrentLayer, nn.RNNBase)):
            return module
    raise ValueError(f"{type(model).__name__} has no RNN/LSTM/GRU layer")


# ---- a character model over a text -----------------------------------------------------------
def text_trace(model: nn.Module, vocab, text: str) -> tuple[RecurrentLayer, list[dict[str, np.ndarray]]]:
    """The char model's recurrent layer (as rnnkit) and its traces over ``text``, each value (T, H)."""
    if not text:
        raise ValueError("text must not be empty")
    embed = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embed is None:
        raise ValueError(f"{type(model).__name__} has no character embedding: gates over a text need a text model")
    layer = as_rnnkit(recurrent_layer(model))
    with torch.no_grad():
        traces = layer.trace_gates(embed(vocab.encode(text)))  # one unbatched sequence: {symbol: (L·D, T, H)}
    depth = next(iter(traces.values())).shape[0]
    return layer, [{k: v[index].numpy() for k, v in traces.items()} for index in range(depth)]


def text_features(text: str) -> dict[str, np.ndarray]:
    """Per-character properties a unit might track: (T,) float arrays."""
    line_pos, quote, paren = [], [], []
    pos, in_quote, depth = 0, False, 0
    lines = text.split("\n")
    upper = [line.strip().isupper() for line in lines for _ in range(len(line) + 1)]
    for ch in text:
        if ch == '"':
            in_quote = not in_quote
        depth += (ch in "([") - (ch in ")]")
        line_pos.append(pos)
        quote.append(in_quote)
        paren.append(depth > 0)
        pos = 0 if ch == "\n" else pos + 1
    return {
        "position in line": np.array(line_pos, float),
        'inside "quotes"': np.array(quote, float),
        "inside (parentheses)": np.array(paren, float),
        "inside a word": np.array([ch.isalpha() for ch in text], float),
        "in an upper-case line (speaker)": np.array(upper[: len(text)], float),
    }


def interpretable_units(traces: list[dict[str, np.ndarray]], text: str, state: str) -> list[dict]:
    """For each text feature that varies, the unit (over all layers) whose ``state`` correlates
    most with it: [{"feature", "layer", "unit", "r"}], by decreasing |r| (Pearson)."""
    found = []
    for feature, values in text_features(text).items():
        if values.std() == 0:
            continue
        best = None
        for index, tr in enumerate(traces):
            a = tr[state]  # (T, H)
            a_c, v_c = a - a.mean(0), values - values.mean()
            denom = np.sqrt((a_c**2).sum(0) * (v_c**2).sum())
            r = np.divide(a_c.T @ v_c, denom, out=np.zeros(a.shape[1]), where=denom > 0)
            unit = int(np.abs(r).argmax())
            if best is None or abs(r[unit]) > abs(best["r"]):
                best = {"feature": feature, "layer": index, "unit": unit, "r": float(r[unit])}
        found.append(best)
    return sorted(found, key=lambda u: -abs(u["r"]))


def coloured_text(text: str, values: np.ndarray) -> str:
    """``text`` as spans whose background goes blue (the lowest value) → white → red (the highest);
    the range is written under the text, each value in its character's tooltip."""
    spans, low, high = [], float(values.min()), float(values.max())
    mid, half = (low + high) / 2, max((high - low) / 2, 1e-12)
    for ch, v in zip(text, values):
        s = float(np.clip((v - mid) / half, -1, 1))
        rgb = (255, int(255 * (1 - s)), int(255 * (1 - s))) if s > 0 else (int(255 * (1 + s)),) * 2 + (255,)
        shown = "↵\n" if ch == "\n" else esc(ch)
        spans.append(f'<span style="background:rgb{rgb}" title="{v:.3f}">{shown}</span>')
    return (
        f'<div class="text">{"".join(spans)}</div><p class="muted">blue = {low:.3g}, white = {mid:.3g}, '
        f"red = {high:.3g}</p>"
    )


def heatmaps(tr: dict[str, np.ndarray], keys: tuple[str, ...], text: str, units: np.ndarray):
    """One panel per key: units (rows) × characters (columns), the characters as column labels."""
    plt = pyplot()
    T = len(text)
    height = 1.2 + len(keys) * (1.2 + 0.05 * len(units))
    fig, axes = plt.subplots(len(keys), 1, figsize=(min(24, 3 + 0.12 * T), height), squeeze=False)
    step = max(1, T // 150)
    labels = ["↵" if c == "\n" else ("␣" if c == " " else c) for c in text]
    for ax, key in zip(axes[:, 0], keys):
        values = tr[key][:, units].T  # (units, T)
        gate = key not in ("c", "h")
        limit = float(np.abs(values).max()) or 1.0
        im = ax.imshow(
            values,
            aspect="auto",
            interpolation="nearest",
            cmap="viridis" if gate else "RdBu_r",
            vmin=0 if gate else -limit,
            vmax=1 if gate else limit,
        )
        ax.set_title(GATE_TITLES[key], fontsize=9, loc="left")
        ax.set_xticks(range(0, T, step))
        ax.set_xticklabels(labels[::step], fontsize=7, fontfamily="monospace")
        ax.set_yticks([])
        ax.set_ylabel(f"{len(units)} units", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    return fig


def gates_page(path: str | Path, text: str, max_units: int = 48) -> tuple[str, list[dict]]:
    """The HTML page of ``gates --checkpoint path --text text``, and the interpretable units found."""
    model, vocab = load_model(path)
    model.eval()
    with one_thread():
        layer, traces = text_trace(model, vocab, text)
    kind = type(layer.cell)
    keys = SHOWN.get(kind, ("h",))
    state = "c" if "c" in traces[0] else "h"
    top = traces[-1]
    # the units drawn in the heat-maps: the top layer's most active (largest variance of the state)
    units = np.sort(np.argsort(-top[state].var(0))[:max_units])
    facts = [
        ("checkpoint", path),
        ("layer", f"{type(layer).__name__} {layer.extra_repr()}"),
        ("text", f"{len(text)} characters"),
        ("state shown", GATE_TITLES[state]),
    ]
    parts = [table(facts)]
    found = interpretable_units(traces, text, state)
    parts.append(
        f"<h2>Most interpretable units ({GATE_TITLES[state]})</h2><p class='muted'>For each text "
        "property, the unit whose state correlates most with it (Pearson r over the characters); "
        "hover a character for the value.</p>"
    )
    for u in found:
        values = traces[u["layer"]][state][:, u["unit"]]
        parts.append(
            f"<h3>{esc(u['feature'])}: layer {u['layer']}, unit {u['unit']} (r = {u['r']:+.2f})</h3>"
            + coloured_text(text, values)
        )
    parts.append(
        f"<h2>Heat-maps, top layer ({len(units)} of {layer.hidden_size} units with the largest "
        f"variance of {GATE_TITLES[state]})</h2>"
    )
    parts.append(f'<img alt="gate heat-maps" src="{figure_uri(heatmaps(top, keys, text, units))}">')
    gates = [k for k in keys if k not in ("c", "h")]
    if gates:
        parts.append("<h2>Mean gate activation per character, top layer</h2>")
        for key in gates:
            parts.append(f"<h3>{GATE_TITLES[key]}</h3>" + coloured_text(text, top[key].mean(1)))
    return page("rnnkit: gates at work", "\n".join(parts)), found


def write_gates(path: str | Path, text: str, out: str | Path) -> list[dict]:
    """Write the gates page to ``out`` (an .html file); returns the interpretable units found."""
    html_text, found = gates_page(path, text)
    write_atomic(out, html_text)
    return found
