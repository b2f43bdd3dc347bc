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
    from verifier.banks import BankInfo, Entry, EntryPage, ImportResult, MatchResult

    bank, entry = _schema(BankInfo, defs), _schema(Entry, defs)
    page, imported, matched = (_schema(m, defs) for m in (EntryPage, ImportResult, MatchResult))

    def ok(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": schema}}}

    def path_params(*names: str) -> list[dict[str, Any]]:
        return [
            {"name": n, "in": "path", "required": True,
             "schema": {"type": "integer" if n == "entry_id" else "string"}}
            for n in names
        ]  # fmt: skip

    upload = {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "label": {"type": "string", "enum": ["known_fake", "known_original", "other"]},
                    "evidence_kind": {"type": "string", "enum": ["manipulation", "synthesis"]},
                    "note": {"type": "string"},
                    "source_url": {"type": "string"},
                },
            }
        }
    }
    by_hash = {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["pdq"],
                "properties": {
                    "pdq": {"type": "string", "description": "64 hex digits"},
                    "label": {"type": "string", "enum": ["known_fake", "known_original", "other"]},
                    "evidence_kind": {"type": "string", "enum": ["manipulation", "synthesis"]},
                    "note": {"type": "string"},
                    "source_url": {"type": "string"},
                    "quality": {"type": "integer", "minimum": 0, "maximum": 100},
                },
            }
        }
    }
    bank_errors = {
        "400": err("Malformed request"),
        "403": err("Changing banks needs the admin token (or a request from this machine)"),
        "404": err("Unknown bank or entry"),
    }
    bank_paths = {
        "/v1/banks": {
            "get": {"summary": "List hash banks",
                    "responses": {"200": ok({"type": "array", "items": bank})}},
            "post": {
                "summary": "Create a bank",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                                   "threshold": {"type": "integer"}}}}}},
                "responses": {"201": ok(bank, "Created"), **bank_errors,
                              "409": err("A bank with that name exists")},
            },
        },
        "/v1/banks/{name}": {
            "parameters": path_params("name"),
            "get": {"summary": "A bank", "responses": {"200": ok(bank), **bank_errors}},
            "patch": {"summary": "Change a bank's description or threshold",
                      "responses": {"200": ok(bank), **bank_errors}},
            "delete": {"summary": "Delete a bank and its entries",
                       "responses": {"200": ok(bank), **bank_errors}},
        },
        "/v1/banks/{name}/entries": {
            "parameters": path_params("name"),
            "get": {"summary": "Entries, paged by after_id",
                    "responses": {"200": ok(page), **bank_errors}},
            "post": {"summary": "Add an image (multipart) or a raw PDQ hash (JSON)",
                     "requestBody": {"required": True, "content": {**upload, **by_hash}},
                     "responses": {"201": ok(entry, "Added"), **bank_errors,
                                   "409": err("Already in the bank"),
                                   "413": err("Image too large"),
                                   "415": err("Neither multipart nor JSON, or not an image"),
                                   "422": err("Unreadable image")}},
        },
        "/v1/banks/{name}/import": {
            "parameters": path_params("name"),
            "post": {"summary": "Import many PDQ hashes (text, one per line, or CSV)",
                     "requestBody": {"required": True, "content": {
                         "text/plain": {"schema": {"type": "string"}},
                         "text/csv": {"schema": {"type": "string"}}}},
                     "responses": {"200": ok(imported), **bank_errors,
                                   "415": err("Not text")}},
        },
        "/v1/banks/{name}/entries/{entry_id}": {
            "parameters": path_params("name", "entry_id"),
            "get": {"summary": "An entry", "responses": {"200": ok(entry), **bank_errors}},
            "delete": {"summary": "Delete an entry",
                       "responses": {"200": ok(entry), **bank_errors}},
        },
        "/v1/match": {
            "post": {"summary": "Match an image (multipart) or a PDQ hash (JSON) against banks",
                     "requestBody": {"required": True, "content": {**upload, **by_hash}},
                     "responses": {"200": ok(matched), **bank_errors,
                                   "413": err("Too large"), "415": err("Not an image"),
                                   "422": err("Unreadable image")}},
        },
    }  # fmt: skip
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
            **bank_paths,
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
