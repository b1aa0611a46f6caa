"""Forecast accuracy measures and the classical baselines an RNN forecaster must beat.

Each baseline maps a history y_1..y_n (everything before the forecast origin) to forecasts
ŷ_{n+1..n+H}. Shape letters: n = history length, H = horizon, m = seasonal period.
"""

from __future__ import annotations

import os
import warnings

import numpy as np

# statsmodels' state-space fits make thousands of tiny LAPACK calls (a Lyapunov solve per likelihood
# evaluation); threaded BLAS made them ~15x slower on a busy 2-core machine. Takes effect when SciPy's
# BLAS is loaded after this import (statsmodels is imported lazily below); a user's setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


# ------------------------------------------------------------------------------------------------
# accuracy measures, e = y - ŷ over all forecast points
def mase_scale(train: np.ndarray, m: int) -> float:
    """MASE denominator: the in-sample MAE of the seasonal naive forecast on the training part,
    mean |y_t - y_{t-m}| (m = 1, the naive forecast, when the part is shorter than 2m)."""
    m = m if len(train) > 2 * m else 1
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def metrics(y: np.ndarray, yhat: np.ndarray, scale: float) -> dict[str, float]:
    """MAE, RMSE, sMAPE % = 100 mean(2|e| / (|y| + |ŷ|)) (0 where both are 0), MASE = MAE / scale,
    MAPE % = 100 mean |e / y| (NaN if some y = 0)."""
    e = y - yhat
    denom = np.abs(y) + np.abs(yhat)
    smape = np.where(denom > 0, 2 * np.abs(e) / np.where(denom > 0, denom, 1), 0.0)
    mape = float(100 * np.mean(np.abs(e / y))) if np.all(y != 0) else float("nan")
    mae = float(np.mean(np.abs(e)))
    return {"MAE": mae, "RMSE": float(np.sqrt(np.mean(e ** 2))), "sMAPE": float(100 * np.mean(smape)),
            "MASE": mae / scale if scale > 0 else float("nan"), "MAPE": mape}


# ------------------------------------------------------------------------------------------------
def naive(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """ŷ_{n+h} = y_n."""
    return np.full(horizon, history[-1], dtype=float)


def seasonal_naive(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """ŷ_{n+h} = y_{n+h-m·k}, k = ceil(h/m): the value one season earlier (m = 1: naive)."""
    h = np.arange(1, horizon + 1)
    return history[len(history) + h - m * np.ceil(h / m).astype(int) - 1].astype(float)


def _seasonal(m: int, n: int, longest: int = 24) -> bool:
    """Whether a statistical model gets a seasonal part: 1 < m <= longest and two full seasons."""
    return 1 < m <= longest and n >= 2 * m


def arima_orders(history: np.ndarray, m: int) -> tuple[int, int]:
    """(d, D) as auto.arima chooses them: D = 1 when the STL seasonal strength
    1 - Var(R) / Var(S + R) exceeds 0.64; then d = 1 while the KPSS test rejects stationarity at 5%."""
    from statsmodels.tsa.seasonal import STL
    from statsmodels.tsa.stattools import kpss

    D = 0
    y = history
    if _seasonal(m, len(history)):
        fit = STL(history, period=m).fit()
        strength = 1 - np.var(fit.resid) / np.var(fit.seasonal + fit.resid)
        if strength > 0.64:
            D, y = 1, history[m:] - history[:-m]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kpss warns when its p-value is outside its table
        d = int(kpss(y, nlags="auto")[1] < 0.05)
    return d, D


def arima(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """Seasonal ARIMA(p,d,q)(P,D,Q)_m fitted by maximum likelihood (statsmodels SARIMAX) on the
    differenced series w = (1-B)^d (1-B^m)^D y, forecasts integrated back. (d, D) from
    `arima_orders`; then, by AICc, (p, q) with p <= 2, q <= 1, then (P, Q) in (0,0), (1,0), (0,1)
    (a small stepwise auto.arima; a seasonal part only when 1 < m <= 24)."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    d, D = arima_orders(history, m)
    s = m if _seasonal(m, len(history)) else 0

    def fit(p, q, P, Q):
        model = SARIMAX(history, order=(p, d, q), seasonal_order=(P, D if s else 0, Q, s),
                        trend="c" if d + D == 0 else "n", simple_differencing=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence and start-parameter warnings
            try:
                res = model.fit(disp=False, cov_type="none")
            except (np.linalg.LinAlgError, ValueError):
                return None, np.inf
        return res, res.aicc if np.isfinite(res.aicc) else np.inf

    (p, q), (res, aicc) = min((((p, q), fit(p, q, 0, 0)) for p in range(3) for q in range(2)),
                              key=lambda c: c[1][1])
    for P, Q in ((1, 0), (0, 1)) if s else ():
        cand = fit(p, q, P, Q)
        if cand[1] < aicc:
            res, aicc = cand
    if res is None:
        raise RuntimeError("no ARIMA model could be fitted")
    return integrate(np.asarray(res.forecast(horizon), dtype=float), history, d, D, s)


def integrate(w: np.ndarray, history: np.ndarray, d: int, D: int, m: int) -> np.ndarray:
    """Forecasts y of the differenced forecasts w = (1-B)^d (1-B^m)^D y that follow `history`:
    with c the coefficients of that polynomial in B, y_t = w_t - sum_{k>=1} c_k y_{t-k}."""
    c = np.array([1.0])
    for _ in range(d):
        c = np.polymul(c, [1.0, -1.0])
    for _ in range(D if m else 0):
        c = np.polymul(c, np.r_[1.0, np.zeros(m - 1), -1.0])
    y = list(history)
    for wt in w:
        y.append(wt - sum(c[k] * y[-k] for k in range(1, len(c))))
    return np.array(y[len(history):])


def ets(history: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """Holt-Winters exponential smoothing (statsmodels): additive damped trend, additive season when
    1 < m <= 52 (weekly data included), parameters by least squares."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = _seasonal(m, len(history), longest=52)
    model = ExponentialSmoothing(history, trend="add", damped_trend=True, seasonal="add" if seasonal else None,
                                 seasonal_periods=m if seasonal else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(model.fit().forecast(horizon), dtype=float)


BASELINES = {"naive": naive, "seasonal naive": seasonal_naive, "ARIMA": arima, "ETS": ets}
