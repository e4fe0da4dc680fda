"""One source, two editions: every chapter as the instructor and as the student receives it.

The chapters are the one source, and they are the instructor edition: each exercise's solution sits in a
collapsed MyST block (```` ````{admonition} Solution ```` with ``:class: dropdown``), and each autograded lab is
in nbgrader's format — a solution cell whose answer lies between ``### BEGIN SOLUTION`` and ``### END SOLUTION``,
a visible test cell, and a test cell whose asserts lie between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS`` (nbgrader metadata on every lab cell). The student edition removes every exercise
solution and runs nbgrader's own preprocessors, those of ``nbgrader generate_assignment``, so that each lab shows
a stub that raises and no hidden test. Its Colab badges open the student notebooks, which are published on the
branch ``student-<tag>`` of the repository (``<tag>`` is ``repository.branch`` of ``_config.yml``).

    python tools/editions.py student --out DIR [--executed DIR] [--no-html] [--no-slides]
    python tools/editions.py instructor --out DIR [--executed DIR]
    python tools/editions.py course --out DIR

``student`` writes ``DIR/notebooks/`` (the files of the student branch: every chapter without outputs, as Colab
opens it), ``DIR/site/_build/html`` (the student book) and ``DIR/slides/`` (one reveal.js deck per chapter).
``--executed`` names a folder of executed chapters (``<chapter>.ipynb`` with outputs: ``book/conftest.py``'s
``--chapter-out DIR/executed/`` or jupyter-book's ``_build/jupyter_execute``); without it every chapter is executed first.
``course`` writes an nbgrader course directory (``nbgrader generate_assignment <name>`` runs in it): one assignment
per chapter that has labs (the chapter without its exercise solutions) and ``part1_labs`` (every lab of Part I in
one short notebook). ``instructor`` builds the book as stored (``DIR/site/_build/html``, what
``jupyter-book build .`` builds): the collapsed solutions, the labs with their solutions and tests, the answer key
and the rubrics.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import stamp_chapters  # noqa: E402  (tools/ is not a package)

#: A collapsed solution block: its fence (three backticks or more) and its body.
SOLUTION = re.compile(r"^(`{3,})\{admonition\} Solution[^\n]*\n:class: dropdown\n(.*?)^\1[ \t]*$\n?", re.M | re.S)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.M | re.S)
EXERCISE = re.compile(r"^\*\*(\d+)\.\*\*[ \t]*(?:\*\(([^)]*)\)\*)?", re.M)
#: Pages of the instructor edition only (answer key, rubrics): left out of the student book.
INSTRUCTOR_ONLY = ("book/answer_key", "book/rubrics")
#: The chapters whose labs make the ``part1_labs`` assignment.
PART_ONE = "Part I "
LABS_ASSIGNMENT = "part1_labs"


# --------------------------------------------------------------------------------------------- the one source
@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter's ``## Exercises`` cell.

    Attributes:
        number: the exercise's number (``**2.**``).
        difficulty: its mark, e.g. "easy", "capstone for Part I; hard"; None if it has none.
        question: its text with the solutions removed.
        solutions: the body of each collapsed solution, in order.
    """

    number: int
    difficulty: str | None
    question: str
    solutions: tuple[str, ...]

    @property
    def code(self) -> list[str]:
        """The ```python blocks of the solutions, in order."""
        return [b.strip("\n") for s in self.solutions for b in PYTHON_BLOCK.findall(s)]


def exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """The exercises of a chapter, in order (every ``**N.**`` of the cell holding ``## Exercises``)."""
    cell = next((c for c in nb.cells if c.cell_type == "markdown" and "## Exercises" in c.source), None)
    if cell is None:
        return []
    text = cell.source[cell.source.index("## Exercises"):]
    marks = list(EXERCISE.finditer(text))
    out = []
    for mark, nxt in zip(marks, marks[1:] + [None]):
        chunk = text[mark.start():nxt.start() if nxt else len(text)]
        out.append(Exercise(int(mark.group(1)), mark.group(2), strip_solutions(chunk).strip(),
                            tuple(m.group(2) for m in SOLUTION.finditer(chunk))))
    return out


def solution_code(nb: nbformat.NotebookNode) -> list[str]:
    """The ```python blocks inside the collapsed solutions of a chapter's markdown cells, in order."""
    return [b.strip("\n") for cell in nb.cells if cell.cell_type == "markdown"
            for solution in SOLUTION.finditer(cell.source) for b in PYTHON_BLOCK.findall(solution.group(2))]


def strip_solutions(text: str) -> str:
    """``text`` with every collapsed solution block removed (not collapsed: gone)."""
    return re.sub(r"\n{3,}", "\n\n", SOLUTION.sub("", text)).rstrip("\n")


def is_lab(cell: nbformat.NotebookNode) -> bool:
    """A cell of an autograded lab: it carries nbgrader metadata (intro, solution or test cell)."""
    return "nbgrader" in cell.metadata


def lab_ids(nb: nbformat.NotebookNode) -> list[str]:
    """The nbgrader ``grade_id`` of every lab cell, in order."""
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if is_lab(c)]


def regions(source: str, begin: str, end: str) -> list[str]:
    """The text between the marker lines ``begin`` and ``end`` (nbgrader's: a comment line naming them)."""
    return [m.group(1) for m in re.finditer(rf"^[ \t]*#+ *{begin}[^\n]*\n(.*?)^[ \t]*#+ *{end}", source, re.M | re.S)]


def solutions(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Every piece of a chapter that the student edition must not show: each collapsed exercise solution, each
    lab's solution region and each hidden test region, by a label (``"exercise 2"``, ``"cam-gradcam-solution"``)."""
    out = {f"exercise {ex.number}" + (f" solution {k + 1}" if len(ex.solutions) > 1 else ""): body
           for ex in exercises(nb) for k, body in enumerate(ex.solutions)}
    for cell in nb.cells:
        if is_lab(cell) and cell.cell_type == "code":
            grade_id = cell.metadata["nbgrader"]["grade_id"]
            for k, text in enumerate(regions(cell.source, "BEGIN SOLUTION", "END SOLUTION")
                                     + regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
                out[f"{grade_id} {k + 1}"] = text
    return out


def words(text: str) -> str:
    """``text`` as its words only, one space apart: markup, HTML tags and highlighting do not change it."""
    return " ".join(re.findall(r"\w+", text))


def visible_text(nb: nbformat.NotebookNode) -> str:
    """All that a notebook shows: its cells' sources and their text outputs."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str)]
    return "\n".join(parts)


def html_text(html: str) -> str:
    """The text of an HTML page: tags dropped, entities decoded (syntax highlighting splits code into spans)."""
    from html.parser import HTMLParser

    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append
    parser.feed(html)
    return "".join(parts)


def needles(nb: nbformat.NotebookNode, min_words: int = 4) -> dict[str, list[str]]:
    """The lines of each solution (as :func:`words`) that nothing else in the chapter contains: finding one of them
    in a student page is a leak. The rest of the chapter is the chapter with every solution cut out, here by plain
    text surgery (not by the student edition's own code, so a test of that code can fail)."""
    rest = []
    for cell in nb.cells:
        source = SOLUTION.sub("", cell.source) if cell.cell_type == "markdown" else cell.source
        for text in solutions(nb).values():
            source = source.replace(text, "")
        rest.append(source)
    rest_words = f" {words(chr(10).join(rest))} "
    return {label: [w for w in (words(line) for line in text.splitlines())
                    if len(w.split()) >= min_words and f" {w} " not in rest_words]
            for label, text in solutions(nb).items()}


def leaks(nb: nbformat.NotebookNode, text: str) -> list[str]:
    """The solutions of chapter ``nb`` of which ``text`` (a student notebook or page) shows a line."""
    seen = f" {words(text)} "
    return [f"{label}: {line!r}" for label, lines in needles(nb).items() for line in lines if f" {line} " in seen]


def read(chapter: str, root: Path = ROOT) -> nbformat.NotebookNode:
    return nbformat.read(root / f"{chapter}.ipynb", as_version=4)


def part_one() -> list[str]:
    """The chapters of Part I, in the order of ``_toc.yml``."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    part = next(p for p in toc["parts"] if p["caption"].startswith(PART_ONE))
    return [c["file"] for c in part["chapters"]]


# -------------------------------------------------------------------------------------------- student edition
def student_ref() -> str:
    """The branch that holds the student notebooks: ``student-<release tag>``."""
    return f"student-{stamp_chapters.repository()[1]}"


def student_colab_url(chapter: str) -> str:
    _, ref = stamp_chapters.repository()
    return stamp_chapters.colab_url(chapter).replace(f"/blob/{ref}/", f"/blob/{student_ref()}/", 1)


def _nbgrader_release(nb: nbformat.NotebookNode, outputs: bool) -> nbformat.NotebookNode:
    """What ``nbgrader generate_assignment`` does to a notebook, without its database: the same preprocessors in
    the same order (``nbgrader.converters.GenerateAssignment.preprocessors``, less the header, AUTOTEST and the
    gradebook). ``outputs`` keeps the outputs of every cell except the labs' solution and test cells."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                        ClearSolutions, ComputeChecksums, LockCells)

    steps = [LockCells(), ClearSolutions(), *([] if outputs else [ClearOutput()]), CheckCellMetadata(),
             ComputeChecksums(), ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]
    resources: dict = {}
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (grading.get("solution") or grading.get("grade")):
            cell.outputs, cell.execution_count = [], None
    return nb


def student(nb: nbformat.NotebookNode, chapter: str | None, outputs: bool = False) -> nbformat.NotebookNode:
    """The student edition of a chapter: no exercise solution, every lab a stub, badge to the student notebook.

    Args:
        nb: the chapter as stored (or executed: then ``outputs=True`` keeps its outputs).
        chapter: its repository path without suffix, e.g. ``"book/cam"``, whose Colab badge is rewritten to open
            the student notebook (None: a notebook that is not a chapter, no badge).
    """
    nb = without_solutions(nb)
    if chapter is not None:
        nb.cells[0].source = nb.cells[0].source.replace(stamp_chapters.colab_url(chapter),
                                                        student_colab_url(chapter))
    return _nbgrader_release(nb, outputs)


def without_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The chapter with its exercise solutions removed and its labs intact: an nbgrader assignment's source."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source)
    return nb


def labs_notebook(chapters: list[str]) -> nbformat.NotebookNode:
    """Every lab of ``chapters`` in one notebook: the install and world cells, then each chapter's lab cells.

    The lab cells test themselves on their own inputs, so they run without the rest of their chapter.
    """
    notebooks = {chapter: read(chapter) for chapter in chapters}
    with_labs = [nb for nb in notebooks.values() if any(is_lab(c) for c in nb.cells)]
    first = notebooks[chapters[0]]
    install = copy.deepcopy(next(c for c in first.cells if c.cell_type == "code"))
    world = copy.deepcopy(_world_cell(first))
    world.source = labs_world_source(world.source, [_world_cell(nb).source for nb in with_labs])
    cells = [nbformat.v4.new_markdown_cell(
        "# Part I labs\n\nThe autograded labs of Part I, each as in its chapter: write the function where the stub "
        "raises, then run its tests. The visible tests check hand-computable cases; the grader adds hidden tests "
        "that compare your function with `car`."), install, world]
    for chapter, nb in notebooks.items():
        lab = [copy.deepcopy(c) for c in nb.cells if is_lab(c)]
        if lab:
            title = nb.cells[0].source.splitlines()[0].lstrip("# ")
            cells += [nbformat.v4.new_markdown_cell(f"## {title}"), *lab]
    out = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(first.metadata))
    for i, cell in enumerate(out.cells):
        cell["id"] = f"lab-{i:02d}" if not is_lab(cell) else cell["id"]
    return out


def _world_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A chapter's world cell: its second code cell (the first is the Colab install)."""
    return [c for c in nb.cells if c.cell_type == "code"][1]


def labs_world_source(first: str, worlds: list[str]) -> str:
    """The labs notebook's world cell: ``first`` (the first chapter's world cell) with its imports replaced by
    every import of ``worlds`` (the world cells of the chapters whose labs it gathers), so that each lab finds
    the names its chapter imported (``from car import ...`` lines merged into one).

    Lines of ``first`` that import nothing (magics, the set-up call) keep their order after the imports.
    """
    def imports(line: str) -> bool:
        return line.startswith(("import ", "from "))

    plain: dict[str, None] = {}
    names: dict[str, dict[str, None]] = {}
    for source in [first, *worlds]:
        for line in filter(imports, source.splitlines()):
            if line.startswith("from "):
                module, _, what = line[len("from "):].partition(" import ")
                names.setdefault(module, {}).update(dict.fromkeys(n.strip() for n in what.split(",")))
            else:
                plain[line] = None

    def group(line: str) -> tuple[int, bool, str]:   # stdlib, third-party, car; "import" before "from"
        top = line.split()[1].split(".")[0]
        return (2 if top == "car" else 0 if top in sys.stdlib_module_names else 1), line.startswith("from"), line

    lines = sorted([*plain, *(f"from {m} import {', '.join(sorted(n))}" for m, n in names.items())], key=group)
    block: list[str] = []
    for i, line in enumerate(lines):
        if i and group(line)[0] != group(lines[i - 1])[0]:
            block.append("")
        block.append(line)
    rest = [line for line in first.splitlines() if not imports(line)]
    magics = [line for line in rest if line.startswith("%")]
    body = [line for line in rest if not line.startswith("%")]
    while body and not body[0].strip():
        body.pop(0)
    return "\n".join([*magics, *block, "", *body])


def student_config(cfg: dict) -> dict:
    """The student book's ``_config.yml``: its launch buttons open the student branch; nothing executes."""
    cfg = copy.deepcopy(cfg)
    cfg["title"] = f"{cfg['title']} (student edition)"
    cfg["repository"]["branch"] = student_ref()
    cfg["execute"]["execute_notebooks"] = "off"  # executed once, as the instructor edition
    return cfg


def student_toc(toc: dict) -> dict:
    toc = copy.deepcopy(toc)
    for part in toc["parts"]:
        part["chapters"] = [c for c in part["chapters"] if c["file"] not in INSTRUCTOR_ONLY]
    toc["parts"] = [p for p in toc["parts"] if p["chapters"]]
    return toc


# --------------------------------------------------------------------------------------------- execution
def execute(nb: nbformat.NotebookNode, timeout: int = 600, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Execute ``nb`` as a Colab reader would: alone in an empty folder, the toy world, this checkout's ``car``
    (``allow_errors``: run every cell, errors recorded as outputs, as a student who runs them all). The engine is
    nbmake's, the one that runs the chapters' tests (``book/conftest.py``).

    Raises:
        RuntimeError: a cell failed (without ``allow_errors``): nbmake's summary of it.
    """
    from nbmake.nb_run import NotebookRun

    nb = copy.deepcopy(nb)
    nb.metadata.setdefault("execution", {}).update(timeout=timeout, allow_errors=allow_errors)
    kernel_env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                  "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "CAR_RANDOM_WEIGHTS": None}
    saved = {k: os.environ.get(k) for k in kernel_env}
    try:  # the kernel inherits this process's environment
        for k, v in kernel_env.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        with tempfile.TemporaryDirectory(prefix="editions-") as alone:
            path = Path(alone) / "chapter.ipynb"
            nbformat.write(nb, path)
            result = NotebookRun(path, timeout).execute()
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    if result.error is not None and not allow_errors:
        raise RuntimeError(f"{result.error.summary}\n{result.error.trace[-3000:]}")
    return result.nb


# ------------------------------------------------------------------------------------------------ slides
def slide_tags(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Slide types for ``nbconvert --to slides``: a cell's own ``slideshow`` metadata wins, else the rule — a
    heading starts a slide, other prose and every output a sub-slide, set-up and lab solution or test cells are
    skipped, code longer than 8 lines shows its output only."""
    nb = copy.deepcopy(nb)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    for i, cell in enumerate(nb.cells):
        if "slideshow" in cell.metadata:
            continue
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            kind = "slide" if cell.source.startswith("#") else "subslide"
        elif i in code[:2] or grading.get("solution") or grading.get("grade") or not cell.get("outputs"):
            kind = "skip"
        else:
            kind = "subslide"
            if cell.source.count("\n") >= 8:
                cell.metadata.setdefault("tags", []).append("slides-output-only")
        cell.metadata["slideshow"] = {"slide_type": kind}
    return nb


def slides(nb: nbformat.NotebookNode) -> str:
    """One chapter's reveal.js deck (HTML) from its executed student notebook."""
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    config = Config({"TagRemovePreprocessor": {"enabled": True, "remove_input_tags": {"slides-output-only"}}})
    body, _ = SlidesExporter(config=config).from_notebook_node(slide_tags(nb))
    return body


# ------------------------------------------------------------------------------------------------- builds
def _size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _timed(record: dict, part: str, start: float, folder: Path) -> None:
    files, size = _size(folder)
    record[part] = {"seconds": round(time.time() - start, 1), "files": files, "bytes": size}


def build(out: Path, edition: str = "student", executed: Path | None = None, html: bool = True,
          with_slides: bool = True) -> dict:
    """Build one edition into ``out`` (see the module docstring); returns its parts' sizes (bytes) and seconds.

    Args:
        edition: "student" (notebooks, book and slides without solutions) or "instructor" (the book as stored).
        executed: a folder of executed chapters; a chapter missing from it is executed here.
    """
    if edition not in ("student", "instructor"):
        raise ValueError(f"unknown edition {edition!r}; valid: student, instructor")
    out, for_students, record = Path(out), edition == "student", {}
    chapters = stamp_chapters.chapters()
    if for_students:
        start = time.time()
        for chapter in chapters:
            target = out / "notebooks" / f"{chapter}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(student(read(chapter), chapter), target)
        _timed(record, "notebooks", start, out / "notebooks")
    if not (html or with_slides):
        return record
    start, site = time.time(), out / "site"
    shutil.copytree(ROOT / "book", site / "book", dirs_exist_ok=True, ignore=shutil.ignore_patterns(
        "*.ipynb", ".pytest_cache", "_build", ".ipynb_checkpoints", "_*.json"))
    for page in INSTRUCTOR_ONLY if for_students else ():
        (site / f"{page}.md").unlink(missing_ok=True)
    for chapter in chapters:
        source = executed / f"{chapter}.ipynb" if executed else None
        nb = nbformat.read(source, as_version=4) if source and source.is_file() else execute(read(chapter))
        nbformat.write(student(nb, chapter, outputs=True) if for_students else nb, site / f"{chapter}.ipynb")
    record["executed_seconds"] = round(time.time() - start, 1)
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    cfg = student_config(cfg) if for_students else {**cfg, "execute": {**cfg["execute"], "execute_notebooks": "off"}}
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    (site / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    (site / "_toc.yml").write_text(yaml.safe_dump(student_toc(toc) if for_students else toc, sort_keys=False),
                                   encoding="utf-8")
    if html:
        start = time.time()
        proc = subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
                               str(site), "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=1800)
        record["log"] = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise RuntimeError(f"the {edition} book did not build:\n{record['log'][-4000:]}")
        _timed(record, "html", start, site / "_build" / "html")
    if with_slides and for_students:
        start = time.time()
        (out / "slides").mkdir(parents=True, exist_ok=True)
        for chapter in chapters:
            deck = slides(nbformat.read(site / f"{chapter}.ipynb", as_version=4))
            (out / "slides" / f"{chapter.replace('/', '__')}.slides.html").write_text(deck, encoding="utf-8")
        _timed(record, "slides", start, out / "slides")
    return record


def build_course(out: Path) -> list[str]:
    """An nbgrader course directory in ``out``; returns the assignment names."""
    out = Path(out)
    shutil.copy(ROOT / "tools" / "nbgrader_config.py", out / "nbgrader_config.py")
    names = []
    for chapter in stamp_chapters.chapters():
        nb = read(chapter)
        if any(is_lab(c) for c in nb.cells):
            name = chapter.split("/")[-1]
            (out / "source" / name).mkdir(parents=True, exist_ok=True)
            nbformat.write(without_solutions(nb), out / "source" / name / f"{name}.ipynb")
            names.append(name)
    (out / "source" / LABS_ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    nbformat.write(labs_notebook(part_one()), out / "source" / LABS_ASSIGNMENT / f"{LABS_ASSIGNMENT}.ipynb")
    return names + [LABS_ASSIGNMENT]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for edition in ("student", "instructor"):
        s = sub.add_parser(edition, help=f"build the {edition} edition")
        s.add_argument("--out", type=Path, required=True)
        s.add_argument("--executed", type=Path, help="a folder of executed chapters (<chapter>.ipynb)")
        s.add_argument("--no-html", action="store_true")
        s.add_argument("--no-slides", action="store_true")
    c = sub.add_parser("course", help="write an nbgrader course directory")
    c.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command in ("student", "instructor"):
        record = build(args.out, args.command, args.executed, html=not args.no_html, with_slides=not args.no_slides)
        for part in ("notebooks", "html", "slides"):
            if part in record:
                r = record[part]
                print(f"{args.command} {part}: {r['files']} files, {r['bytes'] / 2**20:.1f} MiB, {r['seconds']} s")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        print("assignments:", ", ".join(build_course(args.out)), f"(in {args.out}/source)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
