"""Command line: ``verifier analyze FILE...`` and friends.

Exit codes (also in ``verifier --help`` and the README):

* 0 - every file was analysed (whatever the verdicts);
* 1 - an unexpected internal error;
* 2 - bad command-line usage;
* 3 - at least one file could not be analysed (unsupported, corrupt, too large, unreadable),
  or a ``bank`` command was refused (malformed hash, unknown bank, duplicate entry);
* 4 - a configuration error (a bad ``VERIFIER_*`` setting).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from verifier import __version__, bank_cli
from verifier.errors import ConfigError, VerifierError
from verifier.report import Report, Status
from verifier.settings import Settings, settings_table

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT, EXIT_CONFIG = 0, 1, 2, 3, 4

EPILOG = """exit codes:
  0  every file was analysed (whatever the verdicts)
  1  unexpected internal error
  2  bad command-line usage
  3  at least one file could not be analysed (unsupported, corrupt, too large, unreadable),
     or a bank command was refused (malformed hash, unknown bank, duplicate entry)
  4  configuration error (a bad VERIFIER_* setting)
"""


class _QuietFormatter(logging.Formatter):
    """Log lines without tracebacks unless --verbose: users get messages, not stack dumps."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("verifier: %(levelname)s: %(message)s")
        self.verbose = verbose

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's API
        return super().formatException(ei) if self.verbose else ""

    def format(self, record: logging.LogRecord) -> str:
        if not self.verbose:  # a copy: other handlers still get the traceback
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


def _setup_logging(level: str, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_QuietFormatter(verbose))
    root = logging.getLogger()
    # Replace only our own handler, so embedding code (and pytest) keeps its handlers.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h.formatter, _QuietFormatter)]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else max(logging.WARNING, logging.getLevelName(level)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verifier",
        description="Tell whether an image or video has been manipulated or synthesised.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"verifier {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    analyze = sub.add_parser(
        "analyze",
        help="analyse files in-process and print their reports",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    analyze.add_argument("files", nargs="+", type=Path, metavar="FILE")
    analyze.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON (a JSON list when several files are given)",
    )
    analyze.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="write artifacts (heatmaps...) under DIR/<sha256>/<detector>/",
    )
    analyze.add_argument("--no-progress", action="store_true", help="no progress bar")
    analyze.add_argument(
        "-v", "--verbose", action="store_true", help="show debug logs and tracebacks"
    )

    serve = sub.add_parser(
        "serve", help="run the web form, the API and workers (and an embedded Redis if needed)"
    )
    serve.add_argument("--host", help="bind address (VERIFIER_HOST)")
    serve.add_argument("--port", type=int, help="port (VERIFIER_PORT)")
    serve.add_argument("--workers", type=int, help="analysis worker processes (VERIFIER_WORKERS)")
    worker = sub.add_parser("worker", help="run analysis workers only (needs VERIFIER_REDIS_URL)")
    worker.add_argument("--workers", type=int, help="worker processes (VERIFIER_WORKERS)")

    sub.add_parser("detectors", help="list the registered detectors")
    settings = sub.add_parser("settings", help="print every setting and its current value")
    settings.add_argument("--markdown", action="store_true", help="the README's settings table")
    bank_cli.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"verifier: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    _setup_logging(settings.log_level, getattr(args, "verbose", False))
    try:
        if args.command == "analyze":
            return _analyze(args, settings)
        if args.command in ("serve", "worker"):
            return _serve(args, settings)
        if args.command == "detectors":
            return _detectors(settings)
        if args.command == "settings":
            return _settings(args, settings)
        if args.command == "bank":
            return bank_cli.run(args, settings)
    except ConfigError as exc:
        print(f"verifier: configuration error: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("verifier: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `verifier analyze ... | head`: the reader left, not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        logging.getLogger("verifier").error("internal error: %s", exc, exc_info=True)
        return EXIT_INTERNAL
    return EXIT_USAGE  # pragma: no cover - argparse enforces a command


def _analyze(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from verifier.pipeline import Pipeline

    pipeline = Pipeline(settings)
    files: list[Path] = args.files
    results: list[dict[str, Any]] = []
    failures = 0
    show_bar = len(files) > 1 and not args.no_progress
    bar = tqdm(files, unit="file", file=sys.stderr, disable=None if show_bar else True)
    for path in bar:
        bar.set_postfix_str(path.name[-30:], refresh=False)
        try:
            report = pipeline.analyze_path(path)
        except VerifierError as exc:
            failures += 1
            bar.write(f"verifier: {path}: {exc.message}", file=sys.stderr)
            results.append({"input": str(path), "error": exc.to_dict()})
            continue
        if args.artifacts:
            _write_artifacts(report, args.artifacts)
        if args.json:
            results.append(report.model_dump(mode="json"))
        else:
            bar.write(format_report(report, str(path)), file=sys.stdout)
    bar.close()
    if args.json:
        out = results if len(files) > 1 else results[0]
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return EXIT_INPUT if failures else EXIT_OK


def _write_artifacts(report: Report, root: Path) -> None:
    for key, artifact in report.artifacts().items():
        target = root / report.media.sha256 / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(artifact.data)


def format_report(report: Report, label: str, out: TextIO | None = None) -> str:
    """The human-readable summary: verdict first, then reasons, then each finding."""
    v = report.verdict
    m = report.media
    dims = f" {m.width}x{m.height}" if m.width else ""
    lines = [
        f"{label}: {m.format.upper()}{dims}, {m.size_bytes:,} bytes, sha256 {m.sha256[:16]}...",
        f"  verdict: {v.label.value} (score {v.score:.2f}, 1 = manipulated/synthetic)",
        f"  {v.summary}",
    ]
    if v.reasons:
        lines.append("  reasons:")
        lines += [f"    - {r.text}" for r in v.reasons]
    lines.append("  findings:")
    width = max((len(f.detector) for f in report.findings), default=8)
    for f in report.findings:
        score = f"{f.score:.2f}" if f.score is not None else "  - "
        text = {Status.OK: f.summary, Status.SKIPPED: f.reason, Status.ERROR: f.error}[f.status]
        lines.append(f"    {f.status.value:<7} {f.detector:<{width}} {score}  {text}")
    lines.append(f"  ({report.duration_ms:.0f} ms)")
    return "\n".join(lines)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    overrides = {
        k: v for k in ("host", "port", "workers") if (v := getattr(args, k, None)) is not None
    }
    settings = settings.with_overrides(**overrides)
    logging.getLogger().setLevel(settings.log_level)
    from api.serve import serve, work  # the service adapters; the core never imports them

    try:
        return serve(settings) if args.command == "serve" else work(settings)
    except VerifierError as exc:
        print(f"verifier: {exc.message}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else EXIT_INTERNAL


def _detectors(settings: Settings) -> int:
    from verifier.registry import available, select

    active = {c.name for c in select(settings)}
    for cls in available(settings):
        kinds = ",".join(sorted(k.value for k in cls.media_kinds))
        state = "enabled " if cls.name in active else "disabled"
        print(f"{cls.name:<20} {cls.version:<8} {state} {kinds:<12} {cls.description}")
    return EXIT_OK


def _settings(args: argparse.Namespace, settings: Settings) -> int:
    if args.markdown:
        print(settings_table())
        return EXIT_OK
    import dataclasses

    from verifier.settings import env_name

    for f in dataclasses.fields(settings):
        print(f"{env_name(f.name)}={getattr(settings, f.name)!r}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
