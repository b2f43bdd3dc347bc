"""``verifier serve`` and ``verifier worker``: start and supervise the service's processes.

``serve`` starts, in order: the embedded Redis (only when no ``VERIFIER_REDIS_URL`` is set),
the analysis workers, and gunicorn serving the API and web form. It restarts a worker that dies,
and on SIGINT/SIGTERM shuts down in reverse: gunicorn stops accepting and finishes requests,
workers finish their current job (a second Ctrl-C stops them at once; their jobs are requeued
when the service next runs), and Redis flushes its append-only file and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence

from api.redis_server import EmbeddedRedis
from verifier.db import create_all
from verifier.errors import ConfigError, ServiceUnavailableError
from verifier.settings import Settings

log = logging.getLogger("verifier.serve")


class Supervisor:
    def __init__(self, settings: Settings, *, web: bool, workers: int) -> None:
        self.settings = settings
        self.web = web
        self.n_workers = workers
        self.redis: EmbeddedRedis | None = None
        self.gunicorn: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = 0
        self.env = dict(os.environ)

    # -- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        if self.web:
            _check_port_free(s.host, s.port)  # before starting anything
        s.data_dir.mkdir(parents=True, exist_ok=True)
        create_all(s)
        redis_url = s.redis_url
        if not redis_url:
            if not self.web:
                raise ConfigError(
                    "`verifier worker` needs VERIFIER_REDIS_URL (the Redis that `verifier serve`"
                    " uses); workers on the same host as `verifier serve` are started by it."
                )
            self.redis = EmbeddedRedis(s.data_dir)
            redis_url = self.redis.start()
            log.info("embedded Redis at %s (data in %s)", redis_url, self.redis.dir)
        self.env["VERIFIER_REDIS_URL"] = redis_url
        self.env.pop("REDIS_URL", None)
        self.env["VERIFIER_DATA_DIR"] = str(s.data_dir.absolute())
        for _ in range(self.n_workers):
            self.workers.append(self._spawn_worker())
        if self.web:
            self.gunicorn = self._spawn(
                [
                    sys.executable, "-m", "gunicorn",
                    "--bind", f"{s.host}:{s.port}",
                    "--workers", str(s.web_workers),
                    "--worker-class", "gthread", "--threads", "4",
                    "--timeout", "120", "--graceful-timeout", "30",
                    "--log-level", s.log_level.lower(),
                    "api.wsgi:app",
                ]
            )  # fmt: skip
            self._wait_until_up()

    def _spawn(self, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        # Own session: Ctrl-C reaches the supervisor only, which then stops children in order.
        return subprocess.Popen(list(argv), env=self.env, start_new_session=True)

    def _spawn_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn([sys.executable, "-m", "api.worker"])

    @property
    def url(self) -> str:
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{self.settings.port}/"

    def _wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.gunicorn is not None
            if self.gunicorn.poll() is not None:
                raise ServiceUnavailableError("The web server exited at start (see its log above).")
            try:
                with urllib.request.urlopen(self.url + "healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise ServiceUnavailableError(f"The web server did not answer at {self.url} in time.")

    # -- run ------------------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        while not self.stopping:
            if self.gunicorn is not None and self.gunicorn.poll() is not None:
                log.error("the web server exited (code %s); stopping", self.gunicorn.returncode)
                self.shutdown()
                return 1
            for i, proc in enumerate(self.workers):
                if proc.poll() is not None and not self.stopping:
                    log.warning(
                        "worker %d exited (code %s); restarting it", proc.pid, proc.returncode
                    )
                    self.workers[i] = self._spawn_worker()
            if (
                self.redis is not None
                and self.redis.process
                and self.redis.process.poll() is not None
            ):
                log.error("the embedded Redis exited; restarting it")
                self.redis.start()
            time.sleep(0.5)
        self.shutdown()
        return 0

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping += 1
        if self.stopping == 1:
            print("\nverifier: stopping (running jobs finish; Ctrl-C again to stop now)...",
                  file=sys.stderr, flush=True)  # fmt: skip
        else:
            for proc in self.workers:  # RQ: a second signal is a cold shutdown
                _signal(proc, signal.SIGINT)

    def shutdown(self, grace: float | None = None) -> None:
        grace = self.settings.job_timeout if grace is None else grace
        if self.gunicorn is not None:
            _signal(self.gunicorn, signal.SIGTERM)
        for proc in self.workers:
            _signal(proc, signal.SIGTERM)  # RQ warm shutdown: finish the current job
        deadline = time.monotonic() + grace
        for proc in [*self.workers, *([self.gunicorn] if self.gunicorn else [])]:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)  # its job is recovered on the next start
                proc.wait()
        if self.redis is not None:
            self.redis.stop()


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({exc.strerror}); "
                "set VERIFIER_PORT to a free port."
            ) from None


def serve(settings: Settings) -> int:
    return _run(settings, web=True)


def work(settings: Settings) -> int:
    return _run(settings, web=False)


def _run(settings: Settings, *, web: bool) -> int:
    sup = Supervisor(settings, web=web, workers=settings.worker_count)
    try:
        sup.start()
    except BaseException:
        sup.shutdown(grace=5)
        raise
    if web:
        print(
            f"verifier is running at {sup.url}  (API under {sup.url}v1, "
            f"{sup.n_workers} worker(s); Ctrl-C to stop)",
            flush=True,
        )
    else:
        print(f"verifier: {sup.n_workers} worker(s) on {settings.redis_url}; Ctrl-C to stop")
    return sup.run()
