"""Pixel forensics (ela, noise, jpeg_ghost, copy_move): bad input, shared helpers, detection."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from detectors._forensics import common, synth
from detectors.copy_move import CopyMove
from detectors.copy_move import detector as copy_move
from detectors.ela import ErrorLevelAnalysis
from detectors.jpeg_ghost import JpegGhost
from detectors.jpeg_ghost import detector as jpeg_ghost
from detectors.noise import NoiseResiduals
from detectors.noise import detector as noise_mod
from verifier.media import load_media
from verifier.pipeline import Pipeline
from verifier.report import Status

FORENSICS = (ErrorLevelAnalysis, NoiseResiduals, JpegGhost, CopyMove)


def textured(width: int = 480, height: int = 320, seed: int = 0) -> np.ndarray:
    """A photo-like RGB array: smooth shapes, mid-scale texture and fine noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 50 * np.sin(xx / 37.0) * np.cos(yy / 23.0)
    coarse = rng.normal(0, 1, (height // 8 + 1, width // 8 + 1)).repeat(8, 0).repeat(8, 1)
    arr = base + 25 * coarse[:height, :width] + rng.normal(0, 3, (height, width))
    rgb = np.stack([arr, arr * 0.9 + 10, arr * 0.8 + 20], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def save(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def run(cls, data: bytes, settings):
    pipeline = Pipeline(settings, [cls(settings)])
    return pipeline.run_detector(pipeline.detectors[0], load_media(data, settings))


BASE = Image.fromarray(textured())
BAD_INPUTS = {
    "tiny": (save(BASE.resize((40, 30)), "JPEG"), "skipped"),
    "1-bit": (save(BASE.convert("1"), "PNG"), "skipped"),
    "16-bit": (
        save(BASE.convert("L").point(lambda v: v * 256, "I").convert("I;16"), "PNG"),
        "skipped",
    ),
    "cmyk": (save(BASE.convert("CMYK"), "JPEG", quality=90), "ok"),
    "palette": (save(BASE.convert("P"), "PNG"), None),  # copy_move runs, the others skip
    "alpha": (save(BASE.convert("RGBA"), "PNG"), "ok"),
    "grey+alpha": (save(BASE.convert("LA"), "PNG"), "ok"),
    "huge flat": (save(Image.new("RGB", (4000, 3000), (120, 130, 140)), "JPEG"), "skipped"),
    # a strip 125 times longer than wide: fewer blocks across than the map merges per cell
    "thin strip": (save(Image.fromarray(textured(72, 9000)), "JPEG", quality=85), "ok"),
}


@pytest.mark.parametrize("label", sorted(BAD_INPUTS))
@pytest.mark.parametrize("cls", FORENSICS, ids=[c.name for c in FORENSICS])
def test_bad_input_is_skipped_or_handled_never_an_error(cls, label, settings):
    data, expected = BAD_INPUTS[label]
    finding = run(cls, data, settings)
    assert finding.status is not Status.ERROR, finding.error
    if finding.status is Status.SKIPPED:
        assert finding.reason
    if cls is JpegGhost and not data.startswith(b"\xff\xd8"):
        assert finding.status is Status.SKIPPED  # not a JPEG
    elif expected is not None:
        assert finding.status.value == expected, (label, finding.reason)
    elif cls is CopyMove:
        assert finding.status is Status.OK
    else:
        assert finding.status is Status.SKIPPED


def test_heatmaps_are_pngs_with_descriptions(settings):
    data = synth.jpeg_bytes(textured(), 90)
    for cls in FORENSICS:
        finding = run(cls, data, settings)
        assert finding.status is Status.OK
        assert 0 <= finding.score <= 1 and finding.evidence
        for art in finding.artifacts:
            assert art.media_type == "image/png" and art.data.startswith(b"\x89PNG")
            assert art.description


def test_copy_move_finds_a_clone_and_its_mask(settings):
    rng = np.random.default_rng(4)
    img = textured(640, 480, seed=2)
    sample = synth.copy_move(img, rng, 90)
    media = load_media(sample.data, settings, decode="full")
    finding = CopyMove(settings).analyze(media)
    assert finding.score >= 0.8 and finding.weight >= 0.5, finding.summary
    assert any(a.name == "copy-move.png" for a in finding.artifacts)
    m = copy_move.measure(media)
    pred = common.to_image_grid(m, (media.height, media.width), m.mask) > 0
    tp = (pred & sample.mask).sum()
    assert 2 * tp / (pred.sum() + sample.mask.sum()) > 0.5


def test_copy_move_stays_quiet_on_an_unedited_picture(settings):
    finding = CopyMove(settings).analyze(
        load_media(synth.jpeg_bytes(textured(640, 480, seed=3), 90), settings)
    )
    assert finding.score < 0.6


def test_packed_blocks_recompress_exactly_like_the_full_image():
    """The speed trick the ELA/ghost analysis relies on: aligned luma blocks are independent."""
    y = textured(256, 192)[..., 0]
    full = common.recompress(y, 75)
    packed = common.pack(y, (0, 0), max_pixels=y.size // 4)
    assert packed.stride == 2
    expected = full.reshape(24, 8, 32, 8)[::2, :, ::2, :].reshape(96, 128)
    assert np.array_equal(common.recompress(packed.plane, 75), expected)


def test_grid_phase_follows_a_crop():
    y = common.recompress(textured(256, 192)[..., 0], 70)
    assert common.grid_phase(y)[:2] == (0, 0)
    gy, gx, conf = common.grid_phase(y[3:, 5:])
    assert (gy, gx) == (5, 3) and conf > 0.2


@pytest.mark.parametrize("quality", [60, 75, 90, 95])
def test_jpeg_quality_is_estimated_from_the_quantisation_table(quality, settings):
    media = load_media(save(BASE, "JPEG", quality=quality), settings)
    assert jpeg_ghost.estimate_quality(jpeg_ghost.quant_tables(media))[0] == quality


def test_synthetic_generator_is_deterministic_and_masks_match():
    photos = [textured(seed=s) for s in range(3)]
    first = list(synth.triplets(photos, 3, seed=1))
    second = list(synth.triplets(photos, 3, seed=1))
    for a, b in zip(first, second, strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.data == y.data and np.array_equal(x.mask, y.mask)
            assert x.mask.shape == (320, 480)
        authentic, clone, splice = a
        assert not authentic.mask.any() and clone.mask.any() and splice.mask.any()


@pytest.mark.slow
def test_innocent_photos_do_not_light_up(shared_data, settings):
    """A small slice of the calibration set; the full numbers come from eval_forensics.py."""
    photos = sorted((shared_data / "train" / "photos-bsds500" / "images").glob("*.jpg"))[:20]
    detectors = [cls(settings) for cls in FORENSICS]
    for path in photos:
        media = load_media(path.read_bytes(), settings, decode="full")
        for det in detectors:
            finding = det.analyze(media)
            assert not (finding.score >= 0.8 and finding.weight >= 0.5), (path.name, det.name)


def weak_texture(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """Sky-like RGB array: a smooth gradient with sensor noise (demosaiced, so not white), and a
    few dark objects."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = cv2.GaussianBlur(rng.normal(0, 15, (height, width)).astype(np.float32), (0, 0), 1.0)
    arr = 150 + 50 * yy / height + 10 * np.sin(xx / 90.0) + noise
    for _ in range(6):
        x, y = int(rng.integers(0, width - 60)), int(rng.integers(0, height - 40))
        arr[y : y + 40, x : x + 60] = 40 + rng.normal(0, 8, (40, 60))
    rgb = np.stack([arr * 0.8, arr * 0.9, arr], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_flat_clone_generator_is_deterministic_and_leaves_triplets_alone():
    photos = [textured(seed=s) for s in range(3)]
    before = [s.data for t in synth.triplets(photos, 2, seed=1) for s in t]
    first = list(synth.flat_pairs(photos, 3, seed=1))
    second = list(synth.flat_pairs(photos, 3, seed=1))
    for (ctl_a, clone_a), (ctl_b, clone_b) in zip(first, second, strict=True):
        assert ctl_a.data == ctl_b.data and clone_a.data == clone_b.data
        assert np.array_equal(clone_a.mask, clone_b.mask)
        assert not ctl_a.mask.any() and clone_a.mask.any() and clone_a.meta["flat"]
    assert before == [s.data for t in synth.triplets(photos, 2, seed=1) for s in t]


def test_copy_move_finds_a_clone_in_weak_texture(settings):
    """Noisy sky has no keypoints to match; the block search finds the copied noise."""
    sample = synth.flat_copy_move(weak_texture(), np.random.default_rng(3), 90)
    media = load_media(sample.data, settings, decode="full")
    finding = CopyMove(settings).analyze(media)
    assert finding.score >= 0.6 and finding.weight >= 0.2, finding.summary
    assert finding.evidence["block_search"]["matched_area_fraction"] >= copy_move.FLAT_AREA
    m = copy_move.measure(media)
    pred = common.to_image_grid(m, (media.height, media.width), m.mask) > 0
    tp = (pred & sample.mask).sum()
    assert 2 * tp / (pred.sum() + sample.mask.sum()) > 0.5


def test_copy_move_stays_quiet_on_unedited_weak_texture(settings):
    media = load_media(synth.jpeg_bytes(weak_texture(), 90), settings, decode="full")
    finding = CopyMove(settings).analyze(media)
    assert finding.score < 0.6, finding.summary


def test_block_dct_matches_opencv_per_block():
    y = textured(64, 48)[..., 0]
    coefs = common.block_dct(y)
    assert coefs.shape == (6, 8, 64)
    expected = cv2.dct(y[8:16, 16:24].astype(np.float32)).ravel()
    assert np.allclose(coefs[1, 2], expected, atol=1e-3)


def test_conditional_z_ignores_uninformative_bins_and_a_minority_cannot_bend_it():
    rng = np.random.default_rng(0)
    given = rng.uniform(0, 5, (40, 40)).astype(np.float32)
    values = (given + rng.normal(0, 0.3, given.shape)).astype(np.float32)
    values[:8, :8] -= 2.0  # a region far below what its texture predicts
    z, info = common.conditional_z(values, given, np.ones(given.shape, bool))
    assert info.mean() > 0.9
    assert z[:8, :8].mean() < -3 and abs(float(np.median(z[10:, 10:]))) < 0.3
    flat = np.zeros_like(values)  # e.g. fine detail zeroed everywhere by the quantiser
    z0, info0 = common.conditional_z(flat, given, np.ones(given.shape, bool))
    assert not info0.any() and not z0.any()


@pytest.mark.parametrize("treatment", ["blur", "noise"])
def test_noise_finds_a_blurred_or_noisier_region(treatment, settings):
    # mid-scale structure (as photos have) lets the texture model tell blur from flatness
    mid = np.random.default_rng(7).normal(0, 1, (320, 480)).astype(np.float32)
    mid = 60 * cv2.GaussianBlur(mid, (0, 0), 1.5)
    img = np.clip(textured(480, 320, seed=6) + mid[..., None], 0, 255).astype(np.uint8)
    region = np.zeros(img.shape[:2], bool)
    region[100:220, 160:320] = True
    if treatment == "blur":
        edited = cv2.GaussianBlur(img, (0, 0), 1.2)
    else:
        noise = np.random.default_rng(1).normal(0, 8, img.shape)
        edited = np.clip(img + noise, 0, 255).astype(np.uint8)
    spliced = np.where(region[..., None], edited, img)
    clean = load_media(synth.jpeg_bytes(img, 92), settings, decode="full")
    media = load_media(synth.jpeg_bytes(spliced, 92), settings, decode="full")
    m = noise_mod.measure(media)
    assert m.statistic > noise_mod.measure(clean).statistic + 10
    assert m.evidence["direction"] == ("smoother" if treatment == "blur" else "noisier")
    pred = common.to_image_grid(m, (media.height, media.width), m.mask) > 0
    assert 2 * (pred & region).sum() / (pred.sum() + region.sum()) > 0.6


def test_double_quantisation_lattice():
    """Saved at step 6 then 3, only even bins are reachable (twice as likely); equal steps or a
    finer first step that divides the second leave no trace."""
    from detectors.jpeg_ghost import dq

    r = dq.lattice_ratio(6, 3)
    assert np.allclose(r[1:9], [0, 2, 0, 2, 0, 2, 0, 2])
    assert np.allclose(dq.lattice_ratio(4, 4)[:20], 1)
    assert np.allclose(dq.lattice_ratio(1, 5)[1:20], 1)


GHOST_HEATMAP = {
    "double_quantisation": "jpeg-double-quantisation.png",
    "shifted_grid": "jpeg-shifted-grid.png",
    "single_compression_island": "jpeg-single-compression-island.png",
}


def assert_ghost_localises(media, finding, truth, trace: str, min_f1: float) -> None:
    """The finding is moderate, drawn from ``trace`` with its heatmap, and its mask finds the
    pasted region (pixel F1 above ``min_f1``)."""
    assert finding.score >= 0.6 and finding.weight >= 0.2, finding.summary
    assert any(a.name == GHOST_HEATMAP[trace] for a in finding.artifacts)
    m = jpeg_ghost.measure(media)
    assert m.evidence["strongest_trace"] == trace
    pred = common.to_image_grid(m, truth.shape, m.mask) > 0
    assert 2 * (pred & truth).sum() / (pred.sum() + truth.sum()) > min_f1


def test_jpeg_ghost_localises_an_aligned_paste_from_a_coarser_jpeg(settings):
    """A region pasted on the grid from a quality-60 JPEG into a quality-90 save is found by the
    aligned double-quantisation map, with the donor's quality."""
    host = textured(640, 480, seed=5)
    donor = synth.decode(synth.jpeg_bytes(textured(640, 480, seed=6), 60))
    truth = np.zeros((480, 640), bool)
    truth[160:320, 240:448] = True  # block-aligned
    img = np.where(truth[..., None], donor, host)
    media = load_media(synth.jpeg_bytes(img, 90), settings, decode="full")
    finding = JpegGhost(settings).analyze(media)
    assert finding.evidence["dq_first_quality"] == 60
    assert_ghost_localises(media, finding, truth, "double_quantisation", 0.6)


def test_jpeg_ghost_stays_quiet_on_a_single_save(settings):
    media = load_media(synth.jpeg_bytes(textured(640, 480, seed=7), 90), settings, decode="full")
    finding = JpegGhost(settings).analyze(media)
    assert finding.score < 0.6, finding.summary
    assert finding.evidence["dq_top2pct_z"] < jpeg_ghost.DQ_LO


def test_phase_sums_are_the_8x8_block_sums_on_every_grid():
    from detectors.jpeg_ghost import lattice

    rng = np.random.default_rng(3)
    y = rng.integers(0, 256, (100, 140)).astype(np.uint8)
    s = lattice.phase_sums(y)
    assert s.shape[:2] == (8, 8)
    for dy, dx, i, j in ((0, 0, 0, 0), (3, 5, 2, 7), (7, 7, s.shape[2] - 1, s.shape[3] - 1)):
        y0, x0 = dy + 8 * i, dx + 8 * j
        assert s[dy, dx, i, j] == int(y[y0 : y0 + 8, x0 : x0 + 8].astype(int).sum())
    big = rng.integers(0, 256, (1200, 1600)).astype(np.uint8)  # tiles of a mosaic
    t = lattice.phase_sums(big)
    b = lattice.TILE // 8
    assert t.shape[2] % b == 0 and t.shape[2] * t.shape[3] * 64 <= 1.2 * lattice.LATTICE_PIXELS
    assert t[2, 6, 0, 0] == int(big[2:10, 6:14].astype(int).sum())


def test_jpeg_ghost_finds_a_paste_whose_grid_was_shifted(settings):
    """A region of a quality-60 JPEG saved on a grid shifted by (3, 5) and pasted into a
    quality-90 save: its block averages sit on the DC lattice (step 13) of that grid."""
    host = textured(640, 480, seed=5)
    shift = (3, 5)
    donor = np.roll(textured(640, 480, seed=6), shift, axis=(0, 1))
    donor = np.roll(synth.decode(synth.jpeg_bytes(donor, 60)), (-3, -5), axis=(0, 1))
    truth = np.zeros((480, 640), bool)
    truth[150:330, 230:450] = True
    img = np.where(truth[..., None], donor, host)
    media = load_media(synth.jpeg_bytes(img, 90), settings, decode="full")
    finding = JpegGhost(settings).analyze(media)
    assert finding.evidence["lattice_phase"] == [5, 3]
    assert finding.evidence["lattice_step"] == 13
    assert_ghost_localises(media, finding, truth, "shifted_grid", 0.5)


def test_shifted_grid_lattice_stays_quiet_on_a_single_save(settings):
    for seed, quality in ((7, 90), (8, 75)):
        data = synth.jpeg_bytes(textured(640, 480, seed=seed), quality)
        finding = JpegGhost(settings).analyze(load_media(data, settings, decode="full"))
        assert finding.evidence["lattice_z"] < jpeg_ghost.LAT_LO


def test_shifted_grid_lattice_ignores_a_crop_after_an_earlier_save(settings):
    """A photo saved at quality 65, cropped by (3, 5) and saved again carries the first save's
    lattice on a shifted grid everywhere: the picture's history, not a paste (even where the
    blocking did not reveal the crop's grid)."""
    from detectors.jpeg_ghost import lattice

    first = synth.decode(synth.jpeg_bytes(textured(648, 488, seed=9), 65))
    crop = np.ascontiguousarray(first[3:483, 5:645])
    data = synth.jpeg_bytes(crop, 90)
    finding = JpegGhost(settings).analyze(load_media(data, settings))
    assert finding.evidence["lattice_z"] < jpeg_ghost.LAT_LO
    assert finding.evidence["strongest_trace"] != "shifted_grid"
    y = cv2.cvtColor(synth.decode(data), cv2.COLOR_RGB2GRAY)
    _, ev = lattice.lattice_map(y, [(0, 0)], 3)  # as if the global grid were (0, 0)
    assert [5, 3] in ev["lattice_global_phases"]
    assert ev["lattice_z"] < jpeg_ghost.LAT_LO


def test_copy_move_verifies_a_rotated_and_scaled_copy_over_its_whole_area():
    """The warp's interpolation smooths the copy: without allowing for it, fine detail and JPEG
    noise pull the local correlation under the threshold over much of a rotated clone."""
    noise = np.random.default_rng(1).normal(0, 8, (480, 640, 1))
    img = np.clip(textured(640, 480, seed=5) + noise, 0, 255).astype(np.uint8)
    source = np.zeros((480, 640), np.uint8)
    cv2.circle(source, (160, 140), 70, 1, -1)
    model = cv2.getRotationMatrix2D((160, 140), 20, 1.05)
    model[:, 2] += (300, 180)
    moved = cv2.warpAffine(img, model, (640, 480), flags=cv2.INTER_LINEAR)
    copy = cv2.warpAffine(source, model, (640, 480), flags=cv2.INTER_NEAREST) > 0
    cloned = np.where(copy[..., None], moved, img)
    g = cv2.cvtColor(synth.decode(synth.jpeg_bytes(cloned, 80)), cv2.COLOR_RGB2GRAY)
    target, found_source, _ = copy_move._verify(g, model, np.array([[460.0, 320.0]], np.float32))
    core = cv2.erode(copy.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert (target & core).sum() >= 0.95 * core.sum()
    assert (found_source & ~cv2.dilate(source, np.ones((9, 9), np.uint8)).astype(bool)).sum() < 50


def test_island_generator_is_deterministic_and_leaves_other_generators_alone():
    photos = [textured(seed=s) for s in range(3)]
    before = [s.data for t in synth.triplets(photos, 2, seed=1) for s in t]
    before += [s.data for p in synth.flat_pairs(photos, 2, seed=1) for s in p]
    first = list(synth.island_pairs(photos, 3, seed=1))
    second = list(synth.island_pairs(photos, 3, seed=1))
    for (ctl_a, isl_a), (ctl_b, isl_b) in zip(first, second, strict=True):
        assert ctl_a.data == ctl_b.data and isl_a.data == isl_b.data
        assert np.array_equal(isl_a.mask, isl_b.mask)
        assert not ctl_a.mask.any() and isl_a.mask.any() and isl_a.meta["island"]
        assert 55 <= isl_a.meta["first_quality"] <= 80 < 85 <= isl_a.meta["quality"] <= 95
        assert ctl_a.meta == {k: isl_a.meta[k] for k in ("quality", "first_quality")}
    after = [s.data for t in synth.triplets(photos, 2, seed=1) for s in t]
    after += [s.data for p in synth.flat_pairs(photos, 2, seed=1) for s in p]
    assert before == after


def test_jpeg_ghost_finds_a_singly_compressed_island_and_not_the_double_save(settings):
    """A photo saved at quality 65 and again at 90 carries double quantisation everywhere: that
    alone is no finding (the ghosts it leaves are not scored); a region pasted from a resized
    source before the second save lacks the trace and is localised."""
    host = textured(640, 480, seed=11)
    first = synth.decode(synth.jpeg_bytes(host, 65))
    control = load_media(synth.jpeg_bytes(first, 90), settings, decode="full")
    finding = JpegGhost(settings).analyze(control)
    assert finding.score < 0.6, finding.summary
    assert finding.evidence["dq_whole_picture"] and not finding.evidence["ghost_scored"]
    assert finding.evidence["dq_island_top2pct_z"] < jpeg_ghost.ISL_LO
    donor = cv2.resize(textured(480, 360, seed=12), (640, 480), interpolation=cv2.INTER_LINEAR)
    truth = np.zeros((480, 640), bool)
    truth[150:310, 230:430] = True
    pasted = synth.jpeg_bytes(np.where(truth[..., None], donor, first), 90)
    media = load_media(pasted, settings, decode="full")
    finding = JpegGhost(settings).analyze(media)
    assert finding.evidence["dq_first_quality"] == 65
    assert_ghost_localises(media, finding, truth, "single_compression_island", 0.6)
