"""JPEG double compression: ghosts across qualities, aligned double quantisation, 8x8 grids.

Four traces of a region that was JPEG-compressed differently from the rest:

* **Ghosts** (Farid 2009, "Exposing digital forgeries from JPEG ghosts"): recompress at a range
  of qualities; a region that was once saved at quality q1 changes least when recompressed at
  q1, so after normalising each region's error curve it shows a dip there that the rest of the
  image does not share.
* **Aligned double quantisation** (Lin et al. 2009; Bianchi and Piva 2012; see :mod:`.dq`):
  per 8x8 block, how likely its DCT coefficients are to have been quantised twice, on the
  file's grid; a region more double-quantised than the rest was pasted from a coarser JPEG,
  and, when the whole picture was saved twice, a region less double-quantised than the rest (a
  singly compressed island) was pasted before the last save.
* **Shifted-grid DC lattice** (Bianchi and Piva 2012; see :mod:`.lattice`): a region pasted
  from a JPEG whose 8x8 grid did not line up keeps its first save's DC quantisation on its own
  grid, which the rest of the image does not show on that grid.
* **Grid alignment**: blocking artifacts reveal where the 8x8 grid lies. The whole image should
  share one grid; a pasted JPEG region keeps its own, and a crop shifts the global grid away from
  (0, 0) (reported, but a crop alone is not manipulation).
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from detectors._forensics import common, heatmap
from detectors.jpeg_ghost import dq, lattice
from detectors.jpeg_structure.detector import estimate_quality as ijg_estimate
from verifier.detector import Detector, Example
from verifier.media import Media
from verifier.report import Finding, Status

QUALITIES = (50, 55, 60, 65, 70, 75, 80, 85, 90, 95)
#: The ghost analysis uses at most this many pixels (an even subset of aligned blocks).
GHOST_PIXELS = 600_000
Z_RANGE = 6.0
MASK_Z = 3.0
#: Calibrated on authentic photos (scripts/eval_forensics.py).
STAT_LO, STAT_HI = 3.3, 5.6
#: Aligned double quantisation (dq.dq_map): its top-2 % z-score is put on the ghost's scale by
#: the line through (DQ_LO -> STAT_LO) and (DQ_HI -> STAT_HI), and counts only above DQ_LO, so
#: one ramp scores both. Calibrated on the 238 authentic originals (max 4.28, one flat-sky
#: photo; 99th percentile 1.89) and their 240 resaved controls (max 3.17): DQ_LO sits just
#: below that maximum so it stays under the "moderate" score. At DQ_HI and above, a level no
#: authentic image reaches and 13 % of the synthetic splices do, the finding weighs DQ_WEIGHT.
DQ_LO, DQ_HI = 4.0, 5.0
DQ_WEIGHT = 0.35
#: Shifted-grid DC lattice (lattice.lattice_map, NA-DJPG): its statistic is put on the ghost's
#: scale by the line through (LAT_LO -> STAT_LO) and (LAT_HI -> STAT_HI) and counts only above
#: LAT_LO; at LAT_HI and above the finding weighs DQ_WEIGHT. Calibrated on the 238 authentic
#: originals (max 6.80) and the 240 resaved controls (max 7.20): LAT_LO sits above both, so the
#: lattice alone reaches "moderate" (8.0) only where no authentic photo did; 20 % of the
#: grid-shifted splices reach LAT_HI.
LAT_LO, LAT_HI = 7.5, 8.5
#: Singly compressed island in a double-compressed picture (dq.dq_maps, computed only when the
#: picture as a whole is clearly double-quantised): its top-2 % z-score is put on the ghost's
#: scale by the line through (ISL_LO -> STAT_LO) and (ISL_HI -> STAT_HI) and counts only above
#: ISL_LO; at ISL_HI and above the finding weighs DQ_WEIGHT. Calibrated on the double-compressed
#: controls of scripts/eval_forensics.py --islands (see README): ISL_LO sits above their maximum.
ISL_LO, ISL_HI = 1.6, 2.0
#: When the whole picture is clearly double-quantised (dq.ISLAND_SHARE, dq.ISLAND_GAIN) the
#: ghost does not count in the score: the picture's own first save leaves ghosts at and around
#: its quality whose strength follows texture, not history (16.7 % of 240 double-compressed
#: controls reached "moderate" by the ghost alone in version 1.2, up to 11.1).
#: Island cells above this z-score form the mask.
ISL_MASK_Z = 1.25
#: When the lattice wins, windows within this share of its statistic form the mask.
LAT_MASK_SHARE = 0.6
#: DQ map cells above this z-score form the mask (z 2 gave the best pixel F1; 3 for ghosts).
DQ_MASK_Z = 2.0
#: Grid analysis tiles (full-resolution pixels) and the confidence a tile needs to count.
TILE = 128
TILE_CONF = 0.5


def estimate_quality(tables: dict[int, list[int]] | None) -> tuple[int, float]:
    """The saved quality (nearest IJG quality) and the mean table mismatch (0 = exact), from
    the one estimator the project has (``jpeg_structure``), so both detectors agree."""
    est = ijg_estimate(tables or {})
    return int(est.get("quality_estimate", 100)), float(est.get("mean_abs_difference_from_ijg", 0))


def quant_tables(media: Media) -> dict[int, list[int]] | None:
    tables = getattr(media.open_image(), "quantization", None)
    return {k: list(v) for k, v in tables.items()} if tables else None


def tile_grid(y: np.ndarray, phase: tuple[int, int]) -> dict[str, object]:
    """Per-tile grid phase: how many confident tiles disagree with the global grid."""
    rows = y[::4].astype(np.int16)
    cols = y[:, ::4].astype(np.int16)
    dx = np.abs(np.diff(rows, axis=1))
    dy = np.abs(np.diff(cols, axis=0))
    t4 = TILE // 4
    nty, ntx = dx.shape[0] // t4, dx.shape[1] // TILE
    nty2, ntx2 = dy.shape[0] // TILE, dy.shape[1] // t4
    nty, ntx = min(nty, nty2), min(ntx, ntx2)
    if nty * ntx == 0:
        return {"tiles": 0, "confident_tiles": 0, "misaligned_tiles": 0}
    ex = dx[: nty * t4, : ntx * TILE].reshape(nty, t4, ntx, TILE // 8, 8).sum(axis=(1, 3))
    ey = dy[: nty * TILE, : ntx * t4].reshape(nty, TILE // 8, 8, ntx, t4).sum(axis=(1, 4))
    ey = ey.transpose(0, 2, 1)

    def phase_conf(e: np.ndarray, home: int) -> tuple[np.ndarray, np.ndarray]:
        best = e.argmax(axis=-1)
        # as in common.grid_phase: the global grid wins unless another phase clearly beats it
        at_home = np.take_along_axis(e, np.full((*best.shape, 1), home), axis=-1)[..., 0]
        best = np.where(at_home >= 0.9 * e.max(axis=-1), home, best)
        med = np.median(e, axis=-1)
        conf = (e.max(axis=-1) - med) / np.maximum(med, 1e-6)
        return (best + 1) % 8, conf

    px, cx = phase_conf(ex.astype(np.float64), (phase[1] - 1) % 8)
    py, cy = phase_conf(ey.astype(np.float64), (phase[0] - 1) % 8)
    confident = (cx > TILE_CONF) & (cy > TILE_CONF)
    off = confident & ((px != phase[1] % 8) | (py != phase[0] % 8))
    return {
        "tiles": int(nty * ntx),
        "confident_tiles": int(confident.sum()),
        "misaligned_tiles": int(off.sum()),
    }


def measure(media: Media) -> common.Measurement:
    """Ghost statistic, heat map and mask (see :class:`common.Measurement`)."""
    return common.cached(media, "jpeg_ghost", lambda: _compute(media))


def _compute(media: Media) -> common.Measurement:
    tables = quant_tables(media)
    q_est, mismatch = estimate_quality(tables) if tables else (100, 0.0)
    gy, gx, conf = common.grid(media)
    packed = common.pack(common.packed_for(media).plane, (0, 0), GHOST_PIXELS)
    base = common.packed_for(media)
    plane = packed.plane
    g = common.cells_per_block(common.Packed(plane, packed.stride * base.stride, (gy, gx)))
    cell = 8 * g
    qualities = [q for q in QUALITIES if q < min(q_est, 98)]
    tex = common.block_std(plane, cell)
    mean = common.block_mean(plane, cell)
    valid = (tex > 2.0) & (mean > 8) & (mean < 247)
    evidence: dict[str, object] = {
        "estimated_quality": q_est,
        "quantisation_table_mismatch": round(mismatch, 2),
        "grid_phase": [gy, gx],
        "grid_confidence": round(conf, 3),
        "qualities_tested": qualities,
    }
    shape = tex.shape
    best_z = np.zeros(shape, np.float32)
    best_q, stat = None, 0.0
    if len(qualities) >= 3 and valid.sum() >= 8:
        f = plane.astype(np.float32)
        curves = np.stack(
            [common.block_mean((f - common.recompress(plane, q)) ** 2, cell) for q in qualities]
        )
        lo, hi = curves.min(axis=0), curves.max(axis=0)
        norm = (curves - lo) / np.maximum(hi - lo, 1e-3)
        # The highest tested quality is where every region is closest to its saved self;
        # ghosts are dips at lower qualities, so skip the top one.
        for i, q in enumerate(qualities[:-1]):
            z = common.smooth(common.robust_z(-norm[i], valid, min_scale=0.05))
            z = np.where(valid, z, 0.0)
            s = common.top_mean(z)
            if s > stat:
                stat, best_q, best_z = s, q, z
    ghost_stat, ghost_z = stat, best_z
    dq_z, dq_ev = np.zeros(shape, np.float32), {}
    isl_z = np.zeros(shape, np.float32)
    if q_est >= 60 and tables and 0 in tables:
        dq_z, isl_z, dq_ev = dq.dq_maps(packed_dq(media, packed), _table(tables), q_est, g)
        dq_z, isl_z = _fit(dq_z, shape), _fit(isl_z, shape)
    dq_stat = common.top_mean(dq_z) if dq_z.size else 0.0
    isl_stat = common.top_mean(isl_z) if isl_z.size else 0.0
    lat_cells, lat_ev = np.zeros(shape, np.float32), {}
    if tables and 0 in tables:
        y = common.luma(media)
        lat_map, lat_ev = lattice.lattice_map(y, [(0, 0), (gy, gx)], int(tables[0][0]))
        lat_cells = _on_cells(lat_map, y.shape, shape, cell * packed.stride * base.stride, gy, gx)
    lat_stat = float(lat_ev.get("lattice_z", 0.0))  # type: ignore[arg-type]
    lat_on_ghost = 0.0
    if lat_stat > LAT_LO:
        lat_on_ghost = STAT_LO + (lat_stat - LAT_LO) * (STAT_HI - STAT_LO) / (LAT_HI - LAT_LO)
    dq_on_ghost = 0.0
    if dq_stat > DQ_LO:
        dq_on_ghost = STAT_LO + (dq_stat - DQ_LO) * (STAT_HI - STAT_LO) / (DQ_HI - DQ_LO)
    isl_on_ghost = 0.0
    if isl_stat > ISL_LO:
        isl_on_ghost = STAT_LO + (isl_stat - ISL_LO) * (STAT_HI - STAT_LO) / (ISL_HI - ISL_LO)
    whole = bool(dq_ev.get("dq_whole_picture"))
    ghost_counts = 0.0 if whole else ghost_stat
    use_dq = dq_on_ghost > ghost_counts
    use_lat = lat_on_ghost > max(ghost_counts, dq_on_ghost)
    use_isl = isl_on_ghost > max(ghost_counts, dq_on_ghost, lat_on_ghost)
    mask = best_z > MASK_Z
    trace = "ghost"
    if whole:  # the picture's own first save: the ghost is reported, not scored
        stat, best_z, mask, trace = 0.0, np.zeros(shape, np.float32), np.zeros(shape, bool), "none"
    if use_isl:
        stat, mask, trace = isl_on_ghost, isl_z > ISL_MASK_Z, "single_compression_island"
        best_z = isl_z * (Z_RANGE / ISL_HI)
    elif use_lat:
        stat, mask, trace = lat_on_ghost, lat_cells >= LAT_MASK_SHARE * lat_stat, "shifted_grid"
        best_z = lat_cells * (Z_RANGE / LAT_HI)
    elif use_dq:
        stat, best_z, mask = dq_on_ghost, dq_z, dq_z > DQ_MASK_Z
        trace = "double_quantisation"
    evidence.update(dq_ev)
    evidence.update(lat_ev)
    evidence.update(
        {
            "dq_top2pct_z": round(dq_stat, 3),
            "dq_cells_above_z2": int((dq_z > DQ_MASK_Z).sum()),
            "dq_cells_below_z-2": int((dq_z < -DQ_MASK_Z).sum()),
            "dq_island_top2pct_z": round(isl_stat, 3),
            "strongest_trace": trace,
            "ghost_top2pct_z": round(ghost_stat, 3),
            "ghost_scored": not whole,
            "ghost_quality": best_q,
            "cells_above_z3": int((ghost_z > MASK_Z).sum()),
            "cell_px": cell * packed.stride * base.stride,
        }
    )
    return common.Measurement(
        statistic=stat,
        heat=np.clip(best_z / Z_RANGE, 0, 1),
        mask=mask,
        cell_px=cell * packed.stride * base.stride,
        origin=(gy, gx),
        evidence=evidence,
        arrays={
            "ghost": np.clip(ghost_z / Z_RANGE, 0, 1),
            "dq": np.clip(dq_z / Z_RANGE, 0, 1),
            "lattice": np.clip(lat_cells / LAT_HI, 0, 1),
            "island": np.clip(isl_z / ISL_HI, 0, 1),
        },
    )


def _on_cells(
    lat_map: np.ndarray,
    image: tuple[int, int],
    shape: tuple[int, int],
    cell_px: float,
    gy: int,
    gx: int,
) -> np.ndarray:
    """The lattice map (per window centre of the analysed blocks, which span the image evenly)
    spread over each window and sampled at the centres of the ghost's cells."""
    if lat_map.size == 0:
        return np.zeros(shape, np.float32)
    win = max(3, round(lattice.WINDOW * max(lat_map.shape)))
    spread = cv2.dilate(lat_map, np.ones((win, win), np.uint8))
    cy = ((gy + (np.arange(shape[0]) + 0.5) * cell_px) / image[0] * lat_map.shape[0]).astype(int)
    cx = ((gx + (np.arange(shape[1]) + 0.5) * cell_px) / image[1] * lat_map.shape[1]).astype(int)
    cy = np.clip(cy, 0, lat_map.shape[0] - 1)
    cx = np.clip(cx, 0, lat_map.shape[1] - 1)
    return spread[np.ix_(cy, cx)].astype(np.float32)


def _table(tables: dict[int, list[int]]) -> np.ndarray:
    return np.asarray(tables[0], dtype=np.int64).reshape(8, 8)


def packed_dq(media: Media, ghost: common.Packed) -> np.ndarray:
    """The blocks the quantisation analysis reads: those of the ghost analysis when they sit on
    the file's own grid (0, 0), where the last quantisation acted; else the same subset packed
    from (0, 0) (a crop after an earlier save moved the visible blocking, not the file's grid)."""
    base = common.packed_for(media)
    if base.phase == (0, 0):
        return ghost.plane
    return common.pack(common.luma(media), (0, 0), GHOST_PIXELS).plane


def _fit(grid_map: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``grid_map`` on the ghost map's cells (equal unless the DQ blocks were packed anew)."""
    if grid_map.shape == shape:
        return grid_map
    out = np.zeros(shape, np.float32)
    h, w = min(shape[0], grid_map.shape[0]), min(shape[1], grid_map.shape[1])
    out[:h, :w] = grid_map[:h, :w]
    return out


class JpegGhost(Detector):
    name = "jpeg_ghost"
    version = "1.3.0"
    description = (
        "JPEG double compression: ghosts across recompression qualities, aligned double "
        "quantisation per 8x8 block, and 8x8 grids that disagree between regions."
    )
    needs_full_resolution = True

    @classmethod
    def get_examples(cls) -> list[Example]:
        rng = np.random.default_rng(9)
        base = np.clip(rng.normal(128, 25, (256, 256)), 0, 255).astype(np.uint8)
        img = Image.fromarray(base).convert("RGB")
        jpg, png = io.BytesIO(), io.BytesIO()
        img.save(jpg, "JPEG", quality=90)
        img.save(png, "PNG")
        return [
            Example("single-compressed JPEG", jpg.getvalue(), Status.OK, None, 0.6),
            Example("PNG", png.getvalue(), Status.SKIPPED),
        ]

    def analyze(self, media: Media) -> Finding:
        if media.format.name != "jpeg":
            return self.skip(
                f"Applies to JPEG files only; this is {media.format.name.upper()}, which has no "
                "JPEG quantisation history to examine."
            )
        reason = common.unsuitable(media, "there are no regions to compare")
        if reason:
            return self.skip(reason)
        m = measure(media)
        grid_ev = tile_grid(common.luma(media), (m.origin[0], m.origin[1]))
        evidence = {**m.evidence, **grid_ev, **common.input_info(media).as_evidence()}
        q_est = int(m.evidence["estimated_quality"])  # type: ignore[call-overload]
        if q_est < 60:
            return self.ok(
                score=0.5,
                weight=0.0,
                summary=f"Saved at low JPEG quality (about {q_est}); too coarse for ghosts.",
                evidence=evidence,
            )
        score = common.ramp(m.statistic, STAT_LO, STAT_HI, 0.45, 0.75)
        weight = 0.2 if score >= 0.6 else 0.1
        dq_stat = float(m.evidence["dq_top2pct_z"])  # type: ignore[arg-type]
        by_dq = m.evidence["strongest_trace"] == "double_quantisation"
        lat_stat = float(m.evidence.get("lattice_z", 0.0))  # type: ignore[arg-type]
        by_lat = m.evidence["strongest_trace"] == "shifted_grid"
        isl_stat = float(m.evidence.get("dq_island_top2pct_z", 0.0))  # type: ignore[arg-type]
        by_isl = m.evidence["strongest_trace"] == "single_compression_island"
        if score >= 0.6 and by_dq and dq_stat >= DQ_HI:
            weight = DQ_WEIGHT
        if score >= 0.6 and by_lat and lat_stat >= LAT_HI:
            weight = DQ_WEIGHT
        if score >= 0.6 and by_isl and isl_stat >= ISL_HI:
            weight = DQ_WEIGHT
        if score >= 0.6 and by_isl:
            summary = (
                f"The picture as a whole was compressed twice on the same 8x8 grid (first at "
                f"about quality {m.evidence['dq_first_quality']}, "
                f"{float(m.evidence['dq_share']):.0%} of the blocks), but a region lacks that "
                f"trace ({isl_stat:.1f} robust standard deviations; no double-compressed "
                f"calibration photo reached {ISL_LO:g}): consistent with a paste from an "
                "uncompressed or resized source before the last save."
            )
        elif score >= 0.6 and by_lat:
            summary = (
                f"A region's 8x8 block averages sit on a JPEG quantisation lattice (DC step "
                f"{m.evidence['lattice_step']}) on {_grid_text(m.evidence['lattice_phase'])}, "
                f"while the file's own grid starts at row {m.origin[0]}, column {m.origin[1]} "
                f"(strength {lat_stat:.1f}; no authentic calibration photo reached {LAT_LO:g}): "
                "consistent with a paste from another JPEG that did not keep the 8x8 grid."
            )
        elif score >= 0.6 and by_dq:
            summary = (
                f"A region's DCT coefficients show the pattern of a second JPEG compression on "
                f"the same grid (first at about quality {m.evidence['dq_first_quality']}) that "
                f"the rest of the image does not share ({dq_stat:.1f} robust standard "
                "deviations): consistent with a paste from a lower-quality JPEG."
            )
        elif score >= 0.6:
            summary = (
                f"A region behaves as if it was once saved at JPEG quality about "
                f"{m.evidence['ghost_quality']} while the rest was not (a JPEG ghost, "
                f"{m.evidence['ghost_top2pct_z']} robust standard deviations): consistent with "
                "a paste from another JPEG; weak evidence alone."
            )
        else:
            summary = (
                f"No region shows a distinct JPEG ghost or double quantisation (saved at about "
                f"quality {q_est}); grid at offset ({m.origin[0]}, {m.origin[1]})."
            )
            if m.evidence.get("dq_whole_picture"):
                summary += (
                    f" The whole picture was saved twice on the same grid (first at about "
                    f"quality {m.evidence['dq_first_quality']}), which alone is not "
                    "manipulation; its JPEG ghosts are that history and are not scored."
                )
        display = common.display_luma(media)
        artifacts = [
            heatmap.artifact(
                "jpeg-ghost.png",
                f"JPEG ghost at quality {m.evidence['ghost_quality']}: black = typical, "
                f"white = {Z_RANGE:g} robust standard deviations closer to that quality "
                "than the rest of the image.",
                heatmap.render(display, m.arrays["ghost"]),
            )
        ]
        if dq_stat > DQ_LO:  # drawn only when it counts in the score (it costs a PNG)
            artifacts.append(
                heatmap.artifact(
                    "jpeg-double-quantisation.png",
                    f"Aligned double quantisation (first save at about quality "
                    f"{m.evidence['dq_first_quality']}): black = typical, white = "
                    f"{Z_RANGE:g} robust standard deviations more double-quantised than the "
                    "rest of the image.",
                    heatmap.render(display, m.arrays["dq"]),
                )
            )
        if isl_stat > ISL_LO:  # drawn only when it counts in the score
            artifacts.append(
                heatmap.artifact(
                    "jpeg-single-compression-island.png",
                    f"Regions without the picture's double-quantisation trace (first save at "
                    f"about quality {m.evidence['dq_first_quality']}): black = as "
                    f"double-quantised as the rest, white = {ISL_HI:g} robust standard "
                    "deviations less (compressed once: pasted before the last save?).",
                    heatmap.render(display, m.arrays["island"]),
                )
            )
        if lat_stat > LAT_LO:  # drawn only when it counts in the score
            artifacts.append(
                heatmap.artifact(
                    "jpeg-shifted-grid.png",
                    f"DC quantisation lattice (step {m.evidence['lattice_step']}) on "
                    f"{_grid_text(m.evidence['lattice_phase'])}: black = none, "
                    f"white = strength {LAT_HI:g} or more (windows of the strongest region).",
                    heatmap.render(display, m.arrays["lattice"]),
                )
            )
        return self.ok(
            score=score, weight=weight, summary=summary, evidence=evidence, artifacts=artifacts
        )


def _grid_text(phase: object) -> str:
    """'the 8x8 grid starting at row 4, column 5' for a lattice phase [4, 5] (row, column)."""
    dy, dx = phase  # type: ignore[misc]
    return f"the 8x8 grid starting at row {dy}, column {dx}"
