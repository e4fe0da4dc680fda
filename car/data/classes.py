"""Class names of every dataset of the paper, exactly as the official code writes them, and of the field's two
other benchmarks (COCO-Stuff-164k, Cityscapes) as their standard tables write them.

Index convention (official): class index ``i`` of a list is painted as GT label ``i + 1``; label 0 is
the background ("background" for VOC / COCO-Object / Pascal Context, "unlabeled" for ADE) and 255
(65535 for the large vocabularies) marks ignored pixels. See ``car/data/__init__.py``.

The query strings are the official ones, including CLIP-ES's synonyms (``"bird avian"``), kept
spellings (``"pottedplant"``, ``"diningtable"``) and typos (``"sknowboard"``); the ``*_PLAIN`` lists
are the plain names used for tables. PC-459 and ADE-847 are long and stored as data files
(``pascal459.txt``, ``ade847.txt``, one name per line, transcribed from the official
``clip_as_rnn/data/pascal459.py`` and ``ade847.py`` = the detectron2 / FC-CLIP metadata lists). COCO-Stuff's
171 names (``cocostuff171.txt``) are mmsegmentation's ``COCOStuffDataset.CLASSES``
(open-mmlab/mmsegmentation:mmseg/datasets/coco_stuff.py): the 80 things in COCO order, then the 91 stuff classes
in COCO's (alphabetical) id order; Cityscapes' 19 are the ``trainId`` order of cityscapesScripts
(mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_DATA_DIR = Path(__file__).parent

# --- Pascal VOC 2012 (official data/voc.py `VOC_CLASSES`; index i <-> GT label i + 1) ---
VOC_CLASSES: list[str] = [
    "aeroplane", "bicycle", "bird avian", "boat", "bottle", "bus", "car", "cat", "chair seat", "cow",
    "diningtable", "dog", "horse", "motorbike", "person with clothes,people,human", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor screen",
]
VOC_CLASSES_PLAIN: list[str] = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
]

# --- COCO-Object (official data/coco.py `COCO_OBJECT_CLASSES`; 80 things, index i <-> label i + 1) ---
COCO_OBJECT_CLASSES: list[str] = [
    "person with clothes,people,human", "bicycle", "car", "motorbike", "aeroplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird avian", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    "backpack,bag", "umbrella,parasol", "handbag,purse", "necktie", "suitcase", "frisbee", "skis",
    "sknowboard", "sports ball", "kite", "baseball bat", "glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "dessertspoon", "bowl", "banana",
    "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair seat", "sofa", "pottedplant", "bed", "diningtable", "toilet", "tvmonitor screen", "laptop",
    "mouse", "remote control", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hairdrier,blowdrier",
    "toothbrush",
]
_COCO_PLAIN_CHANGES = {
    0: "person", 14: "bird", 24: "backpack", 25: "umbrella", 26: "handbag", 27: "tie", 31: "snowboard",
    35: "baseball glove", 44: "spoon", 56: "chair", 62: "tvmonitor", 65: "remote", 78: "hair drier",
}
COCO_OBJECT_CLASSES_PLAIN: list[str] = [
    _COCO_PLAIN_CHANGES.get(i, name) for i, name in enumerate(COCO_OBJECT_CLASSES)
]

# --- Pascal Context 59 (official data/context.py; index i <-> label i + 1, 0 = background) ---
PASCAL_CONTEXT_CLASSES: list[str] = [
    "airplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow", "cup",
    "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground", "horse",
    "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform", "plant",
    "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa", "table", "track",
    "train", "tree", "truck", "monitor", "wall", "water", "window", "wood",
]
# Stuff-pass ids in the official list order (the thing pass is every other id, ascending).
PASCAL_CONTEXT_STUFF_CLASS_ID: list[int] = [
    3, 15, 17, 21, 25, 28, 29, 32, 34, 38, 40, 44, 46, 47, 55, 56, 57, 58, 23, 24, 41,
]
PASCAL_CONTEXT_THING_CLASS_ID: list[int] = [
    i for i in range(len(PASCAL_CONTEXT_CLASSES)) if i not in PASCAL_CONTEXT_STUFF_CLASS_ID
]

# --- ADE20K-150 (official data/ade.py `ADE_CLASSES`: objectInfo150 names, spaces -> comma tokens) ---
ADE150_CLASSES: list[str] = [
    "wall", "building, edifice", "sky", "floor, flooring", "tree", "ceiling", "road, route", "bed",
    "windowpane, window", "grass", "cabinet", "sidewalk, pavement",
    "person, individual, someone, somebody, mortal, soul", "earth, ground", "door, double, door",
    "table", "mountain, mount", "plant, flora, plant, life", "curtain, drape, drapery, mantle, pall",
    "chair", "car, auto, automobile, machine, motorcar", "water", "painting, picture",
    "sofa, couch, lounge", "shelf", "house", "sea", "mirror", "rug, carpet, carpeting", "field",
    "armchair", "seat", "fence, fencing", "desk", "rock, stone", "wardrobe, closet, press", "lamp",
    "bathtub, bathing, tub, bath, tub", "railing, rail", "cushion", "base, pedestal, stand", "box",
    "column, pillar", "signboard, sign", "chest, of, drawers, chest, bureau, dresser", "counter",
    "sand", "sink", "skyscraper", "fireplace, hearth, open, fireplace", "refrigerator, icebox",
    "grandstand, covered, stand", "path", "stairs, steps", "runway",
    "case, display, case, showcase, vitrine", "pool, table, billiard, table, snooker, table",
    "pillow", "screen, door, screen", "stairway, staircase", "river", "bridge, span", "bookcase",
    "blind, screen", "coffee, table, cocktail, table",
    "toilet, can, commode, crapper, pot, potty, stool, throne", "flower", "book", "hill", "bench",
    "countertop", "stove, kitchen, stove, range, kitchen, range, cooking, stove", "palm, palm, tree",
    "kitchen, island",
    "computer, computing, machine, computing, device, data, processor, electronic, computer, "
    "information, processing, system",
    "swivel, chair", "boat", "bar", "arcade, machine", "hovel, hut, hutch, shack, shanty",
    "bus, autobus, coach, charabanc, double-decker, jitney, motorbus, motorcoach, omnibus, "
    "passenger, vehicle",
    "towel", "light, light, source", "truck, motortruck", "tower", "chandelier, pendant, pendent",
    "awning, sunshade, sunblind", "streetlight, street, lamp", "booth, cubicle, stall, kiosk",
    "television, television, receiver, television, set, tv, tv, set, idiot, box, boob, tube, telly, "
    "goggle, box",
    "airplane, aeroplane, plane", "dirt, track", "apparel, wearing, apparel, dress, clothes", "pole",
    "land, ground, soil", "bannister, banister, balustrade, balusters, handrail",
    "escalator, moving, staircase, moving, stairway", "ottoman, pouf, pouffe, puff, hassock",
    "bottle", "buffet, counter, sideboard", "poster, posting, placard, notice, bill, card", "stage",
    "van", "ship", "fountain", "conveyer, belt, conveyor, belt, conveyer, conveyor, transporter",
    "canopy", "washer, automatic, washer, washing, machine", "plaything, toy",
    "swimming, pool, swimming, bath, natatorium", "stool", "barrel, cask", "basket, handbasket",
    "waterfall, falls", "tent, collapsible, shelter", "bag", "minibike, motorbike", "cradle", "oven",
    "ball", "food, solid, food", "step, stair", "tank, storage, tank",
    "trade, name, brand, name, brand, marque", "microwave, microwave, oven", "pot, flowerpot",
    "animal, animate, being, beast, brute, creature, fauna", "bicycle, bike, wheel, cycle", "lake",
    "dishwasher, dish, washer, dishwashing, machine", "screen, silver, screen, projection, screen",
    "blanket, cover", "sculpture", "hood, exhaust, hood", "sconce", "vase",
    "traffic, light, traffic, signal, stoplight", "tray",
    "ashcan, trash, can, garbage, can, wastebin, ash, bin, ash-bin, ashbin, dustbin, trash, barrel, "
    "trash, bin",
    "fan", "pier, wharf, wharfage, dock", "crt, screen", "plate", "monitor, monitoring, device",
    "bulletin, board, notice, board", "shower", "radiator", "glass, drinking, glass", "clock", "flag",
]
ADE150_STUFF_CLASS_ID: list[int] = [
    0, 2, 3, 4, 5, 6, 9, 13, 16, 17, 21, 26, 29, 46, 48, 52, 60, 61, 66, 68, 94, 91, 92, 128, 113,
]

# --- Pascal Context 459 and ADE20K-847 (names in data files, see load_class_names) ---
PASCAL459_STUFF_CLASS_ID: list[int] = [
    6, 67, 85, 92, 96, 111, 157, 160, 186, 188, 210, 228, 258, 277, 278, 323, 325, 329, 333, 359, 365,
    381, 386, 439, 444, 457,
]
ADE847_STUFF_CLASS_ID: list[int] = [
    0, 2, 3, 4, 5, 8, 9, 12, 15, 16, 22, 24, 33, 47, 54, 368, 31, 195, 118, 134, 136, 53, 143, 90, 435,
    546, 624, 111, 304,
]

# --- COCO-Stuff-164k (names in cocostuff171.txt): things are train ids 0-79, stuff 80-170 ---
COCO_STUFF_STUFF_CLASS_ID: list[int] = list(range(80, 171))

# --- Cityscapes (19 evaluated classes in trainId order; index i <-> trainId i) ---
CITYSCAPES_CLASSES: list[str] = [
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign", "vegetation",
    "terrain", "sky", "person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle",
]
# Stuff = the categories flat, construction, object, nature and sky; things = human and vehicle (labels.py).
CITYSCAPES_STUFF_CLASS_ID: list[int] = list(range(11))

_NAME_FILES = {"pascal459": ("pascal459.txt", 459), "ade847": ("ade847.txt", 847),
               "cocostuff171": ("cocostuff171.txt", 171)}


@lru_cache(maxsize=None)
def _load_names(vocabulary: str) -> tuple[str, ...]:
    if vocabulary not in _NAME_FILES:
        raise ValueError(f"unknown vocabulary {vocabulary!r}; valid: {', '.join(_NAME_FILES)}")
    filename, expected = _NAME_FILES[vocabulary]
    path = _DATA_DIR / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"class-name file {path} is missing; it ships with the car package (restore it from git)"
        )
    names = path.read_text(encoding="utf-8").splitlines()
    if len(names) != expected:
        raise ValueError(f"class-name file {path} holds {len(names)} names, expected {expected}")
    return tuple(names)


def load_class_names(vocabulary: str) -> list[str]:
    """Official class names of a long vocabulary stored as data.

    Args:
        vocabulary: ``"pascal459"`` (PC-459, alphabetical, incl. ``"unknown"``), ``"ade847"``
            (ADE20K-full, detectron2 order, ``"wall"`` ... ``"adding machine, ..."``) or ``"cocostuff171"``
            (COCO-Stuff-164k, ``"person"`` ... ``"toothbrush"``, ``"banner"`` ... ``"wood"``).

    Returns:
        A new list of 459, 847 or 171 names; index i <-> GT label i + 1.

    Raises:
        ValueError: unknown vocabulary or a corrupted file; FileNotFoundError: file missing.
    """
    return list(_load_names(vocabulary))


def stuff_flags(num_classes: int, stuff_ids: list[int]) -> list[bool]:
    """``flags[i]`` is True when class index ``i`` belongs to the stuff pass."""
    ids = set(stuff_ids)
    return [i in ids for i in range(num_classes)]
