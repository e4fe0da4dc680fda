"""``torch.distributed`` for the evaluation runner: the process group torchrun describes, and each rank's partial file.

:func:`init_distributed` joins (or makes) the group; :func:`car.evaluate.evaluate` reads :func:`current_dist` to take
its shard, keeps its resumable state in :func:`partial_path` and refuses a partial state written with another number
of ranks (:func:`refuse_foreign_partials`).
"""
from __future__ import annotations

import dataclasses
import datetime
import glob
import os
import re
from pathlib import Path

#: How long a collective waits for the slowest rank (ranks finish their shards at different times).
DIST_TIMEOUT = datetime.timedelta(hours=2)


@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process sits in a ``torch.distributed`` job (a single process: rank 0 of 1).

    Attributes:
        rank: global rank in [0, world_size).
        world_size: number of processes over all nodes.
        local_rank: rank on this node (the GPU index with nccl).
        backend: "gloo", "nccl", or None without a process group.
        created: True when :func:`init_distributed` created the group (and so should destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    created: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the ``torch.distributed`` job torchrun launched this process in, if any.

    Uses an existing process group when the caller made one; otherwise, when torchrun's
    ``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` variables are set, calls
    ``init_process_group(backend, init_method="env://")`` with gloo on CPU and nccl on CUDA (and
    ``torch.cuda.set_device(LOCAL_RANK)``). Without them: a single process, nothing initialised.

    Args:
        device: "cpu" or "cuda" / "cuda:k" (chooses the backend).

    Returns:
        The :class:`DistContext`; pass ``created=True`` contexts to :func:`close_distributed`.

    Raises:
        RuntimeError: nccl was asked for (a CUDA device) but CUDA is not available.
    """
    import torch.distributed as dist

    joined = current_dist()
    if joined.backend is not None:  # the caller made the group
        return joined
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistContext()
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; run one process (python -m car ...)")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = "gloo"
    if str(device).startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError(f"device {device!r} asked for, but CUDA is not available; use --device cpu")
        torch.cuda.set_device(local_rank)
        backend = "nccl"
    dist.init_process_group(backend, init_method="env://", timeout=DIST_TIMEOUT)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend, created=True)


def close_distributed(ctx: DistContext) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if ctx.created:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def current_dist() -> DistContext:
    """This process's place in the initialised process group (rank 0 of 1, no backend, when there is none)."""
    try:
        import torch.distributed as dist
    except ImportError:
        return DistContext()
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                       dist.get_backend())


def partial_path(out: Path, ctx: DistContext) -> Path:
    """The resumable state of ``out`` kept by this rank: ``<out>.partial.json``, or ``<out>.rank<r>of<N>.partial.json``."""
    if ctx.world_size == 1:
        return out.with_name(out.name + ".partial.json")
    return out.with_name(f"{out.name}.rank{ctx.rank}of{ctx.world_size}.partial.json")


def refuse_foreign_partials(out: Path, ctx: DistContext) -> None:
    """A partial state of the same ``out`` written with another number of ranks cannot be resumed here."""
    if not out.parent.is_dir():
        return
    foreign = []
    for path in [out.with_name(out.name + ".partial.json"),
                 *sorted(out.parent.glob(glob.escape(out.name) + ".rank*of*.partial.json"))]:
        match = re.fullmatch(r"\.rank(\d+)of(\d+)\.partial\.json", path.name[len(out.name):])
        world = int(match.group(2)) if match else 1
        if path.exists() and world != ctx.world_size:
            foreign.append(path.name)
    if foreign:
        raise ValueError(f"{out.parent} holds the partial state of a run of {out.name} with another number of "
                         f"processes ({', '.join(foreign)}); resume it with that number of ranks, or delete "
                         f"those files to start afresh")
