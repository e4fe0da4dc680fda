"""The built book: every chapter of _toc.yml has a page, every image a page references exists, launch buttons
point at the right notebook, and the build prints no warning (missing references, images, execution errors)."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("book")
    for cache in ROOT.rglob(".pytest_cache"):  # pytest run inside book/ leaves one; it breaks a -W build
        if "book" in cache.parts:
            shutil.rmtree(cache, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(ROOT), "--path-output", str(out), "-W",
                           "-n", "--keep-going"], capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return out / "_build" / "html", log


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]


def test_build_has_no_warnings(built) -> None:
    _, log = built
    warnings = [l for l in log.splitlines() if "WARNING:" in l and "[IPKernelApp]" not in l]  # Sphinx's format
    assert not warnings, "\n".join(warnings[:20])


def test_every_toc_chapter_has_a_page(built) -> None:
    html, _ = built
    for f in _toc_files():
        assert (html / f"{f}.html").exists(), f"{f} has no page"


def test_every_referenced_image_exists(built) -> None:
    html, _ = built
    for page in html.rglob("*.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text(encoding="utf-8")):
            if src.startswith(("http://", "https://", "data:")):
                continue
            assert (page.parent / src.split("#")[0]).resolve().exists(), f"{page.name}: missing image {src}"


def test_launch_buttons_point_at_each_notebook(built) -> None:
    html, _ = built
    for f in _toc_files():
        if not (ROOT / f"{f}.ipynb").exists():
            continue
        text = (html / f"{f}.html").read_text(encoding="utf-8")
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', text)
        assert any(link.endswith(f"/blob/main/{f}.ipynb") for link in links), f"{f}: {links}"
