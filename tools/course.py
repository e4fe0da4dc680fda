"""The course page's time table: each chapter's estimated student time next to its compute budget.

    python tools/course.py           # rewrite the table of book/course.md (between its two marker comments)
    python tools/course.py --check   # exit 1 if the table is out of step with the chapters (CI)

Student time is an estimate, computed the same way for every chapter from what the chapter contains: its prose
read at ``WORDS_PER_MINUTE`` (a technical text read once with care) plus ``MINUTES_PER_CODE_CELL`` for each code
cell run and looked at; each exercise by its difficulty mark (``EXERCISE_MINUTES``); each autograded lab
``LAB_MINUTES``. Exercise solutions and lab cells are not counted as reading. The compute budget is the chapter's
own budget line (``*CPU budget:* toy world under N s, real CLIP under M s``), the limit its tests hold it to.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import editions  # noqa: E402  (tools/ is not a package)
import stamp_chapters  # noqa: E402

PAGE = editions.ROOT / "book" / "course.md"
BEGIN, END = "% course-times: begin (python tools/course.py writes the table)", "% course-times: end"
WORDS_PER_MINUTE = 150
MINUTES_PER_CODE_CELL = 1
EXERCISE_MINUTES = {"capstone": 90, "hard": 40, "medium": 20, "easy": 10}  # the first word found in the mark wins
LAB_MINUTES = 20
BUDGET = re.compile(r"CPU budget:\*{1,2} toy world under (\d+) s, real CLIP under (\d+) s")


def student_minutes(nb: nbformat.NotebookNode) -> tuple[int, int, int]:
    """(reading and running, exercises, labs) in minutes for one chapter."""
    prose = " ".join(editions.strip_solutions(c.source) for c in nb.cells
                     if c.cell_type == "markdown" and not editions.is_lab(c))
    code = sum(c.cell_type == "code" and not editions.is_lab(c) for c in nb.cells)
    reading = round(len(prose.split()) / WORDS_PER_MINUTE + code * MINUTES_PER_CODE_CELL)
    exercises = sum(next(m for k, m in EXERCISE_MINUTES.items() if k in (e.difficulty or "easy"))
                    for e in editions.exercises(nb))
    labs = LAB_MINUTES * sum(c.metadata["nbgrader"].get("solution", False) for c in nb.cells if editions.is_lab(c))
    return reading, exercises, labs


def _hours(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def table() -> str:
    """The Markdown table, one row per chapter of ``_toc.yml``, and a total."""
    rows = ["| chapter | reading and running | exercises | labs | student time | CPU budget: toy world / real CLIP |",
            "| --- | --- | --- | --- | --- | --- |"]
    total = 0
    for chapter in stamp_chapters.chapters():
        nb = editions.read(chapter)
        reading, exercises, labs = student_minutes(nb)
        budget = BUDGET.search("\n".join(c.source for c in nb.cells if c.cell_type == "markdown"))
        toy, real = budget.groups() if budget else ("?", "?")
        title = nb.cells[0].source.splitlines()[0].lstrip("# ")
        total += reading + exercises + labs
        rows.append(f"| [{title}]({chapter.removeprefix('book/')}.ipynb) | {reading} min | {exercises} min | "
                    f"{labs} min | {_hours(reading + exercises + labs)} | {toy} s / {real} s |")
    rows.append(f"| **all chapters** | | | | **{_hours(total)}** | |")
    return "\n".join(rows)


def stamp(text: str) -> str:
    """``text`` with the table between the markers rewritten; the markers must be there."""
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: {PAGE.name} has lost its table markers ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the table is in step")
    args = parser.parse_args(argv)
    text = PAGE.read_text(encoding="utf-8")
    new = stamp(text)
    if args.check:
        if new != text:
            print(f"{PAGE.relative_to(editions.ROOT)}: the time table is out of step (run python tools/course.py)")
            return 1
        print("the course page's time table is in step with the chapters")
        return 0
    if new != text:
        PAGE.write_text(new, encoding="utf-8")
        print(f"rewrote the time table of {PAGE.relative_to(editions.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
