"""The package's layers, read from its source: the method below the toy world, the toy world below the experiments,
the experiments below what readers run (drawing, the chapters' calls, CLI, demo); no import goes up and no module-level import
closes a circle."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "car"

#: Layer of a module (by dotted-name prefix, longest first); everything else is the method (layer 0).
LAYERS = {"car.toy": 1, "car.experiments": 2, "car.viz": 3, "car.chapter": 3, "car.cli": 3, "car.demo": 3,
          "car.__main__": 3}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(name: str) -> int:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return LAYERS[prefix]
    return 0


def imports(name: str, path: Path, known: set[str], top_level_only: bool = False) -> set[str]:
    """The package modules that ``name`` imports (``from car import x``: car.x when it is a module, else car)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    is_package = path.name == "__init__.py"
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "car"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            if base.split(".")[0] != "car":
                continue
            for a in node.names:
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base)
    return {m for m in out if m in known and m != name}


def test_no_import_goes_up_a_layer() -> None:
    found = modules()
    up = [f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
          for m, p in found.items() for t in sorted(imports(m, p, set(found))) if layer(t) > layer(m)]
    assert not up, "\n".join(up)


def test_no_module_level_import_circle() -> None:
    found = modules()
    graph = {m: {t for t in imports(m, p, set(found), top_level_only=True)
                 if not (m.startswith(t + ".") and found[t].name == "__init__.py")}  # a package's own __init__
             for m, p in found.items()}
    state: dict[str, int] = {}
    circles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, "\n".join(circles)


def test_the_walk_sees_a_known_edge_and_layer() -> None:
    """The walk is not vacuous: it finds edges the code has and places modules in the layers named above."""
    found = modules()
    assert {"car.backbones", "car.classifier", "car.config"} <= imports("car.model", found["car.model"], set(found))
    assert "car.experiments.tables" in imports("car.cli", found["car.cli"], set(found))
    assert layer("car.toy.scenes") == 1 and layer("car.experiments.bench") == 2 and layer("car.model") == 0


def test_the_walk_catches_an_upward_import_and_a_circle(tmp_path, monkeypatch) -> None:
    """A method module importing the experiments, and two modules importing each other, are both reported."""
    pkg = tmp_path / "car"
    (pkg / "experiments").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "experiments" / "__init__.py").write_text("")
    (pkg / "experiments" / "tables.py").write_text("import car.cam\n")
    (pkg / "cam.py").write_text("from car.experiments import tables\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    import pytest

    with pytest.raises(AssertionError, match="car.cam .layer 0. imports car.experiments.tables"):
        test_no_import_goes_up_a_layer()
    with pytest.raises(AssertionError, match="car.cam -> car.experiments.tables -> car.cam"):
        test_no_module_level_import_circle()
