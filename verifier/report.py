"""The report schema, defined once.

The same models serve the job result, the API response, the OpenAPI document, the web page and
exports. ``SCHEMA_VERSION`` follows semantic versioning: a new optional field is a minor bump, a
removed or re-typed field a major one.

Scores have one meaning everywhere: a number in [0, 1] where 1 is evidence of manipulation or
synthesis (which of the two is the finding's ``evidence_kind``) and 0 is evidence against it.
A finding without a score is informational and does not move the verdict.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1.0.0"


class Status(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"
    ERROR = "error"


class EvidenceKind(StrEnum):
    """What a high score from a finding is evidence of."""

    MANIPULATION = "manipulation"  # edited after capture: splices, retouching, re-saves
    SYNTHESIS = "synthesis"  # generated or face-swapped by a model


class VerdictLabel(StrEnum):
    LIKELY_AUTHENTIC = "likely_authentic"
    INCONCLUSIVE = "inconclusive"
    LIKELY_MANIPULATED = "likely_manipulated"
    LIKELY_SYNTHETIC = "likely_synthetic"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Artifact(_Model):
    """A file a detector produced as evidence, such as a heatmap PNG.

    The bytes travel with the in-memory finding and are stored beside the report; the report
    itself carries only their description and checksum.
    """

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="File name, unique per report."
    )
    media_type: str = Field(description="MIME type, e.g. image/png.")
    description: str = Field(description="What a person sees in it and how to read it.")
    size_bytes: int = Field(ge=0)
    sha256: str
    data: bytes = Field(default=b"", exclude=True, repr=False)

    @classmethod
    def from_bytes(cls, name: str, media_type: str, description: str, data: bytes) -> Artifact:
        return cls(
            name=name,
            media_type=media_type,
            description=description,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            data=data,
        )


class ModelRef(_Model):
    """A model a detector used, as loaded (its checksum was verified on load)."""

    name: str
    version: str
    sha256: str


class Finding(_Model):
    detector: str = Field(description="Registered name of the detector.")
    detector_version: str
    status: Status = Field(
        description="ok: it ran and applies; skipped: it does not apply (see reason); "
        "error: it failed (see error)."
    )
    evidence_kind: EvidenceKind = Field(description="What a high score is evidence of.")
    score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="1 = evidence of manipulation or synthesis (see evidence_kind), 0 = evidence "
        "against it, 0.5 = no information. Null for informational findings.",
    )
    weight: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="How much this finding counts toward the verdict: how well the detector "
        "applies to this input times how reliable it has measured to be.",
    )
    summary: str = Field(default="", description="One plain-language sentence.")
    reason: str | None = Field(default=None, description="Why the detector was skipped.")
    error: str | None = Field(default=None, description="What went wrong, when status is error.")
    evidence: dict[str, Any] = Field(
        default_factory=dict, description="The numbers and values behind the claim."
    )
    artifacts: list[Artifact] = Field(default_factory=list)
    models: list[ModelRef] = Field(default_factory=list)
    duration_ms: float = Field(default=0.0, ge=0.0)

    @model_validator(mode="after")
    def _consistent(self) -> Finding:
        if self.status is Status.SKIPPED and not self.reason:
            raise ValueError("a skipped finding needs a reason")
        if self.status is Status.ERROR and not self.error:
            raise ValueError("an error finding needs an error message")
        if self.status is Status.OK and not self.summary:
            raise ValueError("an ok finding needs a summary")
        if self.status is not Status.OK and (self.score is not None or self.weight):
            raise ValueError("only ok findings carry a score or weight")
        if self.score is None and self.weight:
            raise ValueError("an informational finding (no score) has no weight")
        names = [a.name for a in self.artifacts]
        if len(names) != len(set(names)):
            raise ValueError("artifact names must be unique")
        return self

    @property
    def counts(self) -> bool:
        """Whether the finding can move the verdict."""
        return self.status is Status.OK and self.score is not None and self.weight > 0


class Reason(_Model):
    text: str = Field(description="A sentence a fact-checker can repeat.")
    findings: list[str] = Field(description="Detector names of the findings behind it.")


class Verdict(_Model):
    label: VerdictLabel
    score: float = Field(
        ge=0.0,
        le=1.0,
        description="Overall score, same direction as findings: 1 = manipulated or synthetic.",
    )
    summary: str = Field(description="The verdict in one sentence.")
    reasons: list[Reason]


class MediaInfo(_Model):
    name: str | None = Field(default=None, description="File name as given; not trusted.")
    sha256: str
    size_bytes: int
    format: str = Field(description="Detected from the content, never from the name.")
    mime_type: str
    kind: str = Field(description="image or video")
    width: int | None = None
    height: int | None = None
    orientation: int | None = Field(default=None, description="EXIF orientation found (1-8).")
    orientation_applied: bool = Field(
        default=False, description="Whether pixels were rotated/flipped to that orientation."
    )
    frame_count: int = 1


class ToolInfo(_Model):
    name: str = "verifier"
    version: str
    schema_version: str = SCHEMA_VERSION
    detectors: dict[str, str] = Field(description="Detector name -> version, of those run.")
    packages: dict[str, str] = Field(description="Versions of the libraries that did the work.")


class Report(_Model):
    schema_version: str = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    media: MediaInfo
    verdict: Verdict
    findings: list[Finding]
    tool: ToolInfo
    duration_ms: float = Field(ge=0.0, description="Pipeline time, loading included.")

    def finding(self, detector: str) -> Finding | None:
        return next((f for f in self.findings if f.detector == detector), None)

    def artifacts(self) -> dict[str, Artifact]:
        """All artifacts keyed ``<detector>/<name>`` (their storage names)."""
        return {f"{f.detector}/{a.name}": a for f in self.findings for a in f.artifacts}
