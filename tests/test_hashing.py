"""PDQ and imagehash: golden values from Meta and imagehash, and the project's own copies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hash_factory import near_copies, scene
from PIL import Image

from verifier import hashing
from verifier.errors import BadRequestError
from verifier.media import load_path

MAX_BITS_FROM_META = 10


def _golden_pdq(root: Path) -> dict[str, str]:
    """Meta's expected hashes, keyed by path under fixtures/pdq (both files Meta ships)."""
    expected: dict[str, str] = {}
    for line in (root / "PDQMD5TestData.csv").read_text().splitlines()[1:]:
        path, value = line.rsplit(",", 1)
        if len(value) == 64:
            expected[path.split("data/", 1)[1]] = value
    text = (root / "expected_hashes_pdq_test.py.txt").read_text()
    for path, value in re.findall(r'SAMPLE_MEDIA \+ "([^"]+)",\s*"([0-9a-f]{64})"', text):
        expected.setdefault(path.replace("reg-test-input/", ""), value)
    return expected


@pytest.fixture(scope="module")
def pdq_dir() -> Path:
    from conftest import SHARED_DATA

    root = SHARED_DATA / "fixtures" / "pdq"
    if not root.is_dir():
        pytest.skip(f"PDQ fixtures not present at {root}")
    return root


def _pdq_of(path: Path, settings) -> hashing.PDQResult:
    return hashing.hash_media(load_path(path, settings)).pdq


def test_parse_pdq_hex_accepts_case_and_prefix():
    value = "D8F8" + "0" * 60
    assert hashing.parse_pdq_hex(value) == bytes.fromhex(value)
    assert hashing.parse_pdq_hex("0x" + value.lower() + "\n") == bytes.fromhex(value)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "empty"),
        ("abc", "3 hex digits"),
        ("0" * 63, "63 hex digits"),
        ("0" * 65, "65 hex digits"),
        ("g" * 64, "not hexadecimal"),
        ("0" * 32 + " " + "0" * 31, "not hexadecimal"),
    ],
)
def test_parse_pdq_hex_refuses_malformed(text, words):
    with pytest.raises(BadRequestError, match=words):
        hashing.parse_pdq_hex(text)


def test_flat_image_hashes_with_quality_zero_and_is_degenerate():
    result = hashing.pdq(Image.new("RGB", (200, 150), (90, 90, 90)))
    assert result.quality < hashing.PDQ_MIN_QUALITY and not result.reliable
    assert hashing.degenerate(result.hash)
    assert not hashing.hash_reliable(result.hash, None)


def test_own_near_copies_match_and_other_scenes_do_not():
    original = hashing.hash_image(scene(1)).pdq
    assert original.quality >= hashing.PDQ_MIN_QUALITY
    assert bin(int(original.hex, 16)).count("1") == 128  # median threshold: half the bits
    for name, copy in near_copies(scene(1)).items():
        d = hashing.hamming(original.hash, hashing.hash_image(copy).pdq.hash)
        assert d <= hashing.PDQ_THRESHOLD, (name, d)
    for seed in range(2, 8):
        d = hashing.hamming(original.hash, hashing.hash_image(scene(seed)).pdq.hash)
        assert d > hashing.PDQ_THRESHOLD + 20, (seed, d)


@pytest.mark.parametrize("index", range(8), ids=hashing.DIHEDRAL)
def test_own_rotations_and_flips_match_through_the_dihedral_hashes(index):
    img = scene(3)
    transposes = [
        None,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_180,
        Image.Transpose.ROTATE_270,
        Image.Transpose.FLIP_TOP_BOTTOM,
        Image.Transpose.FLIP_LEFT_RIGHT,
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
    ]
    transformed = img if transposes[index] is None else img.transpose(transposes[index])
    plain = hashing.hash_image(transformed).pdq.hash
    dihedral = hashing.hash_image(img).pdq.dihedral
    distances = [hashing.hamming(plain, h) for h in dihedral]
    assert min(distances) == distances[index] <= hashing.PDQ_THRESHOLD


def test_pdq_within_10_bits_of_meta_reference(pdq_dir, settings):
    checked = 0
    for rel, expected in sorted(_golden_pdq(pdq_dir).items()):
        path = pdq_dir / rel
        if not path.exists():
            continue
        got = _pdq_of(path, settings)
        d = hashing.hamming(got.hash, bytes.fromhex(expected))
        assert d <= MAX_BITS_FROM_META, (rel, got.hex, expected, d)
        checked += 1
    assert checked >= 25


def test_bridge_mods_all_match_the_original(pdq_dir, settings):
    original = _pdq_of(pdq_dir / "bridge-mods" / "aaa-orig.jpg", settings)
    mods = sorted((pdq_dir / "bridge-mods").glob("*.jpg"))
    assert len(mods) >= 10
    for path in mods:
        d = hashing.hamming(original.hash, _pdq_of(path, settings).hash)
        assert d <= hashing.PDQ_THRESHOLD, (path.name, d)


def test_labelme_subset_matches_neither_the_bridge_nor_each_other(pdq_dir, settings):
    bridge = _pdq_of(pdq_dir / "bridge-mods" / "aaa-orig.jpg", settings)
    others = {p.name: _pdq_of(p, settings) for p in sorted((pdq_dir / "labelme-subset").glob("*"))}
    assert len(others) >= 5
    for name, h in others.items():
        assert min(hashing.hamming(b, h.hash) for b in bridge.dihedral) > hashing.PDQ_THRESHOLD
        for other_name, other in others.items():
            if other_name != name:
                assert hashing.hamming(h.hash, other.hash) > hashing.PDQ_THRESHOLD, (
                    name,
                    other_name,
                )


def test_dih_rotations_match_the_original_at_the_right_transform(pdq_dir, settings):
    files = sorted((pdq_dir / "dih").glob("bridge-*.jpg"))
    assert len(files) == 8
    original = _pdq_of(files[0], settings)
    for index, path in enumerate(files):  # bridge-1-original ... bridge-8-flip-minus-1
        plain = _pdq_of(path, settings).hash
        distances = [hashing.hamming(plain, h) for h in original.dihedral]
        assert distances.index(min(distances)) == index, (path.name, distances)
        assert min(distances) <= hashing.PDQ_THRESHOLD


def test_imagehash_known_values(shared_data, settings):
    path = shared_data / "fixtures" / "imagehash" / "tests" / "data" / "imagehash.png"
    if not path.exists():
        pytest.skip("imagehash fixture absent")
    full = hashing.imagehashes(Image.open(path))
    assert full == {
        "ahash": "ffd7918181c9ffff",
        "phash": "ba8c84536bd3c366",
        "dhash": "0026273b2b19550e",
        "whash": "ffd391818181a5e7",
        "colorhash": "07007000000",
    }
    # The detector hashes a reduced copy: the 64-bit hashes stay within a few bits.
    reduced = hashing.hash_media(load_path(path, settings)).others
    for name in ("ahash", "phash", "dhash", "whash"):
        d = (int(full[name], 16) ^ int(reduced[name], 16)).bit_count()
        assert d <= 6, (name, d)


def test_imagehash_ignores_a_different_icc_profile(shared_data, settings):
    folder = shared_data / "fixtures" / "imagehash" / "tests" / "data_older"
    a, b = folder / "bigbuckbunny.png", folder / "bigbuckbunny-with-diff-icc.png"
    if not (a.exists() and b.exists()):
        pytest.skip("imagehash ICC fixtures absent")
    ha, hb = (hashing.hash_media(load_path(p, settings)) for p in (a, b))
    assert ha.others["phash"] == hb.others["phash"]
    assert ha.pdq.hash == hb.pdq.hash


def test_colour_modes_hash_alike(pdq_dir, settings):
    """The same picture stored as CMYK, greyscale, palette, RGBA... matches its RGB copy."""
    files = sorted((pdq_dir / "misc-images" / "modes").glob("*"))
    if len(files) < 3:
        pytest.skip("colour-mode fixtures absent")
    reference = _pdq_of(pdq_dir / "misc-images" / "modes" / "RGB.jpg", settings)
    for path in files:
        result = _pdq_of(path, settings)
        assert result.quality >= hashing.PDQ_MIN_QUALITY, path.name
        assert hashing.hamming(reference.hash, result.hash) <= 10, path.name


def test_large_jpeg_is_hashed_on_the_cached_eighth_scale_copy(settings):
    from hash_factory import jpeg

    from verifier.media import load_media

    big = load_media(jpeg(scene(8, 2400, 1800)), settings)
    assert hashing.hash_side(big) == 300
    hashes = hashing.hash_media(big)
    assert hashes.hashed_size == (300, 225)
    small = hashing.hash_image(scene(8, 2400, 1800).resize((800, 600)))
    assert hashing.hamming(hashes.pdq.hash, small.pdq.hash) <= 10
