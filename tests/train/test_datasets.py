"""What the trainer refuses before its first step: sample shapes the networks cannot take."""

import pytest
from PIL import Image

from pairless.errors import PairlessError
from pairless.train.loop import train
from tests.conftest import tiny_config


@pytest.mark.parametrize("method, size, nearest", [("cut", 30, "28 or 32"), ("cyclegan", 34, "32 or 36"),
                                                    ("discogan", 40, "32 or 48"), ("dtn", 12, "16")])
def test_a_size_the_generator_cannot_halve_is_refused_naming_the_nearest(tmp_path, unpaired_dir, method, size,
                                                                       nearest):
    cfg = tiny_config(method, unpaired_dir, **{"data.size": size, "data.load_size": 56})
    with pytest.raises(PairlessError, match=rf"--size {size} is not a multiple of \d+, which {method} needs as "
                                            rf"configured; use --size {nearest}$"):
        train(cfg, tmp_path / "run", quiet=True)


def whole_image_data(root, size_a, size_b):
    for name, size in (("trainA", size_a), ("trainB", size_b)):
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", size, (60 * i, 90, 30)).save(root / name / f"{i}.png")
    return root


def test_whole_images_of_different_sizes_are_refused_naming_two_of_them(tmp_path):
    data = whole_image_data(tmp_path / "data", (32, 32), (40, 28))
    cfg = tiny_config("cyclegan", data, **{"data.preprocess": "none", "data.size": 24, "train.steps": 1})
    with pytest.raises(PairlessError, match=r"--preprocess none keeps each image's size, and cyclegan needs one "
                                            r"size for all: .*trainB/0.png gives 40x28 but .*trainA/0.png gives "
                                            r"32x32; resize the images to one size or use --preprocess"):
        train(cfg, tmp_path / "run", quiet=True)


def test_whole_images_of_one_size_train(tmp_path):
    data = whole_image_data(tmp_path / "data", (48, 32), (48, 32))
    cfg = tiny_config("cut", data, **{"data.preprocess": "none", "train.steps": 1})
    assert train(cfg, tmp_path / "run", quiet=True).finished


def test_whole_images_whose_sides_the_generator_cannot_halve_are_refused(tmp_path):
    data = whole_image_data(tmp_path / "data", (40, 40), (40, 40))
    cfg = tiny_config("discogan", data, **{"data.preprocess": "none", "train.steps": 1})
    with pytest.raises(PairlessError, match=r"image .*0.png gives 40x40 training images, but discogan needs sides "
                                            r"that are multiples of 16"):
        train(cfg, tmp_path / "run", quiet=True)
