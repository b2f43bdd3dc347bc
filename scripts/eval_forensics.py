"""Calibrate and evaluate the pixel-forensics detectors (ela, noise, jpeg_ghost, copy_move).

    OMP_NUM_THREADS=1 nice -n 10 python scripts/eval_forensics.py [--data ../shared/data]
        [--n 200] [--json out.json]

Reads authentic photos from the shared data folder (never copied into the project):
BSDS500 (200 photos) and the camera JPEGs among the exif-samples fixtures (editor-tagged,
corrupted, invalid and thumbnail-sized files left out). Prints, per detector:

* the raw statistic's distribution on the authentic photos as they are (for calibration), and
  the false-positive rate at the shipped thresholds: the share whose finding reaches
  "moderate" (score >= 0.6 with weight >= 0.2) and "strong" (score >= 0.8, weight >= 0.5);
* on synthetic manipulations made from the same photos (``detectors/_forensics/synth.py``):
  image-level ROC AUC of the statistic, manipulated vs the authentic control saved the same
  way, and pixel-level F1 of the detector's mask against the ground truth (mean per image),
  plus the detection rate at the shipped thresholds.

``--flat N`` adds N weak-texture clones (``synth.flat_pairs``: the source is the least textured
of 24 candidate regions, a plain shift; each with its own authentic control) from the BSDS500
hosts and N // 5 from the camera hosts, where keypoints have little to match; they are kept out
of the table above and reported, with the plain and rotated clones, in a copy_move subset table.

``--islands N`` adds N singly compressed islands in double-compressed pictures
(``synth.island_pairs``: host saved at quality 55..80, a resized region of another photo pasted,
saved at 85..95 on the same grid; each with the host double-compressed without a paste as its
control) from the BSDS500 hosts and N // 5 from the camera hosts; they are kept out of the tables
above and reported in an island subset table (AUC, F1, flagged and moderate rates vs controls).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors._forensics import common, synth  # noqa: E402
from detectors.copy_move import CopyMove  # noqa: E402
from detectors.copy_move import detector as copy_move_mod  # noqa: E402
from detectors.ela import ErrorLevelAnalysis  # noqa: E402
from detectors.ela import detector as ela_mod  # noqa: E402
from detectors.jpeg_ghost import JpegGhost  # noqa: E402
from detectors.jpeg_ghost import detector as ghost_mod  # noqa: E402
from detectors.noise import NoiseResiduals  # noqa: E402
from detectors.noise import detector as noise_mod  # noqa: E402
from verifier.errors import VerifierError  # noqa: E402
from verifier.media import load_media  # noqa: E402
from verifier.report import Status  # noqa: E402
from verifier.settings import Settings  # noqa: E402
from verifier.verdict import combined_score, compute_verdict  # noqa: E402

DETECTORS = {
    "ela": (ErrorLevelAnalysis, ela_mod.measure),
    "noise": (NoiseResiduals, noise_mod.measure),
    "jpeg_ghost": (JpegGhost, ghost_mod.measure),
    "copy_move": (CopyMove, copy_move_mod.measure),
}
#: Which synthetic kind each detector's pixel F1 is measured on.
TARGET_KIND = {"ela": "splice", "noise": "splice", "jpeg_ghost": "splice", "copy_move": "copy_move"}
#: The detectors this run evaluates (``--detectors``); the rest are reported as not run.
SELECTED: set[str] = set(DETECTORS)


def camera_jpegs(data: Path) -> list[Path]:
    root = data / "fixtures" / "exif-samples"
    keep = []
    with (root / "labels_exif_summary.csv").open() as fh:
        for row in csv.DictReader(fh):
            path = row["path"]
            if not path.lower().endswith((".jpg", ".jpeg")) or row["note"]:
                continue  # editor-tagged files are not authentic
            if "invalid" in path or "corrupted" in path:
                continue
            if "orientation/" in path and not path.endswith("_1.jpg"):
                continue  # the same picture eight times over
            if min(int(row["width"]), int(row["height"])) < 256:
                continue  # thumbnails
            if (root / path).is_file():
                keep.append(root / path)
    return keep


def auc(pos: list[float], neg: list[float]) -> float:
    """Mann-Whitney ROC AUC (ties count half)."""
    p, n = np.asarray(pos, float), np.asarray(neg, float)
    if p.size == 0 or n.size == 0:
        return float("nan")
    greater = (p[:, None] > n[None, :]).sum() + 0.5 * (p[:, None] == n[None, :]).sum()
    return float(greater / (p.size * n.size))


def f1(pred: np.ndarray, truth: np.ndarray) -> float:
    tp = float((pred & truth).sum())
    denom = float(pred.sum() + truth.sum())
    return 0.0 if denom == 0 else 2 * tp / denom


def run(settings: Settings, data: bytes, truth: np.ndarray | None) -> dict[str, dict]:
    media = load_media(data, settings, decode="full")
    out: dict[str, dict] = {}
    findings = []
    for name, (cls, measure) in DETECTORS.items():
        if name not in SELECTED:
            out[name] = {"status": "not-run"}
            continue
        finding = cls(settings).analyze(media)
        findings.append(finding)
        row: dict[str, object] = {"status": finding.status.value}
        if finding.status is Status.OK:
            m = measure(media)
            row.update(
                stat=m.statistic,
                score=finding.score,
                weight=finding.weight,
                flag=bool(finding.score >= 0.6),
                moderate=bool(finding.score >= 0.6 and finding.weight >= 0.2),
                strong=bool(finding.score >= 0.8 and finding.weight >= 0.5),
            )
            if truth is not None and truth.any():
                assert media.height is not None and media.width is not None
                pred = common.to_image_grid(m, (media.height, media.width), m.mask) > 0
                row["f1"] = f1(pred, truth)
        out[name] = row
    # what the verdict rules make of these findings alone (the other detectors left out)
    verdict = compute_verdict(findings)
    out["verdict"] = {"label": verdict.label.value, "combined": combined_score(findings)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=200, help="synthetic triplets from BSDS500")
    parser.add_argument("--camera-n", type=int, default=40, help="triplets from camera JPEGs")
    parser.add_argument("--json", type=Path, help="write every per-image row here")
    parser.add_argument(
        "--verdicts-only",
        action="store_true",
        help="only run the whole pipeline (every registered detector) on the authentic "
        "originals and count verdicts other than inconclusive",
    )
    parser.add_argument(
        "--originals",
        type=int,
        default=0,
        help="use only every k-th authentic original for the false-positive part (quick runs)",
    )
    parser.add_argument(
        "--detectors",
        default=",".join(DETECTORS),
        help="comma-separated subset to evaluate (default: all four)",
    )
    parser.add_argument(
        "--flat",
        type=int,
        default=0,
        help="also evaluate this many weak-texture clones from BSDS500 (and a fifth as many "
        "from camera JPEGs), reported separately (copy_move subsets)",
    )
    parser.add_argument(
        "--islands",
        type=int,
        default=0,
        help="also evaluate this many singly compressed islands in double-compressed pictures "
        "from BSDS500 (and a fifth as many from camera JPEGs), reported separately",
    )
    args = parser.parse_args()
    SELECTED.intersection_update(args.detectors.split(","))
    settings = Settings.from_env({})
    started = time.perf_counter()

    bsds = sorted((args.data / "train" / "photos-bsds500" / "images").glob("*.jpg"))
    cams = camera_jpegs(args.data)
    if args.verdicts_only:
        verdicts(settings, bsds + cams)
        return
    rows: list[dict] = []
    every = max(1, args.originals)
    for source, paths in (("bsds500", bsds), ("exif-samples", cams)):
        for path in paths[::every]:
            try:
                result = run(settings, path.read_bytes(), None)
            except VerifierError as exc:  # unreadable fixture: not a forensics question
                print(f"skipped {path.name}: {exc}")
                continue
            rows.append(
                {"set": "authentic-original", "source": source, "file": path.name, **result}
            )

    def host(path: Path, max_side: int = 1024) -> np.ndarray:
        img = synth.decode(path.read_bytes())
        scale = max_side / max(img.shape[:2])
        if scale < 1:
            import cv2

            size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        return img

    hosts = [
        ("bsds500", [host(p) for p in bsds], args.n),
        ("camera", [host(p) for p in cams], args.camera_n),
    ]
    for source, photos, n in hosts:
        for i, triplet in enumerate(synth.triplets(photos, n, seed=6)):
            for sample in triplet:
                result = run(settings, sample.data, sample.mask)
                rows.append({"set": sample.kind, "source": source, "index": i,
                             "meta": sample.meta, **result})  # fmt: skip
        print(
            f"... {source}: {n} triplets done ({time.perf_counter() - started:.0f} s)", flush=True
        )

        extra = (  # (count for BSDS500, pairs generator, seed, set suffix, what they are)
            (args.flat, synth.flat_pairs, 7, "flat", "weak-texture clones"),
            (args.islands, synth.island_pairs, 8, "island", "islands"),
        )
        for count, pairs, seed, suffix, label in extra:
            if not count:
                continue
            n_extra = count if source == "bsds500" else count // 5
            for i, pair in enumerate(pairs(photos, n_extra, seed=seed)):
                for sample in pair:
                    result = run(settings, sample.data, sample.mask)
                    rows.append({"set": f"{sample.kind}-{suffix}", "source": source, "index": i,
                                 "meta": sample.meta, **result})  # fmt: skip
            print(f"... {source}: {n_extra} {label} done "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)  # fmt: skip

    report(rows)
    if "copy_move" in SELECTED:
        report_subsets(rows)
    report_islands(rows)
    report_verdicts(rows)
    any_mod = [
        r for r in rows
        if r["set"] == "authentic-original"
        and any(r[d].get("moderate") or r[d].get("strong") for d in DETECTORS)
    ]  # fmt: skip
    print(f"authentic originals with any pixel-forensics finding at moderate or strong: "
          f"{len(any_mod)} ({', '.join(r['file'] for r in any_mod) or 'none'})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


def verdicts(settings: Settings, paths: list[Path]) -> None:
    from collections import Counter

    from verifier.pipeline import Pipeline

    pipeline = Pipeline(settings)
    labels: Counter[str] = Counter()
    for path in paths:
        try:
            report = pipeline.analyze_path(path)
        except VerifierError:
            continue
        labels[report.verdict.label.value] += 1
        if report.verdict.label.value != "inconclusive":
            print(f"{path.name}: {report.verdict.label.value}: {report.verdict.summary}")
    print(f"verdicts on {sum(labels.values())} authentic originals: {dict(labels)}")


def report(rows: list[dict]) -> None:
    originals = [r for r in rows if r["set"] == "authentic-original"]
    print(f"\nauthentic originals: {len(originals)} "
          f"({sum(r['source'] == 'bsds500' for r in originals)} BSDS500, "
          f"{sum(r['source'] == 'exif-samples' for r in originals)} camera JPEGs)")  # fmt: skip
    print(f"synthetic triplets: {sum(r['set'] == 'authentic' for r in rows)}")
    header = (
        f"{'detector':<11} {'ran':>4} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6} "
        f"{'FPR-flag':>8} {'FPR-mod':>7} {'FPR-str':>7} | {'AUC-cm':>6} {'AUC-sp':>6} "
        f"{'AUC-all':>7} {'F1':>5} {'TPR-flag':>8} {'TPR-str':>7} {'ctl-flag':>8}"
    )
    print(header)
    for name in DETECTORS:
        if name not in SELECTED:
            continue
        ok = [r[name] for r in originals if r[name]["status"] == "ok"]
        stats = np.array([r["stat"] for r in ok]) if ok else np.zeros(1)
        fpr_flag = np.mean([r["flag"] for r in ok]) if ok else float("nan")
        fpr_mod = np.mean([r["moderate"] or r["strong"] for r in ok]) if ok else float("nan")
        fpr_str = np.mean([r["strong"] for r in ok]) if ok else float("nan")

        def stat_of(kind: str, name: str = name) -> list[float]:
            return [r[name]["stat"] for r in rows if r["set"] == kind and r[name]["status"] == "ok"]

        ctl = stat_of("authentic")
        a_cm, a_sp = auc(stat_of("copy_move"), ctl), auc(stat_of("splice"), ctl)
        a_all = auc(stat_of("copy_move") + stat_of("splice"), ctl)
        target = [
            r[name] for r in rows if r["set"] == TARGET_KIND[name] and r[name]["status"] == "ok"
        ]
        f1s = [r.get("f1", 0.0) for r in target]
        mean_f1 = float(np.mean(f1s)) if f1s else float("nan")
        tpr = np.mean([r["flag"] for r in target]) if target else float("nan")
        tpr_str = np.mean([r["strong"] for r in target]) if target else float("nan")
        ctl_rows = [r[name] for r in rows if r["set"] == "authentic" and r[name]["status"] == "ok"]
        ctl_fpr = np.mean([r["flag"] for r in ctl_rows]) if ctl_rows else 0
        print(
            f"{name:<11} {len(ok):>4} {np.percentile(stats, 50):>6.2f} "
            f"{np.percentile(stats, 95):>6.2f} {np.percentile(stats, 99):>6.2f} "
            f"{stats.max():>6.2f} {fpr_flag:>8.3f} {fpr_mod:>7.3f} {fpr_str:>7.3f} | "
            f"{a_cm:>6.3f} {a_sp:>6.3f} {a_all:>7.3f} {mean_f1:>5.3f} {tpr:>8.3f} "
            f"{tpr_str:>7.3f} {ctl_fpr:>8.3f}"
        )
    print(
        "\nFPR-flag: authentic originals the detector flags (score >= 0.6); FPR-mod / FPR-str: "
        "those whose finding reaches the verdict's moderate / strong level (weight counted). "
        "AUC: statistic, manipulated vs authentic control (cm = copy-move, sp = splice). "
        "F1: mean pixel F1 on the detector's target kind (copy-move for copy_move, splice for "
        "the rest); TPR-flag / TPR-str: share of that kind flagged / strong; ctl-flag: authentic "
        "controls flagged."
    )


def report_verdicts(rows: list[dict]) -> None:
    """The verdict the selected detectors' findings give on their own, per set, and the AUC of
    the verdict's combined score (manipulated vs the controls made the same way)."""
    names = ", ".join(n for n in DETECTORS if n in SELECTED)
    print(f"\nverdict from these findings alone ({names}):")

    # the main set first, then each extra subset (set names "<kind>-<subset>")
    def subset(kind: str) -> str:
        tail = kind.partition("-")[2]
        return "" if tail == "original" else tail

    sets = sorted({r["set"] for r in rows}, key=lambda k: (subset(k), k))
    for kind in sets:
        labels = [r["verdict"]["label"] for r in rows if r["set"] == kind]
        share = labels.count("likely_manipulated") / max(1, len(labels))
        line = f"  {kind:<19} n={len(labels):<4} likely_manipulated {share:6.1%}"
        control = f"authentic-{subset(kind)}" if subset(kind) else "authentic"  # made alike
        if not kind.startswith("authentic"):
            pos = [r["verdict"]["combined"] for r in rows if r["set"] == kind]
            neg = [r["verdict"]["combined"] for r in rows if r["set"] == control]
            line += f"   combined-score AUC {auc(pos, neg):.3f}"
        print(line)


def report_subsets(rows: list[dict], name: str = "copy_move") -> None:
    """copy_move per kind of clone: plain shifts, rotated/scaled, weak-texture (``--flat``)."""

    def ok(kind: str) -> list[dict]:
        return [r for r in rows if r["set"] == kind and r[name]["status"] == "ok"]

    subsets = {
        "plain": ([r for r in ok("copy_move") if not r["meta"]["angle"]], ok("authentic")),
        "rotated": ([r for r in ok("copy_move") if r["meta"]["angle"]], ok("authentic")),
        "flat": (ok("copy_move-flat"), ok("authentic-flat")),
    }
    if not any(pos for pos, _ in subsets.values()):
        return
    print(f"\n{name} subsets: {'subset':<8} {'n':>4} {'AUC':>6} {'F1':>5} {'flagged':>7} "
          f"{'strong':>6} {'ctl-flag':>8}")  # fmt: skip
    for label, (pos, ctl) in subsets.items():
        if not pos:
            continue
        a = auc([r[name]["stat"] for r in pos], [r[name]["stat"] for r in ctl])
        print(
            f"{'':<18} {label:<8} {len(pos):>4} {a:>6.3f} "
            f"{np.mean([r[name].get('f1', 0.0) for r in pos]):>5.3f} "
            f"{np.mean([r[name]['flag'] for r in pos]):>7.3f} "
            f"{np.mean([r[name]['strong'] for r in pos]):>6.3f} "
            f"{np.mean([r[name]['flag'] for r in ctl]) if ctl else float('nan'):>8.3f}"
        )


def report_islands(rows: list[dict]) -> None:
    """Per selected detector: singly compressed islands in double-compressed pictures
    (``--islands``) vs their double-compressed controls, by host source and together."""
    if not any(r["set"] == "splice-island" for r in rows):
        return
    print(
        f"\nislands (--islands): {'detector':<11} {'hosts':<7} {'n':>4} {'AUC':>6} {'F1':>5} "
        f"{'flagged':>7} {'moderate':>8} {'ctl-flag':>8} {'ctl-mod':>7} {'ctl-max':>7}"
    )
    for name in DETECTORS:
        if name not in SELECTED:
            continue
        for label, sources in (("all", None), ("bsds500", "bsds500"), ("camera", "camera")):

            def ok(kind: str, name: str = name, sources: str | None = sources) -> list[dict]:
                return [
                    r[name]
                    for r in rows
                    if r["set"] == kind
                    and r[name]["status"] == "ok"
                    and (sources is None or r["source"] == sources)
                ]

            pos, ctl = ok("splice-island"), ok("authentic-island")
            if not pos or not ctl:
                continue
            a = auc([r["stat"] for r in pos], [r["stat"] for r in ctl])
            print(
                f"{'':<20} {name:<11} {label:<7} {len(pos):>4} {a:>6.3f} "
                f"{np.mean([r.get('f1', 0.0) for r in pos]):>5.3f} "
                f"{np.mean([r['flag'] for r in pos]):>7.3f} "
                f"{np.mean([r['moderate'] or r['strong'] for r in pos]):>8.3f} "
                f"{np.mean([r['flag'] for r in ctl]):>8.3f} "
                f"{np.mean([r['moderate'] or r['strong'] for r in ctl]):>7.3f} "
                f"{max(r['stat'] for r in ctl):>7.2f}"
            )


if __name__ == "__main__":
    main()
