"""The bundled photographs: each loads offline with its credit, and its hand-drawn object mask covers its object."""
from __future__ import annotations

import numpy as np
import pytest

from car.photos import DISTRACTORS, PHOTOS, credit_line, load_photo, object_mask, vocabulary


@pytest.mark.parametrize("key", sorted(PHOTOS))
def test_photo_loads_with_its_credit_and_mask(key) -> None:
    image, mask = load_photo(key), object_mask(key)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert mask.shape == image.shape[:2] and 0.02 < mask.mean() < 0.5   # an object, not the whole frame
    assert credit_line(key).startswith(f"skimage.data.{key}(): ")
    assert any(w in PHOTOS[key].credit for w in ("public domain", "CC0"))
    assert PHOTOS[key].object[0] in PHOTOS[key].present   # the drawn object is one of the present queries


@pytest.mark.parametrize("key", sorted(PHOTOS))
def test_photo_names_present_and_absent_queries_and_no_prompt(key) -> None:
    photo = PHOTOS[key]
    assert photo.present and set(photo.absent) & set(photo.queries), "queries it shows and queries it does not"
    assert set(photo.absent) <= set(photo.queries) | set(photo.expressions)
    assert len(set(photo.expressions) - set(photo.absent)) >= 2 and set(photo.expressions) & set(photo.absent)
    # a query that names what a visual prompt draws could match the prompt instead of the object (real CLIP)
    for text in photo.queries + photo.expressions + DISTRACTORS:  # the distractors join every vocabulary
        assert not any(w in text.lower() for w in ("red", "circle", "ellipse", "blur", "gray", "black")), text


def test_unknown_photo_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="available: astronaut"):
        load_photo("mona lisa")


def test_vocabulary_adds_distractors_after_the_photo_s_queries() -> None:
    assert vocabulary("chelsea", 3) == ["cat", "dog", "sofa"]
    assert vocabulary("chelsea", 5) == ["cat", "dog", "sofa", *DISTRACTORS[:2]]
    assert len(vocabulary("rocket", 100)) == len(PHOTOS["rocket"].queries) + len(DISTRACTORS)
    assert not set(DISTRACTORS) & {q for p in PHOTOS.values() for q in p.queries}
    with pytest.raises(ValueError, match="available"):
        vocabulary("mona lisa", 3)
