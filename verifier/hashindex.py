"""Exact Hamming range search over 256-bit hashes (PDQ) by multi-index hashing, in numpy.

Why multi-index hashing (Norouzi, Punjani and Fleet, "Fast Exact Search in Hamming Space with
Multi-Index Hashing", TPAMI 2014): split the 256 bits into ``m`` substrings. If two hashes
differ in at most ``R`` bits, then by the pigeonhole principle at least one substring differs
in at most ``R // m`` bits. So probing, for every substring, the buckets of all keys within
``R // m`` bits of the query's substring finds every hash within ``R`` - recall is exactly 1
by construction - and each candidate is then checked with a full 256-bit popcount. With
``m = 16`` (16-bit substrings, one flipped bit) a query at ``R = 31`` probes 16 x 17 = 272
buckets; with ``m = 12`` (21-22 bit substrings, up to two flipped bits) it probes 2,872 much
smaller buckets. A flat scan of 10 M hashes reads 320 MB per query; this reads a few thousand
rows.

Buckets are stored as a CSR layout - one array of row numbers sorted by substring value and a
direct-address array of bucket starts - so a probe is two array reads, vectorised over all
probes and all queries at once.

Updates: the index is a small log-structured merge of immutable segments. New hashes go into
a flat (scanned) tail; a full tail becomes an indexed segment; segments of similar size are
merged, so adding one hash costs amortised O(log n) rebuild work and a search visits at most a
handful of segments. Removals mark rows dead (ids are looked up by binary search, because ids
are kept ascending); a segment more than half dead is rebuilt without its dead rows, and
merges drop dead rows too.

Thread safety: searches read an immutable snapshot of the segment list; mutations hold a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from itertools import combinations

import numpy as np

HASH_BITS = 256
HASH_BYTES = HASH_BITS // 8
WORDS = HASH_BITS // 64

#: Segments smaller than this are scanned, not indexed.
FLAT_LIMIT = 4096
#: Merge policy: a segment is merged into the previous one when that one is at most this many
#: times larger.
MERGE_RATIO = 4
#: Substring layouts, by count: (word, shift, width) triples within the 4 big-endian words.
#: (Eight 32-bit substrings would need 4 G-entry bucket tables; direct addressing stops at 22.)
LAYOUTS: dict[int, tuple[tuple[int, int, int], ...]] = {
    12: tuple((w, s, b) for w in range(WORDS) for s, b in ((42, 22), (21, 21), (0, 21))),
    16: tuple((w, s, 16) for w in range(WORDS) for s in (48, 32, 16, 0)),
}


def choose_substrings(n: int) -> int:
    """Substring count for a segment of ``n`` hashes: buckets of a few rows each.

    16-bit substrings keep the bucket tables tiny (256 KiB each); 21-22 bit substrings cost
    128 MiB of tables whatever the size but keep candidates few (random hashes at 10 M: ~11 k
    per query instead of ~42 k). Measured with bench/bench_hashindex.py on the same build: at
    1 M, 0.42 vs 0.73 ms CPU per lookup; at 10 M, 3.2 vs 14.4 ms p50 (an earlier build; the
    current one does 1.7 ms with 12 substrings).
    """
    return 16 if n < 500_000 else 12


@cache
def flip_masks(width: int, radius: int) -> np.ndarray:
    """Every ``width``-bit value with at most ``radius`` bits set (XOR masks for probing)."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(width), r)]
    return np.array(masks, dtype=np.uint64)


@cache
def probe_plan(substrings: int, per_sub: int) -> tuple[np.ndarray, ...]:
    """Everything a query needs to list its probes in a few vectorised operations.

    Returns (word, shift, width mask) per substring and, per probe, its substring, its XOR
    mask and the offset of its substring's bucket table (tables are laid out one after another
    in substring order).
    """
    layout = LAYOUTS[substrings]
    word = np.array([w for w, _, _ in layout], dtype=np.intp)
    shift = np.array([s for _, s, _ in layout], dtype=np.uint64)
    key_mask = np.array([(1 << b) - 1 for _, _, b in layout], dtype=np.uint64)
    subs, masks, bases = [], [], []
    base = 0
    for j, (_, _, width) in enumerate(layout):
        flips = flip_masks(width, per_sub)
        subs.append(np.full(len(flips), j, dtype=np.intp))
        masks.append(flips)
        bases.append(np.full(len(flips), base, dtype=np.int64))
        base += (1 << width) + 1
    return word, shift, key_mask, np.concatenate(subs), np.concatenate(masks), np.concatenate(bases)


def to_words(hashes: np.ndarray | bytes | list[bytes]) -> np.ndarray:
    """(n, 4) uint64 big-endian words from (n, 32) uint8, concatenated bytes or a list."""
    if isinstance(hashes, list | tuple):
        hashes = b"".join(hashes)
    if isinstance(hashes, bytes | bytearray | memoryview):
        arr = np.frombuffer(bytes(hashes), dtype=np.uint8)
    else:
        arr = np.ascontiguousarray(hashes, dtype=np.uint8)
    if arr.size % HASH_BYTES:
        raise ValueError(f"hashes must be {HASH_BYTES} bytes each")
    return arr.reshape(-1, WORDS, 8).view(">u8").reshape(-1, WORDS).astype(np.uint64)


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    """Bits set per row of an (n, 4) uint64 array.

    Adding the four columns is ~2.5x faster than ``sum(axis=1)`` over such a short axis.
    """
    c = np.bitwise_count(x)
    return c[:, 0].astype(np.int16) + c[:, 1] + c[:, 2] + c[:, 3]


@dataclass
class _Segment:
    """Immutable hashes and ids (ascending); ``alive`` is the only mutable part."""

    words: np.ndarray  # (n, 4) uint64
    ids: np.ndarray  # (n,) int64, strictly ascending
    alive: np.ndarray = field(default=None)  # type: ignore[assignment]  # (n,) bool
    dead: int = 0
    substrings: int = 0  # 0 = flat scan
    starts: np.ndarray | None = None  # concatenated bucket starts, one table per substring
    rows: np.ndarray | None = None  # concatenated row numbers, sorted by substring value

    def __post_init__(self) -> None:
        if self.alive is None:
            self.alive = np.ones(len(self.ids), dtype=bool)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def live(self) -> int:
        return self.size - self.dead

    def nbytes(self) -> int:
        total = self.words.nbytes + self.ids.nbytes + self.alive.nbytes
        if self.starts is not None and self.rows is not None:
            total += self.starts.nbytes + self.rows.nbytes
        return total

    @classmethod
    def build(cls, words: np.ndarray, ids: np.ndarray, substrings: int | None = None) -> _Segment:
        n = len(ids)
        m = choose_substrings(n) if substrings is None else substrings
        if n < FLAT_LIMIT and substrings is None:
            return cls(words=words, ids=ids)
        layout = LAYOUTS[m]
        total_table = sum((1 << width) + 1 for _, _, width in layout)
        idx_dtype = np.int32 if n * m + 1 < 2**31 else np.int64
        starts = np.empty(total_table, dtype=idx_dtype)
        rows = np.empty(n * m, dtype=np.int32 if n < 2**31 else np.int64)
        base = 0
        for j, (w, shift, width) in enumerate(layout):
            keys = (words[:, w] >> np.uint64(shift)) & np.uint64((1 << width) - 1)
            keys = keys.astype(np.uint32 if width > 16 else np.uint16)
            order = np.argsort(keys, kind="stable")
            rows[j * n : (j + 1) * n] = order
            counts = np.bincount(keys, minlength=1 << width)
            table = starts[base : base + (1 << width) + 1]
            table[0] = j * n
            np.cumsum(counts, out=table[1:])
            table[1:] += j * n
            base += (1 << width) + 1
        return cls(words=words, ids=ids, substrings=m, starts=starts, rows=rows)

    def search(self, q: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, row, distance) of every live row within ``radius`` of a query."""
        if self.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        if self.substrings and self.starts is not None:
            per_sub = radius // self.substrings
            probes = sum(
                len(flip_masks(width, per_sub)) for _, _, width in LAYOUTS[self.substrings]
            )
            if per_sub <= 3 and probes * 8 < self.size:
                return self._search_mih(q, radius, per_sub)
        return self._search_flat(q, radius)

    def _search_flat(self, q: np.ndarray, radius: int):
        qi_parts, row_parts, dist_parts = [], [], []
        for i in range(len(q)):
            dist = _popcount_rows(self.words ^ q[i])
            hit = np.flatnonzero((dist <= radius) & self.alive)
            qi_parts.append(np.full(len(hit), i, dtype=np.int64))
            row_parts.append(hit)
            dist_parts.append(dist[hit])
        return np.concatenate(qi_parts), np.concatenate(row_parts), np.concatenate(dist_parts)

    def _search_mih(self, q: np.ndarray, radius: int, per_sub: int):
        assert self.starts is not None and self.rows is not None
        word, shift, key_mask, sub, flips, base = probe_plan(self.substrings, per_sub)
        keys = (q[:, word] >> shift) & key_mask  # (nq, m): each query's substrings
        probe = ((keys[:, sub] ^ flips).astype(np.int64) + base).ravel()  # (nq * P,)
        probe_q = np.repeat(np.arange(len(q)), len(sub))
        lo = self.starts[probe].astype(np.int64)
        lengths = self.starts[probe + 1].astype(np.int64) - lo
        nonempty = lengths > 0
        lo, lengths, probe_q = lo[nonempty], lengths[nonempty], probe_q[nonempty]
        total = int(lengths.sum())
        if total == 0:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        # Expand the [lo, lo + length) ranges into one index array without a Python loop.
        ends = np.cumsum(lengths)
        pos = np.arange(total, dtype=np.int64) + np.repeat(lo - (ends - lengths), lengths)
        cand = self.rows[pos]
        cand_q = np.repeat(probe_q, lengths)
        # One random read per candidate is the cost that dominates at 10 M hashes; the liveness
        # check (another random read) is left for the few candidates within the radius.
        other = q[0] if len(q) == 1 else q[cand_q]
        dist = _popcount_rows(self.words[cand] ^ other)
        keep = dist <= radius
        cand, cand_q, dist = cand[keep], cand_q[keep], dist[keep]
        live = self.alive[cand]
        cand, cand_q, dist = cand[live], cand_q[live], dist[live]
        # A row found through several substrings is reported once per query.
        pair = cand_q.astype(np.int64) * self.size + cand
        _, first = np.unique(pair, return_index=True)
        return cand_q[first].astype(np.int64), cand[first].astype(np.int64), dist[first]


class HammingIndex:
    """Exact Hamming range search over 256-bit hashes with integer ids.

    ``add`` takes ids greater than every id already added (database ids in insertion order),
    which keeps ids ascending so ``remove`` is a binary search.
    """

    def __init__(self, substrings: int | None = None, tail_limit: int = FLAT_LIMIT) -> None:
        if substrings is not None and substrings not in LAYOUTS:
            raise ValueError(f"substrings must be one of {sorted(LAYOUTS)}")
        self._substrings = substrings
        self._tail_limit = tail_limit
        self._segments: tuple[_Segment, ...] = ()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(s.live for s in self._segments)

    @property
    def max_id(self) -> int:
        return int(self._segments[-1].ids[-1]) if self._segments else -1

    def nbytes(self) -> int:
        return sum(s.nbytes() for s in self._segments)

    def describe(self) -> list[dict[str, int]]:
        return [
            {"size": s.size, "dead": s.dead, "substrings": s.substrings} for s in self._segments
        ]

    def add(self, ids: np.ndarray | list[int], hashes: np.ndarray | bytes | list[bytes]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        words = to_words(hashes)
        if len(ids) != len(words):
            raise ValueError("one id per hash")
        if len(ids) == 0:
            return
        if np.any(np.diff(ids) <= 0):
            order = np.argsort(ids, kind="stable")
            ids, words = ids[order], words[order]
            if np.any(np.diff(ids) == 0):
                raise ValueError("duplicate ids")
        with self._lock:
            if ids[0] <= self.max_id:
                raise ValueError(
                    f"ids must be added in ascending order (got {int(ids[0])} after "
                    f"{self.max_id}); rebuild the index instead"
                )
            segments = list(self._segments)
            tail = segments.pop() if segments and not segments[-1].substrings else None
            if tail is not None:
                live = tail.alive
                words = np.concatenate([tail.words[live], words])
                ids = np.concatenate([tail.ids[live], ids])
            if len(ids) <= self._tail_limit:
                segments.append(_Segment(words=words, ids=ids))
            else:
                segments.append(_Segment.build(words, ids, self._substrings))
                segments = self._merge(segments)
            self._segments = tuple(segments)

    def _merge(self, segments: list[_Segment]) -> list[_Segment]:
        while len(segments) >= 2 and segments[-2].live <= MERGE_RATIO * segments[-1].live:
            b = segments.pop()
            a = segments.pop()
            words = np.concatenate([a.words[a.alive], b.words[b.alive]])
            ids = np.concatenate([a.ids[a.alive], b.ids[b.alive]])
            segments.append(_Segment.build(words, ids, self._substrings))
        return segments

    def remove(self, ids: np.ndarray | list[int]) -> int:
        """Mark ``ids`` removed; returns how many were present. Unknown ids are ignored."""
        ids = np.asarray(ids, dtype=np.int64)
        removed = 0
        with self._lock:
            for seg in self._segments:
                pos = np.searchsorted(seg.ids, ids)
                valid = pos < seg.size
                pos, want = pos[valid], ids[valid]
                hit = np.unique(pos[(seg.ids[pos] == want) & seg.alive[pos]])
                seg.alive[hit] = False
                seg.dead += len(hit)
                removed += len(hit)
            segments = [s for s in self._segments if s.live > 0]
            # Compact segments that are mostly dead (they still cost their full scan/probe).
            segments = [
                _Segment.build(s.words[s.alive], s.ids[s.alive], self._substrings)
                if s.dead > s.size // 2 and s.substrings
                else s
                for s in segments
            ]
            self._segments = tuple(segments)
        return removed

    def search(
        self, queries: np.ndarray | bytes | list[bytes], radius: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query index, id, distance) with distance <= ``radius``, exactly."""
        if radius < 0:
            raise ValueError("radius must be >= 0")
        q = to_words(queries)
        qi_parts, id_parts, dist_parts = [], [], []
        for seg in self._segments:
            qi, rows, dist = seg.search(q, radius)
            qi_parts.append(qi)
            id_parts.append(seg.ids[rows])
            dist_parts.append(dist)
        if not qi_parts:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty.astype(np.int32)
        return np.concatenate(qi_parts), np.concatenate(id_parts), np.concatenate(dist_parts)
