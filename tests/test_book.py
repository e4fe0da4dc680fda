"""The book as its readers get it. Every chapter executes through nbmake (``book/conftest.py``) alone in an empty
folder, in the kernel of a fresh environment holding the installed wheel (a Colab reader's path), with every
exercise solution's code run after it and its CPU budget held; every chapter executes again with the real
architectures and random weights (so every real-CLIP cell has run); and the executed chapters build into HTML with
no warning. A reader's own ``pytest --nbmake book/<chapter>.ipynb`` works too.

The book executes once per mode: the build uses the notebooks executed here (``execute_notebooks: off``).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import BOOK_LAYER, BOOK_TIMES, ROOT, execute_chapters

pytestmark = pytest.mark.slow

_spec = importlib.util.spec_from_file_location("stamp_chapters", ROOT / "tools" / "stamp_chapters.py")
stamp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stamp)
CHAPTERS = stamp.chapters()
editions = BOOK_LAYER.editions  # tools/editions.py, loaded once by book/conftest.py


@pytest.fixture(scope="module")
def toy_runs(wheel_env, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("book-toy")
    runs = execute_chapters(wheel_env, out, CHAPTERS, solutions=True)
    BOOK_TIMES["toy world, from the wheel, with solutions"] = runs
    return out, runs


@pytest.fixture(scope="module")
def random_runs(wheel_env, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("book-random")
    runs = execute_chapters(wheel_env, out, CHAPTERS, solutions=False, CAR_RANDOM_WEIGHTS="1")
    BOOK_TIMES["real architectures, random weights"] = runs
    return out, runs


BUDGET = re.compile(r"CPU budget:\*{1,2} toy world under (\d+) s, real CLIP under (\d+) s")


def budget(chapter: str) -> tuple[int, int]:
    """The chapter's stated budgets in seconds: (toy world, real CLIP on 2 CPU cores)."""
    text = (ROOT / f"{chapter}.ipynb").read_text(encoding="utf-8")
    match = BUDGET.search(text)
    assert match, f"{chapter}: no '*CPU budget:* toy world under N s, real CLIP under M s' line"
    return int(match.group(1)), int(match.group(2))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_alone_from_the_wheel_with_its_solutions(toy_runs, chapter) -> None:
    record = toy_runs[1][chapter]
    assert record["ok"], f"{chapter} failed in the toy world:\n{record['error']}"
    assert record["chapter_seconds"] <= budget(chapter)[0], \
        f"{chapter}: {record['chapter_seconds']} s in the toy world, over its budget of {budget(chapter)[0]} s"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_with_random_weights(random_runs, chapter) -> None:
    record = random_runs[1][chapter]
    assert record["ok"], f"{chapter} failed with the real architectures (random weights):\n{record['error']}"
    assert record["chapter_seconds"] <= budget(chapter)[1], \
        f"{chapter}: {record['chapter_seconds']} s with the real architectures, over its budget of {budget(chapter)[1]} s"


def test_a_reader_runs_a_chapter_with_plain_nbmake(tmp_path) -> None:
    """``python -m pytest --nbmake book/<chapter>.ipynb`` from the checkout, in this environment's own kernel."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", "-p", "no:cacheprovider", "-q",
                           "--chapter-out", str(tmp_path), "book/tables/table1.ipynb"], cwd=ROOT, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "CAR_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert (tmp_path / "executed" / "book" / "tables" / "table1.ipynb").is_file()
    assert not (ROOT / "book" / "tables" / "results").exists()  # ran in its own folder, not in the checkout


def _text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", ""), data.get("text/markdown", "")]
    return "\n".join(p if isinstance(p, str) else "".join(p) for p in parts)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_random_weights_outputs_say_so(random_runs, chapter) -> None:
    """In the random mode every output that names real CLIP says it has random weights (mechanics only)."""
    import nbformat

    text = _text_outputs(nbformat.read(random_runs[0] / "executed" / f"{chapter}.ipynb", as_version=4))
    assert "random weights: mechanics only" in text, f"{chapter} never says which world it ran in"
    unlabelled = re.findall(r".{0,40}(?<!not )real CLIP(?!, random weights).{0,40}", text)
    assert not unlabelled, f"{chapter}: outputs name real CLIP without 'random weights': {unlabelled[:3]}"


@pytest.fixture(scope="module")
def built(toy_runs, tmp_path_factory) -> tuple[Path, str]:
    out, _ = toy_runs
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(ROOT / "book", site / "book", ignore=shutil.ignore_patterns("*.ipynb", ".pytest_cache",
                                                                                 "_build", ".ipynb_checkpoints"))
    shutil.copytree(out / "executed" / "book", site / "book", dirs_exist_ok=True)
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    cfg["execute"]["execute_notebooks"] = "off"  # executed above, once
    (site / "_config.yml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    shutil.copy(ROOT / "_toc.yml", site / "_toc.yml")
    proc = subprocess.run([sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build",
                           str(site), "-W", "-n", "--keep-going"], capture_output=True, text=True, timeout=1800)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return site / "_build" / "html", log


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]


def test_build_has_no_warnings(built) -> None:
    _, log = built
    warnings = [line for line in log.splitlines() if "WARNING:" in line and "[IPKernelApp]" not in line]
    assert not warnings, "\n".join(warnings[:20])


def test_every_toc_chapter_has_a_page_with_its_outputs(built) -> None:
    html, _ = built
    for f in _toc_files():
        page = html / f"{f}.html"
        assert page.exists(), f"{f} has no page"
        if (ROOT / f"{f}.ipynb").exists():
            assert "cell_output" in page.read_text(encoding="utf-8"), f"{f}: no executed output on the page"


def test_every_referenced_image_exists(built) -> None:
    html, _ = built
    for page in html.rglob("*.html"):
        for src in re.findall(r'<img[^>]+src="([^"]+)"', page.read_text(encoding="utf-8")):
            if src.startswith(("http://", "https://", "data:")):
                continue
            assert (page.parent / src.split("#")[0]).resolve().exists(), f"{page.name}: missing image {src}"


def test_launch_buttons_open_each_notebook_at_the_pinned_release(built) -> None:
    html, _ = built
    for f in CHAPTERS:
        links = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"',
                           (html / f"{f}.html").read_text(encoding="utf-8"))
        assert stamp.colab_url(f) in links, f"{f}: {links}"


# ---------------------------------------------------------------- the student edition, from the same executions
@pytest.fixture(scope="module")
def student_site(toy_runs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("student")
    record = editions.build(out, "student", executed=toy_runs[0] / "executed")
    for part in ("notebooks", "html", "slides"):
        r = record[part]
        BOOK_TIMES[f"student edition: {part}, {r['files']} files, {r['bytes'] / 2**20:.1f} MiB"] = \
            {"build": {"seconds": r["seconds"]}}
    return out, record


def test_student_edition_builds_without_warnings(student_site) -> None:
    warnings = [line for line in student_site[1]["log"].splitlines() if "WARNING:" in line]
    assert not warnings, "\n".join(warnings[:20])
    html = student_site[0] / "site" / "_build" / "html"
    assert not any((html / f"{page}.html").exists() for page in editions.INSTRUCTOR_ONLY)
    assert (html / "book" / "course.html").exists()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_solution_text_survives_in_the_student_edition(student_site, built, chapter) -> None:
    """Every file of the student edition that shows the chapter (its page, the page's source, its notebook and its
    slides) shows none of its solutions; the instructor page, built from the same executed notebook, shows them."""
    import nbformat

    nb = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    out, html = student_site[0], student_site[0] / "site" / "_build" / "html"
    shown = [html / f"{chapter}.html", out / "notebooks" / f"{chapter}.ipynb",
             out / "slides" / f"{chapter.replace('/', '__')}.slides.html", *html.glob(f"_sources/{chapter}.*")]
    for path in shown:
        assert path.is_file(), path
        text = path.read_text(encoding="utf-8")
        assert not editions.leaks(nb, editions.html_text(text) if path.suffix == ".html" else text), path
    assert editions.leaks(nb, editions.html_text((built[0] / f"{chapter}.html").read_text(encoding="utf-8")))


def test_student_badges_and_launch_buttons_open_the_student_notebooks(student_site) -> None:
    html = student_site[0] / "site" / "_build" / "html"
    for chapter in CHAPTERS:
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"',
                               (html / f"{chapter}.html").read_text(encoding="utf-8")))
        assert links == {editions.student_colab_url(chapter)}, f"{chapter}: {links}"


def test_slides_one_deck_per_chapter(student_site) -> None:
    for chapter in CHAPTERS:
        deck = (student_site[0] / "slides" / f"{chapter.replace('/', '__')}.slides.html").read_text(encoding="utf-8")
        assert "reveal" in deck and deck.count("<section") >= 3, chapter
