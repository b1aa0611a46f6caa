"""One recurrent forecaster trained across many series (a global model), with a pandas API close to
statsforecast's and neuralforecast's: `Forecaster(h=...).fit(df)` on a long table (unique_id, ds, y),
`predict()` with intervals, `evaluate(test)`, `save(dir)` / `load(dir)`.

How a forecast is made (Smyl 2020, N-BEATS, DeepAR): each series is mapped to u = log x minus
its multiplicative seasonal indices (a per-series `Transform` fitted on its own training part); a
window of the last L values of u, minus its level (the mean of its last season), is read by an
LSTM with calendar features and an observed-mask, padded on the left when the series is short; a
linear head on the last hidden state gives all H future values at once (MIMO), trained with the L1
loss on windows sampled lazily (a series uniformly, then an origin in it). The forecast is the
mean in u (for a positive series a geometric mean) over an ensemble of seeds x lookbacks. A
rolling-origin backtest on the training part picks the number of updates, calibrates the intervals
(residual quantiles per step) and tells which series the network loses on against the seasonal
naive forecast. With `esrnn=True` the fixed
seasonal indices and window level give way to ES-RNN's per-series Holt-Winters smoothing, whose
coefficients and initial seasonality are learned jointly with the network (`ESSmoothing`).

Several processes (`fit` in processes started by torchrun, `rnnkit forecast train --id-col ... --nproc
N`) fit what one process fits (to float rounding), and every process ends with the same forecaster.
The backtest member, whose checks choose the number of updates of the others, trains data parallel:
every process draws the same global batch of windows and trains on its share under torch DDP, and
forecasts its share of the backtest's rows at each check. The other members are independent: each
process trains every N-th of them on its own, and they are then copied to every process.

Shape letters: S = series, B = windows in a batch, L = lookback, H = horizon, F = features per step,
D = hidden size, W = backtest windows per series, M = ensemble members.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rnnkit.data.panel import Panel, Transform, from_frame
from rnnkit.data.series import SeriesError
from rnnkit.tasks import baselines
from rnnkit.tasks.base import LAYERS, RecurrentConfig, build_recurrent
from rnnkit.train import distributed
from rnnkit.train.config import check_choice
from rnnkit.train.task import share


@dataclass
class ForecasterConfig:
    """A global recurrent forecaster and how it is trained and checked."""

    horizon: int = 12
    """H: steps forecast after each series' end."""
    season: int = 0
    """Seasonal period m; 0 = from the time step (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24)."""
    lookbacks: str = ""
    """Comma-separated window lengths L, one ensemble group each; "" = 1.5·H and 3·H (at least 2 seasons)."""
    seeds: int = 3
    """Ensemble members per lookback; the forecast is their mean in u (log units for a positive series)."""
    cell: str = "lstm"
    """lstm | gru | rnn."""
    hidden_size: int = 48
    """D: units per recurrent layer."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    embedding: int = 0
    """Size of a learned per-series embedding fed at every step (0 = none)."""
    esrnn: bool = False
    """ES-RNN: per-series level and seasonality smoothing coefficients learned with the network."""
    scale_weight: float = 1.0
    """Exponent p of each series' loss weight (level / in-sample seasonal-naive MAE)^p: 0 = the L1 loss
    on log values (relative errors, like sMAPE), 1 = errors as MASE counts them."""
    batch_size: int = 256
    """Windows per update (series drawn uniformly, then an origin in each)."""
    lr: float = 0.002
    """Adam learning rate (halved over the last third of the updates)."""
    max_steps: int = 3000
    """Most updates per ensemble member; the backtest picks the number used."""
    eval_every: int = 100
    """Updates between backtest checks while choosing the number of updates."""
    patience: int = 8
    """Checks without improvement before stopping."""
    backtest_windows: int = 3
    """Rolling origins per series in the backtest on the training part (fewer when a series is short)."""
    backtest_stride: int = 0
    """Steps between backtest origins; 0 = max(1, H // 3)."""
    level: float = 0.9
    """Central coverage of the prediction intervals."""
    time_budget: float = 0.0
    """CPU seconds of training for all members together (0 = no limit), each member its share: process
    time, not wall time, so a machine loaded by other jobs does not cut training short. In N processes:
    each process's CPU time (the backtest member stops in all once one process has spent its share)."""
    threads: int = 1
    """torch threads (small models: one thread is fastest)."""
    seed: int = 0
    """First seed of the ensemble."""

    def __post_init__(self) -> None:
        check_choice("cell", self.cell, tuple(LAYERS))
        for name in (
            "horizon",
            "seeds",
            "hidden_size",
            "num_layers",
            "batch_size",
            "max_steps",
            "eval_every",
            "patience",
            "backtest_windows",
            "threads",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("season", "embedding", "backtest_stride"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.level < 1 or self.lr <= 0 or self.time_budget < 0:
            raise ValueError("level must be in (0, 1), lr > 0, time_budget >= 0")
        self.lookback_list  # noqa: B018 (parses)

    @property
    def lookback_list(self) -> list[int]:
        if not self.lookbacks.strip():
            return []
        try:
            out = [int(s) for s in self.lookbacks.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"lookbacks must be comma-separated integers, got {self.lookbacks!r}") from None
        if not out or min(out) < 1:
            raise ValueError(f"lookbacks must be >= 1, got {self.lookbacks!r}")
        return out

    def resolved_lookbacks(self, m: int) -> list[int]:
        return self.lookback_list or sorted({max(2 * m, math.ceil(1.5 * self.horizon)), max(2 * m, 3 * self.horizon)})


# ------------------------------------------------------------------------------------------------
class Windows:
    """The transformed series u of a panel in one left-padded (S, P + T + H) array (NaN outside the
    data) from which windows are gathered by index: nothing per window is stored."""

    def __init__(self, panel: Panel, transform: Transform, pad: int, horizon: int, pos0: np.ndarray | None = None):
        self.m, self.pad, self.horizon = max(panel.season, 1), pad, horizon
        self.n = panel.lengths
        self.pos0 = panel.positions() if pos0 is None else pos0  # (S,) seasonal position of each first point
        self.u = np.full((len(panel), pad + int(self.n.max()) + horizon), np.nan, dtype=np.float32)
        for i, x in enumerate(panel.values):
            self.u[i, pad : pad + len(x)] = transform.forward(i, x, self.pos0[i] + np.arange(len(x)))
        self.u_t = torch.from_numpy(self.u)

    def sample(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(series, origins) of `size` training windows: a series uniformly among those with two
        points or more (each weighs the same, whatever its length), then an origin e uniformly in
        [min(m, n-1), n-1] (at least one observed target)."""
        usable = np.flatnonzero(self.n >= 2)
        sid = usable[rng.integers(0, len(usable), size)]
        lo = np.minimum(self.m, self.n[sid] - 1)
        return sid, lo + (rng.random(size) * (self.n[sid] - lo)).astype(int)

    def observed(self, sid: np.ndarray, ends: np.ndarray) -> int:
        """How many of the H targets after origins `ends` of series `sid` are observed (finite)."""
        return int(np.isfinite(self.u[sid[:, None], self.pad + ends[:, None] + np.arange(self.horizon)]).sum())

    def gather(self, sid: np.ndarray, ends: np.ndarray, span: int) -> tuple[torch.Tensor, np.ndarray]:
        """(u (B, span + H), seasonal positions (B, span + H)): the `span` values before origin
        e = ends[b] of series sid[b] and the H after it (NaN where not observed)."""
        offsets = ends[:, None] + np.arange(-span, self.horizon)
        w = self.u_t[torch.from_numpy(sid)[:, None], torch.from_numpy(self.pad + offsets)]
        return w, (self.pos0[sid][:, None] + offsets) % self.m


def window_level(w: torch.Tensor, t: np.ndarray, m: int, lookback: int, horizon: int):
    """Network inputs from windows w (B, L + H) of u: (inputs (B, L, 4) = [u - level, observed, sin, cos
    of the seasonal position], targets (B, H) = u - level (NaN where not observed), base (B, H) =
    the level, added back to the outputs). The level is the mean of the last m observed inputs."""
    x = w[:, :lookback]
    level = torch.nanmean(x[:, -min(m, lookback) :], 1)
    return (
        _features(x - level[:, None], t[:, :lookback], m),
        w[:, lookback:] - level[:, None],
        level[:, None].expand(-1, horizon),
    )


def _features(z: torch.Tensor, t: np.ndarray, m: int) -> torch.Tensor:
    obs = torch.isfinite(z)
    ang = 2 * math.pi * torch.from_numpy(t).float() / m
    return torch.stack([torch.where(obs, z, torch.zeros_like(z)), obs.float(), torch.sin(ang), torch.cos(ang)], -1)


class ESSmoothing(nn.Module):
    """Per-series Holt-Winters smoothing in log units with learned coefficients (ES-RNN, Smyl 2020):
    l_t = α (g_t - s_t) + (1 - α) l_{t-1},  s_{t+m} = γ (g_t - l_t) + (1 - γ) s_t, α = σ(a_i),
    γ = σ(c_i) and the initial seasonality s_0..s_{m-1} of series i learned with the network."""

    def __init__(self, n_series: int, m: int, season_init: np.ndarray | None = None):
        super().__init__()
        self.m = m
        self.alpha = nn.Parameter(torch.full((n_series,), -1.5))
        self.gamma = nn.Parameter(torch.full((n_series,), -2.5))
        init = torch.zeros(n_series, m) if season_init is None else torch.tensor(season_init, dtype=torch.float32)
        self.season = nn.Parameter(init)

    def forward(self, w: torch.Tensor, t: np.ndarray, sid: np.ndarray, lookback: int, horizon: int):
        """Like `window_level` for windows w (B, R + L + H) of g whose first R steps warm the
        smoothing up: inputs g - s - l_e over the last L, targets g - s - l_e, base l_e + s over
        the H future steps (the last season's indices), l_e the level at the origin."""
        sid_t = torch.from_numpy(sid)
        g = w[:, :-horizon]
        obs = torch.isfinite(g)
        first = g.gather(1, obs.float().argmax(1, keepdim=True))  # leading padding takes the first value
        g = torch.where(obs, g, first)
        alpha, gamma = torch.sigmoid(self.alpha[sid_t]), torch.sigmoid(self.gamma[sid_t])
        t_t = torch.from_numpy(t)
        seas = [self.season[sid_t, t_t[:, k]] for k in range(self.m)]  # state for positions of steps 0..m-1
        level = g[:, 0] - seas[0]
        used = []
        for j in range(g.shape[1]):
            s_j = seas[j % self.m]
            level = alpha * (g[:, j] - s_j) + (1 - alpha) * level
            seas[j % self.m] = gamma * (g[:, j] - level) + (1 - gamma) * s_j
            used.append(s_j)
        n = g.shape[1]
        s_in = torch.stack(used[-lookback:], 1)
        s_out = torch.stack([seas[(n + h) % self.m] for h in range(horizon)], 1)
        base = level[:, None] + s_out
        z = torch.where(obs[:, -lookback:], g[:, -lookback:] - s_in - level[:, None], torch.full_like(s_in, np.nan))
        return _features(z, t[:, n - lookback : n], self.m), w[:, -horizon:] - base, base


class GlobalNet(nn.Module):
    """Recurrent layers over a normalised window (B, L, 4) (+ a learned series embedding at every
    step); a linear head on the last hidden state gives the H normalised future values at once. The
    head starts at zero: before training the forecast is the window's level, re-seasonalised. With
    `esrnn`, the level and seasonality come from learned per-series smoothing (`ESSmoothing`)."""

    def __init__(
        self, cfg: ForecasterConfig, n_series: int, m: int, lookback: int, season_init: np.ndarray | None = None
    ):
        super().__init__()
        self.m, self.lookback, self.horizon = m, lookback, cfg.horizon
        self.warmup = 2 * m if cfg.esrnn else 0
        self.embed = nn.Embedding(n_series, cfg.embedding) if cfg.embedding else None
        self.es = ESSmoothing(n_series, m, season_init) if cfg.esrnn else None
        self.rnn = build_recurrent(
            RecurrentConfig(cell=cfg.cell, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, dropout=0.0),
            4 + cfg.embedding,
        )
        self.head = nn.Linear(cfg.hidden_size, cfg.horizon)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def normalise(self, win: Windows, sid: np.ndarray, ends: np.ndarray):
        """(inputs (B, L, 4), targets (B, H), base (B, H)) of the windows ending at `ends`."""
        w, t = win.gather(sid, ends, self.lookback + self.warmup)
        if self.es is not None:
            return self.es(w, t, sid, self.lookback, self.horizon)
        return window_level(w, t, self.m, self.lookback, self.horizon)

    def forward(self, x: torch.Tensor, sid: np.ndarray) -> torch.Tensor:
        if self.embed is not None:
            x = torch.cat([x, self.embed(torch.from_numpy(sid))[:, None].expand(-1, x.shape[1], -1)], -1)
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def l1_loss(pred: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, count: float) -> torch.Tensor:
    """Sum of weight_b |y - ŷ| over the observed (finite) targets of each window b, over `count` (their
    number: the weighted mean; see train_member for a share of a data-parallel batch)."""
    mask = torch.isfinite(y)
    per = (pred - torch.where(mask, y, pred.detach())).abs() * weight[:, None]
    return per.sum() / count


def scale_weights(values: list[np.ndarray], m: int, p: float) -> np.ndarray:
    """(S,) loss weights (mean |x| over the last season / in-sample seasonal-naive MAE)^p, over their
    mean, clipped to [0.05, 20]: an error in log units then counts about as in MASE (p = 1)."""
    if p == 0:
        return np.ones(len(values))
    w = (
        np.array([np.mean(np.abs(x[-m:])) / (baselines.mase_scale(x, m) or 1.0) if len(x) > 1 else 1.0 for x in values])
        ** p
    )
    w = np.where(np.isfinite(w) & (w > 0), w, 1.0)
    return np.clip(w / w.mean(), 0.05, 20)


# ------------------------------------------------------------------------------------------------
@dataclass
class Member:
    seed: int
    net: GlobalNet


def _new_net(
    cfg: ForecasterConfig, n_series: int, seed: int, m: int, lookback: int, season_init: np.ndarray | None
) -> GlobalNet:
    torch.manual_seed(seed)
    return GlobalNet(cfg, n_series, m, lookback, season_init)


def fit_transform(values: list[np.ndarray], m: int, esrnn: bool) -> tuple[Transform, np.ndarray | None]:
    """(the per-series Transform, the initial seasonality of ES-RNN's smoothing or None): with
    `esrnn` the transform keeps the seasonality (it is smoothed by the network) and its indices
    start the smoothing."""
    tr = Transform.fit(values, m)
    if not esrnn:
        return tr, None
    return Transform(tr.log, tr.scale, np.zeros_like(tr.seasonal)), tr.seasonal


def train_member(
    net: GlobalNet,
    win: Windows,
    cfg: ForecasterConfig,
    steps: int,
    seed: int,
    weight: np.ndarray,
    seconds: float = 0.0,
    check=None,
    group: tuple[int, int] = (0, 1),
) -> tuple[int, float]:
    """`steps` Adam updates on windows sampled lazily: series uniformly (among those with an origin),
    then an origin e uniformly in [min(m, n-1), n-1] (targets past the end are masked); the loss is
    `l1_loss` with the series' `weight`. `check(net)`,
    every eval_every updates, returns a validation score (lower is better); training stops after
    `patience` checks without improvement and the best weights are kept. Returns (best step, score).
    group = (rank, processes) of a data-parallel group: every process draws the same global batch and
    trains on its `share` under DDP, its loss sum over the global batch's observed targets / processes
    (DDP averages the gradients), so every process takes the update one process would take; all stop
    together (the same checks; out of time once one process has spent `seconds` of CPU time)."""
    rng = np.random.default_rng(seed)
    if not np.any(win.n >= 2):
        return 0, float("nan")
    rank, processes = group
    model = distributed.wrap(net, "cpu") if processes > 1 else net
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < 2 * steps // 3 else 0.5)
    best, best_step, best_state, bad = math.inf, 0, None, 0
    started = time.process_time()
    model.train()
    for step in range(1, steps + 1):
        sid, ends = win.sample(rng, cfg.batch_size)  # the global batch: the same in every process
        targets = win.observed(sid, ends)
        rows, counts = share(range(len(sid)), rank, processes)
        sid, ends = sid[rows], ends[rows]
        x, y, _ = net.normalise(win, sid, ends)
        loss = l1_loss(model(x, sid), y, torch.from_numpy(weight[sid]).float(), targets / processes) * float(counts)
        spent = time.process_time() - started
        if seconds and processes > 1:  # a shared decision: the most any process has spent
            spent = distributed.gather([spent], processes).max().item()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        out_of_time = seconds and spent > seconds
        if check is not None and (step % cfg.eval_every == 0 or step == steps or out_of_time):
            score = check(net)
            model.train()
            if score < best:
                best, best_step, bad = score, step, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
        if out_of_time:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    return (best_step if check is not None else step), best


@torch.no_grad()
def forecast_u(
    net: GlobalNet, win: Windows, sid: np.ndarray, ends: np.ndarray, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """(u forecasts (B, H) from origins `ends` of series `sid`, their seasonal positions (B, H))."""
    net.eval()
    outs = []
    for a in range(0, len(sid), chunk):
        x, _, base = net.normalise(win, sid[a : a + chunk], ends[a : a + chunk])
        outs.append((net(x, sid[a : a + chunk]) + base).numpy().astype(float))
    pos = (win.pos0[sid][:, None] + ends[:, None] + np.arange(win.horizon)) % win.m
    return np.concatenate(outs), pos


def _inverse_rows(transform: Transform, sid: np.ndarray, u: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Data units of u (B, H) for rows of series `sid` (rows may repeat a series)."""
    sub = Transform(transform.log[sid], transform.scale[sid], transform.seasonal[sid])
    return sub.inverse(u, pos)


# ------------------------------------------------------------------------------------------------
@dataclass
class Backtest:
    """Rolling origins on the training part: (series, origin) pairs, the truth and the forecasts."""

    sid: np.ndarray  # (B,) series of each pair
    origin: np.ndarray  # (B,) points before the origin
    truth: np.ndarray  # (B, H)
    cutoff: np.ndarray  # (S,) training length of each series in the backtest model
    scale: np.ndarray  # (B,) MASE denominator: in-sample seasonal naive MAE before the series' cutoff
    m: int

    def seasonal_naive(self, panel: Panel) -> np.ndarray:
        """(B, H) the seasonal naive forecasts from each origin."""
        H = self.truth.shape[1]
        return np.stack(
            [baselines.seasonal_naive(panel.values[i][:o], H, self.m) for i, o in zip(self.sid, self.origin)]
        )


def backtest_origins(panel: Panel, H: int, windows: int, stride: int) -> Backtest:
    """Per series, up to `windows` origins n - H - j·stride (j = 0, 1, ...) that leave at least
    max(H, 2m) training points (one origin, at n - H, when the series is shorter; none when n <= H).
    The backtest model trains on each series up to its first origin."""
    m = max(panel.season, 1)
    sids, origins, truths, cut = [], [], [], panel.lengths.copy()
    for i, x in enumerate(panel.values):
        n = len(x)
        if n <= H + 1:
            continue
        w = max(1, min(windows, 1 + (n - H - max(H, 2 * m)) // stride)) if n - H >= max(H, 2 * m) else 1
        os_ = [n - H - j * stride for j in range(w)]
        cut[i] = min(os_)
        for o in os_:
            sids.append(i)
            origins.append(o)
            truths.append(x[o : o + H])
    if not sids:
        return Backtest(np.zeros(0, int), np.zeros(0, int), np.zeros((0, H)), cut, np.zeros(0), m)
    scale = np.array([baselines.mase_scale(panel.values[i][: cut[i]], m) for i in sids])
    return Backtest(np.array(sids), np.array(origins), np.stack(truths), cut, np.where(scale > 0, scale, 1.0), m)


def smape_rows(y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """sMAPE % per row (M3 definition, see baselines.smape)."""
    return np.array([baselines.smape(a, b) for a, b in zip(y, f)])


# ------------------------------------------------------------------------------------------------
class Forecaster:
    """A global recurrent forecaster for many series.

    >>> fc = Forecaster(h=18).fit(df)          # df: unique_id, ds, y (long format)
    >>> fc.predict()                            # unique_id, ds, rnnkit, rnnkit-lo-90, rnnkit-hi-90
    >>> fc.evaluate(test_df)                    # sMAPE, MASE per model (with statsforecast baselines)
    >>> fc.save("run"); Forecaster.load("run").predict()
    """

    model_name = "rnnkit"

    def __init__(self, h: int | None = None, config: ForecasterConfig | None = None, **options):
        cfg = config or ForecasterConfig()
        if h is not None:
            options["horizon"] = h
        self.config = dataclasses.replace(cfg, **options)
        self.members: list[Member] = []
        self.panel: Panel | None = None
        self.transform: Transform | None = None
        self.quantiles: np.ndarray | None = None  # (2, H) residual quantiles of u per step
        self.residual_sd = float("nan")  # robust sd of the one-step backtest residuals of u
        self.backtest_: dict | None = None
        self.pos0: np.ndarray | None = None  # (S,) seasonal position of each series' first kept point
        self.columns = {"id_col": "unique_id", "time_col": "ds", "target_col": "y"}  # of the fitted table
        self.train_seconds = 0.0  # wall
        self.train_cpu_seconds = 0.0  # process CPU time (what time_budget counts)
        self.rank = 0  # of this process in the data-parallel group that fitted it (0 in one process)
        self.steps = 0

    # -- fitting -------------------------------------------------------------------------------
    def fit(
        self,
        df,
        h: int | None = None,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        verbose: bool = False,
    ) -> Forecaster:
        """Fits the ensemble on every series of `df` (a long-format DataFrame, or a `Panel`); data
        parallel in a process started by torchrun (see the module's docstring), `rank` its rank."""
        self.rank, world, _ = distributed.setup("cpu")
        try:
            return self._fit(df, h, (id_col, time_col, target_col), verbose, (self.rank, world))
        finally:
            distributed.teardown()

    def _fit(
        self, df, h: int | None, columns: tuple[str, str, str], verbose: bool, group: tuple[int, int]
    ) -> Forecaster:
        id_col, time_col, target_col = columns
        if h is not None:
            self.config = dataclasses.replace(self.config, horizon=h)
        cfg = self.config
        panel = df if isinstance(df, Panel) else from_frame(df, id_col, time_col, target_col, cfg.season)
        if not isinstance(df, Panel):
            self.columns = {"id_col": id_col, "time_col": time_col, "target_col": target_col}
        if cfg.season:
            panel.season = cfg.season
        self.panel, H, m = panel, cfg.horizon, max(panel.season, 1)
        torch.set_num_threads(cfg.threads)
        lookbacks = cfg.resolved_lookbacks(m)
        pad = max(lookbacks) + (2 * m if cfg.esrnn else 0)
        started, cpu_started = time.time(), time.process_time()
        budget = cfg.time_budget / (len(lookbacks) * cfg.seeds) if cfg.time_budget else 0.0  # each member's
        log = print if verbose and group[0] == 0 else (lambda *a, **k: None)

        # 1. backtest: one member trained on each series up to its first rolling origin
        bt = backtest_origins(panel, H, cfg.backtest_windows, cfg.backtest_stride or max(1, H // 3))
        if not len(bt.sid):
            raise ValueError(
                f"every series has at most {H + 1} points: the backtest of horizon {H} needs at "
                f"least one series of {H + 2} or more (shorter ones are padded, not refused)"
            )
        head = panel.truncate(bt.cutoff)
        bt_transform, season_init = fit_transform(head.values, m, cfg.esrnn)
        bt_win = Windows(head, bt_transform, pad, H)
        full_bt_win = Windows(panel, bt_transform, pad, H)  # inputs up to each origin, transformed as in training
        rows = np.random.default_rng(cfg.seed).permutation(len(bt.sid))[:3000]
        truth, scale = bt.truth[rows], bt.scale[rows]
        snaive = bt.seasonal_naive(panel)[rows]
        ref_smape, ref_mase = np.mean(smape_rows(truth, snaive)), np.mean(np.abs(truth - snaive).mean(1) / scale)

        def check(net):
            """OWA as in M4: sMAPE and MASE relative to seasonal naive's, averaged (each process
            forecasts its share of the rows)."""
            part = rows[group[0] :: group[1]]
            sums = [0.0, 0.0]
            if len(part):
                u, pos = forecast_u(net, full_bt_win, bt.sid[part], bt.origin[part])
                f, y = _inverse_rows(bt_transform, bt.sid[part], u, pos), bt.truth[part]
                sums = [smape_rows(y, f).sum(), (np.abs(y - f).mean(1) / bt.scale[part]).sum()]
            smape, mase = distributed.gather(sums, group[1]).sum(0).tolist()
            return (smape / len(rows) / ref_smape + mase / len(rows) / ref_mase) / 2

        bt_net = net = _new_net(cfg, len(panel), cfg.seed, m, lookbacks[0], season_init)
        if len(bt.sid):
            self.steps, score = train_member(
                net, bt_win, cfg, cfg.max_steps, cfg.seed, scale_weights(head.values, m, cfg.scale_weight), budget,
                check, group,
            )  # fmt: skip
            self.steps = max(self.steps, cfg.eval_every)
            log(f"backtest model: best OWA {score:.3f} after {self.steps} updates ({time.time() - started:.0f} s)")
            u, pos = forecast_u(net, full_bt_win, bt.sid, bt.origin)
            self._calibrate(bt, bt_transform, full_bt_win, u, pos)
        else:
            self.steps = cfg.max_steps

        # 2. the ensemble on the full series, each member for the chosen number of updates
        self.transform, season_init = fit_transform(panel.values, m, cfg.esrnn)
        self.pos0 = panel.positions()
        win = Windows(panel, self.transform, pad, H, self.pos0)
        weight = scale_weights(panel.values, m, cfg.scale_weight)
        # the backtest model is the first member (trained on less of each series, but it reads the same
        # normalised windows); the others train on the full series, each in one of the processes
        self.members = [Member(cfg.seed, bt_net)] if len(bt.sid) else []
        trainer = {}  # member index -> the process that trains it
        for L in lookbacks:
            for k in range(cfg.seeds):
                seed = cfg.seed + 1000 * k + L
                if self.members and lookbacks[0] == L and k == 0:
                    continue
                net = _new_net(cfg, len(panel), seed, m, L, season_init)
                trainer[len(self.members)] = len(trainer) % group[1]
                if trainer[len(self.members)] == group[0]:
                    train_member(net, win, cfg, self.steps, seed, weight, budget)
                    log(f"member L={L} seed={seed} trained ({time.time() - started:.0f} s)")
                self.members.append(Member(seed, net))
        for j, rank in trainer.items():
            distributed.copy_from(self.members[j].net, rank, group[1])
        if group[1] > 1:  # all copied before any process leaves (one leaving earlier aborted at exit, 1 run in ~8)
            torch.distributed.barrier()
        self.train_seconds = time.time() - started
        self.train_cpu_seconds = time.process_time() - cpu_started
        return self

    def _calibrate(self, bt: Backtest, transform: Transform, win: Windows, u: np.ndarray, pos: np.ndarray) -> None:
        """Interval quantiles of the backtest residuals u_true - û per step; per-series comparison
        with the seasonal naive forecast (MASE on the backtest origins)."""
        cfg, H = self.config, self.config.horizon
        u_true = np.stack(
            [
                transform.forward(i, np.maximum(y, 1e-12) if transform.log[i] else y, win.pos0[i] + o + np.arange(H))
                for i, o, y in zip(bt.sid, bt.origin, bt.truth)
            ]
        )
        r = u_true - u
        a = (1 - cfg.level) / 2
        self.quantiles = np.nanquantile(r, [a, 1 - a], axis=0)
        med = np.nanmedian(r[:, 0])
        self.residual_sd = float(1.4826 * np.nanmedian(np.abs(r[:, 0] - med)))  # robust sd of step 1
        fc = _inverse_rows(transform, bt.sid, u, pos)
        assert self.panel is not None  # fit sets it before calibrating
        snaive = bt.seasonal_naive(self.panel)
        err_net = np.abs(bt.truth - fc).mean(1) / bt.scale
        err_sn = np.abs(bt.truth - snaive).mean(1) / bt.scale
        count = np.bincount(bt.sid, minlength=len(self.panel))
        mean_net = np.bincount(bt.sid, err_net, len(self.panel)) / np.maximum(count, 1)
        mean_sn = np.bincount(bt.sid, err_sn, len(self.panel)) / np.maximum(count, 1)
        per = {self.panel.ids[i]: (float(mean_net[i]), float(mean_sn[i])) for i in np.flatnonzero(count)}
        self.backtest_ = {
            "mase": float(np.mean([v[0] for v in per.values()])),
            "mase_seasonal_naive": float(np.mean([v[1] for v in per.values()])),
            "smape": float(np.mean(smape_rows(bt.truth, fc))),
            "smape_seasonal_naive": float(np.mean(smape_rows(bt.truth, snaive))),
            "origins": len(bt.sid),
            "series": per,
        }

    def backtest_table(self):
        """One row per series: its backtest MASE, seasonal naive's, and whether the network loses."""
        import pandas as pd

        per = (self.backtest_ or {"series": {}})["series"]
        return pd.DataFrame(
            {
                "unique_id": list(per),
                "mase_rnnkit": [v[0] for v in per.values()],
                "mase_seasonal_naive": [v[1] for v in per.values()],
                "loses_to_seasonal_naive": [v[0] > v[1] for v in per.values()],
            }
        )

    @property
    def losing_series(self) -> list[str]:
        """Ids whose backtest MASE is worse than the seasonal naive forecast's."""
        return [k for k, (net, sn) in (self.backtest_ or {"series": {}})["series"].items() if net > sn]

    # -- forecasting ---------------------------------------------------------------------------
    def predict(self, h: int | None = None, level: float | None = None):
        """A DataFrame (unique_id, ds, rnnkit, rnnkit-lo-<level>, rnnkit-hi-<level>): the next h <= H
        values of every series after its end, with the central interval."""
        import pandas as pd

        point, lo, hi = self.forecast_arrays()
        assert self.panel is not None  # forecast_arrays checked the forecaster is fitted
        H = self.config.horizon
        h = h or H
        if not 1 <= h <= H:
            raise ValueError(f"h must be in 1..{H} (the horizon the model was fitted for), got {h}")
        pct = round(100 * (level or self.config.level))
        if level is not None and abs(level - self.config.level) > 1e-9:
            raise ValueError(f"intervals were calibrated at level {self.config.level}; refit to change it")
        S = len(self.panel)
        name = self.model_name
        return (
            pd.DataFrame(
                {
                    "unique_id": np.repeat(self.panel.ids, h),
                    "ds": self.panel.future_times(H)[:, :h].ravel(),
                    name: point[:, :h].ravel(),
                    f"{name}-lo-{pct}": lo[:, :h].ravel(),
                    f"{name}-hi-{pct}": hi[:, :h].ravel(),
                }
            ).reset_index(drop=True)
            if S
            else pd.DataFrame()
        )

    def _windows(self) -> Windows:
        pad = max(mb.net.lookback + mb.net.warmup for mb in self.members)
        assert self.panel is not None and self.transform is not None  # set with the members
        return Windows(self.panel, self.transform, pad, self.config.horizon, self.pos0)

    def forecast_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, lower, upper), each (S, H) in data units, after the end of every series."""
        if not self.members:
            raise ValueError("the forecaster is not fitted: call fit(df) first")
        assert self.panel is not None and self.transform is not None  # set with the members
        win = self._windows()
        sid = np.arange(len(self.panel))
        us = [forecast_u(mb.net, win, sid, win.n) for mb in self.members]
        u, pos = np.mean(np.stack([a for a, _ in us]), 0), us[0][1]
        point = self.transform.inverse(u, pos)
        if self.quantiles is None:
            return point, point.copy(), point.copy()
        lo, hi = (self.transform.inverse(u + q, pos) for q in self.quantiles)
        return point, np.minimum(lo, point), np.maximum(hi, point)

    def anomalies(self, k: float = 4.0):
        """Every point with m points or more before it: its one-step forecast (ensemble mean) and
        whether |u - û| > k · the robust sd of the backtest's one-step residuals (u: log, de-seasonalised).
        A DataFrame unique_id, ds, y, forecast, anomaly."""
        import pandas as pd

        if not self.members:
            raise ValueError("the forecaster is not fitted: call fit(df) first")
        assert self.panel is not None and self.transform is not None  # set with the members
        win = self._windows()
        start = win.m
        sid = np.concatenate([np.full(max(n - start, 0), i) for i, n in enumerate(win.n)]).astype(int)
        ends = np.concatenate([np.arange(start, n) for n in win.n]).astype(int)
        u = np.mean(np.stack([forecast_u(mb.net, win, sid, ends)[0][:, 0] for mb in self.members]), 0)
        u_true = win.u[sid, win.pad + ends].astype(float)
        pos = (win.pos0[sid] + ends)[:, None]
        point = _inverse_rows(self.transform, sid, u[:, None], pos)[:, 0]
        sd = self.residual_sd if np.isfinite(self.residual_sd) and self.residual_sd > 0 else np.nanstd(u_true - u)
        return pd.DataFrame(
            {
                "unique_id": np.array(self.panel.ids, dtype=object)[sid],
                "ds": np.concatenate([t[start:] for t in self.panel.times]),
                "y": np.concatenate([v[start:] for v in self.panel.values]),
                "forecast": point,
                "anomaly": np.abs(u_true - u) > k * sd,
            }
        )

    def plot(self, path: str | Path, series_id: str, anomalies=None) -> None:
        """A PNG of one series: its history and forecast with the interval, or (with `anomalies`,
        the frame of `anomalies()`) its one-step forecasts and the flagged points."""
        from rnnkit.tasks.forecast import _pyplot

        plt = _pyplot()
        assert self.panel is not None, "the forecaster is not fitted"
        i = self.panel.ids.index(series_id)
        t, y = self.panel.times[i], self.panel.values[i]
        fig, ax = plt.subplots(figsize=(9, 4))
        ax.plot(t, y, color="black", linewidth=1, label="history")
        if anomalies is None:
            point, lo, hi = (a[i] for a in self.forecast_arrays())
            ft = self.panel.future_times(self.config.horizon)[i]
            ax.fill_between(ft, lo, hi, alpha=0.25, label=f"{self.config.level:.0%} interval")
            ax.plot(ft, point, color="C0", label="forecast")
            ax.set_title(f"{series_id}: {self.config.horizon}-step forecast")
        else:
            a = anomalies[anomalies.unique_id == series_id]
            ax.plot(a.ds, a.forecast, color="C0", linewidth=1, label="one-step forecast")
            flagged = a[a.anomaly]
            ax.scatter(flagged.ds, flagged.y, color="red", zorder=3, s=18, label=f"anomalies ({len(flagged)})")
            ax.set_title(f"{series_id}: one-step forecast errors")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)

    def evaluate(
        self,
        test,
        id_col: str = "unique_id",
        time_col: str = "ds",
        target_col: str = "y",
        with_baselines: bool = True,
        n_jobs: int = 1,
    ):
        """sMAPE (M3) and MASE (scaled on each series' training part) of the forecasts against the
        values of `test` (a long-format DataFrame or a Panel: the h points after each series' end),
        mean over series; with the statsforecast baselines fitted on the same training data. Returns
        (means, per_series), DataFrames with one column per model."""
        import pandas as pd

        assert self.panel is not None, "the forecaster is not fitted"
        truth = (
            test
            if isinstance(test, Panel)
            else from_frame(test, id_col, time_col, target_col, self.panel.season, "the test table")
        )
        index = {k: i for i, k in enumerate(self.panel.ids)}
        missing = [k for k in truth.ids if k not in index]
        if missing:
            raise SeriesError(f"the test table has series the model was not fitted on: {missing[0]!r}")
        preds = {self.model_name: self.forecast_arrays()[0]}
        if with_baselines:
            preds.update(baselines.statsforecast_baselines(self.panel, self.config.horizon, n_jobs=n_jobs))
        rows = []
        m = max(self.panel.season, 1)
        for k, y in zip(truth.ids, truth.values):
            i = index[k]
            h = min(len(y), self.config.horizon)
            scale = baselines.mase_scale(self.panel.values[i], m)
            for name, p in preds.items():
                rows.append(
                    {
                        "unique_id": k,
                        "model": name,
                        "sMAPE": baselines.smape(y[:h], p[i, :h]),
                        "MASE": float(np.mean(np.abs(y[:h] - p[i, :h]))) / scale if scale > 0 else np.nan,
                    }
                )
        per = pd.DataFrame(rows)
        means = per.groupby("model", sort=False)[["sMAPE", "MASE"]].mean()
        return means, per

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Writes model.safetensors (every member's weights and each series' last values) and
        forecaster.json (settings, ids, transform, interval calibration, backtest) into `path`."""
        from safetensors.torch import save_file

        if not self.members:
            raise ValueError("the forecaster is not fitted: call fit(df) first")
        assert self.panel is not None and self.transform is not None  # set with the members
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        keep = max(mb.net.lookback + mb.net.warmup for mb in self.members) + 2 * max(self.panel.season, 1)
        tensors = {
            f"member{j}.{k}": v.detach().contiguous()
            for j, mb in enumerate(self.members)
            for k, v in mb.net.state_dict().items()
        }
        tail = [v[-keep:] for v in self.panel.values]
        lengths = np.array([len(v) for v in tail])
        pos0 = (self.pos0 + self.panel.lengths - lengths) % max(self.panel.season, 1)
        tensors["history.values"] = torch.from_numpy(np.concatenate(tail))
        tensors["history.lengths"] = torch.from_numpy(lengths)
        times = [t[-keep:] for t in self.panel.times]
        is_dt = times[0].dtype.kind == "M"
        tensors["history.times"] = torch.from_numpy(
            np.concatenate(times).astype("datetime64[ns]").astype(np.int64)
            if is_dt
            else np.concatenate(times).astype(float)
        )
        meta = {
            "format": "rnnkit-forecaster-1",
            "config": dataclasses.asdict(self.config),
            "ids": self.panel.ids,
            "season": self.panel.season,
            "freq": self.panel.freq,
            "datetime": is_dt,
            "pos0": pos0.tolist(),
            "members": [[mb.net.lookback, mb.seed] for mb in self.members],
            "steps": self.steps,
            "transform": self.transform.to_json(),
            "quantiles": None if self.quantiles is None else self.quantiles.tolist(),
            "residual_sd": self.residual_sd,
            "backtest": self.backtest_,
            "train_seconds": self.train_seconds,
            "train_cpu_seconds": self.train_cpu_seconds,
            "columns": self.columns,
        }
        _atomic(path / "model.safetensors", lambda p: save_file(tensors, str(p)))
        _atomic(path / "forecaster.json", lambda p: p.write_text(json.dumps(meta), encoding="utf-8"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A Forecaster saved by `save` (forecasts continue each series from its saved history)."""
        from safetensors.torch import load_file

        path = Path(path)
        try:
            meta = json.loads((path / "forecaster.json").read_text(encoding="utf-8"))
            tensors = load_file(str(path / "model.safetensors"))
        except FileNotFoundError as err:
            raise SeriesError(f"{path} is not a saved forecaster: {Path(err.filename).name} is missing") from None
        if meta.get("format") != "rnnkit-forecaster-1":
            raise SeriesError(f"{path}/forecaster.json is not an rnnkit forecaster")
        self = cls(config=ForecasterConfig(**meta["config"]))
        lengths = tensors["history.lengths"].numpy()
        cuts = np.cumsum(lengths)[:-1]
        values = np.split(tensors["history.values"].numpy(), cuts)
        raw_t = tensors["history.times"].numpy()
        times = np.split(raw_t.astype("datetime64[ns]") if meta["datetime"] else raw_t, cuts)
        self.panel = Panel(meta["ids"], times, values, meta["season"], meta["freq"])
        self.transform = Transform.from_json(meta["transform"])
        self.pos0 = np.array(meta["pos0"], dtype=int)
        self.quantiles = None if meta["quantiles"] is None else np.array(meta["quantiles"])
        self.residual_sd = meta["residual_sd"]
        self.backtest_, self.steps, self.train_seconds = meta["backtest"], meta["steps"], meta["train_seconds"]
        self.train_cpu_seconds = meta.get("train_cpu_seconds", float("nan"))
        self.columns = meta.get("columns", self.columns)
        for j, (L, seed) in enumerate(meta["members"]):
            net = GlobalNet(self.config, len(self.panel), max(self.panel.season, 1), L)
            net.load_state_dict({k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"member{j}.")})
            self.members.append(Member(seed, net))
        return self


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------------
@dataclass
class PanelRunConfig:
    """Where the series come from and where the run goes (`rnnkit forecast train --id-col ...`)."""

    csv: str = ""
    """A long-format CSV file (one row per series and time), or a folder of one-series CSV files."""
    id_col: str = "unique_id"
    """Column naming the series of each row."""
    time_col: str = "ds"
    """Column of the timestamps (dates or numbers)."""
    target_col: str = "y"
    """Column of the values to forecast."""
    run_dir: str = "runs/forecast"
    """Folder for the model, forecasts.csv, backtest.csv, anomalies.csv and the PNGs."""
    id: str = ""
    """The series drawn in forecast.png and anomalies.png ("" = the first one)."""
    k: float = 4.0
    """Anomaly threshold in robust sds of the backtest's one-step residuals."""


def is_panel_run(args: list[str]) -> bool:
    """Whether `rnnkit forecast train ARGS` is about many series: --id-col is given or --csv is a folder."""
    for i, a in enumerate(args):
        if a == "--id-col" or a.startswith("--id-col="):
            return True
        if a == "--csv" and i + 1 < len(args) and Path(args[i + 1]).is_dir():
            return True
    return False


def read_run(config: str | None, args: list[str]) -> tuple[PanelRunConfig, ForecasterConfig, Panel]:
    """The settings and the series of `rnnkit forecast train` on many series (see `train_run`); bad
    input raises ValueError."""
    from rnnkit.data.panel import read_panel
    from rnnkit.train.config import build_configs

    cfgs = build_configs({"data": PanelRunConfig, "forecaster": ForecasterConfig}, config, args)
    run, fcfg = cfgs["data"], cfgs["forecaster"]
    if not run.csv:
        raise ValueError("--csv FILE (a long table) or --csv FOLDER (one CSV per series) is needed")
    if run.k <= 0:
        raise ValueError(f"--k must be > 0, got {run.k}")
    panel = read_panel(run.csv, run.id_col, run.time_col, run.target_col, fcfg.season)
    if run.id and run.id not in panel.ids:
        raise ValueError(f"--id {run.id!r} is not a series of {run.csv}")
    return run, fcfg, panel


def train_run(config: str | None, args: list[str]) -> str:
    """`rnnkit forecast train` on many series: fits a Forecaster on every series of --csv, saves it in
    --run-dir with forecasts (and intervals), the backtest per series, anomalies and two PNGs for --id.
    Returns the summary to print. Bad input raises ValueError before anything is written. Data
    parallel (under torchrun) every process trains, rank 0 writes the run and the others return ""."""
    run, fcfg, panel = read_run(config, args)
    fc = Forecaster(config=fcfg).fit(panel)
    if fc.rank != 0:
        return ""
    fc.columns = {"id_col": run.id_col, "time_col": run.time_col, "target_col": run.target_col}
    out = Path(run.run_dir)
    fc.save(out)
    fc.predict().to_csv(out / "forecasts.csv", index=False)
    bt = fc.backtest_table()
    bt.to_csv(out / "backtest.csv", index=False)
    anom = fc.anomalies(run.k)
    anom.to_csv(out / "anomalies.csv", index=False)
    shown = run.id or panel.ids[0]
    fc.plot(out / "forecast.png", shown)
    fc.plot(out / "anomalies.png", shown, anom)
    lines = [
        (
            f"{len(panel)} series (shortest {panel.lengths.min()} points), {len(fc.members)} ensemble members, "
            f"{fc.steps} updates each, trained in {fc.train_seconds:.0f} s; run in {out}"
        )
    ]
    if fc.backtest_:
        b = fc.backtest_
        lines.append(
            f"backtest ({b['origins']} origins on the training parts): sMAPE {b['smape']:.2f} "
            f"(seasonal naive {b['smape_seasonal_naive']:.2f}), MASE {b['mase']:.3f} "
            f"(seasonal naive {b['mase_seasonal_naive']:.3f})"
        )
        losing = fc.losing_series
        if losing:
            lines.append(
                f"warning: in the backtest the network loses to seasonal naive (MASE) on {len(losing)} of "
                f"{len(panel)} series: {', '.join(losing[:10])}{' ...' if len(losing) > 10 else ''} "
                "(see backtest.csv)"
            )
    lines.append(
        f"{int(anom['anomaly'].sum())} anomalies flagged; wrote forecasts.csv, backtest.csv, anomalies.csv, "
        f"forecast.png and anomalies.png (series {shown!r})"
    )
    return "\n".join(lines)


def is_panel_dir(run: str | Path) -> bool:
    """Whether `run` holds a many-series run (a saved Forecaster) rather than a one-series one."""
    return (Path(run) / "forecaster.json").exists()


def predict_run(run: str | Path, series_id: str = "", out: str = "", plot: str = "") -> str:
    """`rnnkit forecast predict RUN` of a many-series run: the next H values of every series with
    their intervals into `out` (RUN/forecasts.csv) and a PNG of `series_id` (the first series) into
    `plot` (RUN/forecast.png). Returns the line to print; an unknown id raises before writing."""
    fc = Forecaster.load(run)
    assert fc.panel is not None  # load sets it
    if series_id and series_id not in fc.panel.ids:
        raise ValueError(f"--id {series_id!r} is not a series of {run} (e.g. {fc.panel.ids[0]!r})")
    shown = series_id or fc.panel.ids[0]
    out_path, plot_path = Path(out or Path(run) / "forecasts.csv"), Path(plot or Path(run) / "forecast.png")
    table = fc.predict()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _atomic(out_path, lambda p: table.to_csv(p, index=False))
    fc.plot(plot_path, shown)
    return (
        f"forecasts of {len(fc.panel)} series ({fc.config.horizon} steps, {fc.config.level:.0%} intervals) "
        f"in {out_path}; {plot_path} shows series {shown!r}"
    )


def evaluate_run(
    run: str | Path, csv: str, id_col: str = "", time_col: str = "", target_col: str = "", with_baselines: bool = True
):
    """`rnnkit forecast eval RUN --csv TEST` of a many-series run: sMAPE and MASE (mean over series)
    of the model and the statsforecast baselines against the values of TEST (long format, the points
    after each series' end; the run's columns unless given). Returns `Forecaster.evaluate`'s means."""
    from rnnkit.data.panel import read_panel

    if not csv:
        raise ValueError("--csv TEST.csv (the values after each series' end, in long format) is needed")
    fc = Forecaster.load(run)
    cols = {**fc.columns, **{k: v for k, v in (("id_col", id_col), ("time_col", time_col),
                                                ("target_col", target_col)) if v}}  # fmt: skip
    assert fc.panel is not None  # load sets it
    test = read_panel(csv, cols["id_col"], cols["time_col"], cols["target_col"], fc.panel.season)
    return fc.evaluate(test, with_baselines=with_baselines)[0]
