"""EXIF forensics: camera, dates and whether they agree, GPS, software, maker notes, thumbnail.

Cameras write EXIF at capture; editors rewrite parts of it when they save. The signals, each
weighed as what it is (metadata is easy to strip and to forge):

- an **embedded thumbnail that shows something else** than the main image: cameras write the
  thumbnail at capture and many editors do not regenerate it, so a thumbnail with different
  content, or a wider frame (a crop), is strong evidence of editing after capture; the same
  holds for the larger previews of MPF (JPEG) and HEIF files;
- ``Software`` naming an image editor (moderate) or an AI generator (strong, synthesis);
- dates that disagree: ``DateTime`` (last modified) later than ``DateTimeOriginal``, a GPS
  time that no time-zone offset explains (weak);
- a camera make whose cameras write maker notes, without maker notes (weak: many tools drop
  them when re-saving);
- no EXIF at all (weak: platforms strip it on upload).

GPS coordinates are reported unless ``VERIFIER_REDACT_GPS`` is set, in which case only the
presence of a position is.
"""

from __future__ import annotations

import io
import logging
import math
from datetime import datetime, timedelta
from typing import Any

import exifread
import numpy as np
from PIL import Image, ImageFilter, ImageOps

from detectors.signatures import editor_in, generator_in
from verifier.detector import Detector, Example
from verifier.media import MAX_EMBEDDED_PIXELS, Media
from verifier.report import EvidenceKind, Finding, Status

# exifread logs every odd tag at WARNING; those are evidence here, not operational problems.
logging.getLogger("exifread").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

_FORMATS = ("jpeg", "tiff", "heif", "webp", "png")
_FIELDS = {
    "make": "Image Make",
    "model": "Image Model",
    "software": "Image Software",
    "lens_make": "EXIF LensMake",
    "lens_model": "EXIF LensModel",
    "artist": "Image Artist",
    "copyright": "Image Copyright",
    "host_computer": "Image HostComputer",
    "body_serial": "EXIF BodySerialNumber",
}
_DATES = {
    "datetime_original": ("EXIF DateTimeOriginal", "EXIF OffsetTimeOriginal"),
    "datetime_digitized": ("EXIF DateTimeDigitized", "EXIF OffsetTimeDigitized"),
    "datetime_modified": ("Image DateTime", "EXIF OffsetTime"),
}
#: Makes whose cameras and phones write a MakerNote; its absence suggests a re-save by a tool
#: that drops it.
_MAKERNOTE_MAKES = (
    "canon", "nikon", "sony", "olympus", "om digital", "fujifilm", "panasonic", "pentax", "ricoh",
    "apple", "samsung", "leica", "casio", "minolta", "sigma", "google", "huawei", "xiaomi",
)  # fmt: skip
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Thresholds for the thumbnail comparison, set on the exif-samples camera files (all agree,
#: the lowest correlation there is reported in the README) and on made edits (see the tests).
THUMB_ASPECT_TOLERANCE = 0.06  # |log(aspect ratio)| a thumbnail may differ by (rounding, bars)
THUMB_MIN_CORRELATION = 0.5  # below this the thumbnail shows different content
THUMB_BLOCK_DIFF = 1.6  # a 4x4 block whose normalised mean difference exceeds this changed


def read_tags(data: bytes) -> dict[str, Any]:
    """exifread's tags (maker notes not decoded: slow on some files and not needed here)."""
    return exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=True)


def _text(tag: Any) -> str | None:
    if tag is None:
        return None
    text = str(tag).strip().strip("\x00").strip()
    return text or None


def _ratio(v: Any) -> float:
    return float(v.num) / float(v.den) if hasattr(v, "num") else float(v)


def _parse_date(text: str | None, offset: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if offset:
        try:
            dt = dt.replace(tzinfo=datetime.strptime(offset.strip(), "%z").tzinfo)
        except ValueError:
            pass
    return dt


def gps_position(tags: dict[str, Any]) -> dict[str, Any] | None:
    """Decimal latitude/longitude (WGS-84 as written), altitude and the GPS UTC time."""
    lat, lon = tags.get("GPS GPSLatitude"), tags.get("GPS GPSLongitude")
    out: dict[str, Any] = {}
    try:
        if lat is not None and lon is not None and len(lat.values) == 3 and len(lon.values) == 3:
            la = sum(_ratio(v) / 60**i for i, v in enumerate(lat.values))
            lo = sum(_ratio(v) / 60**i for i, v in enumerate(lon.values))
            if _text(tags.get("GPS GPSLatitudeRef")) == "S":
                la = -la
            if _text(tags.get("GPS GPSLongitudeRef")) == "W":
                lo = -lo
            if math.isfinite(la) and math.isfinite(lo):
                out.update(latitude=round(la, 7), longitude=round(lo, 7))
        alt = tags.get("GPS GPSAltitude")
        if alt is not None and alt.values:
            sign = -1 if str(tags.get("GPS GPSAltitudeRef", "0")).strip() == "1" else 1
            out["altitude_m"] = round(sign * _ratio(alt.values[0]), 2)
    except (ZeroDivisionError, TypeError, ValueError, AttributeError):
        pass
    when = gps_time(tags)
    if when is not None:
        out["time_utc"] = when.isoformat()
    return out or None


def gps_time(tags: dict[str, Any]) -> datetime | None:
    date, stamp = _text(tags.get("GPS GPSDate")), tags.get("GPS GPSTimeStamp")
    if not date or stamp is None:
        return None
    try:
        h, m, s = (_ratio(v) for v in stamp.values[:3])
        day = datetime.strptime(date[:10], "%Y:%m:%d")
        return day + timedelta(hours=h, minutes=m, seconds=s)
    except (ValueError, TypeError, ZeroDivisionError, AttributeError, OverflowError):
        return None


def date_checks(dates: dict[str, datetime | None], gps: datetime | None) -> dict[str, Any]:
    """Whether capture, digitised, modified and GPS times agree, with the differences."""
    out: dict[str, Any] = {}
    original, digitized, modified = (
        dates.get("datetime_original"),
        dates.get("datetime_digitized"),
        dates.get("datetime_modified"),
    )

    def seconds(a: datetime, b: datetime) -> float:
        if (a.tzinfo is None) != (b.tzinfo is None):
            a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
        return (a - b).total_seconds()

    if original and digitized:
        out["digitized_minus_original_s"] = seconds(digitized, original)
    if original and modified:
        out["modified_minus_original_s"] = seconds(modified, original)
    if original and gps:
        if original.tzinfo is not None:
            diff = (original.replace(tzinfo=None) - original.utcoffset()) - gps  # type: ignore[operator]
            out["gps_minus_original_utc_s"] = -diff.total_seconds()
            out["gps_agrees"] = abs(diff.total_seconds()) <= 120
        else:
            # Without a time-zone offset, local time and GPS (UTC) differ by the zone's offset:
            # a multiple of 15 minutes up to 14 hours.
            diff = (original - gps).total_seconds()
            residual = abs(diff) % 900
            out["implied_utc_offset_h"] = round(diff / 3600, 2)
            out["gps_agrees"] = abs(diff) <= 14 * 3600 and min(residual, 900 - residual) <= 120
    return out


def _gray(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    small = img.convert("L").resize(size, Image.Resampling.BOX).filter(ImageFilter.BoxBlur(1))
    arr = np.asarray(small, dtype=np.float64)
    return (arr - arr.mean()) / (arr.std() + 1e-6)


def _trim_bars(img: Image.Image) -> Image.Image:
    """Remove black letterbox bars cameras add to fit a 3:2 frame in a 4:3 (160x120) thumb."""
    arr = np.asarray(img.convert("L"), dtype=np.float64)
    rows = np.where(arr.mean(axis=1) > 12)[0]
    cols = np.where(arr.mean(axis=0) > 12)[0]
    if len(rows) < 4 or len(cols) < 4:
        return img
    return img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def _center_crop(img: Image.Image, aspect: float) -> Image.Image:
    if img.width / img.height > aspect:
        w = max(1, round(img.height * aspect))
        x = (img.width - w) // 2
        return img.crop((x, 0, x + w, img.height))
    h = max(1, round(img.width / aspect))
    y = (img.height - h) // 2
    return img.crop((0, y, img.width, y + h))


def compare_thumbnail(
    thumb: Image.Image, main: Image.Image, orientation: int | None
) -> dict[str, Any]:
    """Aspect ratios, correlation and the most-changed block between thumbnail and image.

    When the frames differ, the thumbnail is centre-cropped to the image's frame before the
    content is compared, so a crop (or a camera that stores a 4:3 thumbnail of a 3:2 photo)
    is told apart from a thumbnail of something else.
    """
    if orientation in _TRANSPOSE:
        thumb = thumb.transpose(_TRANSPOSE[orientation])
    thumb = _trim_bars(thumb.convert("RGB"))
    t_aspect, m_aspect = thumb.width / thumb.height, main.width / main.height
    aspect_diff = abs(math.log(t_aspect / m_aspect))
    if aspect_diff > THUMB_ASPECT_TOLERANCE:
        thumb = _center_crop(thumb, m_aspect)
    size = (32, 32)
    a, b = _gray(thumb, size), _gray(main, size)
    corr = float((a * b).mean())
    blocks = np.abs(a - b).reshape(4, 8, 4, 8).mean(axis=(1, 3))
    return {
        "thumbnail_size": [thumb.width, thumb.height],
        "thumbnail_aspect": round(t_aspect, 4),
        "image_aspect": round(m_aspect, 4),
        "aspect_log_difference": round(aspect_diff, 4),
        "correlation": round(corr, 4),
        "max_block_difference": round(float(blocks.max()), 4),
    }


class Exif(Detector):
    name = "exif"
    version = "1.1.0"
    description = (
        "EXIF: camera, lens, dates and whether they agree, GPS, Software, maker notes, and the "
        "embedded thumbnail compared with the image."
    )

    @classmethod
    def get_examples(cls) -> list[Example]:
        scene = Image.new("RGB", (160, 120), (70, 120, 170))
        scene.paste((200, 60, 40), (20, 20, 80, 100))
        other = Image.new("RGB", (160, 120), (200, 200, 60))
        other.paste((20, 20, 20), (90, 10, 150, 60))
        return [
            Example("no EXIF", make_jpeg(scene), Status.OK, 0.5, 0.6),
            Example("camera", make_jpeg(scene, make="Acme", model="One"), Status.OK, None, 0.45),
            Example("GIMP", make_jpeg(scene, make="Acme", software="GIMP 2.10"), Status.OK, 0.65),
            Example("thumbnail matches", make_jpeg(scene, make="Acme", thumbnail=scene), Status.OK,
                    None, 0.45),
            Example("thumbnail of another scene", make_jpeg(scene, make="Acme", thumbnail=other),
                    Status.OK, 0.8),
        ]  # fmt: skip

    def analyze(self, media: Media) -> Finding:
        if media.format.name not in _FORMATS:
            return self.skip(f"{media.format.name.upper()} files do not carry EXIF metadata.")
        tags = read_tags(media.data)
        thumb_bytes = tags.pop("JPEGThumbnail", None)
        tags.pop("TIFFThumbnail", None)
        evidence: dict[str, Any] = {"exif_present": bool(tags), "tag_count": len(tags)}
        for key, tag in _FIELDS.items():
            value = _text(tags.get(tag))
            if value:
                evidence[key] = value
        if not tags:
            return self.ok(
                score=0.55,
                weight=0.05,
                summary="No EXIF metadata. Common for images from social media, messaging apps, "
                "screenshots and generators, so only weak evidence on its own.",
                evidence=evidence,
            )
        signals: list[tuple[float, float, str, EvidenceKind]] = []
        m, s = EvidenceKind.MANIPULATION, EvidenceKind.SYNTHESIS

        # Dates
        dates = {
            key: _parse_date(_text(tags.get(tag)), _text(tags.get(off)))
            for key, (tag, off) in _DATES.items()
        }
        for key, (tag, off) in _DATES.items():
            if _text(tags.get(tag)):
                evidence[key] = _text(tags.get(tag))
            if _text(tags.get(off)):
                evidence[key.replace("datetime", "offset")] = _text(tags.get(off))
        gps = gps_position(tags)
        checks = date_checks(dates, gps_time(tags))
        if checks:
            evidence["date_checks"] = checks
        later = checks.get("modified_minus_original_s")
        if later is not None and later > 60:
            signals.append((0.6, 0.15, f"DateTime (last modified, {evidence['datetime_modified']})"
                            f" is {_duration(later)} after the capture time", m))  # fmt: skip
        elif later is not None and later < -60:
            signals.append((0.6, 0.1, "DateTime (last modified) is before the capture time", m))
        if checks.get("gps_agrees") is False:
            signals.append((0.6, 0.1, "the GPS time disagrees with the capture time", m))

        # GPS
        evidence["gps_present"] = any(k.startswith("GPS ") for k in tags)
        if gps:
            if self.settings.redact_gps:
                evidence["gps"] = "redacted (VERIFIER_REDACT_GPS)"
            else:
                evidence["gps"] = gps

        # Software
        software = evidence.get("software")
        generator = generator_in(software) or generator_in(evidence.get("make"))
        if generator:
            signals.append((0.9, 0.7, f"EXIF names an AI generator ({generator})", s))
        elif editor_in(software):
            signals.append((0.7, 0.3, f"the Software tag names an image editor ({software})", m))

        # Maker notes
        maker_note = _maker_note_size(media)
        evidence["maker_note_bytes"] = maker_note
        make = (evidence.get("make") or "").lower()
        if make and not maker_note and any(make.startswith(brand) for brand in _MAKERNOTE_MAKES):
            evidence["maker_note_stripped"] = True
            signals.append((0.55, 0.1, f"{evidence['make']} cameras write maker notes and this "
                            "file has none (often dropped when a tool re-saves)", m))  # fmt: skip

        # Thumbnail, and the larger previews of MPF (JPEG) and HEIF files
        if thumb_bytes:
            thumb_signal = self._thumbnail(thumb_bytes, media, evidence)
            if thumb_signal:
                signals.append(thumb_signal)
        for key, label, preview, orientation in embedded_previews(media):
            preview_signal = self._compare(preview, media, evidence, key, label, orientation)
            if preview_signal:
                signals.append(preview_signal)

        camera = " ".join(x for x in (evidence.get("make"), evidence.get("model")) if x)
        if not signals:
            if camera:
                return self.ok(
                    score=0.4,
                    weight=0.1,
                    summary=f"Camera metadata ({camera}) with consistent dates and nothing that "
                    "points to editing. Metadata is easy to copy or forge, so this is only weak "
                    "evidence of an unedited original.",
                    evidence=evidence,
                )
            return self.ok(
                score=0.5,
                weight=0.05,
                summary="EXIF metadata present but names no camera and shows no sign of editing.",
                evidence=evidence,
            )
        signals.sort(key=lambda s: -(s[1] * abs(s[0] - 0.5)))
        score, weight, lead, kind = signals[0]
        evidence["signals"] = [s[2] for s in signals]
        others = [s[2] for s in signals[1:]]
        summary = lead[0].upper() + lead[1:] + "."
        if others:
            summary += " Also: " + "; ".join(others) + "."
        return self.ok(
            score=score, weight=weight, summary=summary, evidence=evidence, evidence_kind=kind
        )

    def _thumbnail(
        self, thumb_bytes: bytes, media: Media, evidence: dict[str, Any]
    ) -> tuple[float, float, str, EvidenceKind] | None:
        try:
            thumb = Image.open(io.BytesIO(thumb_bytes))
            if thumb.width * thumb.height > MAX_EMBEDDED_PIXELS:  # a bomb hidden in EXIF
                raise ValueError(f"thumbnail header declares {thumb.width}x{thumb.height}")
            thumb.load()
        except Exception as exc:  # noqa: BLE001 - a broken thumbnail is a fact, not a failure
            evidence["thumbnail"] = {"decodable": False, "error": str(exc)[:200]}
            return None
        # Compare in stored orientation terms: the thumbnail is stored like the main image's
        # data, and media.reduced() has the orientation applied.
        return self._compare(
            thumb, media, evidence, "thumbnail", "embedded thumbnail", media.orientation
        )

    def _compare(
        self,
        thumb: Image.Image,
        media: Media,
        evidence: dict[str, Any],
        key: str,
        label: str,
        orientation: int | None,
    ) -> tuple[float, float, str, EvidenceKind] | None:
        main = media.reduced(256)
        cmp = compare_thumbnail(thumb, main, orientation)
        evidence[key] = cmp
        if cmp["correlation"] < THUMB_MIN_CORRELATION:
            cmp["verdict"] = "different_content"
            return (
                0.85,
                0.6,
                f"the {label} shows a different picture from the image (correlation "
                f"{cmp['correlation']:.2f}): the image was changed, cropped or replaced after the "
                f"{label} was written",
                EvidenceKind.MANIPULATION,
            )
        if cmp["aspect_log_difference"] > THUMB_ASPECT_TOLERANCE:
            cmp["verdict"] = "different_frame"
            return (
                0.6,
                0.15,
                f"the {label} has a different frame ({cmp['thumbnail_aspect']:.2f}:1 "
                f"vs {cmp['image_aspect']:.2f}:1 for the image) with matching content: cropped "
                "after capture, or a camera that stores a 4:3 preview of a 3:2 photo",
                EvidenceKind.MANIPULATION,
            )
        if cmp["max_block_difference"] > THUMB_BLOCK_DIFF:
            cmp["verdict"] = "region_differs"
            return (
                0.7,
                0.35,
                f"one region of the image differs from the {label} (block difference "
                f"{cmp['max_block_difference']:.2f}): possibly a local edit after capture",
                EvidenceKind.MANIPULATION,
            )
        cmp["verdict"] = "matches"
        return None


#: MPF image types that are previews of the primary image (CIPA DC-007 "Large Thumbnail").
#: Other entries (stereo views, panorama frames, phones' depth and gain maps) are left alone.
_MPF_PREVIEW_TYPES = ("Large Thumbnail (VGA Equivalent)", "Large Thumbnail (Full HD Equivalent)")


def embedded_previews(media: Media) -> list[tuple[str, str, Image.Image, int | None]]:
    """Previews the capture device stored with the image: (evidence key, label, image, orientation).

    A JPEG's MPF (APP2, CIPA DC-007) may index a "Large Thumbnail" image after the primary
    one; a HEIF file may carry thumbnail items. Both are written at capture, so an edit of the
    primary that keeps them leaves them showing the original. MPF previews are stored like the
    primary's data (the EXIF orientation applies); pillow-heif decodes HEIF thumbnails with
    their transforms applied, like the primary.
    """
    out: list[tuple[str, str, Image.Image, int | None]] = []
    try:
        if media.format.name == "jpeg" and b"MPF\x00" in media.data[:65536]:
            img = Image.open(io.BytesIO(media.data))
            entries = (getattr(img, "mpinfo", None) or {}).get(0xB002) or []
            for i, entry in enumerate(entries[: getattr(img, "n_frames", 1)]):
                if i and entry.get("Attribute", {}).get("MPType") in _MPF_PREVIEW_TYPES:
                    img.seek(i)
                    if img.width * img.height > MAX_EMBEDDED_PIXELS:
                        break
                    preview = img.convert("RGB")
                    preview.thumbnail((512, 512))
                    out.append(("mpf_preview", "MPF preview image", preview, media.orientation))
                    break
        elif media.format.name == "heif":
            import pillow_heif

            heif = pillow_heif.open_heif(io.BytesIO(media.data))
            primary = heif[getattr(heif, "primary_index", 0)]
            if primary.info.get("thumbnails"):
                handle = primary.get_thumbnail(0)
                w, h = handle.size
                if w * h > MAX_EMBEDDED_PIXELS:
                    return out
                thumb = handle.to_pillow()
                out.append(("heif_thumbnail", "HEIF thumbnail", thumb.convert("RGB"), None))
    except Exception as exc:  # noqa: BLE001 - a broken preview is a fact, not a failure
        log.info("embedded preview not readable: %s", exc)
    return out


def _maker_note_size(media: Media) -> int:
    try:
        return len(media.open_image().getexif().get_ifd(0x8769).get(0x927C) or b"")
    except Exception:  # noqa: BLE001 - unreadable EXIF: report no maker note
        return 0


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"


def make_jpeg(
    img: Image.Image,
    *,
    make: str | None = None,
    model: str | None = None,
    software: str | None = None,
    thumbnail: Image.Image | None = None,
) -> bytes:
    """A JPEG with the given EXIF and, optionally, an embedded thumbnail (for examples, tests)."""
    exif = Image.Exif()
    for tag, value in ((0x010F, make), (0x0110, model), (0x0131, software)):
        if value:
            exif[tag] = value
    data = exif.tobytes() if len(exif) else b""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=data)
    out = buf.getvalue()
    if thumbnail is not None:
        out = _with_thumbnail(out, exif, thumbnail)
    return out


def _with_thumbnail(jpeg: bytes, exif: Image.Exif, thumbnail: Image.Image) -> bytes:
    """Rewrite the APP1 segment with IFD1 holding a JPEG thumbnail (PIL cannot write IFD1)."""
    import struct

    tb = io.BytesIO()
    ImageOps.contain(thumbnail, (160, 120)).save(tb, "JPEG", quality=85)
    thumb = tb.getvalue()
    entries0 = sorted((t, v) for t, v in exif.items() if isinstance(v, str))
    # Little-endian TIFF: header(8) IFD0 -> IFD1 -> strings -> thumbnail
    n0 = len(entries0)
    ifd0_size = 2 + 12 * n0 + 4
    ifd1_off = 8 + ifd0_size
    ifd1_size = 2 + 12 * 3 + 4
    data_off = ifd1_off + ifd1_size
    strings = b""
    ifd0 = struct.pack("<H", n0)
    for tag, value in entries0:
        raw = value.encode() + b"\x00"
        if len(raw) <= 4:
            ifd0 += struct.pack("<HHI", tag, 2, len(raw)) + raw.ljust(4, b"\x00")
        else:
            ifd0 += struct.pack("<HHII", tag, 2, len(raw), data_off + len(strings))
            strings += raw + (b"\x00" if len(raw) % 2 else b"")
    ifd0 += struct.pack("<I", ifd1_off)
    thumb_off = data_off + len(strings)
    ifd1 = struct.pack("<H", 3)
    ifd1 += struct.pack("<HHII", 0x0103, 3, 1, 6)  # Compression: JPEG
    ifd1 += struct.pack("<HHII", 0x0201, 4, 1, thumb_off)  # JPEGInterchangeFormat
    ifd1 += struct.pack("<HHII", 0x0202, 4, 1, len(thumb))  # JPEGInterchangeFormatLength
    ifd1 += struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + ifd1 + strings + thumb
    app1 = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    # Drop any APP1 PIL wrote, insert ours after SOI (and JFIF APP0 if present).
    i, out = 2, [jpeg[:2]]
    while jpeg[i] == 0xFF and jpeg[i + 1] in (0xE0, 0xE1):
        (length,) = struct.unpack(">H", jpeg[i + 2 : i + 4])
        if jpeg[i + 1] == 0xE0:
            out.append(jpeg[i : i + 2 + length])
        i += 2 + length
    out.append(segment)
    out.append(jpeg[i:])
    return b"".join(out)
