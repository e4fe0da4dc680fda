"""Write the notebooks of the book's part I (the method chapters), stored without outputs.

    python book/_make_part1.py            # (re)write book/*.ipynb of part I
    python book/_make_part1.py --out DIR  # write them elsewhere (tests compare the two)

One function per chapter returns its cells; :func:`chapter` adds the shared skeleton (title, Colab badge,
overview, what the chapter shows with its CPU budget, the Colab-only install cell and the world cell) and
:func:`exercises` the closing section. Edit this file, not the notebooks, and regenerate.
"""
from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

BOOK = Path(__file__).resolve().parent
REPO_URL = "https://github.com/car-book/car-book"
COLAB = "https://colab.research.google.com/github/car-book/car-book/blob/main/book/{name}.ipynb"
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}

INSTALL = '''\
import sys
if "google.colab" in sys.modules:  # Colab: torch is preinstalled; add what Colab lacks
    !pip -q install "car-book @ git+https://github.com/car-book/car-book" pydensecrf2==1.1'''

WORLD = '''\
%matplotlib inline
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import torch

import car
import car.viz
import car.figures
from car import CaR, load_clip, load_config
from car.backbones import weights_available

torch.manual_seed(0)
rng = np.random.default_rng(0)
REAL = weights_available("ViT-B-16", "openai") and weights_available("ViT-L-14", "openai")
WORLD = "real CLIP" if REAL else "toy world"  # every figure title says which world it comes from
print("World:", "real CLIP (ViT-B/16 proposals, ViT-L/14 classifier)" if REAL else
      "toy world (no CLIP weights here: the tiny CLIPs shipped with car)")'''


def md(text: str):
    return new_markdown_cell(textwrap.dedent(text).strip("\n"))


def code(text: str):
    return new_code_cell(textwrap.dedent(text).strip("\n"))


def chapter(name: str, title: str, overview: str, shows: list[str], budget: str, cells: list) -> nbformat.NotebookNode:
    """A notebook with the shared skeleton around ``cells`` (which end with the Summary and Exercises)."""
    head = [
        md(f"# {title}\n\n" + BADGE.format(url=COLAB.format(name=name))),
        md(overview),
        md("**What this chapter shows**\n\n" + "\n".join(f"- {s}" for s in shows)
           + f"\n\n*CPU budget:* {budget}"),
        code(INSTALL),
        code(WORLD),
    ]
    nb = new_notebook(cells=head + cells)
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}  # lexes the !pip line
    return nb


def exercises(items: list[tuple[str, str]]) -> list:
    """## Exercises: each (question, solution) with the solution in a collapsed admonition."""
    parts = ["## Exercises"]
    for i, (question, solution) in enumerate(items, 1):
        q = textwrap.dedent(question).strip()
        s = textwrap.dedent(solution).strip()
        # four backticks: solutions contain ```python blocks, which a three-backtick fence would end early
        parts.append(f"**{i}.** {q}\n\n````{{admonition}} Solution\n:class: dropdown\n{s}\n````")
    return [md("\n\n".join(parts))]


def budget(seconds: int, no_training: bool = False) -> str:
    """The CPU-budget line, with the time measured by executing the chapter (nbclient, 2 cores, idle machine)."""
    return (f"under 30 s on 2 CPU cores in the toy world{' (no training)' if no_training else ''} — measured "
            f"{seconds} s including kernel start and model loading on an idle machine; allow a few times more "
            "on a busy one.")


def summary(points: list[str]) -> list:
    return [md("## Summary\n\n" + "\n".join(f"- {p}" for p in points))]


# ============================================================================================ chapters
def quickstart():
    cells = [
        md("""
        ## 1. A scene and a few queries

        The toy world draws coloured shapes on textured backgrounds with exact ground truth (chapter
        [The toy world](toy_world.ipynb)). We build one scene by hand: a red circle and a blue square on grass.
        In the real world the same scene is drawn at photo size (448 pixels) for the real CLIP models.
        """),
        code("""
        from car.toy.scenes import Scene, Thing, render

        def make_scene(size: int) -> np.ndarray:
            s = size / 64  # positions and radii are given for a 64-pixel image
            things = (Thing("red", "circle", "large", 20 * s, 22 * s, 15 * s),
                      Thing("blue", "square", "medium", 44 * s, 43 * s, 11 * s))
            return render(Scene(size, ("grass",), 0.5, things, seed=7)).image  # uint8 (H, W, 3) RGB

        image = make_scene(64)
        queries = ["red circle", "blue square", "yellow cross", "green triangle"]  # two present, two absent
        car.viz.show_images([image], ["toy world: the input (64 x 64)"], size=3)
        plt.show()
        """),
        md("""
        ## 2. Segment it in five lines

        `CaR.from_config` reads a preset (a frozen `CaRConfig`) and loads its two CLIP models: the mask
        proposal generator $f$ and the mask classifier $g$ of Eq. 3 and Eq. 5 — ViT-B/16 and ViT-L/14 in the
        paper (§4.1). The toy world's main preset `toy_voc` keeps the paper's VOC values
        $\\eta, \\theta, \\lambda = 0.4, 0.6, 0.4$; which tiny CLIPs it uses, and the measured reasons for
        its departures from the paper, are in its description (printed below; Part II shows the measurements).
        """),
        code("""
        from car import CaR

        model = CaR.from_config("toy_voc")          # the toy world's main preset
        result = model(image, queries)              # Algorithm 1, then the dense CRF of §3.4
        print("kept:", result.kept, "| steps:", len(result.steps), "| labels:", result.labels.shape)
        """),
        code("""
        cfg = model.config
        print(f"f = {model.proposal.name}, g = {model.classifier.name}, proposals: {cfg.cam_method}, "
              f"prompts: {' + '.join(cfg.prompts)}\\n")
        print(textwrap.fill(cfg.description, 100))
        """),
        md("""
        With real CLIP weights (Colab), the same lines run the paper's models; `voc` is the preset of the
        paper's Pascal VOC setting.
        """),
        code("""
        if REAL:
            photo = make_scene(448)                 # the same scene at photo size
            real_model = CaR.from_config("voc")     # ViT-B/16 proposes, ViT-L/14 classifies
            real_result = real_model(photo, queries)
            print("real CLIP kept:", real_result.kept)
        """),
        md("""
        ## 3. What comes out

        `result.labels` is an int64 (H, W) map: the index of the winning query, −1 for background.
        `result.masks` holds one bool mask per query (empty for removed queries), `result.scores` the
        classifier's last score $P_{ii}$ (0 for removed queries) and `result.steps` the recurrence step by
        step. The overlay colours each query's pixels; the legend names the queries that won pixels.
        """),
        code("""
        runs = {"toy world": (image, result)}             # the world each result comes from
        if REAL:
            runs["real CLIP"] = (photo, real_result)
        for world, (img, res) in runs.items():
            nothing = np.full(img.shape[:2], -1)          # an empty label map: shows the input
            car.figures.show_label_maps(img, [nothing, res.labels], queries,
                                        ["input", f"{world}: CaR kept {', '.join(res.kept)}"])
            plt.show()
        """),
        code("""
        car.figures.Table(
            ["world", "query", "final score P_ii", "kept", "pixels"],
            [[world, q, float(s), "yes" if s > 0 else "no", int(m.sum())]
             for world, (_, res) in runs.items() for q, s, m in zip(res.queries, res.scores, res.masks)],
            caption="one row per query")
        """),
        code("""
        car.figures.Table(
            ["world", "step", "queries in (h_{t-1})", "kept (h_t)", "removed"],
            [[world, t, len(s.queries), ", ".join(q for q, k in zip(s.queries, s.kept) if k),
              ", ".join(q for q, k in zip(s.queries, s.kept) if not k) or "-"]
             for world, (_, res) in runs.items() for t, s in enumerate(res.steps, 1)],
            caption="the recurrence (Algorithm 1) step by step")
        """),
        md("""
        The recurrence stopped when a step removed nothing ($h_t = h_{t-1}$). Chapter
        [The recurrence](recurrence.ipynb) opens this loop up.

        ## 4. The same from the command line

        `python -m car segment` runs exactly this: it prints the kept and removed queries of every step and
        writes a label PNG (0 = background, *i* = query *i*) and an overlay with a legend. We run it in a
        scratch folder on the saved scene:

        ```bash
        python -m car segment toy.png --queries "red circle,blue square" --config toy_voc --out results/segment
        ```
        """),
        code("""
        import os
        import subprocess
        import tempfile
        from pathlib import Path

        from PIL import Image

        work = Path(tempfile.mkdtemp())             # scratch folder: the book's folder stays clean
        Image.fromarray(image).save(work / "toy.png")
        cmd = [sys.executable, "-m", "car", "segment", "toy.png", "--queries", "red circle,blue square",
               "--config", "toy_voc", "--out", "results/segment"]
        # the subprocess must import the same car as this kernel
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(car.__file__).parents[1]),
                                                           os.environ.get("PYTHONPATH", "")]))
        run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        print("$ python -m car segment toy.png --queries \\"red circle,blue square\\" --config toy_voc --out results/segment")
        print(run.stdout)
        """),
        code("""
        overlay_png = np.asarray(Image.open(work / "results" / "segment" / "toy_overlay.png"))
        car.viz.show_images([overlay_png], ["toy world: results/segment/toy_overlay.png"], size=4)
        plt.show()
        """),
        *summary([
            "`CaR.from_config(name)` builds the whole method from a preset; `model(image, queries)` returns a "
            "`Result` with labels, masks, scores and the recurrence history.",
            "Queries are free text; absent ones are removed by the classifier step by step (Eq. 6), so listing "
            "more queries than the image holds is expected usage.",
            "`python -m car segment IMAGE --queries ... --config ...` is the same call from a shell.",
            "Every result in this chapter comes from the toy world unless the world cell printed *real CLIP*.",
        ]),
        *exercises([
            ("Add the query `\"Space Needle\"` to `queries`. What happens to it, and why can the toy world not "
             "say anything about proper nouns?",
             """
             ```python
             r = model(image, queries + ["Space Needle"])
             print(r.kept)
             print(model.classifier.tokenizer.unknown_words("Space Needle"))
             ```
             The toy vocabulary has no such words: both become `<unk>`, so the query is a meaningless text
             embedding; its classifier score stays low and it is removed (usually at step 1). Real CLIP knows
             the landmark (paper Fig. 1); this is exactly what the toy world *cannot* show.
             """),
            ("Raise θ to 0.9 and lower it to 0.1 (`CaR.from_config(\"toy_voc\", theta=...)`). How do the number "
             "of steps and the kept queries change?",
             """
             ```python
             for theta in (0.1, 0.6, 0.9):
                 r = CaR.from_config("toy_voc", theta=theta)(image, queries)
                 print(theta, len(r.steps), r.kept)
             ```
             A low θ keeps absent queries (their masks then steal pixels); a high θ removes more queries per
             step and may drop a present one. With the official rule the set is never empty: if nothing
             passes, the best-scoring query is kept.
             """),
            ("Run the command-line tool with `--theta 0.3` and compare the printed steps with the default.",
             """
             Add `"--theta", "0.3"` to `cmd` and rerun the cell. Fewer queries are removed per step, so the
             recurrence may stop one step earlier; the overlay shows whichever queries survive.
             """),
        ]),
    ]
    return chapter(
        "quickstart", "Quickstart: segment an image with text",
        """
        CaR (*CLIP as RNN*, Sun et al., CVPR 2024) segments an image from free-form text queries with frozen
        CLIP models and no training: a first CLIP proposes one mask per query (grad-CAM, §3.3), a second
        CLIP scores each mask through a visual prompt (Eq. 5), queries scoring below θ are removed (Eq. 6)
        and the rest go round again (Algorithm 1). This chapter runs the whole method on one image — from
        Python in five lines, then from the command line.
        """,
        ["the five-line Python call and its result record (labels, masks, scores, steps);",
         "an overlay with a legend, a per-query table and a per-step table;",
         "the equivalent `python -m car segment` command, run on a saved image."],
        budget(12), cells)


def clip_chapter():
    cells = [
        md("""
        ## 1. Images and texts in one embedding space

        CLIP maps an image $x$ and a text $h$ to unit vectors $v_x$ and $v_h$; their score is
        $s = e^{\\tau} \\cos(v_x, v_h)$ with a learned temperature ($e^{\\tau} = 100$ for OpenAI CLIP). A softmax
        over several texts turns scores into probabilities — CaR's classifier (Eq. 5) is exactly this,
        applied to prompted images. In `car`: `car.classifier.encode_images`, `car.backbones.encode_text`
        and `bundle.logit_scale`.
        """),
        code("""
        from car.toy.scenes import THINGS, render, sample_scene
        from car.backbones import encode_text
        from car.classifier import encode_images, preprocess

        preset = load_config("voc" if REAL else "toy_voc")
        clip = load_clip(preset.classifier_model, preset.classifier_pretrained)   # the preset's classifier g
        SIZE = 224 if REAL else 64                    # each model's training resolution
        SKIP = preset.classifier_skip_last_block      # the official classifier drops the last block of OpenAI CLIP

        def single_thing(concept: str, seed: int) -> np.ndarray:
            r = np.random.default_rng(seed)
            return render(sample_scene(r, size=SIZE, num_things=(1, 1), things=(concept,))).image

        shown = ["red circle", "blue square", "green triangle", "yellow cross", "purple circle", "orange square"]
        images = np.stack([single_thing(c, i) for i, c in enumerate(shown)])
        img = encode_images(clip, preprocess(clip, images), skip_last_block=SKIP)     # (6, D), unit norm
        txt = encode_text(clip, [f"a photo of a {c}." for c in shown])               # (6, D), unit norm
        probs = torch.softmax(clip.logit_scale * img @ txt.T, dim=-1)               # softmax over the texts
        fig = car.viz.show_images(list(images), shown, cols=6, size=1.6, suptitle=f"{WORLD}: six images")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        code("""
        car.figures.plot_matrix(probs.numpy(), [f"image: {c}" for c in shown], [f"text: {c}" for c in shown],
                                title=f"{WORLD}: softmax over texts (e^τ = {clip.logit_scale:.0f})",
                                annotate=True, vmin=0, vmax=1)
        plt.show()
        """),
        md("""
        A bright diagonal means each image is matched to its own text. CaR reads exactly such a diagonal:
        $P_{ii}$ of Eq. 6 is the probability that prompted image *i* shows query *i*.

        ## 2. Prompt templates

        A class name alone is a poor sentence; CLIP was trained on captions. The official code scores every
        query with 15 templates (`car.vocab.OFFICIAL_TEMPLATES`, copied verbatim — four of them lack the final
        period) and combines them. The toy CLIPs were trained with the same templates around their captions,
        so "a clean origami red circle." is an in-distribution sentence for them.
        """),
        code("""
        from car.vocab import OFFICIAL_TEMPLATES

        car.figures.Table(["#", "template"], [[i, t] for i, t in enumerate(OFFICIAL_TEMPLATES, 1)],
                          caption="the 15 classifier templates of every official semantic config")
        """),
        md("""
        We measure zero-shot classification of 96 single-object images (4 per concept, 24 concepts) with each
        template alone and with the two ways of combining them — top-1 accuracy, and the mean probability given
        to the true class (accuracy can saturate on easy images while the probability, which is what CaR
        compares with θ, still moves):

        - **paper** (§3.3): one softmax of the cosine to the *averaged* text embedding;
        - **official** (the code): $P = \\mathrm{softmax}_j\\big(\\sum_t \\mathrm{softmax}_j(s_{tj})\\big)$, a
          double softmax — `car.classifier.mask_scores(..., rule="official")`.
        """),
        code("""
        from car.classifier import mask_scores

        concepts = list(THINGS)
        truth = np.repeat(np.arange(len(concepts)), 4)
        test_images = np.stack([single_thing(c, 100 + 4 * i + k) for i, c in enumerate(concepts) for k in range(4)])
        test_img = encode_images(clip, preprocess(clip, test_images), skip_last_block=SKIP)       # (96, D)
        text = torch.stack([encode_text(clip, [t.format(c) for c in concepts]) for t in OFFICIAL_TEMPLATES])  # (15, 24, D)

        probs_by = {f"#{i + 1}": torch.softmax(clip.logit_scale * test_img @ text[i].T, -1)     # one template
                    for i in range(len(OFFICIAL_TEMPLATES))}
        for rule in ("paper", "official"):
            probs_by[rule] = mask_scores(test_img, text, clip.logit_scale, rule)                    # (96, 24)
        rows = np.arange(len(truth))
        car.figures.plot_bars(list(probs_by), {
            "top-1 accuracy": [float((p.argmax(1).numpy() == truth).mean()) for p in probs_by.values()],
            "mean probability of the true class": [float(p[rows, truth].mean()) for p in probs_by.values()]},
            "", title=f"{WORLD}: zero-shot classification per template and ensemble (24 classes, 96 images)",
            rotation=0)
        plt.show()
        """),
        md("""
        ## 3. Zero-shot classification, class by class

        The confusion matrix of the official ensemble shows *which* concepts the model mixes up: a clean
        diagonal means none; off-diagonal mass inside a colour (same row block) or across the same shape shows
        which attribute the model relies on.
        """),
        code("""
        pred = mask_scores(test_img, text, clip.logit_scale, "official").argmax(1).numpy()
        confusion = np.zeros((len(concepts), len(concepts)))
        np.add.at(confusion, (truth, pred), 1)
        car.figures.plot_confusion(confusion, concepts,
                                   title=f"{WORLD}: zero-shot confusion, official 15-template ensemble")
        plt.show()
        """),
        md("""
        Whole-image classification is not segmentation: CLIP says *what* is in the picture, not *where*. The
        next chapter ([grad-CAM](cam.ipynb)) asks the gradient of these very scores *where* they come from.
        """),
        *summary([
            "CLIP scores an image–text pair with $e^{\\tau}\\cos(v_x, v_h)$; a softmax over texts gives class "
            "probabilities (`encode_images`, `encode_text`, `logit_scale`).",
            "Templates matter; CaR's classifier uses the 15 official templates and the official *double softmax* "
            "(`mask_scores(rule=\"official\")`), which differs from the paper's averaged embedding (`rule=\"paper\"`).",
            "The mask classifier of Eq. 5 is this zero-shot classifier run on prompted images; its diagonal "
            "$P_{ii}$ decides which queries survive.",
        ]),
        *exercises([
            ("Change the temperature: compute the official ensemble accuracy with `logit_scale` 1, 10 and 100. "
             "Does the argmax change? Does the *score* $P_{ii}$ (which CaR compares with θ) change?",
             """
             ```python
             for s in (1.0, 10.0, 100.0):
                 p = mask_scores(test_img, text, s, "official")
                 print(s, (p.argmax(1).numpy() == truth).mean(), p.max(1).values.mean().item())
             ```
             The per-template softmaxes flatten at low temperature, so the summed scores get closer and the
             second softmax gives smaller maxima: θ is tied to the temperature. The argmax can change too,
             because a sum of softmaxes is not monotone in the logits across templates.
             """),
            ("Which template works best on its own in this world, and is the ensemble better than the best "
             "single template? Why might the answer differ for real CLIP?",
             """
             Read the bar chart, accuracy and probability. The toy CLIPs saw every template equally often in
             training, so the templates are nearly interchangeable and the ensemble mostly averages out noise;
             note that the official double softmax compresses probabilities (a sum of 15 softmaxes lies in
             [0, 15] before the second softmax). Real CLIP saw web captions;
             templates such as "a photo of a {}." match that distribution better, and ensembling is known to add
             a few points of ImageNet accuracy (Radford et al., 2021).
             """),
            ("Classify the six images with the classifier's last block kept and dropped "
             "(`skip_last_block=True/False`). Which one does CaR use for the toy models, and why?",
             """
             ```python
             for skip in (False, True):
                 e = encode_images(clip, preprocess(clip, images), skip_last_block=skip)
                 print(skip, (e @ txt.T).argmax(1).tolist())
             ```
             The official classifier takes OpenAI CLIP's CLS token after block L−1 (a CLIP-ES wrapper quirk,
             kept for real CLIP as `classifier_skip_last_block=True`). The toy CLIPs pool patch tokens and were
             trained end to end with all blocks, so the toy presets keep every block.
             """),
        ]),
    ]
    return chapter(
        "clip", "CLIP: image–text similarity and zero-shot classification",
        """
        Both halves of CaR's segmenter are CLIP models used as they were trained: a frozen image encoder and a
        frozen text encoder whose cosine similarity says how well a text describes an image (paper §3.3, §4.1).
        This chapter measures that similarity, the effect of the 15 official prompt templates, and the
        zero-shot classification that the mask classifier $g$ (Eq. 5) performs on every prompted image.
        """,
        ["the image–text similarity matrix and its softmax;",
         "the 15 official templates, and zero-shot accuracy per template and for the two ensembles (paper vs code);",
         "a confusion matrix of zero-shot classification over the 24 toy concepts."],
        budget(9), cells)


SCENE_SETUP = '''\
from car.backbones import encode_text
from car.toy.scenes import THINGS
from car.toy.splits import toy_dataset
from car.vocab import background_queries

cfg = load_config("voc" if REAL else "toy_voc")
proposal = load_clip(cfg.proposal_model, cfg.proposal_pretrained)   # f: the preset's CAM model
ds = toy_dataset("toy_voc", size=448 if REAL else 64)       # the toy VOC-like split (photo-sized for real CLIP)
index = next(i for i, s in enumerate(ds.scenes) if len(s.things) == 2)
scene, sample = ds.scenes[index], ds[index]
image, gt = sample.image, sample.gt                          # uint8 (H, W, 3), int64 (H, W): 0 = background
present = [ds.class_names[label - 1] for label in np.unique(gt) if label > 0]
absent = [c for c in rng.permutation(THINGS).tolist() if c not in present][:2]
queries = present + absent

def embed_background(words):
    """The background queries as the CAM sees them: 'a clean origami {word}.'"""
    return encode_text(proposal, [cfg.cam_template.format(w) for w in words])

text = encode_text(proposal, queries)                        # step 1 of the official loop: the raw query
background = embed_background(background_queries(cfg.background, queries))
print("present:", present, "| absent:", absent, "| background words:", len(background))'''


def cam_chapter():
    cells = [
        md("""
        ## 1. One forward pass, kept for every query

        We take a scene of the toy VOC-like split with two objects, and query it with those two objects plus
        two absent ones. The proposal model $f$ (ViT-B/16 in the paper) runs **once** per image:
        `car.cam.encode_image` keeps the last block's `ln_1` output $A$ inside the autograd graph (the
        grad-CAM layer the paper names in Supp. B) and the attention maps of every block (for CAA, next
        chapter). Every recurrence step reuses it.
        """),
        code(SCENE_SETUP),
        code("""
        state = car.cam.encode_image(proposal, image)
        print("A (last block's ln_1 output):", tuple(state.activation.shape), "= (1, 1 + h*w, C)")
        print("patch grid (h, w):", state.grid, "| attention maps:", tuple(state.attention.shape), "= (L, n, n)")
        car.figures.show_label_maps(image, [np.full(gt.shape, -1), gt - 1], ds.class_names,
                                    [f"{WORLD}: input", "ground truth"])
        plt.show()
        """),
        md("""
        ## 2. What the gradient is taken of

        The CAM target is a *probability*, not a raw score: the image embedding $v_x$ (mean of the patch tokens
        after the last block, as the official code pools) is compared with every query **and every background
        query**, and one softmax runs over all of them:

        $$p_q = \\frac{\\exp(e^{\\tau} \\cos(v_x, v_q))}{\\sum_{j \\in h_{t-1}} \\exp(e^{\\tau} \\cos(v_x, v_j)) + \\sum_{b \\in \\mathrm{bg}} \\exp(e^{\\tau}\\cos(v_x, v_b))}$$

        `car.cam.target_probabilities(state, text, background, logit_scale)` returns $p_q$ for the queries;
        the rest of the mass belongs to the background words.
        """),
        code("""
        p = car.cam.target_probabilities(state, text, background, proposal.logit_scale)   # (Q,), in the graph
        p0 = car.cam.target_probabilities(state, text, background[:0], proposal.logit_scale)  # no background
        names = queries + ["all background words"]
        car.figures.plot_bars(names, {"with background queries": p.tolist() + [1 - p.sum().item()],
                                      "without": p0.tolist() + [0.0]},
                              "softmax probability", title=f"{WORLD}: the CAM target p_q", rotation=30)
        plt.show()
        """),
        md("""
        ## 3. Grad-CAM, from scratch and from `car`

        Supp. B: $g = \\partial p_q / \\partial A$, $\\alpha_k = \\frac{1}{Z}\\sum_{i,j} g^k_{ij}$ (average over
        positions), $L = \\mathrm{ReLU}(\\sum_k \\alpha_k A^k)$, then min–max normalisation. `car` computes the
        gradients of *all* queries with one batched vector–Jacobian product; the cell below does one query by
        hand and checks it against `car.cam.gradcam_from_scores`.
        """),
        code("""
        (g,) = torch.autograd.grad(p[0], state.activation, retain_graph=True)   # ∂p_q/∂A: (1, 1 + n, C)
        alpha = g[0, 1:].mean(0)                           # α_k: the gradient averaged over the n positions
        A = state.activation[0, 1:].detach()               # A^k: (n, C), CLS token dropped
        mine = torch.relu(A @ alpha).reshape(state.grid)   # L = ReLU(Σ_k α_k A^k)
        mine = (mine - mine.min()) / (mine.max() - mine.min() + 1e-7)  # min–max, as pytorch-grad-cam
        assert torch.allclose(mine, car.cam.gradcam_from_scores(state, p)[0], atol=1e-5)
        print("from-scratch grad-CAM of", repr(queries[0]), "equals car.cam.gradcam_from_scores")
        """),
        code("""
        cams = car.cam.gradcam(state, text, background, proposal.logit_scale)   # (Q, h, w) in [0, 1]
        colours = ["green" if q in present else "red" for q in queries]
        car.figures.show_maps(image, cams.numpy(), [f"{q}\\np={v:.2f}" for q, v in zip(queries, p.tolist())],
                              colours=colours, suptitle=f"{WORLD}: grad-CAM on the {state.grid[0]}x{state.grid[1]} "
                              "patch grid (green: in the image)")
        plt.show()
        """),
        md("""
        ## 4. Why background queries

        §3.3: "we explicitly add a set of background queries describing categories that do not exist in the
        user text queries … This helps to suppress the activation from irrelevant texts." Without them the
        softmax runs over the user's queries alone, so the texture behind the objects has no query of its own
        to explain it and leaks into the maps. `background=()` is Table 6's "None" row; the toy presets use
        the ten toy stuff names (`toy_stuff`), the real ones the 23 CLIP-ES words.
        """),
        code("""
        no_bg = car.cam.gradcam(state, text, background[:0], proposal.logit_scale)
        car.figures.show_maps(image, list(no_bg.numpy()) + list(cams.numpy()),
                              [f"{q}\\nbackground=()" for q in queries] +
                              [f"{q}\\n+{len(background)} background queries" for q in queries],
                              cols=len(queries), colours=colours * 2,
                              suptitle=f"{WORLD}: grad-CAM without (top) and with (bottom) background queries")
        plt.show()
        """),
        md("""
        ## 5. The failure that motivates the recurrence: absent queries swamp the maps

        Ask for all 24 toy concepts at once. Every map is min–max normalised, so *every* query — present or
        not — gets a map that reaches 1 somewhere: on an object that shares its colour or its shape, or on the
        texture. The softmax also spreads probability over 24 queries. A one-shot method would paint these
        maps; CaR instead asks a second CLIP whether each mask really shows its query and drops those that fail
        ([The recurrence](recurrence.ipynb)). The table measures where the maps put their mass.
        """),
        code("""
        all_queries = list(THINGS)
        all_text = encode_text(proposal, all_queries)
        all_bg = embed_background(background_queries(cfg.background, all_queries))
        p_all = car.cam.target_probabilities(state, all_text, all_bg, proposal.logit_scale)
        cams_all = car.cam.gradcam(state, all_text, all_bg, proposal.logit_scale)
        car.figures.show_maps(image, cams_all.numpy(), [f"{q}\\np={v:.2f}" for q, v in zip(all_queries, p_all.tolist())],
                              cols=8, size=1.7, colours=["green" if q in present else "black" for q in all_queries],
                              suptitle=f"{WORLD}: grad-CAM of all 24 queries (green: in the image)")
        plt.show()
        """),
        code("""
        fg = torch.from_numpy(gt > 0).float()
        up = car.cam.upsample(cams_all, image.shape[:2])                    # (24, H, W)
        on_objects = ((up * fg).flatten(1).sum(1) / up.flatten(1).sum(1).clamp_min(1e-9)).numpy()
        is_present = np.array([q in present for q in all_queries])
        car.figures.Table(["queries", "mean share of CAM mass on the objects", "mean p_q"],
                          [["present", on_objects[is_present].mean(), p_all[is_present].mean().item()],
                           ["absent", on_objects[~is_present].mean(), p_all[~is_present].mean().item()]],
                          caption=f"{WORLD}: where the maps of absent queries go (objects cover "
                                  f"{fg.mean().item():.0%} of the image)")
        """),
        *summary([
            "`car.cam.encode_image` runs $f$ once per image and keeps $A$ (last block's `ln_1`) and all attention maps.",
            "The CAM target is the softmax probability over [queries; background queries] "
            "(`target_probabilities`); grad-CAM is $\\mathrm{ReLU}(\\sum_k \\alpha_k A^k)$ with gradient-averaged "
            "weights (`gradcam`), min–max normalised.",
            "Background queries give the texture somewhere to go (Table 6); without them the maps leak.",
            "Min–max normalisation makes absent queries look as confident as present ones: a single pass cannot "
            "tell them apart — the reason CaR adds a classifier and a recurrence.",
        ]),
        *exercises([
            ("Before min–max normalisation, compare the *magnitude* of the CAMs of present and absent queries "
             "(`torch.relu(alpha @ A.T).max()` per query). What information does the normalisation throw away?",
             """
             ```python
             raw_max = []
             for q in range(len(all_queries)):
                 (g,) = torch.autograd.grad(p_all[q], state.activation, retain_graph=True)
                 raw_max.append(torch.relu(state.activation[0, 1:].detach() @ g[0, 1:].mean(0)).max().item())
             print(sorted(zip(raw_max, all_queries), reverse=True)[:6])
             ```
             Present queries usually have the largest un-normalised maps, because their probabilities move
             most. Min–max rescales every map to [0, 1] and erases that evidence; CaR recovers it with the
             classifier instead.
             """),
            ("Compute the 24 CAMs in *refer* mode (`mode=\"refer\"`: each query competes only with the "
             "background). Do absent queries look better or worse than in semantic mode?",
             """
             ```python
             refer = car.cam.gradcam(state, all_text, all_bg, proposal.logit_scale, mode="refer")
             car.figures.show_maps(image, refer.numpy(), all_queries, cols=8, size=1.7)
             plt.show()
             ```
             Without competition between queries, a query similar to a present object (same colour or shape)
             claims that object almost as strongly as the right query: refer mode suits one expression per
             call, not a vocabulary.
             """),
            ("From step 2 on, the official code feeds the CAM the templated text `\"a clean origami {}.\"` "
             "instead of the raw query (`cam_text=\"official\"`). Compute the maps with the template and compare.",
             """
             ```python
             templated = encode_text(proposal, [cfg.cam_template.format(q) for q in queries])
             t_cams = car.cam.gradcam(state, templated, background, proposal.logit_scale)
             car.figures.show_maps(image, t_cams.numpy(), queries)
             plt.show()
             ```
             The background queries are always templated; templating the queries too puts queries and
             background in the same sentence form, so the softmax compares like with like.
             """),
        ]),
    ]
    return chapter(
        "cam", "Mask proposals: grad-CAM on CLIP",
        """
        The mask proposal generator $f$ of Eq. 3, $y_t = f(x_t, h_{t-1})$, turns CLIP's image–text score into a
        heat map per query with gradient-weighted class activation maps (grad-CAM, paper §3.3 and Supp. B),
        computed on the ViT's patch-token grid. This chapter shows what is differentiated (a softmax over the
        queries *and* background queries), rebuilds grad-CAM from scratch against `car.cam`, and shows the
        failure that motivates the rest of CaR: absent queries produce confident-looking maps.
        """,
        ["one backbone pass per image, reused for every query (`car.cam.encode_image`);",
         "the CAM target: softmax over queries + background queries;",
         "a ≤ 10-line grad-CAM asserted equal to `car.cam`; maps with and without background queries;",
         "all 24 toy concepts at once: absent queries swamp the maps."],
        budget(9), cells)


def caa_chapter():
    cells = [
        md("""
        ## 1. Setup: raw grad-CAMs of a scene
        """),
        code(SCENE_SETUP),
        code("""
        state = car.cam.encode_image(proposal, image)
        raw = car.cam.gradcam(state, text, background, proposal.logit_scale)   # (Q, h, w) in [0, 1]
        n = state.grid[0] * state.grid[1]
        print("patch grid:", state.grid, "| n =", n, "tokens | attention maps:", tuple(state.attention.shape))
        """),
        md("""
        ## 2. The attention affinity

        CAA (class-aware affinity, from CLIP-ES; paper Supp. B) reads the ViT's own self-attention.
        `car.affinity.attention_affinity` averages the head-averaged attention $W^{attn}$ (CLS row and column
        dropped) of the last $k$ blocks — 8 of 12 in the official code, `cfg.attn_layers` = 3 of the toy
        models' blocks here. Row *i* says which patches patch *i* attends to.
        """),
        code("""
        attn = car.affinity.attention_affinity(state.attention, cfg.attn_layers)   # (n, n), rows sum to 1
        cell = image.shape[0] / state.grid[0]                                      # pixels per patch
        centres = [int(t.cy // cell) * state.grid[1] + int(t.cx // cell) for t in scene.things]
        rows = [(attn[i] / attn[i].max()).reshape(state.grid).numpy() for i in centres]
        car.figures.show_maps(image, rows, [f"attention of the patch\\nat the {t.concept}'s centre" for t in scene.things],
                              suptitle=f"{WORLD}: one row of W_attn each")
        plt.show()
        """),
        md("""
        ## 3. Sinkhorn: towards a doubly stochastic matrix

        Attention is row-stochastic but not symmetric (queries and keys have different projections).
        Sinkhorn's theorem: alternately normalising columns and rows converges to a *doubly stochastic*
        matrix $D$. The official code does 3 rounds, column first (`car.affinity.sinkhorn(attn, rounds=3)`);
        rows then sum to 1 exactly and columns nearly so.
        """),
        code("""
        rounds = list(range(0, 31))
        col_err = [(car.affinity.sinkhorn(attn, r).sum(0) - 1).abs().max().item() for r in rounds]
        row_err = [(car.affinity.sinkhorn(attn, r).sum(1) - 1).abs().max().item() + 1e-12 for r in rounds]
        fig = car.figures.plot_curves({"max |column sum − 1|": (rounds, col_err), "max |row sum − 1|": (rounds, row_err)},
                                      "Sinkhorn rounds (column, then row)", "error (log scale)", logy=True,
                                      title=f"{WORLD}: Sinkhorn on the attention affinity")
        fig.axes[0].axvline(cfg.sinkhorn_rounds, color="gray", linestyle=":", label="official: 3 rounds")
        fig.axes[0].legend(fontsize=8)
        plt.show()
        """),
        md("""
        ## 4. Eq. 7: a symmetric affinity, raised to a power

        $$A = \\frac{D + D^\\top}{2}, \\quad D = \\mathrm{Sinkhorn}(W^{attn}) \\qquad \\text{(Eq. 7)}$$

        The official code then squares it once ($t = 2$ in Eq. 8): `car.affinity.symmetric_affinity(attn,
        rounds=3, power=2)`. Because $A$ does not depend on the queries, `CaR` computes it once per image.
        """),
        code("""
        A = car.affinity.symmetric_affinity(attn, cfg.sinkhorn_rounds, cfg.affinity_power)   # (n, n)
        print("symmetric:", torch.allclose(A, A.T, atol=1e-6),
              "| row sums in", [round(v, 3) for v in (A.sum(1).min().item(), A.sum(1).max().item())])
        """),
        md("""
        ## 5. Box masks and λ

        Eq. 8 restricts the refinement to boxes: the CAM is thresholded at $\\lambda \\cdot \\max$, every
        connected region gets its bounding box, and the union of boxes $B_c$ selects which positions may
        spread activation (`car.affinity.box_mask(cam, lam)`, the official `scoremap2bbox`). A small λ gives
        big boxes; a large λ keeps only the peak.
        """),
        code("""
        lams = [0.2, 0.4, 0.6, 0.8]
        boxes = [car.affinity.box_mask(raw[0], lam).astype(np.float32) for lam in lams]
        car.figures.show_maps(image, [raw[0].numpy()] + boxes, [f"raw CAM: {queries[0]}"] + [f"box mask, λ={l}" for l in lams],
                              suptitle=f"{WORLD}: the box mask B_c for several λ (the preset's λ = {cfg.lam})")
        plt.show()
        """),
        md("""
        ## 6. Eq. 8 from scratch

        $$M^{aff}_c = B_c \\odot A^t \\cdot \\mathrm{vec}(M_c) \\qquad \\text{(Eq. 8, as printed)}$$

        The official code applies the box to the *input* CAM, $A^t \\cdot \\mathrm{vec}(B_c \\odot M_c)$, then
        min–max normalises; `car.affinity.refine` follows the code (and `mask_output=True` the paper). The cell
        rebuilds the whole of CAA for one query and checks it against `car`.
        """),
        code("""
        D = attn.clone()
        for _ in range(cfg.sinkhorn_rounds):
            D = D / D.sum(0, keepdim=True)                   # columns
            D = D / D.sum(1, keepdim=True)                   # rows
        S = (D + D.T) / 2                                    # Eq. 7
        At = torch.linalg.matrix_power(S, cfg.affinity_power)          # A^t, t = 2
        B = torch.from_numpy(car.affinity.box_mask(raw[0], cfg.lam)).flatten().float()
        mine = At @ (B * raw[0].flatten())                   # official: the box masks the input CAM
        mine = ((mine - mine.min()) / (mine.max() - mine.min() + 1e-7)).reshape(state.grid)
        assert torch.allclose(mine, car.affinity.refine(raw[0], attn, cfg.lam, cfg.affinity_power,
                                                        cfg.sinkhorn_rounds), atol=1e-5)
        print("from-scratch CAA of", repr(queries[0]), "equals car.affinity.refine")
        """),
        md("""
        ## 7. CAM before and after CAA
        """),
        code("""
        refined = car.affinity.refine_with_affinity(raw, A, cfg.lam)                    # official form
        paper_form = car.affinity.refine_with_affinity(raw, A, cfg.lam, mask_output=True)  # B ⊙ (A^t · vec M)
        maps, titles = [], []
        for q in range(len(present)):
            maps += [raw[q].numpy(), refined[q].numpy(), paper_form[q].numpy(),
                     (gt == ds.class_names.index(queries[q]) + 1).astype(np.float32)]
            titles += [f"{queries[q]}: grad-CAM", "CAA (official)", "CAA (paper's Eq. 8)", "ground truth"]
        car.figures.show_maps(image, maps, titles, cols=4, suptitle=f"{WORLD}: CAM before and after CAA")
        plt.show()
        """),
        md("""
        One image is an anecdote. Over a dozen scenes we binarise each object's proposal at η (as CaR does
        before drawing the visual prompt) and measure its IoU with the object's ground truth, for the raw
        grad-CAM and both forms of CAA. The queries here are only the objects present, so this isolates the
        proposal quality from the recurrence. CAA can only help where attention follows objects; whether it
        does for the tiny toy CLIPs is what this measures — and the toy presets choose their proposal method
        (`cam_method`, printed in the caption) from such a measurement (Part II, Table 2's analogue).
        """),
        code("""
        from car.postprocess import iou
        from car.prompts import binarize

        scores = {"grad-CAM": [], "CAA (official)": [], "CAA (paper form)": []}
        for i in range(12):
            s = ds[i]
            names = [ds.class_names[label - 1] for label in np.unique(s.gt) if label > 0]
            st = car.cam.encode_image(proposal, s.image)
            cams = car.cam.gradcam(st, encode_text(proposal, names),
                                   embed_background(background_queries(cfg.background, names)), proposal.logit_scale)
            aff = car.affinity.symmetric_affinity(car.affinity.attention_affinity(st.attention, cfg.attn_layers),
                                                  cfg.sinkhorn_rounds, cfg.affinity_power)
            variants = {"grad-CAM": cams, "CAA (official)": car.affinity.refine_with_affinity(cams, aff, cfg.lam),
                        "CAA (paper form)": car.affinity.refine_with_affinity(cams, aff, cfg.lam, mask_output=True)}
            for key, maps_ in variants.items():
                up = car.cam.upsample(maps_, s.image.shape[:2]).numpy()
                scores[key] += [iou(binarize(m, cfg.eta), s.gt == ds.class_names.index(q) + 1) for m, q in zip(up, names)]
        car.figures.Table(["proposal", "mean IoU with the object (η-binarised)", "objects"],
                          [[k, float(np.mean(v)), len(v)] for k, v in scores.items()],
                          caption=f"{WORLD}: 12 scenes of toy_voc, queries = the objects present; "
                                  f"the preset proposes with {cfg.cam_method!r}")
        """),
        *summary([
            "CAA turns the ViT's attention into an affinity: mean of the last k attention maps → Sinkhorn (3 rounds, "
            "column then row) → $(D + D^\\top)/2$ (Eq. 7) → squared (t = 2).",
            "Sinkhorn converges quickly to a doubly stochastic matrix; rows are exact after every round.",
            "Box masks at $\\lambda \\cdot \\max$ confine the propagation (Eq. 8); the official code masks the input "
            "CAM, the paper's equation the output — `refine_with_affinity(..., mask_output=...)` has both.",
            "The affinity is query-independent: `CaR` computes it once per image and reuses it at every step.",
            "CAA helps only if the ViT's attention follows objects; the toy presets measure this and may use plain "
            "grad-CAM (`cam_method`), the paper's presets use CAA.",
        ]),
        *exercises([
            ("Replace the 3 Sinkhorn rounds by 0 (plain attention, symmetrised) and by 20. How much do the refined "
             "maps change?",
             """
             ```python
             for r in (0, 3, 20):
                 Ar = car.affinity.symmetric_affinity(attn, r, 2)
                 out = car.affinity.refine_with_affinity(raw, Ar, cfg.lam)
                 print(r, (out - refined).abs().max().item())
             ```
             Past a few rounds the matrix barely moves (see the convergence plot), so 3 rounds is a cheap,
             near-converged choice; 0 rounds weights patches by how much attention they *receive*, which
             favours a few "sink" tokens.
             """),
            ("Vary λ from 0.1 to 0.9 and recompute the mean IoU of the official CAA over the 12 scenes. Where is the "
             "optimum, and how does it compare with the paper's λ = 0.4 for VOC (Table 5)?",
             """
             Wrap the measuring loop in `for lam in (0.1, 0.3, 0.4, 0.5, 0.7, 0.9)` and pass `lam` to
             `refine_with_affinity`. The toy optimum need not match VOC's 0.4: λ depends on how peaked the CAMs
             are, which depends on the backbone and the image size (Table 5 shows λ matters by ≤ 0.6 mIoU on VOC).
             """),
            ("Use the affinity without the square ($t = 1$, `power=1`). Is the refined map sharper or smoother?",
             """
             ```python
             A1 = car.affinity.symmetric_affinity(attn, 3, 1)
             car.figures.show_maps(image, [refined[0].numpy(),
                                           car.affinity.refine_with_affinity(raw, A1, cfg.lam)[0].numpy()],
                                   ["t = 2", "t = 1"])
             plt.show()
             ```
             $A^2$ is a two-step random walk: activation spreads further, filling objects more but also bleeding
             more. $t = 1$ stays closer to the raw CAM.
             """),
        ]),
    ]
    return chapter(
        "caa", "Class-aware affinity (CAA): refining the CAMs",
        """
        Raw grad-CAMs on a ViT are coarse and patchy. CaR takes CLIP-ES's class-aware attention affinity (CAA,
        paper Supp. B, Eq. 7–8) as part of its proposal generator: the ViT's own attention, made symmetric and
        doubly stochastic by Sinkhorn normalisation, propagates each CAM inside a box around its peak. Table 2
        of the paper credits CAA with +26.5 mIoU over plain grad-CAM on VOC.
        """,
        ["the attention affinity and Sinkhorn's convergence to a doubly stochastic matrix (a plot per round);",
         "the symmetric affinity of Eq. 7 and the box masks of Eq. 8 for several λ;",
         "CAA rebuilt in ≤ 15 lines and asserted equal to `car.affinity.refine`;",
         "CAMs before and after CAA, on one scene and measured over twelve."],
        budget(9), cells)


MODEL_SETUP = '''\
from car.backbones import encode_text
from car.toy.scenes import THINGS
from car.toy.splits import toy_dataset
from car.vocab import background_queries

if REAL:
    model = CaR.from_config("voc")            # ViT-B/16 proposes, ViT-L/14 classifies
else:
    model = CaR.from_config("toy_voc")        # the toy world's main preset
cfg = model.config
print(f"f = {model.proposal.name}, g = {model.classifier.name}, proposals: {cfg.cam_method}, "
      f"prompts: {' + '.join(cfg.prompts)}, η, θ, λ = {cfg.eta}, {cfg.theta}, {cfg.lam}")
ds = toy_dataset("toy_voc", size=448 if REAL else 64)

def objects_in(gt: np.ndarray) -> list[str]:
    """The concepts that the ground truth holds (label i + 1 = THINGS[i])."""
    return [ds.class_names[label - 1] for label in np.unique(gt) if label > 0]

def image_side(image: np.ndarray):
    """The per-image work of f, done once: the backbone pass, and the CAA affinity if the preset uses CAA."""
    state = car.cam.encode_image(model.proposal, image)
    if cfg.cam_method != "caa":
        return state, None
    attn = car.affinity.attention_affinity(state.attention, cfg.attn_layers)
    return state, car.affinity.symmetric_affinity(attn, cfg.sinkhorn_rounds, cfg.affinity_power)

def as_things(labels: np.ndarray, queries: list[str]) -> np.ndarray:
    """A label map over `queries` as a label map over THINGS (the ground truth's order); -1 stays -1."""
    ids = np.array([THINGS.index(q) for q in queries])
    return np.where(labels >= 0, ids[np.maximum(labels, 0)], -1)'''


def prompts_chapter():
    cells = [
        md("""
        ## 1. From a soft proposal to a mask: η

        The classifier needs a region, not a heat map: each proposal $y_i$ is binarised with η (§3.3;
        `car.prompts.binarize(cam, eta)`: `cam > eta`, and a proposal whose sum is ≤ 1 counts as empty, as in
        the official code). We take the step-1 proposals $y_1 = f(x, h_0)$ of a scene, for its objects and
        three absent queries.
        """),
        code(MODEL_SETUP),
        code("""
        def first_proposals(image: np.ndarray, queries: list[str]) -> np.ndarray:
            \"\"\"y_1 = f(x, h_0) (Eq. 3): float (Q, H, W) in [0, 1].\"\"\"
            state, aff = image_side(image)
            words = background_queries(cfg.background, queries)
            bg = model.text_embeddings(model.proposal, [cfg.cam_template.format(w) for w in words])
            return model.propose(state, aff, queries, bg, step=0)[1].numpy()

        sample = ds[next(i for i, s in enumerate(ds.scenes) if len(s.things) == 2)]
        image, gt = sample.image, sample.gt
        present = objects_in(gt)
        queries = present + [c for c in rng.permutation(THINGS).tolist() if c not in present][:3]
        proposals = first_proposals(image, queries)
        etas = [0.2, 0.4, 0.6]
        car.figures.show_maps(image, [proposals[0]] + [car.prompts.binarize(proposals[0], e).astype(np.float32) for e in etas],
                              [f"proposal y: {queries[0]}"] + [f"mask, η = {e}" for e in etas],
                              suptitle=f"{WORLD}: binarising a proposal (the preset's η = {cfg.eta})")
        plt.show()
        """),
        md("""
        ## 2. Every prompt and every pair

        Eq. 4, $x'_t = v(x_t, y_t)$: the visual prompt function draws the mask onto the image. Six kinds
        (Supp. C, Algorithm B): **circle** (red ellipse around the mask's box, centred on its centroid),
        **box**, **contour** (red outline), and three that change the *outside* of the mask: **blur**,
        **gray** and **mask** (black). Several kinds apply together, always in the official order
        (`car.prompts.APPLY_ORDER`). `car.prompts.combinations()` lists the 6 single prompts and 15 pairs of
        Table 4.
        """),
        code("""
        mask = car.prompts.binarize(proposals[0], cfg.eta)
        combos = car.prompts.combinations()                       # 6 singles + 15 pairs = 21
        gallery = [car.prompts.apply(image, mask, kinds, blur_kernel=cfg.blur_kernel) for kinds in combos]
        fig = car.viz.show_images(gallery, [" + ".join(c) for c in combos], cols=7, size=1.9,
                                  suptitle=f"{WORLD}: all 21 prompts of Table 4 for the mask of {queries[0]!r}")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        md("""
        A quirk kept from the official code: its *gray* prompt converts an RGB array with OpenCV's **BGR**
        formula, so red and blue weights are swapped (`gray_bgr_quirk=True`, the default). The difference is
        visible on coloured textures.
        """),
        code("""
        quirk = car.prompts.apply(image, mask, ("gray",), blur_kernel=cfg.blur_kernel, gray_bgr_quirk=True)
        proper = car.prompts.apply(image, mask, ("gray",), blur_kernel=cfg.blur_kernel, gray_bgr_quirk=False)
        diff = np.abs(quirk.astype(int) - proper.astype(int)).sum(-1)
        car.viz.show_images([quirk, proper, diff / max(diff.max(), 1)],
                            ["gray, official (BGR formula)", "gray, RGB formula", "difference"], cmap=None, size=2.6)
        plt.show()
        """),
        md("""
        ## 3. What the classifier sees, and what it answers

        Eq. 5: $P_t = g(x'_t, h_{t-1})$. The $N$ prompted images go through the classifier CLIP in batches;
        with every template, a softmax over the $N$ queries gives $P \\in \\mathbb{R}^{N \\times N}$ (the official
        double softmax of chapter [CLIP](clip.ipynb)), and $P_{ii}$ — prompted image *i* against its own query —
        is compared with θ (Eq. 6). `model.classify(image, proposals, queries)` does all of it with the preset's
        prompts; the cell spells it out with any prompt kinds and checks it against `model.classify`.
        """),
        code("""
        from car.vocab import TEMPLATE_SETS

        def classify_with(kinds, image, props, queries) -> np.ndarray:
            \"\"\"P_ii (Eq. 5-6) with the visual prompts `kinds`: float (N,).\"\"\"
            masks = np.stack([car.prompts.binarize(p, cfg.eta) for p in props])
            prompted = car.prompts.apply_batch(image, masks, kinds, thickness=cfg.prompt_thickness,
                                               blur_kernel=cfg.blur_kernel)                  # x' = v(x, y), Eq. 4
            x = car.classifier.preprocess(model.classifier, prompted, cfg.classifier_crop)
            img = car.classifier.encode_images(model.classifier, x, cfg.classifier_skip_last_block)   # (N, D)
            text = torch.stack([model.text_embeddings(model.classifier, [t.format(q) for q in queries])
                                for t in TEMPLATE_SETS[cfg.templates]])                      # (T, N, D)
            P = car.classifier.mask_scores(img, text, model.classifier.logit_scale, cfg.classifier_score)  # (N, N)
            return car.classifier.diagonal_scores(P).numpy()

        P_ii = classify_with(cfg.prompts, image, proposals, queries)
        assert np.allclose(P_ii, model.classify(image, proposals, queries), atol=1e-5)
        car.figures.plot_bars(queries, {"P_ii": P_ii.tolist()}, "P_ii", hline=cfg.theta, rotation=30,
                              title=f"{WORLD}: classifier scores with {' + '.join(cfg.prompts)} (dashed: θ)")
        plt.show()
        """),
        md("""
        Now the same measurement for every prompt combination, averaged over six scenes: the mean $P_{ii}$ of the
        queries that are in the image and of those that are not. A good prompt keeps the first high and the
        second low, on either side of θ — that gap is what lets the recurrence remove absent queries.
        """),
        code("""
        present_scores = {k: [] for k in combos}
        absent_scores = {k: [] for k in combos}
        for i in range(6):
            s = ds[i]
            here = objects_in(s.gt)
            qs = here + [c for c in np.random.default_rng(i).permutation(THINGS).tolist() if c not in here][:3]
            props = first_proposals(s.image, qs)
            for kinds in combos:
                p = classify_with(kinds, s.image, props, qs)
                present_scores[kinds] += p[: len(here)].tolist()
                absent_scores[kinds] += p[len(here):].tolist()
        labels = [" + ".join(k) for k in combos]
        car.figures.plot_bars(labels, {"in the image": [np.mean(present_scores[k]) for k in combos],
                                       "absent": [np.mean(absent_scores[k]) for k in combos]},
                              "mean P_ii", hline=cfg.theta,
                              title=f"{WORLD}: classifier score per visual prompt, 6 scenes (dashed: θ)")
        plt.show()
        """),
        *summary([
            "A proposal becomes a mask by thresholding at η (`car.prompts.binarize`).",
            "Six prompt kinds and their 15 pairs (`car.prompts.combinations`, `car.prompts.apply`); fills "
            "(blur, gray, mask) act outside the mask, outlines (circle, box, contour) on top, in the official order.",
            "The classifier scores all prompted images of a step in one batch (Eq. 5); $P_{ii}$ decides (Eq. 6).",
            "The useful property of a prompt is the *gap* it opens between present and absent queries around θ; "
            "Part II's Table 4 measures the resulting mIoU.",
        ]),
        *exercises([
            ("The official `modeling/` code draws outlines with thickness 1, an unused refactor with 3. Recompute "
             "the six-scene scores for circle + blur with `prompt_thickness=3`.",
             """
             ```python
             thick = CaR(model.proposal, model.classifier, cfg.replace(prompt_thickness=3))
             pres, absn = [], []
             for i in range(6):
                 s = ds[i]
                 here = objects_in(s.gt)
                 qs = here + [c for c in np.random.default_rng(i).permutation(THINGS).tolist() if c not in here][:3]
                 p = thick.classify(s.image, first_proposals(s.image, qs), qs)
                 pres += p[:len(here)].tolist()
                 absn += p[len(here):].tolist()
             print(np.mean(pres), np.mean(absn))
             ```
             On 64-pixel images a 3-pixel line covers a large share of a small object, so it can hide the object it
             should point at; compare the gap with the thickness-1 bar.
             """),
            ("The paper notes that *mask* alone (a black background) is the common practice of earlier open-vocabulary "
             "methods and the weakest prompt on VOC (Table 4). Give a reason that the toy world can and one that it "
             "cannot reproduce.",
             """
             Can: blacking out the context removes the surroundings that help decide (e.g. which texture an object
             sits on) and produces images unlike any training image. Cannot: real CLIP learned from web photos in
             which red circles mark things (Shtedritski et al., the paper's [56]); the toy CLIPs saw every prompt
             kind equally often during training, so none is favoured by a web prior.
             """),
            ("Draw the prompt on a proposal binarised at η = 0.2 instead of the preset's η. What happens to the circle "
             "and to $P_{ii}$ of the absent queries?",
             """
             ```python
             loose = CaR(model.proposal, model.classifier, cfg.replace(eta=0.2))
             print(loose.classify(image, proposals, queries), model.classify(image, proposals, queries))
             ```
             A low η gives big masks: the circle grows to enclose other objects, so an absent query's prompted
             image now shows a present object inside the circle and its score rises — Table 5's η trade-off.
             """),
        ]),
    ]
    return chapter(
        "prompts", "Visual prompts and the mask classifier",
        """
        To judge a mask proposal, CaR does not crop it: it draws a *visual prompt* on the full image — a red
        circle, a blurred or gray background, … (paper §3.3, Eq. 4, Fig. 4, Supp. C) — and asks a second CLIP,
        the mask classifier $g$ (Eq. 5), which query the prompted image shows. This chapter draws every prompt
        and every pair of Table 4 on one image and measures how the classifier's diagonal score $P_{ii}$ changes
        with the prompt.
        """,
        ["binarising a proposal with η;",
         "a gallery of all 6 prompts and 15 pairs (`car.prompts.combinations`), and the official gray quirk;",
         "the classifier's diagonal scores $P_{ii}$ against θ, per prompt, for present and absent queries (bar charts)."],
        budget(12), cells)


def recurrence_chapter():
    cells = [
        md("""
        ## 1. Algorithm 1 in four lines

        | paper | meaning | `car` |
        | --- | --- | --- |
        | $h_0$ | the user's queries | `queries` |
        | $y_t = f(x, h_{t-1})$ (Eq. 3) | one proposal per query: grad-CAM (+ CAA in the paper's presets) | `model.propose(...)` |
        | $x'_t = v(x, y_t)$ (Eq. 4) | visual prompts drawn with each binarised proposal | `car.prompts.apply_batch` |
        | $P_t = g(x'_t, h_{t-1})$ (Eq. 5) | classifier scores, softmax over queries | `model.classify(...)` |
        | $h_t = \\sigma(P_t)$ (Eq. 6) | keep query *i* if $P^{ii}_t$ passes θ | `model.prune(...)` |
        | stop when $h_t = h_{t-1}$ | then post-process $y_T$ (§3.4) | `model(image, queries)` |

        The weights of $f$ and $g$ are frozen and shared by all steps; the only thing that changes from step to
        step is the *set of queries* — the hidden state of this RNN. Fewer competitors in the CAM softmax give
        cleaner proposals at the next step.

        One detail from the official code (`theta_rule="official"`): a query is kept if $P_{ii} > \\theta$, the
        set is never emptied (the best query survives), and at least two steps run. The paper's rule
        ($\\geq \\theta$, possibly empty) is `theta_rule="paper"`.

        ## 2. All 24 concepts on a scene with three objects
        """),
        code(MODEL_SETUP),
        code("""
        import time

        sample = ds[next(i for i, s in enumerate(ds.scenes) if len(s.things) == 3 and len(objects_in(ds[i].gt)) == 3)]
        image, gt = sample.image, sample.gt
        present = objects_in(gt)
        # the recurrence does not depend on the order of the queries (exercise 1); the objects go first only so
        # that the step figure below, which has room for a few columns, shows them
        queries = present + [c for c in THINGS if c not in present]
        start = time.perf_counter()
        result = model(image, queries)
        print(f"{len(queries)} queries -> {len(result.steps)} steps, kept {result.kept} "
              f"({time.perf_counter() - start:.1f} s)")
        """),
        md("""
        ## 3. Step by step

        `car.viz.show_steps` draws one row per step: each query's proposal over the image, its score $P_{ii}$
        and whether it passes θ.
        """),
        code("""
        fig = car.viz.show_steps(image, result, theta=cfg.theta, max_queries=7)
        fig.suptitle(f"{WORLD}: the recurrence, first 7 queries of each step (θ = {cfg.theta})", y=1.06)
        plt.show()
        """),
        md("""
        The table follows all 24 queries: $P_{ii}$ at each step they entered, and their fate.
        """),
        code("""
        rows = []
        for i, q in enumerate(queries):
            cells = []
            fate = "kept"
            for t, step in enumerate(result.steps, 1):
                where = np.flatnonzero(step.indices == i)
                if len(where):
                    j = where[0]
                    cells.append(f"{step.scores[j]:.2f}" + ("" if step.kept[j] else " ✗"))
                    if not step.kept[j]:
                        fate = f"removed at step {t}"
                else:
                    cells.append("")
            rows.append([q, "yes" if q in present else "", *cells, fate])
        car.figures.Table(["query", "in image", *[f"P_ii step {t}" for t in range(1, len(result.steps) + 1)], "fate"],
                          rows, caption=f"{WORLD}: θ = {cfg.theta}; ✗ = below θ, removed")
        """),
        md("""
        ## 4. The picture to remember

        Each column is a step, each marker a query that entered it; crosses fall below θ and never come back.
        Watch two things: absent queries are removed in bulk at the first step, and the scores of the survivors
        *rise* at the next step, because they no longer share the CAM softmax and the classifier softmax with
        two dozen competitors.
        """),
        code("""
        car.figures.plot_survival(result, cfg.theta, present=[q in present for q in queries],
                                  title=f"{WORLD}: P_ii of all {len(queries)} queries, step by step")
        plt.show()
        """),
        md("""
        ## 5. Without recurrence ($T = 1$)

        With `recurrence=False`, Algorithm 1 stops after its first step and `post_process(proposals)` receives
        the proposal of *every* query: the classifier's scores are computed but never used, so absent queries
        keep the regions they won while competing with all 24. Table 2 of the paper reports this ablation
        (15.2 vs 67.6 mIoU on VOC); Part II measures the toy analogue. Between the two sits `max_steps=1`: one
        step whose verdict *is* applied, without a second CAM.
        """),
        code("""
        single = CaR(model.proposal, model.classifier, cfg.replace(recurrence=False))(image, queries)
        car.figures.show_label_maps(image, [gt - 1, as_things(single.labels, queries), as_things(result.labels, queries)],
                                    THINGS, ["ground truth", f"T = 1 (all {len(single.kept)} queries)",
                                             f"CaR, T = {len(result.steps)} ({len(result.kept)} kept)"],
                                    suptitle=f"{WORLD}: one step vs the recurrence")
        plt.show()
        """),
        md("""
        One scene is one draw. Over the first twelve scenes of the split, with all 24 concepts as queries each
        time, we count which queries reach post-processing — present ones should, absent ones should not — and
        the number of steps. $T = 1$ keeps all of them by construction; one pruned step and CaR differ in the
        *masks* of the survivors, which CaR recomputes without the removed competitors. Part II's Table 2
        analogue measures the resulting mIoU.
        """),
        code("""
        variants = {"T = 1": CaR(model.proposal, model.classifier, cfg.replace(recurrence=False)),
                    "one step, pruned": CaR(model.proposal, model.classifier, cfg.replace(max_steps=1)),
                    "CaR": model}
        tally = {name: [0, 0, 0] for name in variants}          # present kept, absent kept, steps
        n_present = 0
        for i in range(12):
            s = ds[i]
            here = objects_in(s.gt)
            n_present += len(here)
            for name, m in variants.items():
                r = m(s.image, list(THINGS))
                tally[name][0] += len(set(r.kept) & set(here))
                tally[name][1] += len(set(r.kept) - set(here))
                tally[name][2] += len(r.steps)
        car.figures.Table(["", f"present queries kept (of {n_present})", f"absent queries kept (of {12 * 24 - n_present})",
                           "mean steps"], [[k, v[0], v[1], v[2] / 12] for k, v in tally.items()], floatfmt=".1f",
                          caption=f"{WORLD}: 12 scenes of toy_voc, 24 queries each")
        """),
        md("""
        ## 6. The loop by hand

        The whole of Algorithm 1 with `CaR`'s own stages, checked against the scores the model recorded. The
        image-side work — the backbone pass, and the affinity when the preset uses CAA — is done once, before
        the loop.
        """),
        code("""
        state, aff = image_side(image)                                         # once per image
        bg = model.text_embeddings(model.proposal, [cfg.cam_template.format(w)
                                                    for w in background_queries(cfg.background, queries)])
        h, t = np.arange(len(queries)), 0                                      # h_0: every query
        while True:
            h_queries = [queries[i] for i in h]
            _, y = model.propose(state, aff, h_queries, bg, t)                 # Eq. 3
            P = model.classify(image, y.numpy(), h_queries)                    # Eq. 4-5
            keep = model.prune(P)                                              # Eq. 6
            assert np.allclose(P, result.steps[t].scores, atol=1e-4)
            t += 1
            if keep.all() and t >= 2:                                          # h_t == h_{t-1} (official: ≥ 2 steps)
                break
            h = h[keep]
        print(f"{t} steps by hand, the same scores as model(image, queries)")
        """),
        *summary([
            "CaR is an RNN whose hidden state is the query set: frozen $f$ and $g$, applied again and again, and "
            "$\\sigma$ (Eq. 6) removes the queries whose prompted image does not match them.",
            "Absent queries are removed in bulk; the survivors' proposals and scores improve once the competitors are gone.",
            "`model.propose`, `model.classify` and `model.prune` are the stages; `model(image, queries)` runs the "
            "loop and the post-processing, and records each step in `result.steps`.",
            "The official stopping details (> θ, never empty, ≥ 2 steps) differ slightly from the paper's text; "
            "`theta_rule` selects either.",
        ]),
        *exercises([
            ("Check that the recurrence does not depend on the order of the queries: shuffle `queries`, rerun and "
             "compare the kept sets and final scores.",
             """
             ```python
             order = np.random.default_rng(1).permutation(len(queries))
             shuffled = model(image, [queries[i] for i in order])
             assert set(shuffled.kept) == set(result.kept)
             print(np.abs(shuffled.scores - result.scores[order]).max())
             ```
             Both softmaxes (CAM target and classifier) are permutation-equivariant, so only floating-point
             round-off differs.
             """),
            ("Run the paper's rule (`theta_rule=\"paper\"`) and the official one on this scene. When can the two "
             "disagree?",
             """
             ```python
             paper = CaR(model.proposal, model.classifier, cfg.replace(theta_rule="paper"))(image, queries)
             print(len(paper.steps), paper.kept, "|", len(result.steps), result.kept)
             ```
             They differ when every score falls below θ (the paper empties the set, the code keeps the best
             query), when a score equals θ exactly, or when step 1 removes nothing (the code still runs step 2).
             """),
            ("Cap the recurrence at two steps (`max_steps=2`). On how many of the first 10 toy_voc images does that "
             "change the result? (The paper: \"most images require two steps\".)",
             """
             ```python
             capped = CaR(model.proposal, model.classifier, cfg.replace(max_steps=2))
             changed = 0
             for i in range(10):
                 s = ds[i]
                 a, b = model(s.image, list(THINGS)), capped(s.image, list(THINGS))
                 changed += not np.array_equal(a.labels, b.labels)
             print(changed, "of 10")
             ```
             """),
        ]),
    ]
    return chapter(
        "recurrence", "The recurrence: CLIP as an RNN",
        """
        The paper's central idea (§3.1–3.2, Algorithm 1, Eq. 3–6): run the two-stage segmenter again and again
        with fixed weights, and let a thresholding function σ remove the queries whose masks the classifier does
        not believe. The query set plays the role of an RNN's hidden state. This chapter runs Algorithm 1 on a
        scene with three objects and all 24 toy concepts as queries — most of them absent — and follows every
        query through every step.
        """,
        ["Algorithm 1's equations next to the `car` calls;",
         "`car.viz.show_steps`: proposals, $P_{ii}$ and θ per step; a table of all 24 queries and their fate;",
         "the survival chart: scores per step against θ;",
         "one step ($T = 1$) vs the recurrence, and the loop rebuilt by hand and asserted against `CaR`."],
        budget(11), cells)


def postprocess_chapter():
    cells = [
        md("""
        ## 1. What the CRF starts from

        When the recurrence stops, the last step's proposals $y_T$ of the surviving queries become the CRF's
        unary scores, with one extra background channel $(1 - \\max_c y_c)^{b}$ ($b$ = `bg_factor` = 1 in every
        official config). The scores are not normalised to sum to 1 — `unary_from_softmax` takes
        $-\\log(\\mathrm{clip}(p, 10^{-5}, 1))$ as they are.
        """),
        code(MODEL_SETUP),
        code("""
        from car.model import argmax_masks
        from car.postprocess import crf_masks, label_map

        sample = ds[next(i for i, s in enumerate(ds.scenes) if len(s.things) == 3 and len(objects_in(ds[i].gt)) == 3)]
        image, gt = sample.image, sample.gt
        present = objects_in(gt)
        queries = present + [c for c in rng.permutation(THINGS).tolist() if c not in present][:3]
        result = model(image, queries)
        alive = result.scores > 0
        props = result.proposals[alive]                         # y_T of the kept queries: (K, H, W)
        bg = (1 - props.max(0)) ** cfg.bg_factor
        car.figures.show_maps(image, [bg, *props], ["background channel"] + [q for q, a in zip(queries, alive) if a],
                              suptitle=f"{WORLD}: the CRF's unary scores [background; y_T]")
        plt.show()
        """),
        md("""
        ## 2. Argmax with and without the dense CRF

        §3.4: a fully connected CRF (Krähenbühl & Koltun) with a Gaussian smoothness kernel and a bilateral
        appearance kernel pulls mask boundaries to image edges; then an argmax over the channels gives each
        pixel one query. `car.postprocess.crf_masks` is the CRF and the argmax; `car.model.argmax_masks` is the
        same label rule without the CRF. The CRF path must reproduce `result.labels` exactly.
        """),
        code("""
        crf_kw = dict(iters=cfg.crf_iters, gaussian=cfg.crf_gaussian, bilateral=cfg.crf_bilateral)

        def to_labels(masks_alive: np.ndarray) -> np.ndarray:
            masks = np.zeros(result.proposals.shape, bool)
            masks[alive] = masks_alive
            return label_map(masks, result.scores)          # higher score wins overlaps; -1 = background

        no_crf = to_labels(argmax_masks(props, cfg.bg_factor))
        with_crf = to_labels(crf_masks(image, props, bg_factor=cfg.bg_factor, **crf_kw))
        assert np.array_equal(with_crf, result.labels)
        car.figures.show_label_maps(image, [gt - 1, as_things(no_crf, queries), as_things(with_crf, queries)], THINGS,
                                    ["ground truth", "argmax of y_T (no CRF)", "dense CRF, then argmax"],
                                    suptitle=f"{WORLD}: post-processing")
        plt.show()
        """),
        md("""
        ## 3. Which CRF parameters?

        The paper says "all hyper-parameters are set to the defaults in [31]" (Krähenbühl & Koltun), but the
        official code uses the DeepLab / CLIP-ES values: 10 iterations, Gaussian $(s_{xy}, w) = (1, 3)$,
        bilateral $(s_{xy}, s_{rgb}, w) = (67, 3, 4)$ (the reproduction ledger lists this). The example of
        Krähenbühl's code, repeated in pydensecrf's README, uses 5 iterations, Gaussian (3, 3) and bilateral
        (80, 13, 10). $s_{xy}$ is in pixels, so on
        the toy world's 64-pixel images the toy presets scale the bilateral range to 9. We compare the settings
        on a handful of scenes — in the toy world, so the ranking says something about the *mechanism*, not
        about VOC.
        """),
        code("""
        from car.metrics import ConfusionMatrix

        settings = {
            "no CRF": None,
            "preset (official, toy-scaled)": crf_kw,
            "official DeepLab / CLIP-ES": dict(iters=10, gaussian=(1.0, 3.0), bilateral=(67.0, 3.0, 4.0)),
            "Krähenbühl & Koltun example": dict(iters=5, gaussian=(3.0, 3.0), bilateral=(80.0, 13.0, 10.0)),
        }
        no_crf_model = CaR(model.proposal, model.classifier, cfg.replace(crf=False))
        matrices = {name: ConfusionMatrix(len(THINGS) + 1) for name in settings}
        for i in range(6):
            s = ds[i]
            here = objects_in(s.gt)
            qs = here + [c for c in np.random.default_rng(i).permutation(THINGS).tolist() if c not in here][:3]
            r = no_crf_model(s.image, qs)                       # the recurrence once; CRFs below
            keep = r.scores > 0
            ids = np.array([THINGS.index(q) + 1 for q in qs])   # query index -> ground-truth label
            for name, kw in settings.items():
                m = np.zeros(r.proposals.shape, bool)
                m[keep] = argmax_masks(r.proposals[keep]) if kw is None else crf_masks(s.image, r.proposals[keep], **kw)
                labels = label_map(m, r.scores)
                matrices[name].update(np.where(labels >= 0, ids[np.maximum(labels, 0)], 0), s.gt)
        car.figures.Table(["post-processing", "mIoU (6 toy scenes)"],
                          [[name, 100 * cm.miou()] for name, cm in matrices.items()], floatfmt=".1f",
                          caption=f"{WORLD}: CRF settings on the same proposals")
        """),
        md("""
        **The image quirk.** The official caller hands the CRF not the RGB image but
        `(BGR − mean).astype(uint8)` *without clipping*: negative values wrap around modulo 256, so dark pixels
        become bright. `dense_crf(..., official_image_quirk=True)` (the default) reproduces it on every platform
        (`car.postprocess.official_crf_image`); `False` passes the plain image. The bilateral kernel therefore
        compares colours of this strange image.
        """),
        code("""
        seen = car.postprocess.official_crf_image(image)[..., ::-1]       # BGR back to RGB for display
        plain = to_labels(crf_masks(image, props, bg_factor=cfg.bg_factor, official_image_quirk=False, **crf_kw))
        changed = (plain != with_crf).mean()
        fig = car.viz.show_images([image, seen], ["input", "what the official CRF sees"], size=2.8,
                                  suptitle=f"{WORLD}: the official CRF image quirk")
        car.figures.fit_suptitle(fig)
        plt.show()
        car.figures.show_label_maps(image, [with_crf, plain], queries,
                                    ["CRF on the quirky image (official)",
                                     f"CRF on the RGB image ({changed:.1%} of pixels differ)"])
        plt.show()
        """),
        md("""
        ## 4. The SAM ensemble and IoM

        Optionally (§3.4, Table 1 "CaR+SAM"), SAM's automatic masks replace CaR's masks where they agree.
        SAM returns *parts* as often as wholes, so matching uses the **Intersection over the Minimum mask**:

        $$\\mathrm{IoM}(p, s) = \\frac{|p \\cap s|}{\\min(|p|, |s|)}$$

        A part lying inside a CaR mask has IoM 1 even though its IoU is small. All SAM masks with
        IoM > $\\phi_{iom}$ are merged; the union replaces the CaR mask if its IoU with it exceeds $\\phi_{iou}$
        (`car.postprocess.match_sam`). Any callable with SAM's `generate` interface (image → list of
        `{"segmentation": bool (H, W)}`) can play SAM — here a hand-made one that cuts each object in halves.
        The CaR masks are hand-made too, so the example does not depend on how well the toy models did: each
        object grown by a pixel with a corner missing, as a CRF mask often looks.
        """),
        code("""
        import cv2

        from car.postprocess import iom, iou, match_sam, sam_ensemble

        objects = [gt == ds.class_names.index(q) + 1 for q in present]
        grow = np.ones((max(3, image.shape[0] // 32) | 1,) * 2, np.uint8)   # one pixel per 64

        def rough(m: np.ndarray) -> np.ndarray:
            \"\"\"A CaR-like mask: the object grown by a pixel, a top-left corner of its box missing.\"\"\"
            r = cv2.dilate(m.astype(np.uint8), grow).astype(bool)
            ys, xs = np.nonzero(m)
            r[ys.min():ys.min() + (ys.max() - ys.min()) // 3, xs.min():xs.min() + (xs.max() - xs.min()) // 3] = False
            return r

        def fake_sam(img: np.ndarray) -> list[dict]:
            \"\"\"Stands in for SamAutomaticMaskGenerator.generate: every object as two halves, plus the background.\"\"\"
            records = []
            for m in objects:
                cols = np.flatnonzero(m.any(0))
                left = m.copy()
                left[:, (cols.min() + cols.max()) // 2:] = False
                records += [{"segmentation": left}, {"segmentation": m & ~left}]
            return records + [{"segmentation": gt == 0}]

        sam_masks = np.stack([r["segmentation"] for r in fake_sam(image)])
        car_masks = np.stack([rough(m) for m in objects])         # (K, H, W) hand-made "CaR" masks
        sam_names = [f"{q} ({side})" for q in present for side in ("left", "right")] + ["background"]
        for name, fn in (("IoM", iom), ("IoU", iou)):
            car.figures.plot_matrix(np.array([[fn(c, s) for s in sam_masks] for c in car_masks]), present, sam_names,
                                    title=f"{WORLD}: {name}(CaR mask, SAM mask)", annotate=True, vmin=0, vmax=1)
            plt.show()
        """),
        code("""
        kw = dict(iom_thresh=cfg.iom_thresh, iou_thresh=cfg.iou_thresh, min_pred_thresh=cfg.min_pred_thresh)
        merged = sam_ensemble(image, car_masks, fake_sam, **kw)
        unconditional = sam_ensemble(image, car_masks, fake_sam, **dict(kw, iou_thresh=-1))  # the official demo
        car.figures.Table(["object", "IoU with GT: CaR", f"+ SAM (ϕ_iou = {cfg.iou_thresh})", "+ SAM (no IoU check)"],
                          [[q, iou(c, o), iou(m, o), iou(u, o)]
                           for q, c, m, u, o in zip(present, car_masks, merged, unconditional, objects)],
                          caption=f"{WORLD}: ϕ_iom = {cfg.iom_thresh}; hand-made CaR masks and a 'SAM' that "
                                  "returns object halves")
        """),
        md("""
        Inside `CaR`, the same happens to the real CRF masks when the config enables SAM and a generator is
        passed:
        """),
        code("""
        with_sam = CaR(model.proposal, model.classifier, cfg.replace(sam=True), mask_generator=fake_sam)(image, queries)
        car.figures.show_label_maps(image, [result.labels, with_sam.labels], queries,
                                    ["CaR (CRF)", "CaR + 'SAM' (hand-made masks)"], suptitle=WORLD)
        plt.show()
        """),
        md("""
        With the real SAM (`pip install git+https://github.com/facebookresearch/segment-anything.git` and a
        checkpoint such as `sam_vit_h_4b8939.pth`), `car.postprocess.make_sam_generator` builds the generator
        with the official settings. The cell runs only where both are present.
        """),
        code("""
        import importlib.util
        import os
        from pathlib import Path

        SAM_CHECKPOINT = Path(os.environ.get("SAM_CHECKPOINT", "sam_vit_h_4b8939.pth"))
        if importlib.util.find_spec("segment_anything") and SAM_CHECKPOINT.is_file():
            generator = car.postprocess.make_sam_generator(SAM_CHECKPOINT, device="cuda" if torch.cuda.is_available() else None)
            real_sam = CaR(model.proposal, model.classifier, cfg.replace(sam=True), mask_generator=generator)(image, queries)
            car.figures.show_label_maps(image, [real_sam.labels], queries, [f"{WORLD}: CaR + SAM"])
            plt.show()
        else:
            print("SAM not run: needs the segment_anything package and a checkpoint (set SAM_CHECKPOINT).")
        """),
        *summary([
            "The CRF's unary is [$(1 - \\max y_T)$; $y_T$], un-normalised; one joint CRF in semantic mode, then argmax "
            "(`crf_masks`, `label_map`).",
            "The official CRF values are DeepLab's (10 iterations, (1, 3), (67, 3, 4)), not Krähenbühl's defaults the "
            "paper names; and the official image is a wrapped uint8 cast (`official_image_quirk`).",
            "IoM matches SAM's parts to CaR's masks; the union replaces a mask only if its IoU passes $\\phi_{iou}$ "
            "(`match_sam`, `sam_ensemble`); any callable with SAM's interface plugs into `CaR(mask_generator=...)`.",
        ]),
        *exercises([
            ("Vary the bilateral range $s_{xy}$ of the preset (3, 9, 30) and the number of iterations (1, 5, 10) on "
             "this scene. Which parameter moves the boundaries more?",
             """
             ```python
             for sxy in (3.0, 9.0, 30.0):
                 for iters in (1, 5, 10):
                     lab = to_labels(crf_masks(image, props, iters=iters, gaussian=cfg.crf_gaussian,
                                               bilateral=(sxy, *cfg.crf_bilateral[1:])))
                     print(sxy, iters, (lab != no_crf).mean())
             ```
             """),
            ("Set `bg_factor` to 0.5 and 2. Which way does the background channel move, and what happens to the "
             "masks' sizes?",
             """
             $(1 - \\max y)^{b}$ with $b < 1$ *raises* the background score (numbers in [0, 1] grow under a root),
             so masks shrink; $b > 1$ lowers it and masks grow.
             ```python
             for b in (0.5, 1.0, 2.0):
                 print(b, crf_masks(image, props, bg_factor=b, **crf_kw).sum())
             ```
             """),
            ("Make `fake_sam` return each object *whole* plus one mask that covers two objects. What do IoM and IoU say "
             "about the two-object mask, and does `match_sam` adopt it?",
             """
             A mask covering objects A and B has IoM 1 with CaR's mask of A (A lies inside it) but a low IoU. It is
             merged into the union, and the union (A ∪ B) then fails the IoU check against A's mask, so CaR keeps its
             own mask: the IoU check is what stops SAM's large masks from swallowing neighbours. Without it
             (`iou_thresh=-1`, the official demo), A's mask would grow to cover B.
             """),
        ]),
    ]
    return chapter(
        "postprocess", "Post-processing: dense CRF and the SAM ensemble",
        """
        After the recurrence, CaR refines the final proposals $y_T$ with a dense CRF and an argmax over the
        queries, and can optionally merge them with SAM's automatic masks through a new matching score, the
        Intersection over the Minimum mask (paper §3.4, Table 1 "CaR+SAM"). This chapter shows the
        CRF's input and output, the parameter question (paper vs code), the official image quirk, and the SAM
        ensemble on hand-made masks.
        """,
        ["the CRF's unary scores and masks before/after the CRF (asserted equal to `CaR`'s output);",
         "official vs Krähenbühl CRF parameters measured on toy scenes, and the wrapped-image quirk;",
         "IoM vs IoU and the SAM ensemble with a hand-made mask generator (real SAM only if installed)."],
        budget(10), cells)


def referring_chapter():
    cells = [
        md("""
        ## 1. Referring mode

        In semantic mode all queries share one CAM softmax and one CRF. A referring expression ("the large red
        circle") names *one* object among similar ones, so the referring presets switch to `mode="refer"`:

        - each expression gets its own CAM, competing only with the background queries
          (`car.cam.target_probabilities(..., mode="refer")`: softmax over $[q; \\mathrm{bg}]$);
        - each expression gets its own two-class CRF, so masks may overlap;
        - the classifier uses the canonical template only (`templates="canonical"`), with the paper's RefCOCO
          values $\\eta, \\theta, \\lambda = 0.5, 0.3, 0.5$ (Supp. F).

        The toy preset `toy_refcoco` is exactly that, with one toy CLIP as both models, as the official referring
        configs use ViT-B/16 for both.
        """),
        code("""
        from car.data import get_dataset
        from car.metrics import RefAccumulator, davis_jf, merge_ref_masks
        from car.postprocess import iou
        from car.toy.scenes import THINGS
        from car.toy.splits import toy_dataset

        model = CaR.from_config("refcoco") if REAL else CaR.from_config("toy_refcoco")
        cfg = model.config
        print(f"mode={cfg.mode!r}, templates={cfg.templates!r}, η, θ, λ = {cfg.eta}, {cfg.theta}, {cfg.lam}, "
              f"f = {model.proposal.name}, g = {model.classifier.name}")
        refs = toy_dataset("toy_refcoco", size=448 if REAL else 64)    # one sample per describable object
        CYAN = np.array([[0, 255, 255]], np.uint8)                     # the highlight colour of a referring mask

        def highlight(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
            return car.viz.overlay(image, mask.astype(np.int64) - 1, colours=CYAN)
        """),
        md("""
        ## 2. Toy referring expressions

        The toy split draws 2–3 objects per scene, repeats allowed, and describes one of them uniquely — by
        concept, then size, then side when needed (`car.toy.text.referring_expression`).
        """),
        code("""
        shown = [refs[i] for i in range(6)]
        fig = car.viz.show_images([highlight(s.image, s.gt) for s in shown],
                                  [s.sentences[0] for s in shown], cols=6, size=2.2,
                                  suptitle=f"{WORLD}: toy referring expressions and their targets")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        md("""
        ## 3. Segmenting expressions

        Each sample's sentences are the queries; the per-sentence masks are merged into one by score-weighted
        voting (`car.metrics.merge_ref_masks`, the official `merge_masks_simple`). The paper's referring "mIoU"
        is the mean of per-sample IoU; cIoU is $\\sum I / \\sum U$ (`car.metrics.RefAccumulator`).
        """),
        code("""
        acc = RefAccumulator()
        panels, titles = [], []
        for i in range(12):
            s = refs[i]
            res = model(s.image, s.sentences)
            pred = merge_ref_masks(res.masks, res.scores, s.gt.shape)       # bool (H, W)
            score = acc.update(pred, s.gt)
            if i < 6:
                panels.append(highlight(s.image, pred))
                titles.append(f"{s.sentences[0]}\\nIoU {score:.2f}")
        fig = car.viz.show_images(panels, titles, cols=6, size=2.2, suptitle=f"{WORLD}: CaR's referring masks")
        car.figures.fit_suptitle(fig)
        plt.show()
        summary_ = acc.summary()
        car.figures.Table(["samples", "mIoU", "cIoU", "precision@0.5"],
                          [[summary_["num_samples"], summary_["mIoU"], summary_["cIoU"], summary_["precision@0.5"]]],
                          caption=f"{WORLD}: first 12 samples of toy_refcoco (not a paper number)")
        """),
        md("""
        ## 4. Expressions with no target (GRES)

        GRES adds expressions that match nothing; the right answer is an empty mask. Two things make this hard
        for CaR. First, with a single sentence the classifier's softmax runs over one query, so $P_{11} = 1$ and
        the query is always kept — only the CAM and the CRF can leave the mask empty. Second, the metric: the
        official evaluation gives IoU 0 to a *correct* empty prediction (the union is empty), while GRES's own
        convention gives 1 (`RefAccumulator(empty_as_one=True)`). We add six no-target expressions — an absent
        concept on each of six scenes — and score the mixed set both ways.
        """),
        code("""
        official, gres = RefAccumulator(), RefAccumulator(empty_as_one=True)
        for i in range(6):
            s = refs[i]
            scene_concepts = {t.concept for t in refs.items[i][0].things}
            missing = next(c for c in np.random.default_rng(i).permutation(THINGS).tolist() if c not in scene_concepts)
            for sentence, gt in ((s.sentences[0], s.gt), (f"the {missing}", np.zeros_like(s.gt))):
                res = model(s.image, [sentence])
                pred = merge_ref_masks(res.masks, res.scores, gt.shape)
                official.update(pred, gt)
                gres.update(pred, gt)
        rows = [[name, a.miou(), a.ciou(), a.summary().get("N-acc")] for name, a in
                (("official (empty ∪ empty → IoU 0)", official), ("GRES (empty ∪ empty → IoU 1)", gres))]
        car.figures.Table(["convention", "mIoU", "cIoU", "N-acc (empty predicted for no-target)"], rows,
                          caption=f"{WORLD}: 6 expressions with a target + 6 without")
        """),
        md("""
        N-acc is the share of no-target expressions for which CaR predicted nothing. Because a lone query always
        survives the classifier, CaR rarely does; the conventions then differ only on the samples it gets right.

        ## 5. Referring video: J&F on toy videos

        Ref-DAVIS 2017 (Table 8) is scored per video with region similarity $\\mathcal{J}$ (IoU), contour accuracy
        $\\mathcal{F}$ (boundary F-measure) and their mean (`car.metrics.davis_jf`). CaR has no temporal model:
        it segments every frame independently with the expression. The toy videos move 2–3 shapes along straight
        lines for 8 frames.
        """),
        code("""
        videos = toy_dataset("toy_video", size=448 if REAL else 64)       # the toy_video split
        rows, strip, strip_titles = [], [], []
        for v in range(2):
            video = videos[v]
            preds = []
            for frame in video.frames:
                res = model(frame, [video.expression])
                preds.append(merge_ref_masks(res.masks, res.scores, frame.shape[:2]))
            jf = davis_jf(preds, video.masks)
            rows.append([video.name, video.expression, jf["J"], jf["F"], jf["JF"]])
            if v == 0:
                strip = [highlight(f, p) for f, p in zip(video.frames, preds)]
                strip_titles = [f"frame {t}: J {iou(p, g) if (p | g).any() else 1:.2f}"
                                for t, (p, g) in enumerate(zip(preds, video.masks))]
        fig = car.viz.show_images(strip, strip_titles, cols=8, size=1.6,
                                  suptitle=f"{WORLD}: {videos[0].expression!r}, frame by frame")
        car.figures.fit_suptitle(fig)
        plt.show()
        car.figures.Table(["video", "expression", "J", "F", "J&F"], rows, caption=f"{WORLD}: two toy videos")
        """),
        *summary([
            "Referring mode (`mode=\"refer\"`): one CAM per expression against the background, one CRF per expression, "
            "canonical template; the toy preset `toy_refcoco` mirrors the paper's RefCOCO setting.",
            "Several sentences of one object are merged by score-weighted voting (`merge_ref_masks`); mIoU is the mean "
            "per-sample IoU, cIoU the pooled one (`RefAccumulator`).",
            "A single sentence always survives the classifier ($P_{11} = 1$), so no-target expressions are hard, and "
            "the IoU of an empty-vs-empty sample is 0 officially, 1 in GRES's convention (`empty_as_one`).",
            "Video: frame-by-frame CaR scored with $\\mathcal{J}$, $\\mathcal{F}$ and J&F (`davis_jf`).",
        ]),
        *exercises([
            ("Segment the first referring sample in *semantic* mode with every concept of its scene as a query. Does "
             "the target win its pixels, and what goes wrong when the scene has two objects of the same concept?",
             """
             ```python
             s = refs[0]
             concepts = sorted({t.concept for t in refs.items[0][0].things})
             sem = CaR(model.proposal, model.classifier, "toy_voc")     # semantic mode, same models
             r = sem(s.image, concepts)
             car.figures.show_label_maps(s.image, [r.labels], concepts, [s.sentences[0]])
             plt.show()
             ```
             Semantic mode gives one mask per *concept*: two red circles share one label, so "the large red circle"
             cannot be separated from the small one. Referring mode keeps the words "large"/"left" in the query.
             """),
            ("Score the no-target experiment with the paper's θ rule (`theta_rule=\"paper\"`). Why does it change "
             "nothing for single-sentence samples?",
             """
             With one query, $P_{11} = \\mathrm{softmax}$ of a single logit $= 1 \\geq \\theta$ for any θ ≤ 1, so
             both rules keep it. Rejecting a lone expression would need a score that is not normalised over the
             queries, e.g. comparing against background texts in the classifier too.
             """),
            ("Compute J&F of the two videos with `skip_first_last=True` (the semi-supervised DAVIS protocol) and explain "
             "why the paper's unsupervised setting keeps all frames.",
             """
             In semi-supervised VOS the first frame's mask is given, so scoring it would be free; CaR gets no mask,
             so every frame is a prediction and all count. `davis_jf(preds, video.masks, skip_first_last=True)`
             drops frames 0 and 7.
             """),
        ]),
    ]
    return chapter(
        "referring", "Referring segmentation and video",
        """
        The queries of CaR can be referring expressions ("the small blue square on the left"), not only class
        names (paper §4.2, Tables 7–8 and I). This chapter runs CaR's referring mode on toy expressions, looks at
        GRES-style expressions that match nothing and at how the metric treats them, and scores toy videos with
        DAVIS's $\\mathcal{J}$ and $\\mathcal{F}$.
        """,
        ["what changes in referring mode (one CAM and one CRF per expression, canonical template);",
         "toy referring expressions and CaR's masks, with mIoU and cIoU;",
         "no-target expressions: the official vs GRES convention (`RefAccumulator(empty_as_one=...)`);",
         "J, F and J&F on two toy videos (`car.metrics.davis_jf`)."],
        budget(13), cells)


def toy_world_chapter():
    cells = [
        md("""
        ## 1. Things: 24 concepts

        A *thing* is a colour × shape concept — 6 colours, 4 shapes, 3 sizes — drawn with a little colour
        jitter and shading (`car.toy.scenes`). Things play VOC's object classes.
        """),
        code("""
        from car.toy.scenes import COLOURS, SHAPES, SIZES, STUFF, STUFF_FAMILIES, THINGS, render, sample_scene, texture

        concepts = [render(sample_scene(np.random.default_rng(i), num_things=(1, 1), things=(c,))).image
                    for i, c in enumerate(THINGS)]
        fig = car.viz.show_images(concepts, list(THINGS), cols=8, size=1.5, suptitle="toy world: the 24 thing concepts")
        car.figures.fit_suptitle(fig)
        plt.show()
        print(f"colours: {list(COLOURS)} | shapes: {list(SHAPES)} | sizes (radius / side): {SIZES}")
        """),
        md("""
        ## 2. Stuff: ten textures in three families

        Backgrounds are procedural textures. Their families mirror the paper's background-query groups
        (Supp. D): terrestrial, aquatic-atmospheric and man-made. Each family is registered as a background group
        (`toy_terrestrial`, …) and all ten as `toy_stuff`, so Table 6's ablation has a toy analogue.
        """),
        code("""
        tex, names = [], []
        for family, words in STUFF_FAMILIES.items():
            for w in words:
                tex.append(texture(w, 64, np.random.default_rng(0)))
                names.append(f"{family}:\\n{w}")
        fig = car.viz.show_images(tex, names, cols=10, size=1.5, suptitle="toy world: stuff textures by family")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        md("""
        ## 3. Scenes and the validation splits

        `sample_scene(rng, ...)` places 1–5 things with limited overlap on one or two textures; `render` draws
        pixels and exact masks. A scene is a pure function of its seed, so the splits below are generated on the
        fly, identically on every machine — nothing to download. One split per benchmark family of the paper:
        """),
        code("""
        from car.data import get_dataset
        from car.toy.splits import DEFAULT_SIZES

        analogue = {"toy_voc": "Pascal VOC-21", "toy_voc20": "VOC-20 / Table J", "toy_context": "Pascal Context",
                    "toy_ade": "ADE-150", "toy_refcoco": "RefCOCO", "toy_video": "Ref-DAVIS 2017"}
        car.figures.Table(["split", "paper analogue", "samples", "kind"],
                          [[n, analogue[n], len(get_dataset(n, None)), get_dataset(n, None).kind] for n in DEFAULT_SIZES],
                          caption="toy world: the validation splits (`car.data.get_dataset(name, None)`)")
        """),
        code("""
        voc, context, ade = (get_dataset(n, None) for n in ("toy_voc", "toy_context", "toy_ade"))
        samples = [voc[0], context[0], ade[0]]
        names = list(context.class_names)                      # 24 things + 10 stuff; toy_voc's labels are shifted
        car.figures.show_label_maps(None, [voc[0].gt - 1, context[0].gt, ade[0].gt], names,
                                    ["toy_voc (background unlabelled)", "toy_context (things + stuff)",
                                     "toy_ade (cluttered)"], images=[s.image for s in samples],
                                    suptitle="toy world: semantic splits, ground truth overlaid")
        plt.show()
        CYAN = np.array([[0, 255, 255]], np.uint8)
        ref, video = get_dataset("toy_refcoco", None)[0], get_dataset("toy_video", None)[0]
        panels = [car.viz.overlay(ref.image, ref.gt.astype(np.int64) - 1, colours=CYAN),
                  *[car.viz.overlay(f, m.astype(np.int64) - 1, colours=CYAN) for f, m in zip(video.frames[::3], video.masks[::3])]]
        fig = car.viz.show_images(panels, [f"toy_refcoco:\\n{ref.sentences[0]!r}"] +
                                  [f"toy_video frame {t}:\\n{video.expression!r}" for t in range(0, len(video.frames), 3)],
                                  cols=4, size=2.4, suptitle="toy world: referring splits, target highlighted")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        md("""
        ## 4. The tiny CLIPs

        Two CLIPs built with `open_clip`'s own `CLIP` class — so the hooks, CAM, CAA and classifier run the same
        code path as for real CLIP — at two sizes, a smaller "B" and a larger "L", standing in for the paper's
        ViT-B/16 and ViT-L/14 (Table 3's toy analogue crosses them). Which one proposes and which one classifies
        in a toy preset is the preset's choice, made from measurements (`load_config("toy_voc").description`).
        They use 8-pixel patches on 64-pixel images (an 8 × 8 token grid) and a word-level tokenizer over the toy
        vocabulary.
        """),
        code("""
        from car.toy.models import TOY_MODEL_CFGS, checkpoint_path

        rows = []
        for size, c in TOY_MODEL_CFGS.items():
            bundle = load_clip(f"toy-{size}")
            v, t = c["vision_cfg"], c["text_cfg"]
            rows.append([f"toy-{size}", f"{v['layers']} x {v['width']}", f"{v['patch_size']} px on {v['image_size']} px",
                         f"{t['layers']} x {t['width']}", c["embed_dim"],
                         f"{sum(p.numel() for p in bundle.model.parameters()) / 1e6:.2f} M"])
        car.figures.Table(["model", "vision blocks x width", "patches", "text blocks x width", "embedding", "parameters"],
                          rows, caption="toy world: the two tiny CLIPs (shipped in car/toy/checkpoints)")
        """),
        md("""
        **Training data.** `python -m car toy train --size b|l` trains them contrastively (`open_clip.ClipLoss`)
        on pairs drawn fresh from the scene generator: whole scenes captioned with every thing (often the stuff
        too), wrapped in one of the 15 official templates; and *highlighted* scenes in which one region is marked
        with a visual prompt of a random kind and captioned alone — the stand-in for the web prior that teaches
        real CLIP what a red circle means. No prompt kind is favoured. Some pairs:
        """),
        code("""
        from car.toy.train import make_pair

        pair_rng = np.random.default_rng(3)
        pairs = [make_pair(pair_rng, focus_prob=0.4) for _ in range(8)]
        captions = [textwrap.fill(textwrap.shorten(p[1], 70), 30) for p in pairs]
        fig = car.viz.show_images([p[0] for p in pairs], captions, cols=4, size=2.6,
                                  suptitle="toy world: training pairs (image, caption)")
        car.figures.fit_suptitle(fig)
        plt.show()
        """),
        md("""
        **Training curves.** Each checkpoint stores its log (`torch.load(path, weights_only=True)["log"]`): every
        100 steps the mean contrastive loss and the zero-shot accuracy on 144 fixed single-object images
        ("a photo of a {concept}.", 24 classes). Nothing is trained in this chapter.
        """),
        code("""
        logs = {f"toy-{s}": torch.load(checkpoint_path(s), weights_only=True)["log"] for s in ("b", "l")}
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        car.figures.plot_curves({m: ([e["step"] for e in log], [e["loss"] for e in log]) for m, log in logs.items()},
                                "training step", "contrastive loss", title="toy world: loss", ax=axes[0])
        car.figures.plot_curves({m: ([e["step"] for e in log], [e["zero_shot_acc"] for e in log]) for m, log in logs.items()},
                                "training step", "zero-shot accuracy (24 classes)", title="toy world: zero-shot accuracy",
                                ax=axes[1])
        plt.show()
        """),
        md("""
        ## 5. Does the toy world need the recurrence?

        A toy world in which one step already segments well would teach nothing about CaR. `python -m car toy
        report` measures it on the VOC-like split (all 24 concepts as queries): the zero-shot multi-label mAP of
        both models, and the mIoU of one step without recurrence (T = 1 of Algorithm 1: every query's step-1
        proposal is post-processed), of one step whose verdict *is* applied (`max_steps=1`), and of full CaR —
        with the toy preset's grad-CAM proposals and with CAA. Its targets: full CaR ≥ 55 mIoU and ≥ 15 above
        T = 1. Here on the first 40 images, so that the chapter stays fast (the committed
        `book/data/toy_report.json` has the whole split):
        """),
        code("""
        import tempfile
        from car.toy.report import report

        with tempfile.TemporaryDirectory() as tmp:
            rep = report(limit=40, progress=False, out_dir=tmp)
        car.figures.Table(["setting", "mIoU"], [[k, v] for k, v in rep["miou"].items()], floatfmt=".1f",
                          caption=f"toy world: {rep['split']}; zero-shot mAP {rep['zero_shot_multilabel_map']}")
        """),
        code("""
        print({k: "met" if v else "missed" for k, v in rep["targets"].items()})
        """),
        md("""
        Without recurrence the absent queries keep their min–max-normalised maps and claim pixels everywhere; the
        recurrence removes them. One pruned step is about as good as the full recurrence here: absent queries
        hold little of the toy CLIPs' CAM softmax, so recomputing the survivors' CAMs without them adds little
        (Part II, Table 2). CAA is worse than grad-CAM on these models, whose attention is not
        object-aligned — the reason the toy presets propose with grad-CAM.

        ## 6. What the toy world can and cannot show

        | the toy world **can** show | it **cannot** show |
        | --- | --- |
        | every mechanism of CaR running on the real code path: CAM hooks, CAA, prompts, classifier, recurrence, CRF | how good CaR is on real photos: toy numbers are never paper numbers |
        | the *direction* of the paper's ablations (recurrence on/off, CAM vs CAA, prompts, background groups, B vs L classifier) | effects that come from web-scale pre-training: proper nouns, rare concepts, the red-circle prior of real CLIP |
        | the recurrence removing absent queries from a large vocabulary (24 things + 10 stuff) | open-vocabulary breadth: the toy vocabulary has ~80 words, everything else is `<unk>` |
        | metric and protocol details (background handling, GRES conventions, J&F) exactly | image-size effects at photo resolution: toy images are 64 pixels, so kernels are scaled |
        """),
        code("""
        tokenizer = load_clip("toy-b").tokenizer
        for text in ["a photo of a red circle.", "a photo of the Space Needle.", "Barcelona and Arsenal players"]:
            print(f"{text!r:40} unknown words -> <unk>: {tokenizer.unknown_words(text)}")
        """),
        *summary([
            "Scenes are pure functions of a seed: 24 thing concepts on 10 stuff textures in 3 families, with exact masks; "
            "six fixed splits mirror the paper's benchmark families.",
            "Two tiny CLIPs (open_clip's `CLIP` class, B and L roles) were trained contrastively on toy captions and "
            "prompt-highlighted regions; their logs ship inside the checkpoints.",
            "The toy world demonstrates mechanisms and ablation directions; it cannot stand in for real CLIP's "
            "vocabulary or accuracy.",
        ]),
        *exercises([
            ("Render one scene at 64 and at 256 pixels from the same seed. What stays the same and what changes?",
             """
             ```python
             a = render(sample_scene(np.random.default_rng(5), size=64)).image
             b = render(sample_scene(np.random.default_rng(5), size=256)).image
             car.viz.show_images([a, b], ["64 px", "256 px"])
             plt.show()
             ```
             The layout is the same (positions and radii scale with the side); textures are redrawn at the new
             scale, so fine detail differs.
             """),
            ("Which concepts does toy-b confuse most in whole-image zero-shot classification? Use `zero_shot_set` "
             "and `zero_shot_accuracy`'s recipe from `car.toy.train`.",
             """
             ```python
             from car.toy.train import zero_shot_set
             images, labels = zero_shot_set()
             b = load_clip("toy-b")
             with torch.no_grad():
                 text = b.model.encode_text(b.tokenizer([f"a photo of a {c}." for c in THINGS]), normalize=True)
                 pred = (b.model.encode_image(images, normalize=True) @ text.T).argmax(1)
             wrong = [(THINGS[t], THINGS[p]) for t, p in zip(labels.tolist(), pred.tolist()) if t != p]
             print(len(wrong), wrong[:10])
             ```
             """),
            ("Why do the toy models need a word-level tokenizer rather than CLIP's byte-pair tokenizer?",
             """
             Real CLIP's 49,408-token vocabulary would put ~6 M parameters in the token embedding alone — more than
             the whole toy-b model — for a world of ~80 words. The word tokenizer keeps open_clip's calling
             convention (start and end tokens, zero padding, argmax pooling at the end token), so nothing else changes.
             """),
        ]),
    ]
    nb = chapter(
        "toy_world", "The toy world",
        """
        The book must run without internet and without CLIP weights, so every experiment also has a small, honest
        analogue in a *toy world*: synthetic scenes with exact ground truth, and two tiny CLIPs trained on them
        that stand in for ViT-B/16 and ViT-L/14. This chapter shows how scenes are generated, how the tiny
        CLIPs were trained (from the logs they ship with) and what the toy world can and cannot tell us about the
        paper.
        """,
        ["the 24 thing concepts, the 10 stuff textures in 3 families, and one sample of each validation split;",
         "the two tiny CLIPs, their training data and their training curves (from the shipped logs);",
         "what the toy world can show and what it cannot."],
        budget(10, no_training=True), cells)
    return nb


CHAPTERS = {
    "quickstart": quickstart,
    "clip": clip_chapter,
    "cam": cam_chapter,
    "caa": caa_chapter,
    "prompts": prompts_chapter,
    "recurrence": recurrence_chapter,
    "postprocess": postprocess_chapter,
    "referring": referring_chapter,
    "toy_world": toy_world_chapter,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook of chapter ``name``."""
    nb = CHAPTERS[name]()
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name}-{i:02d}"  # stable ids: regenerating gives identical files
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BOOK, help="folder to write the notebooks to (default: book/)")
    parser.add_argument("chapters", nargs="*", default=list(CHAPTERS), help="chapters to write (default: all)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.chapters:
        if name not in CHAPTERS:
            raise SystemExit(f"unknown chapter {name!r}; valid: {', '.join(CHAPTERS)}")
        nbformat.write(build(name), args.out / f"{name}.ipynb")


if __name__ == "__main__":
    main()
