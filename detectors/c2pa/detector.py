"""C2PA Content Credentials: is there a manifest, does it validate, and what does it declare.

Read and validated with c2pa-python (the C2PA reference implementation, c2pa-rs, underneath),
offline: fetching remote manifests and OCSP responses is switched off, so a file whose manifest
lives on a server is reported as "not verifiable offline" with the URL, never fetched and never
waited on. The c2pa parser was timed on the parser-abuse fixtures (nested boxes, a TIFF with
too many sub-files): it refuses them in about a millisecond, so it runs in-process.

What counts, and how much (the README has the table):

- a manifest whose hashes no longer match the file (``assertion.dataHash.mismatch``,
  ``bmffHash``, ``boxesHash``, ``collectionHash``): the content changed after signing, strong
  evidence of tampering; a broken claim signature or assertion hash, also strong;
- a valid manifest declaring AI generation (``digitalSourceType`` ``trainedAlgorithmicMedia``
  or ``compositeWithTrainedAlgorithmicMedia`` in its actions): settles "synthetic";
- a valid manifest from a capture device (``c2pa.created`` with ``digitalCapture``) and no
  content edits: evidence of authenticity, strong only when the signer is on a configured trust
  list (anyone can sign with a self-made certificate);
- declared content edits (placed, cropped, edited, filtered...): disclosed editing, moderate.

No manifest says nothing: almost no images carry one.
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from verifier.detector import Detector, Example
from verifier.errors import ConfigError
from verifier.media import Media, MediaKind
from verifier.report import EvidenceKind, Finding, Status
from verifier.settings import Settings

try:
    import c2pa

    C2PA_AVAILABLE = True
except ImportError:  # pragma: no cover - declared dependency; keep the failure readable
    C2PA_AVAILABLE = False

MIME_BY_EXTENSION = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
    "tif": "image/tiff", "tiff": "image/tiff", "heic": "image/heic", "heif": "image/heif",
    "avif": "image/avif", "gif": "image/gif", "svg": "image/svg+xml", "jxl": "image/jxl",
    "mp4": "video/mp4", "mov": "video/quicktime", "avi": "video/x-msvideo",
}  # fmt: skip
HASH_MISMATCH = {
    "assertion.dataHash.mismatch",
    "assertion.bmffHash.mismatch",
    "assertion.boxesHash.mismatch",
    "assertion.collectionHash.mismatch",
}
#: Codes that are not failures of the file: the signer is not on a trust list we were given.
NOT_TAMPERING = {"signingCredential.untrusted", "cawg.x509.credential.untrusted"}
AI_SOURCES = ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia")
CAPTURE_SOURCES = ("digitalCapture", "computationalCapture")
CONTENT_EDITS = {
    "c2pa.edited", "c2pa.placed", "c2pa.cropped", "c2pa.filtered", "c2pa.drawing",
    "c2pa.removed", "c2pa.deleted",
}  # fmt: skip
_lock = threading.Lock()


@dataclass
class ManifestResult:
    """What the reader found, in plain data (also what the benchmark compares)."""

    state: str | None = None  # Valid, Invalid, Trusted
    codes: list[str] = field(default_factory=list)  # validation_status codes (failures)
    manifest: dict[str, Any] | None = None
    error_category: str | None = None  # ManifestNotFound, NotSupported, Other, Verify...
    error: str | None = None
    remote_url: str | None = None

    def summary(self) -> dict[str, Any]:
        if self.state:
            n = len((self.manifest or {}).get("manifests", {}))
            return {"state": self.state, "codes": sorted(set(self.codes)), "n_manifests": n}
        return {"error": self.error, "remote_url": self.remote_url}


def trust_anchors(settings: Settings) -> str | None:
    """The configured trust list's PEM text; a clear start-up error if it cannot be used."""
    path = settings.c2pa_trust_anchors
    if path is None:
        return None
    try:
        pem = path.read_text()
    except OSError as exc:
        raise ConfigError(f"VERIFIER_C2PA_TRUST_ANCHORS: cannot read {path} ({exc})") from None
    if "-----BEGIN CERTIFICATE-----" not in pem:
        raise ConfigError(f"VERIFIER_C2PA_TRUST_ANCHORS: {path} holds no PEM certificate")
    return pem


def _context(anchors: str | None) -> Any:
    config: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
    if anchors:
        config["trust"] = {"trust_anchors": anchors}
    return c2pa.Context.from_dict(config)


def read_manifest(
    data: bytes, mime: str, settings: Settings, anchors: str | None = None
) -> ManifestResult:
    """Read and validate the C2PA manifest store of one file, offline."""
    anchors = anchors if anchors is not None else trust_anchors(settings)
    with _lock:  # one native call at a time: the bindings' thread-safety is not documented
        try:
            ctx = _context(anchors)
            reader = c2pa.Reader(mime, io.BytesIO(data), context=ctx)
        except c2pa.C2paError as exc:
            text = str(exc)
            category = text.split(":", 1)[0].strip() or type(exc).__name__
            remote = None
            if category == "Remote" and "url " in text:
                remote = text.rsplit("url ", 1)[1].split()[0]
            return ManifestResult(error_category=category, error=text[:500], remote_url=remote)
        try:
            manifest = json.loads(reader.json())
            state = reader.get_validation_state()
        finally:
            reader.close()
            ctx.close()
    # One entry per manifest that reports it; the set is what a reader cites.
    codes = sorted({s.get("code", "") for s in manifest.get("validation_status") or []})
    return ManifestResult(state=state, codes=codes, manifest=manifest)


def _name(agent: Any) -> str | None:
    if isinstance(agent, dict):
        return str(agent.get("name") or "") or None
    return str(agent) if agent else None


def describe(manifest: dict[str, Any]) -> dict[str, Any]:
    """The facts a fact-checker cites: signer, time, generator, actions, ingredients."""
    manifests = manifest.get("manifests") or {}
    active = manifests.get(manifest.get("active_manifest") or "", {})
    sig = active.get("signature_info") or {}
    out: dict[str, Any] = {
        "manifests": len(manifests),
        "claim_generator": active.get("claim_generator")
        or ", ".join(
            f"{g.get('name')} {g.get('version', '')}".strip()
            for g in active.get("claim_generator_info") or []
        )
        or None,
        "title": active.get("title"),
        "signer": sig.get("common_name") or sig.get("issuer"),
        "signer_issuer": sig.get("issuer"),
        "signing_time": sig.get("time"),
        "signature_alg": sig.get("alg"),
        "ingredients": [
            {"title": i.get("title"), "relationship": i.get("relationship")}
            for i in active.get("ingredients") or []
        ][:20],
        "assertions": [a.get("label") for a in active.get("assertions") or []][:40],
    }
    actions, sources, chain_sources = [], set(), set()
    for m in manifests.values():
        for a in m.get("assertions") or []:
            if not str(a.get("label", "")).startswith("c2pa.actions"):
                continue
            for act in (a.get("data") or {}).get("actions") or []:
                source = str(act.get("digitalSourceType") or "").rsplit("/", 1)[-1]
                if source:
                    chain_sources.add(source)
                if m is active:
                    actions.append(
                        {
                            "action": act.get("action"),
                            "software": _name(act.get("softwareAgent")),
                            "digital_source_type": source or None,
                            "when": act.get("when"),
                        }
                    )
                    if source:
                        sources.add(source)
    out["actions"] = actions[:50]
    out["digital_source_types"] = sorted(sources)
    out["digital_source_types_in_history"] = sorted(chain_sources)
    return out


class C2pa(Detector):
    name = "c2pa"
    version = "1.0.0"
    description = (
        "C2PA Content Credentials: manifest present, validation (tampering), signer, actions, "
        "AI-generation and capture declarations; offline."
    )
    media_kinds = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.anchors = trust_anchors(settings)

    @classmethod
    def get_examples(cls) -> list[Example]:
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "JPEG")
        plain = buf.getvalue()
        # An APP11 JUMBF segment that claims C2PA but holds garbage: present, not readable.
        jumbf = b"JP\x00\x01\x00\x00\x00\x01" + b"\x00\x00\x00\x20jumb" + b"\x00" * 24
        app11 = b"\xff\xeb" + (len(jumbf) + 2).to_bytes(2, "big") + jumbf
        return [
            Example("no manifest", plain, Status.OK),
            Example("broken JUMBF", plain[:2] + app11 + plain[2:], Status.OK),
        ]

    def analyze(self, media: Media) -> Finding:
        if not C2PA_AVAILABLE:  # pragma: no cover
            return self.skip("c2pa-python is not installed (pip install c2pa-python).")
        result = read_manifest(media.data, media.format.mime, self.settings, self.anchors)
        if result.state is None:
            return self._no_manifest(result)
        assert result.manifest is not None
        facts = describe(result.manifest)
        failures = [c for c in result.codes if c not in NOT_TAMPERING]
        evidence: dict[str, Any] = {
            "validation_state": result.state,
            "validation_codes": sorted(result.codes),
            "trusted": result.state == "Trusted",
            "trust_list_configured": self.settings.c2pa_trust_anchors is not None,
            **facts,
        }
        signer = facts.get("signer") or "an unknown signer"
        who = f"signed by {signer}" + (
            f" on {facts['signing_time']}" if facts.get("signing_time") else ""
        )
        mismatch = sorted(set(failures) & HASH_MISMATCH)
        if result.state == "Invalid" or failures:
            if mismatch:
                return self.ok(
                    score=0.92,
                    weight=0.8,
                    summary=f"Content Credentials ({who}) no longer match the file "
                    f"({', '.join(mismatch)}): the content changed after it was signed.",
                    evidence=evidence,
                    evidence_kind=EvidenceKind.MANIPULATION,
                )
            return self.ok(
                score=0.85,
                weight=0.6,
                summary=f"Content Credentials ({who}) fail validation ({', '.join(failures)}): "
                "the manifest or its signature was altered or is broken.",
                evidence=evidence,
                evidence_kind=EvidenceKind.MANIPULATION,
            )
        trusted = result.state == "Trusted"
        trust_text = (
            "the signer is on the configured trust list"
            if trusted
            else "the signer's certificate is not on a trust list, so who signed is not vouched for"
        )
        ai = [s for s in AI_SOURCES if s in facts["digital_source_types_in_history"]]
        if ai:
            return self.ok(
                score=0.97 if trusted else 0.95,
                weight=0.95 if trusted else 0.9,
                summary=f"Valid Content Credentials ({who}) declare AI generation "
                f"(digitalSourceType {', '.join(ai)}); {trust_text}.",
                evidence=evidence,
                evidence_kind=EvidenceKind.SYNTHESIS,
            )
        if "algorithmicMedia" in facts["digital_source_types_in_history"]:
            return self.ok(
                score=0.75,
                weight=0.4,
                summary=f"Valid Content Credentials ({who}) declare the image was made by an "
                "algorithm (digitalSourceType algorithmicMedia, not a trained model); "
                f"{trust_text}.",
                evidence=evidence,
                evidence_kind=EvidenceKind.SYNTHESIS,
            )
        edits = sorted({a["action"] for a in facts["actions"] if a["action"] in CONTENT_EDITS})
        if edits:
            return self.ok(
                score=0.65,
                weight=0.3,
                summary=f"Valid Content Credentials ({who}) disclose edits to the content "
                f"({', '.join(edits)}); {trust_text}.",
                evidence=evidence,
                evidence_kind=EvidenceKind.MANIPULATION,
            )
        captured = [s for s in CAPTURE_SOURCES if s in facts["digital_source_types"]]
        if captured:
            return self.ok(
                score=0.05 if trusted else 0.15,
                weight=0.9 if trusted else 0.5,
                summary=f"Valid Content Credentials ({who}) record a capture by a device "
                f"({captured[0]}) with no content edits; {trust_text}.",
                evidence=evidence,
                evidence_kind=EvidenceKind.MANIPULATION,
            )
        return self.ok(
            score=0.4,
            weight=0.2,
            summary=f"Valid Content Credentials ({who}) with no content edits and no AI "
            f"declaration; {trust_text}.",
            evidence=evidence,
            evidence_kind=EvidenceKind.MANIPULATION,
        )

    def _no_manifest(self, result: ManifestResult) -> Finding:
        evidence = {"manifest_present": False, "reader_message": result.error}
        category = result.error_category
        if category == "ManifestNotFound":
            return self.informational(
                summary="No Content Credentials (C2PA). Almost no images carry them yet, and "
                "platforms strip them, so their absence says nothing.",
                evidence=evidence,
            )
        if category == "Remote" or result.remote_url:
            evidence.update(manifest_present=True, remote_url=result.remote_url)
            return self.informational(
                summary="The file points to Content Credentials stored on a server "
                f"({result.remote_url}); they are not fetched, so they cannot be verified offline.",
                evidence=evidence,
            )
        if category == "NotSupported":
            return self.skip("The C2PA library does not support this file type.", evidence)
        if "could not be parsed" in (result.error or ""):
            return self.skip(
                f"The C2PA library refused to parse this file ({result.error}).", evidence
            )
        evidence["manifest_present"] = True
        return self.informational(
            summary=f"Content Credentials are present but cannot be read or validated "
            f"({result.error}); they neither support nor contradict the content.",
            evidence=evidence,
        )
