"""The project's errors: one small, flat hierarchy.

Every error carries a stable machine-readable ``code`` and the HTTP status the API maps it to,
so the CLI, the worker and the API report the same problem the same way.
"""

from __future__ import annotations

from typing import Any


class VerifierError(Exception):
    """Base class. ``message`` is one plain sentence that is safe to show to a user."""

    code: str = "internal_error"
    http_status: int = 500

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "detail": self.detail}


class ConfigError(VerifierError):
    """A setting is missing, malformed or out of range (raised at start-up)."""

    code = "config_error"
    http_status = 500


class BadRequestError(VerifierError):
    code = "bad_request"
    http_status = 400


class ForbiddenError(VerifierError):
    """The request needs a credential it did not bring."""

    code = "forbidden"
    http_status = 403


class NotFoundError(VerifierError):
    code = "not_found"
    http_status = 404


class ConflictError(VerifierError):
    """The request clashes with what is stored (a duplicate name or entry)."""

    code = "conflict"
    http_status = 409


class MediaTooLargeError(VerifierError):
    """The input exceeds a size limit (bytes, pixels or side length)."""

    code = "media_too_large"
    http_status = 413


class UnsupportedMediaError(VerifierError):
    """The bytes are not a media format the project recognises."""

    code = "unsupported_media"
    http_status = 415


class CorruptMediaError(VerifierError):
    """The format is recognised but the file cannot be decoded (truncated, malformed)."""

    code = "corrupt_media"
    http_status = 422


class DetectorRegistryError(VerifierError):
    """The detector tuple is inconsistent (duplicate names, bad metadata)."""

    code = "detector_registry_error"
    http_status = 500


class ModelError(VerifierError):
    """A model file is missing, fails its checksum or cannot be loaded."""

    code = "model_error"
    http_status = 500


class ServiceUnavailableError(VerifierError):
    code = "service_unavailable"
    http_status = 503


class TooManyRequestsError(VerifierError):
    """The queue is full or the client is over its rate; retry later."""

    code = "too_many_requests"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int = 30, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after
