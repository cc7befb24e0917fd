"""Dependencies point one way: every import in the library (module-level or inside a function) follows the layering
written in README.md ("Layout"), and no module imports itself back through others.

The layers, lowest first. A module may import modules of its own unit (package or top-level module) and of units in
lower layers only; units in one layer do not import each other.
"""

import ast
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS = [
    ["libyana", "handobjectconsist"],  # "handobjectconsist": the package's own __init__ (a docstring and a version)
    ["handobjectconsist.errors"],
    ["handobjectconsist.interrupts", "handobjectconsist.devices"],
    ["handobjectconsist.entry"],
    ["handobjectconsist.mano", "handobjectconsist.render"],
    ["handobjectconsist.consistency", "handobjectconsist.datasets"],
    ["handobjectconsist.models", "handobjectconsist.synth"],
    ["handobjectconsist.evaluation"],
    ["handobjectconsist.visualize"],
    ["handobjectconsist.training"],
    ["handobjectconsist.predict", "handobjectconsist.demo"],
    ["trainmeshreg", "trainmeshwarp", "evalho3dv2", "visualize", "reduce_fphab"],
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def library_files(root: Path = ROOT) -> List[Path]:
    files = sorted((root / "handobjectconsist").rglob("*.py")) + sorted((root / "libyana").rglob("*.py"))
    return files + sorted(root.glob("*.py"))


def known_modules(root: Path = ROOT) -> Set[str]:
    return {module_name(path, root) for path in library_files(root)}


def imported_modules(path: Path, modules: Set[str], root: Path = ROOT) -> Set[str]:
    """Project modules imported anywhere in the file (function bodies included); `from pkg import name` counts as
    an import of pkg.name when that is a module, else of pkg."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules)
    return found


def unit_of(module: str) -> str:
    """The layering unit of a module: the longest entry of RANK that is the module or one of its packages."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in RANK and (end > 1 or parts[0] != "handobjectconsist" or len(parts) == 1):
            return ".".join(parts[:end])
    raise AssertionError(f"{module} is in no layer of tests/test_layering.py; add its unit to LAYERS and README.md")


def import_graph(root: Path = ROOT) -> Dict[str, Set[str]]:
    """module -> the project modules it imports, for the library, libyana and the top-level scripts under root."""
    modules = known_modules(root)
    return {module_name(path, root): imported_modules(path, modules, root) for path in library_files(root)}


def layering_violations(graph: Dict[str, Set[str]]) -> List[str]:
    violations = []
    for module, targets in sorted(graph.items()):
        unit = unit_of(module)
        for target in sorted(targets):
            target_unit = unit_of(target)
            if target_unit != unit and RANK[target_unit] >= RANK[unit]:
                violations.append(f"{module} imports {target} ({unit} is not above {target_unit})")
    return violations


def test_every_import_follows_the_layering():
    violations = layering_violations(import_graph())
    assert not violations, "\n".join(violations)


def import_cycles(graph: Dict[str, Set[str]]) -> List[str]:
    """Cycles of the module graph, each as "a -> b -> ... -> a". A package's __init__ importing its own submodules
    (re-exports) is not an edge here: a submodule importing its package's __init__ would otherwise always close one."""
    edges = {module: {t for t in targets if not t.startswith(module + ".")} for module, targets in graph.items()}
    state: Dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return cycles


def test_no_import_cycles_between_modules():
    cycles = import_cycles(import_graph())
    assert not cycles, "\n".join(cycles)


def test_a_cycle_through_a_function_level_import_is_reported():
    graph = {"handobjectconsist.synth.cli": {"handobjectconsist.synth.fphab"},
             "handobjectconsist.synth.fphab": {"handobjectconsist.synth.cli"}}
    assert import_cycles(graph) == ["handobjectconsist.synth.cli -> handobjectconsist.synth.fphab -> "
                                    "handobjectconsist.synth.cli"]


@pytest.mark.parametrize("source, expected", [
    ("import handobjectconsist.training.data\n", {"handobjectconsist.training.data"}),
    ("def f():\n    from handobjectconsist.training import data\n", {"handobjectconsist.training.data"}),
    ("from . import pipeline\n", {"handobjectconsist.synth.pipeline"}),
    ("from ..datasets import sample_keys as K\n", {"handobjectconsist.datasets.sample_keys"}),
])
def test_imports_are_found_at_any_depth_and_relative(tmp_path, source, expected):
    folder = tmp_path / "handobjectconsist" / "synth"
    folder.mkdir(parents=True)
    path = folder / "probe.py"
    path.write_text(source)
    modules = {"handobjectconsist.training.data", "handobjectconsist.synth.pipeline",
               "handobjectconsist.datasets.sample_keys", "handobjectconsist.training"}
    assert imported_modules(path, modules, root=tmp_path) == expected


def test_back_edges_and_same_layer_imports_are_reported():
    graph = {"handobjectconsist.evaluation.x": {"handobjectconsist.training.data", "handobjectconsist.models.y"},
             "handobjectconsist.synth.z": {"handobjectconsist.models.y", "handobjectconsist.synth.w"}}
    assert layering_violations(graph) == [
        "handobjectconsist.evaluation.x imports handobjectconsist.training.data (handobjectconsist.evaluation is "
        "not above handobjectconsist.training)",
        "handobjectconsist.synth.z imports handobjectconsist.models.y (handobjectconsist.synth is not above "
        "handobjectconsist.models)",
    ]
