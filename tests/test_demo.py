"""The Gradio demo in a real browser: ``python -m car demo`` on 127.0.0.1, driven by headless Chromium (Selenium).

Needs the demo extra and a browser (CI: ``pip install gradio selenium`` and Debian's ``chromium`` +
``chromium-driver``); skipped, with the reason, where they are missing — unless ``CAR_DEMO_REQUIRED=1`` (CI), which
makes a missing piece a failure. The page's screenshot is kept under the test's temporary folder (and copied to
``$CAR_DEMO_SCREENSHOT`` when that is set).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
REQUIRED = os.environ.get("CAR_DEMO_REQUIRED", "") not in ("", "0")


def _need(module: str, reason: str):
    """Import ``module`` or skip (fail with ``CAR_DEMO_REQUIRED=1``)."""
    if REQUIRED:
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module, reason=reason)


CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1300")


def test_the_app_builds_and_its_callback_segments_a_sample() -> None:
    _need("gradio", 'the demo extra is not installed (pip install "car-book[demo]")')
    from car.demo import Segmenter, build_app, load_sample, demo_setup, sample_names

    assert build_app("toy") is not None
    assert "toy scene 1" in sample_names()
    image, queries, credit = load_sample("toy scene 1")
    out = Segmenter(demo_setup("toy")).run(image, queries, "toy_voc", 0.6, 128)
    assert out["labels"].shape == image.shape[:2] and out["rows"] and "toy world" in out["status"]
    with pytest.raises(ValueError, match="unknown demo world"):
        demo_setup("moon")


def test_space_entry_point_builds_the_app(monkeypatch) -> None:
    _need("gradio", 'the demo extra is not installed (pip install "car-book[demo]")')
    import runpy

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline here: the toy world
    namespace = runpy.run_path(str(ROOT / "app.py"))  # not as __main__: builds, does not serve
    assert type(namespace["demo"]).__name__ == "Blocks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, request):
    """``python -m car demo --world toy`` on a free port (extra flags from ``@pytest.mark.demo_args``); yields its
    URL and the process, stops it after the test."""
    _need("gradio", 'the demo extra is not installed (pip install "car-book[demo]")')
    marker = request.node.get_closest_marker("demo_args")
    extra = list(marker.args) if marker else []
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "car", "demo", "--world", "toy", "--port", str(port), *extra],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                log.close()
                pytest.fail(f"the demo did not start:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url, proc
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser(tmp_path):
    webdriver = _need("selenium.webdriver", "selenium is not installed (pip install selenium)")
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        missing = "headless Chromium is not installed (apt-get install -y chromium chromium-driver)"
        if REQUIRED:
            pytest.fail(missing)
        pytest.skip(missing)
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_upload_query_run_in_headless_chromium(server, browser, tmp_path) -> None:
    server, _ = server
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from car.data import get_dataset
    from car.toy.scenes import THINGS

    photo = tmp_path / "scene.png"  # a toy scene, enlarged like a photo a user would upload
    Image.fromarray(np.kron(get_dataset("toy_voc", None)[1].image, np.ones((6, 6, 1), np.uint8))).save(photo)
    wait = WebDriverWait(browser, 120)
    browser.get(server)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
    assert "Toy world" in browser.find_element(By.ID, "world").text
    browser.find_element(By.CSS_SELECTOR, "#photo input[type=file]").send_keys(str(photo))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#preview img")))
    box = browser.find_element(By.CSS_SELECTOR, "#queries textarea")
    box.clear()
    # the toy vocabulary, as the toy evaluations query it: with only a handful of queries the tiny classifier can
    # keep an absent one (its softmax then has few competitors), which would leave nothing removed to check
    box.send_keys(", ".join(THINGS))
    browser.find_element(By.ID, "run").click()
    result = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#overlay img")))
    wait.until(lambda d: "kept" in d.find_element(By.ID, "steps").text)
    link = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#labels_png a")))
    assert "_labels.png" in (link.get_attribute("href") or "") + (link.get_attribute("download") or "")
    assert result.get_attribute("src")
    assert browser.execute_script("return arguments[0].naturalWidth", result) > 0  # the image really loaded
    steps = browser.find_element(By.ID, "steps").text
    assert "red square" in steps and "removed" in steps  # the absent queries are removed
    assert "Kept:" in browser.find_element(By.ID, "status").text
    shot = tmp_path / "demo_screenshot.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("CAR_DEMO_SCREENSHOT"):
        shutil.copy(shot, os.environ["CAR_DEMO_SCREENSHOT"])


# --------------------------------------------------------------------------- a public demo under load
def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb, as far as the header
    goes)."""
    import struct
    import zlib

    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    body = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])  # keep depth, colour, ... flags
    data[12:29] = body
    data[29:33] = struct.pack(">I", zlib.crc32(body))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.demo_args("--max-upload-mb", "1", "--max-queries", "30")
def test_concurrent_requests_and_bad_uploads_are_all_answered(server, tmp_path) -> None:
    """Several segmentations at once through gradio_client, bad uploads among them: every request gets its answer
    (the good ones a label map, the bad ones the same one line the command line prints), and the server lives on."""
    client_mod = _need("gradio_client", "gradio_client is not installed (it comes with gradio)")
    from car.data import get_dataset
    from car.image import ImageReadError, load_image
    from car.toy.scenes import THINGS

    url, proc = server
    client = client_mod.Client(url, verbose=False)
    scene = tmp_path / "scene.png"
    Image.fromarray(get_dataset("toy_voc", None)[1].image).save(scene)
    text = tmp_path / "notes.png"
    text.write_text("not an image, whatever its name says\n")
    bomb = _png_claiming(tmp_path / "bomb.png", 20_000, 20_000)  # 400 megapixels
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + np.random.default_rng(0).bytes(2 * 2**20))  # 2 MB, over --max-upload-mb 1
    expected = {}
    for path in (text, bomb):
        with pytest.raises(ImageReadError) as info:
            load_image(path, max_pixels=50_000_000)
        expected[path.name] = str(info.value).replace(str(path), path.name)  # the CLI's line, naming the upload
    args = dict(preset="toy_voc", theta=0.6, size=64, native=False, api_name="/segment")
    queries = ", ".join(THINGS[:6])
    from car.demo import PRESET_PROPOSER

    submit = lambda path, q: client.submit(client_mod.handle_file(str(path)), q, args["preset"], args["theta"],  # noqa: E731
                                           args["size"], args["native"], "car", PRESET_PROPOSER,
                                           api_name=args["api_name"])
    jobs = [("good", submit(scene, queries)) for _ in range(5)]
    jobs += [("text", submit(text, queries)), ("bomb", submit(bomb, queries)),
             ("queries", submit(scene, ", ".join(f"thing {i}" for i in range(31)))), ("good", submit(scene, queries))]
    answers = []
    for kind, job in jobs:
        try:
            answers.append((kind, job.result(timeout=600)))
        except Exception as e:  # noqa: BLE001 - gradio_client's AppError carries the gr.Error message
            answers.append((kind, e))
    for kind, answer in answers:
        if kind == "good":
            assert isinstance(answer, tuple) and len(answer) == 4, answer
            assert Path(answer[2]).name.endswith("_labels.png") and "Kept:" in answer[3]
        else:
            assert isinstance(answer, Exception), (kind, answer)
    message = {kind: str(answer) for kind, answer in answers if kind != "good"}
    assert expected["notes.png"] in message["text"], message["text"]
    assert expected["bomb.png"] in message["bomb"], message["bomb"]
    assert "31 queries; this demo takes at most 30 per request" in message["queries"]
    with pytest.raises(Exception, match="(?i)too large|maximum|size"):  # Gradio refuses the upload itself
        submit(big, queries).result(timeout=120)
    assert proc.poll() is None, "the server died"
    assert len(submit(scene, queries).result(timeout=600)) == 4  # and still serves


def test_limits_of_a_public_demo(tmp_path) -> None:
    """The checks every upload and query list passes (no Gradio needed): one line each, and a bounded folder."""
    from car.demo import LabelStore, Limits, check_upload, parse_queries
    from car.image import ImageReadError

    limits = Limits(max_upload_mb=1, max_pixels=1000, max_queries=2, keep_labels=3)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    assert check_upload(str(small), limits).shape == (20, 20, 3)
    with pytest.raises(ImageReadError, match=r"^wide.png is 5000x5000 pixels \(25 megapixels\); the limit is 0.001 megapixels"):
        check_upload(str(_png_claiming(tmp_path / "wide.png", 5000, 5000)), limits)
    with pytest.raises(ImageReadError, match=r"^cannot read bomb.png: Image size \(400000000 pixels\) exceeds"):
        check_upload(str(_png_claiming(tmp_path / "bomb.png", 20_000, 20_000)), limits)
    large = tmp_path / "large.png"
    large.write_bytes(bytes(2 * 2**20))
    with pytest.raises(ValueError, match=r"large.png is 2.0 MB; this demo takes photos up to 1 MB"):
        check_upload(str(large), limits)
    assert parse_queries(" cat, dog ", limits) == ["cat", "dog"]
    with pytest.raises(ValueError, match="3 queries; this demo takes at most 2"):
        parse_queries("a, b, c", limits)
    store = LabelStore(limits.keep_labels, tmp_path / "labels")
    (tmp_path / "labels").mkdir()
    paths = [store.save("x", np.zeros((4, 4), np.int64)) for _ in range(5)]
    assert sorted((tmp_path / "labels").iterdir()) == sorted(paths[-3:])
