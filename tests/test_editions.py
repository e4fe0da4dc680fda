"""The two editions of one source: no solution survives in the student edition, every lab is a real nbgrader
exercise (the stub fails its tests, the solution passes them), the answer key is computed, the course page follows
the chapters.

Fast tests read the sources; the nbgrader round trip and the fresh run of the answer key execute notebooks (slow).
The student *book* is built and checked for leaks in ``test_book.py`` from the chapters executed there.
"""
from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


editions = _tool("editions")
answer_key = _tool("answer_key")
course = _tool("course")
CHAPTERS = editions.stamp_chapters.chapters()
PART_ONE = editions.part_one()


# ------------------------------------------------------------------------------------------------ the source
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_exercise_has_a_difficulty_mark_and_the_parser_sees_every_solution(chapter) -> None:
    nb = editions.read(chapter)
    found = editions.exercises(nb)
    assert [e.number for e in found] == list(range(1, len(found) + 1)), f"{chapter}: exercises numbered 1..n"
    unmarked = [e.number for e in found if not e.difficulty or not re.search(r"easy|medium|hard", e.difficulty)]
    assert not unmarked, f"{chapter}: exercises {unmarked} have no *(easy|medium|hard)* mark"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert sum(len(e.solutions) for e in found) == text.count("{admonition} Solution"), \
        f"{chapter}: a Solution block the parser does not see (fence or ':class: dropdown' line malformed?)"


def test_the_parser_on_a_hand_made_cell() -> None:
    cell = nbformat.v4.new_markdown_cell(
        "## Exercises\n\n**1.** *(easy)* Q one?\n\n````{admonition} Solution\n:class: dropdown\n```python\nx = 1\n```\n"
        "Because.\n````\n\n**2.** *(hard)* Q two.\n\n```{admonition} Solution\n:class: dropdown\nProse only.\n```\n")
    nb = nbformat.v4.new_notebook(cells=[cell])
    first, second = editions.exercises(nb)
    assert (first.number, first.difficulty, first.code) == (1, "easy", ["x = 1"])
    assert (second.difficulty, second.solutions, second.code) == ("hard", ("Prose only.\n",), [])
    assert editions.solution_code(nb) == ["x = 1"]
    assert editions.strip_solutions(cell.source) == "## Exercises\n\n**1.** *(easy)* Q one?\n\n**2.** *(hard)* Q two."


def _labs(nb) -> dict[str, dict[str, nbformat.NotebookNode]]:
    labs: dict[str, dict] = {}
    for cell in nb.cells:
        if editions.is_lab(cell):
            prefix, _, role = cell.metadata["nbgrader"]["grade_id"].rpartition("-")
            labs.setdefault(prefix, {})[role] = cell
    return labs


@pytest.mark.parametrize("chapter", PART_ONE)
def test_each_part_one_chapter_has_an_autograded_lab(chapter) -> None:
    labs = _labs(editions.read(chapter))
    assert labs, f"{chapter}: no nbgrader lab"
    for prefix, cells in labs.items():
        assert prefix.startswith(chapter.split("/")[-1] + "-"), f"{prefix}: grade ids start with the chapter"
        assert set(cells) == {"intro", "solution", "visible", "hidden"}, f"{prefix}: {sorted(cells)}"
        grading = {role: c.metadata["nbgrader"] for role, c in cells.items()}
        assert grading["solution"]["solution"] and not grading["solution"]["grade"]
        assert all(grading[r]["grade"] and grading[r]["locked"] and grading[r]["points"] > 0
                   for r in ("visible", "hidden"))
        assert editions.regions(cells["solution"].source, "BEGIN SOLUTION", "END SOLUTION"), prefix
        assert "assert" in cells["visible"].source and "HIDDEN" not in cells["visible"].source, prefix
        hidden = editions.regions(cells["hidden"].source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        assert hidden and "assert" in hidden[0] and re.search(r"\bcar\.|\bCaR\b|^from car", hidden[0], re.M), \
            f"{prefix}: the hidden test compares with car"


def test_grade_ids_are_unique_across_the_book() -> None:
    ids = [i for chapter in CHAPTERS for i in editions.lab_ids(editions.read(chapter))]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def _tree(source: str) -> ast.Module:
    from IPython.core.inputtransformer2 import TransformerManager

    return ast.parse(TransformerManager().transform_cell(source))


def _bound(source: str) -> set[str]:
    """Names a cell binds at top level, imports excepted (an import rebinds the same object)."""
    tree = _tree(source)
    scoped = {id(n) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ListComp,
                                                                     ast.GeneratorExp, ast.DictComp, ast.SetComp))
              for n in ast.walk(node) if n is not node}
    return {n.id for n in ast.walk(tree) if id(n) not in scoped and isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Store)}


@pytest.mark.parametrize("chapter", PART_ONE)
def test_lab_tests_rebind_no_name_of_their_chapter(chapter) -> None:
    """A test cell's variables must not overwrite the chapter's (a hidden test that rebinds ``attn`` would change
    every later cell); they are prefixed ``lab_`` where they would."""
    nb = editions.read(chapter)
    used = {n.id for c in nb.cells if c.cell_type == "code" and not editions.is_lab(c)
            for n in ast.walk(_tree(c.source)) if isinstance(n, ast.Name)}
    used |= {n.id for code in editions.solution_code(nb) for n in ast.walk(_tree(code)) if isinstance(n, ast.Name)}
    for cell in nb.cells:
        if editions.is_lab(cell) and cell.metadata["nbgrader"]["grade"]:
            clash = _bound(cell.source) & used
            assert not clash, f"{chapter} {cell.id}: rebinds {sorted(clash)}"


def _imported(source: str) -> set[str]:
    return {(a.asname or a.name).split(".")[0] if isinstance(n, ast.Import) else (a.asname or a.name)
            for n in ast.walk(_tree(source)) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}


def test_the_labs_notebook_imports_what_every_lab_chapter_imports() -> None:
    """The labs run in one notebook under the first chapter's world cell: it must bind every name that the world
    cell of each chapter with labs imports (a lab that uses ``torch`` fails where only the quickstart's imports are)."""
    labs = editions.labs_notebook(PART_ONE)
    header = _imported(labs.cells[2].source)
    for chapter in PART_ONE:
        nb = editions.read(chapter)
        if any(editions.is_lab(c) for c in nb.cells):
            missing = _imported(editions._world_cell(nb).source) - header
            assert not missing, f"{chapter}: the labs notebook does not import {sorted(missing)}"
    assert labs.cells[2].source.splitlines()[0] == "%matplotlib inline"
    assert "car.chapter.setup(" in labs.cells[2].source


def test_labs_world_source_merges_imports_on_a_hand_made_case() -> None:
    first = "%matplotlib inline\nimport numpy as np\nfrom car import CaR\n\nworld = setup()"
    merged = editions.labs_world_source(first, ["import torch\nimport os\nfrom car import load_clip, CaR"])
    assert merged == ("%matplotlib inline\nimport os\n\nimport numpy as np\nimport torch\n\n"
                      "from car import CaR, load_clip\n\nworld = setup()")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_pauses_to_think_inside_a_section(chapter) -> None:
    nb = editions.read(chapter)
    section, pauses = None, []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = [line for line in cell.source.splitlines() if line.startswith("## ")]
            section = heads[-1] if heads else section
            if cell.source.startswith("> **Think!**"):
                pauses.append(section)
    assert pauses, f"{chapter}: no Think! pause"
    assert all(s and re.match(r"## \d+\. ", s) for s in pauses), f"{chapter}: a Think! outside a numbered section"


# ------------------------------------------------------------------------------------------- student edition
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_text_survives_in_a_student_notebook(chapter) -> None:
    nb = editions.read(chapter)
    assert editions.leaks(nb, editions.visible_text(nb)), "the leak detector must see the instructor's solutions"
    assert all(editions.needles(nb).values()), f"{chapter}: a solution with no line the detector could find"
    student = editions.student(nb, chapter)
    assert not editions.leaks(nb, editions.visible_text(student))
    assert "{admonition} Solution" not in editions.visible_text(student)


def test_the_leak_detector_finds_a_single_leaked_line() -> None:
    nb = editions.read("book/caa")
    student = editions.student(nb, "book/caa")
    leaked = editions.exercises(nb)[0].code[0].splitlines()[1]       # one line of exercise 1's solution
    student.cells.append(nbformat.v4.new_markdown_cell(f"some <b>page</b> text\n\n`{leaked}`"))
    assert [hit.split(":")[0] for hit in editions.leaks(nb, editions.visible_text(student))] == ["exercise 1"]


@pytest.mark.parametrize("chapter", PART_ONE)
def test_student_labs_are_stubs_that_raise(chapter) -> None:
    student = editions.student(editions.read(chapter), chapter)
    for prefix, cells in _labs(student).items():
        stub = cells["solution"].source
        assert "raise NotImplementedError()" in stub and "BEGIN SOLUTION" not in stub, prefix
        assert "assert" not in cells["hidden"].source and "HIDDEN" not in cells["hidden"].source, prefix
        assert cells["visible"].source == _labs(editions.read(chapter))[prefix]["visible"].source
    assert editions.student_colab_url(chapter) in student.cells[0].source
    assert "/blob/student-v" in editions.student_colab_url(chapter)


def test_student_book_config_opens_the_student_branch_and_drops_instructor_pages() -> None:
    import yaml

    cfg = editions.student_config(yaml.safe_load((ROOT / "_config.yml").read_text()))
    assert cfg["repository"]["branch"] == editions.student_ref() and cfg["execute"]["execute_notebooks"] == "off"
    toc = editions.student_toc(yaml.safe_load((ROOT / "_toc.yml").read_text()))
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    assert not set(files) & set(editions.INSTRUCTOR_ONLY) and "book/course" in files and "book/cam" in files


def _nbgrader(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("course")
    names = editions.build_course(out)
    assert names[-1] == editions.LABS_ASSIGNMENT and {c.split("/")[-1] for c in PART_ONE} <= set(names)
    return out


def _sources(nb) -> list[str]:
    return [c.source for c in nb.cells]


@pytest.mark.parametrize("name", ["cam", editions.LABS_ASSIGNMENT])
def test_the_student_edition_is_what_nbgrader_generate_assignment_releases(course_dir, name) -> None:
    """nbgrader itself (the app, with its gradebook) releases the same cells as the student edition."""
    _nbgrader(["generate_assignment", name, "--force"], course_dir)
    released = nbformat.read(course_dir / "release" / name / f"{name}.ipynb", as_version=4)
    source = nbformat.read(course_dir / "source" / name / f"{name}.ipynb", as_version=4)
    mine = editions.student(source, f"book/{name}" if name != editions.LABS_ASSIGNMENT else None)
    released.cells[0].source = mine.cells[0].source  # the badge: the student edition's points to the student branch
    assert _sources(released) == _sources(mine)
    assert [c.metadata.get("nbgrader") for c in released.cells] == [c.metadata.get("nbgrader") for c in mine.cells]


@pytest.mark.slow
def test_nbgrader_round_trip_stubs_fail_and_solutions_pass(course_dir) -> None:
    """``nbgrader autograde`` on the Part I labs: the released stubs score 0, the solutions every point; and every
    lab test prints what the answer key says (a fresh run of the labs)."""
    from nbgrader.api import Gradebook

    name = editions.LABS_ASSIGNMENT
    _nbgrader(["generate_assignment", name, "--force"], course_dir)
    for student, folder in (("stub", "release"), ("solved", "source")):
        target = course_dir / "submitted" / student / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(course_dir / folder / name / f"{name}.ipynb", target / f"{name}.ipynb")
    _nbgrader(["autograde", name, "--create", "--force"], course_dir)
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        stub, solved = (gb.find_submission(name, s) for s in ("stub", "solved"))
        assert solved.max_score > 0 and solved.score == solved.max_score, \
            f"solutions: {solved.score}/{solved.max_score}"
        assert stub.score == 0, f"stubs scored {stub.score} of {stub.max_score}"
    graded = nbformat.read(course_dir / "autograded" / "solved" / name / f"{name}.ipynb", as_version=4)
    key = {lab["grade_id"]: lab for entry in answer_key.load()["chapters"].values() for lab in entry["labs"]}
    for cell in graded.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade"):
            fresh = answer_key.printed(cell)
            assert answer_key.agree(key[grading["grade_id"]]["text"], fresh["text"]), (grading["grade_id"], fresh)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", PART_ONE)
def test_a_student_chapter_runs_to_the_end_failing_only_in_its_labs(chapter) -> None:
    """What a student who runs every cell sees: the stubs raise NotImplementedError in the lab's test cells and the
    cell that uses the lab on the chapter's scene, and every other cell runs (Neuromatch's rule for its notebooks)."""
    student = editions.student(editions.read(chapter), chapter)
    written = {m for c in student.cells if c.metadata.get("nbgrader", {}).get("solution")
               for m in re.findall(r"^def (\w+)", editions.read(chapter).cells[student.cells.index(c)].source, re.M)}
    lab_use = {cell.id for cell in student.cells if cell.cell_type == "code" and not editions.is_lab(cell)
               and any(re.search(rf"\b{name}\(", cell.source) for name in written)}
    done = editions.execute(student, allow_errors=True)
    errors = {cell.id: out.ename for cell in done.cells if cell.cell_type == "code"
              for out in cell.outputs if out.output_type == "error"}
    assert set(errors.values()) <= {"NotImplementedError"}, errors
    allowed = {c.id for c in student.cells if editions.is_lab(c)} | lab_use
    assert set(errors) <= allowed, f"cells outside the labs fail: {sorted(set(errors) - allowed)}"
    assert errors, "the stubs raised nothing"


# ------------------------------------------------------------------------------------------------ answer key
def test_answer_key_is_current_for_every_chapter_and_its_page_follows_it() -> None:
    assert answer_key.check() == [], "run: python tools/answer_key.py <the chapters listed>"


def test_answer_key_has_every_solution_and_lab() -> None:
    key = answer_key.load()["chapters"]
    for chapter in CHAPTERS:
        nb = editions.read(chapter)
        entry = key[chapter]
        assert [e["number"] for e in entry["exercises"]] == [e.number for e in editions.exercises(nb)]
        for ex, stamped in zip(editions.exercises(nb), entry["exercises"]):
            assert len(stamped["outputs"]) == len(ex.code), f"{chapter} exercise {ex.number}"
        graded = [i for i in editions.lab_ids(nb) if i.endswith(("-visible", "-hidden"))]
        assert [lab["grade_id"] for lab in entry["labs"]] == graded


def test_agree_compares_printed_numbers_to_their_precision() -> None:
    assert answer_key.agree("kept 3 of 10, IoU 0.71", "kept 3 of 10, IoU 0.72")       # last digit
    assert not answer_key.agree("kept 3 of 10, IoU 0.71", "kept 4 of 10, IoU 0.71")   # counts are exact
    assert not answer_key.agree("IoU 0.71", "IoU 0.75")
    assert answer_key.agree("max diff 2.9802322e-08", "max diff 0.0")                 # round-off
    assert not answer_key.agree("circle wins", "mask wins")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["book/clip", "book/tables/table2", "book/tables/table5"])
def test_answer_key_matches_a_fresh_run(chapter) -> None:
    """A fresh execution of the chapter and its solutions prints what the key says."""
    entry = answer_key.load()["chapters"][chapter]
    assert answer_key.mismatches(entry, answer_key.run_chapter(chapter), chapter) == []


# ------------------------------------------------------------------------------------------------ course page
def test_course_page_is_in_the_toc_and_its_table_follows_the_chapters() -> None:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    assert "book/course" in files and set(editions.INSTRUCTOR_ONLY) <= set(files)
    assert course.main(["--check"]) == 0, "run: python tools/course.py"


def test_course_page_has_objectives_for_every_chapter() -> None:
    text = (ROOT / "book" / "course.md").read_text(encoding="utf-8")
    objectives = text.split("## Learning objectives")[1].split("\n## ")[0]
    missing = [c for c in CHAPTERS if f"]({c.removeprefix('book/')}.ipynb)" not in objectives]
    assert not missing, f"learning objectives missing for {missing}"


def test_student_time_estimate_counts_reading_exercises_and_labs() -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(" ".join(["word"] * 300)),
                                         nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_markdown_cell(
                                             "## Exercises\n\n**1.** *(easy)* a\n\n**2.** *(hard)* b")])
    reading, exercises, labs = course.student_minutes(nb)
    assert reading == round(300 / course.WORDS_PER_MINUTE + course.MINUTES_PER_CODE_CELL)
    assert exercises == course.EXERCISE_MINUTES["easy"] + course.EXERCISE_MINUTES["hard"] and labs == 0
