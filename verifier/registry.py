"""Detector registry: validate the explicit tuple in ``detectors.DETECTORS`` and select from it."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Sequence

from verifier.detector import Detector
from verifier.errors import ConfigError, DetectorRegistryError
from verifier.settings import Settings


def validate(classes: Sequence[type[Detector]]) -> None:
    """Raise :class:`DetectorRegistryError` if names repeat or metadata is malformed."""
    problems: list[str] = []
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, Detector)):
            problems.append(f"{cls!r} is not a Detector subclass")
            continue
        problems.extend(cls.check_metadata())
    counts = Counter(getattr(cls, "name", None) for cls in classes)
    problems.extend(
        f"detector name {n!r} is registered {c} times" for n, c in counts.items() if c > 1
    )
    if problems:
        raise DetectorRegistryError("; ".join(problems), detail={"problems": problems})


def registered() -> tuple[type[Detector], ...]:
    """Every registered detector class, validated."""
    from detectors import DETECTORS  # the one explicit list; imported late to avoid a cycle

    validate(DETECTORS)
    return DETECTORS


def load_extra(paths: Sequence[str]) -> tuple[type[Detector], ...]:
    """Import extra detector classes named ``package.module:Class`` (VERIFIER_EXTRA_DETECTORS)."""
    classes = []
    for path in paths:
        module_name, _, attr = path.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(
                f"VERIFIER_EXTRA_DETECTORS: cannot import {path!r} ({exc}); "
                "use package.module:Class"
            ) from None
        classes.append(cls)
    return tuple(classes)


def available(settings: Settings) -> tuple[type[Detector], ...]:
    """Built-in detectors plus the configured extras, validated together (unique names)."""
    classes = registered() + load_extra(settings.extra_detectors)
    validate(classes)
    return classes


def select(
    settings: Settings, classes: Sequence[type[Detector]] | None = None
) -> list[type[Detector]]:
    """The classes to run, in registry order, after the enable/disable settings."""
    classes = list(available(settings) if classes is None else classes)
    names = {cls.name for cls in classes}
    unknown = sorted((set(settings.detectors) | set(settings.disabled_detectors)) - names)
    if unknown:
        raise ConfigError(
            f"unknown detector name(s) in settings: {', '.join(unknown)}; "
            f"registered: {', '.join(sorted(names))}",
            detail={"unknown": unknown},
        )
    wanted = set(settings.detectors) or names
    return [c for c in classes if c.name in wanted and c.name not in settings.disabled_detectors]


def build(settings: Settings, classes: Sequence[type[Detector]] | None = None) -> list[Detector]:
    """Instantiate the selected detectors (loads their models once)."""
    return [cls(settings) for cls in select(settings, classes)]
