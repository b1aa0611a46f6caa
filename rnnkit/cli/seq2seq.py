"""`rnnkit seq2seq train|translate`."""

from __future__ import annotations

import typer

from rnnkit.cli.common import RUN_HELP, errors, train_command
from rnnkit.tasks.seq2seq import Seq2Seq

seq2seq_app = typer.Typer(
    help="Encoder-decoder models with attention (translation-style, char level).", no_args_is_help=True
)


@train_command(seq2seq_app, "train", Seq2Seq)
def train(cfgs: dict) -> None:
    """Train on --data PAIRS.tsv (source TAB target per line) or a generated --task (addition | dates),
    e.g. --attention luong --lr 0.003; prints the exact match of greedy decoding on val and test."""
    s2s = Seq2Seq(cfgs["seq2seq"])
    summary = s2s.fit(train=cfgs["train"])
    if s2s.rank != 0:
        return
    splits = s2s.splits()
    for split, pairs in (("val", splits["val"]), ("test", splits["test"])):
        if pairs:
            typer.echo(f"{split} exact match {s2s.exact_match(pairs):.2%} ({len(pairs):,} pairs, greedy)")
    typer.echo(
        f"best val loss {summary['best_val']:.4f} after {summary['step']} updates in "
        f"{summary['seconds']:.0f} s; checkpoint in {cfgs['train'].run_dir}"
    )


@seq2seq_app.command("translate")
def translate(
    text: str = typer.Argument(..., help="The source text."),
    checkpoint: str = typer.Option(..., help=RUN_HELP),
    beam: int = typer.Option(1, help="Beam width; 1 = greedy decoding."),
    attention_png: str = typer.Option("", help="Also write the attention heat-map to this PNG."),
    unk: bool = typer.Option(False, help="Map characters outside the vocabulary to <unk> instead of failing."),
) -> None:
    """Translate one text with a trained model and print the output."""
    from rnnkit.tasks.seq2seq import plot_attention

    with errors():
        output, weights = Seq2Seq.load(checkpoint).translate_with_attention(text, beam, "unk" if unk else "error")
        if attention_png:
            if weights is None:
                raise ValueError("this model has no attention (trained with --attention none)")
            plot_attention(text, output, weights, attention_png)
    typer.echo(output)
