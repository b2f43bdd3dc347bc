"""The Hamming index returns exactly what a brute-force scan returns."""

from __future__ import annotations

import numpy as np
import pytest

from verifier.hashindex import FLAT_LIMIT, HammingIndex, flip_masks, to_words


def brute(hashes: np.ndarray, ids: np.ndarray, query: np.ndarray, radius: int) -> dict[int, int]:
    d = np.bitwise_count(to_words(hashes) ^ to_words(query[None])[0]).sum(axis=1)
    return {int(i): int(x) for i, x in zip(ids[d <= radius], d[d <= radius], strict=True)}


def near(rng: np.random.Generator, base: np.ndarray, flips: int) -> np.ndarray:
    bits = np.unpackbits(base)
    bits[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits)


def as_dict(qi, ids, dist, q: int) -> dict[int, int]:
    return {int(i): int(d) for i, d in zip(ids[qi == q], dist[qi == q], strict=True)}


def corpus(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random hashes plus clusters of near neighbours (so some queries have many matches)."""
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    for i in range(0, n // 10):
        hashes[n - 1 - i] = near(rng, hashes[i % 20], int(rng.integers(0, 40)))
    return np.arange(10, 10 + 3 * n, 3, dtype=np.int64), hashes


def test_flip_masks_count():
    assert len(flip_masks(16, 1)) == 17
    assert len(flip_masks(21, 2)) == 1 + 21 + 210


@pytest.mark.parametrize("substrings", [None, 12, 16])
@pytest.mark.parametrize("radius", [0, 5, 31, 40])
def test_search_equals_brute_force(substrings, radius):
    ids, hashes = corpus(6000, seed=radius)
    index = HammingIndex(substrings=substrings, tail_limit=500)
    index.add(ids, hashes)
    rng = np.random.default_rng(1)
    queries = np.stack(
        [
            near(rng, hashes[int(rng.integers(0, len(hashes)))], int(rng.integers(0, 36)))
            for _ in range(30)
        ]
        + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(5)]
    )
    qi, got_ids, dist = index.search(queries, radius)
    for q in range(len(queries)):
        assert as_dict(qi, got_ids, dist, q) == brute(hashes, ids, queries[q], radius), q


def test_incremental_adds_merges_and_removals_stay_exact():
    ids, hashes = corpus(3 * FLAT_LIMIT, seed=7)
    index = HammingIndex(tail_limit=300)
    rng = np.random.default_rng(2)
    start = 0
    while start < len(ids):  # uneven batches: tails, segments and merges all happen
        step = int(rng.integers(1, 2500))
        index.add(ids[start : start + step], hashes[start : start + step])
        start += step
    assert len(index) == len(ids)
    assert len(index.describe()) >= 1
    removed = ids[rng.choice(len(ids), len(ids) // 3, replace=False)]
    assert index.remove(np.concatenate([removed, [999_999_999]])) == len(removed)
    assert index.remove(removed[:10]) == 0  # already gone
    keep = ~np.isin(ids, removed)
    assert len(index) == int(keep.sum())
    for q in range(40):
        query = near(rng, hashes[q], int(rng.integers(0, 32)))
        qi, got, dist = index.search(query[None], 31)
        assert as_dict(qi, got, dist, 0) == brute(hashes[keep], ids[keep], query, 31)


def test_ids_must_ascend_and_be_unique():
    index = HammingIndex()
    h = np.zeros((2, 32), np.uint8)
    index.add([5, 3], h)  # one batch may come unsorted
    assert index.max_id == 5
    with pytest.raises(ValueError, match="ascending"):
        index.add([4], h[:1])
    with pytest.raises(ValueError, match="duplicate"):
        HammingIndex().add([1, 1], h)


def test_empty_index_and_bad_input():
    index = HammingIndex()
    qi, ids, dist = index.search(b"\x00" * 32, 31)
    assert len(qi) == len(ids) == len(dist) == 0
    with pytest.raises(ValueError):
        index.search(b"\x00" * 31, 31)
    with pytest.raises(ValueError):
        HammingIndex(substrings=5)
