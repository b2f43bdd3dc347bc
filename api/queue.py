"""The analysis queue on Redis (RQ): connections, enqueueing, job state, and recovery.

Recovery, so that no accepted upload is lost:

* a work-horse that crashes or times out is retried by RQ (``VERIFIER_JOB_RETRIES``);
* a worker process killed outright stops refreshing its liveness key
  (``verifier:alive:<worker>``, every 2 s, expires after 10 s); :func:`reap_dead_workers`
  then hands its started jobs to RQ's own abandoned-job handling (retry, or fail when no
  retries are left) instead of waiting out RQ's 60-second-plus heartbeat margin;
* :func:`reconcile` compares the database with Redis: an analysis still ``queued`` or
  ``running`` whose job Redis no longer knows (Redis restarted without persistence, or
  flushed) is enqueued again, and one whose job failed for good is marked failed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from verifier.errors import ServiceUnavailableError, TooManyRequestsError
from verifier.settings import Settings
from verifier.storage import FAILED, QUEUED, RUNNING, Store

log = logging.getLogger(__name__)

QUEUE_NAME = "verifier"
JOB_FUNC = "api.jobs.run_analysis"
JOB_FAILURE_CALLBACK = "api.jobs.on_failure"
ALIVE_PREFIX = "verifier:alive:"
ALIVE_TTL = 10
ALIVE_EVERY = 2.0

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)


def connect(url: str) -> redis.Redis:
    """A Redis client that fails fast: the API answers 503 rather than hanging."""
    if not url:
        raise ServiceUnavailableError(
            "No Redis is configured: set VERIFIER_REDIS_URL, or start with `verifier serve`, "
            "which runs an embedded Redis."
        )
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=15
    )


def get_queue(conn: redis.Redis) -> Queue:
    return Queue(QUEUE_NAME, connection=conn)


def enqueue_analysis(conn: redis.Redis, settings: Settings, analysis_id: str) -> Job:
    queue = get_queue(conn)
    try:
        if queue.count >= settings.max_queued:
            raise TooManyRequestsError(
                f"{queue.count} analyses are waiting; try again shortly.", retry_after=30
            )
        return queue.enqueue(
            JOB_FUNC,
            analysis_id,
            job_id=analysis_id,
            job_timeout=int(settings.job_timeout),
            retry=Retry(max=settings.job_retries) if settings.job_retries else None,
            result_ttl=3600,
            failure_ttl=7 * 86400,
            description=f"analysis {analysis_id}",
            on_failure=Callback(JOB_FAILURE_CALLBACK),
        )
    except REDIS_ERRORS as exc:
        raise ServiceUnavailableError(
            "The job queue (Redis) is unreachable; try again shortly.", detail={"reason": str(exc)}
        ) from exc


def job_progress(conn: redis.Redis, analysis_id: str) -> dict[str, Any] | None:
    """Live progress from the job's meta while it runs (None when unknown)."""
    try:
        job = Job.fetch(analysis_id, connection=conn)
    except NoSuchJobError:
        return None
    return {"status": job.get_status(refresh=False), **(job.get_meta(refresh=False) or {})}


def cancel(conn: redis.Redis, analysis_id: str) -> None:
    try:
        job = Job.fetch(analysis_id, connection=conn)
    except NoSuchJobError:
        return
    if job.get_status() in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        job.cancel()
    job.delete(remove_from_queue=True)


def workers_alive(conn: redis.Redis) -> int:
    return sum(1 for _ in conn.scan_iter(match=ALIVE_PREFIX + "*", count=100))


def reap_dead_workers(conn: redis.Redis) -> int:
    """Hand the started jobs of workers that stopped heart-beating to RQ's abandoned-job path.

    Returns how many jobs were handed over.
    """
    queue = get_queue(conn)
    registry = StartedJobRegistry(queue=queue)
    orphaned: list[bytes | str] = []
    for entry in conn.zrange(registry.key, 0, -1):
        job_id = registry.parse_job_id(entry.decode() if isinstance(entry, bytes) else entry)
        try:
            job = Job.fetch(job_id, connection=conn)
        except NoSuchJobError:
            continue
        if job.worker_name and not conn.exists(ALIVE_PREFIX + job.worker_name):
            log.warning("worker %s is gone; recovering job %s", job.worker_name, job_id)
            orphaned.append(entry)
    if orphaned:
        conn.zadd(registry.key, dict.fromkeys(orphaned, 0), xx=True)  # expire them now
        registry.cleanup(timestamp=1)  # only entries with score <= 1: exactly those
    return len(orphaned)


def reconcile(conn: redis.Redis, store: Store, settings: Settings, grace: float = 20.0) -> int:
    """Re-enqueue analyses Redis lost; mark failed those whose job failed for good."""
    fixed = 0
    queue = get_queue(conn)
    queued_ids: set[str] | None = None
    for analysis in store.unfinished(older_than=grace):
        try:
            job = Job.fetch(analysis.id, connection=conn)
            status = job.get_status()
        except NoSuchJobError:
            job, status = None, None
        if status == JobStatus.FAILED:
            store.fail(analysis.id, _job_error(job))
            fixed += 1
            continue
        if status == JobStatus.QUEUED:
            if queued_ids is None:
                queued_ids = set(queue.get_job_ids())
            if analysis.id in queued_ids:
                continue
        elif status is not None:
            continue  # started, scheduled, finished (the worker is writing the report)
        log.warning("analysis %s was lost by the queue; enqueueing it again", analysis.id)
        if analysis.status == RUNNING:
            store.mark_queued(analysis.id)
        enqueue_analysis(conn, settings, analysis.id)
        fixed += 1
    return fixed


def _job_error(job: Job | None) -> dict[str, Any]:
    detail = ""
    if job is not None:
        result = job.latest_result()
        if result is not None and result.exc_string:
            detail = result.exc_string.strip().splitlines()[-1][:500]
    return {
        "code": "job_failed",
        "message": "The analysis failed repeatedly and was given up.",
        "detail": {"last_error": detail},
    }


def maintenance_loop(
    settings: Settings, stop: Any, interval: float = 5.0, url: str | None = None
) -> None:
    """Run recovery and retention every ``interval`` s until ``stop`` (an Event) is set."""
    store = Store(settings)
    conn = connect(url or settings.redis_url)
    last_purge = 0.0
    while not stop.wait(interval):
        lock = conn.lock("verifier:maintenance", timeout=60, blocking=False)
        try:
            if not lock.acquire(blocking=False):
                continue
            try:
                reap_dead_workers(conn)
                reconcile(conn, store, settings)
                if time.monotonic() - last_purge > 60:
                    removed = store.purge_expired_uploads()
                    if removed:
                        log.info("deleted %d uploads past retention", removed)
                    last_purge = time.monotonic()
            finally:
                lock.release()
        except REDIS_ERRORS as exc:
            log.warning("maintenance: Redis unreachable (%s); will retry", exc)
        except Exception:
            log.exception("maintenance pass failed; will retry")


__all__ = ["FAILED", "QUEUED", "RUNNING"]
