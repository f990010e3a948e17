"""`--loss-mmd` / `--loss-feature-matching`: the shared helper, and the options end to end on CUT and CycleGAN."""

import math

import pytest
import torch

from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.losses.feature_matching import mean_feature_l1
from pairless.models.feature_losses import FeatureLossOptions, feature_losses, position_samples
from pairless.nn.patchgan import PatchDiscriminator
from pairless.train.loop import train
from tests.conftest import tiny_config


def test_patch_discriminator_features_lead_to_its_output():
    d = PatchDiscriminator(3, 4, 3)
    x = torch.randn(2, 3, 32, 32)
    features = d.features(x)
    assert [f.shape[1] for f in features] == [4, 8, 16, 32]
    assert torch.allclose(d.layers[-1](features[-1]), d(x))


def test_helper_is_off_by_default_and_declares_the_weights_of_its_raw_terms():
    d = PatchDiscriminator(3, 4, 2)
    real, fake = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    assert feature_losses(FeatureLossOptions(), d, real, fake) == {}
    once = feature_losses(FeatureLossOptions(loss_feature_matching=1.0), d, real, fake)
    options = FeatureLossOptions(loss_feature_matching=3.0, loss_mmd=2.0)
    thrice = feature_losses(options, d, real, fake, "_B")
    assert set(thrice) == {"fm_B", "mmd_B"}
    assert float(thrice["fm_B"].detach()) == pytest.approx(float(once["fm"].detach()))  # raw: the same term
    assert options.feature_weights("_A", "_B") == {"mmd_A": 2.0, "fm_A": 3.0, "mmd_B": 2.0, "fm_B": 3.0}
    with torch.no_grad():
        assert float(once["fm"]) == pytest.approx(float(mean_feature_l1(d.features(real), d.features(fake))))


def test_gradient_reaches_the_generated_images_only():
    d = PatchDiscriminator(3, 4, 2)
    real = torch.randn(2, 3, 32, 32, requires_grad=True)
    fake = (torch.randn(2, 3, 32, 32) + 1).requires_grad_(True)
    losses = feature_losses(FeatureLossOptions(loss_mmd=1.0, loss_feature_matching=1.0), d, real, fake)
    sum(losses.values()).backward()
    assert real.grad is None and fake.grad.abs().sum() > 0


def test_mmd_term_is_larger_for_shifted_images():
    torch.manual_seed(0)
    d = PatchDiscriminator(3, 4, 2)
    options = FeatureLossOptions(loss_mmd=1.0)
    real = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        near = feature_losses(options, d, real, torch.randn(2, 3, 32, 32))["mmd"]
        far = feature_losses(options, d, real, torch.randn(2, 3, 32, 32) * 3 + 2)["mmd"]
    assert far > near


def test_position_samples_are_the_feature_vectors():
    features = torch.arange(2 * 3 * 2 * 2, dtype=torch.float).view(2, 3, 2, 2)
    vectors = position_samples(features, limit=100)
    assert vectors.shape == (8, 3) and torch.equal(vectors[1], features[0, :, 0, 1])
    assert position_samples(features, limit=5).shape == (5, 3)


@pytest.mark.parametrize("method", ["cut", "cyclegan", "dclgan", "dualgan", "discogan", "dtn"])
def test_every_translator_has_the_options_and_rejects_negative_weights(method):
    assert RunConfig.defaults(method).override({"loss-feature-matching": "2"}).model.loss_feature_matching == 2
    with pytest.raises(PairlessError, match="--loss-mmd"):
        RunConfig.defaults(method).override({"loss-mmd": "-1"})


@pytest.mark.parametrize("method, keys", [("cut", {"mmd", "fm"}), ("cyclegan", {"mmd_A", "mmd_B", "fm_A", "fm_B"})])
def test_options_train_end_to_end(tmp_path, unpaired_dir, method, keys):
    tiny = {"cut": {"model.width": 4, "model.n_blocks": 5, "model.num_patches": 16, "model.head_dim": 8},
            "cyclegan": {"model.width": 4, "model.n_blocks": 1, "model.pool_size": 2}}[method]
    cfg = tiny_config(method, unpaired_dir, **tiny, **{"train.steps": 2, "loss-mmd": "1",
                                                        "loss-feature-matching": "1"})
    assert cfg.model.loss_mmd == 1.0 and cfg.model.loss_feature_matching == 1.0
    result = train(cfg, tmp_path / method, quiet=True)
    assert keys <= set(result.losses)
    assert all(math.isfinite(result.losses[k]) and result.losses[k] != 0 for k in keys)
