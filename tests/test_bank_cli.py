"""`verifier bank ...` from the command line."""

from __future__ import annotations

import json

import pytest
from hash_factory import jpeg, scene
from test_cli import run_cli

from verifier.cli import EXIT_INPUT, EXIT_OK, main
from verifier.db import dispose_all

H0 = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    path = tmp_path / "data"
    monkeypatch.setenv("VERIFIER_DATA_DIR", str(path))
    yield path
    dispose_all()


def test_bank_workflow(data_dir, tmp_path, capsys):
    image = tmp_path / "hoax.jpg"
    image.write_bytes(jpeg(scene(1)))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(jpeg(scene(1), 70))
    hashes = tmp_path / "hashes.txt"
    hashes.write_text(f"# from ThreatExchange\n{H0}\n{H0}\n")

    assert main(["bank", "create", "fakes", "--description", "debunked"]) == EXIT_OK
    assert main(["bank", "add", "fakes", str(image), "--note", "hoax"]) == EXIT_OK
    assert main(["bank", "import", "fakes", str(hashes), "--label", "other"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "created bank 'fakes'" in out and "added entry 1" in out
    assert "1 added, 1 duplicate(s) skipped" in out

    assert main(["bank", "list", "--json"]) == EXIT_OK
    banks = json.loads(capsys.readouterr().out)
    assert banks[0]["name"] == "fakes" and banks[0]["labels"] == {"known_fake": 1, "other": 1}

    assert main(["bank", "show", "fakes"]) == EXIT_OK
    assert "hoax" in capsys.readouterr().out
    assert main(["bank", "show", "fakes", "--entry", "2", "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["pdq"] == H0

    assert main(["bank", "match", str(copy), "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert result["matches"][0]["entry_id"] == 1 and result["matches"][0]["note"] == "hoax"
    assert main(["bank", "match", "--hash", H0]) == EXIT_OK
    assert "other fakes/2 distance 0" in capsys.readouterr().out

    assert main(["bank", "delete", "fakes", "--entry", "2"]) == EXIT_OK
    assert main(["bank", "delete", "fakes"]) == EXIT_OK
    assert main(["bank", "list"]) == EXIT_OK
    assert capsys.readouterr().out.strip().endswith("no banks")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["bank", "add", "fakes", "--hash", "abc"], "64 (256 bits)"),
        (["bank", "add", "fakes", "--hash", H0], "already holds this PDQ hash"),
        (["bank", "add", "nope", "--hash", H0], "no bank named 'nope'"),
        (["bank", "create", "fakes"], "already exists"),
        (["bank", "create", "bad name"], "not valid"),
        (["bank", "show", "fakes", "--entry", "99"], "no entry 99"),
        (["bank", "match", "--hash", "xyz"], "not hexadecimal"),
        (["bank", "match", "--bank", "nope", "--hash", H0], "no bank named"),
        (["bank", "add", "fakes"], "Give image files"),
    ],
)
def test_refusals_are_one_line_and_exit_3(data_dir, capsys, argv, words):
    assert main(["bank", "create", "fakes"]) == EXIT_OK
    assert main(["bank", "add", "fakes", "--hash", H0]) == EXIT_OK
    capsys.readouterr()
    assert main(argv) == EXIT_INPUT
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_import_refusal_in_a_subprocess(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{H0}\nnot-a-hash\n")
    env = {"VERIFIER_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("bank", "create", "b", env=env).returncode == EXIT_OK
    result = run_cli("bank", "import", "b", str(bad), env=env)
    assert result.returncode == EXIT_INPUT
    assert "line 2" in result.stderr and "nothing was imported" in result.stderr
    assert "Traceback" not in result.stderr
    listing = run_cli("bank", "list", "--json", env=env)
    assert json.loads(listing.stdout)[0]["entry_count"] == 0


def test_changes_from_another_process_reach_a_loaded_index(tmp_path):
    """A long-lived process (API or worker) sees entries another process adds and deletes."""
    from verifier.banks import BankStore
    from verifier.settings import Settings

    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    store = BankStore.from_settings(settings)
    assert store is not None
    store.create_bank("b")
    assert store.match_hex(H0).matches == []  # index loaded (empty) in this process
    env = {"VERIFIER_DATA_DIR": str(tmp_path / "data")}
    added = run_cli("bank", "add", "b", "--hash", H0, "--note", "from elsewhere", env=env)
    assert added.returncode == EXIT_OK, added.stderr
    [match] = store.match_hex(H0).matches
    assert match.note == "from elsewhere"
    deleted = run_cli("bank", "delete", "b", "--entry", str(match.entry_id), env=env)
    assert deleted.returncode == EXIT_OK, deleted.stderr
    assert store.match_hex(H0).matches == []
    dispose_all()
