"""Per-request access to settings, storage and the queue connection."""

from __future__ import annotations

import redis
from flask import current_app, g

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
    if "redis" not in g:
        g.redis = connect(settings().redis_url)
    return g.redis
