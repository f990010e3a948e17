"""Single-image data mode on a 2-image data set: zooms, patches, minibatch structure, determinism, errors."""

from pathlib import Path

import pytest
import torch

from pairless.data.config import DataConfig
from pairless.data.images import read_image
from pairless.data.single_image import (
    SingleImagePair,
    batch_generator,
    draw_patch_grid,
    resize_bilinear,
    single_image_preview,
)
from pairless.errors import PairlessError
from tests.conftest import write_images


@pytest.fixture
def two_images(tmp_path: Path) -> Path:
    """trainA: one 90x70 image, trainB: one 60x84 image (CycleGAN layout, one image per domain)."""
    root = tmp_path / "single"
    write_images(root / "trainA", 1, size=(90, 70), seed=1)
    write_images(root / "trainB", 1, size=(60, 84), seed=2)
    return root


def config(root: Path, **options) -> DataConfig:
    return DataConfig(**{"root": str(root), "size": 16, "preprocess": "zoom_and_patch", "workers": 0, **options})


def files(root: Path) -> dict:
    return {"data_a": str(root / "trainA" / "img000.png"), "data_b": str(root / "trainB" / "img000.png")}


def test_every_sample_is_a_crop_of_the_image_zoomed_as_drawn_for_its_minibatch(two_images):
    ds = SingleImagePair(config(two_images, flip=False), seed=5, batch_size=4)
    image_b = read_image(two_images / "trainB" / "img000.png", 3)
    for index in (0, 3, 4, 9, 13):
        batch_number, slot = divmod(index, 4)
        grid = draw_patch_grid(84, 60, 16, 3.0, batch_generator(5, batch_number, domain=1))
        top, left = grid.cell(slot, 16)
        expected = resize_bilinear(image_b, grid.height, grid.width)[:, top:top + 16, left:left + 16] * 2 - 1
        sample = ds[index]["B"]
        assert sample.shape == (3, 16, 16) and torch.equal(sample, expected)


def test_zoom_factors_stay_in_range_and_vary(two_images):
    sizes = set()
    for batch_number in range(60):
        grid = draw_patch_grid(70, 90, 16, 3.0, batch_generator(0, batch_number, domain=0))
        assert round(70 / 3) <= grid.height <= 70 and round(90 / 3) <= grid.width <= 90
        sizes.add((grid.height, grid.width))
    assert len(sizes) > 30  # each axis draws its own zoom
    small = draw_patch_grid(20, 90, 16, 3.0, batch_generator(0, 0, domain=0))
    assert small.height >= 16  # never zoomed below the crop size


def test_a_minibatch_takes_distinct_cells_of_one_zoom(two_images):
    ds = SingleImagePair(config(two_images, flip=False, size=8), seed=0, batch_size=6)
    grid = draw_patch_grid(70, 90, 8, 3.0, batch_generator(0, 2, domain=0))
    cells = {grid.cell(slot, 8) for slot in range(6)}
    assert len(cells) == 6
    patches = [ds[12 + slot]["A"] for slot in range(6)]
    assert all(not torch.equal(patches[i], patches[j]) for i in range(6) for j in range(i))


def test_samples_depend_only_on_seed_and_index(two_images):
    ds = SingleImagePair(config(two_images), seed=3, batch_size=4)
    forward = [ds[i] for i in range(12)]
    backward = {i: SingleImagePair(config(two_images), seed=3, batch_size=4)[i] for i in reversed(range(12))}
    for i in range(12):
        assert torch.equal(forward[i]["A"], backward[i]["A"]) and torch.equal(forward[i]["B"], backward[i]["B"])
    other = SingleImagePair(config(two_images), seed=4, batch_size=4)
    assert not torch.equal(other[0]["A"], forward[0]["A"])
    assert -1 <= min(s["A"].min() for s in forward) and max(s["B"].max() for s in forward) <= 1


def test_flips_happen_per_sample(two_images):
    plain = SingleImagePair(config(two_images, flip=False), seed=0, batch_size=2)
    flipped = SingleImagePair(config(two_images), seed=0, batch_size=2)
    outcomes = {torch.equal(flipped[i]["A"], plain[i]["A"].flip(-1)) for i in range(16)}
    assert outcomes == {True, False}


def test_image_files_and_one_image_folder_give_the_same_samples(two_images):
    from_folder = SingleImagePair(config(two_images), seed=1, batch_size=2)
    from_files = SingleImagePair(config("", **files(two_images)), seed=1, batch_size=2)
    assert torch.equal(from_folder[5]["A"], from_files[5]["A"]) and from_files[5]["B_path"].endswith("img000.png")
    assert len(from_files) == 100_000


def test_btoa_swaps_the_images_and_load_size_scales_the_long_side(two_images):
    swapped = SingleImagePair(config(two_images, direction="BtoA", flip=False), seed=0)
    assert "trainB" in swapped[0]["A_path"] and swapped.a.image.shape[-2:] == (84, 60)
    scaled = SingleImagePair(config(two_images, load_size=45), seed=0)
    assert scaled.a.image.shape[-2:] == (35, 45) and scaled.b.image.shape[-2:] == (45, 32)


def test_preview_is_one_square_of_each_whole_image(two_images):
    preview = single_image_preview(config(two_images, size=16))
    assert preview["A"].shape == (1, 3, 64, 64) and preview["B"].shape == (1, 3, 64, 64)
    assert single_image_preview(config(two_images, size=128))["A"].shape == (1, 3, 256, 256)


def test_folder_with_more_images_names_the_single_image_options(two_images):
    write_images(two_images / "trainB", 2, size=(30, 30), seed=7)
    with pytest.raises(PairlessError, match="holds 2 images.*--data-a and --data-b"):
        SingleImagePair(config(two_images))


def test_bad_single_image_options_are_named(two_images, tmp_path):
    with pytest.raises(PairlessError, match="--data-b"):
        SingleImagePair(config("", data_a=files(two_images)["data_a"], data_b=str(tmp_path / "missing.png")))
    with pytest.raises(PairlessError, match="go together"):
        config("", data_a=files(two_images)["data_a"])
    with pytest.raises(PairlessError, match="--preprocess zoom_and_patch"):
        DataConfig(**files(two_images))
    with pytest.raises(PairlessError, match="--random-scale-max"):
        config(two_images, random_scale_max=0.5)
    with pytest.raises(PairlessError, match="--data"):
        SingleImagePair(config(tmp_path / "nowhere"))
