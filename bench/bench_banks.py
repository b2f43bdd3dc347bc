"""Benchmark banks end to end on a database: bulk import, a cold index load, an incremental
refresh after one change made by another process, and match latency through the store.

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_banks.py --sizes 100000 1000000 \
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Uses a fresh SQLite file in a temporary directory unless a URL is given (then it creates and
drops a uniquely named bank there). No thresholds: numbers to report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from verifier.banks import BankStore
from verifier.db import metadata


def run(n: int, url: str) -> dict:
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    writer = BankStore(engine)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    writer.create_bank(name)
    rng = np.random.default_rng(n)
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    text = "\n".join(h.tobytes().hex() for h in hashes)
    t = time.perf_counter()
    result = writer.import_hashes(name, text)
    import_s = time.perf_counter() - t

    reader = BankStore(sa.create_engine(url))  # another "process": its own indexes
    t = time.perf_counter()
    reader.refresh()
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    reader.refresh()
    noop_ms = (time.perf_counter() - t) * 1000
    writer.add_hash(name, rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex())
    t = time.perf_counter()
    reader.refresh()
    incremental_ms = (time.perf_counter() - t) * 1000

    times = []
    for i in range(200):
        query = hashes[int(rng.integers(0, n))].copy()
        query[i % 32] ^= 0xFF  # 8 bits away
        t = time.perf_counter()
        found = reader.match_hex(query.tobytes().hex())
        times.append((time.perf_counter() - t) * 1000)
        assert found.matches, "planted neighbour not found"
    writer.delete_bank(name)
    reader.engine.dispose()
    engine.dispose()
    return {
        "n": n,
        "database": url.split(":", 1)[0],
        "import_s": round(import_s, 2),
        "imported": result.added,
        "cold_index_load_s": round(cold_s, 2),
        "refresh_unchanged_ms": round(noop_ms, 2),
        "refresh_after_one_add_ms": round(incremental_ms, 2),
        "match_hex_p50_ms": round(float(np.percentile(times, 50)), 2),
        "match_hex_p99_ms": round(float(np.percentile(times, 99)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            url = args.database_url or f"sqlite:///{Path(tmp) / f'bench-{n}.db'}"
            print(json.dumps(run(n, url)), flush=True)


if __name__ == "__main__":
    main()
