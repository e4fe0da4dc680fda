"""Write (or check) the golden end-to-end case of ``tests/test_golden.py``: one toy scene, CaR's exact labels.

    python tools/golden.py          # check: exit 1 when CaR's labels differ from the committed ones
    python tools/golden.py --write  # after a deliberate change of behaviour (e.g. new toy checkpoints)

The scene is ``toy_voc`` sample 0 saved as a PNG; the expected output is the label map (index of the winning
query + 1, 0 = none) as a PNG, and the kept queries and scores as JSON.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "golden"


def run(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """CaR with the ``toy_voc`` preset on ``image`` over the split's 24 thing names → (labels + 1, summary)."""
    from car import CaR
    from car.data import get_dataset

    queries = list(get_dataset("toy_voc", None).class_names)
    result = CaR.from_config("toy_voc")(image, queries)
    summary = {"queries": queries, "kept": result.kept, "steps": len(result.steps),
               "scores": [round(float(s), 4) for s in result.scores]}
    return (result.labels + 1).astype(np.uint8), summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="overwrite the committed expectation")
    args = p.parse_args()
    scene = GOLDEN / "scene.png"
    if args.write and not scene.exists():
        from car.data import get_dataset

        GOLDEN.mkdir(parents=True, exist_ok=True)
        Image.fromarray(get_dataset("toy_voc", None)[0].image).save(scene)
    labels, summary = run(np.asarray(Image.open(scene).convert("RGB")))
    if args.write:
        Image.fromarray(labels).save(GOLDEN / "labels.png")
        (GOLDEN / "expected.json").write_text(json.dumps(summary, indent=1) + "\n")
        print(f"wrote {GOLDEN}: kept {summary['kept']}")
        return 0
    same = np.array_equal(labels, np.asarray(Image.open(GOLDEN / "labels.png")))
    print("golden case:", "same labels" if same else "labels differ")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
