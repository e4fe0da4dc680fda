"""Text side of CaR: prompt templates and background-query lists (official code and paper Supp. D).

The dataset class-name lists live with their readers in :mod:`car.data`.
"""
from __future__ import annotations

from typing import Sequence

#: Template of the CAM text and of every background query (official ``cam_text_template``, CLIP-ES).
CAM_TEMPLATE = "a clean origami {}."

#: The 15 classifier templates of every official semantic config (``semantic_templates``). Templates 3–6 have no
#: final period, exactly as in the code.
OFFICIAL_TEMPLATES: tuple[str, ...] = (
    "a clean origami {}.",
    "a photo of a {}.",
    "This is a photo of a {}",
    "There is a {} in the scene",
    "There is the {} in the scene",
    "a photo of a {} in the scene",
    "a photo of a small {}.",
    "a photo of a medium {}.",
    "a photo of a large {}.",
    "This is a photo of a small {}.",
    "This is a photo of a medium {}.",
    "This is a photo of a large {}.",
    "There is a small {} in the scene.",
    "There is a medium {} in the scene.",
    "There is a large {} in the scene.",
)

#: The 80 ImageNet templates of the CLIP paper (Radford et al. 2021; openai/CLIP
#: notebooks/Prompt_Engineering_for_ImageNet.ipynb), the text side of the single-pass peers' protocol
#: (wangf3014/SCLIP:prompts/imagenet_template.py ``openai_imagenet_template``): one embedding per name, the mean
#: of the 80 normalised template embeddings, normalised again.
IMAGENET_TEMPLATES: tuple[str, ...] = (
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
)

#: Named template sets for the mask classifier (config field ``templates``).
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "official15": OFFICIAL_TEMPLATES,
    "canonical": (CAM_TEMPLATE,),  # RefCOCO*/GRES configs: the canonical string only
    "photo": ("a photo of a {}.",),
    "imagenet80": IMAGENET_TEMPLATES,  # the single-pass peers' protocol (any method may use it)
}

#: The 23 background words of every official config (``bg_cls`` = CLIP-ES ``BACKGROUND_CATEGORY_COCO``).
CLIPES_BACKGROUND: tuple[str, ...] = (
    "ground", "land", "grass", "tree", "building", "wall", "sky", "lake", "water", "river", "sea",
    "railway", "railroad", "helmet", "cloud", "house", "mountain", "ocean", "road", "rock", "street",
    "valley", "bridge",
)

#: Paper Supp. D, the groups of Table 6.
TERRESTRIAL: tuple[str, ...] = (
    "ground", "land", "grass", "tree", "mountain", "rock", "valley", "earth", "terrain", "forest", "bush",
    "hill", "field", "pasture", "meadow", "plateau", "cliff", "canyon", "ridge", "peak", "plain", "prairie",
    "tundra", "savanna", "steppe", "crag", "knoll", "dune", "glen", "dale", "copse", "thicket",
)
AQUATIC_ATMOSPHERIC: tuple[str, ...] = (
    "sea", "ocean", "lake", "water", "river", "sky", "cloud", "pond", "stream", "lagoon", "bay", "gulf",
    "fjord", "estuary", "creek", "brook", "reservoir", "pool", "spring", "marsh", "swamp", "wetland",
    "glacier", "iceberg", "atmosphere", "stratosphere", "mist", "fog", "rain", "drizzle", "hail", "sleet",
    "snow", "thunderstorm", "breeze", "wind", "gust", "hurricane", "tornado", "monsoon", "cumulus",
    "cirrus", "stratus", "nimbus",
)
MAN_MADE: tuple[str, ...] = (
    "building", "house", "wall", "road", "street", "railway", "railroad", "bridge", "edifice", "structure",
    "apartment", "condominium", "skyscraper", "highway", "boulevard", "lane", "alley", "byway", "avenue",
    "expressway", "freeway", "path", "overpass", "underpass", "viaduct", "tunnel", "footbridge",
    "crosswalk", "culvert", "dam", "archway", "causeway", "plaza", "square", "station", "terminal",
)

#: The background line of the single-pass peers' VOC-21 and COCO-Object name files (26 stuff words;
#: wangf3014/SCLIP:configs/cls_voc21.txt line 1, the same in cls_coco_object.txt and in the NACLIP and SC-CLIP copies).
SCLIP_BACKGROUND: tuple[str, ...] = (
    "sky", "wall", "tree", "wood", "grass", "road", "sea", "river", "mountain", "sands", "desk", "bed", "building",
    "cloud", "lamp", "door", "window", "wardrobe", "ceiling", "shelf", "curtain", "stair", "floor", "hill", "rail",
    "fence",
)

#: Background-query groups by name (config field ``background``).
BACKGROUND_GROUPS: dict[str, tuple[str, ...]] = {
    "clipes": CLIPES_BACKGROUND,
    "terrestrial": TERRESTRIAL,
    "aquatic_atmospheric": AQUATIC_ATMOSPHERIC,
    "man_made": MAN_MADE,
    "sclip": SCLIP_BACKGROUND,  # the peers' protocol on VOC-21 and COCO-Object
    "background": ("background",),  # the peers' protocol on PC-60 (wangf3014/SCLIP:configs/cls_context60.txt line 1)
}


def register_background_group(name: str, words: Sequence[str]) -> None:
    """Add a named background group (the toy world registers its own stuff families this way)."""
    BACKGROUND_GROUPS[name] = tuple(words)


def background_queries(groups: Sequence[str], exclude: Sequence[str] = ()) -> list[str]:
    """The background words of ``groups`` in order, without duplicates and without ``exclude``.

    The official code excludes nothing: every pass that uses the 23 CLIP-ES words keeps all of them, also a word
    equal to a query (Context's thing pass keeps sky, grass, wall, ...), and :class:`car.CaR` does the same by
    default. ``exclude`` (config ``background_exclude: queries``) is the literal reading of §3.2, "background
    queries describing categories that do not exist in the user text queries"; a background word equal to a
    query then no longer fights that query in the CAM softmax.

    Raises:
        ValueError: an unknown group name (the message lists the valid ones).
    """
    excluded = {q.strip().lower() for q in exclude}
    words: list[str] = []
    if any(g not in BACKGROUND_GROUPS for g in groups):
        from car.plugins import load_plugins

        load_plugins()  # the toy world's groups
    for group in groups:
        if group not in BACKGROUND_GROUPS:
            raise ValueError(f"unknown background group {group!r}; valid: {', '.join(BACKGROUND_GROUPS)}")
        for w in BACKGROUND_GROUPS[group]:
            if w not in excluded and w not in words:
                words.append(w)
    return words
