"""Perceptual hashes: PDQ (Meta's, with its quality score and the 8 rotations/flips) and the
imagehash family (pHash, dHash, aHash, wHash, colour hash).

Hashes are computed on a reduced copy of the image (``HASH_MAX_SIDE`` pixels on the longer
side). PDQ shrinks every input to 64x64 internally, so hashing a 512 px copy gives the same
hash as the full image up to a few bits (measured on Meta's test images: at most 10 bits from
Meta's reference hashes, the same worst case as at full resolution) at a fraction of the cost.
Banks and queries use the same reduction, so they stay consistent with each other.

PDQ hashes are written as 64 lowercase hex digits in the bit order of Meta's reference
implementation and of ThreatExchange / hasher-matcher-actioner exports, so hashes copied from
those tools can be pasted into a bank as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

from verifier.errors import BadRequestError
from verifier.media import Media

#: Longer side of the copy that hashes are computed on.
HASH_MAX_SIDE = 512
#: Meta's recommended PDQ match threshold (Hamming distance out of 256 bits).
PDQ_THRESHOLD = 31
#: Below this PDQ quality the hash describes a flat or featureless image and collides easily.
PDQ_MIN_QUALITY = 50
PDQ_BITS = 256
PDQ_BYTES = PDQ_BITS // 8

#: The 8 rotations/flips, in the order ``pdqhash.compute_dihedral`` returns them, named by the
#: PIL transpose that, applied to the analysed image, gives that hash (checked against Meta's
#: ``dih/`` test images: its "flipx" is a top-bottom flip, "flipy" a left-right mirror).
DIHEDRAL: tuple[str, ...] = (
    "original",
    "rotate_90",  # counter-clockwise
    "rotate_180",
    "rotate_270",
    "flip_top_bottom",
    "flip_left_right",
    "transpose",
    "transverse",
)

#: How each transform reads in a sentence ("matches once the image is ...").
DIHEDRAL_PHRASES: dict[str, str] = {
    "original": "as it is",
    "rotate_90": "rotated 90 degrees counter-clockwise",
    "rotate_180": "rotated 180 degrees",
    "rotate_270": "rotated 90 degrees clockwise",
    "flip_top_bottom": "flipped upside down (mirrored top to bottom)",
    "flip_left_right": "mirrored left to right",
    "transpose": "transposed (mirrored along its main diagonal)",
    "transverse": "transversed (mirrored along its other diagonal)",
}

_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")


class PDQ:
    """What a PDQ hash is: ``distance_metric``, ``hash_length``, ``dtype`` (perception style)."""

    name: ClassVar[str] = "pdq"
    distance_metric: ClassVar[str] = "hamming"
    hash_length: ClassVar[int] = PDQ_BITS
    dtype: ClassVar[str] = "bool"


def parse_pdq_hex(text: str) -> bytes:
    """32 bytes from a 64-hex-digit PDQ hash; :class:`BadRequestError` names what is wrong."""
    if not isinstance(text, str):
        raise BadRequestError("A PDQ hash must be a string of 64 hex digits.")
    value = text.strip()
    if value.lower().startswith("0x"):
        value = value[2:]
    if not value:
        raise BadRequestError("The PDQ hash is empty; expected 64 hex digits.")
    if not _HEX_RE.match(value):
        raise BadRequestError(
            f"The PDQ hash {_clip(text)!r} is not hexadecimal; expected 64 hex digits (0-9, a-f).",
            detail={"hash": _clip(text)},
        )
    if len(value) != PDQ_BITS // 4:
        raise BadRequestError(
            f"The PDQ hash has {len(value)} hex digits; a PDQ hash has exactly 64 (256 bits).",
            detail={"hash": _clip(text), "length": len(value)},
        )
    return bytes.fromhex(value)


def _clip(text: object) -> str:
    text = str(text)
    return text if len(text) <= 80 else text[:77] + "..."


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def degenerate(digest: bytes) -> bool:
    """Whether a PDQ hash cannot come from an image with detail.

    PDQ sets a bit where a DCT coefficient is above the median, so a hash of any image with
    detail has about half its bits set (128 of 256 for every one of Meta's test images, even
    the low-quality ones); a flat image hashes to all zeros. Used to judge hashes that arrive
    without a quality score (raw hashes pasted into a bank or matched by hex).
    """
    ones = int.from_bytes(digest, "big").bit_count()
    return not 96 <= ones <= 160


def hash_reliable(digest: bytes, quality: int | None) -> bool:
    """Good enough to count as evidence: quality >= 50, or (no quality) not degenerate."""
    if quality is not None:
        return quality >= PDQ_MIN_QUALITY
    return not degenerate(digest)


def _to_array(img: Image.Image) -> np.ndarray:
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


@dataclass(frozen=True)
class PDQResult:
    """The PDQ hash of an image, its quality (0-100) and the hashes of its 8 rotations/flips."""

    hash: bytes
    quality: int
    dihedral: tuple[bytes, ...]  # in DIHEDRAL order; dihedral[0] == hash

    @property
    def hex(self) -> str:
        return self.hash.hex()

    @property
    def reliable(self) -> bool:
        return self.quality >= PDQ_MIN_QUALITY


def reduce_for_hashing(img: Image.Image, max_side: int = HASH_MAX_SIDE) -> Image.Image:
    """The copy hashes are computed on (callers holding a ``Media`` use ``media.reduced``)."""
    if max(img.size) <= max_side:
        return img
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS)


def pdq(img: Image.Image, *, dihedral: bool = True) -> PDQResult:
    """PDQ of ``img`` as given (callers reduce first); with the 8 rotations/flips if asked."""
    import pdqhash

    arr = _to_array(img)
    if dihedral:
        vectors, quality = pdqhash.compute_dihedral(arr)
        hashes = tuple(_pack(v) for v in vectors)
    else:
        vector, quality = pdqhash.compute(arr)
        hashes = (_pack(vector),)
    return PDQResult(hash=hashes[0], quality=int(quality), dihedral=hashes)


def imagehashes(img: Image.Image) -> dict[str, str]:
    """pHash, dHash, aHash, wHash (64 bits each) and colour hash (42 bits), as hex strings."""
    import imagehash

    rgb = img.convert("RGB") if img.mode != "RGB" else img
    return {
        "phash": str(imagehash.phash(rgb)),
        "dhash": str(imagehash.dhash(rgb)),
        "ahash": str(imagehash.average_hash(rgb)),
        "whash": str(imagehash.whash(rgb)),
        "colorhash": str(imagehash.colorhash(rgb)),
    }


@dataclass(frozen=True)
class ImageHashes:
    """Every hash of one image, as computed for reports and for bank entries alike."""

    pdq: PDQResult
    others: dict[str, str]  # phash, dhash, ahash, whash, colorhash
    hashed_size: tuple[int, int]  # width, height of the copy that was hashed

    def as_dict(self) -> dict[str, str]:
        return {"pdq": self.pdq.hex, **self.others}


def hash_image(img: Image.Image) -> ImageHashes:
    """All hashes of ``img``, reduced to ``HASH_MAX_SIDE`` first."""
    small = reduce_for_hashing(img)
    return ImageHashes(pdq=pdq(small), others=imagehashes(small), hashed_size=small.size)


#: Smallest side worth hashing: PDQ's 64x64 downsample still has four source pixels per cell.
HASH_MIN_SIDE = 256


def hash_side(media: Media) -> int:
    """The longer side to hash ``media`` at: ``HASH_MAX_SIDE``, or less for a large JPEG.

    The loader has already decoded a large JPEG at 1/8 scale in the DCT domain (side
    ``max(w, h) // 8``, cached); hashing that copy when it is big enough avoids a second decode
    at 1/4 scale, which costs ~100 ms on a 12 MP photo.
    """
    side = HASH_MAX_SIDE
    if media.format.name == "jpeg" and media.width and media.height:
        eighth = max(media.width, media.height) // 8
        if HASH_MIN_SIDE <= eighth < side:
            side = eighth
    return side


def hash_media(media: Media) -> ImageHashes:
    """All hashes of an image ``Media``, on its cached reduced copy (EXIF orientation applied)."""
    small = media.reduced(hash_side(media))
    return ImageHashes(pdq=pdq(small), others=imagehashes(small), hashed_size=small.size)
