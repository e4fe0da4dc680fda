"""Sharded evaluation on torch.distributed: 2 CPU ranks (gloo, launched by torchrun) give exactly the numbers of
one process, and a rank killed mid-run resumes from its partial state to the same numbers.

Run as a script (``torchrun ... tests/test_distributed.py --worker ...``) this file is the worker the kill test
launches: an ``evaluate`` run on a toy split with a cheap deterministic predictor that can SIGKILL its own rank.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def fake_predictor(kind: str, log: Path | None = None, kill_after: int | None = None):
    """The GT corrupted by a sample-dependent amount (per-sample IoUs differ); logs each call; with
    ``kill_after`` the process SIGKILLs itself on that call (a crashed or pre-empted rank)."""
    calls = []

    def predict(sample):
        calls.append(sample.name)
        if log is not None:
            with open(log, "a", encoding="utf-8") as f:
                f.write(sample.name + "\n")
        if kill_after is not None and len(calls) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        k = sum(map(ord, sample.name))
        if kind == "refer":
            return np.roll(sample.gt, k % 7, axis=1)
        pred = np.where(sample.gt == 255, 0, sample.gt).astype(np.int64)
        pred[k % pred.shape[0]] = k % 3
        return pred

    return predict


def worker(argv: list[str]) -> None:
    from car.data import get_dataset
    from car.distributed import close_distributed, init_distributed
    from car.evaluate import evaluate

    p = argparse.ArgumentParser()
    p.add_argument("--dataset")
    p.add_argument("--out")
    p.add_argument("--limit", type=int)
    p.add_argument("--log-dir")
    p.add_argument("--kill-rank", type=int, default=-1)
    p.add_argument("--kill-after", type=int)
    a = p.parse_args(argv)
    ctx = init_distributed("cpu")
    try:
        ds = get_dataset(a.dataset, None)
        kill = a.kill_after if ctx.rank == a.kill_rank else None
        log = Path(a.log_dir) / f"rank{ctx.rank}.txt"
        evaluate(ds, fake_predictor(ds.kind, log, kill), out=a.out, limit=a.limit, progress=False, save_every_s=0)
    finally:
        close_distributed(ctx)


if __name__ == "__main__" and "--worker" in sys.argv:
    worker([x for x in sys.argv[1:] if x != "--worker"])
    sys.exit(0)

import pytest  # noqa: E402 (the worker needs no pytest)
import torch  # noqa: E402

from car.data import get_dataset  # noqa: E402
from car.evaluate import evaluate, run_config  # noqa: E402

SAME = ("metrics", "per_class", "state", "num_planned", "num_evaluated", "skipped", "label_names")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this torch build has no torch.distributed gloo backend")


def _torchrun(nproc: int, *args: str, timeout: float = 170) -> subprocess.CompletedProcess:
    """``torchrun --standalone`` (a free local port, so concurrent runs do not collide), one thread per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread for this module (conftest.one_torch_thread)."""


def test_two_cpu_ranks_give_the_metrics_of_one_process(tmp_path) -> None:
    """``torchrun --nproc_per_node 2 -m car evaluate --config toy_voc --limit 8`` (the real toy CaR, gloo) vs one
    process: identical metrics, per-class IoU and confusion matrix; one results file, world size recorded."""
    one = run_config("toy_voc", limit=8, out=tmp_path / "one.json", progress=False)
    proc = _torchrun(2, "-m", "car", "evaluate", "--config", "toy_voc", "--limit", "8",
                     "--out", str(tmp_path / "two.json"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two.json").read_text())
    for key in SAME:
        assert two[key] == one[key], key
    assert one["world_size"] == 1 and two["world_size"] == 2
    d = two["distributed"]
    assert d["backend"] == "gloo" and [r["num_evaluated"] for r in d["ranks"]] == [4, 4]
    assert d["samples_per_s"] > 0 and list(two["per_sample_s"]) == list(one["per_sample_s"])  # dataset order
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "two.json"]  # no partial state left
    assert proc.stdout.count('"mIoU"') == 1  # rank 0 alone prints


def test_a_killed_rank_resumes_to_the_same_numbers(tmp_path) -> None:
    """Rank 1 SIGKILLs itself on its 3rd sample; torchrun tears the job down (rank 0 gets SIGTERM and saves).
    The same command again: each rank computes only what its partial state lacks, and the referring metrics —
    per-sample IoUs, so order-sensitive — equal one uninterrupted process exactly."""
    ds = get_dataset("toy_refcoco", None)
    full = evaluate(ds, fake_predictor("refer"), out=tmp_path / "one.json", limit=10, progress=False)
    out, logs = tmp_path / "two.json", tmp_path / "logs"
    logs.mkdir()
    args = [__file__, "--worker", "--dataset", "toy_refcoco", "--out", str(out), "--limit", "10",
            "--log-dir", str(logs)]
    killed = _torchrun(2, *args, "--kill-rank", "1", "--kill-after", "3")
    assert killed.returncode != 0 and not out.exists()
    plans = {r: [ds.sample_name(i) for i in range(r, 10, 2)] for r in (0, 1)}
    done = {}
    for r in (0, 1):
        partial = tmp_path / f"two.json.rank{r}of2.partial.json"
        done[r] = json.loads(partial.read_text())["finished"] if partial.exists() else []
        (logs / f"rank{r}.txt").unlink(missing_ok=True)
    assert done[1] == plans[1][:2]  # saved after each sample; the 3rd was cut off by the kill
    resumed = _torchrun(2, *args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    two = json.loads(out.read_text())
    for key in SAME:
        assert two[key] == full[key], key
    assert two["world_size"] == 2 and two["num_evaluated"] == 10
    for r in (0, 1):  # each rank computes exactly what its partial state lacks
        again = (logs / f"rank{r}.txt").read_text().split() if (logs / f"rank{r}.txt").exists() else []
        assert again == [n for n in plans[r] if n not in done[r]], r
    assert not list(tmp_path.glob("*.partial.json"))


def test_a_partial_state_of_another_world_size_is_refused(tmp_path) -> None:
    ds = get_dataset("toy_refcoco", None)
    (tmp_path / "r.json.rank0of2.partial.json").write_text("{}")
    with pytest.raises(ValueError, match="another number of processes.*rank0of2"):
        evaluate(ds, fake_predictor("refer"), out=tmp_path / "r.json", limit=2, progress=False)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="nccl ranks need two CUDA devices; this machine has "
                    f"{torch.cuda.device_count()}")
def test_two_gpu_ranks_with_nccl_give_the_metrics_of_one_process(tmp_path) -> None:
    one = run_config("toy_voc", limit=4, out=tmp_path / "one.json", progress=False, device="cuda")
    proc = _torchrun(2, "-m", "car", "evaluate", "--config", "toy_voc", "--limit", "4", "--device", "cuda",
                     "--out", str(tmp_path / "two.json"), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["distributed"]["backend"] == "nccl" and two["metrics"] == one["metrics"]
