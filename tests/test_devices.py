"""The one device rule (``car.devices``): "auto" is CUDA when a GPU is there, else the CPU, everywhere."""
from __future__ import annotations

import pytest
import torch

import car
from car.devices import resolve_device
from car.world import World, detect


def test_auto_is_the_cpu_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == "cpu"
    assert detect().device == "cpu" and "on cpu" in str(detect())


def test_auto_is_cuda_when_cuda_is_available(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    world = detect()
    assert world.device == "cuda" and world.gpu and "on cuda" in str(world)


def test_asking_for_cuda_without_it_is_one_clear_line(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available here.*use device 'auto' or 'cpu'"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    assert resolve_device("cpu") == "cpu"


def test_entry_points_default_to_auto() -> None:
    import inspect

    from car.evaluate import run_config

    for fn in (car.load_clip, car.CaR.from_config, run_config):
        assert inspect.signature(fn).parameters["device"].default == "auto", fn.__qualname__
    from car.cli import build_parser

    parser = build_parser()
    for cmd in (["segment", "x.png", "--queries", "a"], ["evaluate", "--config", "voc"], ["demo"]):
        assert parser.parse_args(cmd).device == "auto", cmd


def test_sizes_follow_the_device() -> None:
    cpu, gpu = World(True, False, "real CLIP", "cpu"), World(True, False, "real CLIP", "cuda")
    assert cpu.sizes(photos=(1, 4), frames=(3, 12)).photos == 1
    picked = gpu.sizes(photos=(1, 4), frames=(3, 12))
    assert (picked.photos, picked.frames) == (4, 12)
    assert repr(picked) == "real-CLIP sizes on cuda: photos = 4, frames = 12"
    with pytest.raises(ValueError, match="pair of ints"):
        cpu.sizes(photos=4)


def test_a_toy_model_loads_where_auto_says(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert car.load_clip("toy-b").device.type == "cpu"


def test_a_world_asked_for_by_name_and_its_kind() -> None:
    """``detect(kind=...)`` builds the named world whatever is at hand; ``kind`` reads it back; a typo is refused."""
    import pytest

    from car.world import KINDS

    for kind in KINDS:
        world = detect(kind=kind)
        assert world.kind == kind and world.real == (kind != "toy") and world.random == (kind == "random")
    assert detect().kind == "toy"  # this machine: no weights, random weights off
    with pytest.raises(ValueError, match="unknown world 'moon'; valid: auto, toy, random, real"):
        detect(kind="moon")
