"""End to end with real parts: the embedded Redis and real worker processes."""

from __future__ import annotations

import io
import os
import signal

import pytest
import redis
from conftest import SAMPLES
from service import children, wait_for

from api.queue import connect, reconcile
from api.redis_server import EmbeddedRedis
from verifier.storage import Store

pytestmark = pytest.mark.slow


def submit(client, path_or_bytes, name="photo.jpg") -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    resp = client.post(
        "/v1/analyses",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()["id"]


def status(client, analysis_id):
    return client.get(f"/v1/analyses/{analysis_id}").get_json()


def wait_done(client, analysis_id, timeout=180.0, workers=None):
    try:
        return wait_for(
            lambda: (s := status(client, analysis_id))["status"] in ("finished", "failed") and s,
            timeout,
            f"analysis {analysis_id}",
        )
    except AssertionError:
        if workers is not None:
            print(workers.logs())
        raise


def test_submit_poll_report(client, workers):
    workers.start(1)
    ids = {name: submit(client, SAMPLES / name, name) for name in ("camera.jpg", "appended.jpg")}
    for _name, analysis_id in ids.items():
        done = wait_done(client, analysis_id, workers=workers)
        assert done["status"] == "finished", done
        assert done["progress"] == 100
        from api.schemas import AnalysisOut

        AnalysisOut.model_validate(done)  # the finished response matches the OpenAPI schema
        report = done["report"]
        assert report["media"]["format"] == "jpeg"
        assert report["verdict"]["label"] == "inconclusive"
        assert {f["detector"] for f in report["findings"]} >= {"file_facts"}
    page = client.get(f"/analyses/{ids['camera.jpg']}")
    assert b'id="verdict"' in page.data and b"file_facts" in page.data


def test_corrupt_file_fails_cleanly_and_the_worker_keeps_serving(client, workers):
    workers.start(1)
    good = (SAMPLES / "camera.jpg").read_bytes()
    bad = submit(client, good[: len(good) // 2], "truncated.jpg")
    done = wait_done(client, bad, workers=workers)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "corrupt_media" and "truncated" in done["error"]["message"]
    assert wait_done(client, submit(client, good), workers=workers)["status"] == "finished"


def _running(client, analysis_id):
    return status(client, analysis_id)["status"] == "running"


def test_killed_worker_does_not_lose_the_job(plugin_workers, client):
    pool = plugin_workers("slow_detector:Slow", SLOW_DETECTOR_SECONDS="4")
    analysis_id = submit(client, SAMPLES / "camera.jpg")
    wait_for(lambda: _running(client, analysis_id), 60, "the job to start")
    pool.kill(pool.procs[0])  # the worker and its work-horse, mid-job, no chance to clean up
    pool.start(1)  # a surviving/replacement worker recovers it
    done = wait_done(client, analysis_id, workers=pool)
    assert done["status"] == "finished", done
    assert done["attempts"] == 2


def test_crashed_work_horse_is_retried(plugin_workers, client):
    pool = plugin_workers("slow_detector:Slow", SLOW_DETECTOR_SECONDS="3")
    analysis_id = submit(client, SAMPLES / "camera.jpg")
    wait_for(lambda: _running(client, analysis_id), 60, "the job to start")
    horse = wait_for(lambda: children(pool.procs[0].pid), 10, "the work-horse")[0]
    os.kill(horse, signal.SIGKILL)  # e.g. the OOM killer
    done = wait_done(client, analysis_id, workers=pool)
    assert done["status"] == "finished", done
    assert done["attempts"] == 2


def test_redis_restart_between_submit_and_processing(tmp_path, service_settings):
    """A private embedded Redis: jobs accepted before a restart are still processed after it."""
    from service import Workers

    from api.app import create_app

    own = EmbeddedRedis(tmp_path / "own")
    own.start()
    try:
        settings = service_settings.with_overrides(redis_url=own.url)
        client = create_app(settings, {"TESTING": True}).test_client()
        ids = [submit(client, SAMPLES / "camera.jpg") for _ in range(3)]
        own.stop()
        own.start()
        (tmp_path / "wlogs").mkdir()
        pool = Workers(settings, tmp_path / "wlogs").start(1)
        try:
            for analysis_id in ids:
                assert wait_done(client, analysis_id, workers=pool)["status"] == "finished"
        finally:
            pool.stop()
    finally:
        own.stop()


def test_jobs_lost_by_redis_are_reenqueued(client, service_settings, workers):
    """Redis without persistence (or flushed): the database still knows, and reconciles."""
    analysis_id = submit(client, SAMPLES / "camera.jpg")
    conn = connect(service_settings.redis_url)
    conn.flushdb()
    assert reconcile(conn, Store(service_settings), service_settings, grace=0) == 1
    workers.start(1)
    assert wait_done(client, analysis_id, workers=workers)["status"] == "finished"


def test_system_redis_via_redis_url(tmp_path, service_settings):
    """REDIS_URL pointing at an external Redis (the machine's, if present)."""
    url = "redis://127.0.0.1:6379/13"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    from service import Workers

    from api.app import create_app

    settings = service_settings.with_overrides(redis_url=url)
    redis.Redis.from_url(url).flushdb()
    client = create_app(settings, {"TESTING": True}).test_client()
    analysis_id = submit(client, SAMPLES / "rotated.jpg")
    (tmp_path / "wlogs").mkdir()
    pool = Workers(settings, tmp_path / "wlogs").start(1)
    try:
        done = wait_done(client, analysis_id, workers=pool)
        assert done["status"] == "finished"
        assert done["report"]["media"]["orientation_applied"] is True
    finally:
        pool.stop()
        redis.Redis.from_url(url).flushdb()


def test_progress_is_reported_while_running(plugin_workers, client):
    pool = plugin_workers("slow_detector:Slow", SLOW_DETECTOR_SECONDS="2")
    analysis_id = submit(client, SAMPLES / "camera.jpg")
    seen = wait_for(
        lambda: (s := status(client, analysis_id))["stage"] == "slow_test" and s,
        60,
        "the slow detector to be reported as the current stage",
    )
    assert seen["status"] == "running" and 0 < seen["progress"] < 100
    assert wait_done(client, analysis_id, workers=pool)["progress"] == 100


def test_a_job_that_always_crashes_is_given_up_with_a_clear_error(
    plugin_workers, client, service_settings
):
    pool = plugin_workers("slow_detector:Crash")
    analysis_id = submit(client, SAMPLES / "camera.jpg")
    done = wait_done(client, analysis_id, workers=pool)
    assert done["status"] == "failed"
    assert done["error"]["code"] == "job_failed"
    assert done["attempts"] == 1 + service_settings.job_retries
    assert pool.procs[0].poll() is None  # ...and the worker keeps serving
