from __future__ import annotations

import pytest

from verifier.report import EvidenceKind, Finding, Status, VerdictLabel
from verifier.verdict import NO_EVIDENCE_TEXT, combined_score, compute_verdict

M, S = EvidenceKind.MANIPULATION, EvidenceKind.SYNTHESIS


def f(name, score, weight, kind=M, summary=None):
    return Finding(
        detector=name,
        detector_version="1",
        status=Status.OK,
        evidence_kind=kind,
        score=score,
        weight=weight,
        summary=summary or f"{name} says {score}",
    )


def test_nothing_firing_is_inconclusive_not_authentic():
    v = compute_verdict([f("a", 0.3, 0.1), f("b", 0.5, 0.05)])
    assert v.label is VerdictLabel.INCONCLUSIVE
    assert v.reasons[0].text == NO_EVIDENCE_TEXT
    assert 0.2 <= v.score <= 0.8


def test_no_findings_at_all():
    v = compute_verdict([])
    assert v.label is VerdictLabel.INCONCLUSIVE and v.score == 0.5


def test_strong_manipulation():
    v = compute_verdict([f("ela", 0.9, 0.6), f("meta", 0.4, 0.1)])
    assert v.label is VerdictLabel.LIKELY_MANIPULATED
    assert v.score >= 0.9
    assert v.reasons[0].findings == ["ela"]
    assert "ela" in v.summary or "says" in v.summary


def test_strong_synthesis():
    v = compute_verdict([f("gen", 0.97, 0.8, S)])
    assert v.label is VerdictLabel.LIKELY_SYNTHETIC


def test_both_kinds_strong_the_heavier_wins_and_the_other_is_listed():
    v = compute_verdict([f("gen", 0.85, 0.55, S), f("splice", 0.99, 0.9, M)])
    assert v.label is VerdictLabel.LIKELY_MANIPULATED
    assert any(r.text.startswith("Also:") and r.findings == ["gen"] for r in v.reasons)


def test_a_strong_score_with_low_weight_is_not_decisive():
    v = compute_verdict([f("weak", 0.99, 0.1)])
    assert v.label is VerdictLabel.INCONCLUSIVE


def test_agreeing_moderate_signals():
    v = compute_verdict([f("a", 0.75, 0.45), f("b", 0.75, 0.45), f("c", 0.78, 0.45)])
    assert v.label is VerdictLabel.LIKELY_MANIPULATED
    assert "agree" in v.reasons[0].text
    single = compute_verdict([f("a", 0.75, 0.45)])
    assert single.label is VerdictLabel.INCONCLUSIVE
    assert "not enough for a verdict" in single.reasons[0].text


def test_strong_authenticity():
    v = compute_verdict([f("c2pa", 0.02, 0.95)])
    assert v.label is VerdictLabel.LIKELY_AUTHENTIC
    assert v.score <= 0.05


def test_authenticity_is_not_claimed_against_moderate_evidence():
    v = compute_verdict([f("c2pa", 0.02, 0.95), f("ela", 0.7, 0.3)])
    assert v.label is VerdictLabel.INCONCLUSIVE


def test_errors_and_skips_do_not_count_but_are_mentioned():
    err = Finding(
        detector="x", detector_version="1", status=Status.ERROR, evidence_kind=M, error="boom"
    )
    skip = Finding(
        detector="y", detector_version="1", status=Status.SKIPPED, evidence_kind=M, reason="no"
    )
    v = compute_verdict([err, skip])
    assert v.label is VerdictLabel.INCONCLUSIVE
    assert any(r.findings == ["x"] for r in v.reasons)


def test_combined_score_direction():
    assert combined_score([f("a", 0.9, 1.0)]) == pytest.approx(0.9, abs=1e-3)
    assert combined_score([f("a", 0.9, 0.5), f("b", 0.1, 0.5)]) == pytest.approx(0.5)
    assert combined_score([]) == 0.5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Status.SKIPPED},
        {"status": Status.ERROR},
        {"status": Status.OK, "summary": ""},
        {"status": Status.SKIPPED, "reason": "x", "score": 0.5},
        {"status": Status.OK, "summary": "x", "weight": 0.5},
        {"status": Status.OK, "summary": "x", "score": 1.5},
    ],
)
def test_finding_schema_rejects_inconsistent_findings(kwargs):
    with pytest.raises(ValueError):
        Finding(detector="d", detector_version="1", evidence_kind=M, **kwargs)
