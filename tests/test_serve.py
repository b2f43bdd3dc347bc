"""`verifier serve` as a user runs it: embedded Redis, workers, gunicorn, real HTTP, a browser."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES
from service import wait_for

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIER_")}
    env.pop("REDIS_URL", None)
    env.update(VERIFIER_DATA_DIR=str(data_dir), VERIFIER_PORT=str(port), VERIFIER_WORKERS="1")
    log = open(data_dir.parent / "serve.log", "w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier", "serve"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise AssertionError(Path(log.name).read_text())
        try:
            return http("GET", base + "/readyz")[0] == 200
        except OSError:
            return False

    wait_for(ready, 90, "verifier serve to become ready", every=0.3)
    yield {"base": base, "proc": proc, "data_dir": data_dir, "log": Path(log.name)}
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    log.close()


def submit_and_wait(base: str, path: Path) -> dict:
    body, headers = multipart("file", path.name, path.read_bytes())
    status, resp_headers, content = http("POST", base + "/v1/analyses", body, headers)
    assert status == 202, content
    location = base + resp_headers["Location"]

    def done():
        result = json.loads(http("GET", location)[2])
        return result["status"] in ("finished", "failed") and result

    return wait_for(done, 180, f"analysis of {path.name}", every=0.2)


def test_serve_prints_its_url_and_analyses_over_http(live):
    assert "verifier is running at http://127.0.0.1:" in live["log"].read_text()
    result = submit_and_wait(live["base"], SAMPLES / "appended.jpg")
    assert result["status"] == "finished"
    assert result["report"]["verdict"]["label"] == "inconclusive"
    assert (live["data_dir"] / "redis" / "appendonly.aof").exists() or any(
        (live["data_dir"] / "redis").glob("appendonly*")
    )


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_web_form_in_headless_chromium(live, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(live["base"] + "/")
            page.set_input_files("#file", str(SAMPLES / "camera-edited.jpg"))
            page.click("button[type=submit]")
            page.wait_for_selector("#verdict", timeout=60_000)
            label = page.inner_text("#verdict-label").lower()
            assert label in {"inconclusive", "likely manipulated", "likely synthetic"}
            assert page.locator("#reasons li").count() >= 1
            assert page.locator("section.finding").count() >= 2
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            # A bad upload shows a readable error, not a traceback.
            page.goto(live["base"] + "/")
            bad = tmp_path / "notes.jpg"
            bad.write_text("not an image")
            page.set_input_files("#file", str(bad))
            page.click("button[type=submit]")
            assert "not a supported image" in page.inner_text("#error")
        finally:
            browser.close()


def test_sigterm_stops_everything_cleanly(live):
    proc = live["proc"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    time.sleep(0.5)
    sock = live["data_dir"] / "redis" / "redis.sock"
    with socket.socket(socket.AF_UNIX) as s:
        with pytest.raises(OSError):
            s.connect(str(sock))  # the embedded Redis is gone
