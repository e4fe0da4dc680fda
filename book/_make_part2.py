"""Generate the Part II chapters (one notebook per paper table): ``python book/_make_part2.py``.

Every chapter shows, side by side: the paper's numbers (car.paper), the toy-world analogue measured by the
current code (car.toy.tables.toy_table, cached by code fingerprint), and the command for each real row with real
numbers when a results JSON of a real run is committed in book/data/real/.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent / "tables"
BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
         "(https://colab.research.google.com/github/car-book/car-book/blob/main/book/tables/{name}.ipynb)")
INSTALL = '''import sys
if "google.colab" in sys.modules:  # Colab: torch is preinstalled; add what Colab lacks
    !pip -q install "car-book @ git+https://github.com/car-book/car-book" pydensecrf2==1.1'''
IMPORTS = '''import warnings
import matplotlib.pyplot as plt
from IPython.display import HTML, display
from car import paper
from car.toy.tables import real_rows, toy_table
from car.viz import bar_chart, table_html

warnings.filterwarnings("ignore", category=UserWarning)
KEY = "{key}"
PAPER = paper.get_table(KEY)'''
SHOW_PAPER = '''display(HTML(table_html(PAPER.columns, [(r.group + " · " + r.label if r.group else r.label, r.values)
                                       for r in PAPER.rows], title=f"Paper, Table {KEY} (numbers as printed)")))'''
SHOW_TOY = '''TOY = toy_table(KEY)  # cached; recomputed automatically when the code or checkpoints change
display(HTML(table_html(TOY["columns"], [(r["label"], r["values"]) for r in TOY["rows"]],
                        title=f"Toy world analogue of Table {KEY} (measured by this build's code, not real CLIP)")))
print(f"toy runs: {TOY['meta']['seconds']} s when computed; code fingerprint {TOY['meta']['fingerprint']}")'''
SHOW_REAL = '''rows = real_rows(KEY)
display(HTML(table_html(["paper cell", "command", "real result"],
                        [(r["preset"], ["<br>".join(r["cells"]), f"<code>{r['command']}</code>",
                                        r["result"] if r["result"] is not None else "no real run committed"])
                         for r in rows], title="Reproducing the real rows")))
if not any(r["result"] is not None for r in rows):
    print("No results JSON from a real run is committed yet: the real column is empty, not guessed.")'''

RECOMPUTE = ("Change one setting of the toy preset (e.g. `theta`) and recompute this table's toy column. What moved?",
             "`from car.toy.tables import TABLES; TABLES['{key}']()` recomputes the rows without touching the cache "
             "(`python -m car toy tables {key}` rewrites the cache). Compare the rows that depend on the changed value.")

CHAPTERS = {
    "1": dict(
        title="Table 1 — zero-shot semantic segmentation",
        about="Table 1 compares CaR with training-free and fine-tuned zero-shot segmenters on eight benchmarks "
              "(VOC-20/21, COCO Object, PC-59/60, A-150, A-847, PC-459). The toy analogue keeps the shape of the "
              "comparison: four toy splits of growing difficulty — the VOC-like split evaluated without and with "
              "background, the things + stuff split, and the cluttered ADE-like split — and CaR against the "
              "training-free dense baseline in the MaskCLIP style (`car.maskclip`), both on the same toy backbone.",
        plot='''labels = TOY["columns"]
fig = bar_chart(labels, {r["label"]: r["values"] for r in TOY["rows"]}, title="Toy world: CaR vs MaskCLIP")
plt.show()''',
        discuss='''maskclip, car = (r["values"] for r in TOY["rows"])
for col, a, b in zip(TOY["columns"], maskclip, car):
    print(f"{col:16s} MaskCLIP {a:5.1f}   CaR {b:5.1f}   difference {b - a:+5.1f}")''',
        why="In the paper CaR beats MaskCLIP by 16–29 mIoU on every benchmark. On the toy world the same comparison "
            "runs with the same code; where the gap differs, remember that the toy CLIPs were trained for minutes on "
            "synthetic captions, so their patch tokens are far less aligned with text than OpenAI CLIP's.",
        exercises=[("Which of the four toy splits is hardest for MaskCLIP, and why would a dense per-patch classifier "
                    "suffer more from clutter than CaR?",
                    "The ADE-like split: more objects per image means more absent *and* present queries compete at every "
                    "patch; CaR first removes absent queries with the classifier, so the remaining ones compete less."),
                   ("Run `python -m car evaluate --config toy_context --limit 20` and compare with the table.",
                    "The command uses the same runner as this chapter; with 20 images the number is noisier than the "
                    "table's (which uses the first images of the split, see `car.toy.tables.LIMITS`).")]),
    "2": dict(
        title="Table 2 — the recurrence and the CAM method",
        about="Table 2 shows that the recurrence is what makes CaR work: with one step (T = 1) CaR is CLIP-ES plus one "
              "classifier pass (15.2 mIoU on VOC); recurring until no query is removed gives 67.6; replacing CLIP-ES's "
              "CAM + class-aware affinity by plain grad-CAM drops to 41.1. The toy analogue runs the same three settings "
              "on the VOC-like toy split with `load_config('toy_voc').replace(recurrence=False)` and `cam_method='gradcam'`.",
        plot='''labels = [r["label"] for r in TOY["rows"]]
paper_values = [r.values[-1] for r in PAPER.rows] + [None, None]  # the two extra toy rows have no paper counterpart
fig = bar_chart(labels, {"paper (real CLIP, VOC)": paper_values,
                         "toy world": [r["values"][-1] for r in TOY["rows"]]}, title="Table 2: paper vs toy")
plt.show()''',
        discuss='''t1, full, grad, t1_grad, pruned_once = (r["values"][-1] for r in TOY["rows"])
print(f"toy, CAA proposals: recurrence adds {full - t1:+.1f} mIoU (paper: +52.4)")
print(f"toy, grad-CAM proposals: recurrence adds {grad - t1_grad:+.1f} mIoU")
print(f"toy, grad-CAM: full recurrence minus one pruned step {grad - pruned_once:+.1f} mIoU")
print(f"toy: CAA minus grad-CAM (both recurrent) {full - grad:+.1f} (paper: +26.5)")''',
        why="Why T = 1 is so much worse: Algorithm 1 stopped after one step hands `post_process` the proposal of "
            "*every* query, and min–max normalisation gives each absent query a full-strength map, so absent "
            "queries claim pixels of real objects and of the background in the final argmax. The recurrence lets "
            "the classifier remove them, then recomputes the CAMs of the survivors without them. The toy world "
            "agrees that the recurrence is vital (grad-CAM rows). **Where it disagrees**: (1) the tiny CLIPs' "
            "attention is not object-aligned (they were trained minutes, with mean-of-patches pooling), so CAA's "
            "affinity spreads each map over the whole image and CAA is *worse* than plain grad-CAM there — the "
            "opposite of the paper; the toy presets therefore propose with grad-CAM. (2) In the toy world one "
            "pruned step (`max_steps=1`, extra last row) is about as good as the full recurrence: the whole gain "
            "comes from *removing* absent queries, almost none from recomputing the survivors' CAMs. Measured: at "
            "toy-b's own logit scale the absent queries hold about 12 % of the softmax over whole toy images, so "
            "removing them changes the present queries' maps little. Real CLIP's embeddings of related classes "
            "(cat, dog) are far closer, which is where the second CAM is expected to matter — a hypothesis: the "
            "paper reports no pruned-step row. See the recurrence chapter for the "
            "step-by-step figure and the ledger for the official loop's 'at least two steps' rule.",
        exercises=[("Set `max_steps=2` on the toy config and compare with the full recurrence.",
                    "`load_config('toy_voc').replace(max_steps=2)`; on VOC most images stop after two steps, so the "
                    "difference is small — the paper says the same for VOC and COCO."),
                   ("Why can plain grad-CAM proposals hurt the *classifier* too, not only the final masks?",
                    "Blurry, spread-out proposals make the visual prompts (circle, blur) highlight the wrong region, so "
                    "the classifier scores the wrong content and may keep absent or drop present queries.")]),
    "3": dict(
        title="Table 3 — which CLIP proposes, which CLIP classifies",
        about="Table 3 crosses the backbone of the mask proposal generator f and of the mask classifier g: ViT-B/16 "
              "proposes better than ViT-L/14, and ViT-L/14 classifies better. The toy analogue crosses the two "
              "tiny CLIPs, toy-b (4 blocks x 128) and toy-l (6 blocks x 192).",
        plot='''labels = [r["label"] for r in TOY["rows"]]
fig = bar_chart(labels, {"toy world": [r["values"][-1] for r in TOY["rows"]]}, title="Table 3 analogue (toy)")
plt.show()''',
        discuss='''for r in TOY["rows"]:
    print(f'{r["label"]:28s} {r["values"][-1]:5.1f}')''',
        why="The paper's explanation: larger CLIPs read visual prompts better (Shtedritski et al.), while the smaller "
            "ViT-B/16 has a finer token grid per pixel of input and cleaner CAMs. The toy models share the patch size, so "
            "only capacity and training length differ — toy-l was trained for half the steps of toy-b (600 vs 1,200) "
            "within its time budget, which can reverse the trend; compare the training curves in the toy-world "
            "chapter. This is also why the toy presets classify with toy-b.",
        exercises=[("Which of the two effects (proposal quality, classifier quality) does the toy table isolate best?",
                    "Compare rows with the same g and different f (proposal effect) and rows with the same f and "
                    "different g (classifier effect).")]),
    "4": dict(
        title="Table 4 — visual prompts",
        about="Table 4 ablates the visual prompt drawn on the image before the classifier scores a mask: circle, "
              "contour, background blur, gray background, black mask and pairs. Circle + blur is best (67.6) and mask "
              "alone worst (61.8) on VOC. The toy analogue runs exactly the rows of the paper's table. The toy CLIPs "
              "saw each prompt kind equally often in training (see the toy-world chapter), so no prompt is favoured "
              "by construction.",
        plot='''labels = [r["label"] for r in TOY["rows"]]
fig = bar_chart(labels, {"paper (real CLIP, VOC)": [r.values[0] for r in PAPER.rows],
                         "toy world": [r["values"][0] for r in TOY["rows"]]}, title="Table 4: paper vs toy")
plt.show()''',
        discuss='''best = max(TOY["rows"], key=lambda r: r["values"][0]); worst = min(TOY["rows"], key=lambda r: r["values"][0])
print(f"toy best: {best['label']} ({best['values'][0]}); toy worst: {worst['label']} ({worst['values'][0]})")''',
        why="Prompts that keep the context (circle, contour, blur) help real CLIP because it recognises objects "
            "from their surroundings; blacking out the background makes the crop unnatural. In the toy world context "
            "matters less (a shape's colour and outline identify it), so expect smaller differences. The toy presets "
            "use the toy world's best prompt (mask), chosen from this ablation the way the paper chose circle + blur "
            "from its own; the paper's VOC combination is the row 'circle + blur'.",
        exercises=[("Add a 'box' prompt (our name for the official 'rectangle') to the toy runs.",
                    "`load_config('toy_voc').replace(prompts=('box',))` and evaluate with `car.evaluate.run_config`.")]),
    "5": dict(
        title="Table 5 — hyper-parameters η, θ, λ",
        about="Table 5 varies η (binarising proposals for the prompts), θ (removing queries, Eq. 6) and λ (CLIP-ES's box "
              "threshold in CAA). On VOC the paper's mIoU stays within 67.0–67.6. The toy analogue runs the same VOC "
              "rows on the VOC-like split.",
        plot='''labels = [r["label"] for r in TOY["rows"]]
fig = bar_chart(labels, {"paper (real CLIP, VOC)": [r.values[-1] for r in PAPER.rows if r.group == "Pascal VOC"],
                         "toy world": [r["values"][-1] for r in TOY["rows"]]}, title="Table 5 (VOC rows): paper vs toy")
plt.show()''',
        discuss='''vals = [r["values"][-1] for r in TOY["rows"]]
print(f"toy range: {min(vals):.1f}–{max(vals):.1f} mIoU (paper VOC: 67.0–67.6)")''',
        why="λ only shapes CAA's boxes, and the toy presets propose with grad-CAM (see Table 2), so the λ rows of the "
            "toy column coincide — an honest null, not a bug. θ matters most in both worlds: it decides which queries survive. A flat curve means the classifier's "
            "scores are well separated (present queries far above θ, absent ones far below).",
        exercises=[("Which parameter does the toy world react to most strongly? Relate it to the classifier.",
                    "Look at the rows that change θ: the toy classifier's scores are less separated than real "
                    "CLIP ViT-L/14's, so the threshold matters more.")]),
    "6": dict(
        title="Table 6 — background queries",
        about="Table 6 adds groups of background queries (Terrestrial, Aquatic-Atmospheric, Man-Made; paper Supp. D) "
              "to the CAM softmax: each group helps and all three together are best (64.3 → 67.6 on VOC). The toy "
              "analogue uses the toy stuff families as the three groups.",
        plot='''labels = [r["label"] for r in TOY["rows"]]
fig = bar_chart(labels, {"paper (real CLIP, VOC)": [r.values[0] for r in PAPER.rows],
                         "toy world": [r["values"][0] for r in TOY["rows"]]}, title="Table 6: paper vs toy")
plt.show()''',
        discuss='''none, allg = TOY["rows"][0]["values"][0], TOY["rows"][-1]["values"][0]
print(f"toy: no background {none:.1f} → all groups {allg:.1f} ({allg - none:+.1f}; paper +3.3)")''',
        why="Background queries take the probability mass of pixels that belong to no user query, so the CAMs of the "
            "user's queries stop lighting up the background. In the toy world the backgrounds *are* the stuff "
            "textures, so the family that matches an image's texture matters most.",
        exercises=[("Why must a background query never equal a user query? Check `car.vocab.background_queries`.",
                    "Both would share the softmax mass of the same pixels and split the CAM; the function drops "
                    "background words that equal a query.")]),
    "7": dict(
        title="Tables 7 and I — referring image segmentation",
        about="Table 7 evaluates CaR on RefCOCO, RefCOCO+, RefCOCOg and GRES in mIoU; Table I compares it with the "
              "mask-supervised OVSeg. Referring mode runs one CAM per expression against the background queries. The "
              "toy analogue uses toy referring expressions ('the large red circle', 'the blue square on the left'); "
              "for Table I, a mask-supervised toy segmenter (`car.toy.segmenter`: the frozen toy-b CLIP plus a dense "
              "head trained with the masks of 16 of the 24 concepts — the stand-in for OVSeg, which adapts CLIP with "
              "COCO's masks) against CaR, on expressions about seen and about unseen concepts.",
        plot='''mi = paper.get_table("I")
display(HTML(table_html(mi.columns, [(r.label, r.values) for r in mi.rows], title="Paper, Table I")))
TOY_I = toy_table("I")  # cached like TOY; the segmenter is the shipped car/toy/checkpoints/toy-seg.pt
display(HTML(table_html(TOY_I["columns"], [(r["label"], r["values"]) for r in TOY_I["rows"]],
                        title="Toy world analogue of Table I (measured by this build's code, not real CLIP)")))
fig = bar_chart(TOY_I["columns"], {r["label"]: r["values"] for r in TOY_I["rows"]},
                title="Table I analogue (toy): referring mIoU on seen and unseen concepts")
plt.show()''',
        discuss='''print(f"toy referring (Table 7): mIoU {TOY['rows'][0]['values'][0]}, cIoU {TOY['rows'][0]['values'][1]}")
(seg_seen, seg_unseen), (car_seen, car_unseen) = (r["values"] for r in TOY_I["rows"])
print(f"mask-supervised toy segmenter: seen {seg_seen}, unseen {seg_unseen} ({seg_unseen - seg_seen:+.1f} off its training set)")
print(f"CaR (no training):             seen {car_seen}, unseen {car_unseen}")
print(f"CaR minus segmenter: seen {car_seen - seg_seen:+.1f}, unseen {car_unseen - seg_unseen:+.1f} (paper, OVSeg: CaR ahead on every split)")''',
        why="Referring expressions need relations (size, left/right) that CLIP-style models learn weakly — the paper's "
            "limitation section names left/right, which CLIP's flip augmentation blurs. The toy CLIPs were trained "
            "without flips, so left/right is learnable for them. **Table I in the toy world** separates the two "
            "sides of the paper's argument. On concepts it was trained on, the mask-supervised segmenter is far "
            "better than CaR: dense supervision teaches exactly what the toy CLIP's CAMs only approximate. On "
            "concepts it never saw, it loses most of that lead and falls to about CaR's level — its head maps pixels "
            "onto the text embeddings of the 16 seen concepts, and the unseen ones (purple, orange) are off that "
            "map. CaR, which was never trained on masks, does not care which concepts are 'seen'. The paper's "
            "claim — CaR ahead of OVSeg on referring benchmarks whose vocabulary is broader than COCO's — is the "
            "unseen column; in the toy world the margin there is small, and the seen column shows what CaR "
            "gives up.",
        exercises=[("Why do the official RefCOCO configs use the ViT-B/16 classifier instead of ViT-L/14?",
                    "The paper found B/16 sufficient for referring; with one sentence per CAM the classifier's job is "
                    "mostly to rank sentences of one object, not to reject many absent classes."),
                   ("Retrain the toy segmenter on *all* 24 concepts and recompute Table I. What should happen to the "
                    "unseen column, and why is that no longer a zero-shot comparison?",
                    "`car.toy.segmenter.SEEN_COLOURS` sets the seen colours; with every colour seen "
                    "(`python -m car toy train-seg` after editing it, about a minute) the unseen column becomes "
                    "seen and rises towards the seen one. The paper notes the same caveat for OVSeg: RefCOCO shares "
                    "COCO's images, so OVSeg's COCO training is not strictly zero-shot there.")]),
    "8": dict(
        title="Table 8 — referring video segmentation (Ref-DAVIS 2017)",
        about="Table 8 reports J, F and J&F on Ref-DAVIS 2017 (30.34 J&F). No video code was released with the paper; "
              "`car` segments each frame with the expression (referring mode) and scores with the standard DAVIS "
              "region (J) and boundary (F) measures (`car.metrics.davis_jf`). The toy analogue: short videos of moving "
              "shapes.",
        plot='''labels = TOY["columns"]
fig = bar_chart(labels, {"paper (real CLIP)": list(PAPER.rows[-1].values), "toy world": TOY["rows"][0]["values"]},
                title="Table 8: paper vs toy")
plt.show()''',
        discuss='''print("toy J&F, J, F:", TOY["rows"][0]["values"])''',
        why="Frame-by-frame segmentation ignores time; J&F rewards temporally consistent masks only through "
            "per-frame accuracy. A tracker or mask propagation is the obvious extension.",
        exercises=[("What would change if the recurrence's query set were carried from frame to frame?",
                    "Frames after the first would start from the surviving queries — the RNN view across time, "
                    "which the paper suggests but does not evaluate.")]),
    "J": dict(
        title="Table J — evaluation without background",
        about="Table J compares methods on VOC-20 and Context-59, where only pixels with a non-background ground truth "
              "count. The official code also drops pixels *predicted* as background (lenient); `car.metrics` "
              "offers both rules (`mode='official'` and `mode='gt_only'`). The toy analogue: the VOC-like and "
              "things + stuff splits without background.",
        plot='''labels = TOY["columns"]
fig = bar_chart(labels, {r["label"]: r["values"] for r in TOY["rows"]}, title="Table J analogue (toy)")
plt.show()''',
        discuss='''for r in TOY["rows"]:
    print(r["label"], r["values"])''',
        why="Ignoring background removes the hardest decision (object or not) from the metric, which is why VOC-20 "
            "numbers are much higher than VOC-21 in Table 1.",
        exercises=[("Why is the official rule lenient?",
                    "A pixel of a real object predicted as background is dropped instead of counted as a miss, so "
                    "under-segmentation costs nothing.")]),
}


def chapter(key: str, spec: dict) -> nbformat.NotebookNode:
    name = f"table{key}"
    cells = [
        new_markdown_cell(f"# {spec['title']}\n\n{BADGE.format(name=name)}\n\n{spec['about']}\n\n"
                          "**This chapter shows** the paper's numbers, the toy-world analogue measured by the current "
                          "code, and the command for every real row. **CPU budget:** under 10 s with the cache, under "
                          "3 minutes when the toy runs are recomputed. Settings that differ between paper and official "
                          "code are listed in the [reproduction ledger](ledger.md)."),
        new_code_cell(INSTALL),
        new_code_cell(IMPORTS.format(key=key)),
        new_markdown_cell("## 1. The paper's numbers\n\nStored in `car.paper` exactly as printed (tests check them "
                          "against the paper's text)."),
        new_code_cell(SHOW_PAPER),
        new_markdown_cell("## 2. The toy-world analogue\n\nEach number below is a run of `car.evaluate` on a toy split "
                          "with the settings of the row — nothing is typed in. Toy numbers are **not** comparable "
                          "in size with the paper's: compare trends, not values."),
        new_code_cell(SHOW_TOY),
        new_code_cell(spec["plot"]),
        new_code_cell(spec["discuss"]),
        new_markdown_cell(f"## 3. Why\n\n{spec['why']}"),
        new_markdown_cell("## 4. Reproducing the real rows\n\nWith the dataset on disk and internet for the CLIP "
                          "weights (or cached weights), each command below reproduces one row; its results JSON, "
                          "committed under `book/data/real/`, fills the last column."),
        new_code_cell(SHOW_REAL),
        new_markdown_cell("## Summary\n\n" + spec["about"].split(".")[0] + ". The toy analogue above was measured "
                          "by this build; the real rows await a run with weights and data."),
        new_markdown_cell("## Exercises\n\n" + "\n\n".join(
            f"{i}. {q}\n\n```{{admonition}} Solution\n:class: dropdown\n{a}\n```"
            for i, (q, a) in enumerate(spec["exercises"] + [tuple(t.format(key=key) for t in RECOMPUTE)][: max(0, 2 - len(spec["exercises"]))], 1))),
    ]
    nb = new_notebook(cells=cells)
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name}-{i:02d}"  # stable ids: regenerating gives identical files
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}  # `!pip` lexes without a warning
    return nb


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for key, spec in CHAPTERS.items():
        nbformat.write(chapter(key, spec), HERE / f"table{key}.ipynb")


if __name__ == "__main__":
    main()
