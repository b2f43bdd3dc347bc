from __future__ import annotations

import io

from media_factory import encode, pattern
from PIL import Image

from detectors.file_facts.detector import classify_trailer, jpeg_end, png_end


def test_jpeg_end_ignores_an_eoi_inside_the_exif_thumbnail():
    thumb = encode(pattern(32, 24), "jpeg")  # contains its own FF D9
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    body = encode(pattern(), "jpeg", exif=exif.tobytes() + thumb[:0])
    assert jpeg_end(body) == len(body)
    # Put a JPEG inside an APP segment: its FF D9 must not end the outer image.
    app = b"\xff\xe5" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    nested = body[:2] + app + body[2:]
    assert jpeg_end(nested) == len(nested)


def test_progressive_jpeg():
    buf = io.BytesIO()
    pattern(200, 100).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    assert jpeg_end(data) == len(data)
    assert jpeg_end(data + b"junk") == len(data)


def test_truncated_jpeg_has_no_end():
    data = encode(pattern(), "jpeg")
    assert jpeg_end(data[:-2]) is None


def test_png_end():
    data = encode(pattern(), "png")
    assert png_end(data) == len(data)
    assert png_end(data + b"\x00\x01") == len(data)


def test_classify_trailer():
    assert classify_trailer(bytes(100), False) == "padding"
    assert classify_trailer(b"\xff\xd8\xff\xe0abc", True) == "mpf_image"
    assert classify_trailer(b"\xff\xd8\xff\xe0abc", False) == "jpeg"
    assert classify_trailer(b"PK\x03\x04rest", False) == "zip"
    assert classify_trailer(b"xxxxSEFT", False) == "vendor_trailer"
    assert classify_trailer(b"hello world", False) == "unknown"
