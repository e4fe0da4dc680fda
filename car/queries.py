"""The text rules of every method: which strings a query becomes, which background words compete with it, and
how a class with several names (synonyms) becomes queries and comes back as one label.

One home for these rules, used by :class:`car.CaR`, its proposers (:mod:`car.proposers`), the single-pass peers
(:mod:`car.peers`), the evaluation runner and the chapters:

* :func:`check_queries` — a query list is non-empty strings without duplicates;
* :func:`cam_texts` / :func:`background_words` / :func:`background_texts` — CaR's CAM texts (paper §3.2; the
  official ``cam_text_template``) and the background queries of the config's groups;
* :func:`template_rows` — T rows of N strings, one row per template (a text embedding is the normalised mean over
  the rows: the peers' 80 ImageNet templates, CLIP's prompt ensembling);
* :func:`load_names` / :func:`expand_names` / :func:`names_to_classes` — the peers' class-name files with synonyms
  (wangf3014/SCLIP:configs/cls_*.txt, one class per line, names separated by ``", "``): every name is its own
  query and a class's probability is the max over its names (``clip_segmentor.py`` ``postprocess_result``), so a
  pixel's class is the class of its winning name.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from car.vocab import background_queries

if TYPE_CHECKING:
    from car.config import CaRConfig

#: The class-name files with synonyms (package data): ``car/data/names/<name>.txt``.
NAMES_DIR = Path(__file__).parent / "data" / "names"


def check_queries(queries: Sequence[str], allow_duplicates: bool = False) -> list[str]:
    """Validate a query list: non-empty strings, no duplicates (semantic mode).

    Raises:
        ValueError: empty list, a non-string or blank query, or duplicates (named in the message).
    """
    if isinstance(queries, str):
        raise ValueError(f"queries must be a list of strings, got the string {queries!r}; "
                         f"split it, e.g. {queries.split(',')!r}")
    queries = list(queries)
    if not queries:
        raise ValueError("no queries: pass at least one text query, e.g. ['cat', 'dog']")
    for q in queries:
        if not isinstance(q, str) or not q.strip():
            raise ValueError(f"every query must be a non-empty string; got {q!r}")
    if not allow_duplicates:
        norm = [q.strip().lower() for q in queries]
        dups = sorted({q for q, k in zip(queries, norm) if norm.count(k) > 1})
        if dups:
            raise ValueError(f"duplicate queries {dups}: each query must appear once "
                             "(they would split one CAM softmax)")
    return queries


def cam_texts(cfg: CaRConfig, queries: Sequence[str], step: int) -> list[str]:
    """The texts of f's CAM at ``step`` (0-based): the raw query, or ``cam_template`` around it (config
    ``cam_text``: "official" — raw at step 1, the template from step 2 —, "template" or "raw")."""
    templated = cfg.cam_text == "template" or (cfg.cam_text == "official" and step > 0)
    return [cfg.cam_template.format(q) if templated else q for q in queries]


def background_words(cfg: CaRConfig, queries: Sequence[str], words: Sequence[str] | None = None) -> list[str]:
    """The background queries: ``words``, or every word of the config's ``background`` groups (official: none
    dropped; ``background_exclude: queries`` drops those equal to a query)."""
    if words is not None:
        return list(words)
    return background_queries(cfg.background, queries if cfg.background_exclude == "queries" else ())


def background_texts(cfg: CaRConfig, queries: Sequence[str], words: Sequence[str] | None = None) -> list[str]:
    """The background texts of f's CAM softmax: :func:`background_words` in ``cam_template``."""
    return [cfg.cam_template.format(w) for w in background_words(cfg, queries, words)]


def thing_background_words(cfg: CaRConfig, queries: Sequence[str], stuff: Sequence[str]) -> list[str] | None:
    """The thing pass's background words (config ``thing_background``): None = the ``background`` groups
    (official), the ``stuff`` names alone ("stuff"), or the groups' words with the stuff names added ("added",
    §4.1's "all 'stuff' categories are added as background queries"; no word twice)."""
    if cfg.thing_background == "official":
        return None
    if cfg.thing_background == "stuff":
        return list(stuff)
    return list(dict.fromkeys([*background_words(cfg, queries), *stuff]))


def template_rows(templates: Sequence[str], words: Sequence[str]) -> list[list[str]]:
    """T rows of N strings: row t holds template t around every word (T = ``len(templates)``)."""
    return [[t.format(w) for w in words] for t in templates]


def load_names(name: str) -> list[list[str]]:
    """A class-name file with synonyms: one list of names per class, in the file's (the dataset's) class order.

    Args:
        name: a file of ``car/data/names`` without ``.txt`` (:func:`list_name_files`), or a path to such a file.

    Raises:
        ValueError: no such file (the message lists the shipped ones), or an empty line.
    """
    path = Path(name) if str(name).endswith(".txt") else NAMES_DIR / f"{name}.txt"
    if not path.is_file():
        raise ValueError(f"unknown class-name file {name!r}; shipped: {', '.join(list_name_files())} "
                         f"(or pass the path of a .txt file, one class per line, names separated by ', ')")
    lines = path.read_text(encoding="utf-8").splitlines()
    table = [[n.strip() for n in line.split(",") if n.strip()] for line in lines if line.strip()]
    if len(table) != sum(1 for line in lines if line.strip()) or not all(table):
        raise ValueError(f"class-name file {path} has a line without names")
    return table


def list_name_files() -> list[str]:
    """The shipped class-name files, sorted."""
    return sorted(p.stem for p in NAMES_DIR.glob("*.txt"))


def expand_names(names: Sequence[Sequence[str]]) -> tuple[list[str], np.ndarray]:
    """Every class's names as one query list, and the class each query belongs to.

    Args:
        names: one list of names per class (:func:`load_names`), C lists.

    Returns:
        (queries, owner): the names in class order, and int64 (len(queries),), the class index of each.

    Raises:
        ValueError: a name that two classes share (one query cannot belong to two classes).
    """
    flat = [n for group in names for n in group]
    owner = np.asarray([c for c, group in enumerate(names) for _ in group], np.int64)
    check_queries(flat)  # a shared name would be one query for two classes
    return flat, owner


def names_to_classes(labels: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Map labels over names (int (H, W), a name index or -1) to labels over classes (class index or -1)."""
    labels = np.asarray(labels)
    return np.where(labels >= 0, owner[np.clip(labels, 0, None)], -1).astype(np.int64)
