"""Hash banks over HTTP, and a bank match deciding a verdict end to end."""

from __future__ import annotations

import io

import pytest
from conftest import SAMPLES
from media_factory import encode, pattern

from api.banks import bp  # noqa: F401 - the blueprint under test


def test_bank_lifecycle(client):
    assert client.get("/v1/banks").get_json() == []
    created = client.post("/v1/banks", json={"name": "fact-checks", "description": "ours"})
    assert created.status_code == 201 and created.headers["Location"] == "/v1/banks/fact-checks"
    assert client.post("/v1/banks", json={"name": "fact-checks"}).status_code == 409
    image = encode(pattern(320, 240, seed=5), "jpeg")
    added = client.post(
        "/v1/banks/fact-checks/entries",
        data={
            "file": (io.BytesIO(image), "fake.jpg"),
            "label": "known_fake",
            "note": "debunked 2026-03",
            "source_url": "https://example.org/fact-check/1",
        },
        content_type="multipart/form-data",
    )
    assert added.status_code == 201, added.get_json()
    entry = added.get_json()
    assert entry["label"] == "known_fake" and len(entry["pdq"]) == 64
    by_hash = client.post(
        "/v1/banks/fact-checks/entries", json={"pdq": "f" * 32 + "0" * 32, "label": "other"}
    )
    assert by_hash.status_code == 201
    imported = client.post(
        "/v1/banks/fact-checks/import?label=known_original",
        data="# export\n" + "a5" * 32 + "\n" + "5a" * 32 + "\n",
        content_type="text/plain",
    )
    assert imported.get_json()["added"] == 2
    page = client.get("/v1/banks/fact-checks/entries?limit=2").get_json()
    assert len(page["entries"]) == 2 and page["next_after"]
    info = client.get("/v1/banks/fact-checks").get_json()
    assert info["entry_count"] == 4

    matched = client.post(
        "/v1/match",
        data={"file": (io.BytesIO(encode(pattern(320, 240, seed=5), "png")), "copy.png")},
        content_type="multipart/form-data",
    ).get_json()
    assert matched["matches"][0]["entry_id"] == entry["id"]
    by_hex = client.post("/v1/match", json={"pdq": entry["pdq"]}).get_json()
    assert by_hex["matches"][0]["distance"] == 0

    assert client.delete(f"/v1/banks/fact-checks/entries/{entry['id']}").status_code == 200
    assert client.get(f"/v1/banks/fact-checks/entries/{entry['id']}").status_code == 404
    assert client.delete("/v1/banks/fact-checks").status_code == 200
    assert client.get("/v1/banks/fact-checks").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/v1/banks", {"json": {"name": ""}}, 400),
        ("post", "/v1/banks", {"data": "x", "content_type": "text/plain"}, 400),
        ("get", "/v1/banks/nope", {}, 404),
        ("post", "/v1/banks/nope/entries", {"json": {"pdq": "0" * 64}}, 404),
        ("post", "/v1/match", {"json": {"pdq": "xyz"}}, 400),
        ("post", "/v1/match", {"json": {"pdq": "ab" * 32, "banks": "all"}}, 400),
    ],
)
def test_bad_bank_requests(client, method, path, kwargs, status):
    resp = getattr(client, method)(path, **kwargs)
    assert resp.status_code == status
    assert resp.get_json()["code"] and resp.get_json()["message"]


def test_malformed_hashes_and_duplicates(client):
    client.post("/v1/banks", json={"name": "b"})
    for bad in ("abc", "g" * 64, "0" * 63):
        resp = client.post("/v1/banks/b/entries", json={"pdq": bad})
        assert resp.status_code == 400, bad
    assert client.post("/v1/banks/b/entries", json={"pdq": "ab" * 32}).status_code == 201
    assert client.post("/v1/banks/b/entries", json={"pdq": "ab" * 32}).status_code == 409
    bad_import = client.post("/v1/banks/b/import", data="zz\n", content_type="text/plain")
    assert bad_import.status_code == 400 and "line 1" in bad_import.get_json()["message"]


@pytest.mark.slow
def test_a_known_fake_in_a_bank_makes_the_verdict(client, workers):
    """Add an image to a bank through the API; a re-compressed copy analysed by a real worker
    comes back as likely manipulated, pointing at the bank entry."""
    from test_service_e2e import submit, wait_done

    client.post("/v1/banks", json={"name": "debunked"})
    original = (SAMPLES / "camera-edited.jpg").read_bytes()
    client.post(
        "/v1/banks/debunked/entries",
        data={"file": (io.BytesIO(original), "x.jpg"), "source_url": "https://example.org/fc"},
        content_type="multipart/form-data",
    )
    from PIL import Image

    copy = io.BytesIO()
    Image.open(io.BytesIO(original)).resize((800, 600)).save(copy, "JPEG", quality=70)
    workers.start(1)
    done = wait_done(client, submit(client, copy.getvalue(), "shared.jpg"), workers=workers)
    assert done["status"] == "finished"
    assert done["report"]["verdict"]["label"] == "likely_manipulated"
    assert any("perceptual_hash" in r["findings"] for r in done["report"]["verdict"]["reasons"])


def test_bank_changes_need_the_admin_token(service_settings):
    from api.app import create_app

    guarded = create_app(service_settings.with_overrides(admin_token="s3cret"), {"TESTING": True})
    client = guarded.test_client()
    assert client.post("/v1/banks", json={"name": "x"}).status_code == 403
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/v1/banks", json={"name": "x"}, headers=wrong).status_code == 403
    good = {"Authorization": "Bearer s3cret"}
    assert client.post("/v1/banks", json={"name": "x"}, headers=good).status_code == 201
    assert client.get("/v1/banks").status_code == 200  # reading needs no token
    assert client.post("/v1/match", json={"pdq": "ab" * 32}).status_code == 200


def test_without_a_token_only_this_machine_may_change_banks(client):
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    resp = client.post("/v1/banks", json={"name": "x"}, environ_base=remote)
    assert resp.status_code == 403 and "VERIFIER_ADMIN_TOKEN" in resp.get_json()["message"]
    assert client.post("/v1/banks", json={"name": "x"}).status_code == 201  # loopback


def test_imports_are_size_limited(client):
    from api.banks import MAX_IMPORT_BYTES

    client.post("/v1/banks", json={"name": "big"})
    body = ("ab" * 32 + "\n") * (MAX_IMPORT_BYTES // 65 + 10)
    resp = client.post("/v1/banks/big/import", data=body, content_type="text/plain")
    assert resp.status_code == 413
