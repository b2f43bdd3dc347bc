"""File facts: format, size, checksum, dimensions, and container anomalies.

The container checks look for bytes the encoder did not write as part of the image: data after
the JPEG end-of-image marker or after the PNG ``IEND`` chunk. Cameras legitimately append
preview images (declared in the JPEG's MPF segment) and some phones append vendor trailers, so
those are reported as facts; undeclared data (another file, an archive, unknown bytes) is weak
evidence that something other than the encoder touched the file.
"""

from __future__ import annotations

import io
import re
import struct
from typing import Any

from PIL import Image

from verifier.detector import Detector, Example
from verifier.media import Media, MediaKind
from verifier.report import Finding, Status

# Signatures of what is commonly found after an image's end.
_TRAILER_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG", "png"),
    (b"PK\x03\x04", "zip"),
    (b"Rar!", "rar"),
    (b"7z\xbc\xaf", "7z"),
    (b"%PDF", "pdf"),
)
_VENDOR_MARKERS = (b"SEFH", b"SEFT")  # Samsung's trailer (slow-motion, depth, edit info)


#: The next marker after entropy-coded data: FF followed by neither a stuffed 00 nor RST0-7.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the main image's EOI marker, or None if the stream never ends.

    Walks the marker segments and skips entropy-coded data (where ``FF 00`` is a stuffed byte
    and ``FF D0-D7`` restart markers), so an EOI pattern inside a thumbnail or a scan does not
    count.
    """
    i, n = 2, len(data)
    for _ in range(100_000):  # cameras write a few dozen markers; a crafted file gets no end
        if i + 2 > n:
            return None
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:
            return i + 2
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            i += 2
            continue
        if i + 4 > n:
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        i += 2 + length
        if marker == 0xDA:  # start of scan: skip entropy-coded data up to the next real marker
            found = NEXT_MARKER.search(data, i)  # C speed, whatever the stuffing
            if found is None:
                return None
            i = found.start()
    return None


def png_end(data: bytes) -> int | None:
    i, n = 8, len(data)
    for _ in range(100_000):  # real files have tens of chunks; a crafted one gets no end
        if i + 8 > n:
            return None
        (length,) = struct.unpack(">I", data[i : i + 4])
        ctype = data[i + 4 : i + 8]
        i += 12 + length
        if ctype == b"IEND":
            return i if i <= n else None
    return None


def classify_trailer(trailer: bytes, has_mpf: bool) -> str:
    if not trailer.strip(b"\x00\xff"):
        return "padding"
    for sig, kind in _TRAILER_KINDS:
        if trailer.startswith(sig):
            return "mpf_image" if kind == "jpeg" and has_mpf else kind
    if any(m in trailer[-64:] or trailer.startswith(m) for m in _VENDOR_MARKERS):
        return "vendor_trailer"
    return "unknown"


_BENIGN = {"padding", "mpf_image", "vendor_trailer"}


class FileFacts(Detector):
    name = "file_facts"
    version = "1.0.0"
    description = "Format, size, SHA-256, dimensions; data hidden after the image's end marker."
    media_kinds = frozenset({MediaKind.IMAGE, MediaKind.VIDEO})

    @classmethod
    def get_examples(cls) -> list[Example]:
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (120, 130, 140)).save(buf, "JPEG", quality=90)
        clean = buf.getvalue()
        return [
            Example("clean JPEG", clean, Status.OK),
            Example("JPEG with zero padding", clean + bytes(128), Status.OK),
            Example("JPEG with a ZIP appended", clean + b"PK\x03\x04" + bytes(64), Status.OK, 0.6),
        ]

    def analyze(self, media: Media) -> Finding:
        facts: dict[str, Any] = {
            "format": media.format.name,
            "mime_type": media.format.mime,
            "size_bytes": media.size_bytes,
            "sha256": media.sha256,
        }
        if media.kind is MediaKind.IMAGE:
            facts.update(
                width=media.width,
                height=media.height,
                frame_count=media.frame_count,
                exif_orientation=media.orientation,
            )
        end: int | None = None
        data = media.data
        if media.format.name == "jpeg":
            end = jpeg_end(data)
            facts["has_mpf"] = b"MPF\x00" in data[: min(len(data), 65536 * 4)]
        elif media.format.name == "png":
            end = png_end(data)
        if end is None or media.format.name not in ("jpeg", "png"):
            if media.format.name in ("jpeg", "png") and end is None:
                facts["end_marker_found"] = False
            dims = f"{media.width}x{media.height} " if media.width else ""
            return self.informational(
                summary=f"{media.format.name.upper()} {dims}({media.size_bytes:,} bytes).",
                evidence=facts,
            )
        facts["end_marker_found"] = True
        trailer = data[end:]
        facts["trailing_bytes"] = len(trailer)
        if not trailer:
            return self.informational(
                summary=f"{media.format.name.upper()} {media.width}x{media.height}, "
                "no data after the end marker.",
                evidence=facts,
            )
        kind = classify_trailer(trailer, facts.get("has_mpf", False))
        facts["trailing_kind"] = kind
        facts["trailing_offset"] = end
        facts["trailing_head_hex"] = trailer[:16].hex()
        if kind in _BENIGN:
            return self.informational(
                summary=f"{len(trailer):,} bytes after the end marker ({kind.replace('_', ' ')}),"
                " which cameras and phones commonly write.",
                evidence=facts,
            )
        what = "unrecognised data" if kind == "unknown" else f"a {kind.upper()} file"
        return self.ok(
            score=0.65,
            weight=0.25,
            summary=f"{len(trailer):,} bytes of {what} follow the image's end marker: something "
            "other than the image encoder added to this file.",
            evidence=facts,
        )
