"""EXIF presence: is there camera metadata, and does it name editing software?

Deliberately shallow; the metadata-forensics detectors go further (dates, thumbnails, GPS, XMP,
C2PA). Both signals here are weak on their own: platforms strip metadata on upload, metadata is
easy to forge, and an editor's name in ``Software`` may mean only a crop or a colour fix.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import exifread
from PIL import Image

from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

EDITORS = re.compile(
    r"photoshop|gimp|lightroom|snapseed|picsart|canva|affinity|pixelmator|paint\.net|"
    r"facetune|luminar|photopea|capture one|darktable|rawtherapee|krita|fotor|meitu|"
    r"photoscape|acdsee|corel|inpixio|remini|lensa|picmonkey",
    re.IGNORECASE,
)
_FIELDS = {
    "make": "Image Make",
    "model": "Image Model",
    "software": "Image Software",
    "datetime": "Image DateTime",
    "datetime_original": "EXIF DateTimeOriginal",
    "lens_model": "EXIF LensModel",
}

# exifread logs every odd tag at WARNING; those are evidence for the metadata detectors, not
# operational problems.
logging.getLogger("exifread").setLevel(logging.ERROR)


def read_exif(data: bytes) -> dict[str, Any]:
    tags = exifread.process_file(io.BytesIO(data), details=False, extract_thumbnail=False)
    return {k: v for k, v in tags.items() if k != "JPEGThumbnail"}


class ExifPresence(Detector):
    name = "exif_presence"
    version = "1.0.0"
    description = "Whether EXIF camera metadata is present and whether it names an image editor."

    @classmethod
    def get_examples(cls) -> list[Example]:
        def jpeg(**tags: str) -> bytes:
            exif = Image.Exif()
            for tag, value in tags.items():
                exif[{"make": 0x010F, "model": 0x0110, "software": 0x0131}[tag]] = value
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (90, 100, 110)).save(buf, "JPEG", exif=exif.tobytes())
            return buf.getvalue()

        return [
            Example("no EXIF", jpeg(), Status.OK, 0.5, 0.6),
            Example("camera EXIF", jpeg(make="Acme", model="One"), Status.OK, None, 0.45),
            Example("edited in GIMP", jpeg(make="Acme", software="GIMP 2.10"), Status.OK, 0.65),
        ]

    def analyze(self, media: Media) -> Finding:
        if media.format.name in ("gif", "bmp"):
            return self.skip(f"{media.format.name.upper()} files do not carry EXIF metadata.")
        tags = read_exif(media.data)
        evidence: dict[str, Any] = {"exif_present": bool(tags), "tag_count": len(tags)}
        for key, tag in _FIELDS.items():
            if tag in tags:
                evidence[key] = str(tags[tag]).strip()
        evidence["gps_present"] = any(k.startswith("GPS ") for k in tags)
        if not tags:
            return self.ok(
                score=0.55,
                weight=0.05,
                summary="No EXIF metadata. Common for images from social media, messaging apps "
                "and screenshots, so only weak evidence on its own.",
                evidence=evidence,
            )
        software = evidence.get("software", "")
        if software and EDITORS.search(software):
            return self.ok(
                score=0.7,
                weight=0.3,
                summary=f"The EXIF Software tag names an image editor ({software}): the file was "
                "saved by editing software after capture, though the edit may be harmless.",
                evidence=evidence,
            )
        camera = " ".join(x for x in (evidence.get("make"), evidence.get("model")) if x)
        if camera:
            return self.ok(
                score=0.4,
                weight=0.1,
                summary=f"Camera metadata present ({camera}). Metadata is easy to copy or forge, "
                "so this is only weak evidence of an unedited original.",
                evidence=evidence,
            )
        return self.ok(
            score=0.5,
            weight=0.05,
            summary="EXIF metadata present but names no camera.",
            evidence=evidence,
        )
