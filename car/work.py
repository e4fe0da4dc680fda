"""What a CaR run reports to its clock: the stages it times and the work it counts.

:class:`car.CaR`, the official-order reference (:mod:`car.official`) and the benchmark's floor
(:mod:`car.experiments.bench`) all time the same :data:`STAGES` and count the same :data:`COUNTERS`, so their
numbers can be set side by side (``clock(stage)`` and ``clock.count(key, n)``; :class:`car.timing.StageClock`
records both).
"""
from __future__ import annotations

#: The stages a clock sees, in pipeline order.
STAGES = ("text", "cam_forward", "gradients", "caa", "prompts", "classifier", "crf")

#: Work counters (``clock.count`` keys).
CAM_BACKBONE_FORWARDS = "cam_backbone_forwards"   # CAM backbone forwards through blocks 1..L-1
CAM_BLOCK_L_FORWARDS = "cam_block_L_forwards"     # forwards of the last block (the official loop: one per query)
CAM_BACKWARDS = "cam_backwards"                   # one backward (VJP row) per query whose CAM is taken
TEXT_ENCODINGS = "text_encodings"                 # texts through the text encoder (a warm cache: none)
CLASSIFIER_IMAGES = "classifier_images"           # prompted images through the mask classifier

#: Every counter and how a table labels it, in report order.
COUNTERS = {CAM_BACKBONE_FORWARDS: "CAM backbone forwards (blocks 1..L-1)",
            CAM_BLOCK_L_FORWARDS: "block L forwards",
            CAM_BACKWARDS: "backwards (one per query)",
            TEXT_ENCODINGS: "texts encoded",
            CLASSIFIER_IMAGES: "classifier image forwards"}
