"""Many series in one table (a panel): reading a long-format table (one row per id and time) or a
folder of one-series CSV files, the checks on it, calendar positions, and the per-series transform
a global forecaster trains on.

Shape letters: S = series, N = points of one series, T = longest series, m = seasonal period.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from rnnkit.data.series import SeriesError, SeriesWarning, season_of, typical_step


@dataclass
class Panel:
    """S series, each with its own timestamps (datetime64 or float64) and float64 values in time order."""

    ids: list[str]
    times: list[np.ndarray]
    values: list[np.ndarray]
    season: int  # the seasonal period m (from the time step unless given)
    freq: str | None = None  # the pandas frequency of datetime timestamps (None: numeric or irregular)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(v) for v in self.values])

    def truncate(self, lengths: np.ndarray) -> Panel:
        """Series i cut to its first lengths[i] points."""
        return Panel(
            self.ids,
            [t[:c] for t, c in zip(self.times, lengths)],
            [v[:c] for v, c in zip(self.values, lengths)],
            self.season,
            self.freq,
        )

    def future_times(self, horizon: int) -> np.ndarray:
        """(S, H) the H timestamps after each series' last one, one step apart (calendar steps kept)."""
        last = np.array([t[-1] for t in self.times])
        if self.freq:
            import pandas as pd

            offset = pd.tseries.frequencies.to_offset(self.freq)
            idx = pd.DatetimeIndex(last)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # offsets without a vectorised form warn
                return np.stack([(idx + k * offset).to_numpy() for k in range(1, horizon + 1)], 1)
        steps = np.array([typical_step(t) for t in self.times])
        if last.dtype.kind == "M":
            return last[:, None] + (steps[:, None] * np.arange(1, horizon + 1) * 86400e9).astype("timedelta64[ns]")
        return last[:, None] + steps[:, None] * np.arange(1, horizon + 1)

    def positions(self) -> np.ndarray:
        """(S,) the seasonal position (0..m-1) of each series' first point: the month of year for
        monthly data, quarter, day of week, hour of day, week of year; else 0 (counted from the start)."""
        m = self.season
        first = [t[0] for t in self.times]
        if m <= 1 or not self.times or self.times[0].dtype.kind != "M":
            return np.zeros(len(self), dtype=int)
        import pandas as pd

        ts: Any = pd.DatetimeIndex(first)  # its delegated fields (month, hour, ...) are unknown to pyright
        field = {
            12: ts.month - 1,
            4: ts.quarter - 1,
            7: ts.dayofweek,
            24: ts.hour,
            52: ts.isocalendar().week.to_numpy() - 1,
        }.get(m)
        return np.zeros(len(self), dtype=int) if field is None else np.asarray(field, dtype=int) % m

    def to_frame(self, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y"):
        import pandas as pd

        return pd.DataFrame(
            {
                id_col: np.repeat(self.ids, self.lengths),
                time_col: np.concatenate(self.times),
                target_col: np.concatenate(self.values),
            }
        )


def from_frame(
    df,
    id_col: str = "unique_id",
    time_col: str = "ds",
    target_col: str = "y",
    season: int = 0,
    source: str = "the table",
) -> Panel:
    """A Panel from a long-format DataFrame. Without an `id_col` column (and id_col left at its
    default) the table is one series. Rows are sorted by time within each id.

    Raises SeriesError (one line) for a missing column, a non-numeric target, unparseable or duplicate
    timestamps within an id, or a series whose every value is missing. Missing values inside a series
    are interpolated linearly (a SeriesWarning with the count).
    """
    import pandas as pd

    one_series = id_col == "unique_id" and id_col not in df.columns
    for col in (time_col, target_col) if one_series else (id_col, time_col, target_col):
        if col not in df.columns:
            raise SeriesError(f"{source}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise SeriesError(f"{source}: no data rows")
    ids = np.zeros(len(df), dtype=object) if one_series else df[id_col].astype(str).to_numpy()
    if one_series:
        ids[:] = Path(source).stem if source != "the table" else "series"
    y = np.asarray(pd.to_numeric(df[target_col], errors="coerce"), dtype=float)
    bad = np.flatnonzero(
        np.isnan(y) & df[target_col].notna().to_numpy() & (df[target_col].astype(str).str.strip() != "").to_numpy()
    )
    if len(bad):
        raise SeriesError(f"{source}: column {target_col!r} is not numeric: it holds {df[target_col].iloc[bad[0]]!r}")
    times = _times(df[time_col], time_col, source)
    frame = pd.DataFrame({"id": ids, "t": times, "y": y}).sort_values(["id", "t"], kind="stable")
    dup = frame.duplicated(["id", "t"]).to_numpy()
    if dup.any():
        row = frame[dup].iloc[0]
        raise SeriesError(f"{source}: duplicate timestamp {row['t']} in series {row['id']!r}")
    out_ids, out_t, out_y, filled = [], [], [], 0
    for sid, g in frame.groupby("id", sort=False):
        v = g["y"].to_numpy(dtype=float)
        nan = np.isnan(v)
        if nan.all():
            raise SeriesError(f"{source}: every value of series {sid!r} is missing")
        if nan.any():
            idx = np.arange(len(v))
            v[nan] = np.interp(idx[nan], idx[~nan], v[~nan])
            filled += int(nan.sum())
        out_ids.append(str(sid))
        out_t.append(g["t"].to_numpy())
        out_y.append(v)
    if filled:
        warnings.warn(f"{source}: {filled} missing values interpolated linearly", SeriesWarning, stacklevel=2)
    freq, typical = _frequency(out_t)
    return Panel(out_ids, out_t, out_y, season or season_of(out_t[0], typical), freq)


def _times(col, name: str, source: str) -> np.ndarray:
    """float64 times if every cell is a number, else datetime64; SeriesError otherwise."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        return col.to_numpy(dtype="datetime64[ns]")
    num = cast("pd.Series", pd.to_numeric(col, errors="coerce"))  # a Series in, a Series out
    if not num.isna().any():
        return num.to_numpy(dtype=float)
    parsed = pd.to_datetime(col.astype(str).str.strip(), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise SeriesError(
            f"{source}: time column {name!r} holds {col.iloc[bad[0]]!r}, which is neither a number nor a date"
        )
    return parsed.to_numpy(dtype="datetime64[ns]")


def _frequency(times: list[np.ndarray]) -> tuple[str | None, float]:
    """(pandas frequency of the longest series' datetimes or None, typical step in days)."""
    longest = max(times, key=len)
    typical = typical_step(longest)
    if longest.dtype.kind != "M" or len(longest) < 3:
        return None, typical
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.infer_freq(pd.DatetimeIndex(longest[-min(len(longest), 25) :])), typical


def read_panel(
    path: str | Path, id_col: str = "unique_id", time_col: str = "ds", target_col: str = "y", season: int = 0
) -> Panel:
    """A Panel from a long-format CSV file, or from a folder of CSV files (one series each, named
    after the file; `id_col` is not used)."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise SeriesError(f"{path}: no .csv files in the folder")
        frames = []
        for f in files:
            df = _read(f)
            for col in (time_col, target_col):
                if col not in df.columns:
                    raise SeriesError(f"{f}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
            frames.append(df[[time_col, target_col]].assign(_id=f.stem))
        return from_frame(pd.concat(frames, ignore_index=True), "_id", time_col, target_col, season, str(path))
    return from_frame(_read(path), id_col, time_col, target_col, season, str(path))


def _read(path: Path):
    import pandas as pd

    try:
        return pd.read_csv(path, skipinitialspace=True)
    except FileNotFoundError:
        raise SeriesError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise SeriesError(f"cannot read {path} as CSV: {str(err).splitlines()[0]}") from None


# ------------------------------------------------------------------------------------------------
def seasonality_test(x: np.ndarray, m: int) -> bool:
    """Whether x is seasonal with period m: the lag-m autocorrelation exceeds 1.645 times its
    standard error sqrt((1 + 2 sum_{k<m} r_k²) / N) (the 90% test of the M4 Theta benchmark)."""
    n = len(x)
    if m <= 1 or n < 3 * m:
        return False
    d = x - x.mean()
    denom = float(d @ d)
    if denom == 0:
        return False
    r = np.array([float(d[k:] @ d[: n - k]) / denom for k in range(1, m + 1)])
    return bool(abs(r[-1]) > 1.645 * np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n))


@dataclass
class Transform:
    """Per-series map from data units x to the units u the network reads, fitted on a training part:
    u_t = g(x_t) - s_{pos(t)}, with g = log when the training part is positive (else x / mean|x|)
    and s the classical-decomposition seasonal indices of g(x) (zeros without significant
    seasonality): multiplicative seasonality in data units for positive series."""

    log: np.ndarray  # (S,) bool
    scale: np.ndarray  # (S,) divisor for non-log series
    seasonal: np.ndarray  # (S, m) indices by seasonal position, summing to 0

    @classmethod
    def fit(cls, values: list[np.ndarray], m: int) -> Transform:
        S, m1 = len(values), max(m, 1)
        log, scale, seasonal = np.zeros(S, bool), np.ones(S), np.zeros((S, m1))
        for i, x in enumerate(values):
            log[i] = bool(np.all(x > 0))
            scale[i] = 1.0 if log[i] else (float(np.mean(np.abs(x))) or 1.0)
            g = np.log(x) if log[i] else x / scale[i]
            if seasonality_test(g, m):
                seasonal[i] = _seasonal_indices(g, m)
        return cls(log, scale, seasonal)

    def forward(self, i: int, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        g = np.log(np.maximum(x, 1e-12)) if self.log[i] else x / self.scale[i]
        return g - self.seasonal[i, pos % self.seasonal.shape[1]]

    def inverse(self, u: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """x of u (S, ..., H) at seasonal positions pos (S, H) (broadcast over the middle axes)."""
        g = u + self.seasonal[np.arange(len(u))[:, None], pos % self.seasonal.shape[1]].reshape(
            (len(u),) + (1,) * (u.ndim - 2) + (pos.shape[1],)
        )
        shape = (len(u),) + (1,) * (u.ndim - 1)
        return np.where(self.log.reshape(shape), np.exp(np.clip(g, -50, 50)), g * self.scale.reshape(shape))

    def to_json(self) -> dict:
        return {"log": self.log.tolist(), "scale": self.scale.tolist(), "seasonal": self.seasonal.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Transform:
        return cls(np.array(d["log"], bool), np.array(d["scale"]), np.array(d["seasonal"]))


def _seasonal_indices(g: np.ndarray, m: int) -> np.ndarray:
    """(m,) additive indices of g by position t mod m: the mean of g minus its centred moving average
    (2×m for even m), centred to sum to zero."""
    n = len(g)
    if m % 2 == 0:
        w = np.r_[0.5, np.ones(m - 1), 0.5] / m
    else:
        w = np.ones(m) / m
    ma = np.convolve(g, w, mode="valid")  # aligned to t = k .. n-1-k
    k = (len(w) - 1) // 2
    detr = g[k : n - k] - ma
    pos = np.arange(k, n - k) % m
    idx = np.array([detr[pos == p].mean() if np.any(pos == p) else 0.0 for p in range(m)])
    return idx - idx.mean()
