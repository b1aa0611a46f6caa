"""`rnnkit forecast train|eval|predict|anomalies`."""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from rnnkit.cli.common import RUN_HELP, declared, errors, settings_command, train_command
from rnnkit.tasks.forecast import TRAIN_DEFAULTS, ForecastConfig
from rnnkit.tasks.forecaster import ForecasterConfig, PanelRunConfig, is_panel_dir, is_panel_run, read_run


class ForecastCommands(TyperGroup):
    """`forecast train` given --id-col, or --csv naming a folder, is the many-series command `train-many`."""

    def resolve_command(self, ctx, args):
        name, command, rest = super().resolve_command(ctx, args)
        if name == "train" and is_panel_run(rest):
            return "train-many", self.get_command(ctx, "train-many"), rest
        return name, command, rest


forecast_app = typer.Typer(
    help="Time-series forecasting and anomaly detection.", no_args_is_help=True, cls=ForecastCommands
)
CSV_HELP = "Another CSV to forecast (default: the run's own data), with the run's columns."
TEST_HELP = "Many-series runs: the long table (or folder) of the values after each series' end."


def _load_run(run: str, csv: str, time_col: str, target_col: str):
    from rnnkit.tasks.forecast import load_forecaster

    overrides = {"csv": csv, "dataset": ""} if csv else {}
    overrides.update({k: v for k, v in (("time_col", time_col), ("target_col", target_col)) if v})
    return load_forecaster(run, **overrides)


@train_command(forecast_app, "train", declared("forecast", ForecastConfig, TRAIN_DEFAULTS))
def train(cfgs: dict) -> None:
    """Train on one series, --csv FILE --time-col T --target-col Y (or --dataset
    sunspots|co2|nile|elec_equip), then compare with naive, seasonal naive, AutoARIMA, AutoETS and
    AutoTheta on the test part. Many series (--id-col ID, or --csv FOLDER of one-series CSVs): one
    global model, whose settings `rnnkit forecast train-many --help` lists."""
    from rnnkit.tasks import forecast as fc
    from rnnkit.train import Trainer

    task = fc.ForecastTask(cfgs["forecast"], cfgs["train"].seed)
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank != 0:
        return
    fc.save_calibration(cfgs["train"].run_dir, fc.calibrate(task.model, task.data, cfgs["forecast"]))
    results, _ = fc.evaluate(task.model, task.data, cfgs["forecast"])
    typer.echo(
        f"best val loss {summary['best_val']:.4f} after {summary['step']} updates in "
        f"{summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}\n\n{fc.metrics_table(results)}"
    )


@forecast_app.command("eval")
def evaluate(
    run: str = typer.Argument(..., help=RUN_HELP),
    csv: str = typer.Option("", help=f"{CSV_HELP} {TEST_HELP}"),
    id_col: str = typer.Option("", help="Many-series runs: the id column of --csv [the run's]."),
    time_col: str = typer.Option(""),
    target_col: str = typer.Option(""),
    baselines: bool = typer.Option(True, help="Many-series runs: also fit the statsforecast baselines."),
) -> None:
    """Print MAE, RMSE, sMAPE, MASE, MAPE of the model and the baselines on the test part; for a
    many-series run, sMAPE and MASE (mean over series) against the values of --csv."""
    from rnnkit.tasks.forecast import evaluate, metrics_table
    from rnnkit.tasks.forecaster import evaluate_run

    with errors():
        if is_panel_dir(run):
            typer.echo(evaluate_run(run, csv, id_col, time_col, target_col, baselines).to_string(float_format="%.3f"))
            return
        model, cfg, data, _ = _load_run(run, csv, time_col, target_col)
        results, _ = evaluate(model, data, cfg)
    typer.echo(metrics_table(results))


@forecast_app.command("predict")
def predict(
    run: str = typer.Argument(..., help=RUN_HELP),
    csv: str = typer.Option("", help=CSV_HELP),
    time_col: str = typer.Option(""),
    target_col: str = typer.Option(""),
    origin: str = typer.Option(
        "",
        help="test: forecast the held-out tail (truth shown); end: forecast past the last point "
        "[test; many series: end, their only origin].",
    ),
    out: str = typer.Option("", help="CSV of the forecasts [RUN/forecast.csv; many series: RUN/forecasts.csv]."),
    plot: str = typer.Option("", help="PNG of history, forecast and truth [RUN/forecast.png]."),
    id: str = typer.Option("", help="Many-series runs: the series drawn in the PNG [the first]."),
) -> None:
    """Forecast H steps with intervals: a CSV (time, forecast, lower, upper, truth) and a PNG. For a
    many-series run: every series from its end (unique_id, ds, rnnkit, lower, upper), --id drawn."""
    from rnnkit.tasks.forecast import plot_forecast, predict, write_csv
    from rnnkit.tasks.forecaster import predict_run

    with errors():
        if is_panel_dir(run):
            if csv:
                raise ValueError(
                    "--csv is for one-series runs: a many-series run forecasts the series it was fitted on"
                )
            if origin not in ("", "end"):
                raise ValueError(
                    f"--origin {origin} is for one-series runs: a many-series run forecasts every series from "
                    "its end (score held-out values with `rnnkit forecast eval RUN --csv TEST.csv`)"
                )
            typer.echo(predict_run(run, id, out, plot))
            return
        origin = origin or "test"
        if origin not in ("test", "end"):
            raise ValueError(f"--origin must be test or end, got {origin!r}")
        model, cfg, data, calib = _load_run(run, csv, time_col, target_col)
        e, rows = predict(model, data, cfg, calib, origin)
        out, plot = out or f"{run}/forecast.csv", plot or f"{run}/forecast.png"
        write_csv(out, ["time", "forecast", "lower", "upper", "truth"], rows)
        plot_forecast(plot, data, e, rows, cfg.level, f"{data.series.target}: {cfg.horizon}-step forecast")
    typer.echo(f"wrote {out} and {plot}")


@forecast_app.command("anomalies")
def anomalies(
    run: str = typer.Argument(..., help=RUN_HELP),
    csv: str = typer.Option("", help=CSV_HELP),
    time_col: str = typer.Option(""),
    target_col: str = typer.Option(""),
    k: float = typer.Option(4.0, help="Threshold in robust sds of the validation residuals."),
    out: str = typer.Option("", help="CSV of every point [RUN/anomalies.csv]."),
    plot: str = typer.Option("", help="PNG of the series and flagged points [RUN/anomalies.png]."),
) -> None:
    """Flag points whose one-step forecast error exceeds k robust sds of the validation residuals."""
    from rnnkit.tasks.forecast import anomalies, plot_anomalies, write_csv

    with errors():
        if k <= 0:
            raise ValueError(f"--k must be > 0, got {k}")
        model, cfg, data, calib = _load_run(run, csv, time_col, target_col)
        rows = anomalies(model, data, cfg, calib, k)
        out, plot = out or f"{run}/anomalies.csv", plot or f"{run}/anomalies.png"
        write_csv(out, ["time", "value", "forecast", "residual", "threshold", "anomaly"], rows)
        plot_anomalies(plot, data, rows, f"{data.series.target}: one-step forecast errors beyond {k:g} sd")
    flagged = [r for r in rows if r[5]]
    typer.echo(
        f"{len(flagged)} of {len(rows)} points flagged (threshold |residual| > {rows[0][4]:.4g}); "
        f"wrote {out} and {plot}"
    )
    for r in flagged[:20]:
        typer.echo(f"  {r[0]}: value {r[1]:.4g}, forecast {r[2]:.4g}")


def _train_many(config: str | None, args: list[str]) -> None:
    """Train one global model across many series: --csv LONG.csv (columns --id-col, --time-col,
    --target-col; default unique_id, ds, y) or --csv FOLDER of one-series CSVs. Writes the model,
    forecasts.csv (with intervals), backtest.csv (per series, against seasonal naive), anomalies.csv
    and two PNGs of --id into --run-dir. `rnnkit forecast train --id-col ...` runs this command.
    --nproc N: N data-parallel processes train every member (the same result as one)."""
    from rnnkit.tasks.forecaster import train_run

    summary = train_run(config, args)
    if summary:  # (rank 0's)
        typer.echo(summary)


settings_command(
    forecast_app,
    "train-many",
    {"data": PanelRunConfig, "forecaster": ForecasterConfig},
    _train_many,
    parallel=(read_run, "each restart fits again from the start (no checkpoints are kept while it trains)"),
)
