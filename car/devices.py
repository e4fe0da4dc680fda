"""The one device rule: ``"auto"`` is CUDA when a GPU is there, else the CPU.

Every entry point takes ``device="auto"`` by default — :func:`car.load_clip`, :meth:`car.CaR.from_config`, the
command line (``--device auto|cpu|cuda``), the demo, and every chapter (through :func:`car.world.detect`) — and
resolves it here, once, so a Colab reader on a GPU runtime gets the GPU without editing a cell.

    >>> resolve_device("auto")      # on a machine without CUDA
    'cpu'
"""
from __future__ import annotations

import torch

#: The values a ``device`` argument accepts besides torch's own device strings (``"cuda:1"``).
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device | None = "auto") -> str:
    """The device a model goes to: ``"auto"`` (or None) → ``"cuda"`` when ``torch.cuda.is_available()``, else
    ``"cpu"``; any other value is checked and returned as a string.

    Raises:
        RuntimeError: a CUDA device was asked for on a machine without CUDA (the message says what to pass).
        ValueError: a value that is no device at all.
    """
    if device is None or str(device) == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}; valid: {', '.join(DEVICE_CHOICES)} (or cuda:N)") from e
    if kind == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} asked for, but CUDA is not available here "
                           f"(torch.cuda.is_available() is False); use device 'auto' or 'cpu'")
    return str(device)
