"""Which world a chapter, a test or the demo runs in: real CLIP, real CLIP with random weights, or the toy world.

* **real CLIP**: the OpenAI ViT-B/16 and ViT-L/14 weights are cached or downloadable (Colab, the published build);
* **random weights** (``CAR_RANDOM_WEIGHTS=1``, :func:`car.backbones.random_weights`): the same open_clip
  architectures, randomly initialised, so that every real-CLIP code path runs offline (CI). Numbers and figures from it show mechanics only, never results;
* **the toy world**: no weights here; the tiny CLIPs shipped with ``car``.

    >>> world = detect()
    >>> world.real, world.label
    (False, 'toy world')
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from car.backbones import RANDOM_WEIGHTS_ENV, random_weights, weights_available

RANDOM_LABEL = "real CLIP, random weights: mechanics only"
#: The worlds by name: what ``--world`` takes (the CLI, the demo), besides "auto".
KINDS = ("toy", "random", "real")


@dataclass(frozen=True)
class World:
    """Where the models come from.

    Attributes:
        real: the real open_clip architectures are used (with pretrained or, in the random mode, random weights).
        random: the random-weights mode is on (``real`` is then True as well).
        label: what every figure title and table caption says about its source.
        device: where the models run (:func:`car.devices.resolve_device`: CUDA when a GPU is there).
    """

    real: bool
    random: bool
    label: str
    device: str = "cpu"

    @property
    def kind(self) -> str:
        """``"real"``, ``"random"`` or ``"toy"`` (:data:`KINDS`)."""
        return "random" if self.random else "real" if self.real else "toy"

    @property
    def gpu(self) -> bool:
        """The models run on a CUDA device."""
        return self.device.startswith("cuda")

    def sizes(self, **choices: tuple[int, int]) -> SimpleNamespace:
        """How much real-CLIP work a chapter does here: each ``name=(on_cpu, on_gpu)`` becomes ``name`` = the
        value for this world's device, e.g. ``world.sizes(photos=(1, 4)).photos`` is 4 on a GPU runtime.

        A chapter prints the result (its ``repr`` names the device), so a reader sees the n behind every figure.
        """
        for name, pair in choices.items():
            if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(v, int) for v in pair)):
                raise ValueError(f"sizes: {name}={pair!r} must be a pair of ints (on the CPU, on a GPU)")
        picked = {name: pair[1] if self.gpu else pair[0] for name, pair in choices.items()}
        return _Sizes(self.device, picked)

    def __str__(self) -> str:
        where = f"on {self.device}"
        if self.random:
            return (f"World: {self.label} (ViT-B/16 + ViT-L/14 architectures with random weights; "
                    f"{RANDOM_WEIGHTS_ENV}=1), {where}")
        if self.real:
            return f"World: real CLIP (ViT-B/16 proposals, ViT-L/14 classifier), {where}"
        return f"World: toy world (no CLIP weights here: the tiny CLIPs shipped with car), {where}"


class _Sizes(SimpleNamespace):
    """The sizes a chapter picked for its device (:meth:`World.sizes`)."""

    def __init__(self, device: str, picked: dict[str, int]):
        super().__init__(**picked)
        self._device = device

    def __repr__(self) -> str:
        values = ", ".join(f"{k} = {v}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"real-CLIP sizes on {self._device}: {values}"


def detect(models: tuple[str, ...] = ("ViT-B-16", "ViT-L-14"), pretrained: str = "openai",
           device: str = "auto", kind: str = "auto") -> World:
    """The world this process can run: real when every model's weights are at hand (or random weights are on),
    on ``device`` (``"auto"``: CUDA when available, else the CPU). ``kind`` (one of :data:`KINDS`) asks for a
    world by name instead (the toy world even where real weights are at hand).

    Raises:
        ValueError: an unknown ``kind``.
    """
    from car.devices import resolve_device

    if kind not in ("auto", *KINDS):
        raise ValueError(f"unknown world {kind!r}; valid: auto, {', '.join(KINDS)}")
    where = resolve_device(device)
    if kind != "auto":
        return {"toy": World(False, False, "toy world", where), "random": World(True, True, RANDOM_LABEL, where),
                "real": World(True, False, "real CLIP", where)}[kind]
    if random_weights():
        return World(True, True, RANDOM_LABEL, where)
    if all(weights_available(m, pretrained) for m in models):
        return World(True, False, "real CLIP", where)
    return World(False, False, "toy world", where)
