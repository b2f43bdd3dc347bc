"""The detector plugin contract.

A detector is a small class: class attributes say what it is, what it applies to and what a high
score means; one method, :meth:`Detector.analyze`, takes decoded media and returns a finding.
The pipeline, not the detector, handles timing, time limits, exceptions and media kinds it does
not apply to. Build findings with :meth:`ok`, :meth:`skip` and :meth:`informational` so the
detector's name and version are filled in consistently.

Adding a detector: one folder under ``detectors/`` and one line in ``detectors.DETECTORS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from verifier.media import Media, MediaKind
from verifier.report import Artifact, EvidenceKind, Finding, ModelRef, Status
from verifier.settings import Settings

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass(frozen=True)
class Example:
    """An input with the result a detector must give; feeds the contract test and demos."""

    label: str
    data: bytes
    status: Status
    min_score: float | None = None
    max_score: float | None = None


class Detector:
    #: Unique registered name (lowercase, underscores); appears in reports and settings.
    name: ClassVar[str]
    #: Bump when the detector's output can change for the same input.
    version: ClassVar[str]
    #: One line for listings.
    description: ClassVar[str]
    #: The media kinds it applies to; others get a ``skipped`` finding from the pipeline.
    media_kinds: ClassVar[frozenset[MediaKind]] = frozenset({MediaKind.IMAGE})
    #: What a high score from this detector is evidence of.
    evidence_kind: ClassVar[EvidenceKind] = EvidenceKind.MANIPULATION
    #: Names of the models (under ``models/``) it loads; empty for model-free detectors.
    models: ClassVar[tuple[str, ...]] = ()
    #: Whether it reads full-resolution pixels (lets the loader decode them up front once).
    needs_full_resolution: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        """Load models and other heavy state here: detectors are built once per process."""
        self.settings = settings

    def analyze(self, media: Media) -> Finding:
        raise NotImplementedError

    @classmethod
    def get_examples(cls) -> list[Example]:
        """Inputs with known results, made in code. Every detector should ship some."""
        return []

    # -- helpers for building findings -------------------------------------------------------

    def ok(
        self,
        *,
        score: float,
        weight: float,
        summary: str,
        evidence: dict[str, Any] | None = None,
        artifacts: list[Artifact] | None = None,
        models: list[ModelRef] | None = None,
        evidence_kind: EvidenceKind | None = None,
    ) -> Finding:
        """A finding that counts toward the verdict with ``weight``."""
        return Finding(
            detector=self.name,
            detector_version=self.version,
            status=Status.OK,
            evidence_kind=evidence_kind or self.evidence_kind,
            score=round(float(score), 4),
            weight=round(float(weight), 4),
            summary=summary,
            evidence=evidence or {},
            artifacts=artifacts or [],
            models=models or [],
        )

    def informational(
        self,
        *,
        summary: str,
        evidence: dict[str, Any] | None = None,
        artifacts: list[Artifact] | None = None,
    ) -> Finding:
        """A finding that reports facts but does not move the verdict."""
        return Finding(
            detector=self.name,
            detector_version=self.version,
            status=Status.OK,
            evidence_kind=self.evidence_kind,
            summary=summary,
            evidence=evidence or {},
            artifacts=artifacts or [],
        )

    def skip(self, reason: str, evidence: dict[str, Any] | None = None) -> Finding:
        """The detector does not apply to this input; ``reason`` says why, in plain words."""
        return skipped(self, reason, evidence)

    @classmethod
    def check_metadata(cls) -> list[str]:
        """Problems with the class attributes (empty when the class is well formed)."""
        problems = []
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"{cls.__qualname__}: name {name!r} must match {NAME_RE.pattern}")
        if not isinstance(getattr(cls, "version", None), str) or not cls.version:
            problems.append(f"{cls.__qualname__}: version must be a non-empty string")
        if not isinstance(getattr(cls, "description", None), str) or not cls.description:
            problems.append(f"{cls.__qualname__}: description must be a non-empty string")
        if not cls.media_kinds or not all(isinstance(k, MediaKind) for k in cls.media_kinds):
            problems.append(f"{cls.__qualname__}: media_kinds must be a set of MediaKind")
        if not isinstance(cls.evidence_kind, EvidenceKind):
            problems.append(f"{cls.__qualname__}: evidence_kind must be an EvidenceKind")
        if cls.analyze is Detector.analyze:
            problems.append(f"{cls.__qualname__}: analyze() is not implemented")
        return problems


def skipped(
    detector: Detector | type[Detector], reason: str, evidence: dict[str, Any] | None = None
) -> Finding:
    return Finding(
        detector=detector.name,
        detector_version=detector.version,
        status=Status.SKIPPED,
        evidence_kind=detector.evidence_kind,
        reason=reason,
        evidence=evidence or {},
    )


def errored(detector: Detector | type[Detector], message: str) -> Finding:
    return Finding(
        detector=detector.name,
        detector_version=detector.version,
        status=Status.ERROR,
        evidence_kind=detector.evidence_kind,
        error=message,
    )
