"""Embedded text: PNG text chunks, JPEG comments, EXIF UserComment; generators' own records.

Image generators write what made the image into the file: AUTOMATIC1111 and Forge a
``parameters`` text chunk (prompt, steps, sampler, seed, model), ComfyUI its ``prompt`` and
``workflow`` graphs as JSON, NovelAI ``Software: NovelAI`` and a JSON ``Comment``, InvokeAI
``invokeai_metadata``, Midjourney a ``Description`` ending in its job id, and images labelled
under China's AIGC rules an ``AIGC`` record. For JPEG and WebP the same text goes in the EXIF
``UserComment``. Such a record is the generator's own claim that it made the image: nearly
decisive, because nobody adds it by accident, and it is rarely forged (it is stripped far more
often than faked). Its absence says nothing: platforms strip these chunks on upload.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zlib
from typing import Any

from PIL import Image, PngImagePlugin

from detectors.signatures import generator_in
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import EvidenceKind, Finding, Status

#: Decompressed text is capped per chunk, so a zTXt bomb cannot exhaust memory.
MAX_TEXT = 1 << 20
MAX_CHUNKS = 512
PREVIEW = 300
_FORMATS = ("png", "jpeg", "webp")
_STEPS = re.compile(r"Steps: \d+, ")
_A1111_FIELD = re.compile(r"(Steps|Sampler|Schedule type|CFG scale|Seed|Size|Model|Model hash|"
                          r"VAE|Denoising strength|Version): ([^,\n]+)")  # fmt: skip
#: Keys of PNG text records in which a tool names itself (EXIF Software is the exif detector's).
_CLAIM_KEYS = ("software", "source", "generator", "creator", "generated_by")


def _inflate(data: bytes) -> str | None:
    try:
        d = zlib.decompressobj()
        out = d.decompress(data, MAX_TEXT)
    except zlib.error:
        return None
    return out.decode("utf-8", "replace")


def png_text(data: bytes) -> list[dict[str, Any]]:
    """Every tEXt, zTXt and iTXt chunk of a PNG, by walking the chunk list (no pixel decode)."""
    chunks: list[dict[str, Any]] = []
    i, n = 8, len(data)
    while i + 8 <= n and len(chunks) < MAX_CHUNKS:
        (length,) = struct.unpack(">I", data[i : i + 4])
        ctype = data[i + 4 : i + 8]
        body = data[i + 8 : i + 8 + length]
        i += 12 + length
        if ctype == b"IEND":
            break
        if ctype not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        key, _, rest = body.partition(b"\x00")
        text: str | None
        if ctype == b"tEXt":
            text = rest[:MAX_TEXT].decode("latin-1")
        elif ctype == b"zTXt":
            text = _inflate(rest[1:])
        else:
            if len(rest) < 2:
                continue
            compressed, payload = rest[0], rest[2:]
            _lang, _, payload = payload.partition(b"\x00")
            _translated, _, payload = payload.partition(b"\x00")
            text = (
                _inflate(payload) if compressed else payload[:MAX_TEXT].decode("utf-8", "replace")
            )
        if text is None:
            continue
        chunks.append(
            {"key": key.decode("latin-1", "replace")[:79], "chunk": ctype.decode(), "text": text}
        )
    return chunks


def jpeg_comments(data: bytes) -> list[dict[str, Any]]:
    """COM segments of a JPEG's header (up to the first scan)."""
    out: list[dict[str, Any]] = []
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in (0xDA, 0xD9):
            break
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker == 0xFE:
            text = data[i + 4 : i + 2 + length].decode("utf-8", "replace").rstrip("\x00")[:MAX_TEXT]
            out.append({"key": "Comment", "chunk": "COM", "text": text})
        i += 2 + length
    return out


def _user_comment(raw: Any) -> str | None:
    if isinstance(raw, bytes):
        head, body = raw[:8], raw[8:]
        if head.startswith(b"UNICODE"):
            # A1111 writes UTF-16 big-endian via piexif; some tools write little-endian.
            enc = "utf-16-le" if body[:1] != b"\x00" and body[1:2] == b"\x00" else "utf-16-be"
            return body.decode(enc, "replace").rstrip("\x00")
        return (
            body.decode("utf-8", "replace").rstrip("\x00")
            if head[:5]
            in (
                b"ASCII",
                b"\x00\x00\x00\x00\x00",
            )
            else raw.decode("utf-8", "replace").rstrip("\x00")
        )
    return str(raw).rstrip("\x00") if raw else None


def exif_text(media: Media) -> list[dict[str, Any]]:
    """EXIF UserComment and ImageDescription, where JPEG and WebP generators write."""
    try:
        exif = media.open_image().getexif()
        sub = exif.get_ifd(0x8769)
    except Exception:  # noqa: BLE001 - malformed EXIF is the exif detector's business
        return []
    out = []
    comment = (_user_comment(sub.get(0x9286)) or "")[:MAX_TEXT]
    if comment and comment.strip():
        out.append({"key": "UserComment", "chunk": "EXIF", "text": comment})
    value = exif.get(0x010E)  # ImageDescription; Software and Make are the exif detector's
    if isinstance(value, str) and value.strip("\x00 "):
        out.append({"key": "ImageDescription", "chunk": "EXIF", "text": value.rstrip("\x00")})
    return out


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _settings_line(text: str) -> str | None:
    """AUTOMATIC1111's last line: ``Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, ...``.

    Checked line by line (linear time, whatever the text holds).
    """
    for line in text.splitlines():
        if _STEPS.match(line) and any(k in line for k in ("Sampler:", "CFG scale:", "Seed:")):
            return line
    return None


def recognise(chunks: list[dict[str, Any]]) -> tuple[str, str, dict[str, Any]] | None:
    """(generator, what was found, extracted fields) for the first generator record found."""
    by_key = {c["key"].lower(): c["text"] for c in chunks}
    for key in ("parameters", "usercomment"):
        line = _settings_line(by_key.get(key) or "")
        if line:
            fields = dict(_A1111_FIELD.findall(line))
            text = by_key[key]
            prompt = text.split("\nNegative prompt:")[0].split("\nSteps:")[0].strip()
            fields["prompt"] = prompt[:PREVIEW]
            return (
                "Stable Diffusion (AUTOMATIC1111/Forge-style parameters)",
                f"a '{key}' record with the prompt and the generation settings",
                fields,
            )
    for key in ("prompt", "workflow"):
        graph = _json(by_key.get(key, ""))
        if isinstance(graph, dict) and (
            "nodes" in graph
            or any(isinstance(v, dict) and "class_type" in v for v in graph.values())
        ):
            nodes = graph.values() if "nodes" not in graph else graph.get("nodes", [])
            ckpts = sorted({
                str(v.get("inputs", {}).get("ckpt_name"))
                for v in nodes if isinstance(v, dict) and isinstance(v.get("inputs"), dict)
                and v["inputs"].get("ckpt_name")
            })  # fmt: skip
            return (
                "ComfyUI",
                f"a ComfyUI '{key}' graph (JSON)",
                {"nodes": len(graph.get("nodes", graph)), "checkpoints": ckpts[:10]},
            )
    comment = _json(by_key.get("comment", ""))
    nai_comment = isinstance(comment, dict) and {"steps", "sampler"} <= set(comment)
    if nai_comment or by_key.get("software", "").strip().lower() == "novelai":
        fields = (
            {k: comment.get(k) for k in ("steps", "sampler", "seed", "scale")}
            if (nai_comment and isinstance(comment, dict))
            else {}
        )
        fields["source"] = by_key.get("source", "")[:PREVIEW]
        return "NovelAI", "NovelAI's Software/Comment records", fields
    for key in ("invokeai_metadata", "invokeai_graph", "sd-metadata", "dream"):
        if key in by_key:
            return "InvokeAI", f"an '{key}' record", {"preview": by_key[key][:PREVIEW]}
    if "fooocus_scheme" in by_key:
        return "Fooocus", "a 'fooocus_scheme' record", {}
    if "aigc" in by_key:
        return (
            "an AI generator (AIGC label)",
            "an 'AIGC' record (the label China's rules require on generated content)",
            {"aigc": by_key["aigc"][:PREVIEW]},
        )
    description = by_key.get("description", "")
    if re.search(r"Job ID: [0-9a-f-]{36}", description):
        return (
            "Midjourney",
            "a Description ending in a Midjourney job id",
            {"prompt": description[:PREVIEW]},
        )
    for key in _CLAIM_KEYS:
        name = generator_in(by_key.get(key))
        if name:
            return name, f"a '{key}' record naming {name}", {key: by_key[key][:PREVIEW]}
    return None


class TextChunks(Detector):
    name = "text_chunks"
    version = "1.0.0"
    description = (
        "PNG text chunks, JPEG comments and EXIF UserComment: generators' own records "
        "(Stable Diffusion parameters, ComfyUI, NovelAI, InvokeAI, Midjourney, AIGC labels)."
    )
    evidence_kind = EvidenceKind.SYNTHESIS

    @classmethod
    def get_examples(cls) -> list[Example]:
        img = Image.new("RGB", (64, 48), (90, 120, 150))

        def png(**text: str) -> bytes:
            info = PngImagePlugin.PngInfo()
            for key, value in text.items():
                info.add_text(key, value, zip=key == "workflow")
            buf = io.BytesIO()
            img.save(buf, "PNG", pnginfo=info)
            return buf.getvalue()

        comfy = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}})
        return [
            Example("PNG without text", png(), Status.OK),
            Example("PNG with a title only", png(Title="Holiday"), Status.OK),
            Example(
                "Stable Diffusion parameters",
                png(parameters="a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1"),
                Status.OK,
                0.9,
            ),
            Example("ComfyUI prompt graph", png(prompt=comfy), Status.OK, 0.9),
            Example("NovelAI", png(Software="NovelAI", Source="NovelAI Diffusion"), Status.OK, 0.9),
        ]

    def analyze(self, media: Media) -> Finding:
        fmt = media.format.name
        if fmt not in _FORMATS:
            return self.skip(f"Text records are read from PNG, JPEG and WebP; this is {fmt}.")
        chunks: list[dict[str, Any]] = []
        if fmt == "png":
            chunks += png_text(media.data)
        elif fmt == "jpeg":
            chunks += jpeg_comments(media.data)
        if fmt in ("jpeg", "webp", "png"):
            chunks += exif_text(media)
        listed = [
            {"key": c["key"], "chunk": c["chunk"], "length": len(c["text"]),
             "preview": c["text"][:PREVIEW]}
            for c in chunks
        ]  # fmt: skip
        evidence: dict[str, Any] = {"records": listed}
        found = recognise(chunks)
        if found:
            generator, what, fields = found
            evidence.update(generator=generator, generator_fields=fields)
            return self.ok(
                score=0.95,
                weight=0.9,
                summary=f"The file carries {what}, written by {generator}: the generator's own "
                "record that it made this image.",
                evidence=evidence,
            )
        if not chunks:
            return self.informational(
                summary="No embedded text records. Platforms strip them on upload, so their "
                "absence says nothing about how the image was made.",
                evidence=evidence,
            )
        keys = ", ".join(sorted({c["key"] for c in chunks}))
        return self.informational(
            summary=f"Embedded text records ({keys}) name no image generator.",
            evidence=evidence,
        )
