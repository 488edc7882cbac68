"""The package's layout, as built: data flows one way, and no stage reaches into another.

    spec, space, nn  ->  data, train, measure, checkpoint  ->  record (the study record), diagnostics, ...
                     ->  stages: search, prune, diagnose, report, dashboard, export  ->  cli, terminal

Every import in the package (module level or inside a function: a lazy import that hides a cycle is still a
cycle) is read with ``ast``. The test fails on an import cycle, on a stage importing another stage, and on a
module below the stages importing a stage or the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nasprune

ROOT = Path(nasprune.__file__).parent
STAGES = ("search", "prune", "diagnose", "report", "dashboard", "export")
TOP = ("cli", "terminal", "__main__")  # the command line: may import anything, nothing imports it


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    """Module -> the nasprune modules it imports anywhere in its body."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("nasprune")}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("nasprune"):
                    continue
                submodules = {f"{target}.{a.name}" for a in node.names} & modules.keys()
                found |= submodules  # `from . import plots` imports the submodule plots
                if len(submodules) < len(node.names):
                    found.add(target)  # names defined in the module (or package) itself
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def _area(module: str) -> str:
    """The top-level part a module belongs to: ``nasprune.search.run`` -> ``search``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_stage_imports_another_stage():
    bad = sorted(f"{m} imports {i}" for m, targets in _imports().items() for i in targets
                 if _area(m) in STAGES and _area(i) in STAGES and _area(i) != _area(m))
    assert not bad, "stages share the study record (nasprune.record), not each other:\n" + "\n".join(bad)


def test_nothing_below_the_stages_imports_a_stage_or_the_command_line():
    below = lambda m: _area(m) not in (*STAGES, *TOP, "__init__")  # noqa: E731 - the package root re-exports all
    bad = sorted(f"{m} imports {i}" for m, targets in _imports().items() for i in targets
                 if below(m) and _area(i) in (*STAGES, *TOP))
    assert not bad, "data flows one way; these reach up:\n" + "\n".join(bad)


def test_the_study_record_and_checkpoints_depend_on_nothing_above_them():
    graph = _imports()
    for low in ("nasprune.checkpoint", "nasprune.record", "nasprune.diagnostics", "nasprune.text",
                "nasprune.events"):
        reach, todo = set(), [m for m in graph if m == low or m.startswith(low + ".")]
        while todo:
            m = todo.pop()
            for i in graph[m] - reach:
                reach.add(i)
                todo.append(i)
        up = sorted(m for m in reach if _area(m) in (*STAGES, *TOP))
        assert not up, f"{low} depends on {up}"


def test_no_import_cycles():
    graph = _imports()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:  # Tarjan's strongly connected components
        index[m] = low[m] = len(index)
        stack.append(m)
        for i in graph[m]:
            if i not in index:
                visit(i)
                low[m] = min(low[m], low[i])
            elif i in stack:
                low[m] = min(low[m], index[i])
        if low[m] == index[m]:
            component = []
            while True:
                x = stack.pop()
                component.append(x)
                if x == m:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for m in sorted(graph):
        if m not in index:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_graph_is_read_at_all():
    graph = _imports()  # a check that cannot fail is a defect: make sure the walk sees real edges
    assert "nasprune.record" in graph["nasprune.search.session"]
    assert "nasprune.nn.graph" in graph["nasprune.checkpoint"]


def test_a_command_that_reads_no_data_does_not_import_scikit_learn(tmp_path):
    # scikit-learn takes 1.4 s to import: `nasprune studies` took 3.7 s, most of it importing what it never used
    import subprocess
    import sys

    code = ("import sys; from nasprune.cli import main; main(['studies', '--results-dir', sys.argv[1]]); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn')[:3])")
    (tmp_path / "results").mkdir()
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
