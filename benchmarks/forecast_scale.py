"""Scale of the global forecaster: a synthetic panel of many monthly series (100,000 by default),
lengths 24-120, multiplicative season and trend, lognormal levels. Reports the seconds and series
per second of fitting (reading the table, per-series transforms, a fixed number of updates, the
backtest) and of predicting every series, and the peak resident memory: windows are sampled
lazily, so memory grows with the data, not with the number of windows.

    python benchmarks/forecast_scale.py                  # 100,000 series
    python benchmarks/forecast_scale.py --series 2000    # a quick check
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import pandas as pd
import report  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks.forecaster import Forecaster


def synthetic_panel(n_series: int, seed: int = 0) -> pd.DataFrame:
    """A long table (unique_id, ds, y) of n_series monthly series of 24-120 points."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(24, 121, n_series)
    sid = np.repeat(np.arange(n_series), lengths)
    t = np.concatenate([np.arange(n) for n in lengths])
    phase, level = rng.uniform(0, 12, n_series)[sid], np.exp(rng.normal(4, 1, n_series))[sid]
    trend, amp = rng.normal(0.003, 0.004, n_series)[sid], rng.uniform(0, 0.4, n_series)[sid]
    y = level * (1 + amp * np.sin(2 * np.pi * (t + phase) / 12)) * np.exp(trend * t + rng.normal(0, 0.05, len(t)))
    ds = (np.datetime64("2000-01", "M") + t).astype("datetime64[ns]")
    return pd.DataFrame({"unique_id": sid.astype(str), "ds": ds, "y": y})


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=300, help="updates per ensemble member")
    ap.add_argument("--quick", action="store_true", help="2,000 series, 50 updates, nothing written")
    ap.add_argument("--no-write", action="store_true")
    return ap


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.series, args.steps, args.no_write = 2000, 50, True
    started = time.time()
    df = synthetic_panel(args.series)
    fc = Forecaster(h=12, seeds=1, lookbacks="24", max_steps=args.steps, eval_every=args.steps, hidden_size=32)
    t0 = time.time()
    fc.fit(df)
    fit_s = time.time() - t0
    t0 = time.time()
    out = fc.predict()
    pred_s = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    windows = int(sum(max(n - 12, 0) for n in fc.panel.lengths))
    line = (f"| {args.series:,} | {len(df):,} | {windows:,} | {args.steps} x {len(fc.members)} | {fit_s:.0f} s "
            f"({args.series / fit_s:,.0f} series/s) | {pred_s:.1f} s ({args.series / pred_s:,.0f} series/s) | "
            f"{rss:,.0f} MiB |")
    print(line, len(out))
    if args.no_write:
        return
    body = "\n".join([
        "## Forecasting: scale of the global model (synthetic monthly panel)", "",
        ("One `rnnkit.Forecaster` (LSTM 32, lookback 24, horizon 12; one member, which is also the backtest "
         "model) on a synthetic panel; training windows are sampled lazily from one padded array, never "
         "materialised. Fit = reading the table, per-series transforms, the updates, the backtest; predict = "
         "every series' 12-step forecast with intervals."), "",
        "| series | points | training origins | updates x members | fit | predict | peak memory |",
        "|---:|---:|---:|---:|---:|---:|---:|", line, report.stamp(started, argv, "forecast_scale.py")])
    report.write_section("forecast-scale", body)


if __name__ == "__main__":
    main(sys.argv[1:])
