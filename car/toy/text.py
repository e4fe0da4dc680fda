"""Words of the toy world: a word-level tokenizer with open_clip's calling convention, captions, expressions.

Real CLIP's byte-pair vocabulary (49,408 tokens) would make the text tower of a tiny model ~25 MB; the toy
world needs ~80 words, so the tiny CLIPs use a word-level vocabulary. The tokenizer is a drop-in for
``open_clip.get_tokenizer(...)``: ``tokenizer(list_of_str) -> LongTensor (B, context_length)`` with a
start token, an end token that has the largest id (open_clip's ``argmax`` text pooling), and zero padding.
Words outside the vocabulary become ``<unk>`` — so the official templates and background words still tokenize.
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch

from car.toy.scenes import COLOURS, SHAPES, SIZES, STUFF, Scene, Thing
from car.vocab import OFFICIAL_TEMPLATES

PAD, UNK, SOT, EOT = "<pad>", "<unk>", "<sot>", "<eot>"
_WORD = re.compile(r"[a-z]+|[^\sa-z]")

#: Words of the toy captions: the official template words, the concepts, and a few connectives.
_TEMPLATE_WORDS = sorted({w for t in OFFICIAL_TEMPLATES for w in _WORD.findall(t.lower().replace("{}", " "))})
TOY_WORDS: tuple[str, ...] = tuple(sorted(set(
    _TEMPLATE_WORDS + list(COLOURS) + list(SHAPES) + list(SIZES) + list(STUFF)
    + ["and", "on", "the", "left", "right", "with", ",", "."]
)))


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary (the toy CLIPs' text side).

    Args:
        words: the vocabulary (order fixes the ids; specials are added around it).
        context_length: tokens per text including start and end (longer texts are cut, keeping the end token).
    """

    def __init__(self, words: Sequence[str] = TOY_WORDS, context_length: int = 32):
        self.words = tuple(words)
        self.vocab = [PAD, UNK] + list(self.words) + [SOT, EOT]
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.context_length = context_length

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, text: str) -> list[str]:
        """Lower-case words and punctuation marks of ``text``."""
        return _WORD.findall(text.lower())

    def unknown_words(self, text: str) -> list[str]:
        """Words of ``text`` that are not in the vocabulary (they become ``<unk>``)."""
        return [w for w in self.split(text) if w not in self.index]

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        """Tokenize: int64 (B, context_length)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        n = context_length or self.context_length
        out = torch.zeros(len(texts), n, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.index.get(w, self.index[UNK]) for w in self.split(text)][: n - 2]
            ids = [self.index[SOT]] + ids + [self.index[EOT]]
            out[i, : len(ids)] = torch.tensor(ids)
        return out


# --------------------------------------------------------------------------- captions
def phrase(thing: Thing, rng: np.random.Generator | None = None, size_prob: float = 0.5,
           side_prob: float = 0.0, scene_size: int = 64) -> str:
    """Words for one thing: "red circle", sometimes "large red circle" or "red circle on the left"."""
    words = f"{thing.colour} {thing.shape}"
    if rng is not None and rng.random() < size_prob:
        words = f"{thing.size} {words}"
    if rng is not None and rng.random() < side_prob:
        side = _side(thing, scene_size)
        if side:
            words = f"{words} on the {side}"
    return words


def _side(thing: Thing, scene_size: int) -> str | None:
    x = thing.cx / scene_size
    return "left" if x < 0.4 else "right" if x > 0.6 else None


def join(items: Sequence[str]) -> str:
    """"a", "a and b", "a , b and c"."""
    items = list(items)
    return items[0] if len(items) == 1 else " , ".join(items[:-1]) + " and " + items[-1]


def caption(scene: Scene, rng: np.random.Generator, stuff_prob: float = 0.7) -> str:
    """A training caption of a whole scene, wrapped in one of the official templates (or none)."""
    things = [phrase(t, rng, side_prob=0.15, scene_size=scene.size) for t in scene.things]
    order = rng.permutation(len(things))
    text = join([things[i] for i in order]) if things else join(scene.stuff)
    if things and rng.random() < stuff_prob:
        text += " on " + join(scene.stuff)
    return wrap(text, rng)


def wrap(text: str, rng: np.random.Generator, plain_prob: float = 0.2) -> str:
    """Put ``text`` into a random official template (or leave it plain)."""
    if rng.random() < plain_prob:
        return text
    return OFFICIAL_TEMPLATES[int(rng.integers(len(OFFICIAL_TEMPLATES)))].format(text)


def referring_expression(scene: Scene, k: int) -> str:
    """A unique description of thing ``k`` of ``scene``: concept, plus size or side when needed."""
    target = scene.things[k]
    same = [t for i, t in enumerate(scene.things) if i != k and t.concept == target.concept]
    if not same:
        return f"the {target.concept}"
    if all(t.size != target.size for t in same):
        return f"the {target.size} {target.concept}"
    side = _side(target, scene.size)
    others = {_side(t, scene.size) for t in same}
    if side and side not in others:
        return f"the {target.concept} on the {side}"
    return ""  # not uniquely describable
