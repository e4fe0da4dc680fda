"""The Colab path, exactly as a reader meets it: a chapter arrives alone in a fresh runtime that holds only what
Colab preinstalls, the kernel is in Colab (``google.colab`` importable and imported), and the chapter's own first
cell runs its ``pip install "car-book[crf] @ git+<repository.url>@<tag>"``.

Git is pointed from that URL to a local bare clone whose release tag is this checkout (``url.<bare>.insteadOf``), so
pip clones, builds and installs ``car`` the way Colab would, from the registries for everything Colab lacks. Both
worlds: the toy world (offline) and the real architectures with random weights.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, WheelEnv, execute_chapters, layered_venv, register_kernel

pytestmark = pytest.mark.slow

#: What a Colab runtime has preinstalled that the chapters use (the rest comes from the install cell).
COLAB_PREINSTALLED = ("torch", "torchvision", "numpy", "scipy", "matplotlib", "opencv-python-headless", "pillow",
                      "scikit-image", "ipykernel")
CHAPTERS = ("book/quickstart", "book/tables/table1")


def _pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))


def _release() -> tuple[str, str]:
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import stamp_chapters
    finally:
        sys.path.pop(0)
    return stamp_chapters.repository()


@pytest.fixture(scope="session")
def colab_base(tmp_path_factory) -> Path:
    """A fresh venv with Colab's preinstalled packages (the versions of requirements.txt): its site-packages."""
    venv = tmp_path_factory.mktemp("colab") / "base"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pins = _pins()
    packages = [f"{p}=={pins[p]}" if p in pins else p for p in COLAB_PREINSTALLED]
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *packages], check=True,
                   capture_output=True, timeout=1800)
    return Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())


@pytest.fixture(scope="session")
def release_remote(tmp_path_factory) -> dict[str, str]:
    """A bare clone of this checkout whose release tag (``_config.yml``'s ``repository.branch``) is the working
    tree as it is (tracked and untracked, .gitignore respected), and the git settings that send the repository URL
    there."""
    url, tag = _release()
    base = tmp_path_factory.mktemp("remote")
    bare = base / "car-book.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(ROOT), str(bare)], check=True, timeout=300)
    index = dict(os.environ, GIT_INDEX_FILE=str(base / "index"))
    git = lambda *a, **kw: subprocess.run(["git", *a], cwd=ROOT, check=True, capture_output=True, text=True,  # noqa: E731
                                          **kw).stdout.strip()
    git("add", "-A", env=index)
    tree = git("write-tree", env=index)
    commit = git("commit-tree", tree, "-p", "HEAD", "-m", f"the working tree as release {tag} (test_colab)")
    git("push", "-q", "--force", str(bare), f"{commit}:refs/tags/{tag}")
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{bare}.insteadOf", "GIT_CONFIG_VALUE_0": url,
            "CAR_TEST_RELEASE_COMMIT": commit}


@pytest.fixture(scope="module", params=["toy", "random"])
def colab_runs(request, colab_base, release_remote, wheel_env: WheelEnv, tmp_path_factory):
    """Each chapter in its own fresh runtime (a venv over the Colab base) with a kernel that is 'in Colab'."""
    world = request.param
    runs, runtimes = {}, {}
    for chapter in CHAPTERS:
        base = tmp_path_factory.mktemp(f"colab-{world}-{chapter.split('/')[-1]}")
        python = layered_venv(base / "runtime", str(colab_base))
        fake = base / "colab-module" / "google" / "colab"  # a namespace package: google.colab imports
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (test_colab)."""\n')
        env = {"PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
               "PYTHONPATH": str(base / "colab-module"), **release_remote}
        jupyter = register_kernel(base / "jupyter", "colab", python, env, exec_lines=("import google.colab",))
        extra = {"CAR_RANDOM_WEIGHTS": "1"} if world == "random" else {}
        runs.update(execute_chapters(wheel_env, base / "out", [chapter], solutions=False, kernel="colab",
                                     jupyter=jupyter, timeout=2400, **extra))
        runtimes[chapter] = python
    return world, runs, runtimes


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_in_a_colab_runtime_from_its_install_cell(colab_runs, chapter, release_remote) -> None:
    world, runs, runtimes = colab_runs
    record = runs[chapter]
    assert record["ok"], f"{chapter} failed in a Colab-like runtime ({world}):\n{record['error']}"
    shown = subprocess.run([str(runtimes[chapter]), "-m", "pip", "show", "-f", "car-book"], capture_output=True,
                           text=True)
    assert shown.returncode == 0, f"the install cell did not install car-book:\n{shown.stderr}"
    location = next(line.split(": ", 1)[1] for line in shown.stdout.splitlines() if line.startswith("Location:"))
    direct = next(Path(location).glob("car_book-*.dist-info/direct_url.json"))
    origin = json.loads(direct.read_text())
    url, tag = _release()
    assert origin["url"] == url and origin["vcs_info"]["commit_id"] == release_remote["CAR_TEST_RELEASE_COMMIT"]
    assert origin["vcs_info"]["requested_revision"] == tag
