from __future__ import annotations

import pytest
from media_factory import (
    FORMATS_SAVED_BY_PIL,
    VIDEO_HEADERS,
    encode,
    jpeg_with_orientation,
    pattern,
    png_header_only,
)

from verifier.errors import CorruptMediaError, MediaTooLargeError, UnsupportedMediaError
from verifier.media import MediaKind, load_media, load_path, sniff


@pytest.mark.parametrize("fmt", sorted(FORMATS_SAVED_BY_PIL))
def test_every_image_format_is_identified_and_decoded(fmt, settings):
    data = encode(pattern(160, 120), fmt)
    media = load_media(data, settings, name="misleading-name.txt")
    assert media.format.name == fmt
    assert media.kind is MediaKind.IMAGE
    assert (media.width, media.height) == (160, 120)
    assert media.pixels.mode == "RGB" and media.pixels.size == (160, 120)
    assert media.sha256 and media.size_bytes == len(data)


def test_gif_uses_the_first_frame(settings):
    media = load_media(encode(pattern(64, 48), "gif"), settings)
    assert media.frame_count == 2
    r, g, _b = media.pixels.getpixel((2, 2))
    assert r > 200 and g < 60  # the red corner of frame 0, not the rotated frame 1


@pytest.mark.parametrize("fmt", sorted(VIDEO_HEADERS))
def test_videos_are_recognised_by_content(fmt, settings):
    media = load_media(VIDEO_HEADERS[fmt], settings, name="clip.jpg")
    assert media.format.name == fmt
    assert media.kind is MediaKind.VIDEO
    assert media.frames == []


def test_type_comes_from_content_not_the_name(settings, tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(encode(pattern(), "jpeg"))
    assert load_path(path, settings).format.name == "jpeg"


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"", UnsupportedMediaError, "empty"),
        (
            b"hello, this is text pretending to be a JPEG\n",
            UnsupportedMediaError,
            "not a supported",
        ),
        (bytes(range(256)) * 8, UnsupportedMediaError, "not a supported"),
    ],
)
def test_non_media_is_refused_clearly(data, error, words, settings):
    with pytest.raises(error) as info:
        load_media(data, settings)
    assert words in info.value.message


def test_truncated_jpeg_is_corrupt(settings):
    data = encode(pattern(640, 480), "jpeg")
    with pytest.raises(CorruptMediaError) as info:
        load_media(data[: len(data) // 2], settings)
    assert "truncated" in info.value.message


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "heif"])
def test_truncated_files_of_other_formats_are_corrupt(fmt, settings):
    data = encode(pattern(320, 240), fmt)
    with pytest.raises(CorruptMediaError):
        load_media(data[: len(data) // 2], settings)


def test_decompression_bomb_is_refused_from_the_header(settings):
    data = png_header_only(60000, 60000)
    with pytest.raises(MediaTooLargeError) as info:
        load_media(data, settings)
    assert "60000x60000" in info.value.message
    assert "before decoding" in info.value.message


def test_max_pixels_setting(settings):
    data = encode(pattern(100, 100), "png")
    with pytest.raises(MediaTooLargeError):
        load_media(data, settings.with_overrides(max_pixels=9_999))
    load_media(data, settings.with_overrides(max_pixels=10_000))


def test_max_side_setting(settings):
    data = encode(pattern(300, 20), "png")
    with pytest.raises(MediaTooLargeError) as info:
        load_media(data, settings.with_overrides(max_side=299))
    assert "longest side" in info.value.message


def test_max_bytes_setting(settings, tmp_path):
    data = encode(pattern(), "png")
    with pytest.raises(MediaTooLargeError):
        load_media(data, settings.with_overrides(max_bytes=len(data) - 1))
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(MediaTooLargeError):  # checked from the file size, before reading
        load_path(path, settings.with_overrides(max_bytes=len(data) - 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_once_and_recorded(orientation, settings):
    img = pattern(160, 120)
    media = load_media(jpeg_with_orientation(img, orientation), settings)
    assert media.orientation == orientation
    assert media.orientation_applied is (orientation != 1)
    expected = (120, 160) if orientation >= 5 else (160, 120)
    assert (media.width, media.height) == expected
    assert media.pixels.size == expected
    assert media.reduced(80).size[0] / media.reduced(80).size[1] == pytest.approx(
        expected[0] / expected[1], rel=0.05
    )


def test_reduced_versions_are_cached_and_bounded(settings):
    media = load_media(encode(pattern(2000, 1000), "jpeg"), settings)
    small = media.reduced(500)
    assert max(small.size) == 500 and small.size == (500, 250)
    assert media.reduced(500) is small
    assert media._pixels is None  # JPEG reduced via DCT scaling: no full decode needed
    assert media.pixels.size == (2000, 1000)
    assert max(media.reduced(300).size) == 300


def test_small_images_reduce_to_themselves(settings):
    media = load_media(encode(pattern(100, 80), "png"), settings)
    assert media.reduced(500) is media.pixels


def test_directory_and_missing_files(settings, tmp_path):
    with pytest.raises(UnsupportedMediaError, match="directory"):
        load_path(tmp_path, settings)
    with pytest.raises(UnsupportedMediaError, match="does not exist"):
        load_path(tmp_path / "nope.jpg", settings)


def test_sniff_heif_vs_mp4():
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert sniff(heic).name == "heif"
    assert sniff(VIDEO_HEADERS["mp4"]).name == "mp4"
