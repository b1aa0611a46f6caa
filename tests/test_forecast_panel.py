"""rnnkit.data.panel: long tables and folders of series, the checks on them, the per-series transform."""

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.panel import Panel, Transform, from_frame, read_panel, seasonality_test
from rnnkit.data.series import SeriesError


def long_table(lengths=(30, 20), start="2001-01-01") -> pd.DataFrame:
    rows = []
    for k, n in enumerate(lengths):
        rows.append(pd.DataFrame({"unique_id": f"s{k}", "ds": pd.date_range(start, periods=n, freq="MS"),
                                  "y": 10.0 + k + np.arange(n)}))
    return pd.concat(rows, ignore_index=True)


def test_long_table_is_split_by_id_and_sorted_by_time():
    df = long_table().sample(frac=1, random_state=0)  # rows shuffled
    panel = from_frame(df)
    assert panel.ids == ["s0", "s1"] and panel.lengths.tolist() == [30, 20]
    assert panel.values[1].tolist() == (11.0 + np.arange(20)).tolist()
    assert panel.season == 12 and panel.freq == "MS"
    assert panel.positions().tolist() == [0, 0]  # both start in January
    future = panel.future_times(3)
    assert str(future[1, 0])[:10] == "2002-09-01" and str(future[0, 2])[:10] == "2003-09-01"


def test_other_column_names_and_one_series_without_an_id():
    df = long_table().rename(columns={"unique_id": "store", "ds": "month", "y": "sales"})
    assert len(from_frame(df, "store", "month", "sales")) == 2
    one = from_frame(long_table((25,)).drop(columns="unique_id"))
    assert len(one) == 1 and one.lengths.tolist() == [25]


@pytest.mark.parametrize("edit, message", [
    (lambda df: df, "no column 'shop'"),
    (lambda df: df.assign(y=np.where(df.unique_id == "s1", np.nan, df.y)), "every value of series 's1' is missing"),
    (lambda df: pd.concat([df, df.iloc[[3]]]), "duplicate timestamp 2001-04-01"),
])
def test_bad_tables_are_one_line_errors(edit, message):
    id_col = "shop" if "shop" in message else "unique_id"
    with pytest.raises(SeriesError, match=message) as err:
        from_frame(edit(long_table()), id_col)
    assert "\n" not in str(err.value)


def test_missing_values_inside_a_series_are_interpolated():
    df = long_table((10,))
    df.loc[4, "y"] = np.nan
    with pytest.warns(UserWarning, match="1 missing values interpolated"):
        panel = from_frame(df)
    assert panel.values[0][4] == pytest.approx(14.0)


def test_a_folder_of_one_series_files(tmp_path):
    for k, n in enumerate((12, 9)):
        long_table((n,)).drop(columns="unique_id").to_csv(tmp_path / f"shop{k}.csv", index=False)
    panel = read_panel(tmp_path)
    assert panel.ids == ["shop0", "shop1"] and panel.lengths.tolist() == [12, 9]
    with pytest.raises(SeriesError, match="no column 'sales'"):
        read_panel(tmp_path, target_col="sales")


def test_transform_round_trip_for_positive_and_signed_series():
    t = np.arange(60)
    pos = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * np.exp(0.01 * t)  # multiplicative season
    signed = 5 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.1, 60) - 1
    tr = Transform.fit([pos, signed], 12)
    assert tr.log.tolist() == [True, False]
    assert np.abs(tr.seasonal).max(1).min() > 0.1  # both seasonal
    u = np.stack([tr.forward(i, x, t) for i, x in enumerate((pos, signed))])
    assert np.allclose(tr.inverse(u, np.stack([t, t])), np.stack([pos, signed]))
    # the multiplicative season is removed: what is left of log(pos) is close to the linear trend
    assert np.abs(np.diff(u[0]) - 0.01).max() < 0.05


def test_seasonality_test_tells_noise_from_a_season():
    rng = np.random.default_rng(0)
    t = np.arange(72)
    assert seasonality_test(np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, 72), 12)
    assert not seasonality_test(rng.normal(size=72), 12)
    assert not seasonality_test(rng.normal(size=20), 12)  # shorter than 3 seasons


def test_truncate_keeps_the_first_points():
    panel = Panel(["a", "b"], [np.arange(5.0), np.arange(2.0)], [np.arange(5.0), np.arange(2.0)], 1)
    assert panel.truncate(np.array([2, 1])).values[0].tolist() == [0.0, 1.0]
