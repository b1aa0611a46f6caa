"""rnnkit.tasks.baselines: hand-computed baselines and accuracy measures, and ARIMA/ETS on a clean series."""

import numpy as np
import pytest

from rnnkit.tasks.baselines import arima, ets, integrate, mase_scale, metrics, naive, seasonal_naive


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


def test_integrate_inverts_regular_and_seasonal_differences():
    rng = np.random.default_rng(1)
    y = np.cumsum(rng.normal(size=40)) + np.tile(np.arange(4.0), 10)
    w = np.diff(y[4:] - y[:-4])  # (1 - B)(1 - B^4) y, aligned to y[5:]
    assert np.allclose(integrate(w[-6:], y[:-6], d=1, D=1, m=4), y[-6:])


def test_arima_and_ets_forecast_a_clean_seasonal_series():
    t = np.arange(72.0)
    y = 10 + 0.1 * t + 2 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.05, 72)
    for method in (arima, ets):
        forecast = method(y[:60], 12, 12)
        assert np.abs(forecast - y[60:]).mean() < 0.2, method.__name__  # seasonal naive is off by ~1.2
