"""Where the book's numbers live: shipped with the package (read-only), or recomputed into a user cache folder.

* :func:`shipped` — results computed by the maintainers and shipped inside the wheel (``car/results/``): the toy
  tables, the toy report, the real-architecture benchmark. Read through :mod:`importlib.resources`, so an installed
  package (Colab) reads exactly what a checkout reads.
* :func:`cache_dir` — where the package writes what it recomputes: ``$CAR_CACHE_DIR`` if set, else the user cache
  folder of :mod:`platformdirs` (``~/.cache/car-book`` on Linux). Never site-packages, never the checkout.
"""
from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

CACHE_ENV = "CAR_CACHE_DIR"


def shipped(*parts: str) -> Traversable:
    """A file shipped in ``car/results/`` (it may not exist: check ``.is_file()``)."""
    node = resources.files("car") / "results"
    for part in parts:
        node = node / part
    return node


def cache_dir(*parts: str) -> Path:
    """A folder of the user cache (created), e.g. ``cache_dir("toy_tables")``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("car-book")
    path = Path(root).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_output(path: str | os.PathLike, folder: bool = False) -> Path:
    """Check, before any work, that results can be written at ``path`` (a file, or a ``folder`` of files): its
    place is a writable folder (created if missing) and it is not the wrong kind of thing. Returns the path.

    Raises:
        ValueError: ``path`` exists but is a file where a folder is wanted, or a folder where a file is (one line
            saying what to pass instead; nothing is touched).
        PermissionError: the folder cannot be written (one line naming it).
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"--out {path} is an existing file; give a folder for the output files (it is created "
                         f"if missing), e.g. --out {path.with_suffix('')}_out")
    if not folder and path.is_dir():
        raise ValueError(f"--out {path} is a folder; give the results file's path, e.g. --out {path / 'results.json'}")
    where = path if folder else path.parent
    try:
        where.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise ValueError(f"cannot create the folder {where}: a file is in the way ({e.filename})") from None
    except PermissionError:
        raise PermissionError(f"cannot create the folder {where}: permission denied; choose another --out") from None
    if not os.access(where, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write into {where}: permission denied; choose another --out")
    return path


def read_json(node: Traversable | Path) -> Any:
    return json.loads(node.read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: Any, indent: int | None = 1) -> None:
    """Write JSON so that a reader never sees half a file: a temporary file beside it, fsync, ``os.replace``.
    The file gets the permissions a plain ``open(path, "w")`` would (``mkstemp``'s are owner-only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=indent, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
