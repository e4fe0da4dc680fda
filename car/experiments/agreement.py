"""Where the toy world agrees with the paper: each finding of the paper as an effect in both worlds, and a verdict.

Paper effects come from :mod:`car.paper`, toy effects from the toy tables (:func:`car.experiments.tables.toy_table`);
no number is typed. The chapters draw the rows with :func:`car.chapter.agreement_table`; ``tools/stamp_agreement.py``
copies them into the preface and the Part II overview.
"""
from __future__ import annotations

from typing import Mapping

from car import paper
from car.experiments.tables import toy_table

#: A toy effect within ±TOY_TIE mIoU points is a tie (verdict "≈": the toy world cannot tell). The toy tables
#: evaluate the first 30–60 images of a split, and the toy-world chapter (§5) prints how far the same difference
#: moves between its first 24 images and the whole split: several points. The paper's effects are read as printed.
TOY_TIE = 2.0
#: "η, θ, λ barely matter": no VOC row of Table 5 more than ROBUST_DROP points below the default.
ROBUST_DROP = 2.0
#: What each rule prints in the agreement tables' "holds when" column.
RULE_TEXT = {"beats": "> 0", "within": f"≥ −{ROBUST_DROP:g}"}
VERDICT = {"holds": "✓", "tie": "≈", "fails": "✗"}
AGREEMENT_NOTE = (f"effects in mIoU points; ✓ the toy world shows the finding, ✗ it shows the opposite, ≈ a toy "
                  f"effect within ±{TOY_TIE:g} points (a tie: the toy world cannot tell); computed from car.paper and "
                  "the toy tables")


def _toy_row(table: dict, label_start: str) -> list:
    rows = [r for r in table["rows"] if r["label"].startswith(label_start)]
    if len(rows) != 1:
        raise KeyError(f"toy table has {len(rows)} rows starting with {label_start!r}; rows: "
                       f"{[r['label'] for r in table['rows']]}")
    return rows[0]["values"]


def finding_state(effect: float, rule: str, world: str) -> str:
    """Whether one world's effect shows a finding: ``"holds"``, ``"tie"`` or ``"fails"``.

    Rules: ``"beats"`` (effect = A − B, the finding "A beats B"): holds when the effect is above the world's tie
    band (0 for the paper, :data:`TOY_TIE` for the toy world), fails below minus the band, a tie in between.
    ``"within"`` (effect = worst row − the default, ≤ 0): holds when no row falls more than :data:`ROBUST_DROP`
    points below the default, fails otherwise.

    Raises:
        ValueError: an unknown rule or world.
    """
    if world not in ("paper", "toy"):
        raise ValueError(f"world must be 'paper' or 'toy', got {world!r}")
    if rule == "beats":
        band = TOY_TIE if world == "toy" else 0.0
        return "holds" if effect > band else "fails" if effect < -band else "tie"
    if rule == "within":
        return "holds" if effect >= -ROBUST_DROP else "fails"
    raise ValueError(f"unknown rule {rule!r}; valid: {', '.join(RULE_TEXT)}")


def agreement_verdict(rule: str, paper_effect: float | None, toy_effect: float | None,
                      asserted: bool = False) -> str:
    """The verdict of one agreement row: ``"✓"``, ``"✗"``, ``"≈"`` (a toy tie) or ``"n/a"`` (a world has no row).

    The paper's effect must show the finding (it is the paper's finding); ``asserted`` marks a finding the paper
    states without a table row (``paper_effect`` None), judged from the toy world alone.

    Raises:
        ValueError: the paper's own effect does not show the finding (the row is defined wrongly).
    """
    if toy_effect is None or (paper_effect is None and not asserted):
        return "n/a"
    if paper_effect is not None and finding_state(paper_effect, rule, "paper") != "holds":
        raise ValueError(f"the paper's effect {paper_effect:+.1f} does not show its own finding under the rule "
                         f"{rule!r} ({RULE_TEXT[rule]}): the agreement row is defined wrongly")
    return VERDICT[finding_state(toy_effect, rule, "toy")]


def toy_agreement(tables: Mapping[str, dict] | None = None) -> list[dict]:
    """Where the toy world agrees with the paper: one row per finding, both effects computed, none typed.

    Paper numbers come from :mod:`car.paper`, toy numbers from :func:`car.experiments.tables.toy_table` (cached, seconds).
    Each row is a dict: ``table`` (the paper's table key), ``finding`` (the paper's claim, in words), ``paper`` and
    ``toy`` (the effect in mIoU points; ``None`` where a world has no such row), ``rule`` (``"beats"``: the effect
    is A − B and > 0 means the finding holds; ``"within"``: the effect is the worst row − the default, and it holds
    down to −:data:`ROBUST_DROP`), ``holds`` (the rule in symbols), ``verdict`` (:func:`agreement_verdict`) and
    ``how`` (which rows were subtracted).

    Args:
        tables: optional ``{key: toy_table(key)}`` to use instead of loading (tests, or after recomputing).
    """
    def toy(key: str) -> dict:
        return tables[key] if tables is not None and key in tables else toy_table(key)

    P = {k: paper.get_table(k) for k in ("1", "2", "3", "4", "5", "6", "I", "J")}
    rows: list[dict] = []

    def add(table, finding, p, t, how, rule="beats", asserted=False):
        rows.append({"table": table, "finding": finding, "paper": None if p is None else round(p, 1),
                     "toy": None if t is None else round(t, 1), "rule": rule, "holds": RULE_TEXT[rule],
                     "verdict": agreement_verdict(rule, p, t, asserted), "how": how})

    t1 = toy("1")
    mc, cr = _toy_row(t1, "MaskCLIP")[1], _toy_row(t1, "CaR")[1]
    add("1", "CaR beats the training-free MaskCLIP",
        P["1"].value("CaR (Ours, w/o SAM)", "VOC-21") - P["1"].value("MaskCLIP [†] [84]", "VOC-21"), cr - mc,
        "CaR − MaskCLIP, VOC-21 (toy: VOC-21-like)")
    t2 = toy("2")
    p2 = {r.label: r.values[0] for r in P["2"].rows}
    add("2", "the recurrence is vital",
        p2["w/ recurrence, CLIP-ES"] - p2["w/o recurrence, CLIP-ES"],
        _toy_row(t2, "recurrent, gradCAM")[-1] - _toy_row(t2, "T = 1, gradCAM")[-1],
        "recurrent − T = 1 with the classifier idle (paper: CLIP-ES CAM; toy: the toy preset's grad-CAM)")
    add("2", "CAA beats plain grad-CAM",
        p2["w/ recurrence, CLIP-ES"] - p2["w/ recurrence, gradCAM"],
        _toy_row(t2, "recurrent, CLIP-ES")[-1] - _toy_row(t2, "recurrent, gradCAM")[-1],
        "CLIP-ES (CAA) − grad-CAM, both recurrent")
    add("2", "the later steps beat one pruned step (asserted in §1, no table row)", None,
        _toy_row(t2, "recurrent, gradCAM")[-1] - _toy_row(t2, "one pruned step")[-1],
        "full recurrence − one pruned step (max_steps=1); the paper asserts that cleaner query sets give better "
        "masks (§1) and reports no such row", asserted=True)
    t3 = toy("3")
    p3 = {r.label: r.values[0] for r in P["3"].rows}
    g_gain = p3["f=ViT-B/16, g=ViT-L/14"] - p3["f=ViT-B/16, g=ViT-B/16"]
    add("3", "ViT-B/16 is the better proposer f",
        p3["f=ViT-B/16, g=ViT-L/14"] - p3["f=ViT-L/14, g=ViT-L/14"],
        _toy_row(t3, "f = toy-b, g = toy-b")[-1] - _toy_row(t3, "f = toy-l, g = toy-b")[-1],
        "f = B − f = L, VOC, with the world's better classifier (paper: g = L/14; toy: g = toy-b)")
    add("3", "ViT-L/14 is the better classifier g",
        g_gain, _toy_row(t3, "f = toy-b, g = toy-l")[-1] - _toy_row(t3, "f = toy-b, g = toy-b")[-1],
        "g = L − g = B, VOC, f = B (toy: f = toy-b, the size grid)")
    add("3", "ViT-L/14 is the better classifier g, with the presets' proposer",
        g_gain, _toy_row(t3, "f = toy-b4, g = toy-l")[-1] - _toy_row(t3, "f = toy-b4, g = toy-b")[-1],
        "g = L − g = B, VOC (paper: f = B/16; toy: f = toy-b4, the toy presets' proposer)")
    t4 = toy("4")
    p4 = {r.label: r.values[0] for r in P["4"].rows}
    t4v = {r["label"]: r["values"][0] for r in t4["rows"]}
    add("4", "context-keeping prompts beat the black mask",
        max(v for k, v in p4.items() if k != "mask") - p4["mask"],
        max(v for k, v in t4v.items() if k != "mask") - t4v["mask"],
        "best prompt other than mask − mask")
    t5 = toy("5")
    p5 = {r.label: r.values[-1] for r in P["5"].rows if r.group == "Pascal VOC"}
    t5v = {r["label"]: r["values"][-1] for r in t5["rows"]}
    default = "η=0.4, θ=0.6, λ=0.4"
    add("5", "the default η, θ, λ is the best VOC row",
        p5[default] - max(v for k, v in p5.items() if k != default),
        t5v[default] - max(v for k, v in t5v.items() if k != default),
        f"default ({default}) − the best other VOC row")
    add("5", f"no VOC row of η, θ, λ falls more than {ROBUST_DROP:g} points below the default",
        min(p5.values()) - p5[default], min(t5v.values()) - t5v[default],
        "worst VOC row − the default", rule="within")
    t6 = toy("6")
    p6 = [r.values[0] for r in P["6"].rows]
    t6v = [r["values"][0] for r in t6["rows"]]
    add("6", "background queries help", p6[-1] - p6[0], t6v[-1] - t6v[0], "all three groups − None")
    add("6", "all three groups together are best", p6[-1] - max(p6[:-1]), t6v[-1] - max(t6v[:-1]),
        "all three − best other row")
    tI = toy("I")
    seg_unseen, car_unseen = _toy_row(tI, "mask-supervised")[1], _toy_row(tI, "CaR")[1]
    add("I", "CaR beats a mask-supervised model beyond its training vocabulary",
        P["I"].value("CaR(Ours)", "RefCOCO val") - P["I"].value("OVSeg [35]", "RefCOCO val"), car_unseen - seg_unseen,
        "CaR − OVSeg, RefCOCO val (toy: CaR − mask-supervised segmenter, unseen concepts)")
    tJ = toy("J")
    add("J", "CaR beats MaskCLIP without background",
        P["J"].value("CaR (Ours)", "VOC-20") - P["J"].value("MaskCLIP [†] [84]", "VOC-20"),
        _toy_row(tJ, "CaR")[0] - _toy_row(tJ, "MaskCLIP")[0], "CaR − MaskCLIP, VOC-20 (toy: VOC-20-like)")
    return rows
