"""Perceptual hashes of the image, matched against banks of known fakes and originals.

The hashes themselves are facts (put in the report so anyone can look them up elsewhere). The
evidence is a bank match: a copy of a published, debunked fake is the strongest evidence a
report can carry, because a person has already checked it. See README.md for the score table.
"""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
from PIL import Image

from verifier import hashing
from verifier.banks import BankStore, Label, Match
from verifier.detector import Detector, Example
from verifier.media import Media, MediaKind
from verifier.report import EvidenceKind, Finding, Status

log = logging.getLogger(__name__)

#: Scores and weights (justified in README.md).
FAKE_SCORE, FAKE_WEIGHT = 0.99, 0.95
FAKE_FAR_WEIGHT = 0.6  # a known fake matched beyond Meta's threshold (a bank set wider)
FAKE_NEAR_ORIGINAL_SCORE, FAKE_NEAR_ORIGINAL_WEIGHT = 0.9, 0.6
ORIGINAL_SCORE, ORIGINAL_WEIGHT = 0.3, 0.3
MAX_LISTED = 20


def _describe(m: Match) -> str:
    what = f"entry {m.entry_id} of bank {m.bank!r}"
    if m.note:
        what += f" ({m.note[:120]})"
    how = f"distance {m.distance}/256"
    if m.transform != "original":
        how += f", once the image is {hashing.DIHEDRAL_PHRASES[m.transform]}"
    return f"{what}, {how}" + (f"; see {m.source_url}" if m.source_url else "")


class PerceptualHash(Detector):
    name = "perceptual_hash"
    version = "1.0.0"
    description = "PDQ and imagehash hashes; matches against banks of known fakes and originals."
    media_kinds = frozenset({MediaKind.IMAGE})
    evidence_kind = EvidenceKind.MANIPULATION

    @classmethod
    def get_examples(cls) -> list[Example]:
        rng = np.random.default_rng(5)
        textured = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        flat = Image.new("RGB", (128, 96), (128, 128, 128))
        out = []
        for label, img in (("textured image", textured), ("flat grey image", flat)):
            buf = io.BytesIO()
            img.save(buf, "PNG")
            out.append(Example(label, buf.getvalue(), Status.OK))
        return out

    def analyze(self, media: Media) -> Finding:
        hashes = hashing.hash_media(media)
        pdq = hashes.pdq
        evidence: dict[str, Any] = {
            "pdq": pdq.hex,
            "pdq_quality": pdq.quality,
            **hashes.others,
            "pdq_dihedral": {
                name: h.hex() for name, h in zip(hashing.DIHEDRAL, pdq.dihedral, strict=True)
            },
            "hashed_size": list(hashes.hashed_size),
        }
        notes = []
        if not pdq.reliable:
            warning = (
                f"PDQ quality {pdq.quality} is below {hashing.PDQ_MIN_QUALITY}: the image is too "
                "flat or featureless for its hash to be reliable; matches are listed but never "
                "counted as evidence."
            )
            evidence["warning"] = warning
            notes.append(f"PDQ quality {pdq.quality} (unreliable for matching)")
        else:
            notes.append(f"PDQ quality {pdq.quality}")

        try:
            store = BankStore.from_settings(self.settings, create=False)
            if store is None:
                searched, matches = [], []
            else:
                searched, matches = store.match(pdq.dihedral, quality=pdq.quality)
        except Exception as exc:  # a database outage must not lose the hashes
            log.warning("bank matching failed: %s", exc, exc_info=True)
            evidence["banks"] = f"matching failed: {type(exc).__name__}: {str(exc)[:200]}"
            return self.informational(
                summary=f"Hashes computed ({notes[0]}); matching against banks failed: "
                f"{type(exc).__name__}.",
                evidence=evidence,
            )
        if store is None or not searched:
            evidence["banks"] = "no banks configured"
            return self.informational(
                summary=f"Hashes computed ({notes[0]}); no banks configured to match against.",
                evidence=evidence,
            )
        evidence["banks_searched"] = searched
        evidence["matches"] = [m.model_dump(mode="json") for m in matches[:MAX_LISTED]]
        evidence["match_count"] = len(matches)
        return self._judge(matches, searched, notes[0], evidence)

    def _judge(
        self, matches: list[Match], searched: list[str], quality: str, evidence: dict[str, Any]
    ) -> Finding:
        reliable = [m for m in matches if m.reliable]
        fakes = [m for m in reliable if m.label is Label.KNOWN_FAKE]
        originals = [m for m in reliable if m.label is Label.KNOWN_ORIGINAL]
        if fakes:
            fake = fakes[0]  # nearest first
            kind = EvidenceKind(fake.evidence_kind.value)
            noun = "generated" if kind is EvidenceKind.SYNTHESIS else "manipulated"
            if originals and originals[0].distance <= fake.distance:
                original = originals[0]
                return self.informational(
                    summary=f"Matches both a known {noun} fake ({_describe(fake)}) and a known "
                    f"original ({_describe(original)}), at least as close to the original: the "
                    "hash cannot tell them apart; compare the images by eye.",
                    evidence=evidence,
                )
            if originals:
                score, weight = FAKE_NEAR_ORIGINAL_SCORE, FAKE_NEAR_ORIGINAL_WEIGHT
                extra = f" It is also near a known original ({_describe(originals[0])})."
            else:
                score = FAKE_SCORE
                near = fake.distance <= hashing.PDQ_THRESHOLD
                weight = FAKE_WEIGHT if near else FAKE_FAR_WEIGHT
                extra = ""
            return self.ok(
                score=score,
                weight=weight,
                summary=f"Copy of a known {noun} fake: {_describe(fake)}.{extra}",
                evidence=evidence,
                evidence_kind=kind,
            )
        if originals:
            original = originals[0]
            return self.ok(
                score=ORIGINAL_SCORE,
                weight=ORIGINAL_WEIGHT,
                summary=f"This is (a copy of) a known original: {_describe(original)}. Check "
                "that it is used in its original context.",
                evidence=evidence,
            )
        if reliable:
            return self.informational(
                summary=f"Matches {len(reliable)} bank entr{'y' if len(reliable) == 1 else 'ies'}"
                f" labelled other; nearest: {_describe(reliable[0])}.",
                evidence=evidence,
            )
        if matches:
            return self.informational(
                summary=f"{len(matches)} match(es) with low-quality hashes (featureless images "
                f"collide), not counted; {quality}.",
                evidence=evidence,
            )
        return self.informational(
            summary=f"No match in {len(searched)} bank(s); {quality}.", evidence=evidence
        )
