"""JPEG structure: quantisation tables, estimated quality, likely encoder, marker anomalies.

Every JPEG encoder picks quantisation tables. The IJG libjpeg family (libjpeg, libjpeg-turbo:
Pillow, GIMP, ImageMagick, most web platforms and many phones) scales the two tables of the
JPEG standard (Annex K) by a quality factor, so a file whose tables are exactly those at some
quality was last saved by such a library, at that quality. Camera firmware and Adobe's encoders
use their own tables. The markers tell more: Adobe software writes an ``APP14 Adobe`` segment
and a ``Photoshop 3.0`` (APP13) resource block; libjpeg writes ``JFIF`` (APP0); cameras write
``Exif`` (APP1) first and often ``MPF`` (APP2) previews.

Tables that are not IJG tables are looked up in ``encoders.json``, a catalogue of other
encoders' table sets (Photoshop's quality levels, Save for Web, Lightroom, twelve cameras...)
read from public fixture files whose origin the file records (scripts/jpeg_encoder_catalogue.py);
Photoshop's, Save for Web's and Facebook's own save records are read from their segments.

What counts: a file whose EXIF names a camera (and no editing software) but whose tables are a
catalogued editor's was re-saved by it (moderate-weak); a camera make that contradicts the
catalogued camera whose tables the file has is weak evidence of transplanted EXIF. A file
whose EXIF names a camera (and no editing software) but whose markers show
it was last written by other software (a JFIF segment before the EXIF one, as libjpeg-based
tools write, or Adobe's segments) was re-saved after capture (weak: the re-save may be an
export or a platform's recompression). The tables alone do not tell: many older cameras use
the standard IJG tables themselves (measured on the exif-samples corpus). Structural anomalies
(a second SOI before the image data, several frames, no end marker) are reported as facts.
Data after the end marker is ``file_facts``' finding and is not scored again here. Double
compression on the same grid shows as periodic gaps or peaks in the histograms of the quantised
DCT coefficients (see :func:`double_quantization`): evidence that the image was saved as JPEG
before, at another quality (weak: most shared photos are).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from detectors.signatures import editor_in
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

STD_LUMA = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
STD_CHROMA = (
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip
_SOF_NAMES = {
    0xC0: "baseline", 0xC1: "extended sequential", 0xC2: "progressive", 0xC3: "lossless",
    0xC9: "arithmetic sequential", 0xCA: "arithmetic progressive",
}  # fmt: skip


def ijg_table(std: tuple[int, ...], quality: int) -> list[int]:
    """libjpeg's ``jpeg_quality_scaling`` applied to a standard table (baseline: max 255)."""
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return [min(255, max(1, (v * scale + 50) // 100)) for v in std]


_IJG = {q: (ijg_table(STD_LUMA, q), ijg_table(STD_CHROMA, q)) for q in range(1, 101)}


def estimate_quality(tables: dict[int, list[int]]) -> dict[str, Any]:
    """Exact IJG match if any, else the closest IJG quality by mean absolute difference."""
    luma = list(tables.get(0, []))
    chroma = list(tables.get(1, [])) if 1 in tables else None
    if len(luma) != 64:
        return {}
    best_q, best_err = 0, float("inf")
    for q, (lt, ct) in _IJG.items():
        err = sum(abs(a - b) for a, b in zip(luma, lt, strict=True))
        if chroma is not None and len(chroma) == 64:
            err += sum(abs(a - b) for a, b in zip(chroma, ct, strict=True))
        if err < best_err:
            best_q, best_err = q, err
    n = 128 if chroma is not None else 64
    return {
        "ijg_exact": best_err == 0,
        "quality_estimate": best_q,
        "mean_abs_difference_from_ijg": round(best_err / n, 3),
        "luma_dc": luma[0],
        "luma_mean": round(sum(luma) / 64, 2),
    }


CATALOGUE = Path(__file__).with_name("encoders.json")
#: A table set within this mean absolute difference of a catalogued one (and no entry more
#: than 2 apart) is reported as a near match. Catalogued tables differ from each other by at
#: least 0.63 on average and some cameras' from the IJG tables by 0.2 (measured on the
#: catalogue itself), so the tolerance stays well below both.
NEAR_MEAN, NEAR_MAX = 0.1, 2


def table_hash(tables: list[list[int]]) -> str:
    """Fingerprint of a table set: SHA-256 (16 hex digits) of the slot-ordered tables."""
    return hashlib.sha256(json.dumps(tables, separators=(",", ":")).encode()).hexdigest()[:16]


@functools.cache
def load_catalogue() -> dict[str, Any]:
    """Known encoders' tables (``encoders.json``, from scripts/jpeg_encoder_catalogue.py)."""
    doc = json.loads(CATALOGUE.read_text())
    doc["by_hash"] = {e["hash"]: e for e in doc["encoders"]}
    return doc


def match_encoder(tables: dict[int, list[int]]) -> dict[str, Any] | None:
    """The catalogued encoder whose tables equal these (by hash), or are within tolerance."""
    slots = [list(tables[k]) for k in sorted(tables)]
    if not slots or any(len(t) != 64 for t in slots):
        return None
    cat = load_catalogue()
    entry = cat["by_hash"].get(table_hash(slots))
    mean = max_diff = 0.0
    if entry is None:
        best = None
        for e in cat["encoders"]:
            if len(e["tables"]) != len(slots):
                continue
            diffs = [abs(a - b) for t, u in zip(slots, e["tables"], strict=True)
                     for a, b in zip(t, u, strict=True)]  # fmt: skip
            m = sum(diffs) / len(diffs)
            if best is None or m < best[0]:
                best = (m, max(diffs), e)
        if best is None or best[0] > NEAR_MEAN or best[1] > NEAR_MAX:
            return None
        mean, max_diff, entry = best
    return {
        "encoder": entry["encoder"],
        "setting": entry["setting"],
        "kind": entry["kind"],
        "make": entry["make"],
        "match": "exact" if mean == 0 else "near",
        "mean_abs_difference": round(mean, 3),
        "max_abs_difference": int(max_diff),
        "catalogue_hash": entry["hash"],
        "sources": entry["sources"],
    }


def _segments(data: bytes):
    """(marker, body) of each header segment before the first scan."""
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD9, 0xDA) or marker == 0xD8:
            return
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        yield marker, data[i + 4 : i + 2 + length]
        i += 2 + length


def save_records(data: bytes) -> dict[str, Any]:
    """What encoders record about their own save: Photoshop's quality, Save for Web's, Facebook.

    Photoshop writes its JPEG quality (0-12) in image resource 0x0406 of its APP13 block as a
    signed 16-bit value minus 4; Save for Web writes an APP12 ``Ducky`` segment whose tag 1 is
    the quality (0-100); Facebook's pipeline writes an IPTC Special Instructions (2:40) value
    starting ``FBMD``. All three are read from the file; the fixtures show each (see the
    README).
    """
    out: dict[str, Any] = {}
    for marker, body in _segments(data):
        if marker == 0xED and body.startswith(b"Photoshop 3.0\x00"):
            for rid, res in _photoshop_resources(body[14:]):
                if rid == 0x0406 and len(res) >= 2:
                    out["photoshop_quality"] = struct.unpack(">h", res[:2])[0] + 4
                elif rid == 0x0404 and b"\x1c\x02\x28" in res:
                    k = res.find(b"\x1c\x02\x28")
                    if res[k + 5 : k + 9] == b"FBMD":
                        out["facebook_fbmd"] = True
        elif marker == 0xEC and body.startswith(b"Ducky") and len(body) >= 13:
            tag, size = struct.unpack(">HH", body[5:9])
            if tag == 1 and size == 4:
                out["save_for_web_quality"] = struct.unpack(">I", body[9:13])[0]
    return out


def _photoshop_resources(body: bytes):
    j, count = 0, 0
    while j + 12 <= len(body) and body[j : j + 4] == b"8BIM" and count < 1000:
        count += 1
        rid = struct.unpack(">H", body[j + 4 : j + 6])[0]
        k = j + 6 + 1 + body[j + 6]
        k += (k - j) % 2
        if k + 4 > len(body):
            return
        (size,) = struct.unpack(">I", body[k : k + 4])
        yield rid, body[k + 4 : k + 4 + size]
        j = k + 4 + size + size % 2


from detectors.file_facts.detector import NEXT_MARKER  # noqa: E402 - shared marker scan

#: Most segments / anomalies listed in evidence (the totals are always given).
MAX_LISTED = 100
#: Cameras write a few dozen markers; past this many the walk stops (a crafted file, not a photo).
MAX_WALKED = 10_000


def walk_markers(data: bytes) -> dict[str, Any]:
    """The header's marker segments up to the first scan, and what follows to the end."""
    out: dict[str, Any] = {
        "segments": [],
        "anomalies": [],
        "segments_total": 0,
        "anomalies_total": 0,
    }
    i, n = 2, len(data)
    scans = frames = 0
    end = None
    steps = 0
    while i + 2 <= n:
        steps += 1
        if steps > MAX_WALKED:
            _note(out, "anomalies", f"stopped after {MAX_WALKED:,} markers (offset {i})")
            break
        if data[i] != 0xFF:
            _note(out, "anomalies", f"expected a marker at offset {i}")
            break
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0xD9:
            end = i + 2
            break
        if marker == 0xD8:
            _note(out, "anomalies", f"a second start-of-image marker at offset {i}")
            i += 2
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            break
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        body = data[i + 4 : i + 2 + length]
        if 0xE0 <= marker <= 0xEF:
            ident = body[:14].split(b"\x00", 1)[0].decode("latin-1", "replace")[:20]
            _note(out, "segments", f"APP{marker - 0xE0}:{ident}")
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            frames += 1
            out["coding"] = _SOF_NAMES.get(marker, f"SOF{marker - 0xC0}")
            if len(body) >= 6:
                comps = body[5]
                out["components"] = comps
                sampling = [body[6 + 3 * c + 1] for c in range(comps) if 6 + 3 * c + 1 < len(body)]
                if sampling:
                    out["subsampling"] = _subsampling(sampling)
        elif marker == 0xDA:
            scans += 1
        elif marker == 0xDD:
            out["restart_interval"] = True
        elif marker == 0xFE:
            _note(out, "segments", "COM")
        i += 2 + length
        if marker == 0xDA:  # skip entropy-coded data to the next real marker, at C speed
            found = NEXT_MARKER.search(data, i)
            i = n if found is None else found.start()
    out["frames"] = frames
    out["scans"] = scans
    out["end_marker_found"] = end is not None
    if frames > 1:
        _note(out, "anomalies", f"{frames} frame headers (SOF) in one image")
    return out


def _note(out: dict[str, Any], key: str, text: str) -> None:
    """Append to a bounded list: a crafted file can hold millions of tiny segments, and the
    report (and its database row) must stay small. The total is always counted."""
    out[f"{key}_total"] = out.get(f"{key}_total", 0) + 1
    if len(out[key]) < MAX_LISTED:
        out[key].append(text)


def _subsampling(sampling: list[int]) -> str:
    h0, v0 = sampling[0] >> 4, sampling[0] & 15
    if len(sampling) < 3:
        return "grayscale"
    if (h0, v0) == (1, 1):
        return "4:4:4"
    if (h0, v0) == (2, 1):
        return "4:2:2"
    if (h0, v0) == (2, 2):
        return "4:2:0"
    return f"{h0}x{v0}"


def _dct_matrix() -> np.ndarray:
    k, i = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    m = np.sqrt(2 / 8) * np.cos(np.pi * (2 * i + 1) * k / 16)
    m[0] /= np.sqrt(2)
    return m


_DCT = _dct_matrix()
#: The first 15 AC frequencies in zig-zag order (row = vertical frequency).
_LOW_AC = ((0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0),
           (3, 1), (2, 2), (1, 3), (0, 4), (0, 5))  # fmt: skip
#: Set with bench/jpeg_double_compression.py: on 200 photos compressed once, 1 (0.5%) exceeds
#: it (99th percentile 0.284); none of the 59 camera JPEGs of fixtures/exif-samples does (max
#: 0.268). Compressed twice, 91% are detected when the first save was at a lower quality than
#: the last, 8% when at a higher one, none at the same quality (AUC 0.90 overall).
DQ_THRESHOLD = 0.32


def double_quantization(
    data: bytes, max_side: int = 1024, pixels: Image.Image | None = None
) -> dict[str, Any] | None:
    """How much the histograms of low-frequency DCT coefficients zig-zag (double quantisation).

    A JPEG compressed once has smooth, Laplacian-like histograms of each quantised DCT
    coefficient. Compressed twice on the same 8x8 grid with different steps, the histograms
    get periodic empty bins or peaks (Popescu and Farid, "Statistical tools for digital
    forensics", 2004). The coefficients are recomputed from the decoded luminance (decoded
    straight to YCbCr, no colour conversion) over a central crop of at most
    ``max_side`` x ``max_side``, divided by the file's steps and rounded. The statistic is the
    median, over the first 15 AC frequencies with enough samples, of the mean absolute
    difference between log(histogram) and its 3-bin moving average. Blind to a second save at
    the same quality, and to crops that moved the grid.
    """
    img = Image.open(io.BytesIO(data))
    tables = getattr(img, "quantization", None) or {}
    if 0 not in tables or img.mode not in ("L", "RGB", "YCbCr"):
        return None
    q = np.asarray(list(tables[0]), dtype=np.float64).reshape(8, 8)
    w, h = img.size
    h8, w8 = min(h, max_side) // 8 * 8, min(w, max_side) // 8 * 8
    if h8 < 64 or w8 < 64:
        return None
    y0, x0 = (h - h8) // 16 * 8, (w - w8) // 16 * 8
    box = (x0, y0, x0 + w8, y0 + h8)
    if pixels is not None and pixels.size == img.size and img.mode != "L":
        # Already decoded (in stored orientation): the crop's luma, back from RGB. That differs
        # from the decoder's own Y by rounding only (+-1), far below the quantisation steps.
        y = np.asarray(pixels.crop(box).convert("YCbCr"))[..., 0]
    else:
        if img.mode != "L":
            img.draft("YCbCr", img.size)
        img.load()
        y = np.asarray(img.crop(box))
        if y.ndim == 3:
            y = y[..., 0]
    crop = y.astype(np.float64) - 128
    blocks = crop.reshape(h8 // 8, 8, w8 // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    coef = _DCT @ blocks @ _DCT.T
    roughness = []
    for u, v in _LOW_AC:
        k = np.abs(np.rint(coef[:, u, v] / q[u, v])).astype(np.int64)
        hist = np.bincount(k, minlength=42)[1:41].astype(np.float64)
        if hist.sum() < 300 or np.count_nonzero(hist >= 3) < 3:
            continue
        top = int(np.nonzero(hist >= 3)[0].max()) + 1
        logh = np.log(hist[: max(6, top)] + 1)
        smooth = np.convolve(np.pad(logh, 1, mode="edge"), np.ones(3) / 3, mode="valid")
        roughness.append(float(np.mean(np.abs(logh - smooth)[1:-1])))
    if not roughness:
        return None
    value = float(np.median(roughness))
    return {
        "histogram_roughness": round(value, 4),
        "frequencies_used": len(roughness),
        "threshold": DQ_THRESHOLD,
        "double_compression_traces": value > DQ_THRESHOLD,
    }


def last_saved_by(
    q: dict[str, Any], segments: list[str], known: dict[str, Any] | None, records: dict[str, Any]
) -> str | None:
    """Who wrote the tables: the IJG family, a catalogued encoder, or Adobe by its markers."""
    apps = {s.split(":", 1)[1] for s in segments if ":" in s}
    if q.get("ijg_exact"):
        who = (
            f"an IJG libjpeg-family encoder at quality {q['quality_estimate']} (libjpeg/"
            "libjpeg-turbo: Pillow, GIMP, ImageMagick, most web platforms, many phones)"
        )
        if records.get("facebook_fbmd"):
            who += "; the IPTC 'FBMD' marker shows Facebook's pipeline re-encoded it"
        return who
    if known:
        near = (
            ""
            if known["match"] == "exact"
            else (f" (near match: tables differ by {known['mean_abs_difference']} on average)")
        )
        setting = "" if known["kind"] == "camera" else f", {known['setting']}"
        what = "the camera " if known["kind"] == "camera" else ""
        return f"{what}{known['encoder']}{setting}{near}"
    if "Adobe" in apps and "Photoshop 3.0" in apps:
        return "Adobe software (APP14 Adobe and a Photoshop resource block)"
    if "Adobe" in apps:
        return "an encoder that writes an APP14 Adobe segment (Adobe software, some others)"
    return None


def _same_make(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return bool(a) and bool(b) and (a in b or b in a or a.split()[0] == b.split()[0])


class JpegStructure(Detector):
    name = "jpeg_structure"
    version = "1.1.0"
    description = (
        "JPEG quantisation tables (estimated quality, last saved by: libjpeg, a catalogue of "
        "Photoshop/Lightroom/camera tables, Facebook's marker), markers and "
        "structural anomalies."
    )

    @classmethod
    def get_examples(cls) -> list[Example]:
        import io

        from PIL import Image

        img = Image.new("RGB", (64, 48), (100, 150, 200))
        plain, camera = io.BytesIO(), io.BytesIO()
        img.save(plain, "JPEG", quality=75)
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "Acme", "One"
        img.save(camera, "JPEG", quality=80, exif=exif.tobytes())
        ps = next(e for e in load_catalogue()["encoders"] if e["encoder"] == "Adobe Photoshop")
        resaved = io.BytesIO()
        img.save(resaved, "JPEG", qtables=ps["tables"], subsampling=0, exif=exif.tobytes())
        return [
            Example("libjpeg q75", plain.getvalue(), Status.OK),
            Example("camera EXIF, libjpeg tables", camera.getvalue(), Status.OK, 0.55, 0.7),
            Example("camera EXIF, Photoshop's tables", resaved.getvalue(), Status.OK, 0.6, 0.7),
        ]

    def analyze(self, media: Media) -> Finding:
        if media.format.name != "jpeg":
            return self.skip(f"Applies to JPEG only; this is {media.format.name.upper()}.")
        img = media.open_image()
        tables = {k: list(v) for k, v in (getattr(img, "quantization", None) or {}).items()}
        structure = walk_markers(media.data)
        quality = estimate_quality(tables)
        evidence: dict[str, Any] = {
            **structure,
            **quality,
            "quantization_tables": len(tables),
            "luma_table": tables.get(0),
        }
        known = None if quality.get("ijg_exact") else match_encoder(tables)
        records = save_records(media.data)
        saver = last_saved_by(quality, structure["segments"], known, records)
        if saver:
            evidence["last_saved_by"] = saver
        if known:
            evidence["encoder_match"] = known
        if records:
            evidence["save_records"] = records
        try:
            exif = img.getexif()
            make, software = str(exif.get(0x010F) or "").strip(), str(exif.get(0x0131) or "")
        except Exception:  # noqa: BLE001 - the exif detector reports malformed EXIF
            make, software = "", ""
        facts = [f"{structure.get('coding', 'unknown')} JPEG"]
        if quality:
            facts.append(
                f"quality {'' if quality['ijg_exact'] else '~'}{quality['quality_estimate']}"
            )
        if saver:
            facts.append(f"last saved by {saver}")
        head = ", ".join(facts)
        try:
            # Reuse the shared full-resolution decode when it is in stored orientation.
            upright = media.orientation in (None, 1) and media.pixels_decoded
            dq = double_quantization(media.data, pixels=media.pixels if upright else None)
        except (OSError, ValueError, SyntaxError) as exc:  # a broken scan: reported, not raised
            dq = {"error": str(exc)[:200]}
        if dq:
            evidence["double_quantization"] = dq
        if dq and dq.get("double_compression_traces"):
            head += (
                f"; double-compression traces in the DCT histograms (roughness "
                f"{dq['histogram_roughness']:.2f} > {DQ_THRESHOLD}: compressed before this save, "
                "at another quality)"
            )
        anomalies = structure["anomalies"]
        if anomalies:
            evidence["anomalies"] = anomalies
            return self.ok(
                score=0.6,
                weight=0.1,
                summary=f"{head}. Structural anomalies: {'; '.join(anomalies)}.",
                evidence=evidence,
            )
        segments = structure["segments"]
        ps_quality = records.get("photoshop_quality")
        if ps_quality is not None and (
            quality.get("ijg_exact") or (known and "Adobe" not in known["encoder"])
        ):
            evidence["photoshop_record_mismatch"] = (
                f"Photoshop recorded a save at its quality {ps_quality}, but the tables are "
                "another encoder's: re-encoded after Photoshop saved it"
            )
            head += f"; {evidence['photoshop_record_mismatch']}"
        if make and known and known["kind"] == "editor" and not editor_in(software):
            evidence["camera_exif_but_resaved"] = True
            return self.ok(
                score=0.65,
                weight=0.2,
                summary=f"{head}. The EXIF names a camera ({make}) and no editing software, "
                f"but the quantisation tables are those of {known['encoder']}: the file was "
                "re-saved by that software after capture, and its metadata kept (an export is "
                "enough).",
                evidence=evidence,
            )
        if make and known and known["kind"] == "camera" and known["match"] == "exact":
            consistent = _same_make(make, known["make"] or "")
            evidence["tables_match_exif_make"] = consistent
            if not consistent:
                return self.ok(
                    score=0.62,
                    weight=0.15,
                    summary=f"{head}. The EXIF names a {make} camera, but the quantisation "
                    f"tables are those of a {known['encoder']}: the EXIF was copied from "
                    "another file, or the makers share an encoder (some cameras are made by "
                    "another brand's supplier).",
                    evidence=evidence,
                )
        resaved = segments[:1] == ["APP0:JFIF"] and "APP1:Exif" in segments
        if make and not software and (resaved or "Adobe" in (saver or "")):
            evidence["camera_exif_but_resaved"] = True
            return self.ok(
                score=0.6,
                weight=0.15,
                summary=f"{head}. The EXIF names a camera ({make}) but the file's "
                "markers show it was last written by other software (cameras write their EXIF "
                "segment first; libjpeg-based tools put JFIF first): re-saved after capture "
                "(an export or a platform's recompression is enough).",
                evidence=evidence,
            )
        if dq and dq.get("double_compression_traces"):
            return self.ok(
                score=0.62,
                weight=0.15,
                summary=f"{head}. Common for shared photos; weak evidence on its own.",
                evidence=evidence,
            )
        return self.informational(summary=head + ".", evidence=evidence)
