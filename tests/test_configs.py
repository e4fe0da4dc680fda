"""The paper presets: they load, cover every paper table, and carry the paper's values.

Base settings are the YAML files of car/configs; the ablation rows of Tables 2-6 are built from their base.
Presets are checked against ``car.paper`` (an independent encoding of the paper's tables): a Table 5
preset must hold its row's η, θ, λ, a Table 4 preset its row's checked prompts, and so on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from car import paper
from car.config import CONFIG_DIR, CaRConfig, list_configs, load_config

NAMES = list_configs()
STORED = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))  # the presets with a YAML file
META_KEYS = {"table", "row", "description"}
DATASETS = {"voc", "voc20", "coco", "context", "context59", "context459", "ade150", "ade847", "refcoco",
            "refcocoplus", "refcocog", "gres", "davis"}
DEFAULTS = CaRConfig()


def _raw(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def _setting(cfg: CaRConfig) -> dict:
    """The config's fields without the descriptive ones (what a run depends on)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in META_KEYS | {"name"}}


def _diff(a: CaRConfig, b: CaRConfig) -> set[str]:
    sa, sb = _setting(a), _setting(b)
    return {k for k in sa if sa[k] != sb[k]}


def test_presets_exist_and_names_are_unique() -> None:
    assert len(NAMES) >= 60
    assert len({n.lower() for n in NAMES}) == len(NAMES)
    assert {"voc", "coco", "context", "context_official", "refcoco", "refcocoplus", "refcocog", "gres",
            "davis"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_preset_loads_and_describes_its_table(name: str) -> None:
    cfg = load_config(name)
    assert cfg.name == name
    assert cfg.dataset in DATASETS
    assert cfg.description.strip() and cfg.row.strip()
    tables = paper.parse_table_refs(cfg.table)
    assert tables, name
    # the `table` field names exactly the tables whose cells car.paper links to this preset
    assert set(tables) == {c.table for c in paper.paper_cells(name)}


@pytest.mark.parametrize("name", STORED)
def test_presets_set_only_what_differs_from_the_defaults(name: str) -> None:
    raw = _raw(name)
    assert "description" in raw and not {"table", "row"} & set(raw), "table / row come from paper.PRESET_CELLS"
    for key, value in raw.items():
        if key in META_KEYS:
            continue
        default = getattr(DEFAULTS, key)
        value = tuple(value) if isinstance(value, list) else value
        assert value != default, f"{name}: {key}={value!r} repeats the default"


def test_presets_and_paper_links_match() -> None:
    assert set(NAMES) == set(paper.PRESET_CELLS)
    voc20 = load_config("voc20")
    assert voc20.table == "Table 1, Table J"
    assert voc20.row == "Table 1: CaR (Ours, w/o SAM) | VOC-20 || Table J: CaR (Ours) | VOC-20"
    assert load_config("davis").row == "Table 8: CaR (Ours) | J&F, J, F"


def test_stored_presets_hold_distinct_settings() -> None:
    assert len({repr(_setting(load_config(name))) for name in STORED}) == len(STORED)


def test_an_ablation_row_equal_to_its_base_is_its_base() -> None:
    for base, names in {"voc": ("voc_prompt_circle_blur", "voc_eta04_theta06_lam04", "voc_prop_b16_cls_l14"),
                        "coco": ("coco_eta05_theta03_lam05", "coco_prop_b16_cls_l14")}.items():
        for name in names:
            assert name in NAMES and name not in STORED
            assert _setting(load_config(name)) == _setting(load_config(base)), name


def test_every_paper_table_is_covered() -> None:
    covered = {key for name in NAMES for key in paper.parse_table_refs(load_config(name).table)}
    assert covered == set(paper.TABLES)


def test_main_settings_have_the_paper_values() -> None:
    hyper = {n: (c.eta, c.theta, c.lam) for n in NAMES for c in [load_config(n)]}
    assert hyper["voc"] == (0.4, 0.6, 0.4)  # §4.1
    assert hyper["coco"] == (0.5, 0.3, 0.5)  # §4.1
    assert hyper["context"] == (0.6, 0.2, 0.4)  # §4.1
    assert hyper["context_official"] == (0.6, 0.25, 0.4)  # official pascal_context.yaml
    assert hyper["refcoco"] == (0.5, 0.3, 0.5)  # supp. F
    assert hyper["refcocoplus"] == (0.2, 0.1, 0.5)
    assert hyper["refcocog"] == (0.5, 0.1, 0.6)
    assert hyper["gres"] == (0.5, 0.0, 0.3)  # official gres.yaml
    assert hyper["context459"] == (0.4, 0.25, 0.7)  # official pascal_context_459.yaml
    assert load_config("context").stuff_prompts == ("blur", "gray")
    assert load_config("coco").prompts == ("blur", "gray")


def test_ade_and_pc459_use_the_validation_split() -> None:
    for name in ("ade150", "ade847", "context459"):
        assert load_config(name).split == "validation", name  # the official / FC-CLIP folder name


def test_without_background_settings() -> None:
    for name in ("voc20", "context59", "context59_official", "ade150", "ade847", "context459"):
        assert load_config(name).ignore_background, name
    for name in ("voc", "coco", "context", "voc_sam", "context_sam"):
        assert not load_config(name).ignore_background, name


def test_sam_presets() -> None:
    for name in ("voc_sam", "coco_sam", "context_sam"):
        cfg = load_config(name)
        assert cfg.sam and (cfg.iom_thresh, cfg.iou_thresh) == (0.7, 0.7)  # §4.1: both 0.7
    official = {n: load_config(n) for n in ("voc_sam_official", "coco_sam_official", "context_sam_official")}
    assert [c.iom_thresh for c in official.values()] == [0.6, 0.7, 0.5]
    assert all(c.sam and c.iou_thresh == 0.9 for c in official.values())


def test_referring_presets() -> None:
    for name in ("refcoco", "refcoco_official", "refcocoplus", "refcocog", "refcocog_google", "davis"):
        cfg = load_config(name)
        assert (cfg.mode, cfg.classifier_model, cfg.templates) == ("refer", "ViT-B-16", "canonical"), name
        assert not cfg.sam
    assert load_config("refcoco").prompts == ("circle", "blur")  # supp. F
    assert load_config("refcoco_official").prompts == ("circle",)  # official refcoco.yaml
    gres = load_config("gres")
    assert (gres.mode, gres.classifier_model, gres.prompts) == ("refer", "ViT-L-14", ("circle",))
    assert load_config("refcoco", split="testA").split == "testA"
    assert load_config("refcocog", split="test").split == "test"


# ---------------------------------------------------------------------------------------------
# Each ablation row of Tables 2-6 resolves to a preset: its base setting with exactly the ablated fields
# changed, holding the row's values as car.paper stores them (translated here, not by car.config).
# ---------------------------------------------------------------------------------------------
ABLATED = {"2": {"recurrence", "proposer"}, "3": {"proposal_model", "classifier_model"}, "4": {"prompts"},
           "5": {"eta", "theta", "lam"}, "6": {"background"}}


def _holds_row(cfg: CaRConfig, key: str, row: paper.PaperRow) -> bool:
    m = row.meta
    if key == "2":
        return (cfg.recurrence, cfg.proposer) == (m["w/ recurrence?"], "gradcam" if "gradCAM" in m["CAM"] else "caa")
    if key == "3":
        f, g = m["Mask Proposal Generator f"], m["Mask Classifier g"]
        return (cfg.proposal_model, cfg.classifier_model) == (f.replace("/", "-"), g.replace("/", "-"))
    if key == "4":
        return set(cfg.prompts) == set(m["Visual Prompts"])
    if key == "5":
        return (cfg.eta, cfg.theta, cfg.lam) == row.values[:3]
    return set(cfg.background) == {g.lower().replace("-", "_").replace(" ", "_") for g in m["Background queries"]}


@pytest.mark.parametrize("key", sorted(ABLATED))
def test_every_ablation_row_resolves_to_its_setting(key: str) -> None:
    table = paper.get_table(key)
    presets = [(c, name) for name in paper.presets_for_table(key) for c in paper.paper_cells(name) if c.table == key]
    cells = {c: name for c, name in presets}
    columns = table.columns if key == "3" else ("mIoU",)  # Table 3: one column per dataset
    assert len(cells) == len(presets) == len(table.rows) * len(columns)
    assert len(cells) == {"2": 3, "3": 8, "4": 10, "5": 14, "6": 8}[key]
    for row in table.rows:
        for column in columns:
            name = cells[paper.PaperCell(key, row.label, column, row.group)]
            cfg, base = load_config(name), load_config("coco" if "COCO" in row.group + column else "voc")
            assert _holds_row(cfg, key, row), (name, row.label)
            assert _diff(cfg, base) <= ABLATED[key], name


def test_ablation_presets_by_name() -> None:
    assert load_config("voc_no_recurrence").recurrence is False
    assert load_config("voc_gradcam").proposer == "gradcam"
    assert load_config("voc_bg_none").background == ()
    assert load_config("voc_bg_terrestrial_man_made").background == ("terrestrial", "man_made")
    assert load_config("coco_prop_l14_cls_b16").proposal_model == "ViT-L-14"
    cfg = load_config("coco_eta06_theta03_lam05")
    assert (cfg.dataset, cfg.eta, cfg.theta, cfg.lam, cfg.prompts) == ("coco", 0.6, 0.3, 0.5, ("blur", "gray"))


def test_background_groups_and_templates_exist_in_vocab() -> None:
    vocab = pytest.importorskip("car.vocab", reason="car.vocab (the lead's module) is not written yet")
    used = {g for name in NAMES for g in load_config(name).background}
    assert used <= set(vocab.BACKGROUND_GROUPS)
    assert {load_config(name).templates for name in NAMES} <= set(vocab.TEMPLATE_SETS)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------
def test_unknown_key_in_a_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("table: Table 1\ndataset: voc\nthetta: 0.5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown config key\(s\) \['thetta'\]"):
        load_config(path)


def test_a_yaml_file_loads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: coco\ntheta: 0.35\nprompts: [circle]\n", encoding="utf-8")
    cfg = load_config(path)
    assert (cfg.name, cfg.dataset, cfg.theta, cfg.prompts) == ("mine", "coco", 0.35, ("circle",))


def test_unknown_preset_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown config 'vocc'; available: .*\bvoc\b.*\bvoc20\b"):
        load_config("vocc")


# ---------------------------------------------------------------------------------------------
# Presets beyond the paper (car/configs/beyond): listed in their own section, no paper cell
# ---------------------------------------------------------------------------------------------
BEYOND = list_configs(beyond=True)


def test_beyond_presets_are_listed_apart_from_the_paper_ones() -> None:
    assert {"field_voc21", "field_context60", "field_coco_object", "field_voc20", "field_context59",
            "field_cocostuff171", "field_cityscapes", "field_ade150"} <= set(BEYOND)
    assert not set(BEYOND) & set(NAMES) and not set(BEYOND) & set(paper.PRESET_CELLS)


@pytest.mark.parametrize("name", BEYOND)
def test_every_beyond_preset_loads_and_says_what_it_is(name: str) -> None:
    cfg = load_config(name)
    expected = "toy world" if cfg.dataset.startswith("toy_") else "beyond the paper"  # a toy analogue says so
    assert cfg.name == name and cfg.description.strip() and cfg.table == expected
    assert name not in paper.PRESET_CELLS


@pytest.mark.parametrize("name", [n for n in BEYOND if n.startswith("field_")])
def test_the_peers_protocol_presets(name: str) -> None:
    """One protocol (wangf3014/SCLIP:configs): short side 336 (Cityscapes 560), 224/112 windows, the 80 templates,
    SCLIP's names, probability threshold 0.1 exactly on the three sets with background, and background never
    predicted on the five without it; CaR's values from the base preset."""
    cfg = load_config(name)
    raw = yaml.safe_load((CONFIG_DIR / "beyond" / f"{name}.yaml").read_text(encoding="utf-8"))
    base = load_config(raw["base"])
    short = 560 if name == "field_cityscapes" else 336  # SCLIP's cfg_city_scapes.py: Resize(2048, 560)
    assert (cfg.short_side, cfg.slide_crop, cfg.slide_stride, cfg.dense_templates) == (short, 224, 112, "imagenet80")
    assert cfg.class_names.startswith("sclip_") and cfg.dense_logit_scale == 40.0 and not cfg.pamr
    with_background = name in ("field_voc21", "field_context60", "field_coco_object")
    assert cfg.prob_thd == (0.1 if with_background else 0.0) and bool(cfg.dense_background) == with_background
    assert cfg.predict_background is with_background and cfg.ignore_background is not with_background
    assert (cfg.eta, cfg.theta, cfg.lam, cfg.prompts, cfg.stuff_prompts) == (base.eta, base.theta, base.lam,
                                                                             base.prompts, base.stuff_prompts)


def test_a_beyond_preset_rejects_an_unknown_key(tmp_path, monkeypatch) -> None:
    import car.config as config

    (tmp_path / "odd.yaml").write_text("description: x\nbase: voc\nshort_sid: 336\n", encoding="utf-8")
    monkeypatch.setattr(config, "BEYOND_DIR", tmp_path)
    with pytest.raises(ValueError, match="unknown config key"):
        load_config("odd")
