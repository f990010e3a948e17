import struct
import zlib

import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from pairless.data.images import list_images, read_image, save_image, to_channels
from pairless.errors import BadImageError


def write_png16(path, array: np.ndarray) -> None:
    """A minimal 16-bit PNG writer (Pillow cannot write 16-bit RGB)."""
    height, width = array.shape[:2]
    color_type = 2 if array.ndim == 3 else 0
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in array)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_rgb_and_gray_8bit(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.jpg", quality=100)
    image = read_image(tmp_path / "a.png")
    assert image.shape == (3, 5, 7) and image.dtype == torch.float32
    assert torch.allclose(image * 255, torch.from_numpy(rgb).permute(2, 0, 1).float())
    assert read_image(tmp_path / "g.jpg").shape == (1, 5, 7)
    assert read_image(tmp_path / "g.jpg", channels=3).shape == (3, 5, 7)


def test_alpha_and_palette_become_rgb(tmp_path):
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(tmp_path / "a.png")
    Image.new("P", (4, 4), 3).save(tmp_path / "p.png")
    assert read_image(tmp_path / "a.png").shape == (3, 4, 4)
    assert read_image(tmp_path / "p.png").shape == (3, 4, 4)


@pytest.mark.parametrize("channels", [1, 3])
def test_16bit_png_is_read_at_full_depth(tmp_path, channels):
    shape = (6, 5, 3) if channels == 3 else (6, 5)
    array = np.random.default_rng(1).integers(0, 65536, shape, dtype=np.uint16)
    array.flat[0] = 257  # a value 8-bit decoding would turn into 1/255 exactly; full depth keeps 257/65535
    write_png16(tmp_path / "x.png", array)
    image = read_image(tmp_path / "x.png")
    expected = torch.from_numpy(array.astype(np.float32) / 65535)
    expected = expected.permute(2, 0, 1) if channels == 3 else expected[None]
    assert image.shape == expected.shape
    assert torch.allclose(image, expected, atol=1e-7)


def test_16bit_tiff_rgb_and_gray(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    gray = rgb[..., 0].copy()
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    tifffile.imwrite(tmp_path / "gray.tif", gray)
    assert torch.allclose(read_image(tmp_path / "rgb.tif"), torch.from_numpy(rgb / 65535).permute(2, 0, 1).float())
    assert torch.allclose(read_image(tmp_path / "gray.tif")[0], torch.from_numpy(gray / 65535).float())


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (6, 2), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    image.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").shape == (3, 6, 2)


def test_corrupt_and_missing_files_name_the_path(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(BadImageError, match=r"cannot read image .*bad\.png"):
        read_image(tmp_path / "bad.png")
    good = tmp_path / "cut.jpg"
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(good)
    (tmp_path / "truncated.jpg").write_bytes(good.read_bytes()[:200])
    with pytest.raises(BadImageError, match="truncated.jpg"):
        read_image(tmp_path / "truncated.jpg")
    with pytest.raises(BadImageError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_channel_conversion_uses_luma_weights():
    rgb = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    assert to_channels(rgb, 1).item() == pytest.approx(0.299)
    assert to_channels(torch.rand(4, 2, 2), 3).shape == (3, 2, 2)


def test_list_images_is_recursive_sorted_and_filtered(tmp_path):
    for name in ["b/2.png", "a.JPG", "b/1.tif", "notes.txt", ".hidden.png", "c/.d/x.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.JPG", "b/1.tif", "b/2.png"]


def test_save_round_trip(tmp_path):
    image = torch.rand(3, 8, 9)
    save_image(image, tmp_path / "o" / "x.png")
    assert torch.allclose(read_image(tmp_path / "o" / "x.png"), image, atol=1 / 255)


def test_linked_folders_are_followed_but_cycles_never_lead_out(tmp_path):
    root = tmp_path / "data"
    for name in ["trainA/a.png", "trainA/sub/b.png", "trainB/other.png", "extra/c.png"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    domain = root / "trainA"
    (domain / "sub" / "up").symlink_to(domain)  # a cycle back to the folder itself
    (domain / "parent").symlink_to(root)  # a cycle through the folder above: would reach trainB
    (domain / "again").symlink_to(domain / "sub")  # a second name for a folder
    (domain / "same.png").symlink_to(domain / "a.png")  # a second name for a file
    (domain / "more").symlink_to(root / "extra")  # a linked folder outside: followed
    listed = [p.relative_to(domain).as_posix() for p in list_images(domain)]
    assert listed == ["a.png", "again/b.png", "more/c.png"]


def test_gif_files_are_left_out_with_a_warning(tmp_path):
    """GIFs are often animations (not one image): they are not used, and a warning says so."""
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "moving.gif")
    with pytest.warns(UserWarning, match="1 GIF file\\(s\\) left out"):
        assert [p.name for p in list_images(tmp_path)] == ["a.png"]
