"""Keep every chapter's Colab badge and install cell in step with the one setting they derive from.

The repository URL and the pinned revision live once, in the ``repository`` section of ``_config.yml``
(``url`` and ``branch``; ``branch`` is the release tag that Colab readers install and open). A chapter is a
notebook edited directly; this tool only rewrites its badge line and its install cell, nothing else:

    python tools/stamp_chapters.py           # rewrite badges and install cells from _config.yml
    python tools/stamp_chapters.py --check   # exit 1 and list the chapters that are out of step (CI)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_RE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)$", re.M)


def repository() -> tuple[str, str]:
    """(url, ref) from ``_config.yml``: e.g. ("https://github.com/car-book/car-book", "v0.2.0")."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    return cfg["url"].rstrip("/"), str(cfg["branch"])


def chapters() -> list[str]:
    """The notebooks of ``_toc.yml``, as repository paths without suffix (``book/cam``)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    return [f for f in files if (ROOT / f"{f}.ipynb").exists()]


def colab_url(chapter: str) -> str:
    url, ref = repository()
    return f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{ref}/{chapter}.ipynb"


def badge(chapter: str) -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(chapter)})"


def install_cell() -> str:
    """The first code cell of every chapter: installs what Colab lacks, and only in Colab."""
    url, ref = repository()
    return ("import sys\n"
            "if \"google.colab\" in sys.modules:  # Colab: torch is preinstalled; add what Colab lacks\n"
            f"    !pip -q install \"car-book[crf] @ git+{url}@{ref}\"")


def stamp(nb: nbformat.NotebookNode, chapter: str) -> bool:
    """Rewrite ``nb``'s badge and install cell in place; True if anything changed."""
    changed = False
    title = nb.cells[0]
    if title.cell_type != "markdown" or not title.source.startswith("# "):
        raise ValueError(f"{chapter}: the first cell must be the markdown title")
    want = badge(chapter)
    if BADGE_RE.search(title.source):
        new = BADGE_RE.sub(lambda _: want, title.source, count=1)
    else:
        head, _, rest = title.source.partition("\n")
        new = f"{head}\n\n{want}\n{rest}".rstrip("\n")
    if new != title.source:
        title.source, changed = new, True
    code = next(c for c in nb.cells if c.cell_type == "code")
    if code.source != install_cell():
        code.source, changed = install_cell(), True
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report chapters out of step")
    args = parser.parse_args(argv)
    stale = []
    for chapter in chapters():
        path = ROOT / f"{chapter}.ipynb"
        nb = nbformat.read(path, as_version=4)
        if stamp(nb, chapter):
            stale.append(chapter)
            if not args.check:
                nbformat.write(nb, path)
    if args.check and stale:
        print("out of step with _config.yml (run python tools/stamp_chapters.py):", ", ".join(stale))
        return 1
    print(("rewrote: " + ", ".join(stale)) if stale else "every chapter is in step with _config.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
