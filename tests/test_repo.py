"""Repository contract: the README's two set-up commands, CI running the test command verbatim, the book's TOC."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1]
    return re.findall(r"```bash\n(.+?)\n```", setup, re.S)[:2]


def test_readme_starts_with_two_setup_commands_build_and_test() -> None:
    build, test = _readme_commands()
    assert "jupyter-book build ." in build and "requirements.txt" in build
    assert "pytest tests" in test and "requirements.txt" in test and "pip install -e ." in test


def test_ci_runs_the_readme_test_command_verbatim_offline() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_commands()[1] in ci.splitlines()
    assert "HF_HUB_OFFLINE=1" in ci


def test_every_toc_entry_exists_and_every_chapter_is_listed() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    for f in files:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".md", ".ipynb")), f"{f} listed in _toc.yml is missing"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in (ROOT / "book").rglob("*.ipynb")
               if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts}
    assert on_disk <= set(files), f"chapters not in _toc.yml: {sorted(on_disk - set(files))}"


def test_requirements_are_pinned() -> None:
    lines = [l for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines and all("==" in l for l in lines)
    assert any(l.startswith("jupyter-book==1.") for l in lines)
