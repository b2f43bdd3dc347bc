"""Copy-move: a part of the image cloned elsewhere in the same image.

Two complementary searches on a reduced copy (cloning is a region-level edit, so full
resolution is not needed):

* **Keypoints** (Amerini et al. 2011, "A SIFT-based forensic method for copy-move attack
  detection"): SIFT descriptors matched against the image itself with the generalised 2-nearest-
  neighbour test, then RANSAC finds similarity transforms (shift, rotation, scale) that many
  matches agree on. Each transform is then **verified densely**: the image is warped by it and
  compared with itself by local normalised correlation; a real clone is near-identical over an
  area, while repeated structure (windows, tiles) correlates only in patches.
  Periodic structure also matches at twice the shift, a clone does not: such transforms are
  rejected.
* **Shift search** for weak texture (grass, sand, water, sky with noise, walls) with too few
  keypoints: before the final save a clone is pixel-identical to its source, so its fine detail
  correlates almost perfectly with the source's at the clone's shift over one connected area.
  Candidate shifts come from an FFT autocorrelation of the weak-texture detail (shift-vector
  voting by every pixel at once); each is verified densely, and matches that overlap their own
  copy (texture continuing itself), repeat periodically or lie in strong texture are dropped.
  Translation only (see README for the calibration).
"""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

WORK_SIDE = 640
MAX_FEATURES = 2000
CONTRAST = 0.02
RATIO = 0.5  # g2NN ratio (Amerini et al.)
MIN_SHIFT_FRACTION = 0.04  # of the longer side: closer pairs are the same structure
RANSAC_PX = 3.0
#: RANSAC transforms with fewer agreeing matches are not verified. 4 (two beyond the minimal
#: sample) rather than 6: rotated and scaled copies keep fewer matches, and the dense check
#: decides; it gave a verified transform to 17 more of the 240 clones against 3 more of the 478
#: authentic originals and controls, at 4-5 inliers (far below MODERATE_INLIERS): AUC on the
#: rotated clones 0.83 -> 0.87.
MIN_INLIERS = 4
NCC_WINDOW = 7
NCC_MIN = 0.9
#: Both sides of the dense check are smoothed by this Gaussian (px) first: the warp's bilinear
#: interpolation low-passes the copy, so fine detail and JPEG noise made a rotated or scaled
#: clone's correlation fall under NCC_MIN (sigma 0.7 / 1.0 / 1.4: pixel F1 on the rotated
#: clones 0.554 / 0.558 / 0.556 against 0.490 unsmoothed; scripts/eval_forensics.py).
VERIFY_SIGMA = 1.0
TEXTURE_STD = 2.0
# Flat-region search (block_search): fine detail = difference of Gaussians (sigmas in px of the
# working copy; the finest band survives the final JPEG save poorly, the coarse one is content).
BAND_SIGMAS = (0.7, 3.0)
FLAT_WINDOW = 9  # local correlation window
#: Pixels whose local detail exceeds this (grey levels, RMS) are left to the keypoint search:
#: strong texture and edges dominate an autocorrelation with natural repeats.
FLAT_MAX_DETAIL = 6.0
FLAT_CANDIDATES = 10  # autocorrelation peaks verified densely
FLAT_AC_NORM = 61  # window (shifts) over which an autocorrelation peak is compared
FLAT_NCC = 0.9  # a clone's detail correlates > 0.9 with its source's after the final save
FLAT_MIN_DETAIL = 0.1  # mean-square detail below this is flat or clipped: it matches anything
# Natural texture continuing itself (grass, a smooth gradient) matches at a short shift over an
# area that overlaps its own copy; periodic structure also matches at twice the shift.
FLAT_MAX_OVERLAP = 0.2
FLAT_MAX_PERIODIC = 0.3
#: A match whose detail (RMS, grey levels) exceeds this is textured: that is the keypoint search's
#: job. 94 % of the weak-texture clones found lie below it; the three largest authentic matches
#: that survived the other checks (detail 21-26) above it.
FLAT_TEXTURED = 15.0
# Moderate: verified area (fraction of the picture). On the 238 authentic photos the largest
# surviving match is 1.2 % (two identical rows of windows on a facade), the next 0.18 %; the
# threshold leaves a factor two to the latter (scripts/eval_forensics.py --flat 200).
FLAT_AREA = 0.004
# Calibrated on authentic photos (scripts/eval_forensics.py)
STRONG_INLIERS, STRONG_AREA = 20, 0.004
MODERATE_INLIERS, MODERATE_AREA = 10, 0.002


def _g2nn(des: np.ndarray, k: int = 5) -> list[tuple[int, int]]:
    """Self-matches by the generalised 2NN test, via one BLAS product (fast, deterministic)."""
    d = des.astype(np.float32)
    sq = (d * d).sum(axis=1)
    dist = sq[:, None] + sq[None, :] - 2.0 * (d @ d.T)
    np.fill_diagonal(dist, np.inf)
    k = min(k, d.shape[0] - 1)
    idx = np.argpartition(dist, k, axis=1)[:, :k]
    near = np.take_along_axis(dist, idx, axis=1)
    order = np.argsort(near, axis=1)
    idx = np.take_along_axis(idx, order, axis=1)
    near = np.sqrt(np.maximum(np.take_along_axis(near, order, axis=1), 0))
    # g2NN: accept neighbour j while d_j / d_(j+1) < RATIO, stopping at the first failure
    passing = np.cumprod(near[:, :-1] < RATIO * near[:, 1:], axis=1).astype(bool)
    rows, cols = np.nonzero(passing)
    return list(zip(rows.tolist(), idx[rows, cols].tolist(), strict=True))


def _local_ncc(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = (NCC_WINDOW, NCC_WINDOW)
    ma, mb = cv2.blur(a, w), cv2.blur(b, w)
    va = cv2.blur(a * a, w) - ma * ma
    vb = cv2.blur(b * b, w) - mb * mb
    cov = cv2.blur(a * b, w) - ma * mb
    textured = (va > TEXTURE_STD**2) & (vb > TEXTURE_STD**2)
    ncc = cov / np.sqrt(np.maximum(va * vb, 1e-6))
    return ncc, textured


def _verify(
    g: np.ndarray, model: np.ndarray, dst_pts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Dense check of one transform: (target mask, source mask, mean correlation inside)."""
    h, w = g.shape
    f = g.astype(np.float32)
    warped = cv2.warpAffine(f, model, (w, h), flags=cv2.INTER_LINEAR, borderValue=-1)
    inside = cv2.warpAffine(np.ones_like(f), model, (w, h), flags=cv2.INTER_NEAREST) > 0
    # The warp interpolates (a low-pass filter) and the copy's JPEG noise differs from the
    # source's: both sides are smoothed alike before correlating, texture is judged unsmoothed.
    smooth = [cv2.GaussianBlur(x, (0, 0), VERIFY_SIGMA) for x in (f, warped)]
    ncc = _local_ncc(*smooth)[0]
    textured = _local_ncc(f, warped)[1]
    sim = (ncc > NCC_MIN) & textured & inside
    # A transform close to identity near a pixel trivially matches it; such pixels are not clones.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inv = cv2.invertAffineTransform(model)
    sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
    sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
    min_shift = MIN_SHIFT_FRACTION * max(h, w)
    sim &= np.hypot(sx - xx, sy - yy) > min_shift
    sim = cv2.morphologyEx(sim.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, labels = cv2.connectedComponents(sim)
    keep = np.zeros(n, bool)
    for x, y in dst_pts:
        xi, yi = round(x), round(y)
        if 0 <= yi < h and 0 <= xi < w and labels[yi, xi] > 0:
            keep[labels[yi, xi]] = True
    target = keep[labels]
    source = cv2.warpAffine(target.astype(np.uint8), inv, (w, h), flags=cv2.INTER_NEAREST) > 0
    corr = float(ncc[target].mean()) if target.any() else 0.0
    return target, source, corr


def keypoint_search(g: np.ndarray) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """Verified transforms found from SIFT self-matches, with the union of their masks."""
    h, w = g.shape
    target_all = np.zeros((h, w), bool)
    source_all = np.zeros((h, w), bool)
    sift = cv2.SIFT_create(nfeatures=MAX_FEATURES, contrastThreshold=CONTRAST)
    kps, des = sift.detectAndCompute(g, None)
    if des is None or len(kps) < 10:
        return [], target_all, source_all
    pts = np.array([kp.pt for kp in kps], np.float32)
    min_shift = MIN_SHIFT_FRACTION * max(h, w)
    seen: set[tuple[int, int]] = set()
    src, dst = [], []
    for i, j in _g2nn(des):
        a, b = (i, j) if tuple(pts[i]) <= tuple(pts[j]) else (j, i)  # canonical direction
        if (a, b) in seen or np.hypot(*(pts[a] - pts[b])) < min_shift:
            continue
        seen.add((a, b))
        src.append(pts[a])
        dst.append(pts[b])
    models: list[dict[str, Any]] = []
    src_a, dst_a = np.array(src, np.float32), np.array(dst, np.float32)
    for _ in range(3):
        if len(src_a) < MIN_INLIERS:
            break
        model, inl = cv2.estimateAffinePartial2D(
            src_a, dst_a, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX, maxIters=2000
        )
        if model is None or inl is None or int(inl.sum()) < MIN_INLIERS:
            break
        inl = inl.ravel().astype(bool)
        scale = float(np.hypot(model[0, 0], model[1, 0]))
        if 0.5 < scale < 2.0:
            target, source, corr = _verify(g, model, dst_a[inl])
            area = float(target.mean())
            # Periodic structure (windows, tiles, fences) also matches at twice the shift; a
            # clone does not, because beyond the copy lies other content.
            twice = np.vstack([model, [0, 0, 1]]) @ np.vstack([model, [0, 0, 1]])
            beyond = cv2.transform(dst_a[inl][:, None, :], model)[:, 0, :]
            anchors = np.vstack([dst_a[inl], beyond])
            periodic_area = float(_verify(g, twice[:2], anchors)[0].mean()) if area else 0.0
            periodic = area > 0 and periodic_area >= 0.3 * area
            models.append(
                {
                    "inliers": int(inl.sum()),
                    "shift_px": [round(float(model[0, 2]), 1), round(float(model[1, 2]), 1)],
                    "rotation_deg": round(
                        float(np.degrees(np.arctan2(model[1, 0], model[0, 0]))), 1
                    ),
                    "scale": round(scale, 3),
                    "verified_area_fraction": 0.0 if periodic else round(area, 5),
                    "verified_correlation": round(corr, 3),
                    "periodic": periodic,
                }
            )
            if periodic:
                src_a, dst_a = src_a[~inl], dst_a[~inl]
                continue
            target_all |= target
            source_all |= source
        src_a, dst_a = src_a[~inl], dst_a[~inl]
    return models, target_all, source_all


def _band(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fine detail (difference of Gaussians) and its local energy (mean square over 9x9)."""
    f = g.astype(np.float32)
    r = cv2.GaussianBlur(f, (0, 0), BAND_SIGMAS[0]) - cv2.GaussianBlur(f, (0, 0), BAND_SIGMAS[1])
    return r, cv2.blur(r * r, (FLAT_WINDOW, FLAT_WINDOW))


def _overlap(a: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``a`` at x and at x + (dy, dx) where both lie inside the picture."""
    h, w = a.shape
    return (
        a[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)],
        a[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)],
    )


def _place(part: np.ndarray, dy: int, dx: int, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`_overlap` (first part): a map over the overlap back in the picture."""
    h, w = shape
    out = np.zeros(shape, part.dtype)
    out[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = part
    return out


def _move(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask`` moved by (dy, dx), cut at the picture's edge."""
    h, w = mask.shape
    out = np.zeros_like(mask)
    out[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)] = _overlap(mask, dy, dx)[0]
    return out


def _shift_ncc(r: np.ndarray, e: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Local correlation of the detail at x with the detail at x + (dy, dx), per pixel x."""
    h, w = r.shape
    if abs(dy) >= h or abs(dx) >= w:
        return np.zeros((h, w), np.float32)
    a, b = _overlap(r, dy, dx)
    ea, eb = _overlap(e, dy, dx)
    ncc = cv2.blur(a * b, (FLAT_WINDOW, FLAT_WINDOW)) / np.sqrt(ea * eb + 1e-6)
    return _place(ncc, dy, dx, (h, w))


def _shift_candidates(r: np.ndarray, e: np.ndarray) -> list[tuple[int, int]]:
    """The shifts at which the weak-texture detail repeats most, from one autocorrelation."""
    h, w = r.shape
    energy = np.sqrt(np.maximum(e, 0))
    wn = r / (energy + 0.3)  # every weakly textured pixel counts about the same
    wn[energy > FLAT_MAX_DETAIL] = 0  # strong texture and edges: the keypoint search's job
    wn -= wn.mean()
    ph, pw = cv2.getOptimalDFTSize(2 * h), cv2.getOptimalDFTSize(2 * w)  # no wrap-around
    pad = np.zeros((ph, pw), np.float32)
    pad[:h, :w] = wn
    spec = cv2.dft(pad)
    ac = cv2.idft(cv2.mulSpectrums(spec, spec, 0, conjB=True), flags=cv2.DFT_REAL_OUTPUT)
    # shifts dy in 0..h-1 and dx in -(w-1)..(w-1) (d and -d are the same pair: keep one half)
    half = np.concatenate([ac[:h, pw - w + 1 :], ac[:h, :w]], axis=1)
    # natural detail stays correlated over short distances, falling off smoothly; a clone is a
    # sharp peak: subtracting the local mean keeps the peaks and drops the fall-off
    half -= cv2.blur(half, (11, 11))
    # ... and short shifts, where natural detail repeats most, have a busier autocorrelation than
    # long ones: each value is compared with its neighbourhood's spread (ranks the true clone
    # shift higher: in the top 10 for 87 % of verifiable weak-texture clones instead of 78 %)
    half /= max(float(ac[0, 0]), 1e-6)  # 1.0 = the whole picture repeats
    half /= np.sqrt(cv2.blur(half * half, (FLAT_AC_NORM, FLAT_AC_NORM))) + 1e-9
    yy, xx = np.mgrid[0:h, -(w - 1) : w]
    allowed = (np.hypot(yy, xx) > MIN_SHIFT_FRACTION * max(h, w)) & ((yy > 0) | (xx > 0))
    v = np.where(allowed, half, -np.inf).astype(np.float32)
    peaks = (v >= cv2.dilate(v, np.ones((5, 5), np.uint8))) & allowed
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-v[ys, xs], kind="stable")[:FLAT_CANDIDATES]
    return [(int(ys[i]), int(xx[ys[i], xs[i]])) for i in order]


def block_search(g: np.ndarray) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Translation-only clone search for weak texture (grass, sand, water, sky noise, walls).

    Before the final save a clone is pixel-identical to its source, so its fine detail and
    noise correlate almost perfectly with the source's at the clone's shift, over one connected
    area; natural texture at any shift correlates far less, or only where it continues itself.
    Candidate shifts come from the autocorrelation of the weak-texture detail (Fridrich et al.
    2003: shift-vector voting, here by all pixels at once); each is verified densely: local
    correlation of the detail > 0.9, the largest connected area, which must not overlap its own
    copy (natural texture continuing itself) nor repeat at twice the shift or backwards
    (periodic structure). The largest surviving area is the statistic.
    """
    h, w = g.shape
    r, e = _band(g)
    info: dict[str, Any] = {"shift_px": None, "matched_area_fraction": 0.0}
    source = np.zeros((h, w), bool)
    for dy, dx in _shift_candidates(r, e):
        a, b = _overlap(r, dy, dx)
        ea, eb = _overlap(e, dy, dx)
        ncc = cv2.blur(a * b, (FLAT_WINDOW, FLAT_WINDOW)) / np.sqrt(ea * eb + 1e-6)
        match = (ncc > FLAT_NCC) & (ea > FLAT_MIN_DETAIL) & (eb > FLAT_MIN_DETAIL)
        match = cv2.morphologyEx(match.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(match)
        if n <= 1:
            continue
        k = 1 + int(stats[1:, cv2.CC_STAT_AREA].argmax())
        area = float(stats[k, cv2.CC_STAT_AREA]) / (h * w)
        if area <= info["matched_area_fraction"]:
            continue
        src = _place(labels == k, dy, dx, (h, w))
        overlap = float((src & _move(src, dy, dx)).sum()) / float(src.sum())
        periodic = max(
            float(_shift_ncc(r, e, 2 * dy, 2 * dx)[src].mean()),
            float(_shift_ncc(r, e, -dy, -dx)[src].mean()),
        )
        detail = float(np.sqrt(e[src].mean()))
        if overlap > FLAT_MAX_OVERLAP or periodic > FLAT_MAX_PERIODIC or detail > FLAT_TEXTURED:
            continue
        info = {
            "shift_px": [dx, dy],
            "matched_area_fraction": round(area, 5),
            "correlation": round(float(_place(ncc, dy, dx, (h, w))[src].mean()), 3),
            "detail": round(detail, 2),
            "self_overlap": round(overlap, 3),
            "periodic_correlation": round(periodic, 3),
        }
        source = src
    if info["shift_px"] is None:
        return info, source, source.copy()
    dx, dy = info["shift_px"]
    return info, source, _move(source, dy, dx)


def measure(media: Media) -> common.Measurement:
    """Statistic (inliers of the decisive verified transform, or the shift search's verified
    area scaled so that both moderate thresholds read the same, whichever is larger), mask and
    heat on the working copy."""
    return common.cached(media, "copy_move", lambda: _compute(media))


def _compute(media: Media) -> common.Measurement:
    g = common.reduced_luma(media, WORK_SIDE)
    models, target, source = keypoint_search(g)
    binfo, bsrc, bdst = block_search(g)
    # The decisive model: the verified (non-periodic) transform with the most inliers.
    verified = [m for m in models if m["verified_area_fraction"]]
    best = max(verified, key=lambda m: m["inliers"], default=None)
    inliers = int(best["inliers"]) if best else 0
    area = float(best["verified_area_fraction"]) if best else 0.0
    flat_area = float(binfo["matched_area_fraction"])
    # both searches on one scale: each side's "moderate" threshold maps to MODERATE_INLIERS
    stat = max(float(inliers), MODERATE_INLIERS * flat_area / FLAT_AREA)
    if flat_area < FLAT_AREA:
        bsrc, bdst = np.zeros_like(bsrc), np.zeros_like(bdst)
    mask = target | source | bsrc | bdst
    assert media.width is not None
    return common.Measurement(
        statistic=stat,
        heat=mask.astype(np.float32),
        mask=mask,
        cell_px=media.width / g.shape[1],
        origin=(0, 0),
        evidence={
            "working_size": [g.shape[1], g.shape[0]],
            "keypoint_models": models,
            "best_model": best,
            "verified_inliers": inliers,
            "verified_area_fraction": area,
            "block_search": binfo,
        },
        arrays={"source": source | bsrc, "target": target | bdst},
    )


class CopyMove(Detector):
    name = "copy_move"
    version = "1.2.0"
    description = (
        "Copy-move (cloning inside one image): SIFT self-matching with RANSAC and dense "
        "verification, plus a dense shift search (autocorrelation candidates verified by the "
        "correlation of fine detail) for weakly textured regions."
    )

    @classmethod
    def get_examples(cls) -> list[Example]:
        rng = np.random.default_rng(11)
        arr = np.clip(rng.normal(0, 1, (60, 80, 3)).repeat(5, 0).repeat(5, 1) * 40 + 120, 0, 255)
        img = Image.fromarray(arr.astype(np.uint8))
        d = ImageDraw.Draw(img)
        for i in range(12):
            d.ellipse(
                (10 + 30 * (i % 4), 10 + 25 * (i // 4), 30 + 30 * (i % 4), 28 + 25 * (i // 4)),
                fill=(20 * i, 200 - 10 * i, 90),
            )
        clean = _jpeg(img)
        cloned = img.copy()
        cloned.paste(img.crop((10, 10, 150, 100)), (240, 180))
        return [
            Example("no clone", clean, Status.OK, None, 0.5),
            Example("cloned region", _jpeg(cloned), Status.OK, 0.8),
        ]

    def analyze(self, media: Media) -> Finding:
        reason = common.unsuitable(
            media, "there is nothing to clone", allow_palette=True, work_side=WORK_SIDE
        )
        if reason:
            return self.skip(reason)
        g = common.reduced_luma(media, WORK_SIDE)
        m = measure(media)
        ev = m.evidence
        source, target = m.arrays["source"], m.arrays["target"]
        inliers = int(ev["verified_inliers"])  # type: ignore[call-overload]
        area = float(ev["verified_area_fraction"])  # type: ignore[arg-type]
        shift = ev["block_search"]
        if inliers >= STRONG_INLIERS and area >= STRONG_AREA:
            score, weight = 0.92, 0.6
            summary = (
                f"A region is cloned elsewhere in the image: {inliers} matching keypoints agree on "
                f"one transform and the copy is near-identical over {area:.1%} of the picture."
            )
        elif inliers >= MODERATE_INLIERS and area >= MODERATE_AREA:
            score, weight = 0.75, 0.35
            summary = (
                f"A region appears cloned elsewhere in the image ({inliers} matching keypoints, "
                f"verified over {area:.1%} of the picture); repeated structure can look alike."
            )
        elif shift["matched_area_fraction"] >= FLAT_AREA:  # type: ignore[index]
            score, weight = 0.7, 0.3
            summary = (
                "The fine detail of a weakly textured area repeats almost exactly at one shift "
                f"over {shift['matched_area_fraction']:.1%} of the picture: a possible clone "  # type: ignore[index]
                "(less certain than a keypoint match; real repeats such as windows can match)."
            )
        else:
            score, weight = 0.45, 0.1
            summary = "No cloned region found (this cannot rule out other edits)."
        artifacts = []
        if source.any() or target.any():
            artifacts.append(
                heatmap.artifact(
                    "copy-move.png",
                    "Copy-move regions: cyan = source, red = the copy (where the warped image "
                    "matches itself).",
                    heatmap.render_masks(g, source, target),
                )
            )
        info = common.input_info(media)
        return self.ok(
            score=score,
            weight=weight,
            summary=summary,
            evidence={**ev, **info.as_evidence()},
            artifacts=artifacts,
        )


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()
