"""Face-swap detector trained with self-blended images (SBI): train, export, evaluate.

Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022. Every fake is
made from one real face: a slightly recoloured, sharpened/blurred, rescaled and shifted copy of the
face is blended back into the original inside a soft, randomly shaped face mask. The model learns
the traces any face swap leaves (blending boundary, colour and sharpness mismatch between the
inner face and its surroundings) rather than one generator's fingerprint, and trains on real
faces only: ``shared/data/train/faces-lfw``.

Faces are found with the same CenterFace model and cropped with the same code
(``verifier.faces``) as at run time. Split by a hash of the file name: bucket 0 calibrates
(Platt), bucket 1 is the held-back test (false-positive rate on real faces), 2-9 train.

    python -m training.faceswap train --out var/train/faceswap --steps 1200
    python -m training.faceswap export --ckpt var/train/faceswap/last.pt \
        --onnx models/face_swap_sbi/face_swap_sbi.onnx
    python -m training.faceswap evaluate --onnx models/face_swap_sbi/face_swap_sbi.onnx \
        --json models/face_swap_sbi/metrics.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np
from PIL import Image

from training import common
from verifier import faces as facelib
from verifier import models
from verifier.settings import Settings

SIZE = 128
CROP_SCALE = 1.2
CALIB, TEST = {0}, {1}
LFW = common.DATA / "train" / "faces-lfw" / "images"
DFDC = common.DATA / "dev-eval" / "dfdc-sample"


def detector():
    settings = Settings.from_env(environ={})
    card, sess = models.load(settings, "centerface", "face_detection_centerface")
    return card, sess


def lfw_faces(cache: Path) -> dict[str, dict]:
    """CenterFace box + landmarks of the main (largest) face of every LFW file, cached."""
    if cache.exists():
        return json.loads(cache.read_text())
    card, sess = detector()
    out = {}
    for p in sorted(LFW.glob("*.jpg")):
        found = facelib.detect_faces(sess, Image.open(p), max_side=card["max_side"])
        if found:
            f = max(found, key=lambda f: f.width * f.height)
            out[p.name] = f.to_dict()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


def as_face(d: dict) -> facelib.Face:
    return facelib.Face(*d["box"], d["score"], tuple(tuple(p) for p in d["landmarks"]))


def blend_mask(shape: tuple[int, int], lm: np.ndarray, rng: random.Random) -> np.ndarray:
    """A soft, randomly shaped mask over the inner face, from the five landmarks."""
    import cv2

    eyes, mouth = lm[:2].mean(0), lm[3:].mean(0)
    down = mouth - eyes
    centre = lm.mean(0)
    pts = list(lm)
    pts.append(mouth + down * rng.uniform(0.5, 0.9))  # chin
    pts += [e - down * rng.uniform(0.5, 0.9) for e in lm[:2]]  # forehead above each eye
    pts = np.asarray(pts)
    pts = centre + (pts - centre) * rng.uniform(1.1, 1.5)
    pts += np.asarray([[rng.uniform(-4, 4), rng.uniform(-4, 4)] for _ in pts])
    hull = cv2.convexHull(pts.astype(np.float32)).astype(np.int32)
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    k = rng.choice([3, 5, 7, 9])
    if rng.random() < 0.5:
        mask = cv2.erode(mask, np.ones((k, k), np.uint8))
    else:
        mask = cv2.dilate(mask, np.ones((k, k), np.uint8))
    blur = rng.choice([5, 9, 13, 17, 21, 25])
    mask = cv2.GaussianBlur(mask, (blur, blur), 0)
    if mask.max() > 0:
        mask /= mask.max()
    return mask * rng.choice([0.25, 0.5, 0.75, 1, 1, 1])


def self_blend(img: np.ndarray, face: facelib.Face, rng: random.Random) -> np.ndarray:
    """One SBI fake from ``img`` (H,W,3 uint8)."""
    import cv2

    src = img.astype(np.float32)
    # colour / brightness / contrast mismatch
    src = src * rng.uniform(0.9, 1.1) + np.asarray([rng.uniform(-15, 15) for _ in range(3)])
    mean = src.mean()
    src = (src - mean) * rng.uniform(0.9, 1.1) + mean
    # sharpness mismatch
    if rng.random() < 0.5:
        src = cv2.GaussianBlur(src, (0, 0), rng.uniform(0.5, 1.5))
    else:
        blurred = cv2.GaussianBlur(src, (0, 0), 1.0)
        src = src + (src - blurred) * rng.uniform(0.3, 1.0)
    # small scale + shift about the face centre
    cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
    s = rng.uniform(0.95, 1.05)
    m = np.asarray(
        [
            [s, 0, (1 - s) * cx + rng.uniform(-0.03, 0.03) * face.width],
            [0, s, (1 - s) * cy + rng.uniform(-0.03, 0.03) * face.height],
        ],
        np.float32,
    )
    src = cv2.warpAffine(src, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
    mask = blend_mask(img.shape[:2], np.asarray(face.landmarks, np.float32), rng)[..., None]
    out = src * mask + img.astype(np.float32) * (1 - mask)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def to_input(img: Image.Image, face: facelib.Face, rng: random.Random | None) -> np.ndarray:
    """Crop exactly as at run time, then (training only) degrade both classes alike."""
    crop = facelib.face_crop(img, face, scale=CROP_SCALE, size=SIZE)
    if rng is not None:
        crop = common.degrade(crop, rng, min_side=SIZE // 2).resize((SIZE, SIZE))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return common.to_chw(crop)


def pair(path: Path, face: facelib.Face, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
    img = Image.open(path).convert("RGB")
    fake = Image.fromarray(self_blend(np.asarray(img), face, rng))
    seed = rng.random()  # same degradation for both members of the pair
    return to_input(img, face, random.Random(seed)), to_input(fake, face, random.Random(seed))


def build_model():
    import torch

    class _Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = common.backbone(SIZE)

        def forward(self, x):  # N,3,SIZE,SIZE RGB in [0,1]
            return self.net((x - 0.5) / 0.5)[:, 0]

    return _Net()


def split(faces: dict[str, dict], buckets: set[int]) -> list[str]:
    return [n for n in sorted(faces) if common.split_of(f"lfw/{n}", "faceswap") in buckets]


def train(args: argparse.Namespace) -> None:

    common.set_threads(args.threads)
    common.seed_all(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logf = out / "train.log.jsonl"
    faces = lfw_faces(out.parent / "lfw_faces.json")
    names = split(faces, set(range(2, 10)))
    common.log(
        logf, event="start", n_train_faces=len(names), n_detected=len(faces), args=vars(args)
    )

    def make_batch(rng: random.Random) -> tuple[np.ndarray, list[float]]:
        xs, ys = [], []
        for name in rng.sample(names, args.batch // 2):
            real, fake = pair(LFW / name, as_face(faces[name]), rng)
            xs += [real, fake]
            ys += [0.0, 1.0]
        return np.stack(xs), ys

    common.fit(build_model(), args, out, logf, make_batch)


def export(args: argparse.Namespace) -> None:
    common.export_onnx(build_model(), args.ckpt, args.onnx, SIZE, "face")


def evaluate(args: argparse.Namespace) -> None:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])
    iname = sess.get_inputs()[0].name

    def logit(x: np.ndarray) -> float:
        return float(sess.run(None, {iname: x[None]})[0][0])

    faces = lfw_faces(Path(args.cache))
    n_lfw = len(list(LFW.glob("*.jpg")))
    res: dict = {
        "onnx": args.onnx,
        "sha256": common.sha256_file(Path(args.onnx)),
        "lfw_face_detection_coverage": round(len(faces) / n_lfw, 4),
    }
    sets = {}
    for label, buckets in (("calib", CALIB), ("test", TEST)):
        rng = random.Random(1234 + len(buckets))
        ls, ys = [], []
        for name in split(faces, buckets):
            # evaluation inputs: the plain crops, no training degradations
            img = Image.open(LFW / name).convert("RGB")
            f = as_face(faces[name])
            ls.append(logit(to_input(img, f, None)))
            ys.append(0)
            fake_img = Image.fromarray(self_blend(np.asarray(img), f, rng))
            ls.append(logit(to_input(fake_img, f, None)))
            ys.append(1)
        sets[label] = (np.asarray(ls), np.asarray(ys))
    a, b = common.fit_platt(*sets["calib"])
    lt, yt = sets["test"]
    pt = common.calibrated(lt, a, b)
    tpr, thr = common.tpr_at_fpr(yt, pt)
    res.update(
        platt_a=round(a, 5),
        platt_b=round(b, 5),
        lfw_sbi_test={
            "n_real": int((yt == 0).sum()),
            "n_sbi_fake": int((yt == 1).sum()),
            "auc": round(common.roc_auc(yt, lt), 4),
            "tpr_at_5fpr": round(tpr, 4),
            "threshold_at_5fpr": round(thr, 4),
            "ece": round(common.ece(pt, yt), 4),
            "real_fpr_at_0_5": round(float(np.mean(pt[yt == 0] >= 0.5)), 4),
            "sbi_tpr_at_0_5": round(float(np.mean(pt[yt == 1] >= 0.5)), 4),
        },
    )
    # DFDC sample: MTCNN face crops of real DFDC videos; find the face with CenterFace as at
    # run time (whole crop when none is found).
    card, det = detector()
    ls, ys, found, per_face = [], [], 0, []
    for p in sorted((DFDC / "prepared_dataset").glob("*/*.png")):
        img = Image.open(p).convert("RGB")
        fs = facelib.detect_faces(det, img, max_side=card["max_side"])
        if fs:
            found += 1
            f = max(fs, key=lambda f: f.width * f.height)
        else:
            f = facelib.Face(0, 0, img.width, img.height, 0.0, ())
        x = to_input(img, f, None)
        t0 = time.perf_counter()
        ls.append(logit(x))
        per_face.append(time.perf_counter() - t0)
        ys.append(int(p.parent.name == "fake"))
    ld, yd = np.asarray(ls), np.asarray(ys)
    pd = common.calibrated(ld, a, b)
    tpr_d, _ = common.tpr_at_fpr(yd, ld)
    res["dfdc_sample_crops"] = {
        "n_real": int((yd == 0).sum()),
        "n_fake": int((yd == 1).sum()),
        "faces_found": found,
        "auc": round(common.roc_auc(yd, ld), 4),
        "tpr_at_5fpr": round(tpr_d, 4),
        "accuracy_at_0_5": round(float(np.mean((pd >= 0.5) == yd)), 4),
        "mean_p_real": round(float(pd[yd == 0].mean()), 4),
        "mean_p_fake": round(float(pd[yd == 1].mean()), 4),
        "note": "11 real crops come from ONE video (abarnvbtwb); 11 fake from 4 videos",
    }
    # The two DFDC fake videos present (the real ones are missing from the sample): every 30th
    # frame, the largest face large enough to judge, as the detector would score a still.
    import imageio_ffmpeg

    video = {}
    for p in sorted((DFDC / "train_sample_videos").glob("*.mp4")):
        reader = imageio_ffmpeg.read_frames(str(p))
        meta = next(reader)
        w, h = meta["size"]
        probs = []
        for i, raw in enumerate(reader):
            if i % 30:
                continue
            frame = Image.frombytes("RGB", (w, h), raw)
            fs = [
                f
                for f in facelib.detect_faces(det, frame, max_side=card["max_side"])
                if min(f.width, f.height) >= 64
            ]
            if fs:
                f = max(fs, key=lambda f: f.width * f.height)
                probs.append(float(common.calibrated([logit(to_input(frame, f, None))], a, b)[0]))
        video[p.name] = {
            "label": "fake",
            "frames_scored": len(probs),
            "mean_p": round(float(np.mean(probs)), 4) if probs else None,
            "frames_p_ge_0_5": int(sum(q >= 0.5 for q in probs)),
        }
    res["dfdc_sample_videos"] = video
    res["seconds_per_face_1_thread"] = round(float(np.median(per_face)), 4)
    print(json.dumps(res, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", required=True)
    t.add_argument("--steps", type=int, default=1200)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--freeze-blocks", type=int, default=3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=7)
    t.add_argument("--fresh", action="store_true")
    e = sub.add_parser("export")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--onnx", required=True)
    v = sub.add_parser("evaluate")
    v.add_argument("--onnx", required=True)
    v.add_argument("--cache", default="var/train/lfw_faces.json")
    v.add_argument("--json")
    args = ap.parse_args()
    {"train": train, "export": export, "evaluate": evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
