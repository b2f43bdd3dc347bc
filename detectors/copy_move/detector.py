"""Copy-move: a part of the image cloned elsewhere in the same image.

Two complementary searches on a reduced copy (cloning is a region-level edit, so full
resolution is not needed):

* **Keypoints** (Amerini et al. 2011, "A SIFT-based forensic method for copy-move attack
  detection"): SIFT descriptors matched against the image itself with the generalised 2-nearest-
  neighbour test, then RANSAC finds similarity transforms (shift, rotation, scale) that many
  matches agree on. Each transform is then **verified densely**: the image is warped by it and
  compared with itself by local normalised correlation; a real clone is near-identical over an
  area, while repeated structure (windows, tiles) correlates only in patches.
* **Blocks** (after Fridrich et al. 2003, "Detection of copy-move forgery in digital images"):
  overlapping 8x8 blocks, described by 4x4 means with their best-fit plane removed, sorted by
  their main principal component; neighbours in that order that are nearly equal vote for
  their shift. Catches clones of weak texture (grass, sand, water) that has too few keypoints.
  Translation only.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageDraw

from detectors._forensics import common, heatmap
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

WORK_SIDE = 640
MAX_FEATURES = 2000
CONTRAST = 0.03
RATIO = 0.5  # g2NN ratio (Amerini et al.)
MIN_SHIFT_FRACTION = 0.04  # of the longer side: closer pairs are the same structure
RANSAC_PX = 3.0
MIN_INLIERS = 6
NCC_WINDOW = 7
NCC_MIN = 0.9
TEXTURE_STD = 2.0
# Block search
BLOCK_RESID_STD = 1.2
BLOCK_TOL = 2.0
BLOCK_NEIGHBOURS = 4
# Calibrated on authentic photos (scripts/eval_forensics.py)
STRONG_INLIERS, STRONG_AREA = 20, 0.004
MODERATE_INLIERS, MODERATE_AREA = 10, 0.002
BLOCK_MIN = 60  # matching block pairs for one shift (area ~ BLOCK_MIN * 4 px^2 at work scale)


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
    ncc, textured = _local_ncc(f, warped)
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


def keypoint_search(g: np.ndarray) -> tuple[list[dict[str, object]], np.ndarray, np.ndarray]:
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
    models: list[dict[str, object]] = []
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


def block_search(g: np.ndarray) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
    """Translation-only clone search over overlapping 8x8 blocks (stride 2)."""
    h, w = g.shape
    half = cv2.resize(g, (w // 2, h // 2), interpolation=cv2.INTER_AREA).astype(np.float32)
    win = np.lib.stride_tricks.sliding_window_view(half, (4, 4))
    by, bx = win.shape[:2]
    feats = win.reshape(by * bx, 16)
    # remove each block's best-fit plane: a smooth gradient (sky) then matches nothing
    yy, xx = np.mgrid[0:4, 0:4]
    basis = np.stack([np.ones(16), xx.ravel() - 1.5, yy.ravel() - 1.5], axis=1)
    proj = np.eye(16) - basis @ np.linalg.pinv(basis)
    resid = feats @ proj.T.astype(np.float32)
    std = resid.std(axis=1)
    keep = np.flatnonzero(std > BLOCK_RESID_STD)
    empty = np.zeros((h, w), bool)
    info: dict[str, object] = {"blocks": int(by * bx), "textured_blocks": int(keep.size)}
    if keep.size < 50:
        return {**info, "best_shift_votes": 0}, empty, empty
    r = resid[keep]
    pos = np.stack([keep // bx, keep % bx], axis=1)
    # sort by the main principal component; near-equal blocks land close together
    cov = np.cov(r[:: max(1, len(r) // 5000)].T)
    axis = np.linalg.eigh(cov)[1][:, -1]
    order = np.argsort(r @ axis, kind="stable")
    rs, ps = r[order], pos[order]
    min_shift = MIN_SHIFT_FRACTION * max(by, bx)
    shifts, firsts, seconds = [], [], []
    for k in range(1, BLOCK_NEIGHBOURS + 1):
        close = np.abs(rs[:-k] - rs[k:]).max(axis=1) < BLOCK_TOL
        d = ps[k:] - ps[:-k]
        far = np.hypot(d[:, 0], d[:, 1]) > min_shift
        sel = np.flatnonzero(close & far)
        if sel.size == 0:
            continue
        d = d[sel]
        flip = (d[:, 0] < 0) | ((d[:, 0] == 0) & (d[:, 1] < 0))
        d[flip] *= -1
        a = np.where(flip[:, None], ps[k:][sel], ps[:-k][sel])
        b = np.where(flip[:, None], ps[:-k][sel], ps[k:][sel])
        shifts.append(d)
        firsts.append(a)
        seconds.append(b)
    if not shifts:
        return {**info, "best_shift_votes": 0}, empty, empty
    d_all = np.concatenate(shifts)
    a_all, b_all = np.concatenate(firsts), np.concatenate(seconds)
    code = d_all[:, 0] * 8192 + d_all[:, 1] + 4096  # one integer per shift: fast counting
    keys, counts = np.unique(code, return_counts=True)
    best = int(counts.argmax())
    sel = code == keys[best]
    best_dy, best_dx = divmod(int(keys[best]) - 4096, 8192)
    if best_dx >= 4096:
        best_dy, best_dx = best_dy + 1, best_dx - 8192
    src_mask = np.zeros((by, bx), np.uint8)
    dst_mask = np.zeros((by, bx), np.uint8)
    src_mask[a_all[sel, 0], a_all[sel, 1]] = 1
    dst_mask[b_all[sel, 0], b_all[sel, 1]] = 1
    # the votes must form a region, not scattered coincidences
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(
        cv2.dilate(dst_mask, np.ones((3, 3), np.uint8))
    )
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    votes = int(counts[best])
    info.update(
        {
            "best_shift_votes": votes,
            "best_shift_px": [best_dx * 2, best_dy * 2],
            "largest_region_blocks": largest,
        }
    )

    def full(mask: np.ndarray) -> np.ndarray:
        m = np.zeros((by + 3, bx + 3), np.uint8)
        for oy in range(4):
            for ox in range(4):
                m[oy : oy + by, ox : ox + bx] |= mask
        up = cv2.resize(m, (2 * (bx + 3), 2 * (by + 3)), interpolation=cv2.INTER_NEAREST)
        out = np.zeros((h, w), bool)
        out[: min(h, up.shape[0]), : min(w, up.shape[1])] = up[:h, :w] > 0
        return out

    if votes < BLOCK_MIN:
        return info, empty, empty
    return info, full(src_mask), full(dst_mask)


def measure(media: Media) -> common.Measurement:
    """Statistic (verified inliers, or block votes / 4), mask and heat on the working copy."""
    return common.cached(media, "copy_move", lambda: _compute(media))


def _compute(media: Media) -> common.Measurement:
    g = common.reduced_luma(media, WORK_SIDE)
    models, target, source = keypoint_search(g)
    binfo, bsrc, bdst = block_search(g)
    best = max(
        models, key=lambda m: m["inliers"] if m["verified_area_fraction"] else 0, default=None
    )  # type: ignore[return-value]
    verified = [m for m in models if float(m["verified_area_fraction"]) > 0]  # type: ignore[arg-type]
    inliers = max((int(m["inliers"]) for m in verified), default=0)  # type: ignore[call-overload]
    area = max((float(m["verified_area_fraction"]) for m in verified), default=0.0)  # type: ignore[arg-type]
    votes = int(binfo.get("best_shift_votes", 0))  # type: ignore[call-overload]
    stat = max(float(inliers) if area > 0 else 0.0, votes / 4.0)
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
            "_masks": (source | bsrc, target | bdst),
        },
    )


class CopyMove(Detector):
    name = "copy_move"
    version = "1.0.0"
    description = (
        "Copy-move (cloning inside one image): SIFT self-matching with RANSAC and dense "
        "verification, plus an overlapping-block search for weakly textured regions."
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
        reason = common.unsuitable(media, allow_palette=True)
        if reason:
            return self.skip(reason)
        g = common.reduced_luma(media, WORK_SIDE)
        if common.is_flat(g):
            return self.skip("The image is flat (one colour): there is nothing to clone.")
        m = measure(media)
        ev = dict(m.evidence)
        source, target = ev.pop("_masks")  # type: ignore[misc]
        inliers = int(ev["verified_inliers"])  # type: ignore[call-overload]
        area = float(ev["verified_area_fraction"])  # type: ignore[arg-type]
        votes = int(ev["block_search"].get("best_shift_votes", 0))  # type: ignore[union-attr]
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
        elif votes >= BLOCK_MIN:
            score, weight = 0.7, 0.3
            summary = (
                f"{votes} weakly textured blocks repeat at one shift: a possible clone of a "
                "flat area (a block-level match, less certain than a keypoint match)."
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
