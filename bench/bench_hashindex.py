"""Benchmark the PDQ Hamming range index: build time, lookups/s, p50/p99, recall, memory.

    OMP_NUM_THREADS=1 nice -n 10 python bench/bench_hashindex.py --sizes 100000 1000000 10000000

Random 256-bit hashes stand in for PDQ hashes. Half of the queries are planted near matches (a
stored hash with 0-31 random bits flipped), half are random (no match expected). Recall is
checked two ways: every planted hash must be found at its exact distance, and for a sample of
queries the result must equal a brute-force scan of every hash (distance <= radius).
Throughput on N cores runs N forked processes that share the built index (copy-on-write).
CPU time per lookup is reported beside wall-clock figures because on a shared machine the wall
clock mostly measures the neighbours; lookups/s on N idle cores is about N / CPU time.
No thresholds here: numbers to report.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

from verifier.hashindex import HammingIndex, to_words


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def random_hashes(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (n, 32), dtype=np.uint8)


def plant(base: np.ndarray, rng: np.random.Generator, max_flips: int) -> tuple[np.ndarray, list]:
    bits = np.unpackbits(base, axis=1)
    flips = []
    for i in range(len(bits)):
        k = int(rng.integers(0, max_flips + 1))
        where = rng.choice(256, k, replace=False)
        bits[i, where] ^= 1
        flips.append(k)
    return np.packbits(bits, axis=1), flips


def pct(values: np.ndarray, p: float) -> float:
    return float(np.percentile(values, p))


def throughput(index: HammingIndex, queries: np.ndarray, radius: int, procs: int) -> float:
    """Lookups/s with ``procs`` forked processes, each running every query once."""
    start = time.perf_counter()
    pids = []
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:  # child: run, then leave without cleanup
            for i in range(len(queries)):
                index.search(queries[i : i + 1], radius)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    return procs * len(queries) / (time.perf_counter() - start)


def run(n: int, args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    rss0 = rss_mb()
    hashes = random_hashes(n, rng)
    t = time.perf_counter()
    index = HammingIndex(substrings=args.substrings)
    index.add(np.arange(n, dtype=np.int64), hashes)
    build_s = time.perf_counter() - t
    index_mb = index.nbytes() / 2**20
    rss_after = rss_mb()

    nq = args.queries
    targets = rng.integers(0, n, nq // 2)
    planted, flips = plant(hashes[targets], rng, args.radius)
    queries = np.concatenate([planted, random_hashes(nq - len(planted), rng)])

    times = np.empty(nq)
    found_planted = 0
    cpu0 = time.process_time()
    for i in range(nq):
        t = time.perf_counter()
        _, ids, dist = index.search(queries[i : i + 1], args.radius)
        times[i] = time.perf_counter() - t
        if i < len(planted):
            hit = ids == targets[i]
            found_planted += int(hit.any() and int(dist[hit][0]) == flips[i])
    cpu_ms = (time.process_time() - cpu0) / nq * 1000  # CPU time: robust to a shared machine
    times_ms = times * 1000

    # Brute force on a sample: the index must return exactly the same set.
    words = to_words(hashes)
    sample = rng.choice(nq, min(args.verify, nq), replace=False)
    exact = 0
    for i in sample:
        q = to_words(queries[i : i + 1])[0]
        d = np.bitwise_count(words ^ q).sum(axis=1)
        truth = set(np.flatnonzero(d <= args.radius).tolist())
        _, ids, _ = index.search(queries[i : i + 1], args.radius)
        exact += int(set(ids.tolist()) == truth and len(ids) == len(truth))
    del words

    batch_times = []
    for i in range(0, min(nq, 400), 8):
        t = time.perf_counter()
        index.search(queries[i : i + 8], args.radius)
        batch_times.append((time.perf_counter() - t) * 1000)

    tp_queries = queries[: min(nq, args.throughput_queries)]
    qps_1 = throughput(index, tp_queries, args.radius, 1)
    qps_n = throughput(index, tp_queries, args.radius, args.procs)
    return {
        "n": n,
        "substrings": index.describe(),
        "radius": args.radius,
        "build_s": round(build_s, 2),
        "index_mb": round(index_mb, 1),
        "rss_growth_mb": round(rss_after - rss0, 1),
        "queries": nq,
        "p50_ms": round(pct(times_ms, 50), 3),
        "p99_ms": round(pct(times_ms, 99), 3),
        "mean_ms": round(float(times_ms.mean()), 3),
        "cpu_ms_per_lookup": round(cpu_ms, 3),
        "lookups_per_cpu_s": round(1000 / cpu_ms, 1),
        "lookups_per_s_1proc": round(qps_1, 1),
        f"lookups_per_s_{args.procs}proc": round(qps_n, 1),
        "dihedral8_p50_ms": round(pct(np.array(batch_times), 50), 3),
        "planted_recall": f"{found_planted}/{len(planted)}",
        "exact_vs_bruteforce": f"{exact}/{len(sample)}",
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--throughput-queries", type=int, default=1000)
    parser.add_argument("--verify", type=int, default=50, help="queries checked by brute force")
    parser.add_argument("--radius", type=int, default=31)
    parser.add_argument("--substrings", type=int, choices=(12, 16), default=None)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    for n in args.sizes:
        print(json.dumps(run(n, args)), flush=True)


if __name__ == "__main__":
    main()
