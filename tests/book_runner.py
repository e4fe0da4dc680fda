"""Execute chapters the way a Colab reader does: each notebook copied alone into an empty folder, run there.

    python tests/book_runner.py --out DIR [--solutions] BOOK_ROOT CHAPTER [CHAPTER ...]

Run by the tests with the Python of a fresh environment that has ``car`` installed from its wheel, so nothing of
the repository is on the path: the kernel is that Python (nbclient's native ``python3`` kernel), its working
directory an empty folder. With ``--solutions`` the code blocks of every collapsed exercise solution run after the
chapter, in the same kernel, so a solution cannot rot; they are not stored in the executed notebook.

Writes ``DIR/executed/<chapter>.ipynb`` (with outputs, for the book build) and ``DIR/runs.json``:
``{chapter: {"ok", "seconds", "solutions", "error"}}``.
"""
from __future__ import annotations

import argparse
import json
import runpy
import shutil
import sys
import time
import traceback
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def solution_code(nb: nbformat.NotebookNode) -> list[str]:
    """The ```python blocks inside the collapsed solutions of a chapter's markdown cells, in order."""
    return runpy.run_path(str(Path(__file__).resolve().parents[1] / "tools" / "editions.py"))["solution_code"](nb)


def run(path: Path, chapter: str, out: Path, solutions: bool, timeout: int) -> dict:
    alone = out / "alone" / chapter.replace("/", "__")
    alone.mkdir(parents=True)
    shutil.copy(path, alone / path.name)  # the notebook and nothing else, as a Colab badge delivers it
    nb = nbformat.read(alone / path.name, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(alone)}})
    start, record = time.time(), {"ok": False, "solutions": 0, "error": None}
    try:
        with client.setup_kernel():
            for i, cell in enumerate(nb.cells):
                client.execute_cell(cell, i)
            record["chapter_seconds"] = round(time.time() - start, 1)
            if solutions:
                chapter_cells = len(nb.cells)
                try:
                    for code in solution_code(nb):
                        nb.cells.append(nbformat.v4.new_code_cell(code))  # nbclient writes outputs in place
                        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
                        record["solutions"] += 1
                finally:
                    del nb.cells[chapter_cells:]  # the executed chapter, without the solutions' cells
        record["ok"] = True
    except Exception as e:  # noqa: BLE001 - the record carries the error to the test
        record["error"] = "".join(traceback.format_exception_only(type(e), e))[-6000:]
    record["seconds"] = round(time.time() - start, 1)
    target = out / "executed" / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, target)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--solutions", action="store_true")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("root")
    parser.add_argument("chapters", nargs="+")
    args = parser.parse_args(argv)
    out, root = Path(args.out), Path(args.root)
    runs_path = out / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    for chapter in args.chapters:
        runs[chapter] = run(root / f"{chapter}.ipynb", chapter, out, args.solutions, args.timeout)
        r = runs[chapter]
        print(f"{chapter}: {'ok' if r['ok'] else 'FAILED'} in {r['seconds']} s"
              + (f" ({r['solutions']} solution blocks)" if args.solutions else ""), flush=True)
        runs_path.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
