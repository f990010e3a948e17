import numpy as np
import pytest
import torch
from PIL import Image

from pairless.data import transforms
from pairless.data.config import DataConfig
from pairless.data.images import read_image
from pairless.data.unpaired import UnpairedImageFolder, load_preview_batch
from pairless.errors import BadImageError, PairlessError
from tests.conftest import write_images


def config(root, **kw):
    return DataConfig(root=str(root), size=32, load_size=36, **kw)


def test_samples_are_a_function_of_index_and_seed(unpaired_dir):
    ds = UnpairedImageFolder(config(unpaired_dir), seed=3)
    again = UnpairedImageFolder(config(unpaired_dir), seed=3)
    other = UnpairedImageFolder(config(unpaired_dir), seed=4)
    for i in (0, 7, 12):
        assert torch.equal(ds[i]["A"], again[i]["A"]) and ds[i]["B_path"] == again[i]["B_path"]
    assert any(not torch.equal(ds[i]["A"], other[i]["A"]) for i in range(5))
    sample = ds[0]
    assert sample["A"].shape == (3, 32, 32) and sample["A"].min() >= -1 and sample["A"].max() <= 1


def test_each_epoch_visits_every_a_image_once(unpaired_dir):
    ds = UnpairedImageFolder(config(unpaired_dir, flip=False), seed=0)
    assert len(ds) == 5
    for epoch in range(2):
        paths = [ds[epoch * 5 + i]["A_path"] for i in range(5)]
        assert sorted(paths) == sorted(str(p) for p in ds.a.paths)


def test_serial_pairs_by_position(unpaired_dir):
    ds = UnpairedImageFolder(config(unpaired_dir, serial=True), seed=0)
    assert [ds[i]["A_path"].endswith(f"img{i:03d}.png") for i in range(5)] == [True] * 5
    assert ds[4]["B_path"].endswith("img000.png")  # 4 B images wrap around


def test_full_frames_from_a_sample_index_on_are_the_test_time_framing(unpaired_dir):
    ds = UnpairedImageFolder(config(unpaired_dir, flip=False), seed=0)
    ds.full_frames_from = 3
    for index in range(6):
        sample = ds[index]
        whole = transforms.test_transform(read_image(sample["A_path"], 3), 32)
        assert torch.allclose(sample["A"], whole, atol=1e-6) == (index >= 3)


@pytest.mark.parametrize("mode, shape", [
    ("resize_and_crop", (32, 32)), ("crop", (32, 32)), ("scale_width_and_crop", (32, 32)),
    ("scale_width", (32, 36)), ("none", (36, 40)),
])
def test_preprocess_modes(unpaired_dir, mode, shape):
    ds = UnpairedImageFolder(config(unpaired_dir, preprocess=mode), seed=0)
    assert tuple(ds[0]["A"].shape[-2:]) == shape  # images are 40 wide x 36 high
    assert ds.fixed_shape


def test_channels_and_direction(unpaired_dir):
    gray = UnpairedImageFolder(config(unpaired_dir, channels_a=1), seed=0)[0]
    assert gray["A"].shape[0] == 1 and gray["B"].shape[0] == 3
    swapped = UnpairedImageFolder(config(unpaired_dir, direction="BtoA"), seed=0)
    assert "trainB" in swapped[0]["A_path"] and len(swapped.a) == 4


def test_missing_and_empty_folders(tmp_path, unpaired_dir):
    with pytest.raises(PairlessError, match="data folder not found"):
        UnpairedImageFolder(config(tmp_path / "nothing"))
    (unpaired_dir / "trainB").rename(unpaired_dir / "elsewhere")
    with pytest.raises(PairlessError, match=r"trainB folder not found: .*trainB \(check --data\)"):
        UnpairedImageFolder(config(unpaired_dir))
    (unpaired_dir / "trainB").mkdir()
    with pytest.raises(PairlessError, match="holds no images"):
        UnpairedImageFolder(config(unpaired_dir))


def test_image_smaller_than_crop_names_file_and_option(unpaired_dir):
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(unpaired_dir / "trainA" / "tiny.png")
    with pytest.raises(PairlessError, match=r"tiny\.png is 20x20, smaller than the 32 px crop.*--size"):
        UnpairedImageFolder(config(unpaired_dir, preprocess="crop"))
    UnpairedImageFolder(config(unpaired_dir))  # resize_and_crop handles any size


def test_corrupt_image_is_an_error_or_a_warning(unpaired_dir):
    (unpaired_dir / "trainA" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(BadImageError, match=r"broken\.png.*--skip-bad-images"):
        UnpairedImageFolder(config(unpaired_dir))
    with pytest.warns(UserWarning, match="broken.png"):
        ds = UnpairedImageFolder(config(unpaired_dir, skip_bad_images=True))
    assert len(ds.a) == 5


def test_image_that_breaks_while_decoding_is_skipped_on_request(unpaired_dir):
    good = unpaired_dir / "trainA" / "img000.png"
    data = good.read_bytes()
    ds = UnpairedImageFolder(config(unpaired_dir, skip_bad_images=True, serial=True))
    good.write_bytes(data[: len(data) // 2])  # header intact, pixels truncated
    with pytest.warns(UserWarning, match="img000.png"):
        sample = ds[0]
    assert sample["A_path"].endswith("img001.png")
    strict = UnpairedImageFolder(config(unpaired_dir, serial=True))
    with pytest.raises(BadImageError, match="img000.png"):
        strict[0]


def test_preview_batch_uses_test_images(unpaired_dir):
    batch = load_preview_batch(config(unpaired_dir), 4)
    assert batch["A"].shape == (3, 3, 32, 32) and batch["B"].shape == (3, 3, 32, 32)


def test_mixed_sizes_are_not_a_fixed_shape(unpaired_dir):
    write_images(unpaired_dir / "trainB", 1, size=(48, 36), seed=9)
    (unpaired_dir / "trainB" / "img000.png").rename(unpaired_dir / "trainB" / "wide.png")
    assert not UnpairedImageFolder(config(unpaired_dir, preprocess="none")).fixed_shape


@pytest.mark.parametrize("width, height", [(1, 1), (20, 5000)])
def test_whole_images_smaller_than_the_network_size_name_the_file(unpaired_dir, width, height):
    Image.new("RGB", (width, height)).save(unpaired_dir / "trainB" / "odd.png")
    with pytest.raises(PairlessError, match=rf"odd\.png is {width}x{height}, smaller than --size 32: "
                                            r"--preprocess none trains on whole images"):
        UnpairedImageFolder(config(unpaired_dir, preprocess="none"))


def test_sample_shapes_name_an_image_of_each_shape(unpaired_dir):
    write_images(unpaired_dir / "trainB", 1, size=(48, 36), seed=9)
    (unpaired_dir / "trainB" / "img000.png").rename(unpaired_dir / "trainB" / "wide.png")
    shapes = UnpairedImageFolder(config(unpaired_dir, preprocess="none")).sample_shapes
    assert {shape: path.name for shape, path in shapes.items()} == {(36, 40): "img000.png", (36, 48): "wide.png"}


def test_cached_images_give_the_same_samples_bit_for_bit(unpaired_dir):
    plain = UnpairedImageFolder(config(unpaired_dir, channels_a=1), seed=5)
    cached = UnpairedImageFolder(config(unpaired_dir, channels_a=1), seed=5)
    used = cached.preload(budget_mb=1)
    assert used == (5 + 4) * 3 * 36 * 40  # every image, as uint8 (a 40x36 RGB file)
    assert len(cached.a.cache) == 5 and {p.dtype for p in cached.b.cache.values()} == {torch.uint8}
    for index in range(12):
        for key in ("A", "B"):
            assert torch.equal(cached[index][key], plain[index][key])


def test_the_cache_stops_at_its_budget_and_is_off_at_zero(unpaired_dir):
    one_image = 3 * 36 * 40
    ds = UnpairedImageFolder(config(unpaired_dir))
    assert ds.preload(budget_mb=0) == 0 and not ds.a.cache
    ds.a.cache.clear()
    assert ds.a.preload(budget=2 * one_image + 1) == 2 * one_image
    assert sorted(ds.a.cache) == [0, 1]


def test_an_image_that_breaks_before_caching_is_still_reported_when_used(unpaired_dir):
    good = unpaired_dir / "trainA" / "img000.png"
    strict = UnpairedImageFolder(config(unpaired_dir, serial=True))
    lenient = UnpairedImageFolder(config(unpaired_dir, skip_bad_images=True, serial=True))
    good.write_bytes(good.read_bytes()[:100])
    strict.preload(budget_mb=1)
    lenient.preload(budget_mb=1)
    assert 0 not in strict.a.cache and 1 in strict.a.cache
    with pytest.raises(BadImageError, match="img000.png"):
        strict[0]
    with pytest.warns(UserWarning, match="img000.png"):
        assert lenient[0]["A_path"].endswith("img001.png")


def test_a_negative_cache_budget_is_an_error_naming_the_option():
    with pytest.raises(PairlessError, match="--cache-mb"):
        DataConfig(cache_mb=-1)


def test_whole_images_are_measured_as_their_exif_orientation_shows_them(tmp_path):
    """A JPEG stored 60x40 with EXIF orientation 6 is read as 40x60, and the --preprocess none size check
    measures it so (it measured before rotating, refusing images of one size and passing others)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    (tmp_path / "trainA").mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "trainA" / "turned.jpg", exif=exif)
    write_images(tmp_path / "trainB", 1, size=(40, 60))
    data = UnpairedImageFolder(config(tmp_path, preprocess="none"))
    assert data.fixed_shape and list(data.sample_shapes) == [(60, 40)]
    assert data[0]["A"].shape == data[0]["B"].shape == (3, 60, 40)
