"""The Flask application factory: JSON API under /v1, health endpoints, and the web form.

Views only validate, store the upload and enqueue; workers do the analysis.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from verifier.db import create_all
from verifier.errors import TooManyRequestsError, VerifierError
from verifier.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None, test_config: dict[str, Any] | None = None
) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    # Multipart bodies above this are refused with 413 before they are read; below it, werkzeug
    # spools file parts to temporary files rather than memory. Leave room for the form overhead.
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_bytes + 64 * 1024,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["verifier.settings"] = settings
    create_all(settings)

    from api import banks, health, v1, web

    app.register_blueprint(health.bp)
    app.register_blueprint(v1.bp)
    app.register_blueprint(banks.bp)
    app.register_blueprint(web.bp)

    @app.errorhandler(VerifierError)
    def _verifier_error(exc: VerifierError):
        if exc.http_status >= 500:
            log.warning("%s: %s", exc.code, exc.message)
        response = jsonify(exc.to_dict())
        response.status_code = exc.http_status
        if isinstance(exc, TooManyRequestsError):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = {
            400: "bad_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "media_too_large",
            415: "unsupported_media",
        }.get(exc.code or 500, "http_error")
        message = exc.description or exc.name
        if isinstance(exc, RequestEntityTooLarge):
            message = f"The upload exceeds the limit of {settings.max_bytes:,} bytes."
        response = jsonify({"code": code, "message": message, "detail": {}})
        response.status_code = exc.code or 500
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        response = jsonify(
            {
                "code": "internal_error",
                "message": "Internal error; it has been logged.",
                "detail": {},
            }
        )
        response.status_code = 500
        return response

    return app
