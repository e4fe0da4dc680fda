"""Shared fixtures: a tiny randomly initialised open_clip CLIP (the real code path, no weights needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from car.backbones import ClipBundle

# What the package recomputes goes to a user cache folder: during the tests, a fresh one.
os.environ["CAR_CACHE_DIR"] = tempfile.mkdtemp(prefix="car-test-cache-")


def tiny_clip(seed: int = 0, image_size: int = 32, patch: int = 8, layers: int = 3, pool: str = "tok") -> ClipBundle:
    """An open_clip ``CLIP`` with random weights and the real BPE tokenizer."""
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        32,
        dict(image_size=image_size, patch_size=patch, width=32, layers=layers, head_width=16, pool_type=pool),
        dict(context_length=77, width=32, heads=2, layers=1),
    )
    model.eval().requires_grad_(False)
    return ClipBundle(model, open_clip.get_tokenizer("ViT-B-16"), "tiny-random", None)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread: tiny models gain nothing from more, and a shared CPU punishes oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def clip_tiny() -> ClipBundle:
    return tiny_clip()


@pytest.fixture
def rgb() -> np.ndarray:
    """A 40 x 56 RGB image: a red square on a blue/green background."""
    img = np.zeros((40, 56, 3), np.uint8)
    img[:20] = (40, 80, 200)
    img[20:] = (40, 160, 60)
    img[8:24, 10:26] = (220, 30, 30)
    return img


# --------------------------------------------------------------------------- the installed package and the book
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WheelEnv:
    """A fresh virtual environment with ``car`` installed from a wheel built from this checkout (not editable).

    The venv sees the system's site-packages for the heavy dependencies (torch, open_clip, ...) but its own
    ``car`` shadows any editable install; commands run in ``cwd``, a folder outside the checkout.
    """

    wheel: Path
    python: Path
    cwd: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CAR_RANDOM_WEIGHTS")}
        env.update(HF_HUB_OFFLINE="1", MPLBACKEND="Agg", CAR_CACHE_DIR=str(self.cwd / "user-cache"), **extra)
        return env

    def run(self, args: list[str], timeout: int = 600, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *args], cwd=self.cwd, env=self.env(**extra), capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory) -> WheelEnv:
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(base / "dist"), str(ROOT)], check=True, capture_output=True, timeout=600)
    wheel = next((base / "dist").glob("car_book-*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    cwd = base / "elsewhere"
    cwd.mkdir()
    return WheelEnv(wheel, python, cwd)


def execute_chapters(env: WheelEnv, out: Path, chapters: list[str], *, solutions: bool, **extra: str) -> dict:
    """Run ``tests/book_runner.py`` with the wheel's Python; returns ``{chapter: record}``."""
    args = [str(ROOT / "tests" / "book_runner.py"), "--out", str(out), *(["--solutions"] if solutions else []),
            str(ROOT), *chapters]
    proc = env.run(args, timeout=3600, **extra)
    runs_path = out / "runs.json"
    runs = json.loads(runs_path.read_text()) if runs_path.exists() else {}
    missing = [c for c in chapters if c not in runs]
    assert not missing, f"book runner stopped before {missing}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return runs


BOOK_TIMES: dict[str, dict] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long each chapter took in each mode (the budgets readers are promised)."""
    for mode, runs in BOOK_TIMES.items():
        total = sum(r["seconds"] for r in runs.values())
        terminalreporter.write_line(f"chapters, {mode}: {total:.0f} s in all — " + ", ".join(
            f"{c.split('/')[-1]} {r['seconds']:.0f} s" for c, r in runs.items()))
