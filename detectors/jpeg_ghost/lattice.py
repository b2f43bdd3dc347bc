"""Non-aligned double quantisation (NA-DJPG): a DC lattice on a shifted 8x8 grid.

A region pasted from a JPEG whose 8x8 grid does not line up with the file's keeps, on its own
grid, the first save's quantisation: every block's DC coefficient (8 x (block mean - 128)) is a
multiple of the first DC step, blurred only by the last save's rounding. On any other grid the
DC values are spread evenly. Bianchi and Piva ("Detection of non-aligned double JPEG
compression based on integer periodicity maps", IEEE TIFS 2012; "Image forgery localization
via block-grained analysis of JPEG artifacts", IEEE TIFS 2012) search the grid shift and the
first step; this module does so cheaply with the DC alone: the sum of every 8x8 block at every
pixel offset comes from one integral image, and sampling it with stride 8 at offset (dy, dx)
gives the DC of every block on grid phase (dy, dx).

Per phase, candidate step k and window (about the size of a pasted object), the lattice
strength is R = |mean exp(2 pi i DC / k)|^2 (about 1/n for n blocks without a lattice, near 1
on a clean one). Smooth windows put every phase on some lattice (their DC values barely
vary), so R is compared with its mean B over the 64 phases of the same window:
z = (R - B) / (B + 1/n), about an exponential variable with mean 1 where no phase stands out.
The file's own grid (and the global grid, after a crop, and any grid whose lattice
fills most windows: the history of the whole picture, an earlier save before a crop) is
skipped, and so are the steps that
divide the file's own DC step; a grid one pixel off the file's inherits its lattice in smooth
areas (where few lattice points are spanned, at nearby steps too: the authentic maxima of the
first version were all there), so on those grids R must beat the own grid's R as well.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Pixels analysed at most (full-resolution tiles spread evenly over larger images).
LATTICE_PIXELS = 200_000
#: Tile side (pixels, a multiple of 8) when the image is larger than LATTICE_PIXELS.
TILE = 128
#: Candidate first DC steps: libjpeg's luma DC step is 6..14 at qualities 80..55.
STEPS = tuple(range(5, 17))
#: Window side as a share of the longer side of the analysed (mosaic) block grid.
WINDOW = 0.12
#: Windows are evaluated every STRIDE blocks (they are 5-8 blocks wide; stride 2 costs 1/4).
STRIDE = 2
#: A grid whose median window z (for some step) reaches GLOBAL_Z carries a lattice across the
#: picture: an earlier save before a crop, treated as an own grid. Authentic photos and their
#: resaves: at most 0.11 (160 images); shifted untreated splices at most 0.11 (18); photos
#: saved at quality 60-79, cropped by 1-7 px and resaved at 86-94: 1.99 to 11.7 (12).
GLOBAL_Z = 1.0
#: The median is taken over every GLOBAL_SUBSAMPLE-th window (it is only a level).
GLOBAL_SUBSAMPLE = 2


def phase_sums(y: np.ndarray) -> np.ndarray:
    """Sum of the 8x8 block at every pixel offset, sampled per grid phase: (8, 8, rows, cols)
    int32, ``out[dy, dx, i, j]`` = sum of ``y[dy + 8i : dy + 8i + 8, dx + 8j : dx + 8j + 8]``.
    Tiles of :data:`TILE` pixels (spread evenly) form a mosaic when ``y`` is large."""
    h, w = y.shape
    if h * w <= LATTICE_PIXELS * 1.2:
        return _sums(y, (h - 8) // 8, (w - 8) // 8)
    n = max(1, round(LATTICE_PIXELS / TILE**2))
    ny = max(1, round(np.sqrt(n * h / w)))
    nx = max(1, round(n / ny))
    ny, nx = min(ny, (h - 8) // TILE), min(nx, (w - 8) // TILE)
    ys = (np.linspace(0, h - TILE - 8, ny) // 8 * 8).astype(int)
    xs = (np.linspace(0, w - TILE - 8, nx) // 8 * 8).astype(int)
    b = TILE // 8
    out = np.empty((8, 8, ny * b, nx * b), np.int32)
    for i, ty in enumerate(ys):
        for j, tx in enumerate(xs):
            tile = y[ty : ty + TILE + 8, tx : tx + TILE + 8]
            out[:, :, i * b : (i + 1) * b, j * b : (j + 1) * b] = _sums(tile, b, b)
    return out


def _sums(y: np.ndarray, by: int, bx: int) -> np.ndarray:
    c = np.zeros((y.shape[0] + 1, y.shape[1] + 1), np.int32)
    np.cumsum(np.cumsum(y, axis=0, dtype=np.int32), axis=1, out=c[1:, 1:])
    s = c[8:, 8:] - c[:-8, 8:] - c[8:, :-8] + c[:-8, :-8]
    out = np.empty((8, 8, by, bx), np.int32)
    for dy in range(8):
        for dx in range(8):
            out[dy, dx] = s[dy : dy + 8 * by : 8, dx : dx + 8 * bx : 8]
    return out


def _window_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over the k x k windows of the last two axes (valid ones, every STRIDE-th). One box
    filter over the phases stacked vertically: the windows kept never cross from one phase to
    the next."""
    p, h, w = a.shape
    m = cv2.blur(a.reshape(p * h, w), (k, k)).reshape(p, h, w)
    lo = k // 2
    hi = k - 1 - lo
    return m[:, lo : h - hi : STRIDE, lo : w - hi : STRIDE]


def lattice_map(
    y: np.ndarray, own: list[tuple[int, int]], own_dc_step: int
) -> tuple[np.ndarray, dict[str, object]]:
    """The strongest shifted-grid DC lattice: per block of the analysed grid, the z-score of
    the winning (phase, step) in the window centred there (0 outside), and the evidence."""
    sums = phase_sums(y)
    by, bx = sums.shape[2:]
    win = max(3, round(WINDOW * max(by, bx)))
    ev: dict[str, object] = {
        "lattice_z": 0.0,
        "lattice_phase": None,
        "lattice_step": None,
        "lattice_global_phases": [],
    }
    if min(by, bx) < win:
        return np.zeros((by, bx), np.float32), ev
    flat = sums.reshape(64, by, bx).astype(np.uint16)  # at most 64 x 255
    n = float(win * win)
    own_ids = {(dy % 8) * 8 + dx % 8 for dy, dx in own}
    strength: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    spread = np.zeros(64)
    for k in STEPS:
        if own_dc_step % k == 0:
            continue
        turn = np.arange(8 * k, dtype=np.float32) * np.float32(2 * np.pi / (8 * k))
        idx = flat % np.uint16(8 * k)
        r = _window_mean(np.cos(turn)[idx], win) ** 2 + _window_mean(np.sin(turn)[idx], win) ** 2
        base = r.mean(axis=0)
        strength[k] = (r, base)
        rs = r.reshape(64, -1)[:, ::GLOBAL_SUBSAMPLE]
        bs = base.reshape(-1)[::GLOBAL_SUBSAMPLE]
        spread = np.maximum(spread, np.median((rs - bs) / (bs + 1.0 / n), axis=1))
    # a lattice in most windows is the whole picture's history (a crop after an earlier
    # save), not a paste: that grid counts as the image's own
    glob = [p for p in range(64) if spread[p] >= GLOBAL_Z and p not in own_ids]
    ev["lattice_global_phases"] = [[p // 8, p % 8] for p in glob]
    skip = sorted(own_ids | set(glob))
    # the 8 grids one pixel off each own grid, with the own grid they are compared against
    near = [
        ((o // 8 + ey) % 8 * 8 + (o % 8 + ex) % 8, o)
        for o in skip
        for ey in (-1, 0, 1)
        for ex in (-1, 0, 1)
        if ey or ex
    ]
    best, best_z = 0.0, None
    for k, (r, base) in strength.items():
        z = (r - base) / (base + 1.0 / n)
        for p, o in near:  # inherits the own grid's lattice in smooth areas: must beat it
            z[p] = (r[p] - np.maximum(base, r[o])) / (np.maximum(base, r[o]) + 1.0 / n)
        z[skip] = 0.0
        p = int(z.reshape(64, -1).max(axis=1).argmax())
        if z[p].max() > best:
            best, best_z = float(z[p].max()), z[p]
            ev.update(lattice_phase=[p // 8, p % 8], lattice_step=k)
    ev["lattice_z"] = round(best, 3)
    out = np.zeros((by, bx), np.float32)
    if best_z is not None:
        h0 = win // 2
        full = best_z.repeat(STRIDE, axis=0).repeat(STRIDE, axis=1)
        full = full[: by - win + 1, : bx - win + 1]
        out[h0 : h0 + full.shape[0], h0 : h0 + full.shape[1]] = full
    return out, ev
