"""The book's one table: HTML in notebooks, aligned plain text elsewhere, with one escaping rule.

**The rule.** Every cell is text and is escaped — a label that contains ``<`` or ``&`` prints as written, and no cell
can inject markup. The only markup comes from the cell's type: a :class:`Code` cell is set in monospace (a command,
a file name), a list or tuple cell is one line per item, ``None`` is a dash, a bool is ✓ or ×, and a float is
formatted with the table's ``floatfmt`` (``None``: as Python prints it, e.g. the paper's numbers as printed).

    >>> t = Table(["model", "mIoU"], [["a<b", 1.0], [Code("python -m car"), None]], caption="toy")
    >>> "a&lt;b" in t._repr_html_() and "<code>python -m car</code>" in t._repr_html_()
    True
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np


class Code(str):
    """A table cell set in monospace (a command, a path); escaped like every other cell."""


def _text(cell, floatfmt: str | None) -> str:
    """One cell (not a list) as plain text."""
    if cell is None:
        return "—"
    if isinstance(cell, (bool, np.bool_)):
        return "✓" if cell else "×"
    if isinstance(cell, (float, np.floating)):
        return format(float(cell), floatfmt) if floatfmt else str(float(cell))
    return str(cell)


def _html(cell, floatfmt: str | None) -> str:
    if isinstance(cell, (list, tuple)):
        return "<br>".join(_html(c, floatfmt) for c in cell)
    text = html.escape(_text(cell, floatfmt))
    return f"<code>{text}</code>" if isinstance(cell, Code) else text


class Table:
    """A small table that notebooks render as HTML and everything else as aligned plain text.

    Args:
        headers: C column names.
        rows: one sequence of C cells per row (see the module's escaping rule for what a cell may be).
        floatfmt: format spec of float cells, e.g. ``".2f"``; ``None`` prints them as Python does.
        caption: shown above the table; say which world the numbers come from.

    Raises:
        ValueError: a row has not one cell per header.
    """

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence], floatfmt: str | None = ".2f",
                 caption: str | None = None):
        rows = [list(r) for r in rows]
        if any(len(r) != len(headers) for r in rows):
            raise ValueError(f"every row needs {len(headers)} cells (one per header); got lengths "
                             f"{sorted({len(r) for r in rows})}")
        self.headers = [str(h) for h in headers]
        self.rows = rows
        self.floatfmt = floatfmt
        self.caption = caption

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td style='text-align:left'>{_html(c, self.floatfmt)}</td>" if j == 0
                                        else f"<td>{_html(c, self.floatfmt)}</td>" for j, c in enumerate(r))
                       + "</tr>" for r in self.rows)
        cap = (f"<caption style='caption-side:top;text-align:left'><b>{html.escape(self.caption)}</b></caption>"
               if self.caption else "")
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        cells = [[" / ".join(_text(x, self.floatfmt) for x in c) if isinstance(c, (list, tuple))
                  else _text(c, self.floatfmt) for c in r] for r in self.rows]
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(self.headers)]
        line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
        out = [self.caption] if self.caption else []
        return "\n".join(out + [line(self.headers)] + [line(r) for r in cells])
