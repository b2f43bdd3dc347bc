"""API unit tests: the Flask test client against the real embedded Redis (no workers)."""

from __future__ import annotations

import io
import time

import pytest
from media_factory import encode, pattern, png_header_only

from api.queue import get_queue
from verifier.settings import Settings


def post(client, data: bytes, name: str = "photo.jpg", field: str = "file"):
    return client.post(
        "/v1/analyses",
        data={field: (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_upload_is_accepted_and_queued(client, app):
    resp = post(client, encode(pattern(), "jpeg"))
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["status"] == "queued" and len(body["id"]) == 32
    assert resp.headers["Location"] == f"/v1/analyses/{body['id']}"
    got = client.get(resp.headers["Location"]).get_json()
    assert got["status"] == "queued" and got["filename"] == "photo.jpg"
    from api.queue import connect

    settings = app.extensions["verifier.settings"]
    assert body["id"] in get_queue(connect(settings.redis_url)).get_job_ids()


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"just some text", 415, "unsupported_media"),
        (b"", 400, "bad_request"),  # an empty file part, as a browser sends with no file chosen
        (png_header_only(60000, 60000), 413, "media_too_large"),
        (b"\xff\xd8\xff\xe0" + bytes(100), 422, "corrupt_media"),
    ],
)
def test_bad_uploads(client, data, status, code):
    resp = post(client, data, name="" if not data else "x.jpg")
    assert resp.status_code == status
    body = resp.get_json()
    assert body["code"] == code and body["message"]


def test_missing_file_field(client):
    resp = post(client, encode(pattern(), "jpeg"), field="picture")
    assert resp.status_code == 400
    assert "file" in resp.get_json()["message"]


def test_wrong_content_type(client):
    resp = client.post("/v1/analyses", json={"url": "http://example.com/x.jpg"})
    assert resp.status_code == 415
    assert "multipart/form-data" in resp.get_json()["message"]


def test_too_large_is_413_without_reading_the_body(service_settings):
    from api.app import create_app

    small = service_settings.with_overrides(max_bytes=10_000)
    client = create_app(small, {"TESTING": True}).test_client()
    resp = post(client, encode(pattern(400, 400), "png"))
    assert resp.status_code == 413
    assert resp.get_json()["code"] == "media_too_large"


def test_unknown_and_malformed_ids(client):
    for path in ("/v1/analyses/" + "0" * 32, "/v1/analyses/../../etc", "/v1/analyses/xyz"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert resp.get_json()["code"] == "not_found"
    assert client.get("/v1/analyses/" + "0" * 32 + "/artifacts/a/b.png").status_code == 404


def test_delete_removes_everything(client, service_settings):
    body = post(client, encode(pattern(), "jpeg")).get_json()
    upload = service_settings.data_dir / "uploads" / body["id"]
    assert upload.exists()
    assert client.delete(f"/v1/analyses/{body['id']}").status_code == 204
    assert not upload.exists()
    assert client.get(f"/v1/analyses/{body['id']}").status_code == 404
    assert client.delete(f"/v1/analyses/{body['id']}").status_code == 404


def test_queue_full_is_429(service_settings):
    from api.app import create_app

    client = create_app(
        service_settings.with_overrides(max_queued=1), {"TESTING": True}
    ).test_client()
    assert post(client, encode(pattern(), "jpeg")).status_code == 202
    resp = post(client, encode(pattern(), "jpeg"))
    assert resp.status_code == 429
    assert int(resp.headers["Retry-After"]) > 0


def test_redis_unreachable_is_a_quick_503(tmp_path):
    from api.app import create_app
    from verifier.db import dispose_all

    settings = Settings.from_env(
        {}, data_dir=tmp_path / "d", redis_url="redis://127.0.0.1:1/0"
    )  # nothing listens on port 1
    client = create_app(settings, {"TESTING": True}).test_client()
    start = time.monotonic()
    resp = post(client, encode(pattern(), "jpeg"))
    assert resp.status_code == 503 and resp.get_json()["code"] == "service_unavailable"
    assert client.get("/readyz").status_code == 503
    assert time.monotonic() - start < 10
    assert not list((tmp_path / "d" / "uploads").iterdir())  # nothing half-accepted
    dispose_all()


def test_health_endpoints(client):
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 503  # Redis is up but no worker is alive
    assert ready.get_json()["checks"]["redis"] == "ok"
    assert ready.get_json()["checks"]["workers"] == 0


def test_web_form_renders_and_accepts_an_upload_without_javascript(client):
    page = client.get("/")
    assert page.status_code == 200 and b'enctype="multipart/form-data"' in page.data
    resp = client.post(
        "/analyses",
        data={"file": (io.BytesIO(encode(pattern(), "jpeg")), "p.jpg")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200
    assert b'http-equiv="refresh"' in page.data  # refreshes itself while queued
    bad = client.post(
        "/analyses",
        data={"file": (io.BytesIO(b"text"), "p.jpg")},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 415 and b"not a supported image" in bad.data


def test_unknown_route_is_json_404(client):
    resp = client.get("/v1/nope")
    assert resp.status_code == 404 and resp.get_json()["code"] == "not_found"


def test_openapi_document_and_responses_match_it(client):
    from api.schemas import AnalysisOut, ErrorBody

    doc = client.get("/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and "/v1/analyses" in doc["paths"]
    assert {"AnalysisOut", "Report", "Finding", "Verdict"} <= set(doc["components"]["schemas"])
    created = post(client, encode(pattern(), "jpeg"))
    AnalysisOut.model_validate(created.get_json())
    AnalysisOut.model_validate(client.get(created.headers["Location"]).get_json())
    ErrorBody.model_validate(post(client, b"text").get_json())
