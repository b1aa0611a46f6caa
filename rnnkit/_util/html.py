"""Self-contained HTML pages: inline CSS, figures embedded as base64 PNG data URIs, no scripts."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from rnnkit._util import pyplot

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
img { max-width: 100%; }
pre, .text { font-family: monospace; white-space: pre-wrap; line-height: 1.5; background: #fafafa;
             padding: 0.6em; border: 1px solid #eee; }
.muted { color: #777; font-size: 0.9em; }
"""


def figure_uri(fig) -> str:
    """A matplotlib figure as a data:image/png;base64 URI; the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    return png_uri(buf.getvalue())


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def esc(value) -> str:
    return html.escape(str(value))


def table(rows: Sequence[tuple[str, object]]) -> str:
    """A two-column key/value table."""
    cells = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{esc(title)}</h1>\n{body}\n</body></html>\n"
    )
