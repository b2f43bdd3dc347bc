"""The pipeline: run the selected detectors on one input and build the report.

Used in-process by the CLI and by the worker; it never imports flask or rq. Each detector runs
in its own thread under ``settings.detector_timeout`` with its exceptions captured, so one bad
detector turns into an ``error`` finding (logged with its traceback) and never fails the report.

A detector that overruns its time limit cannot be killed from Python; its thread is abandoned
(daemon) and finishes in the background. The worker's job timeout, which kills the process,
is the hard backstop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from verifier import __version__
from verifier.detector import Detector, errored, skipped
from verifier.media import Media, load_media, load_path
from verifier.registry import build
from verifier.report import Finding, MediaInfo, Report, ToolInfo
from verifier.settings import Settings
from verifier.verdict import compute_verdict

log = logging.getLogger(__name__)

#: progress(done, total, current_detector_name_or_None)
ProgressCallback = Callable[[int, int, str | None], None]

_PACKAGES = (
    "pillow",
    "pillow-heif",
    "numpy",
    "exifread",
    "pydantic",
    "c2pa-python",
    "av",
    "opencv-python",
    "onnxruntime",
    "pdqhash",
    "imagehash",
)


def package_versions(names: Sequence[str] = _PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


class Pipeline:
    """Built once per process (detectors load their models in their constructors)."""

    def __init__(self, settings: Settings, detectors: Sequence[Detector] | None = None) -> None:
        self.settings = settings
        self.detectors = list(build(settings) if detectors is None else detectors)
        self._needs_full = any(d.needs_full_resolution for d in self.detectors)
        self._packages = package_versions()

    def warm_up(self) -> float:
        """Run every detector once on a small made-up photo, so lazy imports, first-run
        allocations and model warm-up happen now. A worker calls this before it forks
        work-horses: otherwise each job's fresh fork pays them again (about 0.5 s measured).
        Returns the seconds it took."""
        import io

        import numpy as np
        from PIL import Image

        start = time.perf_counter()
        rng = np.random.default_rng(0)
        pixels = rng.random((384, 512, 3)) * 60 + np.linspace(40, 190, 512)[None, :, None]
        buf = io.BytesIO()
        Image.fromarray(pixels.astype("uint8")).save(buf, "JPEG", quality=90)
        from verifier.registry import registered

        # Built-in detectors only: an in-house one (VERIFIER_EXTRA_DETECTORS) that crashes its
        # process would take the worker down with it here, rather than one work-horse.
        builtin = [d for d in self.detectors if type(d) in registered()]
        try:
            Pipeline(self.settings, builtin).analyze_bytes(buf.getvalue(), name="warm-up.jpg")
        except Exception:  # warm-up is an optimisation; a failure shows up in real reports
            log.warning("pipeline warm-up failed", exc_info=True)
        return time.perf_counter() - start

    def load(self, data: bytes, name: str | None = None) -> Media:
        return load_media(
            data, self.settings, name=name, decode="full" if self._needs_full else "validate"
        )

    def analyze_path(self, path: str | Path, progress: ProgressCallback | None = None) -> Report:
        start = time.perf_counter()
        media = load_path(path, self.settings, decode="full" if self._needs_full else "validate")
        return self.analyze_media(media, progress=progress, started=start)

    def analyze_bytes(
        self, data: bytes, name: str | None = None, progress: ProgressCallback | None = None
    ) -> Report:
        start = time.perf_counter()
        return self.analyze_media(self.load(data, name), progress=progress, started=start)

    def analyze_media(
        self,
        media: Media,
        progress: ProgressCallback | None = None,
        started: float | None = None,
    ) -> Report:
        started = time.perf_counter() if started is None else started
        findings = self._run_all(media, progress)
        return Report(
            media=MediaInfo(
                name=media.name,
                sha256=media.sha256,
                size_bytes=media.size_bytes,
                format=media.format.name,
                mime_type=media.format.mime,
                kind=media.kind.value,
                width=media.width,
                height=media.height,
                orientation=media.orientation,
                orientation_applied=media.orientation_applied,
                frame_count=media.frame_count,
            ),
            verdict=compute_verdict(findings),
            findings=findings,
            tool=ToolInfo(
                version=__version__,
                detectors={d.name: d.version for d in self.detectors},
                packages=self._packages,
            ),
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    def _run_all(self, media: Media, progress: ProgressCallback | None) -> list[Finding]:
        """Every detector on ``media``, ``settings.detector_threads`` at a time; findings come
        back in registry order whatever order they finish in."""
        total = len(self.detectors)
        findings: list[Finding | None] = [None] * total
        lock = threading.Lock()
        running: list[str] = []
        done = 0

        def one(i: int, detector: Detector) -> None:
            nonlocal done
            with lock:
                running.append(detector.name)
                if progress:
                    progress(done, total, detector.name)
            finding = self.run_detector(detector, media)
            with lock:
                findings[i] = finding
                running.remove(detector.name)
                done += 1
                if progress and running:  # others still running: report one of them
                    progress(done, total, running[-1])

        threads = min(self.settings.detector_threads, total)
        if threads <= 1:
            for i, detector in enumerate(self.detectors):
                one(i, detector)
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="detectors") as pool:
                for future in [pool.submit(one, i, d) for i, d in enumerate(self.detectors)]:
                    future.result()
        if progress:
            progress(total, total, None)
        return [f for f in findings if f is not None]

    def run_detector(self, detector: Detector, media: Media) -> Finding:
        """One detector on one input: applicability, time limit, exception capture, timing."""
        if media.kind not in detector.media_kinds:
            kinds = " and ".join(sorted(k.value + "s" for k in detector.media_kinds))
            article = "an" if media.kind.value[0] in "aeiou" else "a"
            return skipped(
                detector, f"Applies to {kinds} only; this input is {article} {media.kind}."
            )
        outcome: dict[str, object] = {}

        def target() -> None:
            try:
                outcome["finding"] = detector.analyze(media)
            except BaseException as exc:  # noqa: BLE001 - everything becomes an error finding
                outcome["error"] = exc

        start = time.perf_counter()
        thread = threading.Thread(target=target, name=f"detector-{detector.name}", daemon=True)
        thread.start()
        thread.join(self.settings.detector_timeout)
        elapsed_ms = round((time.perf_counter() - start) * 1000, 2)
        if thread.is_alive():
            log.error(
                "detector %s exceeded its %.1fs time limit on %s; abandoned",
                detector.name, self.settings.detector_timeout, media.sha256[:12],
            )  # fmt: skip
            finding = errored(
                detector, f"Timed out after {self.settings.detector_timeout:g} s and was stopped."
            )
        elif "error" in outcome:
            exc = outcome["error"]
            assert isinstance(exc, BaseException)
            log.error("detector %s failed on %s", detector.name, media.sha256[:12], exc_info=exc)
            finding = errored(detector, f"{type(exc).__name__}: {exc}"[:500])
        else:
            finding = outcome.get("finding")
            if not isinstance(finding, Finding) or finding.detector != detector.name:
                finding = errored(detector, "Returned something other than its own Finding.")
        return finding.model_copy(update={"duration_ms": elapsed_ms})
