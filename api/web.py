"""The web form for fact-checkers: upload, watch progress, read the report.

Server-rendered; the upload works without JavaScript (the page refreshes itself while the
analysis runs), and a few lines of script poll the JSON API for a smoother progress bar.
"""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, url_for

from api import deps
from api.v1 import accept_upload, analysis_json
from verifier import __version__
from verifier.errors import VerifierError

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static")


@bp.app_context_processor
def _globals() -> dict[str, object]:
    return {"version": __version__, "max_bytes": deps.settings().max_bytes}


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.post("/analyses")
def upload() -> Response | tuple[str, int]:
    try:
        analysis = accept_upload()
    except VerifierError as exc:
        return render_template("index.html", error=exc), exc.http_status
    return redirect(url_for("web.analysis_page", analysis_id=analysis.id), code=303)


@bp.get("/analyses/<analysis_id>")
def analysis_page(analysis_id: str) -> str | tuple[str, int]:
    try:
        analysis = deps.store().get(analysis_id)
    except VerifierError as exc:
        return render_template("index.html", error=exc), exc.http_status
    return render_template("analysis.html", a=analysis_json(analysis))
