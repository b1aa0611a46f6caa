"""rnnkit.Forecaster: one network across many series: lazy fair sampling, padding of short series,
the backtest, intervals, evaluation beside the baselines, save/load."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.panel import Panel, Transform
from rnnkit.tasks.forecaster import (
    ESSmoothing,
    Forecaster,
    ForecasterConfig,
    Windows,
    backtest_origins,
    window_level,
)

SMALL = {"hidden_size": 8, "seeds": 1, "lookbacks": "24", "max_steps": 60, "eval_every": 20, "batch_size": 32}


def flags(settings: dict) -> list[str]:
    """`settings` as command-line flags (True: `--name`)."""
    out = []
    for k, v in settings.items():
        out += ["--" + k.replace("_", "-")] + ([] if v is True else [str(v)])
    return out


def seasonal_panel(lengths, seed=0) -> pd.DataFrame:
    """Monthly series with a multiplicative season and trend, different levels."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, n in enumerate(lengths):
        t = np.arange(n)
        y = (50 + 40 * k) * (1 + 0.3 * np.sin(2 * np.pi * t / 12)) * (1 + 0.005 * t) * np.exp(rng.normal(0, 0.02, n))
        rows.append(
            pd.DataFrame({"unique_id": f"s{k}", "ds": pd.date_range("2000-01-01", periods=n, freq="MS"), "y": y})
        )
    return pd.concat(rows, ignore_index=True)


def test_sampling_weighs_series_equally_whatever_their_length():
    panel = Panel(["long", "short"], [np.arange(400.0), np.arange(30.0)], [np.ones(400), np.ones(30)], 12)
    win = Windows(panel, Transform.fit(panel.values, 12), 24, 6)
    sid, ends = win.sample(np.random.default_rng(0), 20000)
    assert abs(np.mean(sid == 1) - 0.5) < 0.02
    assert ends.min() >= 12 and ends[sid == 1].max() == 29 and ends[sid == 0].max() == 399


def test_short_series_windows_are_padded_and_masked_and_never_read_the_future():
    values = [np.arange(1.0, 15.0)]  # 14 points, lookback 24
    panel = Panel(["a"], [np.arange(14.0)], values, 1)
    win = Windows(panel, Transform.fit(values, 1), 24, 6)
    x, y, base = window_level(*win.gather(np.array([0]), np.array([10]), 24), 1, 24, 6)
    assert x.shape == (1, 24, 4) and x[0, :, 1].tolist() == [0.0] * 14 + [1.0] * 10  # observed mask
    assert base[0].tolist() == pytest.approx([np.log(10.0)] * 6)  # m = 1: the level is the last value
    assert torch.isfinite(y[0, :4]).all() and torch.isnan(y[0, 4:]).all()  # targets past the end masked
    assert y[0, 0].item() == pytest.approx(np.log(11.0) - np.log(10.0))


def test_backtest_origins_leave_enough_training_points():
    panel = Panel(
        ["long", "short", "tiny"],
        [np.arange(120.0), np.arange(48.0), np.arange(10.0)],
        [np.ones(120), np.ones(48), np.ones(10)],
        12,
    )
    bt = backtest_origins(panel, 18, 3, 6)
    assert bt.origin[bt.sid == 0].tolist() == [102, 96, 90] and bt.origin[bt.sid == 1].tolist() == [30, 24]
    assert bt.cutoff.tolist() == [90, 24, 10] and not np.any(bt.sid == 2)


def test_fit_predict_every_series_with_intervals_and_a_48_point_one():
    df = seasonal_panel([90, 48, 70])
    torch.manual_seed(0)
    fc = Forecaster(h=18, **SMALL).fit(df)
    out = fc.predict()
    assert list(out.columns) == ["unique_id", "ds", "rnnkit", "rnnkit-lo-90", "rnnkit-hi-90"]
    assert out.groupby("unique_id").size().to_dict() == {"s0": 18, "s1": 18, "s2": 18}
    assert str(out[out.unique_id == "s1"].ds.iloc[0])[:10] == "2004-01-01"  # after 48 months
    assert (out["rnnkit-lo-90"] <= out["rnnkit"]).all() and (out["rnnkit"] <= out["rnnkit-hi-90"]).all()
    assert fc.backtest_ is not None
    assert fc.backtest_["origins"] > 3 and set(fc.backtest_["series"]) == {"s0", "s1", "s2"}
    assert len(fc.predict(h=6)) == 18
    with pytest.raises(ValueError, match="h must be in 1..18"):
        fc.predict(h=19)


def test_the_network_beats_the_naive_forecast_on_seasonal_series():
    df = seasonal_panel([100] * 8, seed=1)
    train = df.groupby("unique_id").head(82)
    test = df.groupby("unique_id").tail(18)
    fc = Forecaster(h=18, **{**SMALL, "max_steps": 150}).fit(train)
    means, per = fc.evaluate(test, with_baselines=False)
    naive = np.mean(
        [
            np.mean(np.abs(g.y.to_numpy() - train[train.unique_id == k].y.iloc[-1]))
            / np.mean(np.abs(np.diff(train[train.unique_id == k].y.to_numpy(), n=1)[11:]))
            for k, g in test.groupby("unique_id")
        ]
    )
    assert len(per) == 8 and means.loc["rnnkit", "MASE"] < 0.6 * naive


def test_save_load_gives_the_same_forecasts(tmp_path):
    df = seasonal_panel([60, 50])
    fc = Forecaster(h=6, **SMALL).fit(df)
    fc.save(tmp_path / "run")
    back = Forecaster.load(tmp_path / "run")
    pd.testing.assert_frame_equal(fc.predict(), back.predict())
    assert back.backtest_ is not None and fc.backtest_ is not None
    assert back.losing_series == fc.losing_series and back.backtest_["mase"] == fc.backtest_["mase"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["forecaster.json", "model.safetensors"]


def test_numeric_times_keep_their_season_after_save(tmp_path):
    t = np.arange(150)
    df = pd.DataFrame({"unique_id": "a", "ds": t, "y": 10 + np.sin(2 * np.pi * t / 12)})
    fc = Forecaster(h=12, season=12, **SMALL).fit(df)
    fc.save(tmp_path / "run")
    assert np.allclose(Forecaster.load(tmp_path / "run").predict()["rnnkit"], fc.predict()["rnnkit"])


def test_es_smoothing_is_holt_winters_in_log_units():
    """With α = σ(a), γ = σ(c) the smoothing reproduces the recursion computed by hand."""
    m, n, H = 4, 14, 3
    g = np.log(np.arange(1.0, n + H + 1))
    es = ESSmoothing(1, m, np.array([[0.1, -0.1, 0.05, -0.05]]))
    w = torch.tensor(g, dtype=torch.float32)[None]
    t = (np.arange(n + H) % m)[None]
    x, y, base = es(w, t, np.array([0]), 6, H)
    a, c = 1 / (1 + np.exp(1.5)), 1 / (1 + np.exp(2.5))
    s = [0.1, -0.1, 0.05, -0.05]
    level = g[0] - s[0]
    used = []
    for j in range(n):
        sj = s[j % m]
        level = a * (g[j] - sj) + (1 - a) * level
        s[j % m] = c * (g[j] - level) + (1 - c) * sj
        used.append(sj)
    assert base[0].tolist() == pytest.approx([level + s[(n + h) % m] for h in range(H)], abs=1e-5)
    assert x[0, :, 0].tolist() == pytest.approx((g[n - 6 : n] - np.array(used[-6:]) - level).tolist(), abs=1e-5)
    (y.sum() + x.sum()).backward()
    assert es.alpha.grad is not None and es.season.grad is not None
    assert es.alpha.grad.abs().item() > 0 and es.season.grad.abs().sum().item() > 0


def test_esrnn_option_fits_saves_and_loads(tmp_path):
    df = seasonal_panel([60, 50, 48])
    fc = Forecaster(h=12, esrnn=True, **SMALL).fit(df)
    out = fc.predict()
    assert len(out) == 36 and np.isfinite(out["rnnkit"]).all()
    fc.save(tmp_path / "run")
    pd.testing.assert_frame_equal(out, Forecaster.load(tmp_path / "run").predict())


def test_config_checks():
    with pytest.raises(ValueError, match="lookbacks"):
        ForecasterConfig(lookbacks="a,b")
    with pytest.raises(ValueError, match="horizon"):
        ForecasterConfig(horizon=0)
    assert ForecasterConfig(horizon=18).resolved_lookbacks(12) == [27, 54]


def cli(*args):
    from typer.testing import CliRunner

    from rnnkit.cli import app

    return CliRunner().invoke(app, ["forecast", "train", *args])


@pytest.mark.parametrize(
    "edit, flags, message",
    [
        (lambda df: df, ["--id-col", "shop"], "no column 'shop'"),
        (
            lambda df: df.assign(y=np.where(df.unique_id == "s1", np.nan, df.y)),
            ["--id-col", "unique_id"],
            "every value of series 's1' is missing",
        ),
        (lambda df: pd.concat([df, df.iloc[[5]]]), ["--id-col", "unique_id"], "duplicate timestamp"),
    ],
)
def test_cli_bad_tables_are_one_error_line_and_write_nothing(tmp_path, edit, flags, message):
    edit(seasonal_panel([30, 30])).to_csv(tmp_path / "long.csv", index=False)
    result = cli("--csv", str(tmp_path / "long.csv"), *flags, "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2 and message in result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == [
        next(line for line in result.output.splitlines() if message in line)
    ]
    assert not (tmp_path / "run").exists()


def test_cli_forecasts_every_series_of_a_long_table(tmp_path):
    seasonal_panel([60, 48, 50]).rename(columns={"unique_id": "shop", "ds": "month", "y": "sales"}).to_csv(
        tmp_path / "long.csv", index=False
    )
    result = cli(
        "--csv",
        str(tmp_path / "long.csv"),
        "--id-col",
        "shop",
        "--time-col",
        "month",
        "--target-col",
        "sales",
        "--horizon",
        "18",
        "--run-dir",
        str(tmp_path / "run"),
        "--id",
        "s1",
        *flags(SMALL),
    )
    assert result.exit_code == 0, result.output
    assert "3 series (shortest 48 points)" in result.output
    out = pd.read_csv(tmp_path / "run" / "forecasts.csv")
    assert out.groupby("unique_id").size().to_dict() == {"s0": 18, "s1": 18, "s2": 18}
    for name in ("backtest.csv", "anomalies.csv", "forecast.png", "anomalies.png", "model.safetensors"):
        assert (tmp_path / "run" / name).exists(), name

    # predict and eval read the saved run: every series with intervals, --id drawn, scored on a test table
    from typer.testing import CliRunner

    from rnnkit.cli import app

    run = str(tmp_path / "run")
    result = CliRunner().invoke(app, ["forecast", "predict", run, "--id", "s2", "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    again = pd.read_csv(tmp_path / "p.csv")
    pd.testing.assert_frame_equal(again, out)
    assert (again["rnnkit-lo-90"] <= again["rnnkit"]).all() and (again["rnnkit"] <= again["rnnkit-hi-90"]).all()
    assert "series 's2'" in result.output
    bad = CliRunner().invoke(app, ["forecast", "predict", run, "--id", "nope", "--out", str(tmp_path / "q.csv")])
    assert bad.exit_code == 2 and "error: --id 'nope'" in bad.output and not (tmp_path / "q.csv").exists()
    bad = CliRunner().invoke(app, ["forecast", "predict", run, "--origin", "test", "--out", str(tmp_path / "q.csv")])
    assert bad.exit_code == 2 and bad.stderr.splitlines() == [
        "error: --origin test is for one-series runs: a many-series run forecasts every series from its end "
        "(score held-out values with `rnnkit forecast eval RUN --csv TEST.csv`)"
    ]
    assert not (tmp_path / "q.csv").exists()
    full = seasonal_panel([78, 66, 68]).rename(columns={"unique_id": "shop", "ds": "month", "y": "sales"})
    full.groupby("shop").tail(18).to_csv(tmp_path / "test.csv", index=False)
    result = CliRunner().invoke(app, ["forecast", "eval", run, "--csv", str(tmp_path / "test.csv"), "--no-baselines"])
    assert result.exit_code == 0, result.output
    assert "rnnkit" in result.output and "MASE" in result.output


# ES-RNN smoothing and a series embedding (every kind of parameter), B = 33 windows (shares of 17 and
# 16) for the data-parallel backtest member, 3 more members shared by the 2 processes; the 1-process run
# goes in-process while the 2 processes start.
DDP = {**SMALL, "horizon": 6, "lookbacks": "12,24", "seeds": 2, "max_steps": 40, "eval_every": 10,
       "batch_size": 33, "esrnn": True, "embedding": 2}  # fmt: skip


@pytest.mark.slow  # ~18 s on 2 loaded cores: torchrun and three interpreters start
def test_two_processes_fit_what_one_process_fits(tmp_path):
    import subprocess
    import sys

    from safetensors.torch import load_file

    seasonal_panel([60, 48, 50, 40, 70]).to_csv(tmp_path / "long.csv", index=False)
    common = ["--csv", str(tmp_path / "long.csv"), "--id-col", "unique_id", *flags(DDP)]
    cmd = [sys.executable, "-m", "rnnkit", "forecast", "train", *common, "--run-dir", str(tmp_path / "two")]
    two = subprocess.Popen([*cmd, "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    one = cli(*common, "--run-dir", str(tmp_path / "one"))
    out, err = two.communicate(timeout=300)
    assert one.exit_code == 0 and two.returncode == 0, (one.output, err)
    assert out.count("5 series (shortest 40 points), 4 ensemble members") == 1  # rank 0 reports, once
    a, b = (load_file(str(tmp_path / run / "model.safetensors")) for run in ("one", "two"))
    assert a.keys() == b.keys() and any(k.endswith("es.alpha") for k in a)
    for k in a:
        assert torch.allclose(a[k].double(), b[k].double(), rtol=0, atol=1e-6), (k, (a[k] - b[k]).abs().max())
    # the backtest member's updates summed its shares in another order; the others trained alone
    assert max((a[k] - b[k]).abs().max() for k in a if k.startswith("member0.")) > 0
    assert all(torch.equal(a[k], b[k]) for k in a if not k.startswith("member0."))
    meta = [json.loads((tmp_path / run / "forecaster.json").read_text()) for run in ("one", "two")]
    assert meta[0]["steps"] == meta[1]["steps"]
    f1, f2 = (pd.read_csv(tmp_path / run / "forecasts.csv") for run in ("one", "two"))
    pd.testing.assert_frame_equal(f1, f2, rtol=1e-5)


def test_data_parallel_flags_are_checked_before_any_process_starts(tmp_path):
    seasonal_panel([30, 30]).to_csv(tmp_path / "long.csv", index=False)
    base = ["--csv", str(tmp_path / "long.csv"), "--run-dir", str(tmp_path / "run")]
    result = cli(*base, "--id-col", "unique_id", "--max-restarts", "1")
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        "error: --max-restarts restarts the processes of --nproc N (N >= 2); under torchrun, give it to torchrun"
    ]
    result = cli(*base, "--id-col", "shop", "--nproc", "2")  # bad input: one line here, not one per process
    assert result.exit_code == 2 and result.stderr.splitlines() == [
        next(line for line in result.stderr.splitlines() if "no column 'shop'" in line)
    ]
    assert result.stderr.startswith("error: ") and not (tmp_path / "run").exists()
