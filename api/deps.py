"""Per-request access to settings, storage and the queue connection."""

from __future__ import annotations

import redis
from flask import current_app

from api.queue import connect
from verifier.settings import Settings
from verifier.storage import Store


def settings() -> Settings:
    return current_app.extensions["verifier.settings"]


def store() -> Store:
    existing = current_app.extensions.get("verifier.store")
    if existing is None:
        existing = current_app.extensions["verifier.store"] = Store(settings())
    return existing


def redis_conn() -> redis.Redis:
    """The process's Redis client (its connection pool is shared by all requests)."""
    conn = current_app.extensions.get("verifier.redis")
    if conn is None:
        conn = current_app.extensions["verifier.redis"] = connect(settings().redis_url)
    return conn
