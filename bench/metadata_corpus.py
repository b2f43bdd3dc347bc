"""Metadata detectors over the shared fixtures: agreement with ground truth, and timings.

    python bench/metadata_corpus.py [--data ../shared/data] [--json out.json]

- exif-samples: make/model/software/GPS from the ``exif`` detector against exifread's expected
  ``dump`` (for every file that the dump lists and the loader accepts), and per-file time of the
  metadata detectors (p50/p95), through the real pipeline;
- c2pa: the ``c2pa`` detector's validation outcome against c2pa_python_reader_results.json;
- jpeg_structure: how the exif-samples JPEGs were last saved (IJG tables, a catalogued encoder,
  or not recognised); the catalogue was read from many of these same files, so this is a
  lookup's coverage, not an accuracy;
- videos: the vPDQ samples, and the vendor expectations on the c2pa fixture videos;
- bad input: every regression and parser-abuse file gives an ok/skipped/error finding, never a
  crash or a hang (the pipeline's time limit is set to 20 s here).

Reads ../shared/data; copies nothing from it.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from verifier.errors import VerifierError  # noqa: E402
from verifier.pipeline import Pipeline  # noqa: E402
from verifier.registry import build  # noqa: E402
from verifier.settings import Settings  # noqa: E402

METADATA = ("exif", "xmp_iptc", "text_chunks", "c2pa", "jpeg_structure", "video_container")


def parse_dump(path: Path) -> dict[str, dict[str, str]]:
    """exifread's dump: {relative path: {tag: printable}}."""
    files: dict[str, dict[str, str]] = {}
    current = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("Opening: "):
            current = files.setdefault(line[9:].split("exif-samples-master/", 1)[-1], {})
            continue
        m = re.match(r"^(\S+ \S+) \([^)]*\): (.*)$", line)
        if current is not None and m:
            current[m.group(1)] = m.group(2)
    return files


def _dms(text: str | None, ref: str | None) -> float | None:
    if not text:
        return None
    parts = text.strip("[]").split(",")
    if len(parts) != 3:
        return None
    try:
        value = sum(float(Fraction(p.strip())) / 60**i for i, p in enumerate(parts))
    except (ValueError, ZeroDivisionError):
        return None
    return -value if ref in ("S", "W") else value


def expected_fields(tags: dict[str, str]) -> dict[str, object]:
    def clean(key: str) -> str | None:
        value = tags.get(key)
        value = value.strip().strip("\x00").strip() if value else None
        return value or None

    lat = _dms(tags.get("GPS GPSLatitude"), clean("GPS GPSLatitudeRef"))
    lon = _dms(tags.get("GPS GPSLongitude"), clean("GPS GPSLongitudeRef"))
    return {
        "make": clean("Image Make"),
        "model": clean("Image Model"),
        "software": clean("Image Software"),
        "gps": (lat, lon) if lat is not None and lon is not None else None,
    }


def got_fields(evidence: dict) -> dict[str, object]:
    gps = evidence.get("gps")
    pos = None
    if isinstance(gps, dict) and "latitude" in gps:
        pos = (gps["latitude"], gps["longitude"])
    return {k: evidence.get(k) for k in ("make", "model", "software")} | {"gps": pos}


def fields_agree(want: dict, got: dict) -> bool:
    """Equal text fields; GPS positions within 1e-6 degree (the report rounds to 7 decimals)."""
    if any(want[k] != got[k] for k in ("make", "model", "software")):
        return False
    if want["gps"] is None or got["gps"] is None:
        return want["gps"] == got["gps"]
    return all(abs(a - b) < 1e-6 for a, b in zip(want["gps"], got["gps"], strict=True))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    settings = Settings.from_env({}, detector_timeout=20.0)
    wanted = [d for d in build(settings) if d.name in METADATA]
    pipeline = Pipeline(settings, wanted)
    out: dict[str, object] = {"detectors": [d.name for d in wanted]}

    # -- exif-samples ------------------------------------------------------------------------
    base = args.data / "fixtures" / "exif-samples"
    dump = parse_dump(base / "dump")
    files = sorted(
        p for p in base.rglob("*")
        if p.is_file() and p.name not in ("dump", "README", "SOURCE.txt")
        and p.suffix not in (".txt", ".csv")
    )  # fmt: skip
    times, per_detector, agree, disagree, statuses = [], {}, 0, [], {}
    saved_by: dict[str, int] = {}
    unreadable = []
    for path in files:
        rel = str(path.relative_to(base))
        start = time.perf_counter()
        try:
            report = pipeline.analyze_path(path)
        except VerifierError as exc:
            unreadable.append(f"{rel}: {exc.code}")
            continue
        times.append((time.perf_counter() - start) * 1000)
        for f in report.findings:
            per_detector.setdefault(f.detector, []).append(f.duration_ms or 0.0)
            statuses.setdefault(f.detector, {}).setdefault(f.status.value, 0)
            statuses[f.detector][f.status.value] += 1
            if args.verbose and f.score is not None and f.score != 0.5:
                print(f"{rel:55s} {f.detector:15s} {f.score:.2f} {f.weight:.2f} {f.summary[:110]}")
        js = next((f for f in report.findings if f.detector == "jpeg_structure"), None)
        if js is not None and js.status.value == "ok":
            match = js.evidence.get("encoder_match")
            if match:
                key = f"{match['kind']}: {match['encoder']} ({match['match']})"
            elif js.evidence.get("ijg_exact"):
                key = "IJG libjpeg family"
            else:
                key = "not recognised"
            saved_by[key] = saved_by.get(key, 0) + 1
        if rel not in dump:
            continue
        exif = next(f for f in report.findings if f.detector == "exif")
        want = expected_fields(dump[rel])
        got = got_fields(exif.evidence)
        if fields_agree(want, got):
            agree += 1
        else:
            disagree.append({"file": rel, "expected": want, "got": got})
    out["exif_samples"] = {
        "files": len(files),
        "loaded": len(times),
        "not_loadable": unreadable,
        "in_dump": sum(1 for p in files if str(p.relative_to(base)) in dump),
        "agree_make_model_software_gps": agree,
        "disagree": disagree,
        "per_file_ms_p50": round(statistics.median(times), 2),
        "per_file_ms_p95": round(pct(times, 0.95), 2),
        "per_detector_ms_p50": {k: round(statistics.median(v), 2) for k, v in per_detector.items()},
        "per_detector_ms_max": {k: round(max(v), 2) for k, v in per_detector.items()},
        "statuses": statuses,
        "jpeg_last_saved_by": dict(sorted(saved_by.items(), key=lambda kv: -kv[1])),
    }

    # -- c2pa ----------------------------------------------------------------------------------
    cdir = args.data / "fixtures" / "c2pa"
    expected = json.loads((cdir / "c2pa_python_reader_results.json").read_text())
    from detectors.c2pa.detector import read_manifest

    rows, agree_c2pa = [], 0
    for name, want in sorted(expected.items()):
        start = time.perf_counter()
        got = read_manifest((cdir / name).read_bytes(), mime_for(name), settings)
        ms = (time.perf_counter() - start) * 1000
        ok = outcome_agrees(want, got)
        agree_c2pa += ok
        rows.append({"file": name, "agrees": ok, "expected": want, "got": got.summary(), "ms": ms})
    out["c2pa"] = {
        "fixtures": len(expected),
        "agree": agree_c2pa,
        "disagree": [r for r in rows if not r["agrees"]],
        "max_ms": round(max(r["ms"] for r in rows), 2),
    }
    # The same files through the whole pipeline (loader + every metadata detector).
    abuse = {}
    for name in sorted(expected):
        try:
            report = pipeline.analyze_path(cdir / name)
        except VerifierError as exc:
            abuse[name] = f"not loaded: {exc.code}"
            continue
        abuse[name] = {f.detector: f.status.value for f in report.findings}
    out["c2pa_pipeline_statuses"] = abuse
    # -- videos: vPDQ samples -------------------------------------------------------------------
    videos = {}
    for path in sorted((args.data / "fixtures" / "vpdq" / "videos").glob("*.mp4")):
        start = time.perf_counter()
        report = pipeline.analyze_path(path)
        video = next(f for f in report.findings if f.detector == "video_container")
        videos[path.name] = {
            "ms": round((time.perf_counter() - start) * 1000, 2),
            "status": video.status.value,
            "score": video.score,
            "summary": video.summary,
        }
    # -- videos: vendor expectations on the c2pa fixture videos (real muxers, one Apple) -------
    for path in sorted(cdir.glob("*.mov")) + sorted(cdir.glob("*.mp4")):
        try:
            report = pipeline.analyze_path(path)
        except VerifierError:
            continue
        video = next(f for f in report.findings if f.detector == "video_container")
        check = video.evidence.get("vendor_check") or {}
        videos[f"c2pa/{path.name}"] = {
            "status": video.status.value,
            "score": video.score,
            "vendor": check.get("vendor"),
            "missing_always": check.get("missing_always"),
        }
    out["videos"] = videos
    text = json.dumps(out, indent=2, default=str)
    if args.json:
        args.json.write_text(text)
    print(text)
    return 0


def mime_for(name: str) -> str:
    from detectors.c2pa.detector import MIME_BY_EXTENSION

    return MIME_BY_EXTENSION.get(Path(name).suffix.lower().lstrip("."), "application/octet-stream")


def outcome_agrees(want: dict, got) -> bool:
    """State and codes for manifests; the error category (before ':') otherwise."""
    if "state" in want:
        return got.state == want["state"] and sorted(set(got.codes)) == sorted(want["codes"])
    category = want["error"].split(":", 1)[0]
    if category == "Remote":  # offline by design: fetching is off, reported as remote
        return got.remote_url is not None
    return got.error_category == category


if __name__ == "__main__":
    raise SystemExit(main())
