"""Helpers for tests of the service: real embedded Redis, real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def service_env(settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIER_")}
    env.pop("REDIS_URL", None)
    env.update(
        VERIFIER_DATA_DIR=str(settings.data_dir),
        VERIFIER_REDIS_URL=settings.redis_url,
        VERIFIER_DATABASE_URL=settings.resolved_database_url,
        VERIFIER_LOG_LEVEL="INFO",
        PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), env.get("PYTHONPATH", "")]),
    )
    if settings.extra_detectors:
        env["VERIFIER_EXTRA_DETECTORS"] = ",".join(settings.extra_detectors)
    env.update(extra)
    return env


class Workers:
    """Real `python -m api.worker` processes, each in its own process group."""

    def __init__(self, settings, log_dir: Path, **env: str) -> None:
        self.env = service_env(settings, **env)
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []

    def start(self, n: int = 1) -> Workers:
        for _ in range(n):
            log = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")
            self._logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "api.worker"],
                    env=self.env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        return self

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its work-horse (RQ puts the horse in a session of its own)."""
        for pid in [*children(proc.pid), proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        for log in self._logs:
            log.close()  # type: ignore[attr-defined]

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def wait_for(predicate: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []
