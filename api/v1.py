"""JSON API, version 1. Errors are ``{code, message, detail}`` with the matching status."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file, url_for
from werkzeug.datastructures import FileStorage

from api import deps
from api.queue import REDIS_ERRORS, cancel, enqueue_analysis, job_progress
from verifier.errors import BadRequestError, UnsupportedMediaError, VerifierError
from verifier.media import MediaKind, open_checked, sniff
from verifier.storage import FINISHED, QUEUED, RUNNING, Analysis

bp = Blueprint("v1", __name__, url_prefix="/v1")


def accept_upload() -> Analysis:
    """Validate, store and enqueue the upload in the request's ``file`` field.

    Shared by the JSON API and the web form. The body is streamed to disk under the byte limit
    (werkzeug spools large parts to temporary files), never held whole in memory.
    """
    if not (request.mimetype or "").startswith("multipart/form-data"):
        raise UnsupportedMediaError(
            "Send the file as multipart/form-data in a field named 'file'.",
            detail={"content_type": request.mimetype},
        )
    upload: FileStorage | None = request.files.get("file")
    head = upload.stream.read(64) if upload is not None else b""
    if upload is None or (not upload.filename and not head):
        raise BadRequestError("The request has no file: send it in a form field named 'file'.")
    settings, store = deps.settings(), deps.store()
    fmt = sniff(head)  # 415 for anything that is not a supported image or video
    upload.stream.seek(0)
    analysis_id, path, size = store.save_upload(upload.stream, settings.max_bytes)
    try:
        if size == 0:
            raise UnsupportedMediaError("The file is empty (0 bytes).")
        if fmt.kind is MediaKind.IMAGE:
            # The header check refuses decompression bombs and unreadable headers now (413/422),
            # before anything is queued, reading only the header; decoding is the worker's.
            with open(path, "rb") as fp:
                open_checked(fp, fmt, settings)
        analysis = store.create(analysis_id, upload.filename, size)
    except VerifierError:
        path.unlink(missing_ok=True)
        raise
    try:
        enqueue_analysis(deps.redis_conn(), settings, analysis_id)
    except VerifierError:
        store.delete(analysis_id)  # nothing accepted, nothing to lose: the client retries
        raise
    return analysis


def analysis_json(analysis: Analysis, live: bool = True) -> dict[str, Any]:
    progress, stage = analysis.progress, analysis.stage
    if live and analysis.status in (QUEUED, RUNNING):
        try:
            info = job_progress(deps.redis_conn(), analysis.id)
        except (VerifierError, *REDIS_ERRORS):
            info = None
        if info:
            progress = int(info.get("progress", progress) or 0)
            stage = info.get("stage", stage)
    out: dict[str, Any] = {
        "id": analysis.id,
        "status": analysis.status,
        "progress": 100 if analysis.status == FINISHED else progress,
        "stage": stage,
        "filename": analysis.filename,
        "size_bytes": analysis.size_bytes,
        "created_at": analysis.created_at.isoformat(),
        "updated_at": analysis.updated_at.isoformat(),
        "finished_at": analysis.finished_at.isoformat() if analysis.finished_at else None,
        "attempts": analysis.attempts,
        "links": {
            "self": url_for("v1.get_analysis", analysis_id=analysis.id),
            "page": url_for("web.analysis_page", analysis_id=analysis.id),
        },
    }
    if analysis.report is not None:
        out["report"] = analysis.report
        out["links"]["artifacts"] = {
            f"{f['detector']}/{a['name']}": url_for(
                "v1.get_artifact", analysis_id=analysis.id, detector=f["detector"], name=a["name"]
            )
            for f in analysis.report.get("findings", [])
            for a in f.get("artifacts", [])
        }
    if analysis.error is not None:
        out["error"] = analysis.error
    return out


@bp.post("/analyses")
def create_analysis() -> tuple[Response, int, dict[str, str]]:
    analysis = accept_upload()
    location = url_for("v1.get_analysis", analysis_id=analysis.id)
    return jsonify(analysis_json(analysis, live=False)), 202, {"Location": location}


@bp.get("/openapi.json")
def openapi_document() -> Response:
    from api.schemas import openapi

    return jsonify(openapi())


@bp.get("/analyses/<analysis_id>")
def get_analysis(analysis_id: str) -> Response:
    return jsonify(analysis_json(deps.store().get(analysis_id)))


@bp.get("/analyses/<analysis_id>/artifacts/<detector>/<name>")
def get_artifact(analysis_id: str, detector: str, name: str) -> Response:
    analysis = deps.store().get(analysis_id)
    media_type = None
    for f in (analysis.report or {}).get("findings", []):
        for a in f.get("artifacts", []):
            if f["detector"] == detector and a["name"] == name:
                media_type = a["media_type"]
    path = deps.store().artifact_path(analysis_id, detector, name)
    if media_type is None or not path.is_file():
        from verifier.errors import NotFoundError

        raise NotFoundError(f"No artifact {detector}/{name} in analysis {analysis_id}.")
    return send_file(path, mimetype=media_type, max_age=3600)


@bp.delete("/analyses/<analysis_id>")
def delete_analysis(analysis_id: str) -> tuple[str, int]:
    store = deps.store()
    store.get(analysis_id)
    try:
        cancel(deps.redis_conn(), analysis_id)
    except (VerifierError, *REDIS_ERRORS):
        pass  # a job that later runs finds no analysis and stops
    store.delete(analysis_id)
    return "", 204
