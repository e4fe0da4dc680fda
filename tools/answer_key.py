"""The answer key: what every exercise solution and every lab test prints, stamped from an execution.

    python tools/answer_key.py [CHAPTER ...]   # execute each chapter, then its solutions, in the toy world; stamp
                                                 # book/_answer_key.json and rewrite book/answer_key.md from it
    python tools/answer_key.py --page           # rewrite book/answer_key.md from the key, executing nothing
    python tools/answer_key.py --check          # exit 1 if a chapter's code changed since the key was stamped, or if
                                                 # the page differs from the key (CI)

A chapter runs as a Colab reader runs it (alone in an empty folder, this checkout's ``car``), then each ```python
block of its collapsed solutions runs in the same kernel, as ``pytest --nbmake --solutions`` does (``book/conftest.py``). The key
keeps the text each solution block prints (stdout and the plain-text form of what it displays) and how many
figures it draws, and the output of each lab's test cells. The numbers are toy-world numbers. The executed chapters
are kept in ``_build/editions/executed`` (the student book can be built from them). Each chapter's
entry carries the fingerprint of its code (code cells and solution blocks): when the code changes, the key is
stale and ``--check`` says which chapters to stamp again. ``tests/test_editions.py`` checks the key against a
fresh run.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import editions  # noqa: E402  (tools/ is not a package)
import stamp_chapters  # noqa: E402

KEY = editions.ROOT / "book" / "_answer_key.json"
#: Where each executed chapter (its outputs, without the solutions' cells) is kept, for
#: ``python tools/editions.py student --executed _build/editions/executed``.
EXECUTED = editions.ROOT / "_build" / "editions" / "executed"
PAGE = editions.ROOT / "book" / "answer_key.md"
#: Outputs that a fresh run cannot repeat (wall-clock timings): the solution runs, its printout is not kept.
VARIES = {("book/efficiency", 3): "timings"}
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def fingerprint(nb: nbformat.NotebookNode) -> str:
    """What a chapter's printed answers depend on: its code cells and its solution blocks, in order."""
    code = [c.source for c in nb.cells if c.cell_type == "code"] + editions.solution_code(nb)
    return hashlib.sha256("\n\x00".join(code).encode()).hexdigest()[:16]


def printed(cell: nbformat.NotebookNode) -> dict:
    """What a code cell shows: its text (stdout and plain-text results, figures left out) and its figures."""
    text, figures = [], 0
    for out in cell.get("outputs", []):
        if out.output_type == "stream" and out.name == "stdout":
            text.append(out.text)
        elif out.output_type in ("execute_result", "display_data"):
            if "image/png" in out.data or "image/svg+xml" in out.data:
                figures += 1
            elif "text/plain" in out.data:
                text.append(out.data["text/plain"] + "\n")
    return {"text": ANSI.sub("", "".join(text)).rstrip("\n"), "figures": figures}


def run_chapter(chapter: str, keep: Path | None = None) -> dict:
    """Execute ``chapter`` and then its solutions; its entry of the key. ``keep``: a folder to write the executed
    chapter to (its outputs, without the solutions' cells)."""
    nb = editions.read(chapter)
    extra = []
    for ex in editions.exercises(nb):
        for k, code in enumerate(ex.code):
            extra.append(nbformat.v4.new_code_cell(code, metadata={"answer_key": [ex.number, k]}))
    runnable = copy.deepcopy(nb)
    runnable.cells += extra
    done = editions.execute(runnable)
    if keep is not None:
        chapter_only = copy.deepcopy(done)
        chapter_only.cells = chapter_only.cells[:len(nb.cells)]
        (keep / chapter).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(chapter_only, keep / f"{chapter}.ipynb")
    outputs: dict[int, list] = {}
    for cell in done.cells:
        if "answer_key" in cell.metadata:
            number = cell.metadata["answer_key"][0]
            shown = printed(cell) if (chapter, number) not in VARIES else {"text": "", "figures": 0}
            outputs.setdefault(number, []).append(shown)
    labs = [{"grade_id": c.metadata["nbgrader"]["grade_id"], "points": c.metadata["nbgrader"]["points"],
             **printed(c)} for c in done.cells if editions.is_lab(c) and c.metadata["nbgrader"].get("grade")]
    return {"title": nb.cells[0].source.splitlines()[0].lstrip("# "), "fingerprint": fingerprint(nb),
            "exercises": [{"number": ex.number, "difficulty": ex.difficulty, "question": ex.question,
                           "has_solution": bool(ex.solutions), "outputs": outputs.get(ex.number, [])}
                          for ex in editions.exercises(nb)],
            "labs": labs}


def agree(expected: str, got: str, rel: float = 1e-3) -> bool:
    """Two printouts say the same: the same words, integers equal, decimals within a unit of their last printed
    digit (or ``rel``), values below 1e-6 equal to 0 (float round-off)."""
    if NUMBER.split(expected) != NUMBER.split(got):
        return False
    for a, b in zip(NUMBER.findall(expected), NUMBER.findall(got)):
        x, y = float(a), float(b)
        mantissa = a.lower().split("e")[0]
        if "." not in mantissa and "e" not in a.lower():
            if x != y:
                return False
            continue
        unit = 10.0 ** -len(mantissa.split(".")[1]) if "." in mantissa else 0.0
        if abs(x - y) > max(unit, rel * abs(x), 1e-6) + 1e-12:
            return False
    return True


def mismatches(entry: dict, fresh: dict, chapter: str) -> list[str]:
    """How a fresh run of ``chapter`` differs from its key entry (empty: it matches)."""
    bad = []
    for old, new in zip(entry["exercises"], fresh["exercises"]):
        if (chapter, old["number"]) in VARIES:
            continue
        for k, (a, b) in enumerate(zip(old["outputs"], new["outputs"])):
            if a["figures"] != b["figures"] or not agree(a["text"], b["text"]):
                bad.append(f"{chapter} exercise {old['number']} block {k + 1}:\nkey:   {a}\nfresh: {b}")
        if len(old["outputs"]) != len(new["outputs"]):
            bad.append(f"{chapter} exercise {old['number']}: {len(old['outputs'])} blocks in the key, "
                       f"{len(new['outputs'])} now")
    old_labs = {lab["grade_id"]: lab for lab in entry["labs"]}
    for lab in fresh["labs"]:
        key = old_labs.get(lab["grade_id"])
        if key is None or key["figures"] != lab["figures"] or not agree(key["text"], lab["text"]):
            bad.append(f"{chapter} lab {lab['grade_id']}:\nkey:   {key}\nfresh: {lab}")
    return bad


# ------------------------------------------------------------------------------------------------------- page
def _block(text: str) -> str:
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return f"{fence}text\n{text}\n{fence}"


def page(key: dict) -> str:
    """The instructor's answer key page (Markdown), from the key."""
    out = ["# Answer key", "",
           "*Instructor edition.* What every exercise solution and every lab test prints when its chapter runs in "
           "the toy world, stamped from an execution by `python tools/answer_key.py` (the numbers are toy-world "
           "numbers; real CLIP gives others). Solutions that reason rather than compute have no printout: the "
           "chapter's solution is the answer. The rubrics of the capstones are on the next page.", ""]
    for chapter, entry in key["chapters"].items():
        out += [f"## {entry['title']}", "", f"`{chapter}.ipynb`", ""]
        for ex in entry["exercises"]:
            mark = f" *({ex['difficulty']})*" if ex["difficulty"] else ""
            question = re.sub(r"^\*\*\d+\.\*\*\s*(\*\([^)]*\)\*)?\s*", "", ex["question"])
            first = re.split(r"(?<=[.?!])(?<!Supp\.)(?<!Fig\.)(?<!Eq\.)(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z(*`])", question,
                             maxsplit=1)[0].replace("\n", " ")
            out += [f"**Exercise {ex['number']}**{mark} — {first}", ""]
            if not ex["outputs"] and "capstone" in (ex["difficulty"] or ""):
                out += ["A capstone: its solution in the chapter is a sketch; grade it with its rubric (next page).",
                        ""]
            elif not ex["outputs"]:
                out += ["No code to run: the solution is an argument (in the chapter).", ""]
            if (chapter, ex["number"]) in VARIES:
                out += [f"The solution prints {VARIES[chapter, ex['number']]}, which depend on the machine: the key "
                        "does not keep them.", ""]
                continue
            for k, block in enumerate(ex["outputs"], 1):
                what = [f"{block['figures']} figure(s)"] if block["figures"] else []
                label = f"Block {k} of the solution prints" if len(ex["outputs"]) > 1 else "The solution prints"
                if block["text"]:
                    out += [f"{label}{' (and draws ' + what[0] + ')' if what else ''}:", "", _block(block["text"]), ""]
                else:
                    out += [f"{label} nothing{'; it draws ' + what[0] if what else ''}.", ""]
        if entry["labs"]:
            out += ["Labs (autograded; the points are nbgrader's):", "", "| test cell | points | prints |",
                    "| --- | --- | --- |"]
            out += [f"| `{lab['grade_id']}` | {lab['points']} | {lab['text'] or '—'} |".replace("\n", " ")
                    for lab in entry["labs"]]
            out += [""]
    return "\n".join(out).rstrip("\n") + "\n"


def load() -> dict:
    return json.loads(KEY.read_text(encoding="utf-8")) if KEY.is_file() else {"chapters": {}}


def check() -> list[str]:
    """What is out of step: stale chapters (code changed), chapters missing from the key, a page that differs."""
    key, problems = load(), []
    for chapter in stamp_chapters.chapters():
        entry = key["chapters"].get(chapter)
        if entry is None:
            problems.append(f"{chapter}: not in the answer key")
        elif entry["fingerprint"] != fingerprint(editions.read(chapter)):
            problems.append(f"{chapter}: its code changed since the key was stamped")
    if not PAGE.is_file() or PAGE.read_text(encoding="utf-8") != page(key):
        problems.append(f"{PAGE.relative_to(editions.ROOT)} differs from the key")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapters to stamp (default: every chapter of _toc.yml)")
    parser.add_argument("--check", action="store_true", help="only report what is out of step")
    parser.add_argument("--page", action="store_true", help="only rewrite the page from the key")
    args = parser.parse_args(argv)
    if args.page:
        PAGE.write_text(page(load()), encoding="utf-8")
        return 0
    if args.check:
        problems = check()
        for p in problems:
            print(p)
        if problems:
            print("run: python tools/answer_key.py " + " ".join(sorted({p.split(":")[0] for p in problems
                                                                          if p.startswith("book/")})))
        return 1 if problems else 0
    order = stamp_chapters.chapters()
    key = load()
    for chapter in args.chapters or order:
        if chapter not in order:
            raise SystemExit(f"error: {chapter!r} is not a chapter of _toc.yml (e.g. book/cam)")
        key["chapters"][chapter] = run_chapter(chapter, keep=EXECUTED)
        print(f"{chapter}: {sum(len(e['outputs']) for e in key['chapters'][chapter]['exercises'])} solution "
              f"blocks, {len(key['chapters'][chapter]['labs'])} lab tests", flush=True)
        key["chapters"] = {c: key["chapters"][c] for c in order if c in key["chapters"]}
        KEY.write_text(json.dumps(key, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    PAGE.write_text(page(key), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
