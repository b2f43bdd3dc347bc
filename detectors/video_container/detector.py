"""Video containers: encoder and handler names, creation time, streams, camera atoms.

Read with PyAV (FFmpeg's demuxers; no frame is decoded). Phones and cameras write their own
metadata: Apple ``com.apple.quicktime.make/model/software/creationdate`` and the handler name
``Core Media Video``; Android ``com.android.version`` and ``VideoHandle``. FFmpeg (which most
platforms, converters and editors use) writes ``encoder: Lavf...`` and the handler names
``VideoHandler``/``SoundHandler``. So:

- an AI video tool named in the metadata is the tool's own claim of synthesis (strong);
- a video editor named (Premiere, Final Cut, CapCut, InShot, DaVinci Resolve...): edited and
  exported, moderate evidence of editing (the edit may be a trim);
- a file that claims a phone or camera but carries FFmpeg's fingerprints was re-encoded or
  re-muxed after capture (moderate);
- FFmpeg's fingerprints and no camera metadata: processed by a tool or platform (weak: nearly
  every shared video is);
- a file that claims a vendor (by keys, handler names or user-data atoms) but lacks atoms that
  vendor's camera software always writes (``vendors.json``: Apple, Android, GoPro, DJI) was
  re-muxed or re-encoded by other software, or the claim was added (weak to moderate);
- camera atoms and nothing else: weak evidence of an unprocessed original (easy to copy).

FFmpeg's demuxers refuse the parser-abuse fixture (1,000 nested ``moov`` boxes) in about 10 ms
(measured), so they run in-process under the pipeline's time limit.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

from detectors.signatures import generator_in
from verifier.detector import Detector, Example
from verifier.media import Media, MediaKind
from verifier.report import EvidenceKind, Finding, Status

try:
    import av

    AV_AVAILABLE = True
except ImportError:  # pragma: no cover - declared dependency; keep the failure readable
    AV_AVAILABLE = False

VIDEO_EDITORS = re.compile(
    r"premiere|after effects|final cut|imovie|capcut|inshot|davinci|resolve|kinemaster|"
    r"filmora|shotcut|kdenlive|openshot|vegas|handbrake|vn video|splice|videoleap|"
    r"adobe media encoder|camtasia|clipchamp|movavi|lumafusion",
    re.IGNORECASE,
)
_FFMPEG = re.compile(r"^(?:Lav[fc]\d|libav|ffmpeg)", re.IGNORECASE)
_FFMPEG_HANDLERS = {"VideoHandler", "SoundHandler"}
_CAMERA_KEYS = (
    "com.apple.quicktime.make", "com.apple.quicktime.model", "com.android.version",
    "com.android.manufacturer", "com.android.model", "make", "model",
)  # fmt: skip
_TEXT_KEYS = ("encoder", "comment", "description", "title", "software", "artist", "copyright",
              "com.apple.quicktime.software", "synopsis")  # fmt: skip


MAX_BOXES = 10_000
VENDORS = Path(__file__).with_name("vendors.json")


class _Boxes:
    """A bounded ISO-BMFF/QuickTime box walker: at most MAX_BOXES boxes per file, in total."""

    def __init__(self, data: bytes) -> None:
        self.data, self.count = data, 0

    def __call__(self, start: int, end: int):
        data, i = self.data, start
        while i + 8 <= end and self.count < MAX_BOXES:
            self.count += 1
            size, kind = struct.unpack(">I4s", data[i : i + 8])
            header = 8
            if size == 1 and i + 16 <= end:
                size, header = struct.unpack(">Q", data[i + 8 : i + 16])[0], 16
            elif size == 0:
                size = end - i
            if size < header or i + size > end:
                return
            yield kind, i + header, i + size
            i += size

    def child(self, start: int, end: int, *path: bytes) -> tuple[int, int] | None:
        for name in path:
            found = next(((b, e) for k, b, e in self(start, end) if k == name), None)
            if found is None:
                return None
            start, end = found
        return start, end


def track_rotations(data: bytes) -> list[int]:
    """Clockwise display rotation (degrees) of each track (``moov/trak/tkhd`` matrix).

    A bounded walk (three levels, at most 10,000 boxes), so nested-box abuse costs nothing.
    Phones store portrait video as landscape frames plus a 90 degree matrix.
    """
    rotations: list[int] = []
    boxes = _Boxes(data)
    for kind, body, end in boxes(0, len(data)):
        if kind != b"moov":
            continue
        for tkind, tbody, tend in boxes(body, end):
            if tkind != b"trak":
                continue
            for hkind, hbody, hend in boxes(tbody, tend):
                if hkind != b"tkhd" or hend - hbody < 84:
                    continue
                offset = hbody + (32 if data[hbody] == 1 else 20) + 4 + 8 + 8
                if offset + 36 > hend:
                    continue
                a, b = struct.unpack(">ii", data[offset : offset + 8])
                rotations.append(round(math.degrees(math.atan2(b, a))) % 360)
    return rotations


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def container_atoms(data: bytes) -> dict[str, Any]:
    """The atoms that tell who wrote the file, by a bounded walk of the box tree.

    File type brands, the children of ``moov`` and ``moov/udta``, the ``mdta`` key names of
    ``moov/meta/keys`` (Apple's and Android's metadata), and per track its handler type and
    name (``mdia/hdlr``) and sample format (``stsd``). FFmpeg's tags do not show user-data
    atoms it does not know (GoPro's ``FIRM``), nor the handler of a timed-metadata track.
    """
    boxes = _Boxes(data)
    out: dict[str, Any] = {"brands": [], "moov": [], "udta": [], "keys": [], "tracks": []}
    moov = None
    for kind, body, end in boxes(0, len(data)):
        if kind == b"ftyp" and end - body >= 8:
            out["brands"] = [_fourcc(data[body : body + 4])] + [
                _fourcc(data[j : j + 4]) for j in range(body + 8, end - 3, 4)
            ]
        elif kind == b"moov" and moov is None:
            moov = (body, end)
    if moov is None:
        return out
    for kind, body, end in boxes(*moov):
        out["moov"].append(_fourcc(kind))
        if kind == b"udta":
            out["udta"] += [_fourcc(k) for k, _, _ in boxes(body, end)]
        elif kind == b"meta":
            out["keys"] += _meta_keys(data, boxes, body, end)
        elif kind == b"trak":
            out["tracks"].append(_track(data, boxes, body, end))
    return out


def _meta_keys(data: bytes, boxes: _Boxes, body: int, end: int) -> list[str]:
    # QuickTime's 'meta' is a plain box; ISO's is a full box (4 bytes of version and flags).
    if data[body + 4 : body + 8] not in (b"hdlr", b"keys", b"ilst"):
        body += 4
    keys = boxes.child(body, end, b"keys")
    if keys is None or keys[1] - keys[0] < 8:
        return []
    names, j = [], keys[0] + 8
    (count,) = struct.unpack(">I", data[keys[0] + 4 : keys[0] + 8])
    for _ in range(min(count, 1000)):
        if j + 8 > keys[1]:
            break
        (size,) = struct.unpack(">I", data[j : j + 4])
        if size < 8 or j + size > keys[1]:
            break
        names.append(data[j + 8 : j + size].decode("utf-8", "replace"))
        j += size
    return names


def _track(data: bytes, boxes: _Boxes, body: int, end: int) -> dict[str, str | None]:
    track: dict[str, str | None] = {"handler_type": None, "handler_name": None, "format": None}
    mdia = boxes.child(body, end, b"mdia")
    if mdia is None:
        return track
    hdlr = boxes.child(*mdia, b"hdlr")
    if hdlr and hdlr[1] - hdlr[0] >= 24:
        track["handler_type"] = _fourcc(data[hdlr[0] + 8 : hdlr[0] + 12])
        raw = data[hdlr[0] + 24 : hdlr[1]]
        # QuickTime writes a counted (Pascal) string, MP4 a NUL-terminated one.
        if raw and (raw[0] == len(raw) - 1 or 0 < raw[0] < min(32, len(raw))):
            raw = raw[1 : 1 + raw[0]]
        track["handler_name"] = raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
    stsd = boxes.child(*mdia, b"minf", b"stbl", b"stsd")
    if stsd and stsd[1] - stsd[0] >= 16:
        track["format"] = _fourcc(data[stsd[0] + 12 : stsd[0] + 16])
    return track


@functools.cache
def load_vendors() -> list[dict[str, Any]]:
    return json.loads(VENDORS.read_text())["vendors"]


def vendor_expectations(atoms: dict[str, Any], meta: dict[str, str]) -> dict[str, Any] | None:
    """The vendor the file claims (keys, handler names, user data) and what it lacks of it.

    ``meta`` is FFmpeg's container tags (it maps ``udta`` make/model and ``mdta`` keys there).
    """
    handlers = [t["handler_name"] or "" for t in atoms["tracks"]]
    present = (
        {f"brand:{atoms['brands'][0]}"} if atoms["brands"] else set()
    ) | {f"key:{k}" for k in atoms["keys"]} | {f"key:{k}" for k in meta} | {
        f"handler:{h}" for h in handlers
    } | {f"udta:{u}" for u in atoms["udta"]} | {
        f"sample:{t['format']}" for t in atoms["tracks"] if t["format"]
    }  # fmt: skip
    for vendor in load_vendors():
        claim = vendor["claimed_by"]
        why = [f"{k}={meta[k]!r}" for k, rx in claim.get("keys", {}).items()
               if meta.get(k) and re.search(rx, meta[k], re.IGNORECASE)]  # fmt: skip
        why += [f"handler {h!r}" for h in handlers
                if any(re.search(rx, h) for rx in claim.get("handlers", []))]  # fmt: skip
        why += [f"user-data atom {u}" for u in claim.get("udta", []) if u in atoms["udta"]]
        if not why:
            continue
        # A handler name says which framework wrote the file (any app on that platform), not
        # that a camera recorded it; metadata keys and user-data atoms claim the device.
        by_metadata = any(not w.startswith("handler ") for w in why)
        expected = [e for e in vendor["expects"]]
        missing = [e for e in expected if e["atom"] not in present]
        return {
            "vendor": vendor["name"],
            "claimed_by": why,
            "claim": "device metadata" if by_metadata else "handler name only",
            "expected": [e["what"] for e in expected],
            "missing_always": [e["what"] for e in missing if e["always"]],
            "missing_usually": [e["what"] for e in missing if not e["always"]],
            "sources": vendor["sources"],
        }
    return None


def probe(data: bytes) -> dict[str, Any]:
    """Container and stream facts (raises av.FFmpegError on files FFmpeg cannot parse)."""
    with av.open(io.BytesIO(data), metadata_errors="ignore") as c:
        info: dict[str, Any] = {
            "container": c.format.name,
            "duration_s": round(c.duration / 1_000_000, 3) if c.duration else None,
            "bit_rate": c.bit_rate or None,
            "metadata": {str(k): str(v)[:300] for k, v in c.metadata.items()},
            "streams": [],
        }
        for s in c.streams:
            cc = s.codec_context
            entry: dict[str, Any] = {
                "type": s.type,
                "codec": cc.name if cc else None,
                "metadata": {str(k): str(v)[:300] for k, v in s.metadata.items()},
            }
            if s.type == "video" and cc is not None:
                entry.update(
                    width=cc.width,
                    height=cc.height,
                    pixel_format=cc.pix_fmt,
                    profile=cc.profile,
                    frame_rate=float(s.average_rate) if s.average_rate else None,
                    frames=s.frames or None,
                )
            info["streams"].append(entry)
    return info


class VideoContainer(Detector):
    name = "video_container"
    version = "1.1.0"
    description = (
        "Video container metadata (PyAV): encoder and handler names, creation time, streams, "
        "camera atoms (per-vendor expectations: Apple, Android, GoPro, DJI), re-encoding and "
        "editor traces."
    )
    media_kinds = frozenset({MediaKind.VIDEO})

    @classmethod
    def get_examples(cls) -> list[Example]:
        return [
            Example("ffmpeg encode", make_video({"comment": "test"}), Status.OK),
            Example(
                "phone claim, ffmpeg encode",
                make_video({"make": "Apple", "model": "iPhone 15"}),
                Status.OK,
                0.6,
            ),
            Example("edited in CapCut", make_video({"software": "CapCut 12.1"}), Status.OK, 0.6),
            Example(
                "GoPro claim without GoPro's firmware atom",
                make_video({"make": "GoPro"}, handler="GoPro AVC", bitexact=True),
                Status.OK,
                0.6,
                0.6,
            ),
        ]

    def analyze(self, media: Media) -> Finding:
        if not AV_AVAILABLE:  # pragma: no cover
            return self.skip("PyAV is not installed (pip install av).")
        try:
            info = probe(media.data)
        except av.FFmpegError as exc:
            return self.skip(f"FFmpeg cannot parse this container ({exc}).")
        if self.settings.redact_gps:
            for m in [info["metadata"], *(st["metadata"] for st in info["streams"])]:
                for key in [k for k in m if "location" in k.lower() or "gps" in k.lower()]:
                    m[key] = "redacted (VERIFIER_REDACT_GPS)"
        meta = info["metadata"]
        stream_meta = [s["metadata"] for s in info["streams"]]
        all_meta = [meta, *stream_meta]
        evidence: dict[str, Any] = dict(info)
        encoders = sorted({m["encoder"] for m in all_meta if m.get("encoder")})
        handlers = sorted({m["handler_name"].strip("\x1f ") for m in all_meta
                           if m.get("handler_name")})  # fmt: skip
        creation = meta.get("com.apple.quicktime.creationdate") or meta.get("creation_time")
        camera = {k: meta[k] for k in _CAMERA_KEYS if meta.get(k)}
        evidence.update(encoders=encoders, handlers=handlers, creation_time=creation)
        if media.format.name in ("mp4", "mov"):
            evidence["track_rotations_cw_deg"] = track_rotations(media.data)
            atoms = container_atoms(media.data)
            evidence["atoms"] = atoms
            vendor = vendor_expectations(atoms, meta)
        else:
            vendor = None
        if vendor:
            evidence["vendor_check"] = vendor
        missing = vendor["missing_always"] if vendor else []
        handler_only = bool(vendor) and vendor["claim"] == "handler name only"
        if camera:
            evidence["camera"] = camera
        texts = [m.get(k, "") for m in all_meta for k in _TEXT_KEYS]
        ffmpeg = [e for e in encoders if _FFMPEG.match(e)] + [
            f"handler {h}" for h in handlers if h in _FFMPEG_HANDLERS
        ]
        if meta.get("software", "").startswith("Lavf"):
            ffmpeg.append(meta["software"])
        if any(m.get("vendor_id") == "FFMP" for m in stream_meta):
            ffmpeg.append("sample vendor FFMP")
        evidence["ffmpeg_traces"] = ffmpeg
        ai = next((g for g in map(generator_in, texts) if g), None)
        if ai:
            return self.ok(
                score=0.9,
                weight=0.75,
                summary=f"The video's metadata names an AI video tool ({ai}): the tool's own "
                "claim that it made the video.",
                evidence=evidence,
                evidence_kind=EvidenceKind.SYNTHESIS,
            )
        editor = next((m.group(0) for t in texts if (m := VIDEO_EDITORS.search(t))), None)
        if editor:
            return self.ok(
                score=0.65,
                weight=0.25,
                summary=f"The video's metadata names a video editor or converter ({editor}): "
                "it was edited or exported after capture (the edit may be only a trim).",
                evidence=evidence,
            )
        who = " ".join(dict.fromkeys(camera.values())) if camera else ""
        if vendor and not who:
            who = ", ".join(vendor["claimed_by"])
        lacks = (
            f" It also lacks what the camera software of {vendor['vendor']} always writes: "
            f"{'; '.join(missing)}."
            if missing
            else ""
        )
        if (camera or vendor) and ffmpeg:
            return self.ok(
                score=0.65,
                weight=0.25,
                summary=f"The video claims to come from a camera or phone ({who}) but carries "
                f"FFmpeg's traces ({', '.join(ffmpeg)}): it was re-encoded or re-muxed after "
                f"capture.{lacks}",
                evidence=evidence,
            )
        if missing and not handler_only:
            return self.ok(
                score=0.6,
                weight=0.2 if len(missing) >= 2 else 0.15,
                summary=f"The video claims to come from {vendor['vendor']} ({who}), but lacks "
                f"what that vendor's camera software always writes: {'; '.join(missing)}. "
                "Re-muxed or re-encoded by other software after capture, or the claim was "
                "added to a file from elsewhere (weak to moderate evidence: an export or a "
                "platform's processing is enough).",
                evidence=evidence,
            )
        if ffmpeg:
            return self.ok(
                score=0.55,
                weight=0.1,
                summary=f"Written by FFmpeg ({', '.join(ffmpeg)}) with no camera metadata: "
                "processed by a tool or platform, as nearly every shared video is; weak "
                "evidence on its own.",
                evidence=evidence,
            )
        if vendor and handler_only and missing:
            return self.informational(
                summary=f"Written by the media framework of {vendor['vendor']} ({who}) without "
                f"what its camera recordings carry ({'; '.join(missing)}): an export, a screen "
                "recording or an app's re-encode on that platform. No device is claimed, so "
                "this is not scored.",
                evidence=evidence,
            )
        if camera or vendor:
            return self.ok(
                score=0.4,
                weight=0.1,
                summary=f"Camera metadata ({who}) with what that camera software writes, and no "
                "trace of re-encoding or editing. Metadata is easy to copy, so this is only "
                "weak evidence of an original.",
                evidence=evidence,
            )
        names = ", ".join(encoders + handlers) or "no encoder or handler names"
        return self.informational(
            summary=f"{info['container']} container ({names}); no camera metadata, which most "
            "platforms strip, so its absence says little.",
            evidence=evidence,
        )


def make_video(
    metadata: dict[str, str],
    frames: int = 3,
    rotation: int | None = None,
    *,
    fmt: str = "mp4",
    handler: str | None = None,
    bitexact: bool = False,
    user_data: dict[str, bytes] | None = None,
) -> bytes:
    """A tiny video written by PyAV (FFmpeg) with the given container metadata and rotation.

    ``handler`` names the video track's handler, ``bitexact`` leaves out FFmpeg's ``encoder``
    tag, and ``user_data`` adds raw ``moov/udta`` atoms (fourcc -> payload): enough to imitate
    what a phone or camera writes, for tests and examples.
    """
    import numpy as np

    buf = io.BytesIO()
    with av.open(
        buf,
        "w",
        format=fmt,
        options={"movflags": "use_metadata_tags"},
        container_options={"fflags": "+bitexact"} if bitexact else None,
    ) as out:
        for k, v in metadata.items():
            out.metadata[k] = v
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        if handler:
            stream.metadata["handler_name"] = handler
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            arr = np.full((32, 32, 3), 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = buf.getvalue()
    return _add_user_data(data, user_data) if user_data else data


def _add_user_data(data: bytes, atoms: dict[str, bytes]) -> bytes:
    """Append atoms to ``moov/udta``. FFmpeg writes ``moov`` after ``mdat``, so no offset moves."""
    boxes = _Boxes(data)
    moov = next((b - 8, e) for k, b, e in boxes(0, len(data)) if k == b"moov")
    assert moov[1] == len(data), "moov must be the last box"
    extra = b"".join(struct.pack(">I", 8 + len(v)) + k.encode("latin-1") + v
                     for k, v in atoms.items())  # fmt: skip
    udta = next(((b - 8, e) for k, b, e in boxes(moov[0] + 8, moov[1]) if k == b"udta"), None)
    if udta is None:
        extra = struct.pack(">I", 8 + len(extra)) + b"udta" + extra
        udta_fixed = data[moov[0] :]
    else:
        (size,) = struct.unpack(">I", data[udta[0] : udta[0] + 4])
        udta_fixed = (
            data[moov[0] : udta[0]]
            + struct.pack(">I", size + len(extra))
            + data[udta[0] + 4 : udta[1]]
            + extra
            + data[udta[1] :]
        )
        extra = b""
    body = udta_fixed + extra
    return data[: moov[0]] + struct.pack(">I", len(body)) + body[4:]
