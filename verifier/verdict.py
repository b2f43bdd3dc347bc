"""The verdict, computed in one place from the findings.

Rules, in order (scores and weights are the findings' own, see ``verifier.report``):

1. **Strong evidence** - any finding with score >= 0.8 and weight >= 0.5 - decides the label:
   ``likely_manipulated`` or ``likely_synthetic`` by its evidence kind (if both kinds have
   strong findings, the kind with more weighted evidence wins and the other is still listed).
2. **Agreeing moderate evidence** - at least two findings of one kind with score >= 0.6 and
   weight >= 0.2 whose combined score reaches 0.8 - decides it the same way.
3. **Strong evidence of authenticity** - a finding with score <= 0.15 and weight >= 0.8, such
   as valid Content Credentials from a camera - gives ``likely_authentic``, but only when no
   finding shows moderate or strong evidence the other way.
4. Otherwise ``inconclusive``. Nothing firing is not proof of authenticity.

The combined score treats each finding's calibrated score as independent evidence, tempered by
its weight: ``sigmoid(sum(weight * logit(score)))``. With no evidence it is 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from verifier.report import EvidenceKind, Finding, Reason, Status, Verdict, VerdictLabel

STRONG_SCORE, STRONG_WEIGHT = 0.8, 0.5
MODERATE_SCORE, MODERATE_WEIGHT = 0.6, 0.2
AUTHENTIC_SCORE, AUTHENTIC_WEIGHT = 0.15, 0.8
AGREEING_COMBINED = 0.8

_LABEL_FOR = {
    EvidenceKind.MANIPULATION: VerdictLabel.LIKELY_MANIPULATED,
    EvidenceKind.SYNTHESIS: VerdictLabel.LIKELY_SYNTHETIC,
}
_NOUN = {EvidenceKind.MANIPULATION: "manipulation", EvidenceKind.SYNTHESIS: "synthesis"}

NO_EVIDENCE_TEXT = (
    "No detector found strong evidence either way. That is not proof of authenticity: many "
    "edits and generators leave no trace these detectors can see."
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def combined_score(findings: Sequence[Finding]) -> float:
    total = sum(f.weight * _logit(f.score) for f in findings if f.counts and f.score is not None)
    return 1 / (1 + math.exp(-total))


def _strength(f: Finding) -> str:
    assert f.score is not None
    if f.score >= STRONG_SCORE and f.weight >= STRONG_WEIGHT:
        return "strong"
    if f.score >= MODERATE_SCORE and f.weight >= MODERATE_WEIGHT:
        return "moderate"
    if f.score <= AUTHENTIC_SCORE and f.weight >= AUTHENTIC_WEIGHT:
        return "authentic"
    return "weak"


def _reason(f: Finding, prefix: str = "") -> Reason:
    return Reason(
        text=f"{prefix}{f.summary} ({f.detector}: score {f.score:.2f})", findings=[f.detector]
    )


def compute_verdict(findings: Sequence[Finding]) -> Verdict:
    counting = [f for f in findings if f.counts]
    by_strength: dict[str, list[Finding]] = {
        "strong": [],
        "moderate": [],
        "authentic": [],
        "weak": [],
    }
    for f in sorted(counting, key=lambda f: -(f.weight * abs((f.score or 0.5) - 0.5))):
        by_strength[_strength(f)].append(f)
    strong, moderate = by_strength["strong"], by_strength["moderate"]
    combined = combined_score(counting)

    def pressure(kind: EvidenceKind, group: list[Finding]) -> float:
        return sum(f.weight * (f.score or 0) for f in group if f.evidence_kind is kind)

    label = VerdictLabel.INCONCLUSIVE
    reasons: list[Reason] = []
    score = combined
    if strong:
        kind = max(_LABEL_FOR, key=lambda k: pressure(k, strong))
        label = _LABEL_FOR[kind]
        decisive = [f for f in strong if f.evidence_kind is kind]
        score = max(max(f.score or 0 for f in decisive), combined)
        reasons += [_reason(f) for f in decisive]
        reasons += [_reason(f, "Also: ") for f in strong if f.evidence_kind is not kind]
        reasons += [_reason(f, "Supporting: ") for f in moderate]
    else:
        for kind in _LABEL_FOR:
            agreeing = [f for f in moderate if f.evidence_kind is kind]
            if len(agreeing) >= 2 and combined_score(agreeing) >= AGREEING_COMBINED:
                label = _LABEL_FOR[kind]
                score = max(combined, combined_score(agreeing))
                reasons.append(
                    Reason(
                        text=f"{len(agreeing)} independent signals of {_NOUN[kind]} agree.",
                        findings=[f.detector for f in agreeing],
                    )
                )
                reasons += [_reason(f) for f in agreeing]
                break
    if label is VerdictLabel.INCONCLUSIVE:
        authentic = by_strength["authentic"]
        if authentic and not strong and not moderate:
            label = VerdictLabel.LIKELY_AUTHENTIC
            score = min(min(f.score or 0 for f in authentic), combined)
            reasons += [_reason(f) for f in authentic]
        else:
            # Inconclusive never reads stronger than its label.
            score = min(max(combined, 0.2), 0.8)
            reasons += [_reason(f, "Some evidence, not enough for a verdict: ") for f in moderate]
            reasons += [_reason(f, "Points to authenticity: ") for f in authentic]
            if not reasons:
                reasons.append(
                    Reason(text=NO_EVIDENCE_TEXT, findings=[f.detector for f in counting])
                )
    errors = [f.detector for f in findings if f.status is Status.ERROR]
    if errors:
        reasons.append(
            Reason(
                text=f"{len(errors)} detector(s) failed and could not contribute: "
                f"{', '.join(errors)}.",
                findings=errors,
            )
        )
    return Verdict(
        label=label, score=round(score, 4), summary=_summary(label, reasons), reasons=reasons
    )


_HEADLINE = {
    VerdictLabel.LIKELY_MANIPULATED: "Likely manipulated",
    VerdictLabel.LIKELY_SYNTHETIC: "Likely synthetic (AI-generated or face-swapped)",
    VerdictLabel.LIKELY_AUTHENTIC: "Likely authentic",
    VerdictLabel.INCONCLUSIVE: "Inconclusive",
}


def _summary(label: VerdictLabel, reasons: list[Reason]) -> str:
    head = _HEADLINE[label]
    if label is VerdictLabel.INCONCLUSIVE:
        return f"{head}: no strong evidence of manipulation, synthesis or authenticity."
    return f"{head}: {reasons[0].text}"
