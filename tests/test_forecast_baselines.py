"""rnnkit.tasks.baselines: hand-computed baselines and accuracy measures; statsforecast's models on clean series."""

import numpy as np
import pytest

from rnnkit.data.panel import Panel
from rnnkit.tasks.baselines import (
    BASELINES,
    STATS_MODELS,
    mase_scale,
    metrics,
    naive,
    seasonal_naive,
    smape,
    statsforecast_baselines,
)


def test_seasonal_naive_by_hand():
    history = np.array([3.0, 1, 4, 1, 5, 9, 2, 6])
    # m = 4: the last season is 5, 9, 2, 6, repeated; h = 5, 6 wrap to the same season again
    assert seasonal_naive(history, 6, 4).tolist() == [5, 9, 2, 6, 5, 9]
    assert seasonal_naive(history, 3, 1).tolist() == naive(history, 3, 1).tolist() == [6, 6, 6]


def test_metrics_by_hand():
    y, yhat = np.array([1.0, 2.0]), np.array([2.0, 2.0])
    r = metrics(y, yhat, scale=0.25)
    assert r["MAE"] == 0.5 and r["RMSE"] == pytest.approx(np.sqrt(0.5))
    assert r["sMAPE"] == pytest.approx(100 * (2 / 3) / 2)  # 2|e| / (|y| + |ŷ|) = 2/3, then 0
    assert r["MAPE"] == 50.0 and r["MASE"] == 2.0
    assert np.isnan(metrics(np.array([0.0, 1.0]), np.array([1.0, 1.0]), 1.0)["MAPE"])
    assert metrics(np.array([0.0]), np.array([0.0]), 1.0)["sMAPE"] == 0.0


def test_mase_scale_is_the_in_sample_seasonal_naive_mae():
    train = np.array([1.0, 2, 3, 4, 2, 4, 6, 8, 3])
    assert mase_scale(train, 4) == pytest.approx(np.mean([1, 2, 3, 4, 1]))
    assert mase_scale(train[:5], 4) == pytest.approx(np.mean(np.abs(np.diff(train[:5]))))  # too short: m = 1


def test_smape_is_the_m3_definition():
    assert smape(np.array([100.0, 50.0]), np.array([110.0, 50.0])) == pytest.approx(100 * (20 / 210) / 2)
    assert smape(np.zeros(2), np.zeros(2)) == 0.0


def _seasonal_series(n: int, seed: int) -> np.ndarray:
    t = np.arange(float(n))
    return 10 + 0.1 * t + 2 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.05, n)


def test_statsforecast_models_forecast_a_clean_seasonal_series():
    y = _seasonal_series(72, 0)
    for name, bound in (("AutoARIMA", 0.2), ("AutoETS", 0.2), ("AutoTheta", 0.6)):  # Theta halves the trend
        forecast = BASELINES[name](y[:60], 12, 12)
        assert np.abs(forecast - y[60:]).mean() < bound, name  # seasonal naive is off by ~1.2


def test_statsforecast_baselines_on_a_panel_keep_the_series_order():
    values = [_seasonal_series(60, 1), 50 + _seasonal_series(48, 2)]  # the second one lies ~50 higher
    panel = Panel(["b", "a"], [np.arange(60.0), np.arange(48.0)], values, 12)
    out = statsforecast_baselines(panel, 6)
    assert set(out) == set(STATS_MODELS) and all(v.shape == (2, 6) for v in out.values())
    assert np.allclose(out["SeasonalNaive"][0], values[0][48:54]) and np.allclose(out["Naive"][1], values[1][-1])
    assert out["AutoETS"][1].min() > out["AutoETS"][0].max() + 30  # rows stay with their series
