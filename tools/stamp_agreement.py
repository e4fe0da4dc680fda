"""Rewrite the typed copies of the toy-agreement table (preface, Part II overview) from the computed one.

    python tools/stamp_agreement.py          # after `python -m car toy tables --out car/results/toy_tables`

`car.figures.toy_agreement()` computes each row from `car.paper` and the shipped toy tables; the two Markdown pages
carry a typed copy (Markdown cannot execute), and `tests/test_prose.py` fails when a copy differs from the computed
table. This script rewrites each typed row in place, matched by its finding; a row that is missing is an error.
"""
from __future__ import annotations

import sys
from pathlib import Path

from car.figures import toy_agreement

BOOK = Path(__file__).resolve().parents[1] / "book"
PAGES = ("preface.md", "tables/overview.md")


def fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:+.1f}"


def stamp(text: str, rows: list[dict]) -> str:
    """``text`` with every agreement row (``| table | finding | paper | toy | verdict |``) recomputed."""
    want = {r["finding"]: f"| {r['table']} | {r['finding']} | {fmt(r['paper'])} | {fmt(r['toy'])} | {r['verdict']} |"
            for r in rows}
    seen, out = set(), []
    for line in text.splitlines(keepends=True):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 5 and cells[1] in want:
            seen.add(cells[1])
            line = want[cells[1]] + ("\n" if line.endswith("\n") else "")
        out.append(line)
    missing = set(want) - seen
    if missing:
        raise SystemExit(f"error: agreement rows missing from the page: {sorted(missing)}")
    return "".join(out)


def main() -> int:
    rows = toy_agreement()
    for name in PAGES:
        path = BOOK / name
        text = path.read_text(encoding="utf-8")
        new = stamp(text, rows)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
