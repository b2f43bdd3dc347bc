"""Synthetic-image detector: train, export to ONNX, evaluate (with leave-one-generator-out).

Data: ``shared/data/train/ai-vs-real`` + ``ai-vs-real-extra`` (+ a slice of real LFW faces so a
face is not by itself evidence of synthesis). Both classes differ in content and in earlier
compression (read their SOURCE.txt), so the model:

* sees 128 px patches of a high-pass residual (the image minus its 3x3 local mean), computed
  inside the network, so it has to look at fine pixel statistics rather than subject matter;
* is trained on images that were, for BOTH classes alike, randomly resized, blurred and JPEG
  re-compressed, so "how processed is this file" cannot separate the classes;
* is validated leaving whole generator families out (``--exclude-group``).

Splits are by a hash of the source file (tiles of one grid stay together): buckets 0-1 calibrate
(Platt scaling), 2-3 test, 4-9 train.

    python -m training.synthetic train --out var/train/synthetic --steps 1500
    python -m training.synthetic export --ckpt var/train/synthetic/last.pt \
        --onnx models/synthetic_image/synthetic_image.onnx
    python -m training.synthetic evaluate --onnx models/synthetic_image/synthetic_image.onnx \
        --json models/synthetic_image/metrics.json
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from training import common

PATCH = 128
CALIB, TEST = {0, 1}, {2, 3}


@dataclass(frozen=True)
class Item:
    path: Path
    label: int  # 1 = AI-generated
    group: str  # generator family (AI) or source (real)
    source: str  # key for the split

    @property
    def bucket(self) -> int:
        return common.split_of(self.source)


def group_of(label: str, generator: str, dataset: str) -> str:
    g = generator.lower()
    if label == "real":
        return "real_imagenet" if dataset == "ai-vs-real" else "real_camera"
    if "stylegan-family face" in g:
        return "stylegan_faces"
    if "stable diffusion 1.5" in g:
        return "sd15"
    if "stylegan2" in g:
        return "stylegan2_objects"
    if "latent diffusion" in g or "vqgan" in g:
        return "ldm_vqgan"
    if "sdxl" in g or "albedobase" in g or "icbinp" in g:
        return "sdxl"
    if "stable diffusion 2" in g:
        return "sd2"
    return "recent_other"  # FLUX, SD3/3.5, Stable Cascade, Kandinsky 3, HiDream, Qwen-Image...


def load_items(data: Path = common.DATA) -> list[Item]:
    items = []
    for dataset in ("ai-vs-real", "ai-vs-real-extra"):
        root = data / "train" / dataset
        with open(root / "labels.csv", newline="") as f:
            for row in csv.DictReader(f):
                gen = row.get("generator_or_source") or row.get("generator") or ""
                items.append(
                    Item(
                        path=root / row["file"],
                        label=int(row["label"] == "ai"),
                        group=group_of(row["label"], gen, dataset),
                        source=f"{row['source_repo']}/{row['source_path']}",
                    )
                )
    # Real faces: every 6th LFW file (the face-swap model's held-back split uses other buckets).
    lfw = sorted((data / "train" / "faces-lfw" / "images").glob("*.jpg"))
    items += [Item(p, 0, "real_lfw_faces", f"lfw/{p.name}") for p in lfw[::6]]
    return items


class PatchNet:
    """Factory for the torch module (kept in a function so importing this file needs no torch)."""

    @staticmethod
    def build():
        import torch
        from torch.nn import functional as nnf

        class _Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = common.backbone(PATCH)

            def forward(self, x):  # x: N,3,H,W RGB in [0,1]
                mean = nnf.avg_pool2d(nnf.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
                residual = (x - mean) * 8.0
                return self.net(residual)[:, 0]

        return _Net()


def sample_patch(img: Image.Image, rng: random.Random) -> np.ndarray:
    img = common.degrade(img, rng, min_side=PATCH)
    w, h = img.size
    x, y = rng.randint(0, w - PATCH), rng.randint(0, h - PATCH)
    patch = img.crop((x, y, x + PATCH, y + PATCH))
    if rng.random() < 0.5:
        patch = patch.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return common.to_chw(patch)


def grid_patches(img: Image.Image, n: int = 3) -> np.ndarray:
    """n x n evenly spaced PATCH crops at native resolution (what the detector does at run time)."""
    w, h = img.size
    xs = np.linspace(0, w - PATCH, n).round().astype(int) if w > PATCH else [0] * n
    ys = np.linspace(0, h - PATCH, n).round().astype(int) if h > PATCH else [0] * n
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.stack([arr[y : y + PATCH, x : x + PATCH].transpose(2, 0, 1) for y in ys for x in xs])


def train(args: argparse.Namespace) -> None:

    common.set_threads(args.threads)
    common.seed_all(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = out / "train.log.jsonl"
    items = [
        it
        for it in load_items()
        if it.bucket not in CALIB | TEST and it.group not in set(args.exclude_group)
    ]
    blobs = {it.path: it.path.read_bytes() for it in items}
    pos = [it for it in items if it.label == 1]
    neg = [it for it in items if it.label == 0]
    common.log(logf, event="start", n_pos=len(pos), n_neg=len(neg), args=vars(args))

    def make_batch(rng: random.Random) -> tuple[np.ndarray, list[int]]:
        batch = [rng.choice(pos) for _ in range(args.batch // 2)]
        batch += [rng.choice(neg) for _ in range(args.batch - len(batch))]
        x = np.stack(
            [
                sample_patch(Image.open(io.BytesIO(blobs[it.path])).convert("RGB"), rng)
                for it in batch
            ]
        )
        return x, [it.label for it in batch]

    common.fit(PatchNet.build(), args, out, logf, make_batch)


def export(args: argparse.Namespace) -> None:
    common.export_onnx(PatchNet.build(), args.ckpt, args.onnx, PATCH, "patch")


def onnx_logits(session, items: list[Item], transform=None) -> np.ndarray:
    name = session.get_inputs()[0].name
    out = []
    for it in items:
        img = Image.open(it.path).convert("RGB")
        if transform is not None:
            img = transform(img)
        out.append(float(session.run(None, {name: grid_patches(img)})[0].mean()))
    return np.asarray(out)


def evaluate(args: argparse.Namespace) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])
    items = load_items()
    results: dict = {"onnx": args.onnx, "sha256": common.sha256_file(Path(args.onnx))}
    if args.logo:
        # Leave-one-generator-out: every file of the held-out family (never trained on) against
        # the real test split; AUC and TPR at 5 % FPR need no calibration.
        held = [it for it in items if it.group in args.logo]
        real = [it for it in items if it.label == 0 and it.bucket in TEST]
        ev = held + real
        s = onnx_logits(sess, ev)
        y = [it.label for it in ev]
        tpr, _ = common.tpr_at_fpr(y, s)
        results.update(
            held_out=args.logo,
            n_ai=len(held),
            n_real=len(real),
            auc=round(common.roc_auc(y, s), 4),
            tpr_at_5fpr=round(tpr, 4),
        )
    else:
        calib = [it for it in items if it.bucket in CALIB]
        test = [it for it in items if it.bucket in TEST]
        lc = onnx_logits(sess, calib)
        a, b = common.fit_platt(lc, [it.label for it in calib])
        t0 = time.perf_counter()
        lt = onnx_logits(sess, test)
        per_image = (time.perf_counter() - t0) / len(test)
        y = np.asarray([it.label for it in test])
        p = common.calibrated(lt, a, b)
        tpr, thr = common.tpr_at_fpr(y, p)
        results.update(
            platt_a=round(a, 5),
            platt_b=round(b, 5),
            n_calib=len(calib),
            n_test=len(test),
            auc=round(common.roc_auc(y, lt), 4),
            tpr_at_5fpr=round(tpr, 4),
            threshold_at_5fpr=round(thr, 4),
            ece=round(common.ece(p, y), 4),
            accuracy_at_0_5=round(float(np.mean((p >= 0.5) == y)), 4),
            seconds_per_image_9_patches_1_thread=round(per_image, 4),
        )
        groups = {}
        reals = y == 0
        for g in sorted({it.group for it in test}):
            m = np.asarray([it.group == g for it in test])
            if g.startswith("real"):
                groups[g] = {"n": int(m.sum()), "fpr_at_0_5": round(float(np.mean(p[m] >= 0.5)), 4)}
            else:
                mm = m | reals
                groups[g] = {
                    "n": int(m.sum()),
                    "auc_vs_all_real": round(common.roc_auc(y[mm], lt[mm]), 4),
                    "tpr_at_0_5": round(float(np.mean(p[m] >= 0.5)), 4),
                }
        results["per_group"] = groups
        # Robustness: the same test images after ordinary newsroom handling.
        for label, fn in {
            "jpeg_q75": lambda im: common.jpeg(im, 75),
            "resize_0_5": lambda im: im.resize(
                (im.width // 2, im.height // 2), Image.Resampling.BICUBIC
            ),
        }.items():
            keep = [it for it in test]
            lr = onnx_logits(sess, keep, fn)
            pr = common.calibrated(lr, a, b)
            tpr_r, _ = common.tpr_at_fpr(y, lr)
            results[label] = {
                "auc": round(common.roc_auc(y, lr), 4),
                "tpr_at_5fpr": round(tpr_r, 4),
                "accuracy_at_0_5": round(float(np.mean((pr >= 0.5) == y)), 4),
            }
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=1500)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--freeze-blocks", type=int, default=3)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--exclude-group", action="append", default=[])
    t.add_argument("--fresh", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--onnx", required=True)
    v = sub.add_parser("evaluate")
    v.add_argument("--onnx", required=True)
    v.add_argument("--logo", action="append", default=[])
    v.add_argument("--json")
    args = ap.parse_args()
    {"train": train, "export": export, "evaluate": evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
