"""The command line, run as a reader would: ``python -m car ...`` in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from car.data import get_dataset

ROOT = Path(__file__).resolve().parents[1]


def _car(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "car", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_segment_writes_label_and_overlay_pngs_and_prints_the_steps(tmp_path) -> None:
    sample = get_dataset("toy_voc", None)[1]
    image = tmp_path / "scene.png"
    Image.fromarray(sample.image).save(image)
    out = tmp_path / "out"
    proc = _car("segment", str(image), "--queries", "red circle, blue square,green cross,sky", "--config", "toy_voc",
                "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "step 1: kept" in proc.stdout and "step 2" in proc.stdout
    labels = np.array(Image.open(out / "scene_labels.png"))
    assert labels.shape == sample.gt.shape and labels.max() <= 4
    overlay = np.array(Image.open(out / "scene_overlay.png"))
    assert overlay.shape[0] == 64 and overlay.shape[1] > 64  # the legend is appended on the right


def test_segment_errors_are_one_line(tmp_path) -> None:
    proc = _car("segment", str(tmp_path / "missing.png"), "--queries", "cat", "--config", "toy_voc")
    assert proc.returncode != 0 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    proc = _car("segment", str(bad), "--queries", "cat", "--config", "toy_voc")
    assert proc.returncode != 0 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr
    img = tmp_path / "ok.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    proc = _car("segment", str(img), "--queries", " , ", "--config", "toy_voc")
    assert proc.returncode == 2 and "no queries" in proc.stderr and "Traceback" not in proc.stderr
    proc = _car("segment", str(img), "--queries", "cat", "--config", "nope")
    assert proc.returncode == 2 and "unknown config" in proc.stderr


def test_out_in_the_way_or_unwritable_is_one_line_and_touches_nothing(tmp_path) -> None:
    import os

    img = tmp_path / "ok.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    proc = _car("segment", str(img), "--queries", "cat", "--config", "toy_voc", "--out", str(existing))
    assert proc.returncode == 2 and "is an existing file; give a folder" in proc.stderr
    assert "Traceback" not in proc.stderr and existing.read_text() == "keep me"
    proc = _car("evaluate", "--config", "toy_voc", "--limit", "1", "--out", str(tmp_path))
    assert proc.returncode == 2 and "is a folder; give the results file's path" in proc.stderr
    if os.geteuid() != 0:  # root writes anywhere: the permission check cannot be shown as root
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        proc = _car("segment", str(img), "--queries", "cat", "--config", "toy_voc", "--out", str(locked / "seg"))
        assert proc.returncode == 2 and "permission denied" in proc.stderr and "Traceback" not in proc.stderr


def test_check_output_refuses_what_cannot_be_written(tmp_path, monkeypatch) -> None:
    import os

    from car.results import check_output

    assert check_output(tmp_path / "a" / "b", folder=True).is_dir()
    assert check_output(tmp_path / "c" / "r.json") == tmp_path / "c" / "r.json" and (tmp_path / "c").is_dir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="a file is in the way"):
        check_output(tmp_path / "file" / "r.json")
    monkeypatch.setattr(os, "access", lambda *a: False)  # as an unprivileged user on a read-only folder
    with pytest.raises(PermissionError, match=r"cannot write into .*permission denied; choose another --out"):
        check_output(tmp_path / "d", folder=True)


def test_configs_lists_presets_with_their_table() -> None:
    proc = _car("configs")
    assert proc.returncode == 0
    line = next(l for l in proc.stdout.splitlines() if l.startswith("voc_no_recurrence "))
    assert "Table 2" in line


def test_evaluate_a_toy_preset_writes_results(tmp_path) -> None:
    out = tmp_path / "r.json"
    proc = _car("evaluate", "--config", "toy_voc", "--limit", "2", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["config"]["name"] == "toy_voc" and 0 <= res["metrics"]["mIoU"] <= 1


def test_missing_real_data_root_is_a_clear_error(tmp_path) -> None:
    proc = _car("evaluate", "--config", "voc", "--data-root", str(tmp_path), "--quiet")
    assert proc.returncode == 2 and "expected layout" in proc.stderr and "Traceback" not in proc.stderr


def test_segment_a_large_rotated_photo_answers_at_its_full_upright_size(tmp_path) -> None:
    scene = get_dataset("toy_voc", None)[1].image  # 64 x 64
    stored = np.kron(scene, np.ones((10, 15, 1), np.uint8))  # 640 x 960, as the sensor stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: 960 x 640 upright
    photo = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(photo, quality=90, exif=exif)
    out = tmp_path / "out"
    proc = _car("segment", str(photo), "--queries", "red circle,blue square", "--config", "toy_voc",
                "--working-size", "96", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "segmented at 64x96" in proc.stdout
    labels = np.array(Image.open(out / "phone_labels.png"))
    assert labels.shape == (960, 640) and labels.max() <= 2


def test_segment_bad_inputs_get_one_line_each(tmp_path, capsys) -> None:
    """In-process (``car.cli.main``, what ``python -m car`` runs) to keep it fast: one stderr line per bad input."""
    from car.cli import main

    ok = tmp_path / "ok.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(ok)
    full = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(full)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    dot = tmp_path / "dot.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(dot)
    cases = [
        ((str(cut), "--queries", "cat"), "truncated or corrupt"),
        ((str(dot), "--queries", "cat"), "1x1 pixels"),
        ((str(tmp_path), "--queries", "cat"), "directory"),
        ((str(ok), "--queries", "cat", "--proposal-model", "nope"), "unknown CLIP model"),
    ]
    for args, expected in cases:
        code = main(["segment", *args, "--config", "toy_voc", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip()
        assert code == 2 and expected in err and len(err.splitlines()) == 1, (args, err)
    with pytest.raises(SystemExit) as info:  # argparse's own usage error
        main(["segment", str(ok), "--queries", "cat", "--working-size", "huge"])
    assert info.value.code == 2 and "number of pixels or 'native'" in capsys.readouterr().err


def test_demo_without_gradio_says_how_to_install_it() -> None:
    import importlib.util

    if importlib.util.find_spec("gradio") is not None:
        pytest.skip("gradio is installed here: the browser test (tests/test_demo.py) covers the demo")
    proc = _car("demo", "--world", "toy")
    assert proc.returncode == 2 and "car-book[demo]" in proc.stderr and "Traceback" not in proc.stderr
