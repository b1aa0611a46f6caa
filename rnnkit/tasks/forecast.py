"""Time-series forecasting with a recurrent network: the model and its output heads, the task for the
trainer, forecasts (direct and autoregressive), intervals, evaluation beside baselines, anomalies.

Shape letters: B = windows in a batch, T = L = lookback steps, F = input features (target +
covariates), D = hidden size, S = output steps (H for the direct strategy, 1 for the recursive
one), K = outputs per step (1 mse, 2 gaussian, 3 quantile), H = horizon, W = forecast origins.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnkit.data.series import (
    Scaler,
    Series,
    SeriesError,
    SeriesWarning,
    Split,
    anchor_index,
    chronological_split,
    fill_missing,
    load_example,
    read_csv,
    windows,
)
from rnnkit.tasks import baselines
from rnnkit.tasks.base import LAYERS, RecurrentConfig, build_recurrent, checkpoint_dir
from rnnkit.train import checkpoint
from rnnkit.train.config import check_choice
from rnnkit.train.task import Batch, share

HEADS = {"mse": 1, "gaussian": 2, "quantile": 3}


@dataclass
class ForecastConfig:
    """The series, its split and scaling, and the forecasting model."""

    csv: str = ""
    """A CSV file with a header row (or give `dataset`)."""
    dataset: str = ""
    """An example series shipped with statsmodels: sunspots | co2 | nile | elec_equip."""
    time_col: str = ""
    """The CSV's time column (dates or numbers)."""
    target_col: str = ""
    """The CSV's column to forecast."""
    covariates: str = ""
    """Comma-separated column names, fed as inputs beside the target."""
    horizon: int = 12
    """H steps forecast from each origin."""
    lookback: int = 36
    """L past steps the network reads before forecasting."""
    season: int = 0
    """Seasonal period m (seasonal naive, MASE, ARIMA/ETS); 0 = from the time step."""
    val_size: int = 0
    """Last points before the test part; 0 = max(horizon, 10% of the series)."""
    test_size: int = 0
    """Held-out tail; 0 = horizon (one forecast from one origin)."""
    max_missing: float = 0.2
    """Largest fraction of missing values interpolated; more is an error."""
    scaler: str = "standard"
    """standard | minmax, fitted on the training part only."""
    cell: str = "lstm"
    """Recurrent cell: lstm | gru | rnn."""
    hidden_size: int = 64
    """Units per layer (H)."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout between recurrent layers."""
    head: str = "mse"
    """mse (identity output) | gaussian (mean, log sd) | quantile (pinball loss)."""
    strategy: str = "direct"
    """direct: H outputs at once | recursive: 1 output, rolled out H times."""
    anchor: str = "seasonal"
    """The network predicts the offset from: none | last (naive) | seasonal (naive)."""
    level: float = 0.9
    """Central coverage of the prediction intervals."""
    batch_size: int = 32
    """Windows per update."""

    def __post_init__(self) -> None:
        check_choice("scaler", self.scaler, ("standard", "minmax"))
        check_choice("cell", self.cell, tuple(LAYERS))
        check_choice("head", self.head, tuple(HEADS))
        check_choice("strategy", self.strategy, ("direct", "recursive"))
        check_choice("anchor", self.anchor, ("none", "last", "seasonal"))
        for name in ("horizon", "lookback", "hidden_size", "num_layers", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("season", "val_size", "test_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.level < 1 or not 0 <= self.max_missing < 1 or not 0 <= self.dropout < 1:
            raise ValueError("level must be in (0, 1), max_missing and dropout in [0, 1)")

    @property
    def covariate_list(self) -> list[str]:
        return [c.strip() for c in self.covariates.split(",") if c.strip()]

    @property
    def steps(self) -> int:
        """S: outputs per forecast of the network."""
        return self.horizon if self.strategy == "direct" else 1


@dataclass
class Prepared:
    """A series made ready for the network: split, gaps filled per part, scaled (z, fitted on train)."""

    series: Series
    split: Split
    x: np.ndarray  # (N, F) filled features in data units
    z: np.ndarray  # (N, F) scaled
    scaler: Scaler
    season: int
    anchor_m: int  # the anchor's period: m (seasonal), 1 (last), 0 (none)
    steps: int  # S: outputs per forecast of the network

    @property
    def inputs(self) -> np.ndarray:
        """(N, F + S): z, then the S anchors of each step (see `anchors`), the network's inputs."""
        return np.column_stack([self.z, anchors(self.z[:, 0], np.arange(len(self.z)), self.steps, self.anchor_m)])

    @property
    def y(self) -> np.ndarray:
        """(N,) the filled target in data units."""
        return self.x[:, 0]


def prepare(cfg: ForecastConfig, scaler: Scaler | None = None) -> Prepared:
    """Loads, splits, fills and scales the series of `cfg`; `scaler` reuses a fitted one (prediction)."""
    if bool(cfg.csv) == bool(cfg.dataset):
        raise ValueError("give exactly one of --csv FILE or --dataset NAME")
    if cfg.csv and not (cfg.time_col and cfg.target_col):
        raise ValueError("--csv needs --time-col and --target-col")
    if cfg.dataset:
        series = load_example(cfg.dataset)
        if cfg.covariates:
            raise SeriesError("the example datasets have no covariates")
    else:
        series = read_csv(cfg.csv, cfg.time_col, cfg.target_col, cfg.covariate_list)
    n = len(series)
    test = cfg.test_size or cfg.horizon
    val = cfg.val_size or max(cfg.horizon, n // 10)
    split = chronological_split(n, val, test, cfg.lookback + cfg.horizon)
    x = fill_missing(series.features, split, cfg.max_missing, series.target)
    scaler = scaler or Scaler.fit(x[: split.train_end], cfg.scaler)
    m = cfg.season or series.season
    anchor_m = {"none": 0, "last": 1, "seasonal": m}[cfg.anchor]
    return Prepared(series, split, x, scaler.transform(x), scaler, m, anchor_m, cfg.steps)


def anchors(y: np.ndarray, t: np.ndarray, steps: int, m: int) -> np.ndarray:
    """(len(t), S) forecasts of y[t+1..t+S] that the network's outputs are offsets from: the seasonal
    naive forecast with period m (m = 1: the last value y[t]; m = 0: zeros). Only y[<= t] is read."""
    if m == 0:
        return np.zeros((len(t), steps))
    return y[anchor_index(t, steps, m)]


# ------------------------------------------------------------------------------------------------
class ForecastNet(nn.Module):
    """Recurrent layers read a window of L steps of F features; at every step a linear head gives
    the next S values of the scaled target, K numbers each, as offsets from the S anchors that
    follow the features in the input (the seasonal naive forecast by default; zeros for none):

    - mse: the value (identity output), loss (ŷ - y)²;
    - gaussian: mean μ and log σ, loss the negative log-likelihood log σ + (y - μ)² / 2σ² (+ const);
    - quantile: the (1-level)/2, 0.5 and (1+level)/2 quantiles, loss the pinball loss
      max(q e, (q - 1) e), e = y - ŷ_q.
    """

    quantiles: torch.Tensor  # a buffer, registered in __init__

    def __init__(self, n_features: int, cfg: ForecastConfig):
        super().__init__()
        self.head_kind, self.steps, self.k = cfg.head, cfg.steps, HEADS[cfg.head]
        self.n_features = n_features
        self.rnn = build_recurrent(
            RecurrentConfig(cell=cfg.cell, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.dropout),
            n_features,
        )
        self.head = nn.Linear(cfg.hidden_size, self.steps * self.k)
        nn.init.zeros_(self.head.weight)  # training starts from the anchor forecast (and sd 1)
        nn.init.zeros_(self.head.bias)
        alpha = (1 - cfg.level) / 2
        self.register_buffer("quantiles", torch.tensor([alpha, 0.5, 1 - alpha]), persistent=False)
        self.z = math.sqrt(2) * torch.erfinv(torch.tensor(cfg.level)).item()  # normal quantile of the level

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, state=None):
        """(outputs (B, T, S, K), mean loss over the finite targets of y (B, T, S) or None, state)
        for inputs x (B, T, F + S): features, then anchors."""
        out, state = self.rnn(x[..., : self.n_features], state)  # (B, T, D)
        p = self.head(out).unflatten(-1, (self.steps, self.k))  # (B, T, S, K)
        anchor = x[..., self.n_features :]  # (B, T, S): added to the values (not to log sd)
        p = p + (
            anchor.unsqueeze(-1)
            if self.head_kind != "gaussian"
            else torch.stack([anchor, torch.zeros_like(anchor)], -1)
        )
        return p, None if y is None else self.loss(p, y), state

    def loss(self, p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mask = torch.isfinite(y)  # NaN targets (steps not scored) are left out
        y = torch.where(mask, y, torch.zeros_like(y))
        if self.head_kind == "mse":
            per = (p[..., 0] - y) ** 2
        elif self.head_kind == "gaussian":
            log_sd = p[..., 1].clamp(-7, 7)
            per = log_sd + 0.5 * ((y - p[..., 0]) * torch.exp(-log_sd)) ** 2
        else:
            e = y.unsqueeze(-1) - p  # (B, T, S, 3)
            per = torch.maximum(self.quantiles * e, (self.quantiles - 1) * e).mean(-1)
        return per[mask].mean()

    def point(self, p: torch.Tensor) -> torch.Tensor:
        """The point forecast of outputs p (..., K): the value, the mean, or the median."""
        return p[..., 1] if self.head_kind == "quantile" else p[..., 0]

    def bounds(self, p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(lower, upper) of the head's central interval, or None for the mse head."""
        if self.head_kind == "gaussian":
            sd = torch.exp(p[..., 1].clamp(-7, 7))
            return p[..., 0] - self.z * sd, p[..., 0] + self.z * sd
        if self.head_kind == "quantile":
            q = p.sort(-1).values  # no crossing quantiles
            return q[..., 0], q[..., 2]
        return None


# ------------------------------------------------------------------------------------------------
class ForecastTask:
    """Windows of a series for the trainer (see rnnkit.train.task.Task).

    Training windows end at every origin e with L <= e and e + S <= train_end, and are scored at
    every step (each step forecasts its next S values). Validation and test windows end at every
    origin of their part with all S targets inside it, and are scored at their last step only.
    """

    def __init__(self, cfg: ForecastConfig, seed: int = 0):
        self.cfg, self.seed = cfg, seed
        self.data = prepare(cfg)
        L, S, sp = cfg.lookback, cfg.steps, self.data.split
        train = self._tensors(np.arange(L, sp.train_end - S + 1), 0)
        assert train is not None, "the training part holds no window"
        self.train_x, self.train_y = train
        self.eval_sets = {
            part: self._tensors(np.arange(max(lo, L), hi - S + 1), 1)
            for part in ("val", "test")
            for lo, hi in [sp.bounds(part)]
        }
        self.model = ForecastNet(self.data.z.shape[1], cfg)

    def _tensors(self, ends: np.ndarray, scored: int):
        """(x, y) windows ending at `ends`; targets of all but the last `scored` steps (0: all) are NaN."""
        if len(ends) == 0:
            return None
        x, y = windows(self.data.inputs, ends, self.cfg.lookback, self.cfg.steps)
        if scored:
            y[:, :-scored] = np.nan
        return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)

    def train_batches(self, epoch: int, rank: int, world: int):
        """The training windows shuffled by (seed, epoch), in batches; each rank takes its share of each."""
        order = torch.randperm(len(self.train_x), generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
        shares = [share(b.tolist(), rank, world) for b in order.split(self.cfg.batch_size)]
        return [Batch(self.train_x[i], self.train_y[i], count=None if counted else 0) for i, counted in shares]

    def eval_batches(self, split: str):
        pair = self.eval_sets.get(split)
        if pair is None:
            return []
        return [Batch(x, y) for x, y in zip(pair[0].split(256), pair[1].split(256))]

    def meta(self) -> dict:
        return {
            "task": "forecast",
            "forecast": dataclasses.asdict(self.cfg),
            "scaler": self.data.scaler.to_json(),
            "n_features": int(self.data.z.shape[1]),
        }


# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def forecast(model: ForecastNet, data: Prepared, origins: np.ndarray, horizon: int, lookback: int):
    """Forecasts of the next `horizon` values after each origin e (from z[e-L:e]), in data units.

    Returns (point (W, H), lower (W, H), upper (W, H)); lower/upper are None unless the head gives
    intervals directly (gaussian/quantile heads with the direct strategy). The recursive strategy
    feeds each one-step point forecast back as the next input; its covariates are read from the
    data, so they must be known up to e + H - 1.
    """
    if 1 < model.steps < horizon:
        raise ValueError(f"the model forecasts {model.steps} steps directly; {horizon} asked")
    model.eval()
    inputs = torch.tensor(data.inputs, dtype=torch.float32)  # (N, F + S)
    x = torch.stack([inputs[e - lookback : e] for e in origins])  # (W, L, F + S)
    p, _, state = model(x)
    if model.steps > 1 or horizon == 1:
        p = p[:, -1, :horizon]  # (W, H, K)
    else:
        n, F = len(inputs), model.n_features
        if F > 1 and max(origins) + horizon - 1 > n:
            raise SeriesError(
                "the recursive strategy needs the covariates' future values; they end at "
                f"{n} points (use --strategy direct to forecast past the data)"
            )
        # buf: the scaled target, forecasts written past each origin as they are made
        buf = np.tile(np.r_[data.z[:, 0], np.zeros(horizon)], (len(origins), 1))  # (W, N + H)
        outs = [p[:, -1, 0]]  # (W, K) per step
        for h in range(1, horizon):
            t = np.asarray(origins) + h - 1  # the time of the new input step
            buf[np.arange(len(origins)), t] = model.point(outs[-1]).numpy()
            step = torch.zeros(len(origins), F + 1)
            step[:, 1:F] = inputs[t, 1:F]
            step[:, 0] = torch.tensor(buf[np.arange(len(origins)), t])
            if data.anchor_m:
                step[:, F] = torch.tensor(buf[np.arange(len(origins)), anchor_index(t, 1, data.anchor_m)[:, 0]])
            q, _, state = model(step[:, None], None, state)
            outs.append(q[:, -1, 0])
        p = torch.stack(outs, 1)  # (W, H, K)
    inv = lambda t: data.scaler.inverse(t.numpy().astype(float))
    bounds = model.bounds(p) if model.steps > 1 or horizon == 1 else None
    return inv(model.point(p)), *(tuple(map(inv, bounds)) if bounds else (None, None))


def origins_of(data: Prepared, part: str, horizon: int, lookback: int, stride: int) -> np.ndarray:
    """Forecast origins e in a part with all H targets inside it, `stride` apart from its start."""
    lo, hi = data.split.bounds(part)
    return np.arange(max(lo, lookback), hi - horizon + 1, stride)


def calibrate(model: ForecastNet, data: Prepared, cfg: ForecastConfig) -> dict:
    """What intervals and anomaly flags need from the validation part (data units):

    - `interval_halfwidth`: the `level` quantile of |y - ŷ| over every H-step forecast from every
      validation origin (split-conformal intervals, used when the head gives none);
    - `residual_median` and `residual_sd` = 1.4826 · MAD of the one-step-ahead residuals (their
      standard deviation if the MAD is 0), the robust scale that anomaly thresholds are multiples of.
    """
    H, L = cfg.horizon, cfg.lookback
    orig = origins_of(data, "val", H, L, 1)
    point, _, _ = forecast(model, data, orig, H, L)
    truth = np.stack([data.y[e : e + H] for e in orig])
    one = origins_of(data, "val", 1, L, 1)
    r = data.y[one] - forecast(model, data, one, 1, L)[0][:, 0]
    med = float(np.median(r))
    sd = 1.4826 * np.median(np.abs(r - med)) or np.std(r)
    return {
        "interval_halfwidth": float(np.quantile(np.abs(truth - point), cfg.level)),
        "residual_median": med,
        "residual_sd": float(sd),
        "val_origins": len(orig),
        "val_points": len(one),
    }


def save_calibration(run_dir: str | Path, calib: dict) -> None:
    """Writes run_dir/calibration.json atomically (temporary file, then rename)."""
    path = Path(run_dir) / "calibration.json"
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(calib, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def load_forecaster(run: str | Path, **overrides) -> tuple[ForecastNet, ForecastConfig, Prepared, dict]:
    """The best model of a forecast run, its config (with `overrides`, e.g. another csv), the data
    prepared with the run's scaler, and the run's calibration."""
    run = Path(run)
    path = checkpoint_dir(run)
    meta = checkpoint.read_state(path, task="forecast")["meta"]
    saved = meta.get("forecast")
    cfg = checkpoint.settings(ForecastConfig, {**saved, **overrides} if isinstance(saved, dict) else saved, path)
    data = prepare(cfg, Scaler.from_json(meta["scaler"]))
    if data.z.shape[1] != meta["n_features"]:
        raise SeriesError(f"the model reads {meta['n_features']} features per step; the data gives {data.z.shape[1]}")
    model = ForecastNet(meta["n_features"], cfg)
    checkpoint.load(path, model)
    calib_path = (run if (run / "calibration.json").exists() else path.parent) / "calibration.json"
    if not calib_path.exists():
        raise checkpoint.CheckpointError(f"{calib_path} is missing: the run did not finish training")
    return model, cfg, data, json.loads(calib_path.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------
def evaluate(model: ForecastNet, data: Prepared, cfg: ForecastConfig, methods=tuple(baselines.BASELINES)):
    """MAE, RMSE, sMAPE, MASE, MAPE of the model and of `methods` (baseline names) on the test part.

    Origins are the test part's start and every H steps after it with H values left (one origin
    when test_size = H). Baselines are fitted on all the data before each origin; MASE is scaled by
    the seasonal naive in-sample MAE on the training part. Returns ({method: metrics}, forecasts).
    """
    H, L, m = cfg.horizon, cfg.lookback, data.season
    orig = origins_of(data, "test", H, L, H)
    if len(orig) == 0:
        raise SeriesError(f"the test part has fewer than --horizon {H} points")
    truth = np.stack([data.y[e : e + H] for e in orig])
    preds = {f"rnnkit {cfg.cell.upper()}": forecast(model, data, orig, H, L)[0]}
    for name in methods:
        try:
            preds[name] = np.stack([baselines.BASELINES[name](data.y[:e], H, m) for e in orig])
        except (RuntimeError, ValueError, np.linalg.LinAlgError) as err:  # statsmodels could not fit
            warnings.warn(f"baseline {name} left out: {err}", SeriesWarning, stacklevel=2)
    scale = baselines.mase_scale(data.y[: data.split.train_end], m)
    return {k: baselines.metrics(truth.ravel(), v.ravel(), scale) for k, v in preds.items()}, preds


def metrics_table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per method, the lowest MASE in bold."""
    cols = ["MAE", "RMSE", "sMAPE", "MASE", "MAPE"]
    best = min(results, key=lambda k: results[k]["MASE"])
    rows = ["| method | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, r in results.items():
        cells = [f"{r[c]:.3f}" if c == "MASE" else f"{r[c]:.2f}" for c in cols]
        rows.append(f"| {'**' + name + '**' if name == best else name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


# ------------------------------------------------------------------------------------------------
def predict(model: ForecastNet, data: Prepared, cfg: ForecastConfig, calib: dict, origin: str):
    """One H-step forecast with intervals from the test part's start (`origin="test"`, truth known)
    or after the last point (`origin="end"`). Returns (e, rows (time, forecast, lower, upper, truth))."""
    H, L = cfg.horizon, cfg.lookback
    e = data.split.val_end if origin == "test" else len(data.y)
    point, lower, upper = forecast(model, data, np.array([e]), H, L)
    if lower is None or upper is None:  # both None, or both given
        half = calib["interval_halfwidth"]
        lower, upper = point - half, point + half
    n_true = min(H, len(data.y) - e)
    times = data.series.time_strings(slice(e, e + n_true)) + _time_strings(
        data.series, data.series.future_times(H - n_true)
    )
    truth = list(data.y[e : e + n_true]) + [float("nan")] * (H - n_true)
    return e, [
        (t, float(p), float(lo), float(hi), float(y))
        for t, p, lo, hi, y in zip(times, point[0], lower[0], upper[0], truth)
    ]


def _time_strings(series: Series, times: np.ndarray) -> list[str]:
    return dataclasses.replace(series, times=np.asarray(times)).time_strings() if len(times) else []


def anomalies(model: ForecastNet, data: Prepared, cfg: ForecastConfig, calib: dict, k: float):
    """One-step-ahead forecasts at every point with L points before it; a point is an anomaly when
    |r - median| > k · sd, r = y - ŷ, median and sd (1.4826 · MAD) from the validation residuals.
    Returns rows (time, value, forecast, residual, threshold, is_anomaly)."""
    L = cfg.lookback
    orig = np.arange(L, len(data.y))
    point = forecast(model, data, orig, 1, L)[0][:, 0]
    r = data.y[orig] - point
    threshold = k * calib["residual_sd"]
    flags = np.abs(r - calib["residual_median"]) > threshold
    times = data.series.time_strings(slice(L, None))
    return [
        (t, float(y), float(p), float(res), threshold, bool(f))
        for t, y, p, res, f in zip(times, data.y[orig], point, r, flags)
    ]


def write_csv(path: str | Path, header: list[str], rows: list[tuple]) -> None:
    """Rows as CSV (floats with 6 significant digits, NaN as an empty cell)."""

    def cell(v):
        if isinstance(v, bool):
            return str(int(v))
        if isinstance(v, float):
            return "" if math.isnan(v) else f"{v:.6g}"
        return str(v)

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        "\n".join([",".join(header)] + [",".join(map(cell, r)) for r in rows]) + "\n", encoding="utf-8"
    )


def plot_forecast(path: str | Path, data: Prepared, e: int, rows: list[tuple], level: float, title: str) -> None:
    """History (up to 4 horizons before origin e), the forecast with its interval, and the truth."""
    plt = _pyplot()
    n_hist = min(e, 4 * len(rows))
    xs_hist = np.arange(e - n_hist, e)
    xs = np.arange(e, e + len(rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(xs_hist, data.y[e - n_hist : e], color="black", label="history")
    ax.fill_between(xs, [r[2] for r in rows], [r[3] for r in rows], alpha=0.25, label=f"{level:.0%} interval")
    ax.plot(xs, [r[1] for r in rows], color="C0", label="forecast")
    if not all(math.isnan(r[4]) for r in rows):
        ax.plot(xs, [r[4] for r in rows], color="C1", linestyle="--", label="truth")
    _finish(
        plt,
        fig,
        ax,
        path,
        title,
        data,
        np.r_[xs_hist, xs],
        [*data.series.time_strings(slice(e - n_hist, e)), *[r[0] for r in rows]],
    )


def plot_anomalies(path: str | Path, data: Prepared, rows: list[tuple], title: str) -> None:
    """The series, its one-step forecast with the ±threshold band, and the flagged points."""
    plt = _pyplot()
    xs = np.arange(len(data.y) - len(rows), len(data.y))
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(xs, [r[1] for r in rows], color="black", linewidth=1, label="series")
    fc = np.array([r[2] for r in rows])
    ax.fill_between(xs, fc - rows[0][4], fc + rows[0][4], alpha=0.25, color="C0", label="forecast ± threshold")
    flagged = [(x, r[1]) for x, r in zip(xs, rows) if r[5]]
    if flagged:
        ax.scatter(*zip(*flagged), color="red", zorder=3, s=18, label=f"anomalies ({len(flagged)})")
    _finish(plt, fig, ax, path, title, data, xs, [r[0] for r in rows])


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(plt, fig, ax, path, title, data, xs, labels) -> None:
    """Time labels on the x axis, title, legend; saves the PNG and closes the figure."""
    ticks = np.linspace(0, len(xs) - 1, min(8, len(xs))).astype(int)
    ax.set_xticks(xs[ticks], [labels[i] for i in ticks], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(data.series.target)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# The trainer defaults of a forecast run, under the user's TOML and flags: small series, so many short
# epochs with early stopping.
TRAIN_DEFAULTS = {
    "max_epochs": "200",
    "patience": "20",
    "lr": "0.003",
    "log_every": "50",
    "ckpt_every": "0",
    "run_dir": "runs/forecast",
    "clip_norm": "1",
    "threads": "1",
}  # small models: one thread is fastest, more only contend
