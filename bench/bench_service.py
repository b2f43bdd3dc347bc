"""Benchmark the running service: accepted uploads/s, submit latency, upload-to-report latency.

    python bench/bench_service.py [--seconds 10] [--clients 8] [--reports 10]

Starts `verifier serve` (embedded Redis, temporary data directory) on a free port, then:

1. submit: ``--clients`` threads post a small JPEG over keep-alive connections for ``--seconds``;
   prints accepted uploads per second and p50/p99 submit latency;
2. report: posts a 12 MP JPEG ``--reports`` times, one at a time, polling every 20 ms; prints
   p50/p90 from upload start to finished report.

The report latency is measured first, on an idle service; the submit flood comes last (its
thousands of queued analyses are not waited for: the service is stopped).

No thresholds: numbers to report. Load goes to 127.0.0.1 only and stops by itself.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analyze import make_12mp_jpeg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_jpeg() -> bytes:
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def multipart(data: bytes, name: str) -> tuple[bytes, dict[str, str]]:
    b = uuid.uuid4().hex
    body = (
        (
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{b}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={b}"}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--reports", type=int, default=10)
    ap.add_argument("--workers", type=int, default=0, help="analysis workers (0: per core)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="verifier-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERIFIER_")}
    env.pop("REDIS_URL", None)
    env.update(
        VERIFIER_DATA_DIR=str(tmp / "data"),
        VERIFIER_PORT=str(port),
        VERIFIER_MAX_QUEUED="1000000",
        VERIFIER_LOG_LEVEL="WARNING",
    )
    if args.workers:
        env["VERIFIER_WORKERS"] = str(args.workers)
    proc = subprocess.Popen(
        [sys.executable, "-m", "verifier", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "serve.log", "wb"),
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("service did not start; see " + str(tmp / "serve.log"))
            time.sleep(0.3)

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        big = tmp / "12mp.jpg"
        make_12mp_jpeg(big)
        body, headers = multipart(big.read_bytes(), "12mp.jpg")
        totals = []
        for _ in range(args.reports):
            t = time.perf_counter()
            conn.request("POST", "/v1/analyses", body=body, headers=headers)
            resp = conn.getresponse()
            location = resp.getheader("Location")
            resp.read()
            while True:
                conn.request("GET", location)
                r = conn.getresponse()
                status = json.loads(r.read())["status"]
                if status in ("finished", "failed"):
                    break
                time.sleep(0.02)
            totals.append(time.perf_counter() - t)
        print(f"report: 12 MP JPEG ({big.stat().st_size / 1e6:.1f} MB) upload to finished report, "
              f"{args.reports} runs: p50 {statistics.median(totals) * 1000:.0f} ms, "
              f"p90 {pct(totals, 90) * 1000:.0f} ms (last status: {status})")  # fmt: skip

        body, headers = multipart(small_jpeg(), "small.jpg")
        latencies: list[float] = []
        errors = 0
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client() -> None:
            nonlocal errors
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine = []
            while time.monotonic() < stop_at:
                t = time.perf_counter()
                conn.request("POST", "/v1/analyses", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 202:
                    mine.append(time.perf_counter() - t)
                else:
                    with lock:
                        errors += 1
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        print(f"submit: {len(latencies)} accepted in {elapsed:.1f} s with {args.clients} clients "
              f"= {len(latencies) / elapsed:.0f} uploads/s; latency p50 "
              f"{pct(latencies, 50) * 1000:.1f} ms, p99 {pct(latencies, 99) * 1000:.1f} ms; "
              f"non-202: {errors}")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)


if __name__ == "__main__":
    main()
