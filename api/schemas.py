"""Response models of the JSON API and the OpenAPI document built from them.

The report inside an analysis is ``verifier.report.Report``, the same model the CLI prints and
the worker stores; tests validate live responses against these models so the document cannot
drift from the code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from verifier import __version__
from verifier.report import Report


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. unsupported_media.")
    message: str = Field(description="One sentence, safe to show to a person.")
    detail: dict[str, Any] = Field(default_factory=dict)


class Links(BaseModel):
    model_config = ConfigDict(extra="forbid")
    self: str
    page: str = Field(description="The report as a web page.")
    artifacts: dict[str, str] | None = Field(
        default=None, description="`<detector>/<name>` -> URL of each artifact."
    )


class AnalysisOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-f0-9]{32}$")
    status: Literal["queued", "running", "finished", "failed"]
    progress: int = Field(ge=0, le=100)
    stage: str | None = Field(description="The detector running now, while running.")
    filename: str | None
    size_bytes: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    attempts: int = Field(description="Times a worker started it (retries after crashes add).")
    links: Links
    report: Report | None = None
    error: ErrorBody | None = None


def _schema(model: type[BaseModel], defs: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs.update(schema.pop("$defs", {}))
    defs[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi() -> dict[str, Any]:
    defs: dict[str, Any] = {}
    analysis = _schema(AnalysisOut, defs)
    error = _schema(ErrorBody, defs)

    def err(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": error}}}

    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    ok_json = {"content": {"application/json": {"schema": analysis}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "verifier", "version": __version__},
        "paths": {
            "/v1/analyses": {
                "post": {
                    "summary": "Upload an image or video for analysis",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {"file": {"type": "string", "format": "binary"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {"description": "Accepted and queued", **ok_json},
                        "400": err("No file field"),
                        "413": err("Too large, or a decompression bomb"),
                        "415": err("Not a supported image or video, or not multipart"),
                        "422": err("Unreadable header"),
                        "429": err("Queue full; see Retry-After"),
                        "503": err("Queue (Redis) unreachable"),
                    },
                }
            },
            "/v1/analyses/{id}": {
                "get": {
                    "summary": "Status, progress, and the report when finished",
                    "parameters": [id_param],
                    "responses": {
                        "200": {"description": "The analysis", **ok_json},
                        "404": err("Unknown id"),
                    },
                },
                "delete": {
                    "summary": "Remove the upload, artifacts and report",
                    "parameters": [id_param],
                    "responses": {"204": {"description": "Deleted"}, "404": err("Unknown id")},
                },
            },
            "/v1/analyses/{id}/artifacts/{detector}/{name}": {
                "get": {
                    "summary": "An artifact (heatmap PNG, ...)",
                    "parameters": [
                        id_param,
                        {
                            "name": "detector",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {"description": "The file"},
                        "404": err("No such artifact"),
                    },
                }
            },
            "/healthz": {
                "get": {"summary": "Liveness", "responses": {"200": {"description": "Alive"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: Redis and database reachable, a worker alive",
                    "responses": {
                        "200": {"description": "Ready"},
                        "503": {"description": "Not ready"},
                    },
                }
            },
        },
        "components": {"schemas": defs},
    }
