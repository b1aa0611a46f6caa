"""The `rnnkit` command line: thin wrappers that parse options and call the library."""

from contextlib import contextmanager

from pathlib import Path

import typer

from rnnkit.diagnostics.cli import diagnose_app
from rnnkit.tasks.classify import ClassifyConfig
from rnnkit.tasks.forecast import ForecastConfig
from rnnkit.tasks.lm import LMConfig
from rnnkit.train.config import TrainConfig, flags_help
from rnnkit.tasks.seq2seq_cli import seq2seq_app

app = typer.Typer(help="rnnkit: recurrent neural networks for sequence data.", no_args_is_help=True)
lm_app = typer.Typer(help="Language models (char or word level): train, eval, sample.", no_args_is_help=True)
app.add_typer(lm_app, name="lm")
app.add_typer(diagnose_app, name="diagnose")
app.add_typer(seq2seq_app, name="seq2seq")
classify_app = typer.Typer(help="Text classification (many-to-one): train, eval, predict.", no_args_is_help=True)
app.add_typer(classify_app, name="classify")

EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}


def fail(message: str, code: int = 2) -> None:
    """One line on stderr and a non-zero exit: how bad input is reported, never a traceback."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def _commands() -> None:
    """rnnkit: recurrent neural networks for sequence data."""


@app.command()
def version() -> None:
    """Print rnnkit's version."""
    from rnnkit import __version__

    typer.echo(__version__)


@app.command()
def demo(seconds: float = typer.Option(120.0, help="Training time budget in seconds."),
         run_dir: str = typer.Option("runs/demo", help="Where checkpoints and metrics go."),
         threads: int = typer.Option(0, help="torch threads; 0 = all cores (use 1 on a busy machine).")) -> None:
    """Train a small char-level LSTM on tiny Shakespeare, then print val loss and a sample."""
    from rnnkit.tasks.lm import DEMO_ARGS, DEMO_CONTEXT

    _train_lm(None, [*DEMO_ARGS, "--max-time", str(seconds), "--run-dir", run_dir, "--threads", str(threads),
                     "--overwrite"],
              prime="ROMEO:", sample_chars=300, context=DEMO_CONTEXT)


@lm_app.command("train", context_settings=EXTRA, epilog=flags_help(LMConfig, TrainConfig))
def lm_train(ctx: typer.Context,
             config: str = typer.Option(None, help="A TOML file with \\[train] and \\[lm] tables."),
             nproc: int = typer.Option(1, help="Data-parallel processes on this machine (torchrun)."),
             ) -> None:
    """Train a language model; any \\[train]/\\[lm] setting can be given as a flag (--data FILE --level word
    --cell gru --lr 0.003 --hidden-size 256 --tie-weights ...). PTB: --data ptb.train.txt finds ptb.valid.txt
    and ptb.test.txt beside it, and the test split is evaluated once, at the end.

    --resume RUN_DIR continues a run exactly where its last checkpoint stopped, with its settings.
    """
    _relaunch(nproc, "lm", config, ctx.args)
    _train_lm(config, ctx.args, prime="", sample_chars=0, context="")


def _train_lm(config: str | None, args: list[str], prime: str, sample_chars: int, context: str) -> None:
    from rnnkit.tasks.lm import LanguageModelTask, LMConfig, lm_metrics, sample

    cfgs, task, trainer, summary = _fit({"lm": LMConfig}, config, args, lambda c: LanguageModelTask(c["lm"]))
    if trainer.rank != 0:
        return
    unit = task.vocab.unit
    for split, loss in (("val", summary["best_val"]), ("test", summary["test"])):
        if loss is not None:
            stream = task.eval_streams[split]
            typer.echo(f"{split} loss {_metrics_line(lm_metrics(loss), unit)} ({stream.y.numel():,} predicted {unit}s "
                       f"of the {split} split, as {stream.x.shape[0]} contiguous streams)")
    typer.echo(f"after {summary['step']} updates in {summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}")
    if sample_chars:
        typer.echo(f"\n--- sample (temperature 0.8, seed 0, after {context!r}) ---\n{prime}"
                   + sample(task.model, task.vocab, prime, sample_chars, temperature=0.8, seed=0, context=context))


def _metrics_line(m: dict, unit: str) -> str:
    return f"{m['loss']:.4f} nats/{unit}, perplexity {m['perplexity']:.2f}, {m['bits']:.4f} bits/{unit}"


@lm_app.command("eval")
def lm_eval(checkpoint: str = typer.Option(..., help="A run or checkpoint directory."),
            split: str = typer.Option("val", help="val | test: a split of the data the model was trained on."),
            data: str = typer.Option("", help="A text file to score instead of a split.")) -> None:
    """Loss in nats per token, perplexity and bits per token (per character for a char model, or for
    word-level files of space-separated characters such as char PTB)."""
    from rnnkit.data.text import read_splits, read_text_file
    from rnnkit.tasks.lm import evaluate_text, lm_config, load_lm
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.config import check_choice

    try:
        check_choice("split", split, ("val", "test"))
        cfg = lm_config(checkpoint)
        model, vocab = load_lm(checkpoint)
        if data:
            text, source = read_text_file(data), data
        else:
            texts = read_splits(cfg.data)
            if split not in texts:
                raise ValueError(f"{cfg.data or 'tiny Shakespeare'} has no {split} split (one file is split 90/10 "
                                 "into train/val); give --data FILE to score another file")
            text, source = texts[split], f"the {split} split of {cfg.data or 'tiny Shakespeare'}"
        metrics, count = evaluate_text(model, vocab, text, cfg)
    except (ValueError, OSError, UnicodeDecodeError, CheckpointError) as err:
        fail(str(err))
    typer.echo(f"{source}: {count:,} predicted {vocab.unit}s; loss {_metrics_line(metrics, vocab.unit)}")


@lm_app.command("sample")
def lm_sample(run: str = typer.Argument(None, help="A run or checkpoint directory (or give --checkpoint)."),
              checkpoint: str = typer.Option(None, help="A run or checkpoint directory."),
              prime: str = typer.Option("ROMEO:", help="Text to start from."),
              length: int = typer.Option(300, help="Tokens (characters or words) to generate."),
              temperature: float = typer.Option(0.8),
              top_k: int = typer.Option(0, help="Keep only the k likeliest tokens; 0 = all."),
              seed: int = typer.Option(0)) -> None:
    """Generate text from a trained language model (prime words unknown to a word model are read as <unk>)."""
    from rnnkit.data.text import WordVocab
    from rnnkit.tasks.lm import load_lm, sample
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if not (run or checkpoint):
            raise ValueError("give the model as --checkpoint DIR")
        if length < 0:
            raise ValueError(f"--length must be >= 0, got {length}")
        model, vocab = load_lm(checkpoint or run)
        if isinstance(vocab, WordVocab) and vocab.unknown(prime):
            typer.echo(f"note: {', '.join(map(repr, vocab.unknown(prime)))} not in the vocabulary; read as <unk>",
                       err=True)
        typer.echo(prime + sample(model, vocab, prime, length, temperature, top_k, seed))
    except (ValueError, CheckpointError) as err:
        fail(str(err))


def train_configs(classes: dict, config: str | None, args: list[str], fresh_args: list[str] | None = None):
    """The configs of a train command: `classes` is {"train": TrainConfig, the task's name: its config
    class}, and the task saves that config in its meta under the same name. With --resume, the
    saved run's settings overridden by `args`, in the directory that holds the checkpoint (never a
    run_dir named inside state.json); otherwise built from `fresh_args` (default: `args`)."""
    from rnnkit.train import build_configs
    from rnnkit.train.checkpoint import read_state

    cfgs = build_configs(classes, config, args if fresh_args is None else fresh_args)
    if cfgs["train"].resume:
        name = next(k for k in classes if k != "train")
        saved = read_state(cfgs["train"].resume, task=name)
        cfgs = build_configs(classes, config, args, base={"train": saved.get("config"), name: saved["meta"].get(name)})
        if "--run-dir" not in args:
            cfgs["train"].run_dir = str(Path(saved["path"]).parent)
    return cfgs


def _relaunch(nproc: int, task: str, config: str | None, args: list[str]) -> None:
    """With nproc > 1, rerun `rnnkit TASK train ...` as nproc data-parallel processes and exit with their status."""
    if nproc > 1:
        from rnnkit.train.distributed import launch

        raise typer.Exit(launch(nproc, [task, "train", *(["--config", config] if config else []), *args]))


def _fit(tables: dict, config: str | None, args: list[str], make_task):
    """Build the configs (see train_configs), the task and the trainer, and train; bad input ends in
    one error line."""
    import torch

    from rnnkit.train import Trainer, TrainConfig
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged, TrainingInterrupted

    try:
        cfgs = train_configs({"train": TrainConfig, **tables}, config, args)
        torch.manual_seed(cfgs["train"].seed)  # the same initial weights in every process
        task = make_task(cfgs)
        trainer = Trainer(task, cfgs["train"])
        summary = trainer.fit()
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
    except TrainingInterrupted as err:
        fail(str(err), code=130)
    return cfgs, task, trainer, summary


def _print_classification(metrics: dict, labels: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title}: accuracy {metrics['accuracy']:.4f}, MCC {metrics['mcc']:.4f}")
    for column in ("class", "precision", "recall", "F1", *(f"→ {name}" for name in labels)):
        table.add_column(column, justify="left" if column == "class" else "right")
    for i, name in enumerate(labels):
        table.add_row(name, f"{metrics['precision'][i]:.4f}", f"{metrics['recall'][i]:.4f}",
                      f"{metrics['f1'][i]:.4f}", *map(str, metrics["confusion"][i]))
    Console().print(table)


@classify_app.command("train", context_settings=EXTRA, epilog=flags_help(ClassifyConfig, TrainConfig))
def classify_train(ctx: typer.Context,
                   config: str = typer.Option(None, help="A TOML file with \\[train] and \\[classify] tables."),
                   nproc: int = typer.Option(1, help="Data-parallel processes on this machine.")) -> None:
    """Train a text classifier (default data: the bundled SMS Spam Collection); any \\[train]/\\[classify]
    setting is a flag (--data FILE --text-col 1 --label-col 0 --pooling attention --lr 0.003 ...).
    The test split is evaluated once, at the end."""
    _relaunch(nproc, "classify", config, ctx.args)
    from rnnkit.tasks.classify import ClassificationTask, ClassifyConfig, evaluate_texts

    cfgs, task, trainer, summary = _fit({"classify": ClassifyConfig}, config, ctx.args,
                                        lambda c: ClassificationTask(c["classify"]))
    if trainer.rank == 0:
        texts, labels = task.data["test"]
        metrics = evaluate_texts(task.model, task.vocab, task.labels, task.cfg, texts, labels)
        _print_classification(metrics, task.labels, f"test split ({len(texts)} texts), best weights")
        typer.echo(f"run in {cfgs['train'].run_dir}")


CHECKPOINTS_HELP = ("A run or checkpoint directory; repeat it to average the class probabilities of several "
                    "classifiers of the same labels (an ensemble).")


@classify_app.command("eval")
def classify_eval(checkpoint: list[str] = typer.Option(..., help=CHECKPOINTS_HELP),
                  data: str = typer.Option("", help="Labelled file to score in full; default: the training "
                                                    "data's held-out test split.")) -> None:
    """Accuracy, per-class precision/recall/F1, MCC and the confusion matrix of a trained classifier."""
    from rnnkit.data.labelled import read_labelled
    from rnnkit.tasks.classify import load_ensemble, predict_mean, score_probs, shared_test_split
    from rnnkit.train.checkpoint import CheckpointError

    try:
        members, labels = load_ensemble(checkpoint)
        cfg = members[0][2]
        if data:
            texts, truth = read_labelled(data, cfg.text_col, cfg.label_col)
        else:
            texts, truth = shared_test_split(members)
        metrics = score_probs(predict_mean(members, texts), labels, truth)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    models = f", mean of {len(members)} models" if len(members) > 1 else ""
    _print_classification(metrics, labels, f"{data or 'test split'} ({len(texts)} texts{models})")


@classify_app.command("predict")
def classify_predict(texts: list[str] = typer.Argument(None, help="Texts to classify."),
                     checkpoint: list[str] = typer.Option(..., help=CHECKPOINTS_HELP),
                     file: str = typer.Option("", help="A UTF-8 file with one text per line.")) -> None:
    """The label and class probabilities of each text, one line each (tab-separated)."""
    from rnnkit.data.text import read_text_file
    from rnnkit.tasks.classify import load_ensemble, predict_mean
    from rnnkit.train.checkpoint import CheckpointError

    try:
        members, labels = load_ensemble(checkpoint)
        items = list(texts or [])
        if file:
            items += read_text_file(file).splitlines()
        if not items:
            raise ValueError("give texts as arguments or --file")
        probs = predict_mean(members, items)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    for text, p in zip(items, probs):
        best = int(p.argmax())
        typer.echo("\t".join([labels[best], *(f"{name}={q:.4f}" for name, q in zip(labels, p.tolist())), text]))


# ------------------------------------------------------------------------------------------------
forecast_app = typer.Typer(help="Time-series forecasting and anomaly detection.", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")
CSV_HELP = "Another CSV to forecast (default: the run's own data), with the run's columns."


@contextmanager
def _forecast_errors():
    """Data warnings as 'warning:' lines; bad input as one 'error:' line and exit 2."""
    import warnings

    from rnnkit.data.series import SeriesWarning
    from rnnkit.train.checkpoint import CheckpointError
    from rnnkit.train.loop import TrainingDiverged

    error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SeriesWarning)
        try:
            yield
        except (ValueError, OSError, CheckpointError) as err:
            error = (str(err), 2)
        except TrainingDiverged as err:
            error = (str(err), 1)
    for w in caught:
        typer.echo(f"warning: {w.message}" if w.category is SeriesWarning
                   else f"warning: {w.category.__name__}: {w.message}", err=True)
    if error:
        fail(*error)


def _load_run(run: str, csv: str, time_col: str, target_col: str):
    from rnnkit.tasks.forecast import load_forecaster

    overrides = {"csv": csv, "dataset": ""} if csv else {}
    overrides.update({k: v for k, v in (("time_col", time_col), ("target_col", target_col)) if v})
    return load_forecaster(run, **overrides)


@forecast_app.command("train", context_settings=EXTRA, epilog=flags_help(ForecastConfig, TrainConfig))
def forecast_train(ctx: typer.Context,
                   config: str = typer.Option(None, help="A TOML file with a train and a forecast table.")) -> None:
    """Train on --csv FILE --time-col T --target-col Y (or --dataset sunspots|co2|nile|elec_equip), then
    compare with naive, seasonal naive, AutoARIMA, AutoETS and AutoTheta on the test part. Many series:
    --csv LONG.csv --id-col ID (or --csv FOLDER) trains one global model (rnnkit.Forecaster; its flags
    are the fields of ForecasterConfig and PanelRunConfig in rnnkit.tasks.forecaster)."""
    import torch

    from rnnkit.tasks import forecast as fc
    from rnnkit.tasks import forecaster
    from rnnkit.train import Trainer, TrainConfig

    if forecaster.is_panel_run(ctx.args):
        with _forecast_errors():
            summary = forecaster.train_run(config, ctx.args)
        typer.echo(summary)
        return
    with _forecast_errors():
        classes = {"train": TrainConfig, "forecast": fc.ForecastConfig}
        cfgs = train_configs(classes, config, ctx.args, fc.train_args(config, ctx.args))
        torch.manual_seed(cfgs["train"].seed)
        task = fc.ForecastTask(cfgs["forecast"], cfgs["train"].seed)
        summary = Trainer(task, cfgs["train"]).fit()
        fc.save_calibration(cfgs["train"].run_dir, fc.calibrate(task.model, task.data, cfgs["forecast"]))
        results, _ = fc.evaluate(task.model, task.data, cfgs["forecast"])
    typer.echo(f"best val loss {summary['best_val']:.4f} after {summary['step']} updates in "
               f"{summary['seconds']:.0f} s; run in {cfgs['train'].run_dir}\n\n{fc.metrics_table(results)}")


@forecast_app.command("eval")
def forecast_eval(run: str = typer.Argument(..., help="A forecast run directory."),
                  csv: str = typer.Option("", help=CSV_HELP), time_col: str = typer.Option(""),
                  target_col: str = typer.Option("")) -> None:
    """Print MAE, RMSE, sMAPE, MASE, MAPE of the model and the baselines on the test part."""
    from rnnkit.tasks.forecast import evaluate, metrics_table

    with _forecast_errors():
        model, cfg, data, _ = _load_run(run, csv, time_col, target_col)
        results, _ = evaluate(model, data, cfg)
    typer.echo(metrics_table(results))


@forecast_app.command("predict")
def forecast_predict(run: str = typer.Argument(..., help="A forecast run directory."),
                     csv: str = typer.Option("", help=CSV_HELP), time_col: str = typer.Option(""),
                     target_col: str = typer.Option(""),
                     origin: str = typer.Option("test", help="test: forecast the held-out tail (truth shown); "
                                                             "end: forecast past the last point."),
                     out: str = typer.Option("", help="CSV of the forecasts [RUN/forecast.csv]."),
                     plot: str = typer.Option("", help="PNG of history, forecast and truth [RUN/forecast.png].")
                     ) -> None:
    """Forecast H steps with intervals: a CSV (time, forecast, lower, upper, truth) and a PNG."""
    from rnnkit.tasks.forecast import plot_forecast, predict, write_csv

    with _forecast_errors():
        if origin not in ("test", "end"):
            raise ValueError(f"--origin must be test or end, got {origin!r}")
        model, cfg, data, calib = _load_run(run, csv, time_col, target_col)
        e, rows = predict(model, data, cfg, calib, origin)
        out, plot = out or f"{run}/forecast.csv", plot or f"{run}/forecast.png"
        write_csv(out, ["time", "forecast", "lower", "upper", "truth"], rows)
        plot_forecast(plot, data, e, rows, cfg.level, f"{data.series.target}: {cfg.horizon}-step forecast")
    typer.echo(f"wrote {out} and {plot}")


@forecast_app.command("anomalies")
def forecast_anomalies(run: str = typer.Argument(..., help="A forecast run directory."),
                       csv: str = typer.Option("", help=CSV_HELP), time_col: str = typer.Option(""),
                       target_col: str = typer.Option(""),
                       k: float = typer.Option(4.0, help="Threshold in robust sds of the validation residuals."),
                       out: str = typer.Option("", help="CSV of every point [RUN/anomalies.csv]."),
                       plot: str = typer.Option("", help="PNG of the series and flagged points [RUN/anomalies.png]."),
                       ) -> None:
    """Flag points whose one-step forecast error exceeds k robust sds of the validation residuals."""
    from rnnkit.tasks.forecast import anomalies, plot_anomalies, write_csv

    with _forecast_errors():
        if k <= 0:
            raise ValueError(f"--k must be > 0, got {k}")
        model, cfg, data, calib = _load_run(run, csv, time_col, target_col)
        rows = anomalies(model, data, cfg, calib, k)
        out, plot = out or f"{run}/anomalies.csv", plot or f"{run}/anomalies.png"
        write_csv(out, ["time", "value", "forecast", "residual", "threshold", "anomaly"], rows)
        plot_anomalies(plot, data, rows, f"{data.series.target}: one-step forecast errors beyond {k:g} sd")
    flagged = [r for r in rows if r[5]]
    typer.echo(f"{len(flagged)} of {len(rows)} points flagged (threshold |residual| > {rows[0][4]:.4g}); "
               f"wrote {out} and {plot}")
    for r in flagged[:20]:
        typer.echo(f"  {r[0]}: value {r[1]:.4g}, forecast {r[2]:.4g}")


@app.command("export")
def export_command(checkpoint: str = typer.Option(..., help="A run or checkpoint directory (lm or forecast)."),
                   format: str = typer.Option("onnx", help="onnx or torchscript."),
                   out: str = typer.Option(..., help="The file to write.")) -> None:
    """Export a trained model to ONNX or TorchScript (standard cells only; see rnnkit.export)."""
    from rnnkit.export import export_checkpoint
    from rnnkit.train.checkpoint import CheckpointError

    try:
        path = export_checkpoint(checkpoint, format, out)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    typer.echo(f"wrote {path}")


music_app = typer.Typer(help="Polyphonic music: next piano-roll frame, 88 Bernoulli keys.", no_args_is_help=True)
app.add_typer(music_app, name="music")


@music_app.command("train", context_settings=EXTRA)
def music_train(ctx: typer.Context, config: str = typer.Option(None, help="A TOML file with \\[train] and \\[music] tables.")) -> None:
    """Train on piano rolls (--data jsb | nottingham | FILE.json); any \\[train]/\\[music] setting is a flag."""
    from rnnkit.tasks.music import MusicConfig, MusicTask

    cfgs, task, trainer, summary = _fit({"music": MusicConfig}, config, ctx.args, lambda c: MusicTask(c["music"]))
    typer.echo(f"{task.cfg.data}: val NLL {summary['best_val']:.4f}, test NLL {summary['test']:.4f} per frame "
               f"(summed over 88 keys, pooled over all frames); {summary['step']} updates in {summary['seconds']:.0f} s")


@music_app.command("eval")
def music_eval(run: str = typer.Argument(..., help="A run or checkpoint directory."),
               split: str = typer.Option("test", help="train | val | test"),
               data: str = typer.Option("", help="Another data set than the one trained on.")) -> None:
    """Print the pooled NLL per frame of a trained music model on a split."""
    from rnnkit.tasks import music
    from rnnkit.train.checkpoint import CheckpointError

    try:
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be one of train, val, test; got {split!r}")
        task = music.load_music(run, data)
        typer.echo(f"{split} NLL {music.pooled_nll(task, split):.4f} per frame ({task.cfg.data})")
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))


@music_app.command("sample")
def music_sample(run: str = typer.Argument(..., help="A run or checkpoint directory."),
                 out: str = typer.Option("sample", help="Writes OUT.mid and OUT.png."),
                 frames: int = typer.Option(64, help="Frames to generate after the prime."),
                 prime: int = typer.Option(4, help="Frames of the first test sequence to start from."),
                 ticks_per_frame: int = typer.Option(480, help="480 = a quarter note per frame (JSB); 240 = eighths."),
                 seed: int = typer.Option(0)) -> None:
    """Generate a piano roll; write it as a standard MIDI file and a PNG picture."""
    from pathlib import Path

    from rnnkit.tasks import music
    from rnnkit.train.checkpoint import CheckpointError

    try:
        task = music.load_music(run)
        first = (task.rolls["test"] or task.rolls["train"])[0]
        if not 1 <= prime <= len(first):
            raise ValueError(f"prime must be in 1..{len(first)}, got {prime}")
        roll = music.sample(task.model, first[:prime], frames, seed)
        Path(out + ".mid").write_bytes(music.roll_to_midi(roll, ticks_per_frame))
        music.save_roll_png(roll, out + ".png", f"{task.cfg.data}, {prime} prime + {frames} sampled frames")
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    typer.echo(f"wrote {out}.mid and {out}.png ({len(roll)} frames)")


@app.command("longrange", context_settings=EXTRA)
def longrange(ctx: typer.Context, config: str = typer.Option(None, help="A TOML file with \\[train] and \\[longrange] tables.")) -> None:
    """Train on a long-range memory task (--task adding|copy|reber --length T --cell lstm|gru|rnn) and
    print its test figures; any \\[train]/\\[longrange] setting is a flag."""
    from rnnkit.tasks.longrange import LongRangeConfig, LongRangeTask, metrics

    cfgs, task, trainer, summary = _fit({"longrange": LongRangeConfig}, config, ctx.args,
                                        lambda c: LongRangeTask(c["longrange"]))
    figures = ", ".join(f"{k} {v:.4g}" for k, v in metrics(task, "test").items())
    typer.echo(f"{task.cfg.task} T={task.cfg.length} {task.cfg.cell}: test {figures}; "
               f"{summary['step']} updates in {summary['seconds']:.0f} s")


def main() -> None:
    app()
