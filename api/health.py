"""Liveness and readiness, separately: alive means the process answers; ready means it can
accept work (Redis reachable, the database reachable, at least one worker alive)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from api import deps
from api.queue import REDIS_ERRORS, get_queue, workers_alive
from verifier import __version__

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/readyz")
def readyz():
    checks: dict[str, object] = {}
    ready = True
    try:
        conn = deps.redis_conn()
        conn.ping()
        checks["redis"] = "ok"
        checks["workers"] = workers_alive(conn)
        checks["queued"] = get_queue(conn).count
        if not checks["workers"]:
            ready = False
    except REDIS_ERRORS as exc:
        checks["redis"] = f"unreachable: {exc}"
        ready = False
    except Exception as exc:  # noqa: BLE001 - e.g. no Redis configured
        checks["redis"] = str(exc)
        ready = False
    try:
        with deps.store().engine.connect() as c:
            c.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["database"] = f"unreachable: {exc}"
        ready = False
    return jsonify({"status": "ready" if ready else "not_ready", "checks": checks}), (
        200 if ready else 503
    )
