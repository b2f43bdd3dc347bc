from __future__ import annotations

import sys
from pathlib import Path

import pytest

from verifier.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(Path(__file__).parent))  # tests' helper modules (media_factory)


@pytest.fixture
def settings() -> Settings:
    """Defaults, ignoring whatever VERIFIER_* variables the developer's shell has."""
    return Settings.from_env({})


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared evaluation data not present at {SHARED_DATA}")
    return SHARED_DATA


# -- the service: a real embedded Redis shared by the session, flushed between tests -----------


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory):
    from api.redis_server import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def service_settings(tmp_path, embedded_redis) -> Settings:
    import redis

    from verifier.db import dispose_all

    client = redis.Redis.from_url(embedded_redis.url)
    client.flushdb()
    client.close()
    yield Settings.from_env(
        {},
        data_dir=tmp_path / "data",
        redis_url=embedded_redis.url,
        job_retries=2,
    )
    dispose_all()


@pytest.fixture
def app(service_settings):
    from api.app import create_app

    app = create_app(service_settings, {"TESTING": True})
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def workers(service_settings, tmp_path):
    from service import Workers

    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    pool = Workers(service_settings, log_dir)
    yield pool
    pool.stop()


@pytest.fixture
def plugin_workers(service_settings, tmp_path):
    """Start real workers that also run a test-only detector from tests/plugins."""
    from service import Workers

    pools = []

    def start(detector: str, n: int = 1, **env: str):
        settings = service_settings.with_overrides(extra_detectors=(f"plugins.{detector}",))
        log_dir = tmp_path / f"plugin-logs-{len(pools)}"
        log_dir.mkdir()
        pool = Workers(settings, log_dir, **env).start(n)
        pools.append(pool)
        return pool

    yield start
    for pool in pools:
        pool.stop()
