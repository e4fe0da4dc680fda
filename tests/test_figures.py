"""The agreement verdicts of ``car.experiments.agreement`` can fail, and the label colours of ``car.viz`` keep figures readable.

Every row of :func:`car.experiments.agreement.toy_agreement` is computed on constructed toy tables in which all toy numbers are
equal (every "beats" effect 0: a tie) and one number is moved: each row must then say ✓ when the toy world shows
the finding, ✗ when it shows the opposite and ≈ within the tie band. A verdict that cannot come out ✗ is a defect
(the old Table 5 row compared the signs of two spreads that are ≤ 0 by construction, so it always said ✓).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from car.chapter import agreement_table
from car.experiments.agreement import ROBUST_DROP, TOY_TIE, agreement_verdict, finding_state, toy_agreement

TABLES = Path(__file__).resolve().parents[1] / "car" / "results" / "toy_tables"
#: which entries of a toy row's ``values`` are mIoU (the others are settings: η, θ, λ, model names, flags)
METRIC = {"1": slice(None), "2": slice(-1, None), "3": slice(-1, None), "4": slice(None), "5": slice(-1, None),
          "6": slice(None), "I": slice(None), "J": slice(None)}
LEVEL = 50.0


@pytest.fixture(scope="module")
def level_tables() -> dict[str, dict]:
    """The shipped toy tables with every mIoU set to LEVEL: every "beats" effect is 0."""
    out = {}
    for key, where in METRIC.items():
        table = json.loads((TABLES / f"table{key}.json").read_text(encoding="utf-8"))
        for row in table["rows"]:
            idx = range(len(row["values"]))[where]
            row["values"] = [LEVEL if i in idx else v for i, v in enumerate(row["values"])]
        out[key] = table
    return out


def moved(tables: dict, key: str, label: str, value: float, column: int | None = None) -> dict:
    """A copy of ``tables`` with the mIoU of the row ``label`` of table ``key`` set to ``value``."""
    out = copy.deepcopy(tables)
    (row,) = [r for r in out[key]["rows"] if r["label"].startswith(label)]
    cols = range(len(row["values"]))[METRIC[key]] if column is None else [column]
    for c in cols:
        row["values"][c] = value
    return out


def verdicts(tables: dict) -> dict[str, str]:
    return {r["finding"]: r["verdict"] for r in toy_agreement(tables)}


FINDINGS = {r["finding"]: r for r in toy_agreement()}
UP, DOWN = LEVEL + 3 * TOY_TIE, LEVEL - 3 * TOY_TIE
# finding → (table, the row whose mIoU is the effect's first term, its column or None for all, +1 / -1: the sign
# the effect takes when that row rises)
LEVERS = {
    "CaR beats the training-free MaskCLIP": ("1", "CaR", None, +1),
    "the recurrence is vital": ("2", "T = 1, gradCAM", None, -1),
    "CAA beats plain grad-CAM": ("2", "recurrent, CLIP-ES", None, +1),
    "the later steps beat one pruned step (asserted in §1, no table row)": ("2", "one pruned step", None, -1),
    "ViT-B/16 is the better proposer f": ("3", "f = toy-l, g = toy-b", None, -1),
    "ViT-L/14 is the better classifier g": ("3", "f = toy-b, g = toy-l", None, +1),
    "ViT-L/14 is the better classifier g, with the presets' proposer": ("3", "f = toy-b4, g = toy-l", None, +1),
    "context-keeping prompts beat the black mask": ("4", "mask", None, -1),
    "the default η, θ, λ is the best VOC row": ("5", "η=0.4, θ=0.6, λ=0.4", None, +1),
    "background queries help": ("6", "None", None, -1),
    "all three groups together are best": ("6", "Terrestrial + Aquatic Atmospheric + Man-Made", None, +1),
    "CaR beats a mask-supervised model beyond its training vocabulary": ("I", "CaR", 1, +1),
    "CaR beats MaskCLIP without background": ("J", "CaR", None, +1),
}
WITHIN = f"no VOC row of η, θ, λ falls more than {ROBUST_DROP:g} points below the default"


def test_every_row_has_a_counter_case() -> None:
    assert set(FINDINGS) == set(LEVERS) | {WITHIN}, "a new agreement row needs its counter-case here"
    assert {r["rule"] for r in FINDINGS.values()} == {"beats", "within"}


@pytest.mark.parametrize("finding", list(LEVERS))
def test_each_beats_row_says_agree_tie_and_inverted(finding: str, level_tables) -> None:
    key, label, column, sign = LEVERS[finding]
    assert verdicts(level_tables)[finding] == "≈"            # effect 0: a tie
    holds, fails = (UP, DOWN) if sign > 0 else (DOWN, UP)
    assert verdicts(moved(level_tables, key, label, holds, column))[finding] == "✓"
    assert verdicts(moved(level_tables, key, label, fails, column))[finding] == "✗"
    inside = LEVEL + sign * TOY_TIE / 2                        # within the band: still a tie
    assert verdicts(moved(level_tables, key, label, inside, column))[finding] == "≈"


def test_the_table5_robustness_row_fails_when_one_row_drops(level_tables) -> None:
    assert verdicts(level_tables)[WITHIN] == "✓"             # every row at the default's level
    dropped = moved(level_tables, "5", "η=0.5, θ=0.6, λ=0.4", LEVEL - ROBUST_DROP - 0.5)
    assert verdicts(dropped)[WITHIN] == "✗"
    assert verdicts(moved(level_tables, "5", "η=0.5, θ=0.6, λ=0.4", LEVEL - ROBUST_DROP))[WITHIN] == "✓"


def test_finding_state_by_hand() -> None:
    assert finding_state(0.1, "beats", "paper") == "holds"
    assert finding_state(0.0, "beats", "paper") == "tie"
    assert finding_state(TOY_TIE + 0.1, "beats", "toy") == "holds"
    assert finding_state(TOY_TIE, "beats", "toy") == "tie"
    assert finding_state(-TOY_TIE - 0.1, "beats", "toy") == "fails"
    assert finding_state(-ROBUST_DROP, "within", "toy") == "holds"
    assert finding_state(-ROBUST_DROP - 0.1, "within", "paper") == "fails"
    with pytest.raises(ValueError, match="unknown rule"):
        finding_state(1.0, "sign", "toy")


def test_a_paper_effect_that_does_not_show_its_finding_is_an_error() -> None:
    with pytest.raises(ValueError, match="defined wrongly"):
        agreement_verdict("beats", -0.6, -4.2)              # the old Table 5 row: both ≤ 0 by construction
    assert agreement_verdict("beats", None, 5.0) == "n/a"
    assert agreement_verdict("beats", None, 5.0, asserted=True) == "✓"
    assert agreement_verdict("beats", 3.0, None) == "n/a"


def test_the_shipped_tables_give_the_book_s_verdicts() -> None:
    v = {k: r["verdict"] for k, r in FINDINGS.items()}
    assert v["the recurrence is vital"] == "✓"
    # the toy world's inversions, named in the preface's and the overview's warning boxes
    for finding in ("CAA beats plain grad-CAM", "ViT-L/14 is the better classifier g",
                    "context-keeping prompts beat the black mask", WITHIN):
        assert v[finding] == "✗", finding
    assert v["the later steps beat one pruned step (asserted in §1, no table row)"] != "✓"


def test_agreement_table_caption_says_how_to_read_it() -> None:
    text = repr(agreement_table(list(FINDINGS.values())[:2], caption="Table 1"))
    assert text.startswith("Table 1 (effects in mIoU points; ✓") and f"±{TOY_TIE:g}" in text


# --- label colours -------------------------------------------------------------------------------------------

def test_label_colours_avoid_every_hue_named_in_the_figure() -> None:
    from car.viz.colours import _colour_score, label_colours, named_hues

    names = ["blue circle", "yellow circle", "orange square"]
    colours = label_colours(names)
    hues = [h for n in names for h in named_hues(n)]
    for rgb in colours:                        # "blue circle" is not drawn yellow when "yellow circle" is shown
        assert _colour_score(rgb, hues) >= 45, (rgb, hues)
    assert len({tuple(c) for c in colours}) == len(names)
    # each name still avoids its own hue when the figure names more hues than the palette can avoid
    many = ["red circle", "orange square", "yellow cross", "green triangle", "blue circle", "purple square"]
    for name, rgb in zip(many, label_colours(many)):
        assert _colour_score(rgb, named_hues(name)) >= 90, (name, rgb)


def test_overlay_keeps_the_object_s_own_colour_visible() -> None:
    from car.viz import overlay

    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = (255, 0, 0)                           # a red object
    labels = np.full((16, 16), -1)
    labels[4:12, 4:12] = 0
    out = overlay(image, labels, colours=np.array([[0, 205, 225]], np.uint8))
    inside = out[5:11, 5:11].reshape(-1, 3).astype(int)
    assert (inside == (255, 0, 0)).all(1).any(), "some pixels of the object keep its own colour"
    assert (inside != (255, 0, 0)).any(1).any(), "and some carry the label's tint"
    assert (out[labels < 0] == 0).all(), "the background is untouched"


def test_table_escapes_every_cell_and_marks_up_only_by_type() -> None:
    """The one escaping rule of car.viz.Table: text is escaped; Code, lists, None, bools and floats by type."""
    from car.viz import Code, Table

    t = Table(["a<b", "v"], [["<script>x</script> & y", 1.0], [Code("python -m car <x>"), ["one", "two<"]],
                             [True, None]], caption="c & d")
    html = t._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt; &amp; y" in html
    assert "<th>a&lt;b</th>" in html and "<b>c &amp; d</b>" in html
    assert "<code>python -m car &lt;x&gt;</code>" in html and "one<br>two&lt;" in html
    assert "<td>1.00</td>" in html and "✓" in html and "—" in html
    assert Table(["x"], [[67.6]], floatfmt=None)._repr_html_().count("67.6") == 1
    assert repr(t).splitlines()[0] == "c & d" and "one / two<" in repr(t)
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        Table(["a", "b"], [[1]])


def test_bar_chart_both_orientations_and_length_check() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from car.viz import bar_chart

    for vertical in (False, True):
        fig = bar_chart(["a", "b", "c"], {"s": [1.0, None, 3.0], "t": [2.0, 2.0, 2.0]}, "mIoU", vertical=vertical,
                        hline=1.5)
        ax = fig.axes[0]
        assert len(ax.patches) == 6  # one bar per label and series, None drawn as an empty bar
        heights = sorted(p.get_height() if vertical else p.get_width() for p in ax.patches)
        assert heights == [0.0, 1.0, 2.0, 2.0, 2.0, 3.0]
        plt.close(fig)
    with pytest.raises(ValueError, match="has 2 values for 3 labels"):
        bar_chart(["a", "b", "c"], {"s": [1.0, 2.0]})
