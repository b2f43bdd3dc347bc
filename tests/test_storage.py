from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from verifier.errors import MediaTooLargeError, NotFoundError
from verifier.pipeline import Pipeline
from verifier.settings import Settings
from verifier.storage import FAILED, FINISHED, QUEUED, RUNNING, Store, analyses

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_or_skip(tmp_path) -> Settings:
    import sqlalchemy

    engine = sqlalchemy.create_engine(PG_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    finally:
        engine.dispose()
    return Settings.from_env({}, data_dir=tmp_path / "data", database_url=PG_URL)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    from verifier.db import create_all, dispose_all

    if request.param == "sqlite":
        settings = Settings.from_env({}, data_dir=tmp_path / "data")
    else:
        settings = _postgres_or_skip(tmp_path)
    create_all(settings)
    yield Store(settings)
    dispose_all()


def test_lifecycle(store, settings):
    from conftest import SAMPLES

    data = (SAMPLES / "camera.jpg").read_bytes()
    analysis_id, path, size = store.save_upload(io.BytesIO(data), limit=10**7)
    assert path.read_bytes() == data and size == len(data)
    a = store.create(analysis_id, "camera.jpg", size)
    assert a.status == QUEUED and a.created_at.tzinfo is not None
    store.mark_running(analysis_id)
    store.set_progress(analysis_id, 50, "file_facts")
    a = store.get(analysis_id)
    assert (a.status, a.progress, a.stage, a.attempts) == (RUNNING, 50, "file_facts", 1)
    report = Pipeline(settings).analyze_bytes(store.read_upload(analysis_id))
    store.finish(analysis_id, report)
    a = store.get(analysis_id)
    assert a.status == FINISHED and a.report["media"]["sha256"] == report.media.sha256
    assert store.unfinished() == [] or all(x.id != analysis_id for x in store.unfinished())
    store.delete(analysis_id)
    with pytest.raises(NotFoundError):
        store.get(analysis_id)
    assert not path.exists()


def test_upload_limit_leaves_nothing_behind(store):
    with pytest.raises(MediaTooLargeError):
        store.save_upload(io.BytesIO(b"x" * 5000), limit=4096)
    assert list((store.root / "uploads").iterdir()) == []


def test_failed_analysis_keeps_its_error(store):
    analysis_id, _, size = store.save_upload(io.BytesIO(b"abc"), limit=100)
    store.create(analysis_id, None, size)
    store.fail(analysis_id, {"code": "corrupt_media", "message": "bad", "detail": {}})
    a = store.get(analysis_id)
    assert a.status == FAILED and a.error["code"] == "corrupt_media"
    store.delete(analysis_id)


def test_retention_deletes_expired_uploads_only(store):
    keep_id, keep_path, n = store.save_upload(io.BytesIO(b"keep"), limit=100)
    store.create(keep_id, None, n)
    old_id, old_path, n = store.save_upload(io.BytesIO(b"old"), limit=100)
    store.create(old_id, None, n)
    store.fail(old_id, {"code": "x", "message": "x", "detail": {}})
    past = datetime.now(UTC) - timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(update(analyses).values(upload_expires_at=past))
    assert store.purge_expired_uploads() == 1  # the queued one is still needed
    assert not old_path.exists() and keep_path.exists()
    assert store.get(old_id).status == FAILED  # the record stays
    for analysis_id in (keep_id, old_id):
        store.delete(analysis_id)


def test_bad_ids_are_not_found(store):
    for bad in ("", "../../etc/passwd", "A" * 32):
        with pytest.raises(NotFoundError):
            store.get(bad)
    with pytest.raises(NotFoundError):
        store.artifact_path("0" * 32, "../x", "y.png")


def test_finishing_a_deleted_analysis_keeps_no_artifacts(store, settings):
    from verifier.report import Artifact

    analysis_id, _, size = store.save_upload(io.BytesIO(b"abc"), limit=100)
    store.create(analysis_id, None, size)
    from conftest import SAMPLES

    report = Pipeline(settings).analyze_path(SAMPLES / "camera.jpg")
    art = Artifact.from_bytes("map.png", "image/png", "a map", b"\x89PNG fake")
    report.findings[0].artifacts.append(art)
    store.delete(analysis_id)  # deleted while "running"
    store.finish(analysis_id, report)
    assert not store.artifact_dir(analysis_id).exists()
