"""Shared fixtures: a tiny randomly initialised open_clip CLIP (the real code path, no weights needed)."""
from __future__ import annotations

import importlib.util
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
_spec = importlib.util.spec_from_file_location("book_layer", ROOT / "book" / "conftest.py")
BOOK_LAYER = importlib.util.module_from_spec(_spec)  # the nbmake layer of the chapters (book/conftest.py)
_spec.loader.exec_module(BOOK_LAYER)


def site_dirs() -> list[str]:
    """The site-packages folders of the interpreter running the tests, in its own order: a virtualenv's, a conda
    environment's or the system's (not the base interpreter behind a venv, which ``--system-site-packages`` would
    give)."""
    import site

    dirs = [p for p in sys.path if p and Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    return dirs + ([user] if user and Path(user).is_dir() and user not in dirs else [])


def layered_venv(path: Path, *under: str) -> Path:
    """A fresh virtual environment at ``path`` that also sees the site-packages folders ``under`` (a ``.pth`` file,
    after its own): what it installs shadows theirs. Returns its Python."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    python = path / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True).stdout.strip()
    (Path(own) / "zz_layer_under.pth").write_text("".join(f"{d}\n" for d in under), encoding="utf-8")
    return python


def register_kernel(folder: Path, name: str, python: Path, env: dict[str, str] | None = None,
                    exec_lines: tuple[str, ...] = ()) -> dict[str, str]:
    """A Jupyter kernelspec ``name`` under ``folder`` that starts ``python``'s ipykernel (``env`` added to the
    kernel's environment, ``exec_lines`` run at its start). Returns the environment variables that make Jupyter
    find it (``JUPYTER_PATH``), for ``pytest --nbmake --nbmake-kernel name``."""
    spec = folder / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if exec_lines:
        argv.append(f"--IPKernelApp.exec_lines={list(exec_lines)!r}")
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python",
                                                  "env": env or {}}), encoding="utf-8")
    return {"JUPYTER_PATH": str(folder)}


@dataclass(frozen=True)
class WheelEnv:
    """A fresh virtual environment with ``car`` installed from a wheel built from this checkout (not editable).

    The venv sees the site-packages of the interpreter that runs the tests for the heavy dependencies (torch,
    open_clip, nbmake, ...; :func:`layered_venv`), but its own ``car`` shadows any editable install; commands run
    in ``cwd``, a folder outside the checkout. Its kernelspec ``car-wheel`` runs chapters in it.
    """

    wheel: Path
    python: Path
    cwd: Path
    jupyter: dict[str, str]

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
    python = layered_venv(base / "venv", *site_dirs())
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall",
                    str(wheel)], check=True, capture_output=True, timeout=600)
    cwd = base / "elsewhere"
    cwd.mkdir()
    return WheelEnv(wheel, python, cwd, register_kernel(base / "jupyter", "car-wheel", python))


def execute_chapters(env: WheelEnv, out: Path, chapters: list[str], *, solutions: bool, kernel: str = "car-wheel",
                     jupyter: dict[str, str] | None = None, timeout: int = 3600, **extra: str) -> dict:
    """``pytest --nbmake`` on ``chapters`` (``book/conftest.py`` runs each alone in a fresh folder under ``out``,
    with its solutions when asked, and holds it to its budget) in the kernel ``kernel``; returns
    ``{chapter: record}`` (``book/conftest.py``'s ``read_runs``)."""
    args = ["-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q", "--nbmake-kernel", kernel,
            "--chapter-out", str(out), "--budgets", *(["--solutions"] if solutions else []),
            *[f"{c}.ipynb" for c in chapters]]
    env_vars = env.env(**(jupyter or env.jupyter), **extra)
    env_vars["CAR_CACHE_DIR"] = str(out / "user-cache")
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env_vars, capture_output=True, text=True,
                          timeout=timeout)
    runs = BOOK_LAYER.read_runs(out)
    missing = [c for c in chapters if c not in runs]
    assert not missing, f"nbmake stopped before {missing}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return runs


BOOK_TIMES: dict[str, dict] = {}


def pytest_terminal_summary(terminalreporter) -> None:
    """Print how long each chapter took in each mode (the budgets readers are promised)."""
    for mode, runs in BOOK_TIMES.items():
        total = sum(r["seconds"] for r in runs.values())
        terminalreporter.write_line(f"chapters, {mode}: {total:.0f} s in all — " + ", ".join(
            f"{c.split('/')[-1]} {r['seconds']:.0f} s" for c, r in runs.items()))
