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
    from car.demo import Segmenter, build_app, load_sample, resolve_world, sample_names

    assert build_app("toy") is not None
    assert "toy scene 1" in sample_names()
    image, queries, credit = load_sample("toy scene 1")
    out = Segmenter(resolve_world("toy")).run(image, queries, "toy_voc", 0.6, 128)
    assert out["labels"].shape == image.shape[:2] and out["rows"] and "toy world" in out["status"]
    with pytest.raises(ValueError, match="unknown demo world"):
        resolve_world("moon")


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
def server(tmp_path):
    """``python -m car demo --world toy`` on a free port; yields its URL, stops it after the test."""
    _need("gradio", 'the demo extra is not installed (pip install "car-book[demo]")')
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               GRADIO_TEMP_DIR=str(tmp_path / "gradio"))
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "car", "demo", "--world", "toy", "--port", str(port)],
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
    yield url
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
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#photo img")))
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
