"""Forecasting benchmark: rnnkit's LSTM and GRU beside naive, seasonal naive and statsforecast's AutoARIMA,
AutoETS and AutoTheta on the same held-out tail of real series shipped with statsmodels; writes the
`forecast` section of BENCHMARKS.md and benchmarks/results/forecast.json.

Protocol (the notes' Protocol A, on the series we can ship): train on the head of the series, one
H-step forecast from a single origin at the start of the last H points, scored with MAE, RMSE,
sMAPE, MASE (m = season, scaled on the training part) and MAPE. The RNN's scaler is fitted on the
training part; its early stopping uses the validation part just before the test tail; baselines
are fitted on everything before the origin. RNN rows: mean ± sd over seeds, and the ensemble (mean
forecast) of those seeds.

    .venv/bin/python benchmarks/forecast.py [--seeds 5] [--series elec_equip,sunspots]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from report import stamp, write_section  # benchmarks/ is on sys.path when a script runs

from rnnkit.tasks import baselines
from rnnkit.tasks.forecast import ForecastConfig, ForecastTask, evaluate, forecast, origins_of
from rnnkit.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[1]
SERIES = {  # horizon = held-out tail; train: overrides of TRAIN; seeds: at most this many
    "elec_equip": dict(horizon=36, lookback=36),  # monthly, m = 12: the AirPassengers-like case
    "sunspots": dict(horizon=22, lookback=36),  # yearly, m = 11: two solar cycles held out
    "co2": dict(horizon=52, lookback=104, train=dict(max_epochs=30), seeds=3),  # weekly, m = 52, 59 gaps
}
MODEL = dict(hidden_size=32, num_layers=1, head="mse", strategy="direct", anchor="seasonal", scaler="standard")
TRAIN = dict(max_epochs=200, patience=20, schedule="constant", lr=0.003, clip_norm=1.0, threads=1, ckpt_every=0,
             log_every=10**6)
COLS = ["MAE", "RMSE", "sMAPE", "MASE", "MAPE"]


def run_series(name: str, seeds: list[int], cells: list[str]) -> dict:
    """Metrics of every baseline (deterministic) and of each cell per seed, plus the seed ensemble."""
    spec = dict(SERIES[name])
    train, seeds = {**TRAIN, **spec.pop("train", {})}, seeds[:spec.pop("seeds", len(seeds))]
    out: dict = {"config": {**spec, **MODEL}, "train": train, "seeds": seeds, "rows": {}}
    for cell in cells:
        per_seed, forecasts, seconds = [], [], []
        for seed in seeds:
            torch.manual_seed(seed)
            cfg = ForecastConfig(dataset=name, cell=cell, **spec, **MODEL)
            task = ForecastTask(cfg, seed)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the trainer's metric lines
                Trainer(task, TrainConfig(seed=seed, run_dir=f"runs/bench-forecast/{name}-{cell}-{seed}",
                                          **train)).fit()
            seconds.append(time.perf_counter() - t0)
            first = not out["rows"]
            results, _ = evaluate(task.model, task.data, cfg, tuple(baselines.BASELINES) if first else ())
            if first:
                out["rows"].update({k: v for k, v in results.items() if not k.startswith("rnnkit")})
                data, H = task.data, cfg.horizon
                out["series"] = {"points": len(data.y), "season": data.season, "train": data.split.train_end,
                                 "val": data.split.val_end - data.split.train_end, "test": H,
                                 "test_from": data.series.time_strings(slice(data.split.val_end, None))[0]}
            per_seed.append(results[f"rnnkit {cell.upper()}"])
            orig = origins_of(task.data, "test", cfg.horizon, cfg.lookback, cfg.horizon)
            forecasts.append(forecast(task.model, task.data, orig, cfg.horizon, cfg.lookback)[0])
        label = f"rnnkit {cell.upper()}"
        out["rows"][label] = {c: [r[c] for r in per_seed] for c in COLS}
        truth = np.stack([data.y[e:e + H] for e in orig])
        scale = baselines.mase_scale(data.y[:data.split.train_end], data.season)
        out["rows"][f"{label} ensemble of {len(seeds)}"] = baselines.metrics(
            truth.ravel(), np.mean(forecasts, 0).ravel(), scale)
        out.setdefault("seconds", {})[label] = seconds
    return out


def cell_text(v, col: str) -> str:
    fmt = "{:.3f}" if col == "MASE" else "{:.2f}"
    if isinstance(v, list):
        return f"{fmt.format(np.mean(v))} ± {fmt.format(np.std(v, ddof=1) if len(v) > 1 else 0.0)}"
    return fmt.format(v)


def mean_mase(row) -> float:
    return float(np.mean(row["MASE"]))


def report(all_results: dict, wall: float) -> str:
    lines = ["## Time-series forecasting (`benchmarks/forecast.py`)", "",
             "One forecast of the last H points from a single origin (the notes' Protocol A), on series",
             "shipped inside the statsmodels wheel (AirPassengers, Protocol A's own series, is measured by",
             "`benchmarks/forecast_single.py` from statsforecast's copy); elec_equip is monthly, m = 12.",
             f"RNN: {MODEL['hidden_size']} hidden units, one layer, a direct H-step MSE head whose outputs are",
             "offsets from the seasonal naive forecast (`--anchor seasonal`), standard scaling fitted on the",
             f"training part, Adam lr {TRAIN['lr']}, up to {TRAIN['max_epochs']} epochs (co2: 30) with early "
             f"stopping (patience {TRAIN['patience']}) on the validation part; one row per cell: mean ± sd (n-1)",
             "over seeds 1, 2, ..., and one for the ensemble of those seeds (mean of their forecasts).",
             "Baselines fitted on all points before the origin: naive, seasonal naive, and statsforecast's",
             "AutoARIMA, AutoETS and AutoTheta (season_length = m). MASE is scaled by the in-sample",
             "seasonal naive MAE of the training part. Lowest mean MASE in bold.", ""]
    verdicts = []
    for name, res in all_results.items():
        s = res["series"]
        lines += [f"### {name}: {s['points']} points, m = {s['season']}, train {s['train']} / "
                  f"val {s['val']} / test {s['test']} (from {s['test_from']}), lookback "
                  f"{res['config']['lookback']}, {len(res['seeds'])} seeds", "",
                  "| method | " + " | ".join(COLS) + " |", "|---|" + "---:|" * len(COLS)]
        best = min(res["rows"], key=lambda k: mean_mase(res["rows"][k]))
        for label, row in res["rows"].items():
            shown = f"**{label}**" if label == best else label
            lines.append(f"| {shown} | " + " | ".join(cell_text(row[c], c) for c in COLS) + " |")
        secs = ", ".join(f"{k} {np.mean(v):.1f} s" for k, v in res["seconds"].items())
        lines += ["", f"Training time per seed (mean): {secs}.", ""]
        ours = {k: v for k, v in res["rows"].items() if k.startswith("rnnkit")}
        theirs = {k: v for k, v in res["rows"].items() if not k.startswith("rnnkit")}
        our_best = min(ours, key=lambda k: mean_mase(ours[k]))
        their_best = min(theirs, key=lambda k: mean_mase(theirs[k]))
        beaten = [k for k in theirs if mean_mase(ours[our_best]) < mean_mase(theirs[k])]
        word = "wins" if mean_mase(ours[our_best]) < mean_mase(theirs[their_best]) else "loses"
        verdicts.append(f"- {name}: rnnkit {word}. Its best row, {our_best}, has MASE "
                        f"{mean_mase(ours[our_best]):.3f} against {mean_mase(theirs[their_best]):.3f} for the best "
                        f"baseline ({their_best}); it beats {', '.join(beaten) if beaten else 'no baseline'}.")
    lines += ["### Where we win and where we lose", "", *verdicts, "",
              f"Measured on {platform.machine()} CPU, torch {torch.__version__}, one thread per run; the whole "
              f"script took {wall / 60:.1f} min. Raw numbers: `benchmarks/results/forecast.json`."]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--series", default=",".join(SERIES))
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--quick", action="store_true", help="one seed, sunspots only")
    return parser


def main(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seeds, args.series = 1, "sunspots"
    started = time.time()
    seeds = list(range(1, args.seeds + 1))
    t0 = time.perf_counter()
    results = {}
    for name in args.series.split(","):
        results[name] = run_series(name, seeds, args.cells.split(","))
        print(f"{name} done after {time.perf_counter() - t0:.0f} s", flush=True)
    out = ROOT / "benchmarks" / "results" / "forecast.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    text = report(results, time.perf_counter() - t0) + stamp(started, argv, "forecast.py")
    write_section("forecast", text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1:])
