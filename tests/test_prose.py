"""The book's prose against the paper's numbers (``car.paper``) and against the toy tables.

The chapters quote numbers of the paper in their markdown. Each check below finds one kind of citation with a
hand-picked pattern, reads the number the sentence names, and compares it with the value computed from
``car.paper``: a typo, an invented number or a paper-table change makes it fail. The agreement tables typed
into the preface and the Part II overview are compared with ``car.experiments.agreement.toy_agreement()`` (computed from
``car.paper`` and the toy tables), so they fail when the toy models change and the copies are not updated.
Known wrong statements from the pedagogy reviews (2026-12-01 §3, 2026-12-02 §1–§3) must not come back, in the
markdown nor in the strings that code cells pass as figure titles, axis labels, legend labels and captions; the
wordings that replaced them are pinned, and so are the toy facts they state.

Every check is a function ``text -> list of errors``, and ``test_checks_can_fail`` feeds each a wrong
sentence: a check that cannot fail is a defect.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from car import paper

BOOK = Path(__file__).resolve().parents[1] / "book"


def markdown_of(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


#: calls whose string arguments are a figure's words: titles, axis labels (positional or keyword)
TITLE_CALLS = {"set_title", "suptitle", "title", "set_xlabel", "set_ylabel", "xlabel", "ylabel"}
#: keyword arguments that carry a figure's or a table's words, whatever the call
TITLE_KEYWORDS = {"title", "suptitle", "label", "xlabel", "ylabel", "caption", "titles"}


def _words(node: ast.AST) -> list[str]:
    """The text of a string, f-string (placeholders as "{}") or list/tuple of them; [] for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [w for e in node.elts for w in _words(e)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _words(node.left) + _words(node.right)
    return []


def _code_tree(source: str) -> ast.AST:
    """A code cell parsed as Python, its IPython lines (``%magic``, ``!shell``) read as ``pass``."""
    lines = [line[:len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def titles_of(source: str) -> list[str]:
    """The strings a code cell passes as titles, axis labels, legend labels and captions."""
    out = []
    for node in ast.walk(_code_tree(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in TITLE_CALLS:
            out += [w for a in node.args for w in _words(a)]
        out += [w for k in node.keywords if k.arg in TITLE_KEYWORDS for w in _words(k.value)]
    return out


def strings_of(source: str) -> list[str]:
    """Every string constant of a code cell (what it prints, too)."""
    return [w for node in ast.walk(_code_tree(source)) if isinstance(node, (ast.Constant, ast.JoinedStr))
            for w in _words(node)]


def code_titles_of(path: Path) -> str:
    if path.suffix == ".md":
        return ""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(t for c in nb.cells if c.cell_type == "code" for t in titles_of(c.source))


def code_strings_of(path: Path) -> str:
    if path.suffix == ".md":
        return ""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(t for c in nb.cells if c.cell_type == "code" for t in strings_of(c.source))


def chapter(name: str) -> str:
    return markdown_of(BOOK / name)


ALL_CHAPTERS = sorted([*BOOK.glob("*.ipynb"), *BOOK.glob("*.md"), *(BOOK / "tables").glob("*.ipynb"),
                       *(BOOK / "tables").glob("*.md")])


def num(s: str) -> float:
    return float(s.replace("−", "-"))


def close(a: float, b: float) -> bool:
    return abs(a - b) < 0.051


# --- paper numbers --------------------------------------------------------------------------------------------

T1, T2, T3, T4, T5, T6 = (paper.get_table(k) for k in "123456")
T7, T8, TI, TJ = (paper.get_table(k) for k in ("7", "8", "I", "J"))
T2V = {r.label: r.values[0] for r in T2.rows}
T5_VOC = [r for r in T5.rows if r.group == "Pascal VOC"]


def check_table1_gaps(text: str) -> list[str]:
    """'+6.9 on PC-60' style: CaR (w/o SAM) minus MaskCLIP on that benchmark."""
    errors = []
    for sign, value, col in re.findall(r"([+−-])(\d+\.\d) on (VOC-20|VOC-21|COCO Object|PC-59|PC-60|A-150)", text):
        want = T1.value("CaR (Ours, w/o SAM)", col) - T1.value("MaskCLIP [†] [84]", col)
        got = num(value) * (-1 if sign in "−-" else 1)
        if not close(got, want):
            errors.append(f"Table 1 gap on {col}: prose {got:+.1f}, car.paper {want:+.1f}")
    return errors


def check_table2(text: str) -> list[str]:
    """CAA's '+26.5', the recurrence's '+52.4' and the summary's '15.2 → 67.6' / '67.6 vs 41.1'."""
    errors = []
    caa = T2V["w/ recurrence, CLIP-ES"] - T2V["w/ recurrence, gradCAM"]
    rec = T2V["w/ recurrence, CLIP-ES"] - T2V["w/o recurrence, CLIP-ES"]
    for value in re.findall(r"CAA[^.]{0,60}?\+(\d+\.\d)", text):
        if not close(num(value), caa):
            errors.append(f"CAA gain: prose +{value}, car.paper {caa:+.1f}")
    for value in re.findall(r"\+(\d+\.\d) mIoU with CLIP-ES", text):
        if not close(num(value), rec):
            errors.append(f"recurrence gain: prose +{value}, car.paper {rec:+.1f}")
    for a, b in re.findall(r"\((\d+\.\d) → (\d+\.\d) mIoU on VOC\)", text):
        if (num(a), num(b)) != (T2V["w/o recurrence, CLIP-ES"], T2V["w/ recurrence, CLIP-ES"]):
            errors.append(f"Table 2 T = 1 → recurrent: prose {a} → {b}")
    for a, b in re.findall(r"affinity beats plain grad-CAM \((\d+\.\d) vs (\d+\.\d)\)", text):
        if (num(a), num(b)) != (T2V["w/ recurrence, CLIP-ES"], T2V["w/ recurrence, gradCAM"]):
            errors.append(f"Table 2 CLIP-ES vs grad-CAM: prose {a} vs {b}")
    return errors


def check_table3(text: str) -> list[str]:
    errors = []
    v = {r.label: r.values[0] for r in T3.rows}
    for value in re.findall(r"\((\d+\.\d) mIoU for f = B/16, g = L/14 on VOC\)", text):
        if num(value) != v["f=ViT-B/16, g=ViT-L/14"]:
            errors.append(f"Table 3 best cell: prose {value}")
    for f_eff, g_eff in re.findall(r"\+(\d+\.\d) for f, \+(\d+\.\d) for g", text):
        want = (v["f=ViT-B/16, g=ViT-L/14"] - v["f=ViT-L/14, g=ViT-L/14"],
                v["f=ViT-B/16, g=ViT-L/14"] - v["f=ViT-B/16, g=ViT-B/16"])
        if not (close(num(f_eff), want[0]) and close(num(g_eff), want[1])):
            errors.append(f"Table 3 effects: prose +{f_eff} / +{g_eff}, car.paper {want[0]:+.1f} / {want[1]:+.1f}")
    return errors


def check_table4(text: str) -> list[str]:
    """'circle + blur is the best prompt (67.6 …' and 'the black mask the worst (61.8)'; '5 single prompts'."""
    errors = []
    v = {r.label: r.values[0] for r in T4.rows}
    for value in re.findall(r"circle \+ blur is the best prompt \((\d+\.\d)", text):
        if num(value) != v["circle + blur"] or v["circle + blur"] != max(v.values()):
            errors.append(f"Table 4 best: prose {value}")
    for value in re.findall(r"mask the worst \((\d+\.\d)\)", text):
        if num(value) != v["mask"] or v["mask"] != min(v.values()):
            errors.append(f"Table 4 worst: prose {value}")
    sizes = [len(r.meta["Visual Prompts"]) for r in T4.rows]
    for n1, n2, n3 in re.findall(r"(\d+) single prompts[^.]{0,80}?(\d+) pairs and (\d+) triple", text):
        if (int(n1), int(n2), int(n3)) != (sizes.count(1), sizes.count(2), sizes.count(3)):
            errors.append(f"Table 4 composition: prose {n1} / {n2} / {n3}")
    return errors


def check_table5(text: str) -> list[str]:
    """'within 67.0–67.6' (the VOC rows' range) and 'by more than 0.6 mIoU' (largest move from the default)."""
    errors = []
    vals = [r.values[-1] for r in T5_VOC]
    default = next(r.values[-1] for r in T5_VOC if r.label == "η=0.4, θ=0.6, λ=0.4")
    for a, b in re.findall(r"within (\d+\.\d)–(\d+\.\d)", text):
        if (num(a), num(b)) != (min(vals), max(vals)):
            errors.append(f"Table 5 range: prose {a}–{b}, car.paper {min(vals)}–{max(vals)}")
    for value in re.findall(r"no paper VOC row moves by more\s+than (\d+\.\d)", text):
        if not close(num(value), max(abs(v - default) for v in vals)):
            errors.append(f"Table 5 largest move: prose {value}")
    return errors


def check_table6(text: str) -> list[str]:
    errors = []
    none, allg = T6.rows[0].values[0], T6.rows[-1].values[0]
    for a, b in re.findall(r"\((\d+\.\d) → (\d+\.\d)(?: mIoU on VOC with all three groups)?\)", text):
        if (num(a), num(b)) != (none, allg):
            errors.append(f"Table 6 None → all: prose {a} → {b}")
    for value in re.findall(r"paper \+(\d+\.\d) from None to all three", text):
        if not close(num(value), allg - none):
            errors.append(f"Table 6 gain: prose +{value}, car.paper {allg - none:+.1f}")
    return errors


def check_referring_tables(text: str) -> list[str]:
    errors = []
    for a, b in re.findall(r"\((\d+\.\d+) vs (\d+\.\d+) on RefCOCO val\)", text):
        if (num(a), num(b)) != (TI.value("CaR(Ours)", "RefCOCO val"), TI.value("OVSeg [35]", "RefCOCO val")):
            errors.append(f"Table I: prose {a} vs {b}")
    for jf, j, f in re.findall(r"\((\d+\.\d+) J&F, (\d+\.\d+) J, (\d+\.\d+) F\)", text):
        if (num(jf), num(j), num(f)) != tuple(T8.rows[-1].values):
            errors.append(f"Table 8: prose {jf} / {j} / {f}")
    for value in re.findall(r"\((\d+\.\d+) J&F\)", text):
        if num(value) != T8.rows[-1].values[0]:
            errors.append(f"Table 8 J&F: prose {value}")
    for value in re.findall(r"\((\d+\.\d) on VOC-20\)", text):
        if num(value) != TJ.value("CaR (Ours)", "VOC-20"):
            errors.append(f"Table J: prose {value}")
    return errors


PAPER_CHECKS = [check_table1_gaps, check_table2, check_table3, check_table4, check_table5, check_table6,
                check_referring_tables]

# each check must find at least one citation in the book (otherwise its pattern has drifted from the prose)
MIN_HITS = {
    check_table1_gaps: ("tables/table1.ipynb", r"[+−-]\d+\.\d on (PC-60|VOC-21)"),
    check_table2: ("tables/table2.ipynb", r"\(\d+\.\d → \d+\.\d mIoU on VOC\)"),
    check_table3: ("tables/table3.ipynb", r"mIoU for f = B/16, g = L/14 on VOC"),
    check_table4: ("tables/table4.ipynb", r"circle \+ blur is the best prompt \(\d"),
    check_table5: ("tables/table5.ipynb", r"within \d+\.\d–\d+\.\d"),
    check_table6: ("tables/table6.ipynb", r"\(\d+\.\d → \d+\.\d mIoU on VOC"),
    check_referring_tables: ("tables/table8.ipynb", r"J&F, \d+\.\d+ J,"),
}


@pytest.mark.parametrize("path", ALL_CHAPTERS, ids=lambda p: p.relative_to(BOOK).as_posix())
def test_paper_numbers_in_prose_match_car_paper(path: Path) -> None:
    text = markdown_of(path)
    errors = [e for check in PAPER_CHECKS for e in check(text)]
    assert not errors, errors


@pytest.mark.parametrize("check", list(MIN_HITS), ids=lambda c: c.__name__)
def test_each_pattern_still_finds_its_citation(check) -> None:
    name, pattern = MIN_HITS[check]
    assert re.search(pattern, chapter(name)), f"{check.__name__}: no citation matching {pattern!r} in {name}"


# --- the agreement tables ---------------------------------------------------------------------------------------

def agreement_rows_in(text: str) -> dict[str, tuple[str, str, str, str, str]]:
    """The rows of the typed agreement table: finding → (table, paper, toy, holds when, verdict)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in {"1", "2", "3", "4", "5", "6", "7", "8", "I", "J"}:
            rows[cells[1]] = (cells[0], cells[2], cells[3], cells[4], cells[5])
    return rows


def check_agreement(text: str, computed: list[dict]) -> list[str]:
    fmt = lambda v: "—" if v is None else f"{v:+.1f}"  # noqa: E731
    minus = lambda c: c.replace("−", "-")  # noqa: E731
    typed = agreement_rows_in(text)
    errors = []
    for r in computed:
        want = (r["table"], fmt(r["paper"]), fmt(r["toy"]), minus(r["holds"]), r["verdict"])
        got = typed.get(r["finding"])
        if got is None:
            errors.append(f"agreement row missing: {r['finding']!r}")
        elif tuple(minus(c) for c in got) != want:
            errors.append(f"agreement row {r['finding']!r}: typed {got}, computed {want}")
    stale = set(typed) - {r["finding"] for r in computed}
    errors += [f"agreement row no longer computed: {f!r}" for f in sorted(stale)]
    return errors


@pytest.fixture(scope="module")
def agreement() -> list[dict]:
    from car.experiments.agreement import toy_agreement

    return toy_agreement()


@pytest.mark.parametrize("name", ["preface.md", "tables/overview.md"])
def test_typed_agreement_tables_match_the_computed_one(name: str, agreement) -> None:
    errors = check_agreement(chapter(name), agreement)
    assert not errors, errors


WARNING_BOX = re.compile(r"```\{admonition\} Where the toy world goes the other way \(✗\) or cannot tell \(≈\)\n"
                         r"(.*?)\n```", re.S)
NUMBER_WORDS = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven"}


def test_agreement_marks_the_known_inversions(agreement) -> None:
    verdict = {r["finding"]: r["verdict"] for r in agreement}
    assert verdict["the recurrence is vital"] == "✓"
    # the inversions the book warns about beside its figures; if the toy models change and one of these
    # flips, the warning boxes (and this test) must be updated together
    assert verdict["CAA beats plain grad-CAM"] == "✗"
    assert verdict["ViT-L/14 is the better classifier g"] == "✗"
    assert verdict["context-keeping prompts beat the black mask"] == "✗"
    assert verdict["the later steps beat one pruned step (asserted in §1, no table row)"] == "≈"


@pytest.mark.parametrize("name", ["preface.md", "tables/overview.md"])
def test_warning_boxes_name_every_inverted_and_tied_table(name: str, agreement) -> None:
    boxes = WARNING_BOX.findall(chapter(name))
    assert len(boxes) == 1, f"{name}: one warning box 'Where the toy world goes the other way (✗) or cannot tell (≈)'"
    box = boxes[0]
    for r in agreement:
        if r["verdict"] in "✗≈":
            assert f"Table {r['table']}" in box, f"{name}: the box does not name Table {r['table']} ({r['finding']})"
    if name == "tables/overview.md":   # the overview counts them
        for mark, word in (("✗", "inverted"), ("≈", "ties")):
            n = sum(r["verdict"] == mark for r in agreement)
            assert re.search(rf"\b{NUMBER_WORDS[n]}\b[^.]*\b{word}\b", box), f"{name}: expected '{NUMBER_WORDS[n]} … {word}'"


# --- statements the review found wrong --------------------------------------------------------------------------

FORBIDDEN = [
    (r"Lang, Tong", "the author list is Sun, Li, Torr, Gu, Li"),
    (r"paper §4\.2", "referring segmentation is §4.3"),
    (r"16–29 mIoU", "Table 1: CaR − MaskCLIP ranges from +6.9 (PC-60)"),
    (r"finer token grid", "L/14's grid is the finer one, and the paper gives no such reason"),
    (r"6 single prompts|all 21 prompts of Table 4", "Table 4 has 5 singles, 4 pairs, 1 triple"),
    (r"θ matters most", "paper θ rows move ≤ 0.2; toy θ rows equal the default"),
    (r"expect smaller differences", "the toy prompts spread more than the paper's"),
    (r"The paper found B/16", "Supp. F only states the choice"),
    (r"which the paper suggests", "the paper does not suggest carrying queries across frames"),
    (r"runs all three paths", "the toy sweep runs two paths"),
    (r"Templates matter;", "the chapter's own chart shows templates barely matter in the toy world"),
    (r"\((?:\d+|Eq|Supp)\. The toy analogue", "a summary cut at its first period"),
    (r"the \*direction\* of the paper's ablations", "three toy ablations are inverted"),
    (r"\*\*paper\*\* \(§3\.3\): one softmax of the cosine", "averaging templates is CLIP's convention, not §3.3's"),
    (r"scores of the survivors\s+\*rise\*", "the recurrence chapter's own table shows 1.00 → 1.00"),
    (r"`background=\(\)` is Table 6's", "Table 6's first row uses the literal query \"None\""),
    # round 2 (pedagogy-2026-12-02)
    (r"thin red ellipse|hides small objects|ellipse covers much of a small object",
     "Table 4: the toy rows split by gray/mask, and the circle of a scattered proposal encloses much of the image"),
    (r"flatter probabilities|compresses probabilities",
     "the official double softmax sharpens P_ii for small query sets (the clip chapter's chart and simulation)"),
    (r"attention is (?:not )?object-aligned|not object-aligned",
     "measured: a rank-one saliency profile that Sinkhorn divides away; the paper gives no reason (§4.2 hedges)"),
    (r"stops at its boundary", "the official CAA masks the input CAM, so the output spreads wherever A² reaches"),
    (r"Table 5 is flat in both worlds", "the toy Table 5 rows move by several points"),
    (r"groups together are not the toy's best row", "all three groups are the toy's best row (a tie)"),
    (r"CaR leads there too", "on Context-59 PACL (50.1) is ahead of CaR (39.5)"),
    (r"and most that do", "CaR beats every method with extra data too (Table 1's Δ row)"),
    (r"closer relative is CRF-RNN", "§2: 'fundamentally different from these methods'"),
    (r"reports CaR's frame-by-frame", "the paper states no video procedure"),
    (r"per-expression IoU", "referring mIoU is per sample (a referred object, its sentences merged)"),
    (r"\b[Tt]wo tiny CLIPs", "the toy world ships three tiny CLIPs (toy-b, toy-l, toy-b4)"),
    (r"10\^\{-7\}", "car's min–max guard is the official 1e-15 (car/cam.py MINMAX_EPS)"),
    (r"drops such words; the official code does not", "car keeps every background word by default, as the official code"),
    (r"a superset of Table 4's rows", "Table 4's triple circle + blur + gray is not among the 6 kinds and 15 pairs"),
    (r"does not clearly beat one pruned step", "report the signed difference: full recurrence − one pruned step"),
]

#: development words that must not reach a student (markdown and every string of a code cell)
DEVELOPMENT = [r"[Tt]he issue that", r"Development note", r"design targets?\b", r"target 3", r"\bmet / missed\b",
               r"'met' if", r"\(car before this row\)"]


def check_forbidden(text: str) -> list[str]:
    return [f"{why}: found {m.group(0)!r}" for pattern, why in FORBIDDEN for m in re.finditer(pattern, text)]


@pytest.mark.parametrize("path", ALL_CHAPTERS, ids=lambda p: p.relative_to(BOOK).as_posix())
def test_known_wrong_statements_stay_fixed(path: Path) -> None:
    errors = check_forbidden(markdown_of(path) + "\n" + code_titles_of(path))
    assert not errors, errors


def check_development_words(text: str) -> list[str]:
    return [f"development word: {m.group(0)!r}" for pattern in DEVELOPMENT for m in re.finditer(pattern, text)]


@pytest.mark.parametrize("path", ALL_CHAPTERS, ids=lambda p: p.relative_to(BOOK).as_posix())
def test_no_development_scaffolding_for_students(path: Path) -> None:
    errors = check_development_words(markdown_of(path) + "\n" + code_strings_of(path))
    assert not errors, errors


def test_code_titles_are_scanned() -> None:
    cell = ('%matplotlib inline\nfig = show(x, suptitle=f"{WORLD}: all 21 prompts of Table 4 for {q!r}")\n'
            'ax.set_title("a " + "b")\nax.set(xlabel="η")\nplot(a, b, "mean P", label="x")\nprint("not a title")')
    assert titles_of(cell) == ["{}: all 21 prompts of Table 4 for {}", "a ", "b", "η", "x"]
    assert check_forbidden("\n".join(titles_of(cell)))
    assert "not a title" in strings_of(cell) and check_development_words("print('Development note')")


def test_ledger_names_the_paper_grad_cam_layer() -> None:
    row = next(line for line in chapter("tables/ledger.md").splitlines() if line.startswith("| Grad-CAM layer"))
    assert "first normalization layer of the last residual block" in row, row


# --- the checks themselves can fail -----------------------------------------------------------------------------

WRONG = {
    check_table1_gaps: "CaR beats MaskCLIP by +16.0 on PC-60.",
    check_table2: "CAA is credited with +25.5 mIoU; (15.2 → 66.6 mIoU on VOC)",
    check_table3: "(67.5 mIoU for f = B/16, g = L/14 on VOC) and +11.0 for f, +13.5 for g",
    check_table4: "circle + blur is the best prompt (66.9 mIoU); 6 single prompts, 15 pairs and 1 triple",
    check_table5: "every row lies within 67.0–67.9 mIoU",
    check_table6: "(64.3 → 67.0 mIoU on VOC with all three groups)",
    check_referring_tables: "(30.34 J&F, 28.15 J, 32.35 F) and (91.5 on VOC-20)",
}


@pytest.mark.parametrize("check", list(WRONG), ids=lambda c: c.__name__)
def test_checks_can_fail(check) -> None:
    assert check(WRONG[check]), f"{check.__name__} accepted a wrong number: {WRONG[check]!r}"


def test_agreement_and_forbidden_checks_can_fail(agreement) -> None:
    assert check_forbidden("as the paper found, θ matters most")
    good = "\n".join(f"| {r['table']} | {r['finding']} | x | y | z |" for r in agreement)
    assert check_agreement(good, agreement)          # wrong numbers
    assert check_agreement("", agreement)            # missing rows


# --- the wordings that replaced them, and the toy facts they state ----------------------------------------------

PINNED = [
    ("clip.ipynb", r"\*sharpens\* the probabilities", "the official double softmax sharpens P for small query sets"),
    ("clip.ipynb", r"def simulated_true_probability", "the simulation behind the fidelity note"),
    ("preface.md", r"As the text queries\s+become cleaner, better mask proposals are consequently obtained",
     "the paper's argument for the later steps, quoted, not asserted as fact"),
    ("preface.md", r"our hypothesis, not a measurement", "Table 4's mechanism: what is measured and what is not"),
    ("caa.ipynb", r"close to rank\s+one", "what §8 measures of the toy attention"),
    ("caa.ipynb", r"did not tune grad-CAM's hyper-parameters", "the paper's hedge (§4.2)"),
    ("caa.ipynb", r"mask_output=True\)", "§9 shows the paper's form of Eq. 8 beside the official one"),
    ("tables/table2.ipynb", r"did not tune grad-CAM", "table2 Ex. 2: the paper's hedge, not a property taught as fact"),
    ("tables/table4.ipynb", r"every row with gray or mask scores above every row without", "the toy rows' split"),
    ("prompts.ipynb", r"every prompt that grays or blacks out the background keeps the present objects",
     "the prompts chapter's measured mechanism"),
    ("toy_world.ipynb", r"full recurrence minus one pruned step", "one sign convention: full − pruned"),
    ("recurrence.ipynb", r"fundamentally different from these methods", "§2 on CRF-RNN"),
    ("tables/tableJ.ipynb", r"which its own table contradicts for Context-59", "Table J's text vs its table"),
    ("tables/table6.ipynb", r"car.CaR`'s default \(`background_exclude: \"none\"`\) keeps it", "car keeps the word"),
    ("tables/table7.ipynb", r"On RefCOCO it can", "Table 7 Ex. 1: the toy premise is not RefCOCO's"),
]


@pytest.mark.parametrize("name, pattern, why", PINNED, ids=[f"{n}: {w[:30]}" for n, _, w in PINNED])
def test_new_wordings_stay(name: str, pattern: str, why: str) -> None:
    path = BOOK / name
    text = path.read_text(encoding="utf-8") if path.suffix == ".md" else \
        "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)   # markdown and code
    assert re.search(pattern, text), f"{name}: {why} (pattern {pattern!r} not found)"


def test_the_toy_table4_split_the_book_states() -> None:
    """Every toy Table 4 row with gray or mask scores above every row without (preface, table4, prompts)."""
    from car.experiments.tables import toy_table

    rows = {r["label"]: r["values"][0] for r in toy_table("4")["rows"]}
    fills = [v for k, v in rows.items() if {"gray", "mask"} & set(k.split(" + "))]
    others = [v for k, v in rows.items() if not {"gray", "mask"} & set(k.split(" + "))]
    assert min(fills) > max(others), (fills, others)


def test_the_later_steps_have_one_sign_convention() -> None:
    """Every printed comparison of the recurrence with one pruned step is full − pruned (the review found both)."""
    for name in ("toy_world.ipynb", "recurrence.ipynb", "tables/table2.ipynb"):
        text = code_strings_of(BOOK / name) + markdown_of(BOOK / name)
        assert not re.search(r"one pruned step is \{\} from the full|pruned - full|pruned − full", text), name
