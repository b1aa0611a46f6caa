"""Gradient flow and gates, measured: writes benchmarks/results/diagnostics/ and the
`diagnostics` section of BENCHMARKS.md.

    .venv/bin/python benchmarks/diagnostics.py [--train-seconds 150] [--quick]

1. ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ against the lag for fresh RNN, LSTM (forget bias 1 and 5) and GRU layers
   (I = 32, H = 64, T = 200, 64 Gaussian input sequences), L = Σ_n w_nᵀ h_T,n;
2. a char-level LSTM (H = 256) trained on tiny Shakespeare for --train-seconds with rnnkit's
   trainer, which writes its report.html; its recurrent layer's gradient flow before
   (re-initialised) and after training, on its embeddings of random characters;
3. the gates page of that model over a fixed Shakespeare passage.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.diagnostics import gradient_flow as gf
from rnnkit.diagnostics.gates import load_model, recurrent_layer, write_gates
from rnnkit.tasks.lm import DEMO_ARGS, LanguageModelTask, LMConfig
from rnnkit.train import TrainConfig, Trainer, build_configs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "diagnostics"
PASSAGE = ("ROMEO:\nBut soft, what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n\n"
           "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\nDeny thy father and refuse thy name;\n"
           "Or, if thou wilt not, be but sworn my love,\nAnd I'll no longer be a Capulet.\n")
LENGTH = 200


def train_lm(run_dir: Path, seconds: float) -> dict:
    args = [*DEMO_ARGS, "--hidden-size", "256", "--max-time", str(seconds), "--log-every", "25",
            "--run-dir", str(run_dir)]
    cfgs = build_configs({"train": TrainConfig, "lm": LMConfig}, None, args)
    torch.manual_seed(cfgs["train"].seed)
    return Trainer(LanguageModelTask(cfgs["lm"]), cfgs["train"]).fit()


def section(curves: list[gf.Curve], summary: dict, found: list[dict], seconds: float, layer: str) -> str:
    lags = (10, 25, 50, 100, 199)
    head = "| curve | lag where the ratio falls below 1e-3 | " + " | ".join(f"ratio at lag {k}" for k in lags) + " |"
    rows = [head, "|" + "---|" * (2 + len(lags))]
    for c in curves:
        lag = c.vanish_lag if c.vanish_lag is not None else f"> {LENGTH - 1}"
        rows.append(f"| {c.name} | {lag} | " + " | ".join(f"{c.at(k):.1e}" for k in lags) + " |")
    units = "\n".join(f"- {u['feature']}: unit {u['unit']}, r = {u['r']:+.2f}" for u in found)
    return f"""## Gradient flow through time and gates (`benchmarks/diagnostics.py`)

Ratio ‖∂L/∂h_(T−k)‖ / ‖∂L/∂h_T‖ against the lag k for L = Σ_n w_nᵀ h_T,n (random unit w_n), T = {LENGTH},
mean over 64 random input sequences. Fresh layers: I = 32, H = 64, torch's uniform init (rnnkit's
default), LSTM forget-gate bias as stated. Checkpoint: rnnkit's char LM (embedding 64, then
`{layer}`) trained on tiny Shakespeare for {seconds:.0f} s with rnnkit's trainer:
{summary['step']} updates, validation loss {summary['best_val']:.4f} nats/char; "re-initialised" is the same
layer after `reset_parameters()` (its class's own initialisation), fed the same trained embeddings
of random characters. Computed in float64.

With forget bias 5 (f ≈ σ(5) ≈ 0.993) the cell state grows large along the sequence, so tanh(c_T)
saturates and the ratio drops at once to ~1e-2, then stays there or rises towards the start of the
sequence, where c is still small: the gradient no longer vanishes with the lag.

{chr(10).join(rows)}

Most interpretable cell-state units of the trained model over a {len(PASSAGE)}-character passage
(Pearson r between the unit's c_t and the property, per character):
{units}

Artefacts in benchmarks/results/diagnostics/: gradient_flow.png, gradient_flow.csv, gates.html,
report.html (the training run's own report).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-seconds", type=float, default=150.0, help="training time of the char LM")
    parser.add_argument("--quick", action="store_true", help="train the char LM for 20 s only")
    return parser


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    started = time.time()
    if args.quick:
        args.train_seconds = 20.0
    RESULTS.mkdir(parents=True, exist_ok=True)
    curves = gf.init_curves(["rnn", "lstm", "gru"], LENGTH) + gf.init_curves(["lstm"], LENGTH, forget_bias=5.0)
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        summary = train_lm(run, args.train_seconds)
        shutil.copy(run / "report.html", RESULTS / "report.html")
        curves += gf.checkpoint_curves(run, LENGTH)
        found = write_gates(run, PASSAGE, RESULTS / "gates.html")
        rnn = recurrent_layer(load_model(run)[0])
        layer = f"{type(rnn).__module__}.{type(rnn).__name__}({rnn.extra_repr()})"
    gf.write_csv(curves, RESULTS / "gradient_flow.csv")
    gf.plot(curves, RESULTS / "gradient_flow.png")
    body = section(curves, summary, found, args.train_seconds, layer)
    write_section("diagnostics", body + stamp(started, argv, "diagnostics.py"))
    print("\n".join(gf.summary_lines(curves)))


if __name__ == "__main__":
    main(sys.argv[1:])
