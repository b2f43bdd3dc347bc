from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import SAMPLES
from media_factory import encode, pattern, png_header_only

from verifier.cli import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, main


def run_cli(*args, env=None):
    """The installed console script's module, in a subprocess, as a user would run it."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIER_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "verifier", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_analyze_one_file_readable(capsys, monkeypatch):
    monkeypatch.delenv("VERIFIER_DETECTORS", raising=False)
    assert main(["analyze", str(SAMPLES / "camera.jpg")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "verdict: inconclusive" in out
    assert "file_facts" in out and "text_chunks" in out


def test_analyze_json_single_is_an_object(capsys):
    assert main(["analyze", "--json", str(SAMPLES / "camera.jpg")]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["schema_version"] and report["verdict"]["label"] == "inconclusive"


def test_analyze_json_several_is_a_list_and_reports_failures(capsys, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    code = main(["analyze", "--json", "--no-progress", str(SAMPLES / "camera.jpg"), str(bad)])
    assert code == EXIT_INPUT
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert isinstance(data, list) and len(data) == 2
    assert data[1]["error"]["code"] == "unsupported_media"
    assert "notes.jpg" in captured.err


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"plain text\n", "not a supported image or video"),
        (os.urandom(4096), "not a supported image or video"),
        (encode(pattern(640, 480), "jpeg")[:3000], "truncated"),
        (png_header_only(60000, 60000), "60000x60000"),
    ],
    ids=["zero-bytes", "text-named-jpg", "random-bytes", "truncated-jpeg", "png-bomb-header"],
)
def test_bad_input_gives_one_clear_line_and_exit_3(content, words, tmp_path):
    path = tmp_path / "upload.jpg"
    path.write_bytes(content)
    result = run_cli("analyze", str(path))
    assert result.returncode == EXIT_INPUT, result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_several_files_with_progress_and_exit_codes(tmp_path):
    result = run_cli("analyze", str(SAMPLES / "camera.jpg"), str(SAMPLES / "rotated.jpg"))
    assert result.returncode == EXIT_OK, result.stderr
    assert result.stdout.count("verdict:") == 2


def test_configuration_error_exit_code():
    result = run_cli("analyze", str(SAMPLES / "camera.jpg"), env={"VERIFIER_MAX_BYTES": "many"})
    assert result.returncode == EXIT_CONFIG
    assert "configuration error" in result.stderr and "Traceback" not in result.stderr


def test_detectors_and_settings_commands(capsys):
    assert main(["detectors"]) == EXIT_OK
    assert "file_facts" in capsys.readouterr().out
    assert main(["settings", "--markdown"]) == EXIT_OK
    assert "VERIFIER_MAX_BYTES" in capsys.readouterr().out


def test_worker_without_redis_url_explains_itself(tmp_path):
    result = run_cli("worker", env={"VERIFIER_DATA_DIR": str(tmp_path / "d")})
    assert result.returncode == EXIT_CONFIG
    assert "VERIFIER_REDIS_URL" in result.stderr and "Traceback" not in result.stderr


def test_serve_on_a_busy_port_explains_itself(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "serve",
            env={
                "VERIFIER_DATA_DIR": str(tmp_path / "d"),
                "VERIFIER_PORT": str(port),
                "VERIFIER_WORKERS": "1",
            },
        )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "VERIFIER_PORT" in result.stderr and "Traceback" not in result.stderr
