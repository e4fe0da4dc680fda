"""Typed configuration of one CaR setting (a dataset x a table row of the paper).

Every field has the paper's value as default where the paper states one; where the official code
(`google-research/clip_as_rnn`, see the reproduction ledger in the book) differs, the trailing comment
names the official value and a named option selects either behaviour.

Presets are found by name. A base setting is a YAML file of ``car/configs``; an ablation row of the paper's
Tables 2-6 is its base preset with the fields the row's metadata names changed (:func:`ablation_setting`), so
no row repeats its base's file. The cells a preset reproduces are stored once, in
:data:`car.paper.PRESET_CELLS`; a preset's ``table`` and ``row`` are rendered from them::

    >>> from car.config import load_config, list_configs
    >>> cfg = load_config("voc")
    >>> cfg.eta, cfg.theta, cfg.lam
    (0.4, 0.6, 0.4)
    >>> load_config("voc_prompt_circle").prompts, load_config("voc_prompt_circle").row
    (('circle',), 'Table 4: circle | mIoU')
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from car import paper
from car.resample import RESAMPLERS
from car.vocab import TEMPLATE_SETS

CONFIG_DIR = Path(__file__).parent / "configs"  # presets of the paper's tables
#: Presets beyond the paper (no paper cell: the single-pass peers' protocol, datasets the paper did not run).
BEYOND_DIR = CONFIG_DIR / "beyond"
#: More preset folders by name, registered by the plug-ins (:func:`register_config_dir`; the toy world's "toy").
CONFIG_DIRS: dict[str, Path] = {}


def register_config_dir(name: str, path: Path) -> None:
    """Add a plug-in's preset folder under ``name`` (``load_config`` then finds its presets)."""
    CONFIG_DIRS[name] = Path(path)


def _plugin_dirs() -> dict[str, Path]:
    from car.plugins import load_plugins

    load_plugins()
    return CONFIG_DIRS

PROMPT_KINDS = ("circle", "contour", "blur", "gray", "mask", "box")


@dataclass(frozen=True)
class CaRConfig:
    """Hyper-parameters of one CaR run.

    Symbols follow the paper: η (``eta``) binarises proposals for the visual prompts (§3.3),
    θ (``theta``) removes queries (Eq. 6), λ (``lam``) is CLIP-ES's box threshold in CAA (Eq. 8).
    """

    name: str = "default"
    table: str = ""  # the paper table this preset reproduces, e.g. "Table 2"
    row: str = ""  # the row / column of that table, in the paper's words
    description: str = ""

    # --- data ---
    dataset: str = "voc"  # a reader name of car.data (or a toy split name)
    split: str = "val"
    ignore_background: bool = False  # VOC-20 / PC-59 / Table J setting (evaluation only)

    # --- input size ---
    working_size: int | None = 640  # longer side (px) at which every CLIP pass and the CRF run; larger photos
    #                                 are downscaled and masks / labels returned at the input's size (car.image).
    #                                 None = the image's own size (official code, unbounded cost). 640 keeps
    #                                 VOC / Context (500) and COCO / RefCOCO (640) images at their own size
    resample: str = "official"  # "official": PIL bicubic to uint8 for the CAM and classifier inputs, CLIP's
    #                             Resize / CenterCrop arithmetic, fp16-rounded resized positional embedding (the
    #                             released code); "float": torch bicubic in float, fp32 (car.resample)

    # --- backbones (open_clip names and pretrained tags) ---
    proposal_model: str = "ViT-B-16"  # f, §4.1
    proposal_pretrained: str = "openai"
    classifier_model: str = "ViT-L-14"  # g, §4.1; official RefCOCO* configs use ViT-B-16
    classifier_pretrained: str = "openai"

    # --- the recurrence (Algorithm 1) ---
    mode: str = "semantic"  # "semantic": one CAM softmax over all queries; "refer": one CAM per query
    recurrence: bool = True  # False = T = 1 of Algorithm 1 (Table 2 first row): one step, and every query's
    #                          proposal is post-processed (the loop ends before the classifier's verdict is used)
    max_steps: int | None = None  # cap on the steps, pruning applied (max_steps=1: one step, then the kept
    #                               queries' step-1 proposals); no cap in the paper or the official code
    eta: float = 0.4  # η, §3.3 (VOC); official voc.yaml 0.4
    theta: float = 0.6  # θ, Eq. 6 (VOC); official voc.yaml 0.6
    lam: float = 0.4  # λ, CLIP-ES box threshold (VOC); official voc.yaml 0.4
    theta_rule: str = "official"  # "official": keep P_ii > θ and keep the argmax if none pass;
    #                               "paper": keep P_ii >= θ, the set may become empty (Eq. 6, Alg. 1)

    # --- mask proposal generator (§3.3, CLIP-ES) ---
    cam_text: str = "official"  # "official": raw query at step 1, cam_template from step 2 on;
    #                             "template": cam_template at every step; "raw": never templated
    cam_template: str = "a clean origami {}."  # official CAM / background template
    background: tuple[str, ...] = ("clipes",)  # background-query groups of car.vocab.BACKGROUND_GROUPS;
    #                                           "clipes" = the 23 words of the official configs;
    #                                           () = no background query (Table 6 "None")
    background_exclude: str = "none"  # official: every background word is kept, also one equal to a query
    #                                   (Context's thing pass keeps sky, grass, wall, ...); "queries": drop words
    #                                   equal to any query (§3.2: "categories that do not exist in the user text
    #                                   queries"; Supp. E calls this "noisy" for Context)
    proposal_size_multiple: int | None = 16  # CAM input rounded up to multiples of this (official
    #                                          img_ms_and_flip: 16 whatever the patch, so ViT-L/14 drops the last
    #                                          0-13 px); None = the proposal model's own patch size
    attn_layers: int = 8  # CAA uses the last k attention maps (official: 8 of 12)
    sinkhorn_rounds: int = 3  # (column, row) normalisation rounds (official: 3)
    affinity_power: int = 2  # t in Eq. 8 (official: one squaring, t = 2)

    # --- visual prompts (§3.3, Algorithm B) ---
    prompts: tuple[str, ...] = ("circle", "blur")  # official voc.yaml: circle + blur
    stuff_prompts: tuple[str, ...] = ()  # prompts of the stuff pass (Context/ADE); () = no stuff pass
    thing_background: str = "official"  # background of the thing pass: "official" = the ``background`` groups;
    #                                     "added" = those words and the stuff class names (§4.1: stuff names
    #                                     "added as background queries"); "stuff" = the stuff names alone
    two_pass_crf: str = "per_pass"  # things + stuff (Supp. E): "per_pass" = official, each pass is a full CaR
    #                                 call with its own dense CRF, masks overlap, stuff painted first and things
    #                                 over it; "joint" = one CRF over [bg; things; stuff] (disjoint masks)
    prompt_thickness: int = 1  # official modeling/ code: 1 (the unused refactor: 3)
    blur_kernel: int = 15  # official: 15 x 15 Gaussian, sigma from OpenCV's rule

    # --- mask classifier (§3.3, Eq. 5) ---
    templates: str = "official15"  # name in car.vocab.TEMPLATE_SETS; "canonical" = cam_template only
    classifier_score: str = "official"  # "official": softmax of the sum of per-template softmaxes;
    #                                     "paper": one softmax of the template-averaged embedding
    classifier_skip_last_block: bool = True  # official quirk: CLS after block L-1; False = standard CLIP
    classifier_crop: str = "center"  # official: resize shortest side + centre crop; "resize": squash
    refer_text_bug: bool = False  # True reproduces the official refer-mode bug: from step 2 on ``_filter_texts``
    #                               indexes the characters of the canonical strings (official RefCOCO* numbers)
    precision: str = "auto"  # CLIP arithmetic: "auto" = fp16 on CUDA (paper §4.1; official clip.load keeps fp16
    #                          weights there), fp32 on the CPU; "fp32", "fp16", "bf16" (autocast, weights fp32)

    # --- post-processing (§3.4) ---
    crf: bool = True
    crf_iters: int = 10  # official / CLIP-ES: 10
    crf_gaussian: tuple[float, float] = (1.0, 3.0)  # (sxy, compat), official DeepLab values
    crf_bilateral: tuple[float, float, float] = (67.0, 3.0, 4.0)  # (sxy, srgb, compat)
    bg_factor: float = 1.0  # unary background = (1 - max CAM) ** bg_factor (official: 1)
    sam: bool = False  # optional SAM ensemble (Table 1 "CaR+SAM")
    iom_thresh: float = 0.7  # ϕ_iom, §3.4; official configs 0.6 (VOC) / 0.7 (COCO) / 0.5 (Context)
    iou_thresh: float = 0.7  # ϕ_iou, §3.4; official evaluation default 0.9
    min_pred_thresh: float = 0.05  # official IoM gate on |p ∩ s| / |p|
    sam_model: str = "vit_h"  # official: HQ-SAM vit_h (sam.py / voc.yaml ``sam:``)
    sam_checkpoint: str | None = None  # path to the SAM checkpoint (official: sam_hq_vit_h.pth); needed when sam
    sam_hq: bool = True  # official: HQ-SAM (``pip install segment-anything-hq``); False = the original SAM
    sam_points_per_side: int = 64  # official config 64 (SamAutomaticMaskGenerator's class default: 32)

    # --- the proposer and the single-pass peers' protocol (beyond the paper: car.proposers, car.peers) ---
    proposer: str = "caa"  # f's proposal generator, a name of car.proposers.list_proposers(): "caa" = CLIP-ES CAM
    #                        + class-aware affinity (the paper), "gradcam" (Table 2), or a single-pass peer's dense
    #                        maps ("maskclip", "sclip", "clearclip", "naclip", "scclip")
    dense_templates: str = "imagenet80"  # text templates of the peers and of a dense proposer (a name of
    #                                      car.vocab.TEMPLATE_SETS, embeddings averaged); "cam" = CaR's CAM texts
    dense_logit_scale: float = 40.0  # the peers' softmax temperature over [queries; background] (SCLIP, NACLIP: 40)
    short_side: int | None = None  # protocol resize: the shorter side to this many px (the longer at most 2048)
    #                                before every pass (peers: 336, Cityscapes 560); None = ``working_size``'s rule
    slide_crop: int | None = None  # the dense peers' sliding window, px (protocol: 224); None = one whole-image pass
    slide_stride: int = 112  # the window's stride, px (protocol: 112)
    prob_thd: float = 0.0  # a peer's pixel whose best class probability is below this is background (protocol: 0.1
    #                        on the three sets with background: VOC-21, PC-60, COCO-Object)
    dense_background: tuple[str, ...] | None = None  # the peers' background-word groups (car.vocab; protocol: SCLIP's
    #                                                 26 words on VOC-21 / COCO-Object, "background" on PC-60, none
    #                                                 on the sets without background); None = ``background``
    class_names: str | None = None  # class-name file with synonyms (car.queries.load_names: the peers' SCLIP files);
    #                                 every name is a query and a class wins where one of its names wins; None =
    #                                 the dataset's own names
    pamr: bool = False  # NACLIP's PAMR refinement of the dense logits (off unless named; NACLIP's default: on)
    pamr_steps: int = 10  # PAMR iterations (NACLIP: 10)
    pamr_dilations: tuple[int, ...] = (8, 16)  # PAMR neighbourhood dilations, px (NACLIP: 8, 16)

    # --- evaluation protocol (dataset readers) ---
    gres_targets: str = "first"  # official GReferDataset: the first target's mask; "union": every target (GRES)
    davis_protocol: str = "unsupervised"  # Ref-DAVIS J&F: "unsupervised" = davis2017 unsupervised protocol on
    #                                       Annotations_unsupervised as ReferFormer's eval_davis.py (void excluded,
    #                                       objects matched, mean of the 4 expression sets); "per_expression" =
    #                                       each expression scored alone against Annotations (semi-supervised ids)

    # --- the field's scoring rules (SCLIP / NACLIP's harness; defaults keep CaR's) ---
    coco_unlabeled: str = "ignore"  # COCO-Object's unlabelled pixels (255): "ignore" (car's reading of the paper's
    #                                 benchmark) or "background" (the field's: GroupViT's construction, TCL, SCLIP,
    #                                 NACLIP); car.data.cocostuff explains when the two differ
    predict_background: bool = True  # False = the field's rule on the sets without a background class (VOC-20,
    #                                  PC-59, COCO-Stuff, Cityscapes, ADE-150): a pixel CaR leaves to the background
    #                                  takes the best surviving query instead (car.adapters.fill_background)

    def reader_options(self) -> dict[str, Any]:
        """Options of this config for its dataset reader (``car.data.get_dataset(..., **options)``).

        GRES: ``targets`` (:attr:`gres_targets`); Ref-DAVIS: ``protocol`` (:attr:`davis_protocol`); COCO-Object:
        ``unlabeled`` (:attr:`coco_unlabeled`); else none.
        """
        if self.dataset in ("gres", "grefcoco"):
            return {"targets": self.gres_targets}
        if self.dataset in ("davis", "ref-davis"):
            return {"protocol": self.davis_protocol}
        if self.dataset in ("coco", "coco_object"):
            return {"unlabeled": self.coco_unlabeled}
        return {}

    def replace(self, **changes: Any) -> "CaRConfig":
        """Return a copy with ``changes`` applied (validated like a loaded preset)."""
        return _validated(dataclasses.replace(self, **changes))


_TUPLE_FIELDS = {f.name for f in fields(CaRConfig) if str(f.type).startswith("tuple")}


def _validated(cfg: CaRConfig) -> CaRConfig:
    bad = [p for p in cfg.prompts + cfg.stuff_prompts if p not in PROMPT_KINDS]
    if bad:
        raise ValueError(f"unknown visual prompt(s) {bad}; valid: {', '.join(PROMPT_KINDS)}")
    for key, valid in {
        "mode": ("semantic", "refer"),
        "theta_rule": ("official", "paper"),
        "cam_text": ("official", "template", "raw"),
        "classifier_score": ("official", "paper"),
        "classifier_crop": ("center", "resize"),
        "thing_background": ("official", "added", "stuff"),
        "resample": tuple(RESAMPLERS),
        "background_exclude": ("none", "queries"),
        "two_pass_crf": ("per_pass", "joint"),
        "precision": ("auto", "fp32", "fp16", "bf16"),
        "gres_targets": ("first", "union"),
        "davis_protocol": ("unsupervised", "per_expression"),
        "coco_unlabeled": ("ignore", "background"),
    }.items():
        if getattr(cfg, key) not in valid:
            raise ValueError(f"config {cfg.name!r}: {key}={getattr(cfg, key)!r}; valid: {', '.join(valid)}")
    if cfg.dense_templates != "cam" and cfg.dense_templates not in TEMPLATE_SETS:
        raise ValueError(f"config {cfg.name!r}: dense_templates={cfg.dense_templates!r}; valid: cam, "
                         f"{', '.join(TEMPLATE_SETS)}")
    for key in ("eta", "theta", "lam"):
        value = getattr(cfg, key)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"config {cfg.name!r}: {key}={value} must lie in [0, 1]")
    return cfg


def config_from_dict(data: dict[str, Any]) -> CaRConfig:
    """Build a validated :class:`CaRConfig` from a plain mapping (e.g. parsed YAML)."""
    known = {f.name for f in fields(CaRConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid keys: {', '.join(sorted(known))}")
    data = {k: tuple(v) if k in _TUPLE_FIELDS and isinstance(v, list) else v for k, v in data.items()}
    return _validated(CaRConfig(**data))


#: Paper tables whose rows are ablations: a base preset with the row's fields changed (§4.2).
ABLATION_TABLES = ("2", "3", "4", "5", "6")
_BASE_PRESETS = {"Pascal VOC": "voc", "COCO Object": "coco"}  # an ablation row's dataset -> its base preset
_OPEN_CLIP = {"ViT-B/16": "ViT-B-16", "ViT-L/14": "ViT-L-14"}  # Table 3's backbones
_CAMS = {"CLIP-ES [37]": "caa", "gradCAM [54]": "gradcam"}  # Table 2's CAM column
_BACKGROUNDS = {"Terrestrial": "terrestrial", "Aquatic Atmospheric": "aquatic_atmospheric", "Man-Made": "man_made"}
_ABLATION_NOTES = {  # what the paper leaves open about a table's rows, said in each row's description
    "2": "gradCAM: plain gradCAM proposals without CAA; the paper did not tune its hyper-parameters.",
    "3": "CAA keeps the last 8 attention maps also for ViT-L/14 (24 blocks); the paper gives no other value.",
    "4": "Checked prompts are applied together on one image; 'mask' blacks out everything outside the mask "
         "(the official code's 'black').",
    "6": "Groups of supp. D (car.vocab): the caption names four, but the columns and supp. D merge Aquatic and "
         "Atmospheric into one list.",
}


def ablation_setting(cell: paper.PaperCell) -> tuple[str, dict[str, Any]]:
    """The base preset of an ablation cell of Tables 2-6 and the fields its row sets, read from the row.

    Table 2: ``recurrence``, ``proposer``; Table 3: the backbones; Table 4: ``prompts``; Table 5: ``eta``,
    ``theta``, ``lam``; Table 6: ``background``. The base is ``voc`` or ``coco`` by the cell's dataset.

    Raises:
        ValueError: ``cell`` is not in one of :data:`ABLATION_TABLES`.
    """
    if cell.table not in ABLATION_TABLES:
        raise ValueError(f"Table {cell.table} is no ablation table; ablation tables: {', '.join(ABLATION_TABLES)}")
    row = paper.get_table(cell.table).row(cell.row, cell.group or None)
    meta = row.meta
    match cell.table:
        case "2":
            changes = {"recurrence": meta["w/ recurrence?"], "proposer": _CAMS[meta["CAM"]]}
        case "3":
            changes = {"proposal_model": _OPEN_CLIP[meta["Mask Proposal Generator f"]],
                       "classifier_model": _OPEN_CLIP[meta["Mask Classifier g"]]}
        case "4":
            changes = {"prompts": tuple(meta["Visual Prompts"])}
        case "5":
            changes = dict(zip(("eta", "theta", "lam"), row.values[:3]))
        case _:  # "6"
            changes = {"background": tuple(_BACKGROUNDS[g] for g in meta["Background queries"])}
    return _BASE_PRESETS[cell.group or cell.column], changes


def _cell_refs(cells: tuple[paper.PaperCell, ...]) -> dict[str, str]:
    """The ``table`` and ``row`` fields of a preset that reproduces ``cells`` (``"Table 1: <row> | <cols> || ..."``)."""
    columns: dict[tuple[str, str], list[str]] = {}
    for c in cells:
        columns.setdefault((c.table, c.row), []).append(c.column)
    return {"table": ", ".join(dict.fromkeys(f"Table {c.table}" for c in cells)),
            "row": " || ".join(f"Table {t}: {r} | {', '.join(cols)}" for (t, r), cols in columns.items())}


def _ablation(name: str, cell: paper.PaperCell) -> CaRConfig:
    """Preset ``name``: the base preset of ``cell``'s row with the row's fields set (:func:`ablation_setting`)."""
    base_name, changes = ablation_setting(cell)
    base = load_config(base_name)
    changed = ", ".join(f"{k} = {list(v) if isinstance(v, tuple) else v}" for k, v in changes.items()
                        if getattr(base, k) != v)
    changed = f"with {changed}" if changed else f"unchanged (the row's setting is {base_name}'s own)"
    text = f"Table {cell.table} row {cell.row!r} ({cell.group or cell.column}): preset {base_name} {changed}."
    text = f"{text} {_ABLATION_NOTES[cell.table]}" if cell.table in _ABLATION_NOTES else text
    return base.replace(name=name, description=text, **changes, **_cell_refs(paper.paper_cells(name)))


def _ablation_cells() -> dict[str, paper.PaperCell]:
    """The presets without a YAML file: one per ablation cell of Tables 2-6, by name."""
    return {name: cells[0] for name, cells in paper.PRESET_CELLS.items()
            if cells[0].table in ABLATION_TABLES and not (CONFIG_DIR / f"{name}.yaml").exists()}


def list_configs(toy: bool = False, beyond: bool = False) -> list[str]:
    """Names of the shipped presets, sorted: the paper's (``car/configs`` and the ablation rows), those beyond the
    paper (``beyond``: ``car/configs/beyond``) or the toy world's (``toy``)."""
    if toy:
        return sorted(p.stem for p in _plugin_dirs()["toy"].glob("*.yaml"))
    if beyond:
        return sorted(p.stem for p in BEYOND_DIR.glob("*.yaml"))
    return sorted({p.stem for p in CONFIG_DIR.glob("*.yaml")} | set(_ablation_cells()))


def _read_yaml(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping of keys to values")
    return {"name": path.stem, **data}


def _beyond(path: Path) -> CaRConfig:
    """A preset beyond the paper: its YAML, or, when it names a ``base`` preset, that preset with the YAML's fields
    set (e.g. the peers' protocol over CaR's Pascal Context values)."""
    data = {"table": "beyond the paper", **_read_yaml(path)}
    base = data.pop("base", None)
    if base is None:
        return config_from_dict(data)
    unknown = sorted(set(data) - {f.name for f in fields(CaRConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown config key(s) {unknown}")
    data.setdefault("row", f"{base}, changed")
    return load_config(base).replace(**{k: tuple(v) if k in _TUPLE_FIELDS and isinstance(v, list) else v
                                        for k, v in data.items()})


def load_config(name_or_path: str | Path, **overrides: Any) -> CaRConfig:
    """Load a preset by name (see :func:`list_configs`) or a YAML file path.

    A paper preset's ``table`` and ``row`` come from :data:`car.paper.PRESET_CELLS`; an ablation row of Tables 2-6
    is built from its base preset (:func:`ablation_setting`); a preset beyond the paper (``car/configs/beyond``) may
    name a ``base`` preset whose values it changes (so may any YAML path).

    Args:
        name_or_path: a preset name such as ``"voc"`` or a path to a ``.yaml`` file.
        **overrides: fields to change after loading, e.g. ``theta=0.5``.

    Raises:
        ValueError: unknown preset name (the message lists the valid ones) or a bad key/value.
    """
    name, path = str(name_or_path), Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = _read_yaml(path)
        beyond = "base" in data or path.resolve().parent == BEYOND_DIR.resolve()
        cfg = _beyond(path) if beyond else config_from_dict(data)
    elif (CONFIG_DIR / f"{name}.yaml").exists():
        cells = paper.PRESET_CELLS.get(name, ())
        cfg = config_from_dict({**_read_yaml(CONFIG_DIR / f"{name}.yaml"), **_cell_refs(cells)})
    elif cell := _ablation_cells().get(name):
        cfg = _ablation(name, cell)
    elif (BEYOND_DIR / f"{name}.yaml").exists():
        cfg = _beyond(BEYOND_DIR / f"{name}.yaml")
    else:
        folder = next((d for d in _plugin_dirs().values() if (d / f"{name}.yaml").exists()), None)
        if folder is None:
            valid = list_configs() + list_configs(beyond=True) + list_configs(toy=True)
            raise ValueError(f"unknown config {name!r}; available: {', '.join(valid)}")
        cfg = config_from_dict(_read_yaml(folder / f"{name}.yaml"))
    return cfg.replace(**overrides) if overrides else cfg
