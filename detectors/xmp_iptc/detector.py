"""XMP and IPTC: creator tools, edit history, and the IPTC digital source type.

XMP is an XML packet that editors (Photoshop, Lightroom, GIMP, Affinity...) and more and more
generators write into JPEG, PNG, WebP, TIFF and HEIF files; IPTC-IIM is the older newsroom
record in a JPEG's Photoshop (APP13) segment. What they say:

- ``Iptc4xmpExt:DigitalSourceType`` is the IPTC vocabulary that Adobe, Google, Meta, OpenAI and
  Midjourney use to label content: ``trainedAlgorithmicMedia`` (made by a generative model) and
  ``compositeWithTrainedAlgorithmicMedia`` (partly) are the publisher's own declaration of
  synthesis; ``digitalCapture`` a claim of capture (easy to forge, so weak);
- ``xmp:CreatorTool`` and the ``xmpMM:History`` events (action, software, time, what changed)
  name the tools that saved the file: an editor is moderate evidence of editing (it may be a
  crop or a colour fix), an AI tool is strong evidence of synthesis.

XML is parsed with the standard library's expat parser, which refuses entity-expansion bombs;
packets larger than 4 MB are not parsed.
"""

from __future__ import annotations

import hashlib
import io
import struct
import xml.etree.ElementTree as ET
from typing import Any

from PIL import Image, IptcImagePlugin

from detectors.signatures import editor_in, generator_in
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import EvidenceKind, Finding, Status

MAX_PACKET = 4 << 20
_STARTS = (b"<x:xmpmeta", b"<x:xapmeta")
NS = {
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/xap/1.0/sType/ResourceRef#": "stRef",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/": "Iptc4xmpCore",
    "http://ns.adobe.com/camera-raw-settings/1.0/": "crs",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://ns.google.com/photos/1.0/camera/": "GCamera",
    "http://ns.useplus.org/ldf/xmp/1.0/": "plus",
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_WANTED = {
    "xmp:CreatorTool", "xmp:CreateDate", "xmp:ModifyDate", "xmp:MetadataDate",
    "xmpMM:DocumentID", "xmpMM:OriginalDocumentID", "xmpMM:InstanceID",
    "Iptc4xmpExt:DigitalSourceType", "Iptc4xmpExt:DigitalSourceFileType", "dc:creator",
    "dc:rights", "dc:description", "dc:title", "photoshop:Credit", "photoshop:Source",
    "photoshop:DateCreated", "photoshop:History", "plus:DataMining",
}  # fmt: skip
#: IPTC NewsCodes digital source types -> (score, weight, kind, plain words).
SOURCE_TYPES: dict[str, tuple[float, float, EvidenceKind, str]] = {
    "trainedAlgorithmicMedia": (0.95, 0.9, EvidenceKind.SYNTHESIS, "made by a generative AI model"),
    "compositeWithTrainedAlgorithmicMedia": (
        0.9, 0.8, EvidenceKind.SYNTHESIS, "a composite that includes generative-AI elements"),
    "algorithmicMedia": (
        0.75, 0.4, EvidenceKind.SYNTHESIS, "made by an algorithm (not a trained model)"),
    "compositeSynthetic": (
        0.8, 0.5, EvidenceKind.MANIPULATION, "a composite with synthetic elements"),
    "composite": (0.7, 0.3, EvidenceKind.MANIPULATION, "a composite of several images"),
    "compositeCapture": (0.7, 0.3, EvidenceKind.MANIPULATION, "a composite of captures"),
    "humanEdits": (0.65, 0.25, EvidenceKind.MANIPULATION, "captured, then edited by a person"),
    "algorithmicallyEnhanced": (
        0.6, 0.15, EvidenceKind.MANIPULATION, "captured, then enhanced by an algorithm"),
    "minorHumanEdits": (0.45, 0.1, EvidenceKind.MANIPULATION, "captured with minor edits"),
    "digitalCapture": (0.4, 0.1, EvidenceKind.MANIPULATION, "a digital capture (claimed)"),
    "computationalCapture": (0.4, 0.1, EvidenceKind.MANIPULATION, "a computational capture"),
}  # fmt: skip
IIM_FIELDS = {
    (2, 5): "object_name", (2, 55): "date_created", (2, 60): "time_created",
    (2, 65): "originating_program", (2, 70): "program_version", (2, 80): "byline",
    (2, 110): "credit", (2, 115): "source", (2, 116): "copyright", (2, 120): "caption",
}  # fmt: skip


def find_packets(data: bytes, limit: int = 8) -> list[bytes]:
    """XMP packets anywhere in the file (they are stored as plain text in every format).

    Plain ``find`` calls, one pass over the file: a regex with a lazy ``.*?`` would go
    quadratic on a file full of opening tags and no closing one.
    """
    packets: list[bytes] = []
    for start_tag in _STARTS:
        end_tag = b"</" + start_tag[1:] + b">"
        i = 0
        while len(packets) < limit:
            start = data.find(start_tag, i)
            if start < 0:
                break
            end = data.find(end_tag, start)
            if end < 0:
                break
            packets.append(data[start : end + len(end_tag)])
            i = end
    return packets


_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"


def jpeg_extended_xmp(data: bytes) -> tuple[bytes, list[dict[str, Any]], list[bytes]]:
    """Reassemble JPEG Extended XMP (XMP Specification Part 3, 1.1.3.1).

    XMP too large for one 64 KB APP1 segment is split: the main packet names the rest with
    ``xmpNote:HasExtendedXMP`` (a GUID), and each extension segment carries the GUID (the
    MD5 of the full extension, 32 hex digits), the full length, its offset and a chunk.
    Returns the file with the extension segments cut out (so the plain packet search does not
    stitch chunks across segment headers), a description of each extension (GUID, length,
    chunks, whether it is complete and its MD5 matches), and the complete ones' packets.
    """
    if data[:2] != b"\xff\xd8":
        return data, [], []
    chunks: dict[bytes, dict[str, Any]] = {}
    keep, i, n, last = [], 2, len(data), 0
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker in (0xD9, 0xDA):
            break
        if marker == 0xFF or marker == 0xD8 or 0xD0 <= marker <= 0xD7:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        body = data[i + 4 : i + 2 + length]
        if marker == 0xE1 and body.startswith(_EXT_ID) and len(body) >= len(_EXT_ID) + 40:
            head = len(_EXT_ID)
            guid = body[head : head + 32]
            full, offset = struct.unpack(">II", body[head + 32 : head + 40])
            ext = chunks.setdefault(guid, {"full_length": full, "parts": {}})
            if len(ext["parts"]) < 1000:
                ext["parts"][offset] = body[head + 40 :]
            keep.append(data[last:i])
            last = i + 2 + length
        i += 2 + length
    if not chunks:
        return data, [], []
    keep.append(data[last:])
    described, packets = [], []
    for guid, ext in chunks.items():
        full, parts = ext["full_length"], ext["parts"]
        info: dict[str, Any] = {
            "guid": guid.decode("latin-1"),
            "full_length": full,
            "chunks": len(parts),
        }
        if full > MAX_PACKET:
            info["complete"] = False
            info["problem"] = f"declared length {full:,} bytes is over the 4 MB limit"
            described.append(info)
            continue
        buf, pos = bytearray(), 0
        for offset in sorted(parts):
            if offset != pos:
                break
            buf += parts[offset]
            pos = len(buf)
        info["complete"] = len(buf) == full
        if info["complete"]:
            info["md5_matches_guid"] = (
                hashlib.md5(bytes(buf), usedforsecurity=False).hexdigest().upper()
                == info["guid"].upper()
            )
            packets.append(bytes(buf))
        else:
            info["problem"] = f"chunks cover {len(buf):,} of {full:,} bytes"
        described.append(info)
    return b"".join(keep), described, packets


def _key(tag: str) -> str:
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return f"{NS.get(uri, uri)}:{local}"
    return tag


def _value(el: ET.Element) -> str | list[str] | None:
    items = [li.text.strip() for li in el.iter(f"{_RDF}li") if li.text and li.text.strip()]
    if items:
        return items if len(items) > 1 else items[0]
    res = el.get(f"{_RDF}resource")
    if res:
        return res
    return el.text.strip() if el.text and el.text.strip() else None


def parse_xmp(packet: bytes) -> dict[str, Any]:
    """Wanted properties (attributes or elements) and the xmpMM:History events."""
    root = ET.fromstring(packet)
    props: dict[str, Any] = {}
    history: list[dict[str, str]] = []
    for desc in root.iter(f"{_RDF}Description"):
        for attr, value in desc.attrib.items():
            key = _key(attr)
            if key in _WANTED:
                props.setdefault(key, value)
        for child in desc:
            key = _key(child.tag)
            if key == "xmpMM:History":
                for li in child.iter(f"{_RDF}li"):
                    event = {_key(k).split(":")[-1]: v for k, v in li.attrib.items()}
                    for sub in li:
                        if sub.text and sub.text.strip():
                            event[_key(sub.tag).split(":")[-1]] = sub.text.strip()
                    event.pop("parseType", None)
                    if event:
                        history.append(event)
            elif key in _WANTED:
                value = _value(child)
                if value is not None:
                    props.setdefault(key, value)
            elif key.startswith("crs:"):
                props["camera_raw_settings"] = True
    if history:
        props["xmpMM:History"] = history[:100]
    return props


def read_iim(media: Media) -> dict[str, Any]:
    try:
        info = IptcImagePlugin.getiptcinfo(media.open_image()) or {}
    except Exception:  # noqa: BLE001 - a malformed IPTC block is reported as absent
        return {}
    out: dict[str, Any] = {}
    for key, name in IIM_FIELDS.items():
        value = info.get(key)
        if isinstance(value, list):
            value = b"; ".join(value)
        if isinstance(value, bytes) and value.strip():
            out[name] = value.decode("utf-8", "replace").strip()[:300]
    return out


def _text(value: Any) -> str:
    return "; ".join(value) if isinstance(value, list) else str(value or "")


class XmpIptc(Detector):
    name = "xmp_iptc"
    version = "1.1.0"
    description = (
        "XMP and IPTC: DigitalSourceType (AI-generated, composite, capture), creator tools and "
        "the edit history."
    )

    @classmethod
    def get_examples(cls) -> list[Example]:
        def jpeg(xmp: bytes | None) -> bytes:
            buf = io.BytesIO()
            Image.new("RGB", (64, 48), (40, 90, 140)).save(buf, "JPEG", xmp=xmp or b"")
            return buf.getvalue()

        return [
            Example("no XMP", jpeg(None), Status.OK),
            Example("AI source type", jpeg(make_xmp(source_type="trainedAlgorithmicMedia")),
                    Status.OK, 0.9),
            Example("Photoshop", jpeg(make_xmp(creator_tool="Adobe Photoshop 25.0")), Status.OK,
                    0.6, 0.75),
            Example("capture claim", jpeg(make_xmp(source_type="digitalCapture")), Status.OK,
                    None, 0.45),
        ]  # fmt: skip

    def analyze(self, media: Media) -> Finding:
        if media.format.name in ("gif", "bmp"):
            return self.skip(f"{media.format.name.upper()} files do not carry XMP or IPTC here.")
        props: dict[str, Any] = {}
        problems = []
        data, extended, ext_packets = jpeg_extended_xmp(media.data)
        main_packets = find_packets(data)
        for ext in extended:
            referenced = any(ext["guid"].encode() in p for p in main_packets)
            ext["referenced_by_main_packet"] = referenced
            if ext.get("problem"):
                problems.append(f"Extended XMP {ext['guid']}: {ext['problem']}")
            elif ext.get("md5_matches_guid") is False:
                problems.append(f"Extended XMP {ext['guid']}: its MD5 does not match its GUID")
        # The main packet first: its values win over the extension's on a clash.
        for packet in main_packets + ext_packets:
            if len(packet) > MAX_PACKET:
                problems.append(f"XMP packet of {len(packet):,} bytes not parsed (over 4 MB)")
                continue
            try:
                for k, v in parse_xmp(packet).items():
                    props.setdefault(k, v)
            except ET.ParseError as exc:
                problems.append(f"XMP packet is not well-formed XML ({exc})")
        iim = read_iim(media) if media.format.name in ("jpeg", "tiff") else {}
        evidence: dict[str, Any] = {"xmp_present": bool(props) or bool(problems)}
        if extended:
            evidence["extended_xmp"] = extended
        evidence.update({k: v for k, v in props.items() if k != "xmpMM:History"})
        history = props.get("xmpMM:History", [])
        if history:
            evidence["history"] = history
        if iim:
            evidence["iptc"] = iim
        if problems:
            evidence["problems"] = problems
        signals: list[tuple[float, float, EvidenceKind, str]] = []
        source = _text(props.get("Iptc4xmpExt:DigitalSourceType")).rsplit("/", 1)[-1]
        if source:
            evidence["digital_source_type"] = source
            if source in SOURCE_TYPES:
                score, weight, kind, words = SOURCE_TYPES[source]
                signals.append((score, weight, kind, f"the IPTC DigitalSourceType says the image "
                                f"is {words} ({source})"))  # fmt: skip
        tools = [_text(props.get("xmp:CreatorTool"))] + [
            e.get("softwareAgent", "") for e in history
        ]
        tools += [iim.get("originating_program", "")]
        tools = [t for t in dict.fromkeys(tools) if t]
        if tools:
            evidence["tools"] = tools
        ai = next((t for t in tools if generator_in(t)), None)
        if ai:
            signals.append((0.9, 0.75, EvidenceKind.SYNTHESIS, f"XMP names an AI tool ({ai})"))
        editor = next((t for t in tools if editor_in(t)), None)
        if editor:
            saves = sum(1 for e in history if e.get("action") in ("saved", "derived", "converted"))
            extra = f", {saves} save/convert events in its history" if saves else ""
            signals.append((0.68, 0.25, EvidenceKind.MANIPULATION,
                            f"XMP records an image editor ({editor}{extra})"))  # fmt: skip
        if not signals:
            if not evidence["xmp_present"] and not iim:
                return self.informational(
                    summary="No XMP or IPTC metadata. Platforms strip it on upload, so its "
                    "absence says nothing.",
                    evidence=evidence,
                )
            what = ", ".join(tools) if tools else "no tool"
            return self.informational(
                summary=f"XMP/IPTC metadata present, naming {what}; nothing in it points to "
                "editing or generation.",
                evidence=evidence,
            )
        signals.sort(key=lambda s: -(s[1] * abs(s[0] - 0.5)))
        score, weight, kind, lead = signals[0]
        summary = lead[0].upper() + lead[1:] + "."
        if len(signals) > 1:
            summary += " Also: " + "; ".join(s[3] for s in signals[1:]) + "."
        return self.ok(
            score=score, weight=weight, summary=summary, evidence=evidence, evidence_kind=kind
        )


def make_xmp(*, source_type: str | None = None, creator_tool: str | None = None) -> bytes:
    """A minimal XMP packet (for examples and tests)."""
    attrs = ""
    if creator_tool:
        attrs += f' xmp:CreatorTool="{creator_tool}"'
    if source_type:
        attrs += (
            ' Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/'
            f'{source_type}"'
        )
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"{attrs}/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()
