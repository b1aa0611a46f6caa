"""rnnkit.data.series: CSV checks, per-part gap filling, scaling, windows, and no look-ahead leakage."""

import numpy as np
import pytest

from rnnkit.data.series import (
    Scaler,
    SeriesError,
    SeriesWarning,
    anchor_index,
    chronological_split,
    fill_missing,
    load_example,
    read_csv,
    windows,
)
from rnnkit.tasks.baselines import seasonal_naive
from rnnkit.tasks.forecast import ForecastConfig, ForecastTask, anchors


def write_csv(path, values, start="2000-01", extra=None):
    """A monthly CSV with columns date, y (and `extra` columns); None values are empty cells."""
    dates = np.arange(np.datetime64(start), np.datetime64(start) + len(values))
    cols = {"date": [f"{d}-01" for d in dates], "y": ["" if v is None else str(v) for v in values],
            **(extra or {})}
    lines = [",".join(cols)] + [",".join(str(c[i]) for c in cols.values()) for i in range(len(values))]
    path.write_text("\n".join(lines) + "\n")
    return path


def text(path, content):
    path.write_text(content)
    return path


def test_read_csv_parses_dates_values_and_season(tmp_path):
    s = read_csv(write_csv(tmp_path / "a.csv", [1.5, 2, None, 4]), "date", "y", [])
    assert s.times.dtype.kind == "M" and s.season == 12  # monthly steps
    assert np.isnan(s.values[2]) and s.values[3] == 4.0
    assert s.time_strings(slice(0, 1)) == ["2000-01-01"]
    assert str(s.future_times(2)[1])[:10] == "2000-06-01"  # calendar months continue


@pytest.mark.parametrize("make, message", [
    (lambda p: write_csv(p, [1, 2, 3]), "no column 'x'"),
    (lambda p: write_csv(p, [1, "abc", 3]), "not numeric: row 3 holds 'abc'"),
    (lambda p: text(p, "date,y\n2000-02-01,1\n2000-01-01,2\n2000-03-01,3\n"), "not sorted: row 3"),
    (lambda p: text(p, "date,y\n2000-01-01,1\n2000-01-01,2\n"), "duplicate timestamp 2000-01-01"),
    (lambda p: text(p, "date,y\n2000-01-01,1\nsoon,2\n"), "neither a number nor a date"),
])
def test_bad_csv_is_one_clear_error(tmp_path, make, message):
    path = make(tmp_path / "bad.csv")
    col = "x" if "column" in message else "y"
    with pytest.raises(SeriesError, match=message.replace("(", r"\(")):
        read_csv(path, "date", col, [])


def test_irregular_timestamps_are_reported(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("t,y\n1,1\n2,2\n3,3\n7,4\n8,5\n")
    with pytest.warns(SeriesWarning, match="irregular timestamps: 1 of 4 steps.*between 3 and 7"):
        read_csv(path, "t", "y", [])


def test_fill_missing_stays_inside_each_part():
    split = chronological_split(10, 3, 3, min_train=2)  # train 0..3, val 4..6, test 7..9
    x = np.array([0.0, 1, 2, np.nan, 100, np.nan, 102, 200, 201, 202])
    with pytest.warns(SeriesWarning, match="2 missing values interpolated"):
        filled = fill_missing(x, split, 0.5, "y")
    assert filled[3] == 2.0  # the last training value, not a blend with the validation part's 100
    assert filled[5] == 101.0  # linear inside the validation part
    with pytest.raises(SeriesError, match=r"3 of 10 values missing \(30%\), more than --max-missing 20%"):
        fill_missing(np.r_[np.nan, np.nan, np.nan, np.arange(7.0)], split, 0.2, "y")


def test_scalers_fit_and_invert():
    x = np.array([[1.0], [3.0], [5.0]])
    std = Scaler.fit(x, "standard")
    assert np.allclose(std.transform(x).ravel(), [-1.2247449, 0, 1.2247449])
    mm = Scaler.fit(x, "minmax")
    assert np.allclose(mm.transform(x).ravel(), [0, 0.5, 1])
    assert np.allclose(mm.inverse(np.array([0.25])), [2.0])
    assert Scaler.from_json(std.to_json()).shift == pytest.approx(3.0)


def test_windows_hold_the_next_h_values_at_every_step():
    z = np.arange(20.0)[:, None]
    x, y = windows(z, np.array([5, 9]), lookback=3, horizon=2)
    assert x[:, :, 0].tolist() == [[2, 3, 4], [6, 7, 8]]
    assert y[0].tolist() == [[3, 4], [4, 5], [5, 6]]  # the last step's targets are z[5:7]


def test_anchor_is_the_seasonal_naive_forecast_and_never_reads_ahead():
    y = np.sin(np.arange(40.0)) + np.arange(40.0)
    for t in (12, 25, 39):
        assert np.allclose(anchors(y, np.array([t]), 7, 4)[0], seasonal_naive(y[:t + 1], 7, 4))
    idx = anchor_index(np.arange(40), 7, 4)
    assert (idx <= np.arange(40)[:, None]).all() and (idx >= 0).all()
    assert anchor_index(np.array([1]), 3, 4)[0].tolist() == [1, 1, 0]  # t + h - 4 < 0: the last value, t


def test_no_look_ahead_leakage(tmp_path):
    """Changing any value after the split point leaves the scaler and the training windows unchanged."""
    rng = np.random.default_rng(0)
    values = list(np.round(10 + np.sin(np.arange(96) * 2 * np.pi / 12) + rng.normal(0, 0.1, 96), 4))
    cfg = dict(time_col="date", target_col="y", horizon=6, lookback=12, val_size=12, test_size=12,
               covariates="c", hidden_size=4)
    cov = {"c": list(np.round(rng.normal(size=96), 4))}
    base = ForecastTask(ForecastConfig(csv=str(write_csv(tmp_path / "a.csv", values, extra=cov)), **cfg))
    train_end = base.data.split.train_end
    assert train_end == 72
    changed_values = values[:train_end] + [None] + list(rng.normal(1000, 50, 95 - train_end))
    changed_cov = {"c": cov["c"][:train_end] + list(rng.normal(size=96 - train_end))}
    with pytest.warns(SeriesWarning):
        other = ForecastTask(ForecastConfig(csv=str(write_csv(tmp_path / "b.csv", changed_values,
                                                              extra=changed_cov)), **cfg))
    assert np.array_equal(base.data.scaler.shift, other.data.scaler.shift)
    assert np.array_equal(base.data.scaler.scale, other.data.scaler.scale)
    assert len(base.train_x) == 72 - 12 - 6 + 1
    assert np.array_equal(base.train_x.numpy(), other.train_x.numpy())
    assert np.array_equal(base.train_y.numpy(), other.train_y.numpy())
    assert not np.array_equal(base.eval_sets["val"][1].numpy(), other.eval_sets["val"][1].numpy(),
                              equal_nan=True)  # the comparison can fail: later parts did change


def test_examples_load_from_statsmodels():
    co2 = load_example("co2")
    assert len(co2) == 2284 and co2.season == 52 and np.isnan(co2.values).sum() == 59
    sun = load_example("sunspots")
    assert len(sun) == 309 and sun.times[0] == 1700.0 and sun.season == 11
    with pytest.raises(SeriesError, match="unknown example dataset 'air'"):
        load_example("air")
