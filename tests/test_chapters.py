"""Every chapter, as stored: the skeleton readers and the build rely on, checked without executing anything.

Each chapter is one notebook, its own source, edited directly (Jupyter, Colab, a text editor). Here we check what
an edit must keep: the title with its Colab badge and the install cell, both derived from the one repository
setting of ``_config.yml`` (``python tools/stamp_chapters.py`` rewrites them); the world cell; numbered steps, a
summary and exercises with collapsed solutions; no stored outputs; ``car`` imported, not re-implemented.
Execution is tested in ``test_book_execution.py``.
"""
from __future__ import annotations

import importlib.util
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("stamp_chapters", ROOT / "tools" / "stamp_chapters.py")
stamp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stamp)

CHAPTERS = stamp.chapters()


def _nb(chapter: str) -> nbformat.NotebookNode:
    return nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)


def _code(chapter: str) -> list[str]:
    return [c.source for c in _nb(chapter).cells if c.cell_type == "code"]


def _markdown(chapter: str) -> list[str]:
    return [c.source for c in _nb(chapter).cells if c.cell_type == "markdown"]


def test_every_notebook_of_the_book_is_in_the_toc() -> None:
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").rglob("*.ipynb")
               if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts}
    assert on_disk == set(CHAPTERS)


def test_part_one_order() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert toc["root"] == "book/preface" and (ROOT / "book" / "preface.md").is_file()
    part = next(p for p in toc["parts"] if p["caption"].startswith("Part I "))
    assert [c["file"].split("/")[-1] for c in part["chapters"]] == [
        "quickstart", "clip", "cam", "caa", "prompts", "recurrence", "postprocess", "referring", "toy_world"]


def test_repository_setting_is_one_pinned_release() -> None:
    """Badges and install cells name one revision: the release tag of the package's version."""
    url, ref = stamp.repository()
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert url.startswith("https://github.com/") and ref == f"v{version}"
    import car

    assert car.__version__ == version


def test_no_generator_holds_chapters_in_strings() -> None:
    assert not list((ROOT / "book").glob("_make_*.py")), "chapters are edited as notebooks, not generated"


def test_badges_and_install_cells_follow_the_config() -> None:
    assert stamp.main(["--check"]) == 0, "run python tools/stamp_chapters.py"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_stored_without_outputs(chapter: str) -> None:
    nb = _nb(chapter)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{chapter}: cell {i} stores outputs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_title_badge_install_and_world_cells(chapter: str) -> None:
    nb = _nb(chapter)
    title = nb.cells[0].source
    assert title.startswith("# ") and stamp.badge(chapter) in title
    code = _code(chapter)
    assert code[0] == stamp.install_cell()
    assert re.search(r"car\.chapter\.setup\(|TableChapter\(", code[1]) and \
        re.search(r"^(import car|from car)", code[1], re.M), \
        f"{chapter}: the second code cell is the world cell (imports car, car.chapter.setup or TableChapter)"
    assert all("!pip" not in c and "%pip" not in c for c in code[1:]), f"{chapter}: only the first cell installs"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_numbered_steps_summary_and_collapsed_exercises(chapter: str) -> None:
    markdown = _markdown(chapter)
    headings = [line for text in markdown for line in text.splitlines() if line.startswith("## ")]
    assert headings[-2:] == ["## Summary", "## Exercises"], f"{chapter}: ends with {headings[-2:]}"
    numbered = [h for h in headings if re.match(r"## \d+\. ", h)]
    assert [int(h.split(".")[0][3:]) for h in numbered] == list(range(1, len(numbered) + 1)) and numbered
    exercises = markdown[-1][markdown[-1].index("## Exercises"):]
    solutions = list(re.finditer(r"^(`{3,})\{admonition\} Solution[^\n]*\n:class: dropdown\n", exercises, re.M))
    assert len(solutions) >= 2, f"{chapter}: {len(solutions)} collapsed solutions"
    for match in solutions:  # the fence must outlast any code block inside the solution
        fence, lines = match.group(1), exercises[match.end():].splitlines()
        assert fence in lines, f"{chapter}: a solution block is not closed"
        inner = [line for line in lines[:lines.index(fence)] if line.startswith("```")]
        assert all(len(line) - len(line.lstrip("`")) < len(fence) for line in inner), \
            f"{chapter}: a solution holding a code block needs a longer fence than the code block's"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_states_its_budget_in_both_worlds(chapter: str) -> None:
    """A limit, not a measurement: test_book.py executes the chapter in both worlds and holds it to this line."""
    budget = re.compile(r"CPU budget:\*{1,2} toy world under (\d+) s, real CLIP under (\d+) s")
    matches = [m for t in _markdown(chapter) for m in budget.finditer(t)]
    assert len(matches) == 1, f"{chapter}: state '*CPU budget:* toy world under N s, real CLIP under M s' once"
    toy, real = map(int, matches[0].groups())
    assert toy <= 180 and real <= 180, f"{chapter}: a chapter must run in under 3 minutes in either world"


def _run_world_cell(chapter: str, cuda: bool, monkeypatch) -> tuple[dict, str]:
    """Execute a chapter's world cell (its second code cell) in-process with CUDA present or absent."""
    import contextlib
    import io

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    source = "\n".join(line for line in _code(chapter)[1].splitlines() if not line.lstrip().startswith(("%", "!")))
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(source, f"{chapter}: world cell", "exec"), namespace)  # noqa: S102 - the chapter's own code
    return namespace, printed.getvalue()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_world_cell_picks_the_gpu_and_its_sizes_when_cuda_is_there(chapter, monkeypatch) -> None:
    """With CUDA present the world cell runs on cuda and says so, and a chapter with real-CLIP work picks its GPU
    sizes (larger than the CPU ones) in that cell and prints them; without CUDA, the CPU and the CPU sizes."""
    gpu, gpu_out = _run_world_cell(chapter, True, monkeypatch)
    gpu.setdefault("world", gpu["ch"].world if "ch" in gpu else None)
    assert gpu["world"].device == "cuda" and "on cuda" in gpu_out, f"{chapter}: {gpu_out}"
    cpu, cpu_out = _run_world_cell(chapter, False, monkeypatch)
    cpu.setdefault("world", cpu["ch"].world if "ch" in cpu else None)
    assert cpu["world"].device == "cpu" and "on cpu" in cpu_out
    has_real_work = any(re.search(r"^if REAL\b|^\s+if REAL\b", c, re.M) for c in _code(chapter)[2:])
    if "SIZES" in gpu or has_real_work:
        assert "SIZES" in gpu, f"{chapter} has real-CLIP cells: size them in the world cell, world.sizes(...)"
        big, small = vars(gpu["SIZES"]), vars(cpu["SIZES"])
        names = [k for k in big if not k.startswith("_")]
        assert names and all(big[k] >= small[k] for k in names) and any(big[k] > small[k] for k in names)
        assert repr(gpu["SIZES"]) in gpu_out and repr(cpu["SIZES"]) in cpu_out, f"{chapter}: print the sizes"


def test_helpers_live_in_car_not_in_chapters() -> None:
    """A function that two chapters define belongs in the package (one implementation per idea)."""
    defined = Counter()
    for chapter in CHAPTERS:
        names = {m.group(1) for c in _code(chapter) for m in re.finditer(r"^def (\w+)", c, re.M)}
        defined.update(names)
    shared = sorted(name for name, n in defined.items() if n > 1)
    assert not shared, f"defined in several chapters (move them into car): {shared}"
