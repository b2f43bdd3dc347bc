"""Media made in code for tests: every format, limits, orientation and broken files."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

FORMATS_SAVED_BY_PIL = {
    "jpeg": ("JPEG", {"quality": 90}),
    "png": ("PNG", {}),
    "webp": ("WEBP", {"quality": 80}),
    "gif": ("GIF", {}),
    "tiff": ("TIFF", {}),
    "bmp": ("BMP", {}),
    "heif": ("HEIF", {"quality": 80}),
}


def pattern(width: int = 160, height: int = 120, seed: int = 0) -> Image.Image:
    """A textured RGB image with a distinctive top-left corner (to check orientation)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(40, 200, (height, width, 3), dtype=np.uint8)
    arr[: height // 4, : width // 4] = (255, 0, 0)
    return Image.fromarray(arr)


def encode(img: Image.Image, fmt: str, **extra: object) -> bytes:
    pil_format, options = FORMATS_SAVED_BY_PIL[fmt]
    buf = io.BytesIO()
    if fmt == "gif":
        frames = [img.convert("P"), img.rotate(90).convert("P")]
        frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    else:
        img.save(buf, pil_format, **{**options, **extra})
    return buf.getvalue()


def jpeg_with_orientation(img: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, "jpeg", exif=exif.tobytes())


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height, with a tiny (wrong) IDAT: a bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# Minimal container headers: enough for identification by content (videos are not decoded yet).
VIDEO_HEADERS = {
    "mp4": struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2" + b"\x00" * 40,
    "mov": struct.pack(">I", 20) + b"ftypqt  " + b"\x00\x00\x02\x00" + b"qt  " + b"\x00" * 40,
    "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + b"\x00" * 40,
    "mkv": b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska" + b"\x00" * 40,
    "avi": b"RIFF" + struct.pack("<I", 1000) + b"AVI LIST" + b"\x00" * 40,
}
