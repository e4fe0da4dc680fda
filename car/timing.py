"""The timing harness of :mod:`car.experiments.bench`: a stage clock, a peak-memory probe, progress lines, one timed run.

:class:`StageClock` is what :class:`car.CaR` reports its stages and its work to (``model.clock``; the stages are
``car.work.STAGES``, the counters ``car.work.COUNTERS``), and what the official-order reference
(:mod:`car.official`) and the floor time themselves with.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch

from car.work import STAGES as CAR_STAGES

#: Stages every path reports (exclusive seconds): CaR's own (``car.work.STAGES``) and "other", the rest of the
#: path's wall time.
STAGES = CAR_STAGES + ("other",)


# --------------------------------------------------------------------------- timing and memory
class StageClock:
    """Exclusive wall-clock seconds per stage; nested stages pause their parent.

    Args:
        sync: called before every clock reading (``torch.cuda.synchronize`` on GPU), default none.
    """

    def __init__(self, sync: Callable[[], None] | None = None):
        self.times: dict[str, float] = {s: 0.0 for s in STAGES}
        self.counts: Counter = Counter()
        self._stack: list[list] = []
        self._sync = sync or (lambda: None)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        if stage not in self.times:
            raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
        self._sync()
        now = time.perf_counter()
        if self._stack:
            self.times[self._stack[-1][0]] += now - self._stack[-1][1]
        self._stack.append([stage, now])
        try:
            yield
        finally:
            self._sync()
            now = time.perf_counter()
            name, start = self._stack.pop()
            self.times[name] += now - start
            if self._stack:
                self._stack[-1][1] = now

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to the work counter ``key`` (e.g. image forwards)."""
        self.counts[key] += int(n)

    def finish(self, total: float) -> dict[str, float]:
        """Stage seconds with "other" = ``total`` minus the timed stages."""
        out = {s: v for s, v in self.times.items() if s != "other"}
        out["other"] = max(0.0, total - sum(out.values()))
        return out


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakMemory:
    """Peak memory above the level at entry, during a with-block.

    On CUDA: ``torch.cuda.max_memory_allocated`` above the entry allocation. On CPU: the resident set size of
    this process sampled every ``interval`` seconds by a thread (torch's allocations are invisible to
    tracemalloc); ``ru_maxrss`` is kept as a cross-check. Meaningful per path only in a fresh process.

    Attributes (after exit):
        peak_mb: float, peak extra memory in MiB; maxrss_mb: the process's lifetime peak RSS in MiB.
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.002):
        self.device = torch.device(device)
        self.interval = interval
        self.peak_mb: float | None = None
        self.maxrss_mb: float | None = None

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        self._base = _rss_bytes() or 0
        self._peak = self._base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes() or 0)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mb = (torch.cuda.max_memory_allocated(self.device) - self._base) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss_bytes() or 0)
        self.peak_mb = (self._peak - self._base) / 2**20
        try:
            import resource  # POSIX only
        except ImportError:
            return
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        self.maxrss_mb = maxrss / (2**20 if sys.platform == "darwin" else 2**10)


# --------------------------------------------------------------------------- results of one path
@dataclass
class PathRun:
    """One timed run of a path.

    Attributes:
        name: "official", "car" or "floor".
        total_s: wall seconds of the run (construction-time work such as the official background text excluded).
        stages: exclusive seconds per stage of :data:`STAGES` (they sum to ``total_s``).
        counts: work counters (backbone forwards, backwards, text encodings, classifier images).
        steps: per step {"indices": int (N_t,), "proposals": float32 (N_t, H, W), "scores": float32 (N_t,)};
            empty for the floor.
        masks: bool (N, H, W) final masks (zeros for queries absent from the last step); None for the floor.
        labels: int64 (H, W) label map; None for the floor.
        cpu_s: process CPU seconds of the run, when the caller measured them (:meth:`WorldRunner.run`).
    """

    name: str
    total_s: float
    stages: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)
    steps: list[dict[str, np.ndarray]] = field(default_factory=list, repr=False)
    masks: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)
    cpu_s: float | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready timings and counters."""
        out = {"total_s": round(self.total_s, 4), "stages": {k: round(v, 4) for k, v in self.stages.items()},
               "counts": dict(self.counts)}
        if self.cpu_s is not None:
            out["cpu_s"] = round(self.cpu_s, 4)
        return out


def finish_path(name: str, clock: StageClock, start: float, steps, masks, labels) -> PathRun:
    """Stop one path's clock (after the device has finished) → its :class:`PathRun`: total seconds since ``start``
    (``time.perf_counter``), exclusive seconds per stage, the work counters, and the path's ``steps``, ``masks``
    ((N, H, W) or None) and ``labels`` ((H, W) or None)."""
    clock._sync()
    total = time.perf_counter() - start
    return PathRun(name, total, clock.finish(total), dict(clock.counts), steps, masks, labels)


# --------------------------------------------------------------------------- progress
def device_sync(device: torch.device) -> Callable[[], None] | None:
    """A callable that waits for ``device`` (CUDA) before a clock reads, or None on the CPU."""
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


class Progress:
    """What the benchmark is doing, one line per stage on stderr (``[bench   12 s] ...``), and a heartbeat every
    ``every`` seconds while one long run goes on (the real official order takes minutes per image on a CPU).

    Args:
        enabled: False prints nothing.
        every: heartbeat interval in seconds.
        start: the ``time.monotonic()`` the elapsed seconds count from (default: now).
    """

    def __init__(self, enabled: bool = True, every: float = 20.0, start: float | None = None):
        self.enabled, self.every = enabled, every
        self.start = time.monotonic() if start is None else start

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[bench {time.monotonic() - self.start:6.0f} s] {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def running(self, what: str | Callable[[], str], clock: StageClock | None = None) -> Iterator[None]:
        """Heartbeat lines until the block ends: ``what`` (or what it returns now), the seconds since entry, and
        the clock's current stage."""
        if not self.enabled:
            yield
            return
        stop, t0 = threading.Event(), time.monotonic()

        def beat() -> None:
            while not stop.wait(self.every):
                stage = clock._stack[-1][0] if clock is not None and clock._stack else ""
                label = what() if callable(what) else what
                self(f"  ... {label}: {time.monotonic() - t0:.0f} s" + (f" (in {stage})" if stage else ""))

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _isolated_child(fn: Callable[..., dict], args: tuple, out_json: str) -> None:
    """Subprocess entry of :func:`run_isolated`: run ``fn(*args)``, write its JSON (an error too, for the parent)."""
    import json

    try:
        result = fn(*args)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
        result = {"error": f"{type(e).__name__}: {e}"}
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(result, f)


def run_isolated(fn: Callable[..., dict], args: tuple, what: str) -> dict[str, Any]:
    """``fn(*args)`` in a fresh spawned process (its own peak memory, nothing cached from this one) → its dict.

    ``fn`` is a module-level function returning a JSON-serialisable dict. Raises RuntimeError naming ``what`` when
    the process dies (no result: out of memory, most often) or ``fn`` raised.
    """
    import json
    import multiprocessing as mp
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out_json = os.path.join(tmp, "result.json")
        proc = mp.get_context("spawn").Process(target=_isolated_child, args=(fn, args, out_json))
        proc.start()
        proc.join()
        if not os.path.exists(out_json):
            raise RuntimeError(f"{what} died in its subprocess (exit code {proc.exitcode}); out of memory? retry "
                               f"with fewer queries or a smaller image")
        with open(out_json, encoding="utf-8") as f:
            res = json.load(f)
    if "error" in res:
        raise RuntimeError(f"{what} failed: {res['error']}")
    return res
