"""`rnnkit seq2seq train|translate`."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.seq2seq import TRAIN_DEFAULTS, Seq2SeqConfig

seq2seq_app = typer.Typer(help="Encoder-decoder models with attention (translation-style, char level).",
                          no_args_is_help=True)


@train_command(seq2seq_app, "train", "seq2seq", Seq2SeqConfig, TRAIN_DEFAULTS)
def train(cfgs: dict) -> None:
    """Train on --data PAIRS.tsv (source TAB target per line) or a generated --task (addition | dates),
    e.g. --attention luong --lr 0.003; prints the exact match of greedy decoding on val and test."""
    from rnnkit.tasks.seq2seq import Seq2SeqTask, Translator
    from rnnkit.train import Trainer

    if cfgs["train"].tbptt_forward:
        raise ValueError("seq2seq trains on whole pairs: tbptt_forward must be 0")
    task = Seq2SeqTask(cfgs["seq2seq"])
    trainer = Trainer(task, cfgs["train"])
    summary = trainer.fit()
    if trainer.rank != 0:
        return
    translator = Translator.from_task(task)
    for split in ("val", "test"):
        if task.splits[split]:
            typer.echo(f"{split} exact match {translator.exact_match(task.splits[split]):.2%} "
                       f"({len(task.splits[split]):,} pairs, greedy)")
    typer.echo(f"best val loss {summary['best_val']:.4f} after {summary['step']} updates in "
               f"{summary['seconds']:.0f} s; checkpoint in {cfgs['train'].run_dir}")


@seq2seq_app.command("translate")
def translate(text: str = typer.Argument(..., help="The source text."),
              checkpoint: str = typer.Option(..., help=RUN_HELP),
              beam: int = typer.Option(1, help="Beam width; 1 = greedy decoding."),
              attention_png: str = typer.Option("", help="Also write the attention heat-map to this PNG."),
              unk: bool = typer.Option(False, help="Map characters outside the vocabulary to <unk> "
                                                   "instead of failing.")) -> None:
    """Translate one text with a trained model and print the output."""
    from rnnkit.tasks.seq2seq import Translator, plot_attention

    with errors():
        translator = Translator.load(checkpoint)
        output, weights = translator.translate(text, beam, "unk" if unk else "error")
        if attention_png:
            if weights is None:
                raise ValueError("this model has no attention (trained with --attention none)")
            plot_attention(text, output, weights, attention_png)
    typer.echo(output)
