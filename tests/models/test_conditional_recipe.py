"""The class-conditional GANs train as StudioGAN's configurations do: D steps per G step on fresh real
batches, the backbone's default count, the cifar10-paper preset, EMA with averaged batch-norm statistics,
conditional batch norm initialised as the reference."""

import pytest
import torch
from torch import nn

from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.models.conditional import ConditionalGANConfig, ContraGAN
from pairless.nn.conditional import ConditionalBatchNorm2d
from pairless.nn.gan_layers import SelfAttention
from pairless.train.checkpoint import build_model
from pairless.train.loop import StepBatchSampler, samples_per_step, total_steps


class RecordingUpdater:
    def __init__(self):
        self.groups = []

    def step(self, loss, *groups):
        self.groups.append(groups)


def tiny_model(d_steps=None, **overrides):
    cfg = ConditionalGANConfig(backbone="dcgan", width=4, embed_dim=8, num_classes=3, image_size=32,
                               d_steps=d_steps, **overrides)
    return ContraGAN(cfg)


def test_each_discriminator_step_gets_its_own_real_batch_and_fresh_noise():
    torch.manual_seed(0)
    model = tiny_model(d_steps=3)
    seen, drawn = [], []
    step, sample = model.discriminator_step, model.sample_inputs
    model.discriminator_step = lambda real, labels, updater: seen.append(real) or step(real, labels, updater)
    model.sample_inputs = lambda count, device: drawn.append(sample(count, device)) or drawn[-1]
    batch = {"image": torch.randn(3 * 4, 3, 32, 32), "label": torch.randint(3, (12,))}
    updater = RecordingUpdater()
    losses = model.train_step(batch, updater)
    assert updater.groups == [("D",), ("D",), ("D",), ("G",)]
    assert [torch.equal(real, batch["image"][4 * i:4 * i + 4]) for i, real in enumerate(seen)] == [True] * 3
    assert len(drawn) == 4 and all(len(z) == 4 for z, _ in drawn)
    assert len({tuple(z[0].tolist()) for z, _ in drawn}) == 4
    assert set(losses) == {"D_adv", "G_adv", "D_cond", "G_cond"}


@pytest.mark.parametrize("backbone, expected", [("dcgan", 2), ("resnet", 5), ("biggan", 5)])
def test_d_steps_default_to_the_papers_count_per_backbone(backbone, expected):
    cfg = RunConfig.defaults("contragan").override({"backbone": backbone}).resolved()
    assert cfg.model.d_steps == expected and cfg.model.batches_per_step == expected
    assert RunConfig.defaults("acgan").override({"backbone": backbone, "d_steps": 1}).resolved().model.d_steps == 1


def test_the_sampler_hands_a_step_one_batch_per_discriminator_step():
    cfg = RunConfig.defaults("projgan").override({"backbone": "dcgan", "d_steps": 3, "batch_size": 4})
    assert samples_per_step(cfg) == 12
    assert list(StepBatchSampler(2, 4, samples_per_step(cfg))) == [list(range(24, 36)), list(range(36, 48))]
    # --epochs counts passes over the images: 120 images, 12 per step -> 10 steps (= G steps) per epoch
    assert total_steps(cfg.override({"steps": None, "epochs": 2}), epoch_length=120) == 20


def test_cifar10_paper_preset_is_the_papers_setting():
    cfg = RunConfig.defaults("contragan", preset="cifar10-paper")
    m, t, d = cfg.model, cfg.train, cfg.data
    assert (m.backbone, m.width, m.z_dim, m.shared_dim, m.g_spectral_norm, m.d_steps) == ("biggan", 96, 80, 128,
                                                                                          True, 5)
    assert (m.ema, m.ema_decay, m.ema_start, m.embed_dim, m.holdout) == (True, 0.9999, 1000, 512, 0.0)
    assert (t.batch_size, t.steps, t.lr, t.beta1, t.beta2, t.decay_fraction) == (64, 80_000, 2e-4, 0.5, 0.999, 0.0)
    assert (d.size, d.flip) == (32, True)
    for method in ("acgan", "projgan"):
        assert RunConfig.defaults(method, preset="cifar10-paper").model == m


def test_cifar10_paper_networks_have_spectral_norm_and_attention_where_the_paper_has_them():
    cfg = RunConfig.defaults("contragan", preset="cifar10-paper").override(
        {"width": 8, "num_classes": 10, "image_size": 32})
    model = build_model(cfg)
    g_blocks = list(model.G.blocks)
    assert model.G.attention_after == 2 and isinstance(model.G.attention, SelfAttention)
    assert isinstance(model.D.body.layers[1], SelfAttention)  # after the first residual block
    assert hasattr(g_blocks[0].conv1, "parametrizations") and hasattr(model.G.linear, "parametrizations")
    assert hasattr(model.D.body.layers[1].query, "parametrizations")
    assert hasattr(model, "G_ema")
    images = model.G(torch.randn(2, 80), torch.tensor([1, 7]))
    assert images.shape == (2, 3, 32, 32)


def test_biggan_needs_z_in_equal_parts():
    with pytest.raises(PairlessError, match="--z-dim 128: the biggan generator at 64 px splits z into 5"):
        ConditionalGANConfig(backbone="biggan", image_size=64)


def test_ema_averages_the_batch_norm_statistics_too():
    model = tiny_model(ema=True, ema_start=1, ema_decay=0.25)
    norm, average = model.G.blocks[0].norm.norm, model.G_ema.blocks[0].norm.norm
    model.after_optimizer_step("G")  # before ema_start: a copy
    with torch.no_grad():
        norm.running_mean.add_(4.0)
        norm.running_var.mul_(3.0)
    model.after_optimizer_step("G")
    assert torch.allclose(average.running_mean, 0.75 * norm.running_mean)  # 0.25 * 0 + 0.75 * 4
    assert torch.allclose(average.running_var, 0.25 + 0.75 * 3.0 * torch.ones_like(norm.running_var))
    assert int(average.num_batches_tracked) == int(norm.num_batches_tracked)


def test_conditional_batch_norm_starts_as_the_reference_one_plus_orthogonal_rows():
    torch.manual_seed(0)
    norm = ConditionalBatchNorm2d(16, num_classes=5)
    for weights in (norm.gain.weight - 1, norm.bias.weight):
        assert torch.allclose(weights @ weights.T, torch.eye(5), atol=1e-5)
    assert norm.norm.eps == 1e-4 and not norm.norm.affine
    x = torch.randn(4, 16, 3, 3)
    labels = torch.tensor([0, 1, 2, 3])
    expected = nn.functional.batch_norm(x, None, None, training=True, eps=1e-4)
    expected = expected * norm.gain.weight[labels][:, :, None, None] + norm.bias.weight[labels][:, :, None, None]
    assert torch.allclose(norm(x, labels), expected, atol=1e-5)
