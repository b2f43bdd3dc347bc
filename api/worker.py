"""An analysis worker: an RQ worker that loads the pipeline before it forks work-horses.

``verifier worker`` starts ``VERIFIER_WORKERS`` of these (``python -m api.worker`` starts one).
Each keeps a liveness key fresh so a killed worker's jobs are recovered within seconds, and runs
the queue maintenance (dead-worker recovery, database/queue reconciliation, retention) under a
Redis lock so only one worker does it at a time.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

import redis
from rq import Worker

from api.queue import (
    ALIVE_EVERY,
    ALIVE_PREFIX,
    ALIVE_TTL,
    REDIS_ERRORS,
    connect,
    get_queue,
    maintenance_loop,
)
from verifier.db import create_all
from verifier.settings import Settings

log = logging.getLogger("verifier.worker")


class AnalysisWorker(Worker):
    """RQ's forking worker plus a liveness heartbeat thread (the parent process only)."""

    def __init__(self, *args, alive_connection: redis.Redis, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Its own client: no connection pool shared with the thread that forks work-horses.
        self._alive_conn = alive_connection
        self._alive_stop = threading.Event()

    def execute_job(self, job, queue) -> None:
        import api.jobs

        api.jobs.warm_banks(Settings.from_env())  # in the parent, before the fork
        super().execute_job(job, queue)

    def _keep_alive(self) -> None:
        conn = self._alive_conn
        key = ALIVE_PREFIX + self.name
        while not self._alive_stop.is_set():
            try:
                conn.set(key, os.getpid(), ex=ALIVE_TTL)
            except REDIS_ERRORS:
                pass  # Redis restarting: RQ's own loop waits for it too
            self._alive_stop.wait(ALIVE_EVERY)
        try:
            conn.delete(key)
        except REDIS_ERRORS:
            pass

    def handle_work_horse_killed(self, job, retpid, ret_val, rusage) -> None:
        """The work-horse died (crash, OOM killer, timeout). RQ retries it if it can; when it
        cannot, record the failure now rather than when the next reconciliation notices."""
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        if not job.should_retry:
            import api.jobs

            how = f"signal {os.WTERMSIG(ret_val)}" if os.WIFSIGNALED(ret_val) else "an exit"
            api.jobs.record_final_failure(job.id, f"the analysis process ended by {how}")

    def work(self, *args, **kwargs) -> bool:
        thread = threading.Thread(target=self._keep_alive, name="liveness", daemon=True)
        thread.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self._alive_stop.set()


def main(burst: bool = False) -> int:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s"
    )
    import api.jobs

    create_all(settings)
    api.jobs.preload(settings)  # models and heavy imports load here, once, before any fork
    conn = connect(settings.redis_url)
    stop = threading.Event()
    maint = threading.Thread(
        target=maintenance_loop, args=(settings, stop), name="maintenance", daemon=True
    )
    maint.start()
    worker = AnalysisWorker(
        [get_queue(conn)],
        connection=conn,
        job_monitoring_interval=5,
        alive_connection=connect(settings.redis_url),
    )
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        worker.work(burst=burst, logging_level=settings.log_level, with_scheduler=False)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main(burst="--burst" in sys.argv))
