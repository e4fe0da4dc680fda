"""Part I of the book (the method chapters): checks on the stored notebooks, without executing them.

Execution is tested separately by ``pytest --nbmake book/``; here we check what a reader and the build rely
on: every chapter listed in ``_toc.yml`` exists, is stored without outputs, opens with its own Colab badge and
the Colab-only install cell, imports ``car``, ends with exercises whose solutions are collapsed, and is exactly
what ``book/_make_part1.py`` generates.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
COLAB = "https://colab.research.google.com/github/car-book/car-book/blob/main/"


def _part1_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    part = next(p for p in toc["parts"] if p["caption"].startswith("Part I "))
    return [c["file"] for c in part["chapters"]]


PART1 = _part1_chapters()


def _load(chapter: str) -> dict:
    return json.loads((ROOT / f"{chapter}.ipynb").read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_toc_lists_the_nine_method_chapters_after_the_preface() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/preface" and (BOOK / "preface.md").is_file()
    assert [c.split("/")[-1] for c in PART1] == [
        "quickstart", "clip", "cam", "caa", "prompts", "recurrence", "postprocess", "referring", "toy_world"]


@pytest.mark.parametrize("chapter", PART1)
def test_chapter_exists_as_a_valid_notebook(chapter: str) -> None:
    path = ROOT / f"{chapter}.ipynb"
    assert path.is_file(), f"{chapter}.ipynb is listed in _toc.yml but missing; run python book/_make_part1.py"
    nb = _load(chapter)
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("chapter", PART1)
def test_chapter_is_stored_without_outputs(chapter: str) -> None:
    for i, cell in enumerate(_load(chapter)["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{chapter}: cell {i} has stored outputs"
            assert cell.get("execution_count") is None, f"{chapter}: cell {i} has an execution count"


@pytest.mark.parametrize("chapter", PART1)
def test_chapter_opens_with_title_and_its_own_colab_badge(chapter: str) -> None:
    first = _source(_load(chapter)["cells"][0])
    assert first.startswith("# "), f"{chapter}: the first cell must be the title"
    links = re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", first)
    assert links == [f"{COLAB}{chapter}.ipynb"], f"{chapter}: the Colab badge must point to {chapter}.ipynb"
    assert "colab-badge.svg" in first


@pytest.mark.parametrize("chapter", PART1)
def test_first_code_cell_installs_only_in_colab_and_second_imports_car(chapter: str) -> None:
    code = [_source(c) for c in _load(chapter)["cells"] if c["cell_type"] == "code"]
    install = code[0]
    assert 'if "google.colab" in sys.modules' in install and "pip" in install
    assert all(line.startswith(("import sys", "if ", "    ")) for line in install.splitlines()), \
        f"{chapter}: the install cell may only act inside the Colab guard"
    assert re.search(r"^from car import .*CaR", code[1], re.M) and "REAL = weights_available" in code[1]
    assert all("!pip" not in c for c in code[1:]), f"{chapter}: only the first cell may install packages"


@pytest.mark.parametrize("chapter", PART1)
def test_chapter_ends_with_summary_and_collapsed_exercises(chapter: str) -> None:
    markdown = [_source(c) for c in _load(chapter)["cells"] if c["cell_type"] == "markdown"]
    headings = [line for text in markdown for line in text.splitlines() if line.startswith("## ")]
    assert headings[-2:] == ["## Summary", "## Exercises"], f"{chapter}: ends with {headings[-2:]}"
    exercises = markdown[-1]
    assert exercises.startswith("## Exercises")
    solutions = list(re.finditer(r"^(`{3,})\{admonition\} Solution\n:class: dropdown\n", exercises, re.M))
    assert 2 <= len(solutions) <= 4, f"{chapter}: {len(solutions)} collapsed solutions (want 2-4)"
    assert exercises.count("{admonition}") == len(solutions)
    for match in solutions:  # the fence must outlast any code block inside the solution
        fence, lines = match.group(1), exercises[match.end():].splitlines()
        assert fence in lines, f"{chapter}: a solution block is not closed"
        inner = [line for line in lines[:lines.index(fence)] if line.startswith("```")]
        assert all(len(line) - len(line.lstrip("`")) < len(fence) for line in inner), \
            f"{chapter}: a solution holding a code block needs a longer fence than the code block's"
    numbered = [h for h in headings if re.match(r"## \d+\. ", h)]
    assert numbered, f"{chapter}: no numbered steps (## 1. ...)"
    assert [int(h.split(".")[0][3:]) for h in numbered] == list(range(1, len(numbered) + 1))


@pytest.mark.parametrize("chapter", PART1)
def test_chapter_states_its_cpu_budget_and_world(chapter: str) -> None:
    cells = _load(chapter)["cells"]
    assert any("*CPU budget:*" in _source(c) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    assert "plt.show()" in code


def test_notebooks_are_what_the_generator_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_part1", BOOK / "_make_part1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    for chapter in PART1:
        name = chapter.split("/")[-1]
        generated = json.loads((tmp_path / f"{name}.ipynb").read_text(encoding="utf-8"))
        assert generated == _load(chapter), \
            f"{chapter}.ipynb differs from book/_make_part1.py's output; edit the generator and rerun it"
