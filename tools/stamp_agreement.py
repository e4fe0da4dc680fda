"""Rewrite the typed copies of the toy-agreement table (preface, Part II overview) from the computed one.

    python tools/stamp_agreement.py          # after `python -m car toy tables --out car/results/toy_tables`
    python tools/stamp_agreement.py --check  # exit 1 if a copy differs (what tests/test_prose.py checks)

`car.experiments.agreement.toy_agreement()` computes each row from `car.paper` and the shipped toy tables; the two Markdown pages
carry a typed copy (Markdown cannot execute), and `tests/test_prose.py` fails when a copy differs from the computed
table. This script replaces each page's whole table (the block that starts with the header row
`| table | the paper's finding | ...`), so added, removed and renamed findings all follow; a page without that
header is an error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's car, not an installed one

from car.experiments.agreement import toy_agreement  # noqa: E402

BOOK = ROOT / "book"
PAGES = ("preface.md", "tables/overview.md")
HEADER = "| table | the paper's finding | paper | toy | holds when | agrees? |"


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}"


def table_lines(rows: list[dict]) -> list[str]:
    """The Markdown table of ``rows``: header, separator, one line per finding."""
    return [HEADER, "| --- | --- | --- | --- | --- | --- |"] + [
        f"| {r['table']} | {r['finding']} | {fmt(r['paper'])} | {fmt(r['toy'])} | {r['holds']} | {r['verdict']} |"
        for r in rows]


def stamp(text: str, rows: list[dict]) -> str:
    """``text`` with its agreement table (the block starting at :data:`HEADER`) recomputed."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("| table | the paper's finding |")]
    if len(starts) != 1:
        raise SystemExit(f"error: expected one agreement table (a line starting {HEADER[:34]!r}), found {len(starts)}")
    start = end = starts[0]
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[:start] + table_lines(rows) + lines[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report pages that differ; change nothing")
    args = parser.parse_args(argv)
    rows = toy_agreement()
    stale = []
    for name in PAGES:
        path = BOOK / name
        text = path.read_text(encoding="utf-8")
        new = stamp(text, rows)
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
                print(f"rewrote {path}")
    if args.check and stale:
        print(f"agreement tables out of date in {', '.join(stale)}: run python tools/stamp_agreement.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
