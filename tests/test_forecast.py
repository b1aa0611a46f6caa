"""rnnkit.tasks.forecast: heads' losses by hand, forecasts at fixed weights, and the CLI as a user runs it."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_forecast_data import write_csv
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks.baselines import seasonal_naive
from rnnkit.tasks.forecast import ForecastConfig, ForecastNet, ForecastTask, forecast, origins_of

CFG = dict(horizon=4, lookback=8, hidden_size=5)


def test_heads_losses_by_hand():
    x = torch.zeros(1, 1, 1 + 2)  # one step: feature 0, anchors (0, 0)
    y = torch.tensor([[[1.0, float("nan")]]])  # the second target is not scored
    for head, expected in (("mse", 1.0), ("gaussian", 0.5), ("quantile", (0.05 + 0.5 + 0.95) / 3)):
        model = ForecastNet(1, ForecastConfig(dataset="nile", head=head, horizon=2))
        _, loss, _ = model(x, y)  # zero head: value 0, log sd 0, every quantile 0
        assert loss.item() == pytest.approx(expected), head
    q = torch.tensor([[3.0, 1.0, 2.0]])
    model = ForecastNet(1, ForecastConfig(dataset="nile", head="quantile", horizon=1))
    assert [t.item() for t in model.bounds(q)] == [1.0, 3.0] and model.point(q).item() == 1.0
    g = ForecastNet(1, ForecastConfig(dataset="nile", head="gaussian", horizon=1, level=0.9))
    lo, hi = g.bounds(torch.tensor([[2.0, 0.0]]))
    assert (lo.item(), hi.item()) == pytest.approx((2 - 1.6448536, 2 + 1.6448536))


@pytest.mark.parametrize("strategy", ["direct", "recursive"])
def test_zero_head_forecasts_the_seasonal_naive_in_data_units(strategy):
    """At zero output weights the network forecasts its anchor: the seasonal naive forecast, through
    scaling, windows and (recursive) the rollout feeding forecasts back in."""
    task = ForecastTask(ForecastConfig(dataset="elec_equip", strategy=strategy, scaler="minmax", **CFG))
    data = task.data
    orig = origins_of(data, "val", 4, 8, 1)[:3]
    horizon = 4 if strategy == "direct" else 15  # a rollout past one season reads its own forecasts
    point, _, _ = forecast(task.model, data, orig, horizon, 8)
    for e, p in zip(orig, point):
        assert np.allclose(p, seasonal_naive(data.y[:e], horizon, 12), atol=1e-4)


def test_recursive_forecast_needs_future_covariates(tmp_path):
    path = write_csv(tmp_path / "c.csv", list(range(60)), extra={"c": list(range(60))})
    task = ForecastTask(ForecastConfig(csv=str(path), time_col="date", target_col="y", covariates="c",
                                       strategy="recursive", **CFG))
    forecast(task.model, task.data, np.array([50]), 4, 8)
    with pytest.raises(ValueError, match="recursive strategy needs the covariates' future values"):
        forecast(task.model, task.data, np.array([60]), 4, 8)


# ------------------------------------------------------------------------------------------------
def rnnkit(*args):
    """The CLI in a new process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300)


def rnnkit_here(*args):
    """The same CLI in this process (no second start-up of torch and statsmodels): (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny quantile-head GRU trained on a seasonal CSV with a spike in its test part."""
    tmp = tmp_path_factory.mktemp("fc")
    t = np.arange(96)
    values = 20 + 0.05 * t + 3 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 0.2, 96)
    values[90] += 15
    values = [round(v, 4) for v in values]
    values[30] = None  # a gap: interpolated with a warning
    path = write_csv(tmp / "s.csv", values)
    run = tmp / "run"
    result = rnnkit("forecast", "train", "--csv", str(path), "--time-col", "date", "--target-col", "y",
                    "--horizon", "6", "--lookback", "12", "--val-size", "12", "--test-size", "12",
                    "--cell", "gru", "--hidden-size", "8", "--head", "quantile", "--max-epochs", "3",
                    "--run-dir", str(run))
    return result, path, run


def test_cli_train_reports_model_and_baselines(trained):
    result, _, run = trained
    assert result.returncode == 0, result.stderr
    assert "warning: y: 1 missing values interpolated" in result.stderr
    for method in ("rnnkit GRU", "naive", "seasonal naive", "AutoARIMA", "AutoETS", "AutoTheta"):
        assert f"| {method} |" in result.stdout or f"| **{method}** |" in result.stdout
    assert (run / "best" / "model.safetensors").exists() and (run / "calibration.json").exists()


def test_cli_predict_eval_and_anomalies(trained, tmp_path):
    _, path, run = trained
    code, _, err = rnnkit_here("forecast", "predict", str(run), "--out", str(tmp_path / "f.csv"),
                               "--plot", str(tmp_path / "f.png"))
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert [r["time"] for r in rows] == [f"2007-{m:02d}-01" for m in range(1, 7)]  # the test part's start
    assert all(float(r["lower"]) <= float(r["forecast"]) <= float(r["upper"]) and r["truth"] for r in rows)
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    code, _, _ = rnnkit_here("forecast", "predict", str(run), "--origin", "end", "--out", str(tmp_path / "e.csv"),
                             "--plot", str(tmp_path / "e.png"))
    rows = list(csv.DictReader((tmp_path / "e.csv").read_text().splitlines()))
    assert code == 0 and rows[0]["time"] == "2008-01-01" and rows[0]["truth"] == ""
    code, out, _ = rnnkit_here("forecast", "eval", str(run))
    assert code == 0 and "| AutoETS |" in out.replace("**", "") and "MASE" in out
    code, out, err = rnnkit_here("forecast", "anomalies", str(run), "--csv", str(path), "--out",
                                 str(tmp_path / "a.csv"), "--plot", str(tmp_path / "a.png"))
    assert code == 0, err
    flagged = [r["time"] for r in csv.DictReader((tmp_path / "a.csv").read_text().splitlines()) if r["anomaly"] == "1"]
    assert "2007-07-01" in flagged  # the spike of +15 (75 noise sds)
    assert len(flagged) <= 4
    assert (tmp_path / "a.png").exists()


BAD_INPUT = [
    ("date,y\n2000-01-01,1\n", ["--target-col", "z"], "no column 'z'"),
    ("date,y\n2000-01-01,1\n2000-02-01,x\n", [], "column 'y' is not numeric: row 3 holds 'x'"),
    ("date,y\n" + "".join(f"2000-{m:02d}-01,{'' if m % 2 else m}\n" for m in range(1, 13)),
     ["--horizon", "2", "--lookback", "2"], "6 of 12 values missing (50%)"),
    ("date,y\n2000-02-01,1\n2000-01-01,2\n", [], "timestamps are not sorted"),
]


@pytest.mark.parametrize("content, args, message", BAD_INPUT)
def test_cli_bad_input_is_one_clear_error(tmp_path, content, args, message):
    (tmp_path / "bad.csv").write_text(content)
    code, _, err = rnnkit_here("forecast", "train", "--csv", str(tmp_path / "bad.csv"), "--time-col", "date",
                               "--target-col", "y", *args, "--run-dir", str(tmp_path / "run"))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert not (tmp_path / "run").exists()  # stopped before training


def test_cli_bad_input_in_a_new_process_has_no_traceback(tmp_path):
    (tmp_path / "bad.csv").write_text(BAD_INPUT[0][0])
    result = rnnkit("forecast", "train", "--csv", str(tmp_path / "bad.csv"), "--time-col", "date",
                    "--target-col", "z")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_train_defaults_yield_to_the_toml_file_and_to_flags(tmp_path):
    from rnnkit.cli import forecast

    (tmp_path / "c.toml").write_text('[train]\nmax_epochs = 5\n[forecast]\ndataset = "nile"\n')
    cfgs = forecast.train.task.configs(str(tmp_path / "c.toml"), ["--patience", "3"])
    assert (cfgs["train"].max_epochs, cfgs["train"].patience, cfgs["train"].threads) == (5, 3, 1)
