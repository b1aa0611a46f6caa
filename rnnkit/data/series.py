"""Time series for forecasting: loading (a user CSV or an example series shipped with statsmodels),
checks on timestamps and missing values, the chronological split, scaling fitted on the training
part only, and the windows a recurrent forecaster trains on.

Shape letters: N = points in the series, C = covariates, F = 1 + C input features per step,
L = lookback (window length), H = horizon (steps forecast from one origin).
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np


class SeriesError(ValueError):
    """Input data that cannot be used; the message says what is wrong and where."""


class SeriesWarning(UserWarning):
    """Something repaired or suspicious in the input data (interpolated values, irregular steps)."""


# Example series shipped inside the statsmodels wheel: (module, time column or "index", target, season).
EXAMPLES = {
    "sunspots": ("sunspots", "YEAR", "SUNACTIVITY", 11),  # yearly 1700-2008, ~11-year cycle
    "co2": ("co2", "index", "co2", 52),  # weekly 1958-2001, 59 missing values
    "nile": ("nile", "year", "volume", 1),  # yearly 1871-1970
    "elec_equip": ("elec_equip", "index", "STS.M.I7.W.TOVT.NS0016.4.000", 12),  # monthly 1995-2016
}


@dataclass
class Series:
    """A target series with optional covariates, in time order.

    times: (N,) datetime64 or float64; values: (N,) float64 target; covariates: (N, C) float64.
    """

    times: np.ndarray
    values: np.ndarray
    covariates: np.ndarray
    target: str
    covariate_names: list[str] = field(default_factory=list)
    season: int = 1  # the seasonal period m inferred from the time step (or the example's own)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def features(self) -> np.ndarray:
        """(N, F): the target then the covariates, the inputs of one step."""
        return np.column_stack([self.values, self.covariates])

    def time_strings(self, idx=slice(None)) -> list[str]:
        t = self.times[idx]
        if np.issubdtype(t.dtype, np.datetime64):
            return [str(x)[:19].replace("T", " ").removesuffix(" 00:00:00") for x in t]
        return [f"{x:g}" for x in t]

    def future_times(self, steps: int) -> np.ndarray:
        """`steps` timestamps after the last one, one typical step apart (calendar months kept)."""
        if np.issubdtype(self.times.dtype, np.datetime64):
            import pandas as pd

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas 3 announces a change of infer_freq's return type
                freq = pd.infer_freq(pd.DatetimeIndex(self.times[-min(len(self), 12) :]))
            if freq:
                return pd.date_range(self.times[-1], periods=steps + 1, freq=freq)[1:].to_numpy()
        step = np.median(np.diff(self.times))
        return self.times[-1] + step * np.arange(1, steps + 1)


def example_names() -> list[str]:
    return sorted(EXAMPLES)


def load_example(name: str) -> Series:
    """An example series from statsmodels.datasets (no download: the data is in the wheel)."""
    if name not in EXAMPLES:
        raise SeriesError(f"unknown example dataset {name!r} (known: {', '.join(example_names())})")
    module, time_col, target, season = EXAMPLES[name]
    df = importlib.import_module(f"statsmodels.datasets.{module}").load_pandas().data
    times = df.index.to_numpy() if time_col == "index" else df[time_col].to_numpy(dtype=float)
    return from_columns(times, df[target].to_numpy(dtype=float), {}, target, name, season=season)


def read_csv(path: str | Path, time_col: str, target_col: str, covariates: list[str]) -> Series:
    """The columns `time_col`, `target_col` and `covariates` of a CSV file with a header row.

    Raises SeriesError (one line) for a missing file or column, non-numeric values, unparseable,
    unsorted or duplicate timestamps. Empty cells are missing values (see `fill_missing`).
    """
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise SeriesError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise SeriesError(f"cannot read {path} as CSV: {str(err).splitlines()[0]}") from None
    for col in (time_col, target_col, *covariates):
        if col not in df.columns:
            raise SeriesError(f"{path}: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise SeriesError(f"{path}: no data rows")
    numeric = {c: _numeric_column(df[c], c, path) for c in (target_col, *covariates)}
    cov = {c: numeric[c] for c in covariates}
    return from_columns(_parse_times(df[time_col], time_col, path), numeric[target_col], cov, target_col, str(path))


def _numeric_column(col, name: str, path) -> np.ndarray:
    """Floats of a string column; empty cells and NA/NaN become NaN; anything else non-numeric is an error."""
    text = col.str.strip()
    missing = text.isin(["", "NA", "N/A", "NaN", "nan", "null", "None", "?"])
    values = np.full(len(text), np.nan)
    for i, s in enumerate(text):
        if missing.iloc[i]:
            continue
        try:
            values[i] = float(s)
        except ValueError:
            raise SeriesError(f"{path}: column {name!r} is not numeric: row {i + 2} holds {s!r}") from None
    return values


def _parse_times(col, name: str, path) -> np.ndarray:
    """float64 times if every cell is a number (years, seconds), else datetime64; SeriesError otherwise."""
    import pandas as pd

    text = col.str.strip()
    empty = np.flatnonzero(text.to_numpy() == "")
    if len(empty):
        raise SeriesError(f"{path}: time column {name!r} is empty at row {empty[0] + 2}")
    num = cast("pd.Series", pd.to_numeric(text, errors="coerce"))  # a Series in, a Series out
    if not num.isna().any():
        return num.to_numpy(dtype=float)
    parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        raise SeriesError(
            f"{path}: time column {name!r} holds {text.iloc[bad[0]]!r} at row {bad[0] + 2}, "
            "which is neither a number nor a date"
        )
    return parsed.to_numpy()


def from_columns(
    times: np.ndarray, values: np.ndarray, covariates: dict[str, np.ndarray], target: str, source: str, season: int = 0
) -> Series:
    """A Series after checking the timestamps: unsorted or duplicated ones are a SeriesError (rows
    counted as in a CSV file with a header); irregular steps give a SeriesWarning."""
    steps = _days(np.diff(times))
    order = np.flatnonzero(steps < 0)
    if len(order):
        i = order[0]
        raise SeriesError(
            f"{source}: timestamps are not sorted: row {i + 3} ({_show(times[i + 1])}) comes "
            f"before row {i + 2} ({_show(times[i])}); sort the data by time"
        )
    dup = np.flatnonzero(steps == 0)
    if len(dup):
        raise SeriesError(f"{source}: duplicate timestamp {_show(times[dup[0]])} at rows {dup[0] + 2} and {dup[0] + 3}")
    typical = typical_step(times)
    if len(steps):
        off = np.flatnonzero(np.abs(steps - typical) > 0.1 * typical)
        if len(off):
            warnings.warn(
                f"{source}: irregular timestamps: {len(off)} of {len(steps)} steps differ from the "
                f"typical step, first between {_show(times[off[0]])} and {_show(times[off[0] + 1])}; "
                "the model treats the points as equally spaced",
                SeriesWarning,
                stacklevel=2,
            )
    cov = np.column_stack(list(covariates.values())) if covariates else np.zeros((len(values), 0))
    return Series(
        times, np.asarray(values, dtype=float), cov, target, list(covariates), season or season_of(times, typical)
    )


def _show(t) -> str:
    return str(t)[:19].replace("T", " ").removesuffix(" 00:00:00") if isinstance(t, np.datetime64) else f"{t:g}"


def _days(steps: np.ndarray) -> np.ndarray:
    """Steps in days for datetimes, as they are for numeric times."""
    return steps / np.timedelta64(1, "D") if steps.dtype.kind == "m" else steps.astype(float)


def typical_step(times: np.ndarray) -> float:
    """The median step between timestamps (in days for datetimes)."""
    return float(np.median(_days(np.diff(times)))) if len(times) > 1 else 1.0


def season_of(times: np.ndarray, typical: float) -> int:
    """The seasonal period m from the step: hourly 24, daily 7, weekly 52, monthly 12, quarterly 4, else 1."""
    if times.dtype.kind != "M":
        return 1
    for lo, hi, m in ((1 / 24 * 0.9, 1 / 24 * 1.1, 24), (0.9, 1.1, 7), (6.5, 7.5, 52), (27, 32, 12), (88, 93, 4)):
        if lo <= typical <= hi:
            return m
    return 1


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    """Chronological split: train = [0, train_end), val = [train_end, val_end), test = [val_end, N)."""

    train_end: int
    val_end: int
    n: int

    def bounds(self, part: str) -> tuple[int, int]:
        return {"train": (0, self.train_end), "val": (self.train_end, self.val_end), "test": (self.val_end, self.n)}[
            part
        ]


def chronological_split(n: int, val_size: int, test_size: int, min_train: int) -> Split:
    """The last `test_size` points are test, the `val_size` before them validation, the rest training
    (which must hold at least `min_train` points)."""
    train_end = n - val_size - test_size
    if train_end < min_train:
        raise SeriesError(
            f"series too short: {n} points leave {train_end} for training after "
            f"{val_size} validation and {test_size} test points; at least {min_train} needed "
            "(lookback + horizon); use a shorter --lookback/--horizon or smaller splits"
        )
    return Split(train_end, n - test_size, n)


def fill_missing(x: np.ndarray, split: Split, max_missing: float, name: str) -> np.ndarray:
    """`x` (N,) or (N, C) with NaNs interpolated linearly inside each part of the split, so no part
    borrows values from a later one (edges take the nearest value of their own part).

    More than `max_missing` of a column missing, or a part with no value at all, is a SeriesError;
    any interpolation gives a SeriesWarning with the count.
    """
    x = np.array(x, dtype=float)
    cols = x.reshape(len(x), -1)
    for j in range(cols.shape[1]):
        col = cols[:, j]
        nan = np.isnan(col)
        if not nan.any():
            continue
        label = name if cols.shape[1] == 1 else f"{name}[{j}]"
        if nan.mean() > max_missing:
            raise SeriesError(
                f"{label}: {nan.sum()} of {len(col)} values missing ({nan.mean():.0%}), more "
                f"than --max-missing {max_missing:.0%} allows"
            )
        for part in ("train", "val", "test"):
            lo, hi = split.bounds(part)
            seg, seg_nan = col[lo:hi], nan[lo:hi]
            if hi > lo and seg_nan.all():
                raise SeriesError(f"{label}: every value of the {part} part is missing")
            if seg_nan.any():
                idx = np.arange(hi - lo)
                seg[seg_nan] = np.interp(idx[seg_nan], idx[~seg_nan], seg[~seg_nan])
        warnings.warn(
            f"{label}: {nan.sum()} missing values interpolated linearly (within each split part)",
            SeriesWarning,
            stacklevel=2,
        )
    return x


@dataclass
class Scaler:
    """Per-column affine scaling z = (x - shift) / scale, fitted on the training part only.

    standard: shift = mean, scale = std; minmax: shift = min, scale = max - min (z in [0, 1] on train).
    """

    kind: str
    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, kind: str) -> Scaler:
        x = x.reshape(len(x), -1)
        if kind == "standard":
            shift, scale = x.mean(0), x.std(0)
        elif kind == "minmax":
            shift, scale = x.min(0), x.max(0) - x.min(0)
        else:
            raise ValueError(f"scaler must be standard or minmax, got {kind!r}")
        return cls(kind, shift, np.where(scale > 0, scale, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        return (x - self.shift) / self.scale

    def inverse(self, z: np.ndarray, column: int = 0) -> np.ndarray:
        """x from z for one column (the target by default)."""
        return z * self.scale[column] + self.shift[column]

    def to_json(self) -> dict:
        return {"kind": self.kind, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> Scaler:
        return cls(d["kind"], np.array(d["shift"]), np.array(d["scale"]))


def windows(z: np.ndarray, ends: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Training windows of the scaled features z (N, F) ending just before each origin in `ends`.

    Returns x (W, L, F) = z[e-L:e] and y (W, L, H): at step j of a window the targets are the next
    H values of the target column, z[e-L+j+1 : e-L+j+1+H, 0] (the last step's are z[e:e+H, 0]).
    Every target of window e lies before e + H, so windows with e + H <= train_end never see
    the validation or test parts.
    """
    starts = ends - lookback
    x = np.stack([z[s : s + lookback] for s in starts])
    y = np.stack([[z[s + j + 1 : s + j + 1 + horizon, 0] for j in range(lookback)] for s in starts])
    return x, y


def anchor_index(t: np.ndarray, horizon: int, m: int) -> np.ndarray:
    """(len(t), H) indices of the seasonal naive forecast of t + h made at time t (h = 1..H):
    t + h - m·ceil(h/m), always <= t; where that falls before the series start, t itself."""
    h = np.arange(1, horizon + 1)
    idx = t[:, None] + h - m * np.ceil(h / m).astype(int)
    return np.where(idx >= 0, idx, t[:, None])
