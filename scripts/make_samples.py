"""Make the project's own sample media under samples/ (deterministic; no outside data).

    python scripts/make_samples.py [OUTDIR]

Every file is rendered from scratch here, so the project can ship and test with it freely.
``samples/expected.json`` records the verdict each should get from the current detectors; the
test suite checks it, and each new detector updates it where its evidence changes a verdict.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, PngImagePlugin

W, H = 1024, 768


def render_scene(seed: int = 7) -> Image.Image:
    """A small outdoor scene with sensor-like noise, so it compresses like a photo."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, H)[:, None, None]
    sky = (np.array([90, 140, 215]) * (1 - y) + np.array([200, 225, 245]) * y).astype(np.float32)
    img = np.broadcast_to(sky, (H, W, 3)).copy()
    pil = Image.fromarray(img.astype(np.uint8))
    d = ImageDraw.Draw(pil)
    d.ellipse((780, 80, 880, 180), fill=(255, 236, 170))
    hills = [(0, 520)] + [(x, 470 + int(40 * np.sin(x / 90.0))) for x in range(0, W + 1, 16)]
    d.polygon([*hills, (W, H), (0, H)], fill=(78, 128, 62))
    d.rectangle((180, 380, 400, 560), fill=(180, 90, 60))  # house
    d.polygon([(160, 385), (290, 290), (420, 385)], fill=(110, 50, 40))
    d.rectangle((265, 470, 315, 560), fill=(70, 45, 30))
    d.rectangle((205, 410, 250, 450), fill=(190, 220, 240))
    d.rectangle((335, 410, 380, 450), fill=(190, 220, 240))
    d.rectangle((640, 420, 660, 560), fill=(90, 60, 35))  # tree
    d.ellipse((590, 330, 710, 450), fill=(50, 110, 45))
    pil = pil.filter(ImageFilter.GaussianBlur(1.2))
    arr = np.asarray(pil).astype(np.float32)
    texture = rng.normal(0, 1, (H // 4, W // 4, 1)).repeat(4, 0).repeat(4, 1) * 6
    arr += texture + rng.normal(0, 3.0, arr.shape)  # scene texture + sensor noise
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def camera_exif(software: str | None = None, modified: str | None = None, orientation: int = 1):
    exif = Image.Exif()
    exif[0x010F] = "VerifierCam"  # Make: a made-up camera, honestly named
    exif[0x0110] = "Render One"  # Model
    exif[0x0112] = orientation
    exif[0x0132] = modified or "2026:03:14 09:26:53"  # DateTime
    if software:
        exif[0x0131] = software
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = "2026:03:14 09:26:53"  # DateTimeOriginal
    ifd[0x829A] = (1, 250)  # ExposureTime
    ifd[0x8827] = 100  # ISO
    return exif


def jpeg(img: Image.Image, quality: int, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes() if exif is not None else b"")
    return buf.getvalue()


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    scene = render_scene()
    camera = jpeg(scene, 90, camera_exif())
    (out / "camera.jpg").write_bytes(camera)

    # An edit: the house cloned to the right (copy-move), re-saved by an editor.
    edited = Image.open(io.BytesIO(camera)).convert("RGB")
    edited.paste(edited.crop((150, 280, 430, 570)), (700, 300))
    exif = camera_exif(software="GIMP 2.10.36", modified="2026:03:15 18:02:11")
    (out / "camera-edited.jpg").write_bytes(jpeg(edited, 85, exif))

    # Stored sideways with EXIF orientation 6, as phones do: shown upright after loading.
    sideways = scene.resize((512, 384)).transpose(Image.Transpose.ROTATE_90)
    (out / "rotated.jpg").write_bytes(jpeg(sideways, 88, camera_exif(orientation=6)))

    # A ZIP archive appended after the JPEG's end marker.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("note.txt", (2026, 3, 14, 9, 30, 0)), "appended\n")
    (out / "appended.jpg").write_bytes(jpeg(scene.resize((512, 384)), 85) + buf.getvalue())

    # A PNG carrying a Stable Diffusion style "parameters" text chunk (a generator's claim).
    info = PngImagePlugin.PngInfo()
    info.add_text(
        "parameters",
        "a small house on a hill, sunny day\nSteps: 20, Sampler: Euler a, CFG scale: 7, "
        "Seed: 1234, Size: 512x384, Model: v1-5-pruned-emaonly",
    )
    scene.resize((512, 384)).save(out / "generated-claim.png", pnginfo=info, optimize=True)


if __name__ == "__main__":
    main(
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "samples"
    )
