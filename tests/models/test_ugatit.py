"""U-GAT-IT and U-GAT-IT light through the real trainer and CLI on tiny images: finite losses, every weight
learns, checkpoints round-trip, resume is exact, translate writes attention maps; ρ stays in [0, 1]."""

import math

import pytest
import torch
from PIL import Image

from pairless.checkpoint import build_model, load_model, read_weights, save_checkpoint
from pairless.cli import main
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.models.ugatit import source_domain_loss
from pairless.nn.adalin import ILN, AdaLIN
from pairless.nn.ugatit import min_discriminator_input
from pairless.train.loop import train
from pairless.train.optim import Optimizers
from pairless.train_config import TrainConfig
from tests.conftest import tiny_config, write_images

VARIANTS = ("ugatit-light", "ugatit")
# 32 px crops: the full model's γ/β MLP flattens the whole 8x8 map; the discriminators shrink to fit.
TINY = {"model.width": 4, "model.n_blocks": 2, "model.d_layers_local": 4}


def tiny(method, root, **overrides):
    return tiny_config(method, root, **{**TINY, **overrides})


@pytest.fixture(scope="module", params=VARIANTS)
def trained(request, tmp_path_factory):
    """Train 4 steps straight, and 1 step + resume to 4 in another run folder."""
    method = request.param
    root = tmp_path_factory.mktemp(method)
    for i, name in enumerate(["trainA", "trainB", "testA", "testB"]):
        write_images(root / "data" / name, 4, seed=i)
    cfg = tiny(method, root / "data", **{"train.steps": 4, "train.save_every": 100})
    straight = train(cfg, root / "straight", quiet=True)
    train(cfg, root / "resumed", quiet=True, stop_at=1)
    after_one, _, _ = read_weights(root / "resumed")
    resumed = train(cfg, root / "resumed", resume=True, quiet=True)
    return method, root, after_one, straight, resumed


def test_losses_are_finite(trained):
    _, _, _, straight, resumed = trained
    assert straight.step == resumed.step == 4
    assert {"D_A", "D_B", "G_gan_AB", "G_gan_BA", "cycle", "idt", "cam", "total_G"} <= set(resumed.losses)
    assert all(math.isfinite(v) for v in resumed.losses.values())


def test_resume_is_exact(trained):
    _, root, _, _, _ = trained
    straight, _, _ = read_weights(root / "straight")
    resumed, _, _ = read_weights(root / "resumed")
    assert straight.keys() == resumed.keys()
    for name in straight:  # includes the spectral norms' power-iteration vectors
        assert torch.equal(straight[name], resumed[name]), name


def test_every_trainable_weight_changes(trained):
    """A mixing ratio that the gradient pushes past 0 or 1 is clipped back to where it started."""
    _, root, after_one, _, _ = trained
    model, _, _ = load_model(root / "resumed")
    final = model.state_dict()
    unchanged = {name for name, p in model.named_parameters() if torch.equal(final[name], after_one[name])}
    at_bounds = {f"{name}.rho" for name, m in model.named_modules() if isinstance(m, (AdaLIN, ILN))
                 and bool(((m.rho == 0) | (m.rho == 1)).all())}
    assert not unchanged - at_bounds
    assert len(unchanged) < len(at_bounds) + 1 and len(list(model.parameters())) > 50


def test_light_and_full_differ_only_in_the_gamma_beta_mlp(trained):
    method, root, _, _, _ = trained
    model, _, _ = load_model(root / "resumed")
    first = model.G_AB.gamma_beta.mlp[0]
    assert first.in_features == (4 * 4 if method == "ugatit-light" else 8 * 8 * 4 * 4)


def test_checkpoint_round_trip_gives_identical_translations_and_attention(trained, tmp_path):
    _, root, _, _, _ = trained
    model, cfg, step = load_model(root / "resumed")
    save_checkpoint(tmp_path, model, cfg, step, {}, keep_last=0)
    again, cfg2, _ = load_model(tmp_path)
    assert cfg2 == cfg
    x = torch.rand(2, 3, 36, 28) * 2 - 1
    with torch.no_grad():
        for direction in ("AtoB", "BtoA"):
            first, second = model.translate_with_attention(x, direction), again.translate_with_attention(x, direction)
            assert torch.equal(first.output, second.output) and torch.equal(first.heatmap, second.heatmap)
            assert first.output.shape == x.shape and first.heatmap.shape == (2, 1, 9, 7)


def test_cli_translates_both_ways_and_writes_attention_maps(trained, tmp_path):
    _, root, _, _, _ = trained
    inputs = root / "data" / "testA"
    sizes = {path.name: Image.open(path).size for path in inputs.iterdir()}
    for direction in ("AtoB", "BtoA"):
        out = tmp_path / direction
        with pytest.raises(SystemExit) as exit_info:
            main(["translate", str(root / "resumed"), str(inputs), "--out", str(out), "--direction", direction,
                  "--attention", "--device", "cpu"])
        assert exit_info.value.code == 0
        for name, size in sizes.items():
            translated, overlay = Image.open(out / name), Image.open(out / "attention" / name)
            assert translated.size == overlay.size == size and overlay.mode == "RGB"
        assert sorted(p.name for p in (out / "attention").iterdir()) == sorted(sizes)


def test_cli_attention_maps_follow_the_tiling_options(trained, tmp_path):
    from pairless.attention import attention_maps, overlay
    from pairless.data.images import read_image
    from pairless.translator import Translator

    _, root, _, _, _ = trained
    image_path = write_images(tmp_path / "big", 1, size=(72, 56), seed=7)[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", str(root / "resumed"), str(image_path), "--out", str(tmp_path / "out"), "--attention",
              "--tile", "32", "--overlap", "8", "--device", "cpu"])
    assert exit_info.value.code == 0
    written = read_image(tmp_path / "out" / "attention" / image_path.name, 3)
    translator, image = Translator.load(root / "resumed", "cpu"), read_image(image_path, 3)
    for tile, matches in ((32, True), (None, False)):
        expected = overlay(image, attention_maps(translator, image[None], tile=tile, overlap=8)[0])
        difference = (written - expected).abs().max()
        assert (difference <= 1 / 255 + 1e-6) == matches, (tile, difference)


def test_attention_option_refuses_models_without_attention(tmp_path, capsys):
    cfg = RunConfig.defaults("cyclegan").override({"size": 32, "width": 4, "n_blocks": 1})
    save_checkpoint(tmp_path / "run", build_model(cfg), cfg, 0, {}, keep_last=0)
    write_images(tmp_path / "images", 1)
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", str(tmp_path / "run"), str(tmp_path / "images"), "--out", str(tmp_path / "out"),
              "--attention", "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "--attention" in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("method", VARIANTS)
@pytest.mark.parametrize("clip", [True, False])
def test_mixing_ratios_stay_in_unit_interval_with_a_huge_learning_rate(method, clip, unpaired_dir):
    """Adam steps of about 1 per parameter take ρ (0.9 and 0) out of [0, 1] unless the hook clips it."""
    torch.manual_seed(0)
    model = build_model(tiny(method, unpaired_dir))
    if not clip:
        model.after_optimizer_step = lambda group: None
    optimizers = Optimizers(model, TrainConfig(lr=1.0), "cpu", "fp32")
    batch = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
    for _ in range(2):
        model.train_step(batch, optimizers)
    rhos = torch.cat([m.rho.detach().flatten() for m in model.modules() if isinstance(m, (AdaLIN, ILN))])
    inside = bool(rhos.min() >= 0 and rhos.max() <= 1)
    assert inside == clip
    if clip:
        assert ((rhos == 0) | (rhos == 1)).sum() > 0


def test_cam_loss_targets_source_one_and_identity_pass_zero():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0], [-2.0, 1.0]])
    # the paper's sum of the two terms: BCE(source rows, 1) + BCE(identity rows, 0), each a mean
    source = -torch.log(torch.sigmoid(logits[:1])).mean()
    identity = -torch.log(1 - torch.sigmoid(logits[1:])).mean()
    expected = source + identity
    assert torch.allclose(source_domain_loss(logits, 1), expected)


def test_crops_too_small_for_the_discriminators_name_the_option(unpaired_dir):
    model = build_model(tiny("ugatit-light", unpaired_dir, **{"model.d_layers_global": 7}))
    with pytest.raises(PairlessError, match="--d-layers-global 7 needs training crops of at least 96 px"):
        model.train_step({"A": torch.rand(1, 3, 32, 32), "B": torch.rand(1, 3, 32, 32)}, None)


@pytest.mark.parametrize("size, grid, global_layers", [(32, 8, 5), (64, 16, 6), (96, 24, 7), (256, 64, 7)])
def test_map_grid_and_global_discriminator_follow_the_crop_size_unless_given(size, grid, global_layers):
    cfg = RunConfig.defaults("ugatit").override({"size": size})
    assert (cfg.model.mlp_grid, cfg.model.d_layers_global) == (None, None)
    m = cfg.resolved().model
    assert (m.mlp_grid, m.d_layers_global, m.d_layers_local) == (grid, global_layers, 5)
    assert min_discriminator_input(m.d_layers_global) <= size
    given = cfg.override({"mlp_grid": 3, "d_layers_global": 4}).resolved().model
    assert (given.mlp_grid, given.d_layers_global) == (3, 4)


def test_presets_follow_the_paper():
    for method in VARIANTS:
        cfg = RunConfig.defaults(method).resolved()
        t, m = cfg.train, cfg.model
        assert (t.lr, t.beta1, t.beta2, t.weight_decay, t.decay_fraction) == (1e-4, 0.5, 0.999, 1e-4, 0.5)
        assert (m.lambda_gan, m.lambda_cycle, m.lambda_idt, m.lambda_cam) == (1, 10, 10, 1000)
        assert (m.n_blocks, m.d_layers_global, m.d_layers_local) == (4, 7, 5)
        assert (cfg.data.size, cfg.model.mlp_grid) == (256, 64)
    assert RunConfig.defaults("ugatit-light").model.light and not RunConfig.defaults("ugatit").model.light
    with pytest.raises(PairlessError, match="--channels"):
        build_model(RunConfig.defaults("ugatit-light").override({"width": 2, "channels_a": 1}))


def test_attention_maps_never_overwrite_translations(trained, tmp_path, capsys):
    """An input folder with an attention/ subfolder: its translations would go where the maps go."""
    _, root, _, _, _ = trained
    inputs = tmp_path / "photos"
    write_images(inputs, 1)
    write_images(inputs / "attention", 1)
    with pytest.raises(SystemExit) as exit_info:
        main(["translate", str(root / "resumed"), str(inputs), "--out", str(tmp_path / "out"), "--attention",
              "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "--attention would write the attention map of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
