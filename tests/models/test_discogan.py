"""DiscoGAN: end to end, the GAN/reconstruction curriculum, and the discriminator's feature outputs."""

import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from tests.conftest import train_resume_and_check

TINY = {"model.width": 4}


def test_discogan_end_to_end(tmp_path, unpaired_dir):
    result, model = train_resume_and_check("discogan", unpaired_dir, tmp_path, TINY)
    assert {"G_gan_AB", "fm_disco_AB", "rec_A", "rec_B", "D_A", "D_B"} <= set(result.losses)
    assert int(model.iteration) == 4


def test_reconstruction_rate_switches_after_the_curriculum():
    model = build_model(RunConfig.defaults("discogan").override({"size": 64, "gan_curriculum": 3}))
    rates = []
    for _ in range(5):
        rates.append(model.reconstruction_rate())
        model.set_host_scalar("iteration", model.host_scalar("iteration") + 1)
    assert rates == [0.01, 0.01, 0.01, 0.5, 0.5]


def test_discriminator_gives_one_logit_at_64_px_and_its_features():
    model = build_model(RunConfig.defaults("discogan").override({"size": 64, "width": 4}))
    x = torch.rand(2, 3, 64, 64)
    logits, features = model.D_A.forward_with_features(x)
    assert logits.shape == (2, 1, 1, 1)
    assert [f.shape[1:] for f in features] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
    assert model.D_A(torch.rand(1, 3, 32, 32)).shape == (1, 1, 1, 1)  # padded up to the head kernel


def test_the_iteration_counter_follows_loaded_weights():
    cfg = RunConfig.defaults("discogan").override({"size": 64, "width": 4})
    trained, fresh = build_model(cfg), build_model(cfg)
    trained.set_host_scalar("iteration", 7)
    assert int(trained.iteration) == 7 and fresh.host_scalar("iteration") == 0
    fresh.load_state_dict(trained.state_dict())
    assert fresh.host_scalar("iteration") == 7
