"""Ref-DAVIS 2017 reader (DAVIS 2017 frames + the referring expressions of Khoreva et al. 2018).

Layout::

    <root>/DAVIS/JPEGImages/480p/<video>/00000.jpg ...
    <root>/DAVIS/Annotations/480p/<video>/00000.png ...   (palette PNG: 0 = background, k = object k,
                                                           255 = void, read as background)
    <root>/DAVIS/ImageSets/2017/{train,val}.txt
    <root>/davis_text_annotations/Davis17_annot1.txt, Davis17_annot1_full_video.txt,
                                  Davis17_annot2.txt, Davis17_annot2_full_video.txt

Expression files hold one line per object: ``<video> <object id> "<expression>"``. Annotator 1's
files are UTF-8; annotator 2's are Latin-1 as distributed (read as UTF-8 first, Latin-1 if that
fails — the ReferFormer preparation reads them as Latin-1). Three video names are misspelt in the
files and fixed as ReferFormer does (clasic-car, dog-scale, motor-bike).

Two protocols (config field ``davis_protocol``, reader option ``protocol``):

* ``"unsupervised"`` (default; the field's practice — ReferFormer @ 9a2d4f65, ``inference_davis.py`` /
  ``eval_davis.py`` / ``scripts/dist_test_davis.sh``): one :class:`VideoSetSample` per (video, expression set),
  the set's expressions of every object of the video, scored against ``Annotations_unsupervised`` with the
  davis2017 unsupervised task (:class:`car.metrics.DavisSetAccumulator`): the objects' masks merged into one
  label map per frame, void pixels excluded, objects Hungarian-matched, J&F the mean of the four sets;
* ``"per_expression"``: one :class:`VideoSample` per (video, object, expression file), scored alone against
  ``Annotations`` (semi-supervised ids), void read as background — Khoreva et al. score every expression of both
  annotators, first-frame and full-video ones.

The paper gives no code or protocol beyond "following [29]" (Khoreva et al.).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from car.data.base import (
    AnnotationError,
    BaseDataset,
    SampleError,
    VideoSample,
    VideoSetSample,
    missing,
    read_image,
    read_label,
    require_dir,
    require_file,
)

DAVIS_SOURCE = ("DAVIS-2017-trainval-480p.zip (davischallenge.org/davis2017/code.html) and the "
                "referring expressions of Khoreva et al. (davis_text_annotations.zip, "
                "mpi-inf.mpg.de 'video-object-segmentation-with-language-referring-expressions')")
DAVIS_LAYOUT = ("<root>/DAVIS/{JPEGImages/480p/<video>/*.jpg, Annotations[_unsupervised]/480p/<video>/*.png, "
                "ImageSets/2017/<split>.txt} + <root>/davis_text_annotations/Davis17_annot{1,2}[_full_video].txt")
EXPRESSION_FILES = {
    "annot1": "Davis17_annot1.txt",
    "annot1_full_video": "Davis17_annot1_full_video.txt",
    "annot2": "Davis17_annot2.txt",
    "annot2_full_video": "Davis17_annot2_full_video.txt",
}
_VIDEO_NAME_FIXES = {"clasic-car": "classic-car", "dog-scale": "dogs-scale", "motor-bike": "motorbike"}
_LINE = re.compile(r'^(\S+)\s+(\d+)\s+(.*)$')


def parse_expression_file(path: Path, tag: str) -> list[tuple[str, int, str]]:
    """Parse one Khoreva expression file into ``(video, object id, expression)`` triples.

    Raises:
        AnnotationError: bad encoding or a malformed line (the message names file and line).
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if not tag.startswith("annot2"):
            raise AnnotationError(f"{path}: not valid UTF-8 ({e}); re-download the expression files") from e
        text = data.decode("latin-1")
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = _LINE.match(line)
        if match is None:
            raise AnnotationError(f'{path}:{number}: expected `<video> <object id> "<expression>"`, got {line!r}')
        video, obj, expression = match.groups()
        expression = expression.strip()
        if len(expression) >= 2 and expression[0] == expression[-1] == '"':
            expression = expression[1:-1]
        out.append((_VIDEO_NAME_FIXES.get(video, video), int(obj), expression))
    return out


@dataclass(frozen=True)
class VideoItem:
    name: str
    video: str
    object_id: int
    expression: str


class VideoDataset(BaseDataset):
    """Referring-video dataset: one :class:`VideoSample` per (video, object, expression)."""

    kind = "video"

    def __init__(self, *, items: list[VideoItem], frames_dir: Path, masks_dir: Path, **attrs: Any) -> None:
        super().__init__(num_samples=len(items), **attrs)
        self.items = items
        self.frames_dir = frames_dir
        self.masks_dir = masks_dir

    def sample_name(self, index: int) -> str:
        return self.items[self._index(index)].name

    def __getitem__(self, index: int) -> VideoSample:
        item = self.items[self._index(index)]
        frames, labels = _read_frames_and_labels(self.frames_dir, self.masks_dir, item.video)
        return VideoSample(frames=frames, masks=[label == item.object_id for label in labels],
                           expression=item.expression, name=item.name)


@dataclass(frozen=True)
class VideoSetItem:
    name: str
    video: str
    expression_set: str
    object_ids: tuple[int, ...]
    expressions: tuple[str, ...]


def _read_frames_and_labels(frames_dir: Path, masks_dir: Path, video: str) -> tuple[list, list]:
    frame_paths = sorted((frames_dir / video).glob("*.jpg"))
    mask_paths = sorted((masks_dir / video).glob("*.png"))
    if not frame_paths:
        raise SampleError(f"no frames in {frames_dir / video}")
    if [p.stem for p in frame_paths] != [p.stem for p in mask_paths]:
        raise SampleError(
            f"{masks_dir / video} holds {len(mask_paths)} masks for {len(frame_paths)} "
            f"frames in {frames_dir / video}; every frame needs a mask of the same name"
        )
    frames, labels = [], []
    for frame_path, mask_path in zip(frame_paths, mask_paths):
        frame, label = read_image(frame_path), read_label(mask_path)
        if frame.shape[:2] != label.shape:
            raise SampleError(f"mask {mask_path} is {label.shape[::-1]} but frame {frame_path} is "
                              f"{frame.shape[1::-1]} (W, H)")
        frames.append(frame)
        labels.append(label)
    return frames, labels


class VideoSetDataset(VideoDataset):
    """Ref-DAVIS under the unsupervised protocol: one :class:`VideoSetSample` per (video, expression set)
    (the items are :class:`VideoSetItem`)."""

    kind = "video_set"

    def __getitem__(self, index: int) -> VideoSetSample:
        item = self.items[self._index(index)]
        frames, labels = _read_frames_and_labels(self.frames_dir, self.masks_dir, item.video)
        return VideoSetSample(frames=frames, expressions=list(item.expressions), object_ids=list(item.object_ids),
                              gt_labels=labels, expression_set=item.expression_set, name=item.name)


def _davis_dir(root: Path) -> Path:
    for candidate in (root / "DAVIS", root):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    raise missing("DAVIS 2017 (JPEGImages)", root / "DAVIS", DAVIS_LAYOUT, DAVIS_SOURCE)


def _text_dir(root: Path, davis: Path) -> Path:
    for candidate in (root / "davis_text_annotations", davis / "davis_text_annotations", root):
        if (candidate / EXPRESSION_FILES["annot1"]).is_file():
            return candidate
    raise missing("Ref-DAVIS expression files", root / "davis_text_annotations", DAVIS_LAYOUT, DAVIS_SOURCE)


def load_ref_davis(root: str | Path, split: str | None = None, *, protocol: str = "unsupervised",
                   expressions: Sequence[str] = tuple(EXPRESSION_FILES), annotations: str | None = None,
                   resolution: str = "480p", name: str = "davis") -> VideoDataset | VideoSetDataset:
    """Ref-DAVIS 2017.

    Args:
        root: folder holding ``DAVIS/`` and ``davis_text_annotations/``.
        split: ``val`` (default, 30 videos) or ``train``.
        protocol: "unsupervised" (default, ReferFormer's practice: one sample per (video, expression set) against
            ``Annotations_unsupervised``) or "per_expression" (one sample per (video, object, expression file)
            against ``Annotations``); see the module docstring.
        expressions: which expression files (= expression sets) to read (keys of ``EXPRESSION_FILES``); default
            all four.
        annotations: mask folder; default ``Annotations_unsupervised`` (unsupervised) / ``Annotations``
            (per_expression, semi-supervised ids).
        resolution: ``480p`` or ``Full-Resolution``.
        name: registry name.
    """
    if protocol not in ("unsupervised", "per_expression"):
        raise ValueError(f"unknown Ref-DAVIS protocol {protocol!r}; valid: unsupervised, per_expression")
    if annotations is None:
        annotations = "Annotations_unsupervised" if protocol == "unsupervised" else "Annotations"
    split = split or "val"
    root = Path(root).expanduser()
    davis = _davis_dir(root)
    frames_dir = require_dir(davis / "JPEGImages" / resolution, "DAVIS frames", DAVIS_LAYOUT, DAVIS_SOURCE)
    masks_dir = require_dir(davis / annotations / resolution, f"DAVIS {annotations}", DAVIS_LAYOUT, DAVIS_SOURCE)
    split_file = require_file(davis / "ImageSets" / "2017" / f"{split}.txt", f"DAVIS split '{split}'",
                              DAVIS_LAYOUT, DAVIS_SOURCE)
    videos = [v.strip() for v in split_file.read_text(encoding="utf-8").splitlines() if v.strip()]
    bad = [e for e in expressions if e not in EXPRESSION_FILES]
    if bad:
        raise ValueError(f"unknown expression file(s) {bad}; valid: {', '.join(EXPRESSION_FILES)}")
    text_dir = _text_dir(root, davis)
    per_file = {
        tag: parse_expression_file(
            require_file(text_dir / EXPRESSION_FILES[tag], f"expression file {EXPRESSION_FILES[tag]}",
                         DAVIS_LAYOUT, DAVIS_SOURCE), tag)
        for tag in expressions
    }
    if protocol == "unsupervised":  # convert_davis_to_ytvos.py: per video and file, objects sorted by id
        set_items = []
        for video in videos:
            for tag, lines in per_file.items():
                found = sorted(((o, e) for v, o, e in lines if v == video), key=lambda oe: oe[0])
                if found:
                    set_items.append(VideoSetItem(f"{video}/{tag}", video, tag, tuple(o for o, _ in found),
                                                  tuple(e for _, e in found)))
        return VideoSetDataset(items=set_items, frames_dir=frames_dir, masks_dir=masks_dir, name=name, split=split,
                               root=root)
    items = []
    for video in videos:
        objects = sorted({obj for lines in per_file.values() for v, obj, _ in lines if v == video})
        for obj in objects:
            for tag, lines in per_file.items():
                found = [e for v, o, e in lines if v == video and o == obj]
                for k, expression in enumerate(found):
                    suffix = f"#{k}" if k else ""
                    items.append(VideoItem(f"{video}/{obj}/{tag}{suffix}", video, obj, expression))
    return VideoDataset(items=items, frames_dir=frames_dir, masks_dir=masks_dir, name=name, split=split,
                        root=root)

