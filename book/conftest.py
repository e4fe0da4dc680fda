"""The chapters as pytest items: ``python -m pytest --nbmake book`` (or one chapter: ``--nbmake book/cam.ipynb``).

nbmake executes each notebook; this file is the thin layer the book adds on top of it, so that a chapter runs the
way a Colab reader meets it:

* **alone**: every chapter is copied into an empty folder of its own and executed there (nothing of the checkout
  beside it; ``car`` comes from whatever the kernel has installed);
* ``--solutions``: the code of every collapsed exercise solution is appended to that copy, so it runs after the
  chapter in the same kernel (a solution cannot rot); it is not kept in the executed notebook;
* each cell may take at most the chapter's budget (nbmake's timeout, from the chapter's ``*CPU budget:*`` line:
  the toy budget, or the real-CLIP one with ``CAR_RANDOM_WEIGHTS=1``); ``--budgets`` also fails a chapter whose
  cells took longer than that budget in all (CI's 2-core machine is what the budgets promise);
* ``--chapter-out DIR`` keeps the copies, the executed chapters (``DIR/executed/<chapter>.ipynb``, for the book
  build) and one record per chapter (``DIR/runs/*.json``: ok, seconds, chapter_seconds, solutions, error;
  :func:`read_runs`).

The kernel is nbmake's: the notebook's ``python3`` (the Python running pytest), or ``--nbmake-kernel NAME`` for
another environment under test (the tests register one for the installed wheel and one for a Colab-like runtime).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import nbformat
import pytest

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
_spec = importlib.util.spec_from_file_location("car_book_editions", ROOT / "tools" / "editions.py")
editions = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))  # the one parser of
if not hasattr(editions, "solution_code"):                                            # exercises and solutions
    _spec.loader.exec_module(editions)
BUDGET = re.compile(r"CPU budget:\*{1,2} toy world under (\d+) s, real CLIP under (\d+) s")
SOLUTION_TAG = "car-solution"
_CHAPTERS = pytest.StashKey[dict]()


def budget(nb: nbformat.NotebookNode, real: bool) -> int | None:
    """The chapter's stated budget in seconds (toy world, or real CLIP when ``real``); None if it states none."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (match := BUDGET.search(cell.source)):
            return int(match.group(2 if real else 1))
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("car-book", "the CaR book's chapters (on top of nbmake)")
    group.addoption("--solutions", action="store_true", help="also run every exercise solution after its chapter")
    group.addoption("--budgets", action="store_true", help="fail a chapter that takes longer than its CPU budget")
    group.addoption("--chapter-out", metavar="DIR", help="keep the copies, executed chapters and runs.json here")


def _is_chapter(item: pytest.Item) -> bool:
    path = Path(str(getattr(item, "filename", ""))).resolve()
    return getattr(item, "nbmake", False) and path.is_relative_to(BOOK) and path.suffix == ".ipynb"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Copy each chapter alone into a fresh folder (with its solutions, with ``--solutions``) and point nbmake
    at the copy; nbmake then writes the executed copy back (``--overwrite``: the copies only)."""
    chapters = [item for item in items if _is_chapter(item)]
    if not chapters:
        return
    out = Path(config.getoption("chapter_out") or tempfile.mkdtemp(prefix="car-chapters-")).resolve()
    real = os.environ.get("CAR_RANDOM_WEIGHTS", "").strip().lower() not in ("", "0", "false", "no")
    records = config.stash.setdefault(_CHAPTERS, {})
    for item in chapters:
        source = Path(item.filename).resolve()
        chapter = str(source.relative_to(ROOT).with_suffix(""))
        alone = out / "alone" / chapter.replace("/", "__")
        if alone.exists():
            shutil.rmtree(alone)
        alone.mkdir(parents=True)
        nb = nbformat.read(source, as_version=4)
        limit = budget(nb, real)
        blocks = editions.solution_code(nb) if config.getoption("solutions") else []
        nb.cells += [nbformat.v4.new_code_cell(code, metadata={"tags": [SOLUTION_TAG]}) for code in blocks]
        if limit is not None:  # nbmake's per-cell timeout: no cell may take longer than the whole chapter may
            nb.metadata.setdefault("execution", {})["timeout"] = limit
        copy = alone / source.name
        nbformat.write(nb, copy)
        item.filename = str(copy)  # nbmake runs (and, with --overwrite, rewrites) the copy, in its folder
        records[item.nodeid] = {"chapter": chapter, "copy": copy, "budget": limit, "solutions": len(blocks),
                                "out": out}
    if len(chapters) == len([i for i in items if getattr(i, "nbmake", False)]):
        config.option.overwrite = True  # every notebook item is a copy: keep its outputs


def _seconds(cells: list) -> float:
    """Wall time from the first cell's start to the last cell's end (nbmake records cell timing)."""
    times = [(c.metadata.get("execution", {}).get("iopub.execute_input"),
              c.metadata.get("execution", {}).get("shell.execute_reply")) for c in cells]
    starts = [datetime.fromisoformat(a.replace("Z", "+00:00")) for a, _ in times if a]
    ends = [datetime.fromisoformat(b.replace("Z", "+00:00")) for _, b in times if b]
    return round((max(ends) - min(starts)).total_seconds(), 1) if starts and ends else 0.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    record = item.config.stash.get(_CHAPTERS, {}).get(item.nodeid)
    if record is None or call.when != "call":
        return
    report = outcome.get_result()
    nb = nbformat.read(record["copy"], as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    chapter_cells = [c for c in code if SOLUTION_TAG not in c.metadata.get("tags", [])]
    seconds = _seconds(chapter_cells)
    error = None
    if report.failed:
        error = _error(call)
    elif item.config.getoption("budgets") and record["budget"] is not None and seconds > record["budget"]:
        report.outcome = "failed"
        error = f"{record['chapter']}: {seconds} s, over its budget of {record['budget']} s"
        report.longrepr = error
    nb.cells = [c for c in nb.cells if SOLUTION_TAG not in c.metadata.get("tags", [])]
    executed = record["out"] / "executed" / f"{record['chapter']}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, executed)
    run = {"chapter": record["chapter"], "ok": not report.failed, "seconds": round(call.duration, 1),
           "chapter_seconds": seconds, "solutions": record["solutions"], "error": error}
    path = record["out"] / "runs" / f"{record['chapter'].replace('/', '__')}.json"  # one file each: xdist-safe
    path.parent.mkdir(exist_ok=True)
    path.with_suffix(".tmp").write_text(json.dumps(run, indent=1))
    path.with_suffix(".tmp").replace(path)


def _error(call: pytest.CallInfo) -> str:
    """nbmake's summary and traceback of the failing cell (or the exception), trimmed."""
    exc = call.excinfo.value if call.excinfo else None
    result = exc.args[0] if exc is not None and exc.args else None
    failure = getattr(result, "error", None)
    text = f"{failure.summary}\n{failure.trace}" if failure is not None else repr(exc)
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[-6000:]


def read_runs(out: Path) -> dict[str, dict]:
    """``{chapter: record}`` of the chapters run with ``--chapter-out out``."""
    return {r["chapter"]: r for r in (json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json")))}
