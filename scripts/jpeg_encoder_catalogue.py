"""Build detectors/jpeg_structure/encoders.json: quantisation tables of known encoders.

    python scripts/jpeg_encoder_catalogue.py [--data ../shared/data]

Every entry is read from a public fixture file under ``../shared/data/fixtures`` whose origin
the file itself records: the EXIF ``Software`` tag, Photoshop's own record of its save quality
(image resource 0x0406 in the APP13 block: a signed 16-bit value, quality = value + 4), Save
for Web's ``Ducky`` APP12 segment (tag 1 = quality 0-100), or a camera's EXIF make and model
with no editing software and camera-first segments. Only the table values (facts) and the
source file names are stored; nothing of the files is copied. Files that share a table set are
grouped into one entry with every source listed. The IJG libjpeg family is not listed: the
detector computes its tables for every quality. Camera files whose tables *are* IJG tables are
listed under ``ijg_users`` (a fact that keeps IJG tables from being read as a re-save).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors.jpeg_structure.detector import estimate_quality, table_hash  # noqa: E402

OUT = ROOT / "detectors" / "jpeg_structure" / "encoders.json"

#: (fixture path, encoder, setting, kind, make, how the origin is known)
SOURCES = [
    ("c2pa/cloud.jpg", "Adobe Photoshop", "quality 12", "editor", None,
     "Software 'Adobe Photoshop 21.1'; resource 0x0406 records quality 12"),
    ("c2pa/earth_apollo17.jpg", "Adobe Photoshop", "quality 12", "editor", None,
     "Software 'Adobe Photoshop 21.1'; resource 0x0406 records quality 12"),
    ("c2pa/update_manifest.jpg", "Adobe Photoshop", "quality 12", "editor", None,
     "Software 'Adobe Photoshop 21.1'; resource 0x0406 records quality 12"),
    ("pdq/misc-images/wee.jpg", "Adobe Photoshop", "quality 10", "editor", None,
     "Software 'Adobe Photoshop CC 2014'; resource 0x0406 records quality 10"),
    ("c2pa/no_manifest.jpg", "Adobe Photoshop", "quality 8", "editor", None,
     "Software 'Adobe Photoshop 24.1'; resource 0x0406 records quality 8"),
    ("pdq/dih/bridge-2-rotate-90.jpg", "Adobe Photoshop", "quality 8", "editor", None,
     "Software 'Adobe Photoshop CC 2014'; resource 0x0406 records quality 8"),
    ("exif-samples/jpg/exif-org/nikon-e950.jpg", "Adobe Photoshop (a 1999-era version)",
     "quality 8", "editor", None,
     "resource 0x0406 records quality 8; camera EXIF (NIKON E950) kept, no Software naming it"),
    ("exif-samples/jpg/xmp/BlueSquare.jpg", "Adobe Photoshop", "quality 0", "editor", None,
     "Software 'Adobe Photoshop CS2'; resource 0x0406 records quality 0"),
    ("c2pa/ocsp.jpg", "Adobe Photoshop", "quality 0", "editor", None,
     "C2PA claim generator 'Adobe_Photoshop/26.9.0'; resource 0x0406 records quality 0"),
    ("exif-samples/jpg/orientation/landscape_1.jpg", "Adobe Photoshop Save for Web",
     "quality 70", "editor", None, "APP12 'Ducky' segment records quality 70"),
    ("exif-samples/jpg/orientation/portrait_1.jpg", "Adobe Photoshop Save for Web",
     "quality 70", "editor", None, "APP12 'Ducky' segment records quality 70"),
    ("c2pa/IMG_0003.jpg", "Adobe Lightroom 5.3 export", "quality not recorded", "editor", None,
     "Software 'Adobe Lightroom 5.3 (Macintosh)'"),
    ("c2pa/P1000827.jpg", "Adobe Lightroom 5.3 export", "quality not recorded", "editor", None,
     "Software 'Adobe Lightroom 5.3 (Macintosh)'"),
    ("exif-samples/jpg/tests/30-type_error.jpg", "Adobe Photoshop Elements 7.0",
     "quality not recorded", "editor", None, "Software 'Adobe Photoshop Elements 7.0'"),
    ("exif-samples/jpg/tests/28-hex_value.jpg", "Microsoft Windows Photo Gallery 6.0",
     "quality not recorded", "editor", None,
     "Software 'Microsoft Windows Photo Gallery 6.0.6001.18000'"),
    ("exif-samples/jpg/exif-org/canon-ixus.jpg", "Canon DIGITAL IXUS", "camera", "camera",
     "Canon", "EXIF make/model, no Software, camera segments only"),
    ("exif-samples/jpg/tests/22-canon_tags.jpg", "Canon PowerShot SD300", "camera", "camera",
     "Canon", "EXIF make/model, no Software, camera segments only"),
    ("exif-samples/jpg/exif-org/fujifilm-dx10.jpg", "Fujifilm DX-10", "camera", "camera",
     "FUJIFILM", "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/exif-org/fujifilm-mx1700.jpg", "Fujifilm MX-1700ZOOM", "camera",
     "camera", "FUJIFILM", "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/exif-org/kodak-dc210.jpg", "Kodak DC210", "camera", "camera",
     "Eastman Kodak Company", "EXIF make/model, no Software"),
    ("exif-samples/jpg/exif-org/sanyo-vpcg250.jpg", "Sanyo SR6 (VPC-G250)", "camera", "camera",
     "SANYO", "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/exif-org/sanyo-vpcsx550.jpg", "Sanyo SX113 (VPC-SX550)", "camera",
     "camera", "SANYO", "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/tests/36-memory_error.jpg", "Casio EX-M2", "camera", "camera", "CASIO",
     "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/tests/42_IndexError.jpg", "Olympus E-P3", "camera", "camera", "OLYMPUS",
     "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/corrupted.jpg", "Olympus u1020", "camera", "camera", "OLYMPUS",
     "EXIF make/model, Software is the camera's firmware"),
    ("exif-samples/jpg/tests/87_OSError.jpg", "Nikon D70s", "camera", "camera", "NIKON",
     "EXIF make/model, Software is the camera's firmware (XMP and an IPTC block without a "
     "Photoshop save record were added later)"),
    ("exif-samples/jpg/Reconyx_HC500_Hyperfire.jpg", "Reconyx HC500 Hyperfire (trail camera)",
     "camera", "camera", "RECONYX", "fixture name; its EXIF has no Make, camera segments only"),
]  # fmt: skip

#: Cameras and phones whose own files carry IJG tables (so IJG tables are no sign of a re-save).
IJG_USERS = [
    ("c2pa/no_alg.jpg", "Samsung SM-J320F (Galaxy J3) phone"),
    ("exif-samples/jpg/mobile/HMD_Nokia_8.3_5G.jpg", "Nokia 8.3 5G phone"),
    ("exif-samples/jpg/mobile/jolla.jpg", "Jolla phone"),
    ("exif-samples/jpg/gps/DSCN0010.jpg", "Nikon COOLPIX P6000 (quality varies per image)"),
    ("exif-samples/jpg/exif-org/kodak-dc240.jpg", "Kodak DC240"),
    ("exif-samples/jpg/exif-org/olympus-c960.jpg", "Olympus C960"),
    ("exif-samples/jpg/exif-org/fujifilm-finepix40i.jpg", "Fujifilm FinePix40i"),
    ("exif-samples/jpg/exif-org/ricoh-rdc5300.jpg", "Ricoh RDC-5300"),
    ("exif-samples/jpg/exif-org/sony-d700.jpg", "Sony DSC-D700"),
    ("exif-samples/jpg/exif-org/sony-cybershot.jpg", "Sony Cyber-shot"),
    ("exif-samples/jpg/tests/35-empty.jpg", "Casio EX-Z750"),
]


def tables_of(path: Path) -> list[list[int]]:
    with Image.open(path) as img:
        q = img.quantization
        return [list(q[k]) for k in sorted(q)]


def _rows(body: str) -> str:
    values = [v.strip() for v in body.split(",")]
    rows = [", ".join(values[i : i + 8]) for i in range(0, len(values), 8)]
    return "[" + ",\n    ".join(rows) + "]"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args()
    base = args.data / "fixtures"
    entries: dict[tuple, dict] = {}
    for rel, encoder, setting, kind, make, how in SOURCES:
        tables = tables_of(base / rel)
        key = (encoder, setting, json.dumps(tables))
        entry = entries.setdefault(
            key,
            {
                "encoder": encoder,
                "setting": setting,
                "kind": kind,
                "make": make,
                "hash": table_hash(tables),
                "tables": tables,
                "sources": [],
            },
        )
        entry["sources"].append(f"fixtures/{rel}: {how}")
    ijg = []
    for rel, who in IJG_USERS:
        q = estimate_quality(dict(enumerate(tables_of(base / rel))))
        assert q["ijg_exact"], rel
        ijg.append({"device": who, "quality": q["quality_estimate"], "source": f"fixtures/{rel}"})
    doc = {
        "about": "Quantisation tables of known JPEG encoders, read from public fixture files "
        "(see scripts/jpeg_encoder_catalogue.py). Tables in natural (row-major) order, one "
        "list per table slot.",
        "encoders": list(entries.values()),
        "ijg_users": ijg,
    }
    text = json.dumps(doc, indent=1)
    # One line per 8-value table row keeps the file readable and diffable.
    text = re.sub(r"\[\s*([\d,\s]+?)\s*\]", lambda m: _rows(m.group(1)), text)
    OUT.write_text(text + "\n")
    print(f"{len(entries)} entries, {len(ijg)} IJG users -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
