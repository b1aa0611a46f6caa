"""Imports point down only, and no two modules import each other (directly or around a circle).

Every import statement of every module under rnnkit/ is read with ``ast``: at module level, inside
functions and under ``if TYPE_CHECKING``. ``from P import name`` counts as an import of the module
P.name when that is a module of the package, else of P. The layers, bottom to top, are in LAYERS; a
module may import from its own layer and from the layers below it. Deliberately not seen: names
loaded through ``importlib.import_module`` (only the two lazy facades, ``rnnkit/__init__.py`` and
``rnnkit/train/__init__.py``, do that, and ``test_lazy_facades`` checks them at run time).

The facade ``rnnkit/__init__.py`` re-exports the public API lazily (PEP 562). It is the top layer,
with the CLI: inside the package only the CLI may import it; everything else imports a name from
its home module (``from rnnkit.layers import LSTM``, not ``from rnnkit import LSTM``). So the facade
can re-export from any layer without making a cycle, and ``import rnnkit`` loads nothing heavy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "rnnkit"

# Bottom to top. An entry names a package (it covers the package and every module inside it) or a
# module; the longest entry that covers a module gives its layer. The entry "rnnkit" covers only
# the facade rnnkit/__init__.py. A module that no entry covers fails the test: place it here.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("util", ("rnnkit._util",)),  # matplotlib Agg, one thread, atomic writes, HTML pages
    ("cells", ("rnnkit.cells",)),  # the step equations
    ("engine", ("rnnkit.engine",)),  # the BPTT scans
    ("layers", ("rnnkit.init", "rnnkit.layers", "rnnkit.crf")),  # RNN/LSTM/GRU, their initialisation, the CRF
    ("data and checkpoint", ("rnnkit.data", "rnnkit.train.checkpoint")),
    ("train", ("rnnkit.train",)),  # the trainer, its histograms and run report
    ("tasks", ("rnnkit.tasks",)),
    ("diagnostics and export", ("rnnkit.diagnostics", "rnnkit.export")),  # tools over trained models
    ("cli", ("rnnkit.cli", "rnnkit.__main__", "rnnkit")),
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of the package
    line: int


def module_names(package_dir: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under package_dir (``__init__``: the package)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (package, *path.relative_to(package_dir).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imports(package_dir: Path, package: str) -> list[Import]:
    """Every import, anywhere in a module, of a module of the package."""
    modules = module_names(package_dir, package)
    found = []
    for source, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's package, one level up per extra dot
                    anchor = source.split(".") if is_package else source.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for target in targets:
                while target and target not in modules:  # import a.b.c of a package module a.b
                    target = target.rpartition(".")[0]
                if target and target != source:
                    found.append(Import(source, target, node.lineno))
    return sorted(set(found), key=lambda i: (i.source, i.line, i.target))


def layer_of(module: str, layers, package: str) -> int | None:
    """Index of the layer whose longest entry covers ``module``; None if no entry does."""
    best, best_len = None, -1
    for index, (_, entries) in enumerate(layers):
        for entry in entries:
            covers = module == entry or (entry != package and module.startswith(entry + "."))
            if covers and len(entry) > best_len:
                best, best_len = index, len(entry)
    return best


def unplaced(modules, layers, package: str) -> list[str]:
    return [m for m in modules if layer_of(m, layers, package) is None]


def upward(found: list[Import], layers, package: str) -> list[str]:
    """One line per import of a module from a higher layer."""
    lines = []
    for i in found:
        src, dst = layer_of(i.source, layers, package), layer_of(i.target, layers, package)
        if src is not None and dst is not None and dst > src:
            lines.append(f"{i.source} (layer {layers[src][0]}) imports {i.target} (layer {layers[dst][0]}) "
                         f"at line {i.line}")
    return lines


def cycles(found: list[Import]) -> list[list[str]]:
    """The groups of modules that import each other around a circle (strongly connected, > 1 module)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        graph.setdefault(i.source, set()).add(i.target)
        graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(groups)


def describe(group: list[str], found: list[Import]) -> str:
    members = set(group)
    edges = [f"{i.source} -> {i.target} (line {i.line})" for i in found
             if i.source in members and i.target in members]
    return "; ".join(edges)


# ---- the package --------------------------------------------------------------------------------
def test_every_module_has_a_layer():
    assert unplaced(module_names(ROOT / PACKAGE, PACKAGE), LAYERS, PACKAGE) == []


def test_imports_point_down_only():
    assert upward(imports(ROOT / PACKAGE, PACKAGE), LAYERS, PACKAGE) == []


def test_no_import_cycle():
    found = imports(ROOT / PACKAGE, PACKAGE)
    assert [describe(group, found) for group in cycles(found)] == []


def test_lazy_facades():
    """``import rnnkit`` loads neither torch nor the layers; reading a checkpoint does not load the
    training loop; every lazily exported name resolves."""
    code = """if True:
        import sys
        import rnnkit
        assert "torch" not in sys.modules and "rnnkit.layers" not in sys.modules, sorted(sys.modules)
        import rnnkit.train.checkpoint
        assert "rnnkit.train.loop" not in sys.modules
        import rnnkit.train
        for module in (rnnkit, rnnkit.train):
            for name in module.__all__:
                getattr(module, name)
            assert set(module.__all__) <= set(dir(module))
        try:
            rnnkit.nothing
        except AttributeError as err:
            assert "no attribute 'nothing'" in str(err)
        else:
            raise AssertionError("rnnkit.nothing resolved")
        print("ok")
    """
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# ---- the checker itself, on a tiny fake package --------------------------------------------------
FAKE = {
    "__init__.py": "",
    "low.py": "import fake.util\n\ndef f():\n    from fake.high import g  # upward, inside a function\n",
    "util.py": "",
    "high/__init__.py": "from . import a\n",
    "high/a.py": "from fake.high import b\nfrom fake import low\n",
    "high/b.py": "def g():\n    from .a import x  # closes the circle a -> b -> a\n",
    "stray.py": "",
}
FAKE_LAYERS = (("util", ("fake.util",)), ("low", ("fake.low",)), ("high", ("fake.high", "fake")))


def test_the_checker_finds_an_upward_import_a_cycle_and_an_unplaced_module(tmp_path):
    for name, text in FAKE.items():
        (tmp_path / "fake" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fake" / name).write_text(text)
    found = imports(tmp_path / "fake", "fake")
    assert {(i.source, i.target) for i in found} == {
        ("fake.low", "fake.util"), ("fake.low", "fake.high"), ("fake.high", "fake.high.a"),
        ("fake.high.a", "fake.high.b"), ("fake.high.a", "fake.low"), ("fake.high.b", "fake.high.a")}
    assert upward(found, FAKE_LAYERS, "fake") == ["fake.low (layer low) imports fake.high (layer high) at line 4"]
    assert cycles(found) == [["fake.high", "fake.high.a", "fake.high.b", "fake.low"]]
    assert unplaced(module_names(tmp_path / "fake", "fake"), FAKE_LAYERS, "fake") == ["fake.stray"]
