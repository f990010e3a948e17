import pytest
import torch
from safetensors.torch import save_file

from pairless.config import RunConfig, section_fields
from pairless.errors import PairlessError
from pairless.models.registry import method_names


def test_presets_follow_the_papers():
    cut, fast, cyc = (RunConfig.defaults(m) for m in ("cut", "fastcut", "cyclegan"))
    assert (cut.model.lambda_nce, cut.model.nce_idt, cut.model.flip_equivariance) == (1.0, True, False)
    assert cut.model.nce_layers == (0, 4, 8, 12, 16) and cut.model.num_patches == 256
    assert cut.model.nce_temperature == 0.07
    assert (fast.model.lambda_nce, fast.model.nce_idt, fast.model.flip_equivariance) == (10.0, False, True)
    assert (cyc.model.lambda_cycle, cyc.model.lambda_idt, cyc.model.pool_size) == (10.0, 0.5, 50)
    assert cut.train.lr == 2e-4 and (cut.train.beta1, cut.train.beta2) == (0.5, 0.999)
    assert (cut.train.epochs, fast.train.epochs, cyc.train.epochs) == (400, 200, 200)
    assert fast.train.decay_fraction == 0.25


def test_overrides_coerce_strings_and_find_sections():
    cfg = RunConfig.defaults("cut").override(
        {"lambda_nce": "2.5", "nce_layers": "0,4,8", "nce_idt": "false", "size": "64", "train.steps": "10"})
    assert cfg.model.lambda_nce == 2.5 and cfg.model.nce_layers == (0, 4, 8)
    assert cfg.model.nce_idt is False and cfg.data.size == 64 and cfg.train.steps == 10


@pytest.mark.parametrize("key, message", [
    ("lamda_nce", "did you mean 'lambda_nce'"),
    ("model.nce_layer", "did you mean 'nce_layers'"),
    ("modle.width", "did you mean 'model'"),
])
def test_unknown_keys_name_the_nearest_valid_one(key, message):
    with pytest.raises(PairlessError, match=message):
        RunConfig.defaults("cut").override({key: 1})


@pytest.mark.parametrize("key, value, message", [
    ("width", "wide", "expects int"),
    ("gan_mode", "lsgna", "did you mean 'lsgan'"),
    ("nce_idt", "maybe", "expects bool"),
    ("batch_size", "0", "--batch-size must be at least 1"),
    ("channels_a", "2", "must be 1 or 3"),
    ("nce_layers", "8,4", "increasing"),
])
def test_bad_values_are_clear_errors(key, value, message):
    with pytest.raises(PairlessError, match=message):
        RunConfig.defaults("cut").override({key: value})


def test_yaml_round_trip(tmp_path):
    cfg = RunConfig.defaults("fastcut").override({"width": 8, "root": "x", "steps": 3})
    cfg.save(tmp_path / "config.yaml")
    assert RunConfig.load(tmp_path / "config.yaml") == cfg


def test_yaml_with_unknown_key_is_refused(tmp_path):
    (tmp_path / "c.yaml").write_text("method: cut\nmodel: {widht: 8}\n")
    with pytest.raises(PairlessError, match="unknown option 'widht' in model"):
        RunConfig.load(tmp_path / "c.yaml")


@pytest.mark.parametrize("method", method_names())
def test_option_names_are_unique_across_sections(method):
    cfg = RunConfig.defaults(method)
    names = [n for s in ("model", "data", "train") for n in section_fields(getattr(cfg, s))]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("method", ["cut", "fastcut", "dclgan", "simdcl"])
def test_blurred_upsampling_is_kept_from_128_px_on(method):
    def upsampling(size, **options):
        return RunConfig.defaults(method).override({"size": size, **options}).resolved().model.antialias_up

    assert [upsampling(size) for size in (32, 64, 96, 128, 256)] == [False, False, False, True, True]
    assert upsampling(64, antialias_up=True) is True and upsampling(256, antialias_up=False) is False


def test_a_setting_the_model_chooses_by_size_is_an_on_off_option():
    from pairless.cli import parse_options

    cfg = RunConfig.defaults("cut")
    for args, chosen in ((["--no-antialias-up"], False), (["--antialias-up"], True)):
        keys = cfg.option_overrides(parse_options(args, cfg.is_switch))
        assert cfg.override({"size": 256 if chosen is False else 64, **keys}).resolved().model.antialias_up is chosen


def test_generator_depth_follows_image_size():
    assert RunConfig.defaults("cut").override({"size": 256}).resolved().model.n_blocks == 9
    assert RunConfig.defaults("cyclegan").override({"size": 128}).resolved().model.n_blocks == 6
    assert RunConfig.defaults("cut").override({"n_blocks": 3, "size": 256}).resolved().model.n_blocks == 3


@pytest.mark.parametrize("method", method_names())
def test_every_named_preset_applies_to_its_method(method):
    from pairless.models.registry import get_method

    for name, preset in get_method(method).presets.items():
        cfg = RunConfig.defaults(method, preset=name)
        for key, value in preset.overrides.items():
            section, field = key.split(".")
            assert getattr(getattr(cfg, section), field) == value, key


def test_an_unknown_preset_names_the_available_ones():
    with pytest.raises(PairlessError, match="unknown --preset 'paper' for dclgan .*did you mean 'paper-text'"):
        RunConfig.defaults("dclgan", preset="paper")
    with pytest.raises(PairlessError, match="for cut; it has none"):
        RunConfig.defaults("cut", preset="paper-text")


@pytest.mark.parametrize("size, depth", [(32, 5), (64, 6), (128, 7), (256, 8), (512, 8), (96, 5)])
def test_dualgan_unet_reaches_one_pixel_at_the_crop(size, depth):
    assert RunConfig.defaults("dualgan").override({"size": size}).resolved().model.depth == depth
    assert RunConfig.defaults("dualgan").override({"size": size, "depth": 3}).resolved().model.depth == 3


def test_a_run_starts_from_the_method_or_the_config_file_then_the_preset(tmp_path):
    cfg, run_dir = RunConfig.for_run("cut", None, None, None, tmp_path / "run")
    assert cfg == RunConfig.defaults("cut") and run_dir == tmp_path / "run"
    RunConfig.defaults("cut").override({"train.lr": 1e-3}).save(tmp_path / "c.yaml")
    from_file, _ = RunConfig.for_run(None, tmp_path / "c.yaml", None, None, tmp_path / "run")
    assert from_file.method == "cut" and from_file.train.lr == 1e-3
    switched, _ = RunConfig.for_run("fastcut", tmp_path / "c.yaml", None, None, tmp_path / "run")
    assert switched.method == "fastcut" and switched.train.lr == 1e-3
    with_preset, _ = RunConfig.for_run("dclgan", None, "paper-text", None, tmp_path)
    assert with_preset == RunConfig.defaults("dclgan", "paper-text") != RunConfig.defaults("dclgan")


@pytest.mark.parametrize(("args", "message"), [
    ({"model": None}, "--model is required"), ({"out": None}, "--out is required"),
    ({"resume": "run", "config": "c.yaml"}, "drop --config"), ({"resume": "run", "out": None}, "config.yaml not found"),
])
def test_the_run_options_that_cannot_go_together_are_named(tmp_path, args, message):
    given = {"model": "cut", "config": None, "preset": None, "resume": None, "out": tmp_path / "run", **args}
    given = {k: tmp_path / v if isinstance(v, str) and k in ("resume", "config") else v for k, v in given.items()}
    with pytest.raises(PairlessError, match=message):
        RunConfig.for_run(given["model"], given["config"], given["preset"], given["resume"], given["out"])


def test_command_line_options_map_to_fields_through_the_aliases():
    cfg = RunConfig.defaults("cut")
    assert cfg.option_overrides({"data": "d", "channels": 1, "epochs": 5, "lambda-nce": 2}) == {
        "data.root": "d", "data.channels_a": 1, "data.channels_b": 1, "train.epochs": 5, "model.lambda_nce": 2,
        "train.steps": "none"}
    assert cfg.option_overrides({"steps": 3}) == {"train.steps": 3}
    assert cfg.option_overrides({"steps": 3, "epochs": 5})["train.steps"] == 3
    with pytest.raises(PairlessError, match="model options cannot change"):
        cfg.with_run_overrides({"model.width": 8}, resuming=True)
    with pytest.raises(PairlessError, match="--data is required"):
        cfg.with_run_overrides({"train.lr": 1e-3}, resuming=False)


def test_a_config_comes_from_a_file_a_run_folder_or_a_checkpoint(tmp_path, unpaired_dir):
    from pairless.train.loop import train
    from tests.conftest import tiny_config, write_images

    train(tiny_config("cyclegan", unpaired_dir, **{"train.steps": 1, "model.lambda_cycle": 7}), tmp_path / "run",
          quiet=True)
    for source in (tmp_path / "run", tmp_path / "run" / "latest.safetensors", tmp_path / "run" / "config.yaml"):
        cfg = RunConfig.load(source)
        assert cfg.method == "cyclegan" and cfg.model.lambda_cycle == 7, source
    picture = write_images(tmp_path / "pictures", 1)[0]
    with pytest.raises(PairlessError, match=r"img000.png is not valid YAML"):
        RunConfig.load(picture)
    with pytest.raises(PairlessError, match="is a folder without config.yaml"):
        RunConfig.load(tmp_path / "pictures")
    save_file({"x": torch.ones(2)}, tmp_path / "other.safetensors")
    with pytest.raises(PairlessError, match="other.safetensors holds no readable pairless config"):
        RunConfig.load(tmp_path / "other.safetensors")
