"""Forecast accuracy measures and the classical baselines an RNN forecaster must beat: naive and
seasonal naive by hand, AutoARIMA, AutoETS and AutoTheta from statsforecast.

Each baseline maps a history y_1..y_n (everything before the forecast origin) to forecasts
ŷ_{n+1..n+H}. Shape letters: n = history length, H = horizon, m = seasonal period.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import cast

import numpy as np


# ------------------------------------------------------------------------------------------------
# accuracy measures, e = y - ŷ over all forecast points
def mase_scale(train: np.ndarray, m: int) -> float:
    """MASE denominator: the in-sample MAE of the seasonal naive forecast on the training part,
    mean |y_t - y_{t-m}| (m = 1, the naive forecast, when the part is shorter than 2m)."""
    m = m if len(train) > 2 * m else 1
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """sMAPE % as in the M3 competition: 100 mean(2|y - ŷ| / (|y| + |ŷ|)), 0 where both are 0."""
    denom = np.abs(y) + np.abs(yhat)
    return float(100 * np.mean(np.where(denom > 0, 2 * np.abs(y - yhat) / np.where(denom > 0, denom, 1), 0.0)))


def metrics(y: np.ndarray, yhat: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, sMAPE (see `smape`), MASE = MAE / scale, MAPE % = 100 mean |e / y| (NaN if some y = 0)."""
    e = y - yhat
    mape = float(100 * np.mean(np.abs(e / y))) if np.all(y != 0) else float("nan")
    mae = float(np.mean(np.abs(e)))
    return {
        "MAE": mae,
        "RMSE": float(np.sqrt(np.mean(e**2))),
        "sMAPE": smape(y, yhat),
        "MASE": mae / scale if scale > 0 else float("nan"),
        "MAPE": mape,
    }


# ------------------------------------------------------------------------------------------------
def naive(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """ŷ_{n+h} = y_n."""
    return np.full(horizon, history[-1], dtype=float)


def seasonal_naive(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """ŷ_{n+h} = y_{n+h-m·k}, k = ceil(h/m): the value one season earlier (m = 1: naive)."""
    h = np.arange(1, horizon + 1)
    return history[len(history) + h - m * np.ceil(h / m).astype(int) - 1].astype(float)


# statsforecast compiles its models with numba on first use (tens of seconds): cache the compiled code
# where it persists between runs (a user's NUMBA_CACHE_DIR wins).
os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "rnnkit" / "numba"))

# The statistical baselines of statsforecast, by the names they carry in its output.
STATS_MODELS = ("AutoETS", "AutoTheta", "AutoARIMA", "SeasonalNaive", "Naive")


def _stats_model(name: str, m: int):
    from statsforecast import models

    if name == "SeasonalNaive":
        return models.SeasonalNaive(season_length=max(m, 1))
    if name == "Naive":
        return models.Naive()
    return getattr(models, name)(season_length=max(m, 1))


def _one(name: str):
    """A baseline on one history: statsforecast's model `name` fitted on y_1..y_n."""

    def fit_forecast(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _stats_model(name, m).forecast(y=np.asarray(history, dtype=float), h=horizon)
        return np.asarray(out["mean"], dtype=float)

    fit_forecast.__name__ = name
    fit_forecast.__doc__ = f"statsforecast {name}(season_length=m) fitted on the history, h-step forecasts."
    return fit_forecast


def statsforecast_baselines(
    panel, horizon: int, models: tuple[str, ...] = STATS_MODELS, n_jobs: int = 1
) -> dict[str, np.ndarray]:
    """{model: (S, H) forecasts} of statsforecast's models, each fitted on every series of a
    `rnnkit.data.panel.Panel` (season_length = the panel's m). Series are indexed 0..S-1 in the
    panel's order; the timestamps are replaced by 0, 1, ... (the models do not read them)."""
    import warnings

    import pandas as pd
    from statsforecast import StatsForecast

    m = max(panel.season, 1)
    df = pd.DataFrame(
        {
            "unique_id": np.repeat(np.arange(len(panel)), panel.lengths),
            "ds": np.concatenate([np.arange(n) for n in panel.lengths]),
            "y": np.concatenate(panel.values).astype(float),
        }
    )
    sf = StatsForecast(models=[_stats_model(name, m) for name in models], freq=1, n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = cast(pd.DataFrame, sf.forecast(df=df, h=horizon))  # a pandas frame in, a pandas frame out
        out = out.sort_values(["unique_id", "ds"])
    return {name: out[name].to_numpy(dtype=float).reshape(len(panel), horizon) for name in models}


BASELINES = {
    "naive": naive,
    "seasonal naive": seasonal_naive,
    **{n: _one(n) for n in ("AutoARIMA", "AutoETS", "AutoTheta")},
}
