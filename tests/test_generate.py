"""`pairless generate`: images of a class or of every class, grids, and clear errors."""

import pytest
import torch

from pairless.cli import main
from pairless.config import RunConfig
from pairless.data.images import read_image
from pairless.errors import PairlessError
from pairless.generate import class_grid, generate_class, load_generator, write_class_images
from pairless.train.checkpoint import build_model, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def checkpoint(folder, method="contragan", **model):
    torch.manual_seed(0)
    cfg = RunConfig.defaults(method).override({"backbone": "dcgan", "width": 4, "embed_dim": 8, "num_classes": 3,
                                               "image_size": 32, "channels_a": 1, **model})
    save_checkpoint(folder, build_model(cfg).eval(), cfg, 7, {}, keep_last=0)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return checkpoint(tmp_path_factory.mktemp("run"))


def test_images_of_a_class_are_seeded_and_differ_by_class(run_dir):
    model, step = load_generator(run_dir, "cpu")
    assert step == 7
    images = generate_class(model, 1, 5, seed=3)
    assert images.shape == (5, 1, 32, 32) and 0 <= images.min() and images.max() <= 1
    assert torch.equal(images, generate_class(model, 1, 5, seed=3))
    assert not torch.equal(images, generate_class(model, 1, 5, seed=4))
    assert not torch.equal(images[:2], generate_class(model, 2, 2, seed=3))
    assert torch.allclose(generate_class(model, 1, 5, seed=3, batch_size=2), images, atol=1e-6)


def test_class_folders_are_written_and_read_back_as_labelled_data(run_dir, tmp_path):
    model, _ = load_generator(run_dir, "cpu")
    written = write_class_images(model, tmp_path, [0, 2], count=3)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        f"{c}/{i:05d}.png" for c in (0, 2) for i in range(3)]
    assert read_image(written[0]).shape == (1, 32, 32)


def test_grid_has_a_row_per_class_and_a_column_per_sample(run_dir):
    model, _ = load_generator(run_dir, "cpu")
    grid = class_grid(model, [0, 1, 2], per_class=4)
    tile = 128 + 2  # 32 px enlarged 4x for visibility, plus the 2 px padding
    assert grid.shape == (3, 2 + 3 * tile, 2 + 4 * tile)


def test_out_of_range_class_and_translation_checkpoints_are_errors(run_dir, tmp_path):
    model, _ = load_generator(run_dir, "cpu")
    with pytest.raises(PairlessError, match="--class 3 is out of range: the model has classes 0 to 2"):
        generate_class(model, 3, 1)
    cfg = RunConfig.defaults("cyclegan").override({"width": 4, "n_blocks": 1, "size": 32})
    save_checkpoint(tmp_path, build_model(cfg), cfg, 1, {}, keep_last=0)
    with pytest.raises(PairlessError, match="holds a cyclegan model, which translates images"):
        load_generator(tmp_path, "cpu")


def test_cli_generates_one_class_with_a_grid(run_dir, tmp_path, capsys):
    out = tmp_path / "gen"
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(run_dir), "--class", "2", "--count", "3", "--grid", "--out", str(out), "--device", "cpu"])
    assert exit_info.value.code == 0
    assert sorted(p.name for p in (out / "2").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert (out / "grid.png").is_file() and "generated 3 image(s) of 1 class(es) at step 7" in capsys.readouterr().out


def test_cli_names_a_bad_class(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", str(run_dir), "--class", "5", "--out", str(tmp_path), "--device", "cpu"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: --class 5 is out of range")


def test_translation_commands_refuse_a_class_conditional_checkpoint(run_dir, tmp_path, capsys):
    from pairless.translator import Translator

    with pytest.raises(PairlessError, match="generates images from class labels.*pairless generate"):
        Translator.load(run_dir, "cpu")
    for command in (["translate", run_dir, tmp_path, "--out", tmp_path / "out"],
                    ["export", run_dir, "--out", tmp_path / "m.onnx"]):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in command])
        assert exit_info.value.code == 2 and "pairless generate" in capsys.readouterr().err


def test_generate_refuses_a_translation_model_that_has_a_generate_method(tmp_path):
    cfg = RunConfig.defaults("dtn").override({"width": 4, "feature_dim": 8, "size": 32})
    save_checkpoint(tmp_path, build_model(cfg), cfg, 1, {}, keep_last=0)
    with pytest.raises(PairlessError, match="holds a dtn model, which translates images"):
        load_generator(tmp_path, "cpu")
