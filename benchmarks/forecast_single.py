"""One series with the global forecaster's defaults (`rnnkit.Forecaster`, the one-id case) against
statsforecast's models on the same split:

- AirPassengers (statsforecast's copy), protocol A of the forecasting notes: train on 1949-01..1957-12
  (108 points), one 36-step forecast; MAPE (published: AutoARIMA 4.15%, seasonal naive 13.19%);
- elec_equip (statsmodels), the last 36 months held out, MASE (m = 12, scaled on the training part).

rnnkit rows: mean ± sd over seeds (each seed a full default fit, ensemble included).

    python benchmarks/forecast_single.py [--seeds 5]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
import report  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.panel import Panel
from rnnkit.data.series import load_example
from rnnkit.tasks import baselines
from rnnkit.tasks.forecaster import Forecaster


def air_passengers() -> tuple[Panel, np.ndarray]:
    from statsforecast.utils import AirPassengersDF

    y = AirPassengersDF["y"].to_numpy(dtype=float)
    t = pd.to_datetime(AirPassengersDF["ds"]).to_numpy()
    return Panel(["AirPassengers"], [t[:108]], [y[:108]], 12, "MS"), y[108:]


def elec_equip() -> tuple[Panel, np.ndarray]:
    s = load_example("elec_equip")
    return Panel(["elec_equip"], [s.times[:-36]], [s.values[:-36]], 12, "MS"), s.values[-36:]


def scores(train: np.ndarray, truth: np.ndarray, f: np.ndarray) -> dict[str, float]:
    r = baselines.metrics(truth, f, baselines.mase_scale(train, 12))
    return {k: r[k] for k in ("MAPE", "sMAPE", "MASE")}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one seed, nothing written")
    ap.add_argument("--no-write", action="store_true")
    return ap


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seeds, args.no_write = 1, True
    started = time.time()
    lines = ["## Forecasting: one series with the defaults (`benchmarks/forecast_single.py`)", ""]
    for name, (panel, truth) in {"AirPassengers, protocol A": air_passengers(), "elec_equip": elec_equip()}.items():
        runs, seconds = [], []
        for seed in range(args.seeds):
            fc = Forecaster(h=36, seed=seed).fit(panel)
            runs.append(scores(panel.values[0], truth, fc.forecast_arrays()[0][0]))
            seconds.append(fc.train_seconds)
        base = baselines.statsforecast_baselines(panel, 36)
        lines += [f"### {name}: train {len(panel.values[0])} points, 36-step forecast", "",
                  "| method | MAPE | sMAPE | MASE |", "|---|---:|---:|---:|"]
        cells = [f"{np.mean([r[k] for r in runs]):.2f} ± {np.std([r[k] for r in runs], ddof=1):.2f}"
                 if args.seeds > 1 else f"{runs[0][k]:.2f}" for k in ("MAPE", "sMAPE", "MASE")]
        lines.append(f"| rnnkit ({args.seeds} seeds, {np.mean(seconds):.0f} s each) | " + " | ".join(cells) + " |")
        for model, f in base.items():
            r = scores(panel.values[0], truth, f[0])
            lines.append(f"| {model} | {r['MAPE']:.2f} | {r['sMAPE']:.2f} | {r['MASE']:.3f} |")
        lines.append("")
        print("\n".join(lines[-len(base) - 5:]))
    lines.append(report.stamp(started, argv, "forecast_single.py"))
    if not args.no_write:
        report.write_section("forecast-single", "\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
