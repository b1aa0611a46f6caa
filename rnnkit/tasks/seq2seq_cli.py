"""`rnnkit seq2seq train|translate`: thin command-line wrappers over rnnkit.tasks.seq2seq."""

import typer

from rnnkit.tasks.seq2seq import Seq2SeqConfig
from rnnkit.train.config import TrainConfig, flags_help

seq2seq_app = typer.Typer(help="Encoder-decoder models with attention (translation-style, char level).",
                          no_args_is_help=True)

@seq2seq_app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
                     epilog=flags_help(Seq2SeqConfig, TrainConfig))
def train(ctx: typer.Context,
          config: str = typer.Option(None, help="A TOML file with \\[train] and \\[seq2seq] tables.")) -> None:
    """Train on --data PAIRS.tsv (source TAB target per line) or a generated --task (addition | dates);
    every setting below can be given as a flag (--attention luong, --lr 0.003)."""
    from rnnkit.cli import fail
    from rnnkit.train import TrainingDiverged

    try:
        summary, translator, task, run_dir = run_training(config, ctx.args)
    except ValueError as err:  # bad options, an unreadable or malformed pairs file, a bad config
        fail(str(err))
    except TrainingDiverged as err:
        fail(str(err), code=1)
    for split in ("val", "test"):
        if task.splits[split]:
            typer.echo(f"{split} exact match {translator.exact_match(task.splits[split]):.2%} "
                       f"({len(task.splits[split]):,} pairs, greedy)")
    typer.echo(f"best val loss {summary['best_val']:.4f} after {summary['step']} updates in "
               f"{summary['seconds']:.0f} s; checkpoint in {run_dir}")


def run_training(config: str | None, args: list[str]):
    """(trainer summary, the trained Seq2Seq with its best weights, its trainer task, run dir) for CLI-style
    arguments: Seq2Seq.train_defaults under the TOML file `config`, under the flags `args`."""
    from rnnkit.tasks.seq2seq import Seq2Seq
    from rnnkit.train.checkpoint import CheckpointError

    try:
        cfgs = Seq2Seq.configs(config, args)
        translator = Seq2Seq(cfgs["seq2seq"])
        summary = translator.fit(train=cfgs["train"])
    except (OSError, CheckpointError) as err:
        raise ValueError(str(err)) from None
    return summary, translator, translator.task, cfgs["train"].run_dir


@seq2seq_app.command("translate")
def translate(text: str = typer.Argument(..., help="The source text."),
              checkpoint: str = typer.Option(..., help="A run or checkpoint directory of `seq2seq train`."),
              beam: int = typer.Option(1, help="Beam width; 1 = greedy decoding."),
              attention_png: str = typer.Option("", help="Also write the attention heat-map to this PNG."),
              unk: bool = typer.Option(False, help="Map characters outside the vocabulary to <unk> "
                                                   "instead of failing.")) -> None:
    """Translate one text with a trained model and print the output."""
    from rnnkit.cli import fail
    from rnnkit.tasks.seq2seq import Seq2Seq, plot_attention
    from rnnkit.train.checkpoint import CheckpointError

    try:
        translator = Seq2Seq.load(checkpoint)
        output, weights = translator.translate_with_attention(text, beam, "unk" if unk else "error")
        if attention_png:
            if weights is None:
                raise ValueError("this model has no attention (trained with --attention none)")
            plot_attention(text, output, weights, attention_png)
    except (ValueError, OSError, CheckpointError) as err:
        fail(str(err))
    typer.echo(output)
