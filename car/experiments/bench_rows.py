"""The benchmark's results as typed table rows: what the efficiency chapter shows, read from the JSON that
:func:`car.experiments.bench.benchmark` wrote (``python -m car bench``), never re-derived by the reader.

Each function takes one world's entry of ``results["worlds"]`` (a *run*: ``setup``, ``paths``, ``ratios``,
``agreement``) and returns :class:`TableRows`, the headers and :class:`Row` s of one table, so that
``car.viz.Table(*count_rows(run), caption=...)`` draws it.

    >>> run = {"paths": {"official": {"counts": {"cam_backwards": 8}}, "car": {"counts": {"cam_backwards": 8}}}}
    >>> count_rows(run).rows[2]
    Row(label='backwards (one per query)', cells=(8, 8))
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from car.work import COUNTERS

Run = Mapping[str, Any]
#: The three paths a run times and how the tables name them.
PATH_LABELS = {"official": "official order", "car": "car", "floor": "floor"}


@dataclass(frozen=True)
class Row:
    """One table row: its label and its cells (numbers, strings or lists: :class:`car.viz.Table`'s cell types).

    Iterating a row yields the label, then the cells: a :class:`car.viz.Table` row.
    """

    label: str
    cells: tuple

    def __iter__(self) -> Iterator[Any]:
        yield self.label
        yield from self.cells


class TableRows(NamedTuple):
    """The headers and rows of one table (``car.viz.Table(*table_rows, caption=...)``)."""

    headers: tuple[str, ...]
    rows: list[Row]


def count_rows(run: Run) -> TableRows:
    """Work per image of each path (first image, cold text cache): one row per counter of ``car.work.COUNTERS``,
    one column per path; a counter a path never touched is 0."""
    paths = list(run["paths"])
    rows = [Row(label, tuple(run["paths"][p]["counts"].get(key, 0) for p in paths)) for key, label in COUNTERS.items()]
    return TableRows(("work per image", *paths), rows)


def agreement_rows(run: Run) -> TableRows:
    """How closely the official order and car agree on the same image: per step the largest proposal and score
    differences, the share of equal final mask pixels, whether the same queries were kept."""
    a = run["agreement"]
    per_step = lambda values: ", ".join(f"{v:.1e}" for v in values)  # noqa: E731
    return TableRows(("", "official order vs car"), [
        Row("max |Δ proposal| per step", (per_step(a["proposal_max_abs_diff"]),)),
        Row("max |Δ score P_ii| per step", (per_step(a["score_max_abs_diff"]),)),
        Row("final mask pixels equal", (f"{100 * a['mask_pixel_agreement']:.3f} %",)),
        Row("same queries kept", (a["kept_equal"],))])


def ratio_rows(run: Run) -> TableRows:
    """Seconds per image of the three paths (cold and warm vocabulary), their ratios and, where measured, the
    peak memory of each."""
    r, p = run["ratios"], run["paths"]
    rows = [Row("seconds: official / car / floor",
                (" / ".join(f"{p[k]['total_s']:.2f}" for k in ("official", "car", "floor")),)),
            Row("seconds, warm vocabulary: car / floor",
                (" / ".join(f"{p[k]['warm']['total_s']:.2f}" for k in ("car", "floor")),)),
            Row("car / floor", (r.get("car_over_floor"),)),
            Row("car / floor (warm)", (r.get("car_warm_over_floor_warm"),)),
            Row("official / car", (r.get("official_over_car"),)),
            Row("official / car (warm)", (r.get("official_over_car_warm"),))]
    if p["official"].get("peak_mb") is not None:
        rows.append(Row("peak memory MiB: official / car / floor",
                        (" / ".join(f"{p[k]['peak_mb']:.0f}" for k in ("official", "car", "floor")),)))
    return TableRows(("", "value"), rows)


def stage_rows(run: Run, top: int = 3) -> TableRows:
    """Where the time goes: each path's seconds per image and its ``top`` largest stages with their shares."""
    rows = []
    for name, p in [("official order", run["paths"]["official"]), ("car (cold)", run["paths"]["car"]),
                    ("car (warm)", run["paths"]["car"]["warm"])]:
        largest = sorted(p["stages"].items(), key=lambda kv: -kv[1])[:top]
        rows.append(Row(name, (f"{p['total_s']:.2f}", [f"{st} {100 * v / p['total_s']:.0f} %" for st, v in largest])))
    return TableRows(("path", "seconds", f"the {top} largest stages"), rows)


def gradient_rows(run: Run) -> TableRows:
    """Step 1's gradients two ways: one batched vector-Jacobian product against one backward per query."""
    g = run["paths"]["car"]["gradients"]
    return TableRows(("", "batched VJP (s)", "loop (s)", "max |Δ CAM|"), [
        Row(f"{g['num_queries']} queries", (f"{g['batched_s']:.3f}", f"{g['loop_s']:.3f}",
                                             f"{g['max_abs_diff']:.1e}"))])


def growth_rows(runs: Mapping[int, Run], paths: Sequence[str] = ("official", "car", "floor")) -> TableRows:
    """How time and peak memory grow from the smallest to the largest query count of ``runs`` (query count →
    run), per path, and the official / car ratio at the largest."""
    lo, hi = min(runs), max(runs)
    a, b = runs[lo]["paths"], runs[hi]["paths"]
    rows = [Row(f"{PATH_LABELS[k]}: seconds, {lo} → {hi} queries",
                (f"{a[k]['total_s']:.1f} → {b[k]['total_s']:.1f}  ({b[k]['total_s'] / a[k]['total_s']:.1f}x)",))
            for k in paths]
    rows += [Row(f"{PATH_LABELS[k]}: peak MB, {lo} → {hi} queries",
                 (f"{a[k]['peak_mb']:.0f} → {b[k]['peak_mb']:.0f}",)) for k in paths]
    rows.append(Row(f"official / car at {hi} queries", (f"{runs[hi]['ratios']['official_over_car']:.1f}x",)))
    return TableRows(("", f"{lo} → {hi} queries"), rows)


def paper_rows(paper: Mapping[str, Any], run: Run | None = None, meta: Mapping[str, Any] | None = None) -> TableRows:
    """The paper's efficiency figures (``car.paper.EFFICIENCY``) and, given a real-architecture ``run`` and its
    ``meta`` (``results["meta"]``), this book's next to them: different hardware, said in the last column."""
    h, w = paper["image_size"]
    rows = [Row("paper: CaR per image (no SAM)", (f"{paper['ms_per_image']} ms",
                                                  f"{paper['gpu']}, half precision, {w}x{h}")),
            Row("paper: its CPU CRF", (f"{paper['crf_cpu_ms']} ms", "dense CRF on the CPU")),
            Row("paper: GPU memory (VOC)", (f"{paper['gpu_memory_gb']} GB", paper["gpu"]))]
    if run is not None and meta is not None:
        s = run["setup"]
        hw = (f"{meta['processor']}, {meta['torch_threads']} threads, {s['precision']}, "
              f"{s['image_hw'][1]}x{s['image_hw'][0]}")
        for name, p in [("official order", run["paths"]["official"]), ("car, first image", run["paths"]["car"]),
                        ("car, warm vocabulary", run["paths"]["car"]["warm"])]:
            rows.append(Row(f"this book: {name}, {s['num_queries']} queries", (f"{1000 * p['total_s']:.0f} ms", hw)))
        rows.append(Row("this book: car CRF", (f"{1000 * run['paths']['car']['stages']['crf']:.0f} ms", hw)))
    return TableRows(("", "time", "hardware"), rows)
