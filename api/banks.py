"""Hash banks over HTTP: thin wrappers over ``verifier.banks.BankStore``.

JSON in, JSON out; images arrive as multipart uploads in a field named ``file``. Errors are the
library's (400 malformed hash or field, 404 unknown bank or entry, 409 duplicate).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import BaseModel

from api import deps
from verifier.banks import BankStore
from verifier.errors import (
    BadRequestError,
    ForbiddenError,
    MediaTooLargeError,
    UnsupportedMediaError,
)

bp = Blueprint("banks", __name__, url_prefix="/v1")

#: Largest import body (text or CSV of hashes): about 200,000 hashes.
MAX_IMPORT_BYTES = 16 * 1024 * 1024


@bp.before_request
def _guard_writes() -> None:
    """Bank changes decide verdicts (a known fake scores 0.99), so they need the admin token;
    without one configured, only requests from this machine may change banks."""
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint == "banks.match":
        return
    token = deps.settings().admin_token
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ForbiddenError(
                "Changing hash banks needs the admin token (Authorization: Bearer)."
            )
    elif request.remote_addr not in ("127.0.0.1", "::1"):
        raise ForbiddenError(
            "Changing hash banks from another machine needs VERIFIER_ADMIN_TOKEN to be set."
        )


def _store() -> BankStore:
    store = current_app.extensions.get("verifier.banks")
    if store is None:
        store = BankStore.from_settings(deps.settings())
        current_app.extensions["verifier.banks"] = store
    return store


def _out(model: BaseModel | list[BaseModel], status: int = 200) -> tuple[Response, int]:
    if isinstance(model, list):
        return jsonify([m.model_dump(mode="json") for m in model]), status
    return jsonify(model.model_dump(mode="json")), status


def _json() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequestError("Send a JSON object (Content-Type: application/json).")
    return data


def _int(value: Any, name: str, default: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequestError(f"{name} must be an integer.") from None


def _str(data: dict[str, Any], name: str, default: str = "") -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequestError(f"{name} must be a string.")
    return value


def _uploaded_image() -> bytes:
    upload = request.files.get("file")
    if upload is None:
        raise BadRequestError("Send the image as multipart/form-data in a field named 'file'.")
    limit = deps.settings().max_bytes
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise MediaTooLargeError(f"The upload exceeds the limit of {limit:,} bytes.")
    return data


@bp.get("/banks")
def list_banks():
    return _out(_store().list_banks())


@bp.post("/banks")
def create_bank():
    data = _json()
    info = _store().create_bank(
        _str(data, "name"),
        description=_str(data, "description"),
        threshold=_int(data.get("threshold"), "threshold", 31),
    )
    response, status = _out(info, 201)
    response.headers["Location"] = url_for("banks.get_bank", name=info.name)
    return response, status


@bp.get("/banks/<name>")
def get_bank(name: str):
    return _out(_store().get_bank(name))


@bp.patch("/banks/<name>")
def update_bank(name: str):
    data = _json()
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        raise BadRequestError("description must be a string.")
    return _out(
        _store().update_bank(
            name, description=description, threshold=_int(data.get("threshold"), "threshold")
        )
    )


@bp.delete("/banks/<name>")
def delete_bank(name: str):
    return _out(_store().delete_bank(name))


@bp.get("/banks/<name>/entries")
def list_entries(name: str):
    args = request.args
    return _out(
        _store().list_entries(
            name,
            label=args.get("label") or None,
            after_id=_int(args.get("after_id"), "after_id", 0) or 0,
            limit=_int(args.get("limit"), "limit", 100) or 100,
        )
    )


@bp.post("/banks/<name>/entries")
def add_entry(name: str):
    """An image (multipart ``file`` + form fields) or a raw PDQ hash (JSON ``{"pdq": ...}``)."""
    store = _store()
    if (request.mimetype or "").startswith("multipart/form-data"):
        form = request.form
        entry = store.add_image(
            name,
            _uploaded_image(),
            deps.settings(),
            label=form.get("label", "known_fake"),
            evidence_kind=form.get("evidence_kind", "manipulation"),
            note=form.get("note", ""),
            source_url=form.get("source_url", ""),
        )
    elif request.is_json:
        data = _json()
        entry = store.add_hash(
            name,
            _str(data, "pdq"),
            label=_str(data, "label", "known_fake"),
            evidence_kind=_str(data, "evidence_kind", "manipulation"),
            note=_str(data, "note"),
            source_url=_str(data, "source_url"),
            quality=_int(data.get("quality"), "quality"),
        )
    else:
        raise UnsupportedMediaError(
            "Send an image as multipart/form-data (field 'file') or a hash as JSON {\"pdq\": ...}."
        )
    response, status = _out(entry, 201)
    response.headers["Location"] = url_for("banks.get_entry", name=name, entry_id=entry.id)
    return response, status


@bp.post("/banks/<name>/import")
def import_entries(name: str):
    """Many hashes at once: the body is text (one PDQ hex per line, or CSV with a header)."""
    if request.mimetype not in ("text/plain", "text/csv"):
        raise UnsupportedMediaError("Send the hashes as text/plain or text/csv.")
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        raise MediaTooLargeError(
            f"Imports are limited to {MAX_IMPORT_BYTES:,} bytes; split the file.",
            detail={"max_bytes": MAX_IMPORT_BYTES},
        )
    raw = request.stream.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise MediaTooLargeError(
            f"Imports are limited to {MAX_IMPORT_BYTES:,} bytes; split the file."
        )
    text = raw.decode("utf-8", "replace")
    args = request.args
    return _out(
        _store().import_hashes(
            name,
            text,
            label=args.get("label", "known_fake"),
            evidence_kind=args.get("evidence_kind", "manipulation"),
            note=args.get("note", ""),
            source_url=args.get("source_url", ""),
        )
    )


@bp.get("/banks/<name>/entries/<int:entry_id>")
def get_entry(name: str, entry_id: int):
    return _out(_store().get_entry(name, entry_id))


@bp.delete("/banks/<name>/entries/<int:entry_id>")
def delete_entry(name: str, entry_id: int):
    return _out(_store().delete_entry(name, entry_id))


@bp.post("/match")
def match():
    """Match an image (multipart ``file``) or a PDQ hash (JSON ``{"pdq": ...}``) against banks
    (all, or ``banks``: a comma-separated query parameter or JSON list)."""
    store = _store()
    if (request.mimetype or "").startswith("multipart/form-data"):
        banks = [b for b in request.args.get("banks", "").split(",") if b] or None
        return _out(store.match_image(_uploaded_image(), deps.settings(), banks=banks))
    data = _json()
    banks = data.get("banks")
    if banks is not None and not (
        isinstance(banks, list) and all(isinstance(b, str) for b in banks)
    ):
        raise BadRequestError("banks must be a list of bank names.")
    return _out(store.match_hex(_str(data, "pdq"), banks=banks))
