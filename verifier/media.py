"""Media loading: identify by content, check limits from the header, decode once, share.

A :class:`Media` is built once per input and handed to every detector. It holds the original
bytes and decodes lazily, caching what it decodes: the full-resolution pixels (EXIF orientation
applied once) and reduced copies. For JPEG a reduced copy comes from the DCT-domain downscale
(PIL ``draft``), about half the cost of a full decode, so detectors that only need a small
image never pay for the large one.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TypeVar

from PIL import Image, ImageOps, UnidentifiedImageError

from verifier.errors import (
    CorruptMediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
)
from verifier.settings import Settings

try:  # HEIC/HEIF support is a declared dependency, but keep the import failure readable.
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:  # pragma: no cover - exercised only on broken installs
    HEIF_AVAILABLE = False

# We check pixel limits ourselves, from the header (open_checked), so the message names the
# problem; PIL's own check would fire first with its own wording, so it is off. Images decoded
# from inside a file (EXIF thumbnails, MPF/HEIF previews) are checked against
# MAX_EMBEDDED_PIXELS by the code that opens them.
Image.MAX_IMAGE_PIXELS = None

#: Largest embedded image (EXIF thumbnail, MPF or HEIF preview) a detector decodes.
MAX_EMBEDDED_PIXELS = 16_000_000

T = TypeVar("T")


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class Format:
    name: str
    kind: MediaKind
    mime: str


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("jpeg", MediaKind.IMAGE, "image/jpeg"),
        Format("png", MediaKind.IMAGE, "image/png"),
        Format("webp", MediaKind.IMAGE, "image/webp"),
        Format("gif", MediaKind.IMAGE, "image/gif"),
        Format("tiff", MediaKind.IMAGE, "image/tiff"),
        Format("bmp", MediaKind.IMAGE, "image/bmp"),
        Format("heif", MediaKind.IMAGE, "image/heif"),
        Format("mp4", MediaKind.VIDEO, "video/mp4"),
        Format("mov", MediaKind.VIDEO, "video/quicktime"),
        Format("webm", MediaKind.VIDEO, "video/webm"),
        Format("mkv", MediaKind.VIDEO, "video/x-matroska"),
        Format("avi", MediaKind.VIDEO, "video/x-msvideo"),
    )
}

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
_MOV_BRANDS = {b"qt  "}
_ISO_VIDEO_BRANDS = {
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ",
    b"M4VP", b"dash", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"MSNV", b"XAVC", b"NDAS", b"f4v ",
    b"mmp4",
}  # fmt: skip


def sniff(head: bytes) -> Format:
    """Identify the format from the first bytes. Never trusts names or client MIME types."""
    if len(head) == 0:
        raise UnsupportedMediaError("The file is empty (0 bytes).")
    if head.startswith(b"\xff\xd8\xff"):
        return FORMATS["jpeg"]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return FORMATS["png"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return FORMATS["gif"]
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return FORMATS["tiff"]
    if head[:2] == b"BM" and len(head) >= 26:
        return FORMATS["bmp"]
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FORMATS["webp"]
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return FORMATS["avi"]
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska or WebM, told apart by the DocType
        return FORMATS["webm"] if b"webm" in head[:64] else FORMATS["mkv"]
    if head[4:8] == b"ftyp":
        major = head[8:12]
        brands = {major} | {head[i : i + 4] for i in range(16, min(len(head), 64), 4)}
        if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & _ISO_VIDEO_BRANDS):
            return FORMATS["heif"]
        if major in _MOV_BRANDS:
            return FORMATS["mov"]
        return FORMATS["mp4"]
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return FORMATS["mov"]  # old QuickTime files without an ftyp box
    raise UnsupportedMediaError(
        "The file is not a supported image or video "
        "(JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC, MP4, MOV, WebM, MKV, AVI).",
        detail={"first_bytes": head[:16].hex()},
    )


@dataclass(frozen=True)
class Frame:
    """One decoded video frame. Video decoding fills these; images have none."""

    index: int
    timestamp_s: float
    image: Image.Image


@dataclass(eq=False)
class Media:
    """One input, decoded once and shared by every detector. Treat as read-only."""

    data: bytes
    format: Format
    sha256: str
    width: int | None = None  # after EXIF orientation is applied
    height: int | None = None
    orientation: int | None = None  # the EXIF orientation that was applied (1-8), if any
    frame_count: int = 1
    frames: list[Frame] = field(default_factory=list)
    name: str | None = None  # the file name as given; informational only, never trusted
    _pixels: Image.Image | None = field(default=None, repr=False)
    _reduced: dict[int, Image.Image] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _memo: dict[object, object] = field(default_factory=dict, repr=False)
    _memo_locks: dict[object, threading.Lock] = field(default_factory=dict, repr=False)

    @property
    def kind(self) -> MediaKind:
        return self.format.kind

    @property
    def size_bytes(self) -> int:
        return len(self.data)

    @property
    def orientation_applied(self) -> bool:
        return self.orientation not in (None, 1)

    def open_image(self) -> Image.Image:
        """A fresh, undecoded PIL handle on the original bytes (header parsed only)."""
        if self.kind is not MediaKind.IMAGE:
            raise TypeError("open_image() applies to images only")
        return Image.open(io.BytesIO(self.data))

    @property
    def pixels_decoded(self) -> bool:
        """Whether the full-resolution pixels are decoded already (reading them is then free)."""
        return self._pixels is not None

    @property
    def pixels(self) -> Image.Image:
        """Full-resolution RGB pixels, EXIF orientation applied. Decoded on first use."""
        with self._lock:
            if self._pixels is None:
                self._pixels = _decode(self.open_image(), self.orientation, None)
            return self._pixels

    def memo(self, key: object, compute: Callable[[], T]) -> T:
        """Compute something about this input once and share it between detectors (e.g. the
        faces that both the face-detection and face-swap detectors need). Thread-safe: a second
        caller with the same key waits for the first one's result. Treat the value as read-only.
        """
        with self._lock:
            lock = self._memo_locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memo:
                self._memo[key] = compute()
            return self._memo[key]  # type: ignore[return-value]

    def reduced(self, max_side: int) -> Image.Image:
        """An RGB copy whose longer side is at most ``max_side``; cached per ``max_side``.

        JPEG uses the DCT-domain downscale when full pixels are not decoded yet; otherwise the
        full pixels are box-reduced. Images already small enough return the full pixels.
        """
        if max_side <= 0:
            raise ValueError("max_side must be positive")
        with self._lock:
            cached = self._reduced.get(max_side)
            if cached is not None:
                return cached
            assert self.width is not None and self.height is not None
            if max(self.width, self.height) <= max_side:
                return self.pixels
            if self._pixels is None and self.format.name == "jpeg":
                img = _decode(self.open_image(), self.orientation, max_side)
            else:
                img = self.pixels
            if max(img.size) > max_side:
                img = _shrink(img, max_side)
            self._reduced[max_side] = img
            return img


def _shrink(img: Image.Image, max_side: int) -> Image.Image:
    scale = max_side / max(img.size)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    factor = int(1 / scale)
    if factor >= 2:  # cheap integer box reduction first, then a quality resize of the rest
        img = img.reduce(factor)
    return img.resize(size, Image.Resampling.LANCZOS)


def _decode(img: Image.Image, orientation: int | None, max_side: int | None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns on odd metadata; evidence, not errors
            if max_side is not None:
                # draft picks the smallest DCT scale that keeps both sides at or above the
                # request; ask for the aspect-correct size (orientation does not matter, the
                # scale is uniform).
                scale = min(1.0, max_side / max(img.size))
                img.draft("RGB", (max(1, int(img.width * scale)), max(1, int(img.height * scale))))
            img.load()
            if getattr(img, "n_frames", 1) > 1:
                img.seek(0)
            if orientation not in (None, 1):
                img = ImageOps.exif_transpose(img)
            return img.convert("RGB") if img.mode != "RGB" else img
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptMediaError(
            f"The file could not be decoded: {_plain(exc)}.", detail={"reason": str(exc)}
        ) from exc


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.rstrip(".")


def _exif_orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - malformed EXIF is a metadata finding, not a load error
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


def open_checked(fp: IO[bytes] | Path, fmt: Format, settings: Settings) -> Image.Image:
    """Open an image's header (no pixels decoded) and check it against the limits.

    Shared by :func:`load_media` and the API, which checks an upload on disk without reading
    it whole. Raises :class:`CorruptMediaError` or :class:`MediaTooLargeError`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(fp)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        why = "it is not valid" if isinstance(exc, UnidentifiedImageError) else _plain(exc)
        raise CorruptMediaError(
            f"The file looks like {fmt.name.upper()} but its header cannot be read: {why}.",
            detail={"format": fmt.name, "reason": why},
        ) from exc
    w, h = img.size
    if w <= 0 or h <= 0:
        raise CorruptMediaError(f"The {fmt.name.upper()} header declares a {w}x{h} image.")
    if w * h > settings.max_pixels:
        raise MediaTooLargeError(
            f"The image header declares {w}x{h} = {w * h:,} pixels; the limit is "
            f"{settings.max_pixels:,} pixels (refused before decoding).",
            detail={"width": w, "height": h, "max_pixels": settings.max_pixels},
        )
    if max(w, h) > settings.max_side:
        raise MediaTooLargeError(
            f"The image is {w}x{h}; the longest side allowed is {settings.max_side:,} pixels.",
            detail={"width": w, "height": h, "max_side": settings.max_side},
        )
    return img


def load_media(
    data: bytes,
    settings: Settings,
    *,
    name: str | None = None,
    decode: str = "validate",
) -> Media:
    """Identify, check limits and validate one input.

    ``decode`` chooses how much to decode up front for images: ``"validate"`` decodes enough
    to prove the file is readable (the smallest DCT-domain scale for JPEG, everything for other
    formats), ``"full"`` decodes the full-resolution pixels now, ``"none"`` only reads the
    header. Raises :class:`UnsupportedMediaError`, :class:`MediaTooLargeError` or
    :class:`CorruptMediaError` with a message that names the problem.
    """
    if len(data) > settings.max_bytes:
        raise MediaTooLargeError(
            f"The file is {len(data):,} bytes; the limit is {settings.max_bytes:,} bytes.",
            detail={"size_bytes": len(data), "max_bytes": settings.max_bytes},
        )
    fmt = sniff(data[:64])
    media = Media(data=data, format=fmt, sha256=hashlib.sha256(data).hexdigest(), name=name)
    if fmt.kind is MediaKind.VIDEO:
        return media  # container parsing and frame decoding belong to the video detectors
    if fmt.name == "heif" and not HEIF_AVAILABLE:  # pragma: no cover
        raise UnsupportedMediaError("HEIC/HEIF support is not installed (pip install pillow-heif).")

    img = open_checked(io.BytesIO(data), fmt, settings)
    w, h = img.size
    orientation = _exif_orientation(img)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    media.width, media.height, media.orientation = w, h, orientation
    media.frame_count = getattr(img, "n_frames", 1)

    if decode == "full" or (decode == "validate" and fmt.name != "jpeg"):
        media._pixels = _decode(img, orientation, None)
    elif decode == "validate":
        # Decoding at 1/8 scale still entropy-decodes every block, so truncation and corrupt
        # scans are caught at a fraction of a full decode's cost; the result is kept.
        side = max(1, max(w, h) // 8)
        media._reduced[side] = _shrink_if(_decode(img, orientation, side), side)
    return media


def _shrink_if(img: Image.Image, max_side: int) -> Image.Image:
    return _shrink(img, max_side) if max(img.size) > max_side else img


def load_path(path: str | Path, settings: Settings, **kwargs: object) -> Media:
    """Read a file from disk under the byte limit, then :func:`load_media` it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > settings.max_bytes:
            raise MediaTooLargeError(
                f"The file is {size:,} bytes; the limit is {settings.max_bytes:,} bytes.",
                detail={"size_bytes": size, "max_bytes": settings.max_bytes},
            )
        data = path.read_bytes()
    except IsADirectoryError:
        raise UnsupportedMediaError(f"{path} is a directory, not a file.") from None
    except FileNotFoundError:
        raise UnsupportedMediaError(f"{path} does not exist.") from None
    except PermissionError:
        raise UnsupportedMediaError(f"{path} cannot be read (permission denied).") from None
    return load_media(data, settings, name=path.name, **kwargs)  # type: ignore[arg-type]
