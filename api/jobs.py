"""The job function: primitives in (the analysis id), everything else loaded here.

The pipeline (detectors, their models) is built once per worker process by
:func:`api.worker.main` before it takes jobs; forked work-horses inherit it.
"""

from __future__ import annotations

import logging
import os
import time

from rq import get_current_job

from verifier.errors import NotFoundError, VerifierError
from verifier.pipeline import Pipeline
from verifier.settings import Settings
from verifier.storage import Store

log = logging.getLogger(__name__)

_pipeline: Pipeline | None = None
_store: Store | None = None
_pid: int | None = None


def preload(settings: Settings) -> Pipeline:
    """Build the process's pipeline and store (call before forking work-horses)."""
    global _pipeline, _store
    if _pipeline is None or _pipeline.settings != settings:
        _pipeline = Pipeline(settings)
        _store = Store(settings)
        warm_banks(settings, every=0)
        log.info("pipeline warmed up in %.2f s", _pipeline.warm_up())
    return _pipeline


_banks_refreshed = 0.0


def warm_banks(settings: Settings, every: float = 10.0) -> None:
    """Bring the hash-bank indexes up to date in this (parent) process, so forked work-horses
    inherit them instead of each reloading what changed since the worker started."""
    global _banks_refreshed
    if time.monotonic() - _banks_refreshed < every:
        return
    _banks_refreshed = time.monotonic()
    try:
        from verifier.banks import BankStore

        store = BankStore.from_settings(settings, create=False)
        if store is not None:
            store.refresh()
    except Exception:  # the detector reports matching failures per analysis
        log.warning("could not refresh the hash-bank indexes", exc_info=True)


def run_analysis(analysis_id: str) -> str:
    """Analyse one stored upload and store its report. Returns the final status."""
    global _pid
    pipeline = preload(Settings.from_env())
    store = _store
    assert store is not None
    if _pid != os.getpid():  # a forked work-horse must not reuse the parent's DB connections
        store.engine.dispose(close=False)
        _pid = os.getpid()
    job = get_current_job()
    try:
        analysis = store.get(analysis_id)
    except NotFoundError:
        log.info("analysis %s was deleted before it ran", analysis_id)
        return "deleted"
    store.mark_running(analysis_id)
    last_write = 0.0

    def progress(done: int, total: int, stage: str | None) -> None:
        nonlocal last_write
        percent = int(5 + 90 * done / max(total, 1))
        if job is not None:
            job.meta.update(progress=percent, stage=stage)
            job.save_meta()
        if time.monotonic() - last_write > 1.0:  # the database copy is for after Redis expiry
            store.set_progress(analysis_id, percent, stage)
            last_write = time.monotonic()

    try:
        data = store.read_upload(analysis_id)
        report = pipeline.analyze_bytes(data, name=analysis.filename, progress=progress)
    except VerifierError as exc:  # the input's fault: final, not retried
        store.fail(analysis_id, exc.to_dict())
        return "failed"
    store.finish(analysis_id, report)
    return "finished"


def on_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ failure callback: when no retry is left, record the failure at once.

    (A retry keeps the analysis ``running``; the next attempt marks it running again.)
    """
    if not job.should_retry:
        reason = f"{exc_type.__name__}: {exc_value}" if exc_type else "unknown error"
        record_final_failure(job.id, reason)


def record_final_failure(analysis_id: str, reason: str) -> None:
    store = _store or Store(Settings.from_env())
    try:
        store.fail(
            analysis_id,
            {
                "code": "job_failed",
                "message": "The analysis failed repeatedly and was given up.",
                "detail": {"last_error": reason[:500]},
            },
        )
    except Exception:
        log.exception("could not record the failure of %s", analysis_id)
