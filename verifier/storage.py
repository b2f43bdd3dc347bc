"""Where analyses live: a database row per analysis, files in the data directory.

* **Database** (``analyses`` table; SQLite by default, PostgreSQL through
  ``VERIFIER_DATABASE_URL``): status, progress, the report JSON and the error. Reports outlive
  Redis expiry and restarts.
* **Files** under ``VERIFIER_DATA_DIR``: ``uploads/<id>`` (the original bytes, deleted after
  ``VERIFIER_RETENTION``) and ``artifacts/<id>/<detector>/<name>``. API and workers on several
  hosts share them by mounting the same directory (NFS, EFS, a shared volume); their database
  must then be PostgreSQL.

Library code: no flask, no rq.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from verifier.db import get_engine, metadata
from verifier.errors import NotFoundError
from verifier.report import Report
from verifier.settings import Settings

QUEUED, RUNNING, FINISHED, FAILED = "queued", "running", "finished", "failed"
STATUSES = (QUEUED, RUNNING, FINISHED, FAILED)

analyses = Table(
    "analyses",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(16), nullable=False, index=True),
    Column("progress", Integer, nullable=False, default=0),
    Column("stage", String(64), nullable=True),
    Column("filename", String(255), nullable=True),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("upload_expires_at", DateTime(timezone=True), nullable=True, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("report", Text, nullable=True),
    Column("error", Text, nullable=True),
)

_ID_RE = re.compile(r"^[a-f0-9]{32}$")
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def new_id() -> str:
    return secrets.token_hex(16)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class Analysis:
    id: str
    status: str
    progress: int
    stage: str | None
    filename: str | None
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    upload_expires_at: datetime | None
    attempts: int
    report: dict[str, Any] | None
    error: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> Analysis:
        m = row._mapping
        return cls(
            id=m["id"],
            status=m["status"],
            progress=m["progress"],
            stage=m["stage"],
            filename=m["filename"],
            size_bytes=m["size_bytes"],
            created_at=_aware(m["created_at"]),  # type: ignore[arg-type]
            updated_at=_aware(m["updated_at"]),  # type: ignore[arg-type]
            finished_at=_aware(m["finished_at"]),
            upload_expires_at=_aware(m["upload_expires_at"]),
            attempts=m["attempts"],
            report=json.loads(m["report"]) if m["report"] else None,
            error=json.loads(m["error"]) if m["error"] else None,
        )


class Store:
    """Analyses in the database and their files on disk. Safe to share across threads."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir
        self.engine = get_engine(settings)

    # -- paths --------------------------------------------------------------------------------

    def upload_path(self, analysis_id: str) -> Path:
        return self.root / "uploads" / _checked_id(analysis_id)

    def artifact_dir(self, analysis_id: str) -> Path:
        return self.root / "artifacts" / _checked_id(analysis_id)

    def artifact_path(self, analysis_id: str, detector: str, name: str) -> Path:
        if not (_SAFE_NAME.match(detector) and _SAFE_NAME.match(name)):
            raise NotFoundError("No such artifact.")
        return self.artifact_dir(analysis_id) / detector / name

    # -- writes -------------------------------------------------------------------------------

    def save_upload(self, stream: IO[bytes], limit: int) -> tuple[str, Path, int]:
        """Copy ``stream`` to a new upload file, refusing more than ``limit`` bytes.

        Returns (id, path, size). Raises :class:`MediaTooLargeError` past the limit (the
        partial file is removed). Written under a temporary name and renamed, so a worker never
        sees half a file.
        """
        from verifier.errors import MediaTooLargeError

        analysis_id = new_id()
        final = self.upload_path(analysis_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_suffix(".part")
        size = 0
        try:
            with open(tmp, "wb") as out:
                while chunk := stream.read(1 << 20):
                    size += len(chunk)
                    if size > limit:
                        raise MediaTooLargeError(
                            f"The upload exceeds the limit of {limit:,} bytes.",
                            detail={"max_bytes": limit},
                        )
                    out.write(chunk)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return analysis_id, final, size

    def create(self, analysis_id: str, filename: str | None, size_bytes: int) -> Analysis:
        now = _now()
        row = {
            "id": analysis_id,
            "status": QUEUED,
            "progress": 0,
            "stage": None,
            "filename": (filename or None) and filename[:255],
            "size_bytes": size_bytes,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
            "upload_expires_at": now + timedelta(seconds=self.settings.retention),
            "attempts": 0,
            "report": None,
            "error": None,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(analyses).values(**row))
        return Analysis(**row)

    def _update(self, analysis_id: str, **values: Any) -> None:
        values["updated_at"] = _now()
        with self.engine.begin() as conn:
            conn.execute(update(analyses).where(analyses.c.id == analysis_id).values(**values))

    def mark_running(self, analysis_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(analyses)
                .where(analyses.c.id == analysis_id)
                .values(
                    status=RUNNING,
                    progress=0,
                    updated_at=_now(),
                    attempts=analyses.c.attempts + 1,
                )
            )

    def set_progress(self, analysis_id: str, progress: int, stage: str | None) -> None:
        self._update(analysis_id, progress=progress, stage=stage)

    def mark_queued(self, analysis_id: str) -> None:
        self._update(analysis_id, status=QUEUED, progress=0, stage=None)

    def finish(self, analysis_id: str, report: Report) -> None:
        """Store the report and its artifacts; the analysis becomes ``finished``.

        If the analysis was deleted while it ran, nothing is kept: the artifacts written here
        are removed again (a DELETE must not leave heatmaps of someone's upload behind).
        """
        for key, artifact in report.artifacts().items():
            detector, name = key.split("/", 1)
            path = self.artifact_path(analysis_id, detector, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(artifact.data)
        now = _now()
        with self.engine.begin() as conn:
            updated = conn.execute(
                update(analyses)
                .where(analyses.c.id == analysis_id)
                .values(
                    status=FINISHED,
                    progress=100,
                    stage=None,
                    updated_at=now,
                    finished_at=now,
                    report=report.model_dump_json(),
                    error=None,
                )
            ).rowcount
        if not updated:
            shutil.rmtree(self.artifact_dir(analysis_id), ignore_errors=True)

    def fail(self, analysis_id: str, error: dict[str, Any]) -> None:
        self._update(
            analysis_id, status=FAILED, stage=None, finished_at=_now(), error=json.dumps(error)
        )

    def delete(self, analysis_id: str) -> None:
        self.get(analysis_id)  # 404 for unknown ids
        self.upload_path(analysis_id).unlink(missing_ok=True)
        shutil.rmtree(self.artifact_dir(analysis_id), ignore_errors=True)
        with self.engine.begin() as conn:
            conn.execute(delete(analyses).where(analyses.c.id == analysis_id))

    # -- reads --------------------------------------------------------------------------------

    def get(self, analysis_id: str) -> Analysis:
        if not _ID_RE.match(analysis_id or ""):
            raise NotFoundError(f"No analysis with id {analysis_id!r}.")
        with self.engine.connect() as conn:
            row = conn.execute(select(analyses).where(analyses.c.id == analysis_id)).first()
        if row is None:
            raise NotFoundError(f"No analysis with id {analysis_id!r}.")
        return Analysis.from_row(row)

    def read_upload(self, analysis_id: str) -> bytes:
        path = self.upload_path(analysis_id)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                "The uploaded file is no longer stored (deleted or past retention)."
            ) from None

    def unfinished(self, older_than: float = 0.0) -> list[Analysis]:
        """Queued or running analyses not updated for ``older_than`` seconds."""
        cutoff = _now() - timedelta(seconds=older_than)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(analyses)
                .where(analyses.c.status.in_((QUEUED, RUNNING)))
                .where(analyses.c.updated_at <= cutoff)
                .order_by(analyses.c.created_at)
            ).all()
        return [Analysis.from_row(r) for r in rows]

    def purge_expired_uploads(self) -> int:
        """Delete uploads past retention (of analyses no longer waiting to run)."""
        now = _now()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(analyses.c.id)
                .where(analyses.c.upload_expires_at <= now)
                .where(analyses.c.status.in_((FINISHED, FAILED)))
            ).all()
        count = 0
        for (analysis_id,) in rows:
            path = self.upload_path(analysis_id)
            if path.exists():
                path.unlink(missing_ok=True)
                count += 1
        if rows:
            with self.engine.begin() as conn:
                conn.execute(
                    update(analyses)
                    .where(analyses.c.id.in_([r[0] for r in rows]))
                    .values(upload_expires_at=None)
                )
        return count


def _checked_id(analysis_id: str) -> str:
    if not _ID_RE.match(analysis_id or ""):
        raise NotFoundError(f"No analysis with id {analysis_id!r}.")
    return analysis_id
