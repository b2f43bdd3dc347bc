"""Metadata-forensics detectors: files made here, plus the shared fixtures when present."""

from __future__ import annotations

import io
import json
import runpy
import struct
import zlib

import pytest
from conftest import ROOT
from media_factory import pattern
from PIL import Image, PngImagePlugin

from detectors.c2pa.detector import C2pa, read_manifest
from detectors.exif.detector import Exif, date_checks, make_jpeg
from detectors.jpeg_structure.detector import JpegStructure, estimate_quality, walk_markers
from detectors.text_chunks.detector import TextChunks, png_text
from detectors.video_container.detector import VideoContainer, make_video
from detectors.xmp_iptc.detector import XmpIptc, make_xmp, parse_xmp
from verifier.errors import ConfigError
from verifier.media import load_media
from verifier.pipeline import Pipeline
from verifier.report import EvidenceKind, Status
from verifier.verdict import compute_verdict


def run(detector_cls, data: bytes, settings):
    pipeline = Pipeline(settings, [detector_cls(settings)])
    return pipeline.run_detector(pipeline.detectors[0], load_media(data, settings))


# -- exif ---------------------------------------------------------------------------------------


def _gps_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    exif[0x0110] = "One"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2026:03:14 10:00:00"
    sub[0x9011] = "+01:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (48.0, 51.0, 29.4)
    gps[3], gps[4] = "W", (2.0, 17.0, 40.2)
    gps[7], gps[29] = (9.0, 0.0, 5.0), "2026:03:14"
    buf = io.BytesIO()
    pattern(96, 64).save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_exif_reports_gps_and_time_agreement(settings):
    f = run(Exif, _gps_jpeg(), settings)
    assert f.status is Status.OK
    gps = f.evidence["gps"]
    assert gps["latitude"] == pytest.approx(48.85817, abs=1e-5)
    assert gps["longitude"] == pytest.approx(-2.29450, abs=1e-5)
    assert f.evidence["date_checks"]["gps_agrees"] is True  # 10:00 +01:00 == 09:00:05 UTC


def test_exif_gps_redaction(settings):
    f = run(Exif, _gps_jpeg(), settings.with_overrides(redact_gps=True))
    assert f.evidence["gps_present"] is True
    assert "redacted" in f.evidence["gps"]
    assert "48.85" not in json.dumps(f.evidence)


def test_date_checks_flag_a_gps_time_no_zone_explains():
    from datetime import datetime

    local = datetime(2026, 3, 14, 10, 0, 0)
    assert date_checks({"datetime_original": local}, datetime(2026, 3, 14, 8, 0, 30))["gps_agrees"]
    assert not date_checks({"datetime_original": local}, datetime(2026, 3, 14, 8, 23, 0))[
        "gps_agrees"
    ]


def test_exif_thumbnail_of_another_picture_is_strong_manipulation_evidence(settings):
    scene = pattern(320, 240, seed=1)
    other = Image.new("RGB", (320, 240), (240, 240, 40))
    other.paste((10, 10, 10), (0, 120, 160, 240))
    same = run(Exif, make_jpeg(scene, make="Acme", model="One", thumbnail=scene), settings)
    assert same.evidence["thumbnail"]["verdict"] == "matches"
    swapped = run(Exif, make_jpeg(scene, make="Acme", model="One", thumbnail=other), settings)
    assert swapped.evidence["thumbnail"]["verdict"] == "different_content"
    assert swapped.score >= 0.8 and swapped.weight >= 0.5
    assert compute_verdict([swapped]).label.value == "likely_manipulated"


def test_exif_thumbnail_of_a_wider_frame_is_a_crop(settings):
    scene = pattern(320, 240, seed=2)
    cropped = scene.crop((0, 30, 320, 210))  # 16:9 crop of the 4:3 capture
    f = run(Exif, make_jpeg(cropped, make="Acme", thumbnail=scene), settings)
    assert f.evidence["thumbnail"]["verdict"] == "different_frame"
    assert 0.5 < f.score < 0.8


def test_exif_generator_in_software_is_synthesis(settings):
    f = run(Exif, make_jpeg(pattern(64, 48), software="Adobe Firefly"), settings)
    assert f.evidence_kind is EvidenceKind.SYNTHESIS and f.score >= 0.8


# -- text chunks --------------------------------------------------------------------------------


def _png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (1, 2, 3)).save(buf, "PNG")
    data = buf.getvalue()
    end = data.rindex(b"IEND") - 4
    extra = b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )
    return data[:end] + extra + data[end:]


def test_png_text_reads_all_three_chunk_kinds():
    comp = zlib.compress(b"hello zTXt")
    data = _png(
        [
            (b"tEXt", b"Title\x00plain"),
            (b"zTXt", b"Comment\x00\x00" + comp),
            (b"iTXt", b"Description\x00\x01\x00en\x00\x00" + zlib.compress("ünï".encode())),
        ]
    )
    got = {c["key"]: c["text"] for c in png_text(data)}
    assert got == {"Title": "plain", "Comment": "hello zTXt", "Description": "ünï"}


def test_ztxt_bomb_is_capped():
    bomb = zlib.compress(b"A" * (50 << 20), 9)  # 50 MB of text in ~50 KB
    (chunk,) = png_text(_png([(b"zTXt", b"parameters\x00\x00" + bomb)]))
    assert len(chunk["text"]) <= 1 << 20


def test_stable_diffusion_in_jpeg_user_comment(settings):
    params = "a red fox\nNegative prompt: blur\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 6, Seed: 9"
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + params.encode("utf-16-be")
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", exif=exif.tobytes())
    f = run(TextChunks, buf.getvalue(), settings)
    assert f.score >= 0.9
    assert f.evidence["generator_fields"]["Seed"] == "9"
    assert f.evidence["generator_fields"]["prompt"] == "a red fox"


def test_a_prompt_word_in_a_title_is_not_a_claim(settings):
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Midjourney-style painting of stable diffusion in a lab")
    buf = io.BytesIO()
    Image.new("RGB", (32, 24)).save(buf, "PNG", pnginfo=info)
    assert run(TextChunks, buf.getvalue(), settings).score is None


def test_generated_claim_sample_is_likely_synthetic():
    from verifier.settings import Settings

    report = Pipeline(Settings.from_env({})).analyze_path(ROOT / "samples" / "generated-claim.png")
    assert report.verdict.label.value == "likely_synthetic"
    text = next(f for f in report.findings if f.detector == "text_chunks")
    assert text.evidence["generator_fields"]["Seed"] == "1234"


# -- xmp / iptc ---------------------------------------------------------------------------------


def _jpeg_xmp(xmp: bytes) -> bytes:
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", xmp=xmp)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("source", "kind", "min_score"),
    [
        ("trainedAlgorithmicMedia", EvidenceKind.SYNTHESIS, 0.9),
        ("compositeWithTrainedAlgorithmicMedia", EvidenceKind.SYNTHESIS, 0.85),
        ("composite", EvidenceKind.MANIPULATION, 0.6),
    ],
)
def test_digital_source_type(settings, source, kind, min_score):
    f = run(XmpIptc, _jpeg_xmp(make_xmp(source_type=source)), settings)
    assert f.evidence["digital_source_type"] == source
    assert f.evidence_kind is kind and f.score >= min_score


def test_xmp_history_is_parsed():
    packet = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
      xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""
      xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
      xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"><xmpMM:History><rdf:Seq>
      <rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Photoshop 25.0"/>
      <rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action>
      <stEvt:changed>/</stEvt:changed></rdf:li></rdf:Seq></xmpMM:History>
      </rdf:Description></rdf:RDF></x:xmpmeta>"""
    history = parse_xmp(packet)["xmpMM:History"]
    assert history == [
        {"action": "created", "softwareAgent": "Adobe Photoshop 25.0"},
        {"action": "saved", "changed": "/"},
    ]


def test_malformed_xmp_is_reported_not_raised(settings):
    f = run(XmpIptc, _jpeg_xmp(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><oops></x:xmpmeta>'), settings)
    assert f.status is Status.OK and f.evidence["problems"]


# -- jpeg structure -----------------------------------------------------------------------------


@pytest.mark.parametrize("quality", [10, 37, 75, 95, 100])
def test_quality_of_libjpeg_files_is_exact(quality):
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", quality=quality)
    tables = {k: list(v) for k, v in Image.open(buf).quantization.items()}
    q = estimate_quality(tables)
    assert q["ijg_exact"] and q["quality_estimate"] == quality


def test_markers_and_anomalies():
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    s = walk_markers(data)
    assert s["coding"] == "progressive" and s["scans"] > 1 and s["end_marker_found"]
    broken = walk_markers(data[:2] + b"\xff\xd8" + data[2:])
    assert any("second start-of-image" in a for a in broken["anomalies"])


def test_camera_exif_on_a_libjpeg_resave_is_weak_evidence(settings):
    f = run(JpegStructure, make_jpeg(pattern(64, 48), make="Acme"), settings)
    assert f.evidence["camera_exif_but_resaved"] is True
    assert f.weight < 0.2


# -- video --------------------------------------------------------------------------------------


def test_video_phone_claim_with_ffmpeg_traces(settings):
    f = run(VideoContainer, make_video({"com.apple.quicktime.make": "Apple"}), settings)
    assert f.evidence["camera"] == {"com.apple.quicktime.make": "Apple"}
    assert f.evidence["ffmpeg_traces"] and f.score >= 0.6


def test_video_ai_tool_claim(settings):
    f = run(VideoContainer, make_video({"comment": "Generated with Sora"}), settings)
    assert f.evidence_kind is EvidenceKind.SYNTHESIS and f.score >= 0.9


def test_unparsable_video_is_skipped(settings):
    data = make_video({})
    f = run(VideoContainer, data[:40] + b"\x00" * 64, settings)
    assert f.status in (Status.SKIPPED, Status.OK)


# -- c2pa ---------------------------------------------------------------------------------------


def test_c2pa_trust_anchor_file_is_checked(settings, tmp_path):
    bad = tmp_path / "anchors.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError):
        C2pa(settings.with_overrides(c2pa_trust_anchors=bad))
    with pytest.raises(ConfigError):
        C2pa(settings.with_overrides(c2pa_trust_anchors=tmp_path / "missing.pem"))


def test_c2pa_agrees_with_every_fixture(shared_data, settings):
    bench = runpy.run_path(str(ROOT / "bench" / "metadata_corpus.py"), run_name="not_main")
    folder = shared_data / "fixtures" / "c2pa"
    expected = json.loads((folder / "c2pa_python_reader_results.json").read_text())
    disagree = [
        name
        for name, want in expected.items()
        if not bench["outcome_agrees"](
            want, read_manifest((folder / name).read_bytes(), bench["mime_for"](name), settings)
        )
    ]
    assert disagree == []


@pytest.mark.parametrize(
    ("name", "status", "kind", "low", "high"),
    [
        ("XCA.jpg", Status.OK, EvidenceKind.MANIPULATION, 0.9, 1.0),  # pixels changed
        ("E-sig-CA.jpg", Status.OK, EvidenceKind.MANIPULATION, 0.8, 1.0),  # signature broken
        ("ocsp.jpg", Status.OK, EvidenceKind.SYNTHESIS, 0.9, 1.0),  # Firefly, valid
        ("C_with_CAWG_data.jpg", Status.OK, EvidenceKind.MANIPULATION, 0.0, 0.2),  # capture
        ("CA.jpg", Status.OK, EvidenceKind.MANIPULATION, 0.3, 0.5),  # colour adjustments only
        ("cloud.jpg", Status.OK, None, None, None),  # remote: informational
        ("no_manifest.jpg", Status.OK, None, None, None),
        ("nested_moov_1000.mp4", Status.SKIPPED, None, None, None),  # parser abuse
    ],
)
def test_c2pa_findings_on_fixtures(shared_data, settings, name, status, kind, low, high):
    data = (shared_data / "fixtures" / "c2pa" / name).read_bytes()
    f = run(C2pa, data, settings)
    assert f.status is status, f
    if low is None:
        assert f.score is None
    else:
        assert f.evidence_kind is kind and low <= f.score <= high, f.summary
    if name == "cloud.jpg":
        assert f.evidence["remote_url"].startswith("https://")


def test_parser_abuse_files_are_refused_with_a_message(shared_data, settings):
    folder = shared_data / "fixtures" / "c2pa"
    result = read_manifest((folder / "tiff_poc.tiff").read_bytes(), "image/tiff", settings)
    assert result.state is None and "could not be parsed" in result.error
    video = run(VideoContainer, (folder / "nested_moov_1000.mp4").read_bytes(), settings)
    assert video.status is Status.SKIPPED and "FFmpeg cannot parse" in video.reason


# -- exif-samples: ground truth and bad input ---------------------------------------------------


def test_exif_agrees_with_exifread_dump_and_bad_files_never_crash(shared_data, settings):
    bench = runpy.run_path(str(ROOT / "bench" / "metadata_corpus.py"), run_name="not_main")
    base = shared_data / "fixtures" / "exif-samples"
    dump = bench["parse_dump"](base / "dump")
    names = ("exif", "xmp_iptc", "text_chunks", "c2pa", "jpeg_structure")
    pipeline = Pipeline(
        settings, [cls(settings) for cls in (Exif, XmpIptc, TextChunks, C2pa, JpegStructure)]
    )
    checked, disagree = 0, []
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        rel = str(path.relative_to(base))
        if path.suffix.lower() not in (".jpg", ".jpeg", ".tiff", ".heic", ".heif"):
            continue
        report = pipeline.analyze_path(path)
        by = {f.detector: f for f in report.findings}
        assert set(by) == set(names)
        assert all(f.status is not Status.ERROR for f in report.findings), (rel, report.findings)
        if rel in dump:
            checked += 1
            want = bench["expected_fields"](dump[rel])
            if not bench["fields_agree"](want, bench["got_fields"](by["exif"].evidence)):
                disagree.append(rel)
    assert checked >= 90 and disagree == []


# -- c2pa on files signed here ------------------------------------------------------------------


def test_c2pa_signed_capture_untrusted_then_trusted(settings, tmp_path):
    from c2pa_factory import capture_actions, make_pki, signed_jpeg

    data = signed_jpeg(capture_actions())
    untrusted = run(C2pa, data, settings)
    assert untrusted.evidence["validation_state"] == "Valid"
    assert untrusted.evidence["signer"] == "Verifier Test Camera"
    assert untrusted.score <= 0.15 and untrusted.weight < 0.8  # anyone can self-sign
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(make_pki()[0])
    trusted = run(C2pa, data, settings.with_overrides(c2pa_trust_anchors=anchors))
    assert trusted.evidence["validation_state"] == "Trusted"
    assert trusted.score <= 0.15 and trusted.weight >= 0.8
    assert compute_verdict([trusted]).label.value == "likely_authentic"


def test_c2pa_signed_then_pixels_changed_is_manipulation(settings):
    from c2pa_factory import capture_actions, signed_jpeg, tamper

    f = run(C2pa, tamper(signed_jpeg(capture_actions())), settings)
    assert "assertion.dataHash.mismatch" in f.evidence["validation_codes"]
    assert f.evidence_kind is EvidenceKind.MANIPULATION and f.score >= 0.9
    assert compute_verdict([f]).label.value == "likely_manipulated"


def test_c2pa_signed_ai_declaration_is_synthesis(settings):
    from c2pa_factory import ai_actions, signed_jpeg

    f = run(C2pa, signed_jpeg(ai_actions()), settings)
    assert f.evidence["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert f.evidence_kind is EvidenceKind.SYNTHESIS and f.score >= 0.9
    assert compute_verdict([f]).label.value == "likely_synthetic"


def test_video_track_rotation_is_read_from_the_display_matrix(settings):
    # FFmpeg's display rotation is counter-clockwise; the report gives the clockwise angle a
    # player applies (the classic ``rotate`` tag of phone videos).
    f = run(VideoContainer, make_video({}, rotation=-90), settings)
    assert f.evidence["track_rotations_cw_deg"] == [90]


def test_double_compression_traces():
    from detectors.jpeg_structure.detector import double_quantization

    scene = runpy.run_path(str(ROOT / "scripts" / "make_samples.py"), run_name="x")[
        "render_scene"
    ]()

    def save(img, quality):
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality)
        return buf.getvalue()

    once = double_quantization(save(scene, 90))
    twice = double_quantization(save(Image.open(io.BytesIO(save(scene, 60))).convert("RGB"), 90))
    assert once["double_compression_traces"] is False
    assert twice["double_compression_traces"] is True


def test_video_location_is_redacted_when_asked(settings):
    data = make_video({"com.apple.quicktime.location.ISO6709": "+48.8582+002.2945/"})
    shown = run(VideoContainer, data, settings)
    assert shown.evidence["metadata"]["com.apple.quicktime.location.ISO6709"].startswith("+48")
    hidden = run(VideoContainer, data, settings.with_overrides(redact_gps=True))
    assert "48.85" not in json.dumps(hidden.evidence)


# -- jpeg structure: encoder catalogue ----------------------------------------------------------


def _catalogued(encoder: str, setting: str | None = None) -> dict:
    from detectors.jpeg_structure.detector import load_catalogue

    return next(
        e
        for e in load_catalogue()["encoders"]
        if e["encoder"] == encoder and (setting is None or e["setting"] == setting)
    )


def _jpeg_with_tables(tables: list[list[int]], make: str | None = None) -> bytes:
    """A JPEG whose tables are ``tables`` (Pillow's qtables=), as the catalogued encoder writes."""
    exif = Image.Exif()
    if make:
        exif[0x010F], exif[0x0110] = make, "Model"
    buf = io.BytesIO()
    pattern(96, 64).save(buf, "JPEG", qtables=tables, subsampling=0, exif=exif.tobytes())
    return buf.getvalue()


def test_catalogue_entries_are_consistent():
    from detectors.jpeg_structure.detector import _IJG, load_catalogue, table_hash

    cat = load_catalogue()
    ijg = {table_hash([list(lt), list(ct)]) for lt, ct in _IJG.values()}
    hashes = [e["hash"] for e in cat["encoders"]]
    assert len(hashes) == len(set(hashes))
    for e in cat["encoders"]:
        assert e["hash"] == table_hash(e["tables"]) and e["hash"] not in ijg
        assert e["sources"] and all(s.startswith("fixtures/") for s in e["sources"])
        assert all(len(t) == 64 for t in e["tables"])


def test_catalogue_reproduces_from_the_fixtures(shared_data):
    from detectors.jpeg_structure.detector import load_catalogue, table_hash

    for e in load_catalogue()["encoders"]:
        for source in e["sources"]:
            path = shared_data / source.split(":", 1)[0]
            with Image.open(path) as img:
                tables = [list(img.quantization[k]) for k in sorted(img.quantization)]
            assert table_hash(tables) == e["hash"], source


@pytest.mark.parametrize("quality", [30, 60, 85, 98])
def test_libjpeg_files_are_not_taken_for_a_catalogued_encoder(settings, quality):
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", quality=quality)
    f = run(JpegStructure, buf.getvalue(), settings)
    assert "encoder_match" not in f.evidence
    assert f.evidence["last_saved_by"].startswith(
        f"an IJG libjpeg-family encoder at quality {quality}"
    )


def test_photoshop_tables_on_a_camera_file_show_a_resave(settings):
    ps = _catalogued("Adobe Photoshop", "quality 12")
    f = run(JpegStructure, _jpeg_with_tables(ps["tables"], make="Canon"), settings)
    match = f.evidence["encoder_match"]
    assert (match["encoder"], match["setting"], match["match"]) == (
        "Adobe Photoshop",
        "quality 12",
        "exact",
    )
    assert f.evidence["last_saved_by"] == "Adobe Photoshop, quality 12"
    assert f.evidence["camera_exif_but_resaved"] is True
    assert f.score == pytest.approx(0.65) and f.weight == pytest.approx(0.2)
    assert compute_verdict([f]).label.value == "inconclusive"  # one moderate signal is not enough
    plain = run(JpegStructure, _jpeg_with_tables(ps["tables"]), settings)
    assert plain.score is None and plain.evidence["encoder_match"]["encoder"] == "Adobe Photoshop"


def test_near_match_reports_its_closeness(settings):
    sfw = _catalogued("Adobe Photoshop Save for Web")
    tables = [list(t) for t in sfw["tables"]]
    for i in (20, 40, 63):
        tables[0][i] += 1
    match = run(JpegStructure, _jpeg_with_tables(tables), settings).evidence["encoder_match"]
    assert match["match"] == "near" and match["max_abs_difference"] == 1
    assert match["mean_abs_difference"] == pytest.approx(3 / 128, abs=1e-3)
    far = [[min(255, v + 3) for v in t] for t in sfw["tables"]]
    assert "encoder_match" not in run(JpegStructure, _jpeg_with_tables(far), settings).evidence


def test_camera_tables_against_the_exif_make(settings):
    canon = _catalogued("Canon PowerShot SD300")
    same = run(JpegStructure, _jpeg_with_tables(canon["tables"], make="Canon"), settings)
    assert same.evidence["tables_match_exif_make"] is True
    other = run(
        JpegStructure, _jpeg_with_tables(canon["tables"], make="NIKON CORPORATION"), settings
    )
    assert other.evidence["tables_match_exif_make"] is False
    assert other.score == pytest.approx(0.62) and other.weight < 0.2


def _insert_segment(jpeg: bytes, marker: int, body: bytes) -> bytes:
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def test_save_records_photoshop_ducky_and_facebook():
    from detectors.jpeg_structure.detector import save_records

    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", quality=71)
    base = buf.getvalue()
    quality = b"8BIM" + struct.pack(">H", 0x0406) + b"\x00\x00" + struct.pack(">I", 7)
    quality += struct.pack(">hhh", 6, 1, 1) + b"\x01\x00"  # quality 10 (stored minus 4)
    iptc = b"\x1c\x02\x28" + struct.pack(">H", 8) + b"FBMD0100"
    fb = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    data = _insert_segment(base, 0xED, b"Photoshop 3.0\x00" + quality + fb)
    data = _insert_segment(data, 0xEC, b"Ducky" + struct.pack(">HHI", 1, 4, 60) + b"\x00\x00")
    assert save_records(data) == {
        "photoshop_quality": 10,
        "facebook_fbmd": True,
        "save_for_web_quality": 60,
    }


def test_photoshop_record_on_libjpeg_tables_is_a_reencode(settings):
    buf = io.BytesIO()
    pattern(64, 48).save(buf, "JPEG", quality=71)
    body = b"8BIM" + struct.pack(">H", 0x0406) + b"\x00\x00" + struct.pack(">I", 6)
    body += struct.pack(">hhh", 8, 0, 1)
    data = _insert_segment(buf.getvalue(), 0xED, b"Photoshop 3.0\x00" + body)
    f = run(JpegStructure, data, settings)
    assert "re-encoded after Photoshop" in f.evidence["photoshop_record_mismatch"]


# -- video: what a vendor's camera software always writes --------------------------------------

_APPLE_KEYS = {
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "com.apple.quicktime.software": "17.4",
    "com.apple.quicktime.creationdate": "2026-03-14T10:00:00+0100",
}


def test_video_apple_claim_with_everything_apple_writes(settings):
    data = make_video(_APPLE_KEYS, fmt="mov", handler="Core Media Video", bitexact=True)
    data = data.replace(b"FFMP", b"\x00\x00\x00\x00")  # the sample vendor Apple's muxer writes
    f = run(VideoContainer, data, settings)
    assert f.evidence["vendor_check"]["missing_always"] == []
    assert f.evidence["ffmpeg_traces"] == []
    assert f.score == pytest.approx(0.4) and f.weight == pytest.approx(0.1)


def test_video_apple_claim_missing_apple_atoms(settings):
    # Another muxer's handler name (as MainConcept's in the c2pa fixtures), no FFmpeg tag.
    data = make_video(
        {"com.apple.quicktime.make": "Apple"},
        handler="Mainconcept Video Media Handler",
        bitexact=True,
    )
    f = run(VideoContainer, data, settings)
    check = f.evidence["vendor_check"]
    assert "Apple" in check["vendor"]
    missing = " ".join(check["missing_always"])
    for what in ("'qt  '", "quicktime.model", "quicktime.software", "creationdate", "Core Media"):
        assert what in missing
    assert f.evidence["ffmpeg_traces"] == []
    assert f.score == pytest.approx(0.6) and f.weight == pytest.approx(0.2)
    assert "lacks" in f.summary
    ffmpeg = run(VideoContainer, make_video({"com.apple.quicktime.make": "Apple"}), settings)
    assert ffmpeg.score == pytest.approx(0.65) and "lacks" in ffmpeg.summary


def test_video_ffmpeg_mov_muxer_leaves_its_vendor(settings):
    data = make_video(_APPLE_KEYS, fmt="mov", handler="Core Media Video", bitexact=True)
    f = run(VideoContainer, data, settings)
    assert "sample vendor FFMP" in f.evidence["ffmpeg_traces"] and f.score == pytest.approx(0.65)


@pytest.mark.parametrize(
    ("metadata", "missing", "score"),
    [({"com.android.manufacturer": "Google"},
      ["metadata key com.android.version (the Android release)"], 0.6),
     ({"com.android.manufacturer": "Google", "com.android.version": "14"}, [], 0.4),
     ({}, ["metadata key com.android.version (the Android release)"], None)],
)  # fmt: skip
def test_video_android_claims(settings, metadata, missing, score):
    """Device keys claim an Android phone; the handler name alone only says Android wrote it."""
    data = make_video(metadata, handler="VideoHandle", bitexact=True)
    f = run(VideoContainer, data, settings)
    check = f.evidence["vendor_check"]
    assert "Android" in check["vendor"] and check["missing_always"] == missing
    assert check["claim"] == ("device metadata" if metadata else "handler name only")
    if score is None:
        assert f.score is None and "not scored" in f.summary
    else:
        assert f.score == pytest.approx(score) and f.weight <= 0.15


@pytest.mark.parametrize("with_firmware", [True, False])
def test_video_gopro_user_data(settings, with_firmware):
    udta = {"FIRM": b"HD9.01.01.60.00"} if with_firmware else None
    data = make_video({"make": "GoPro"}, handler="GoPro AVC", bitexact=True, user_data=udta)
    f = run(VideoContainer, data, settings)
    check = f.evidence["vendor_check"]
    assert ("FIRM" in f.evidence["atoms"]["udta"]) is with_firmware
    assert any("gpmd" in m for m in check["missing_usually"])  # listed, never scored
    if with_firmware:
        assert check["missing_always"] == [] and f.score == pytest.approx(0.4)
    else:
        assert "FIRM" in check["missing_always"][0] and f.score == pytest.approx(0.6)


def test_video_vendor_expectations_on_real_files(shared_data, settings):
    """No false claim on the vPDQ videos (FFmpeg, no vendor); a real Apple recording passes."""
    for path in sorted((shared_data / "fixtures" / "vpdq" / "videos").glob("*.mp4")):
        f = run(VideoContainer, path.read_bytes(), settings)
        assert "vendor_check" not in f.evidence and f.score == pytest.approx(0.55), path.name
    mov = run(VideoContainer, (shared_data / "fixtures" / "c2pa" / "c.mov").read_bytes(), settings)
    assert mov.evidence["vendor_check"]["missing_always"] == []
    assert mov.score is not None and mov.score < 0.5


# -- exif: MPF and HEIF previews ----------------------------------------------------------------


def _mpo_with_preview(primary: Image.Image, preview: Image.Image) -> bytes:
    """A JPEG whose MPF indexes ``preview`` as a "Large Thumbnail (VGA)" (as cameras write).

    Pillow writes the MPF index with the second image typed "Undefined"; the type code in that
    entry's attribute is set to 0x010001 here.
    """
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Acme", "One"
    buf = io.BytesIO()
    primary.save(buf, "MPO", save_all=True, append_images=[preview], exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    start = data.index(b"MPF\x00") + 4
    endian = "<" if data[start : start + 2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", data[start + 4 : start + 8])
    (count,) = struct.unpack(endian + "H", data[start + ifd : start + ifd + 2])
    for k in range(count):
        at = start + ifd + 2 + 12 * k
        tag, _, _, offset = struct.unpack(endian + "HHII", data[at : at + 12])
        if tag == 0xB002:
            entry = start + offset + 16  # the second image's MP entry
            (attr,) = struct.unpack(endian + "I", data[entry : entry + 4])
            data[entry : entry + 4] = struct.pack(endian + "I", (attr & ~0xFFFFFF) | 0x010001)
    return bytes(data)


def test_mpf_preview_of_another_picture_is_strong_evidence(settings):
    scene = pattern(320, 240, seed=3)
    other = Image.new("RGB", (320, 240), (240, 240, 40))
    other.paste((10, 10, 10), (0, 120, 160, 240))
    same = run(Exif, _mpo_with_preview(scene, scene.resize((160, 120))), settings)
    assert same.evidence["mpf_preview"]["verdict"] == "matches"
    swapped = run(Exif, _mpo_with_preview(scene, other.resize((160, 120))), settings)
    assert swapped.evidence["mpf_preview"]["verdict"] == "different_content"
    assert swapped.score >= 0.8 and swapped.weight >= 0.5
    assert "MPF preview" in swapped.summary


def test_mpf_entries_that_are_not_previews_are_left_alone(settings):
    scene = pattern(320, 240, seed=3)
    exif = Image.Exif()
    exif[0x010F] = "Acme"
    buf = io.BytesIO()  # a second frame typed "Undefined" (as phones' depth and gain maps)
    scene.save(buf, "MPO", save_all=True, append_images=[Image.new("RGB", (80, 60))], exif=exif)
    assert "mpf_preview" not in run(Exif, buf.getvalue(), settings).evidence


def test_heif_thumbnail_is_found_and_compared(settings):
    """A HEIF with a thumbnail item (pillow-heif writes one); exifread cannot read the EXIF
    pillow-heif writes, so the preview path is checked directly here and on a real iPhone file
    below."""
    import pillow_heif

    from detectors.exif.detector import compare_thumbnail, embedded_previews

    scene = pattern(256, 192, seed=4)
    buf = io.BytesIO()
    pillow_heif.from_pillow(scene).save(buf, quality=80, thumbnails=[96])
    media = load_media(buf.getvalue(), settings)
    ((key, _, preview, orientation),) = embedded_previews(media)
    assert key == "heif_thumbnail" and max(preview.size) == 96
    assert compare_thumbnail(preview, media.reduced(256), orientation)["correlation"] > 0.9


def test_real_iphone_heic_thumbnail_matches(shared_data, settings):
    data = (
        shared_data / "fixtures" / "exif-samples" / "heic" / "iphone_13_pro_max.HEIC"
    ).read_bytes()
    f = run(Exif, data, settings)
    assert f.evidence["heif_thumbnail"]["verdict"] == "matches"


# -- xmp: JPEG Extended XMP ---------------------------------------------------------------------


def _extended_xmp_jpeg(extension: bytes, chunk: int = 200, drop: int | None = None) -> bytes:
    """A JPEG whose main XMP names an extension (by GUID) carried in several APP1 segments."""
    import hashlib

    guid = hashlib.md5(extension, usedforsecurity=False).hexdigest().upper().encode()
    main = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'rdf:about="" xmlns:xmpNote="http://ns.adobe.com/xmp/note/" '
        b'xmpNote:HasExtendedXMP="' + guid + b'"/></rdf:RDF></x:xmpmeta>'
    )
    data = _jpeg_xmp(main)
    segments = b""
    for k, offset in enumerate(range(0, len(extension), chunk)):
        if k == drop:
            continue
        body = b"http://ns.adobe.com/xmp/extension/\x00" + guid
        body += struct.pack(">II", len(extension), offset) + extension[offset : offset + chunk]
        segments += b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body
    at = data.index(b"\xff\xdb")  # before the first quantisation table
    return data[:at] + segments + data[at:]


def test_extended_xmp_is_reassembled(settings):
    extension = make_xmp(source_type="trainedAlgorithmicMedia", creator_tool="Big Editor 1.0")
    data = _extended_xmp_jpeg(extension)
    f = run(XmpIptc, data, settings)
    (ext,) = f.evidence["extended_xmp"]
    assert ext["complete"] and ext["md5_matches_guid"] and ext["referenced_by_main_packet"]
    assert ext["chunks"] == -(-len(extension) // 200) > 1
    assert f.evidence["digital_source_type"] == "trainedAlgorithmicMedia"
    assert f.evidence_kind is EvidenceKind.SYNTHESIS and "problems" not in f.evidence


def test_extended_xmp_with_a_missing_chunk_is_a_problem(settings):
    extension = make_xmp(source_type="trainedAlgorithmicMedia")
    f = run(XmpIptc, _extended_xmp_jpeg(extension, drop=1), settings)
    (ext,) = f.evidence["extended_xmp"]
    assert not ext["complete"] and "digital_source_type" not in f.evidence
    assert any("Extended XMP" in p for p in f.evidence["problems"])
