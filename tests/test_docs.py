"""The docs runner: every command and code block of docs/**/*.md, README.md and README.ko.md runs.

- ```console blocks: a line starting with `$ ` is a bash command (a trailing backslash continues it on
  the next line); the other lines are the output shown for the command above them, and must match what
  it printed (stdout and stderr together, trailing spaces ignored), `...` matching any text (doctest
  ELLIPSIS). Every command must exit 0; a command with no output lines is checked for that alone.
- ```python blocks: all python blocks of a page run in order in one fresh python process (state carries
  over, like a notebook). A ```text block headed by `<!-- output -->` right after a python block must
  match what that block printed to stdout, with the same `...` wildcard.
- Blocks run in page order, with cwd = a fresh temp dir per page in which the repository's data/ and
  benchmarks/ are symlinked, PATH starting with the venv's bin/, OMP_NUM_THREADS=1, COLUMNS=80.
- Markers, on the lines just above a block's opening fence: `<!-- docs: slow -->` runs the block only
  under `-m slow` (the slow test runs the whole page); `<!-- docs: not run (REASON) -->` never runs it
  (at most MAX_NOT_RUN in all). `<!-- docs: image FILE -> docs/img/NAME.png -->`, anywhere on a page,
  names a file (relative to the temp dir) that the page's blocks write: the slow test checks it was
  written and, with RNNKIT_DOCS_UPDATE=1, copies it to docs/img/NAME.png. Every image a page shows
  is such a file. RNNKIT_DOCS_PRINT=1 with `pytest -s` prints what every block printed.
- A Korean page docs/ko/X has the same console, python and output blocks (and markers) as its English
  twin docs/X, so it is not run again (plain ```text blocks, such as equations, may be translated);
  README.ko.md's code blocks appear in README.md in the same order, and it is run.
"""

from __future__ import annotations

import dataclasses
import difflib
import doctest
import json
import os
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KO = DOCS / "ko"
MAX_NOT_RUN = 5
FAST_TIMEOUT_S = 120
SLOW_TIMEOUT_S = 3600
RUN_LANGS = {"console", "python"}
DOCS_LANGS = RUN_LANGS | {"text"}

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$")
MARKER = re.compile(
    r"^\s*<!--\s*(docs:\s*(?P<kind>slow|not run)\s*(?:\((?P<reason>.*)\))?|(?P<output>output))\s*-->\s*$"
)
IMAGE_MARKER = re.compile(r"<!--\s*docs:\s*image\s+(?P<file>\S+)\s*->\s*(?P<dest>docs/img/[\w.-]+\.png)\s*-->")
IMAGE_LINK = re.compile(r"!\[[^\]]*\]\((?P<target>[^)\s]+)\)")


@dataclasses.dataclass(frozen=True)
class Block:
    lang: str
    body: str
    line: int  # 1-based line of the opening fence
    slow: bool = False
    not_run: str | None = None  # the reason
    output: bool = False  # a ```text block headed by <!-- output -->

    def signature(self) -> tuple:
        """What a Korean twin must repeat exactly."""
        return self.lang, self.body, self.slow, self.not_run is not None, self.output


def parse_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, with the markers on the lines just above each."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3)
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            raise ValueError(f"line {start + 1}: code block never closed")
        i += 1
        kw = {}
        j = start - 1
        while j >= 0 and (not lines[j].strip() or MARKER.match(lines[j]) or IMAGE_MARKER.fullmatch(lines[j].strip())):
            mk = MARKER.match(lines[j])
            if mk and mk.group("output"):
                kw["output"] = True
            elif mk and mk.group("kind") == "slow":
                kw["slow"] = True
            elif mk and mk.group("kind") == "not run":
                if not (mk.group("reason") or "").strip():
                    raise ValueError(f"line {j + 1}: `not run` needs a reason in parentheses")
                kw["not_run"] = mk.group("reason").strip()
            j -= 1
        blocks.append(Block(lang, "\n".join(body), start + 1, **kw))
    return blocks


@dataclasses.dataclass
class Step:
    block: Block
    expected: Block | None = None  # the <!-- output --> block of a python block

    @property
    def slow(self) -> bool:
        return self.block.slow


def page_steps(blocks: list[Block]) -> list[Step]:
    """The runnable blocks in order, each python block paired with its output block."""
    steps: list[Step] = []
    previous = None
    for b in blocks:
        if b.output:
            if b.lang != "text" or previous is None or previous.lang != "python" or not steps \
                    or steps[-1].block is not previous or steps[-1].expected is not None:
                raise ValueError(
                    f"line {b.line}: an <!-- output --> block must be a ```text block right after a python block"
                )
            steps[-1].expected = b
        elif b.lang in RUN_LANGS and b.not_run is None:
            steps.append(Step(b))
        previous = b
    return steps


def console_commands(body: str, line: int) -> list[tuple[str, list[str]]]:
    """(command, output lines shown) for each `$ ` command of a console block."""
    commands: list[tuple[str, list[str]]] = []
    continuing = False
    for k, raw in enumerate(body.splitlines()):
        if continuing:
            commands[-1] = (commands[-1][0] + "\n" + raw, [])
        elif raw.startswith("$ "):
            commands.append((raw[2:], []))
        elif not commands:
            raise ValueError(f"line {line + 1 + k}: console output before any `$ ` command")
        else:
            commands[-1][1].append(raw)
        continuing = (raw.startswith("$ ") or continuing) and raw.endswith("\\") and not commands[-1][1]
    return commands


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()) + "\n"


def matches(want: str, got: str) -> bool:
    return doctest.OutputChecker().check_output(normalise(want), normalise(got), doctest.ELLIPSIS)


def mismatch(what: str, want: str, got: str) -> str:
    diff = "\n".join(difflib.unified_diff(normalise(want).splitlines(), normalise(got).splitlines(),
                                          "shown", "printed", lineterm=""))
    return f"{what}: the output shown does not match what it printed\n{diff}\n--- printed in full ---\n{got}"


def show(what: str, printed: str) -> None:
    """With RNNKIT_DOCS_PRINT=1 (and pytest -s), print what each command and block printed, to write pages."""
    if os.environ.get("RNNKIT_DOCS_PRINT") == "1":
        print(f"\n===== {what}\n{printed}", end="")


# The python process of a page: reads (name, code) JSON lines, answers {"out", "error"} lines.
DRIVER = r"""
import contextlib, io, json, sys, traceback
reply = sys.stdout
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    name, code = json.loads(line)
    buffer, error = io.StringIO(), None
    with contextlib.redirect_stdout(buffer):
        try:
            exec(compile(code, name, "exec"), namespace)
        except BaseException:
            error = traceback.format_exc()
    reply.write(json.dumps({"out": buffer.getvalue(), "error": error}) + "\n")
    reply.flush()
"""


class PageRun:
    """A page's temp dir, environment and python process."""

    def __init__(self, page: Path, workdir: Path):
        self.page, self.workdir = page, workdir
        for name in ("data", "benchmarks"):
            (workdir / name).symlink_to(ROOT / name, target_is_directory=True)
        self.env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                        OMP_NUM_THREADS="1", COLUMNS="80", NO_COLOR="1", TERM="dumb", MPLBACKEND="Agg",
                        PYTHONUNBUFFERED="1")
        self.env.pop("FORCE_COLOR", None)
        self.python: subprocess.Popen | None = None
        self.python_stderr = workdir / ".python-stderr.txt"

    def where(self, block: Block) -> str:
        return f"{self.page.relative_to(ROOT)}:{block.line}"

    def console(self, block: Block, timeout: float) -> None:
        for command, shown in console_commands(block.body, block.line):
            done = subprocess.run(["bash", "-c", command], cwd=self.workdir, env=self.env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
            what = f"{self.where(block)}: $ {command}"
            show(what, done.stdout)
            if done.returncode != 0:
                pytest.fail(f"{what}\nexit code {done.returncode}; it printed:\n{done.stdout}", pytrace=False)
            if shown and not matches("\n".join(shown), done.stdout):
                pytest.fail(mismatch(what, "\n".join(shown), done.stdout), pytrace=False)

    def run_python(self, step: Step, timeout: float) -> None:
        if self.python is None:
            self.python = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=self.workdir, env=self.env,
                                           text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=self.python_stderr.open("w"))
        what = self.where(step.block)
        self.python.stdin.write(json.dumps([what, step.block.body]) + "\n")
        self.python.stdin.flush()
        ready, _, _ = select.select([self.python.stdout], [], [], timeout)
        line = self.python.stdout.readline() if ready else ""
        if not line:
            self.python.kill()
            pytest.fail(f"{what}: no answer from python (timeout {timeout} s or crash)\n"
                        f"{self.python_stderr.read_text()}", pytrace=False)
        reply = json.loads(line)
        show(what, reply["out"])
        if reply["error"] is not None:
            pytest.fail(f"{what}: the block raised\n{reply['error']}", pytrace=False)
        if step.expected is not None and not matches(step.expected.body, reply["out"]):
            pytest.fail(mismatch(what, step.expected.body, reply["out"]), pytrace=False)

    def run(self, steps: list[Step], slow: bool) -> None:
        try:
            for step in steps:
                if step.slow and not slow:
                    continue
                timeout = SLOW_TIMEOUT_S if step.slow else FAST_TIMEOUT_S
                if step.block.lang == "console":
                    self.console(step.block, timeout)
                else:
                    self.run_python(step, timeout)
        finally:
            if self.python is not None:
                self.python.stdin.close()
                self.python.wait(timeout=60)


def english_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if KO not in p.parents)


def korean_pages() -> list[Path]:
    return sorted(KO.rglob("*.md"))


def run_pages() -> list[Path]:
    readmes = [p for p in (ROOT / "README.md", ROOT / "README.ko.md") if p.exists()]
    return english_pages() + readmes


TWINNED = ("index.md", "tour", "coming-from.md", "install.md", "troubleshooting.md", "hyperparameters.md", "data")
KOREAN_ONLY = ("glossary.md",)  # docs/ko/glossary.md: the English ↔ Korean glossary (tests/test_docs_glossary.py)


def tour_pages() -> list[Path]:
    """The English pages that have a Korean twin: the home page, the tour, coming-from, install,
    troubleshooting, the hyper-parameter guide."""
    return [p for p in english_pages() if p.relative_to(DOCS).parts[0] in TWINNED]


def ids(pages: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in pages]


def blocks_of(page: Path) -> list[Block]:
    return parse_blocks(page.read_text(encoding="utf-8"))


def image_markers(page: Path) -> list[str]:
    return [m.group("dest") for m in IMAGE_MARKER.finditer(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", run_pages(), ids=ids(run_pages()))
def test_page(page, tmp_path):
    """The page's blocks that are not slow run and print what the page shows."""
    blocks = blocks_of(page)
    if DOCS in page.parents:
        bad = [f"line {b.line}: ```{b.lang}" for b in blocks if b.lang not in DOCS_LANGS]
        assert not bad, f"code blocks in docs/ are console, python or text: {bad}"
    PageRun(page, tmp_path).run(page_steps(blocks), slow=False)


def pages_with_slow_blocks() -> list[Path]:
    """The pages the slow test runs whole: those with slow blocks or images."""
    return [p for p in run_pages() if any(s.slow for s in page_steps(blocks_of(p))) or image_markers(p)]


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_slow_blocks(), ids=ids(pages_with_slow_blocks()))
def test_page_slow(page, tmp_path):
    """The whole page runs; the images it names are written (and copied to docs/img with RNNKIT_DOCS_UPDATE=1)."""
    PageRun(page, tmp_path).run(page_steps(blocks_of(page)), slow=True)
    for m in IMAGE_MARKER.finditer(page.read_text(encoding="utf-8")):
        produced = tmp_path / m.group("file")
        assert produced.is_file(), f"{page.name}: its blocks did not write {m.group('file')}"
        if os.environ.get("RNNKIT_DOCS_UPDATE") == "1":
            shutil.copyfile(produced, ROOT / m.group("dest"))


def test_not_run_blocks_are_few():
    """Blocks the runner skips need a reason, and there are at most MAX_NOT_RUN of them."""
    not_run = [f"{p.relative_to(ROOT)}:{b.line} ({b.not_run})"
               for p in run_pages() if p.name != "README.ko.md" for b in blocks_of(p) if b.not_run]
    print("blocks not run:", *not_run, sep="\n  ")
    assert len(not_run) <= MAX_NOT_RUN, not_run


@pytest.mark.parametrize("page", tour_pages(), ids=ids(tour_pages()))
def test_korean_twin(page):
    """docs/ko/X exists and has the same console and python blocks and output blocks, in order, as docs/X.

    Plain ```text blocks (equations, not output) may be translated."""
    twin = KO / page.relative_to(DOCS)
    assert twin.exists(), f"{page.relative_to(ROOT)} has no Korean twin {twin.relative_to(ROOT)}"
    english = [b.signature() for b in blocks_of(page) if b.lang in RUN_LANGS or b.output]
    korean = [b.signature() for b in blocks_of(twin) if b.lang in RUN_LANGS or b.output]
    assert korean == english, f"{twin.relative_to(ROOT)}: code blocks differ from {page.relative_to(ROOT)}"


def test_korean_pages_have_english_twins():
    orphans = [p for p in korean_pages()
               if not (DOCS / p.relative_to(KO)).exists() and str(p.relative_to(KO)) not in KOREAN_ONLY]
    assert not orphans, orphans


def test_readme_ko_blocks_come_from_readme():
    """README.ko.md repeats README.md's code blocks (a subset, in the same order)."""
    ko = ROOT / "README.ko.md"
    if not ko.exists():
        pytest.skip("README.ko.md is written on branch docs-ko")
    english = iter(b.signature() for b in blocks_of(ROOT / "README.md"))
    missing = [b for b in blocks_of(ko) if b.signature() not in english]  # `in` consumes the iterator: order kept
    assert not missing, f"README.ko.md blocks not in README.md (in order): {[b.line for b in missing]}"


@pytest.mark.parametrize("page", english_pages() + korean_pages(), ids=ids(english_pages() + korean_pages()))
def test_images_are_produced_by_the_page(page):
    """Every image a page shows is committed and named by an image marker of the page (or its English twin)."""
    english = DOCS / page.relative_to(KO) if KO in page.parents else page
    english = english if english.exists() else page  # a Korean-only page (KOREAN_ONLY) names its own
    named = {str((ROOT / d).resolve()) for d in image_markers(english)}
    for dest in named:
        assert Path(dest).is_file(), f"{english.name}: {dest} is missing (RNNKIT_DOCS_UPDATE=1 pytest -m slow)"
    for m in IMAGE_LINK.finditer(page.read_text(encoding="utf-8")):
        target = str((page.parent / m.group("target")).resolve())
        assert target in named, f"{page.relative_to(ROOT)} shows {m.group('target')}, which no image marker names"


REMOTE = re.compile(r"<script[^>]*\ssrc=[\"']?(https?:)?//|<link[^>]*\shref=[\"']?(https?:)?//[^>]*>"
                    r"|@import\s+(url\()?[\"']?(https?:)?//|url\([\"']?(https?:)?//")


def remote_loads(text: str) -> list[str]:
    """Scripts, stylesheets, preloads, imports and url()s of an HTML or CSS text that come over the network."""
    return [m.group(0)[:80] for m in REMOTE.finditer(text)
            if not (m.group(0).startswith("<link") and "stylesheet" not in m.group(0) and "preload" not in m.group(0))]


def test_remote_loads_are_found():
    page = ('<link rel="stylesheet" href="https://fonts.googleapis.com/css"><script src="//cdn.example/x.js">'
            '<style>@font-face { src: url(https://example.org/f.woff2) }</style>'
            '<link rel="next" href="guarantees.html"><link rel="canonical" href="https://example.org/">'
            '<script src="assets/bundle.js">')
    assert len(remote_loads(page)) == 3


def test_site_builds_offline(built_site):
    """mkdocs build --strict succeeds (the built_site fixture), and the site loads no script, style or
    font over http(s)."""
    site = built_site
    loads = [f"{f.relative_to(site)}: {hit}" for f in site.rglob("*") if f.suffix in (".html", ".css")
             for hit in remote_loads(f.read_text(encoding="utf-8", errors="replace"))]
    assert not loads, loads
    assert (site / "index.html").exists() and (site / "ko" / "index.html").exists()


def test_runner_checks_what_it_runs(tmp_path):
    """The runner fails on a wrong output, a failing command and a raising python block; `...` is a wildcard."""
    page = tmp_path / "page.md"
    good = ("```console\n$ echo one; echo two\none\n...\n$ true\n```\n\n<!-- docs: not run (an example) -->\n"
            "```console\n$ false\n```\n\n```python\nx = 2\n```\n\n```python\nprint(x * 21)\n```\n"
            "<!-- output -->\n```text\n42\n```\n")
    steps = page_steps(parse_blocks(good))
    assert [s.block.lang for s in steps] == ["console", "python", "python"] and steps[2].expected.body == "42"
    work = tmp_path / "w"
    for name, text in {"good": good, "wrong output": good.replace("42\n```", "43\n```"),
                       "failing command": good.replace("$ true", "$ exit 3"),
                       "raising block": good.replace("x = 2", "x = 1 / 0")}.items():
        (work / name).mkdir(parents=True)
        run = PageRun(page, work / name)
        run.page = ROOT / "page.md"
        if name == "good":
            run.run(page_steps(parse_blocks(text)), slow=False)
        else:
            with pytest.raises(pytest.fail.Exception):
                run.run(page_steps(parse_blocks(text)), slow=False)
    assert console_commands("$ echo a \\\n  b\na b", 1) == [("echo a \\\n  b", ["a b"])]
    stacked = parse_blocks("<!-- docs: slow -->\n<!-- docs: image a.png -> docs/img/a.png -->\n```python\npass\n```\n")
    assert stacked[0].slow
