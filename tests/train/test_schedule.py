import pytest

from pairless.train.optim import lr_multiplier


@pytest.mark.parametrize("n_epochs, n_decay", [(3, 2), (100, 100), (150, 50)])
def test_matches_the_reference_epoch_rule(n_epochs, n_decay):
    """CycleGAN/CUT: 1 - max(0, epoch + 1 - n_epochs) / (n_decay + 1) for epoch 0.. (one step per epoch)."""
    total = n_epochs + n_decay
    for epoch in range(total):
        expected = 1.0 - max(0, epoch + 1 - n_epochs) / (n_decay + 1)
        assert lr_multiplier(epoch, total, n_decay / total) == pytest.approx(expected)


def test_no_decay_keeps_the_rate():
    assert all(lr_multiplier(s, 10, 0.0) == 1.0 for s in range(10))


def test_fp16_scaler_allows_an_optimiser_to_step_twice_per_iteration():
    import torch
    from torch import nn

    from pairless.models.base import OptimizerGroup
    from pairless.train.config import TrainConfig
    from pairless.train.optim import Optimizers

    class Critic(nn.Module):
        def __init__(self):
            super().__init__()
            self.D = nn.Linear(3, 1)

        def optimizer_groups(self):
            return [OptimizerGroup("D", ("D",))]

        def after_optimizer_step(self, group):
            pass

    model = Critic()
    optimizers = Optimizers(model, TrainConfig(), "cpu", "fp16")
    before = model.D.weight.detach().clone()
    for _ in range(2):  # two critic updates in one iteration, as DualGAN does
        optimizers.step(model.D(torch.randn(4, 3)).mean(), "D")
    optimizers.end_iteration()
    assert not torch.equal(model.D.weight, before) and torch.isfinite(model.D.weight).all()


@pytest.mark.parametrize("method, full_frames_after", [("cut", 2), ("cyclegan", None)])
def test_contrastive_presets_stop_cropping_when_the_rate_decays(unpaired_dir, tmp_path, monkeypatch, method,
                                                                full_frames_after):
    """The reference CUT/DCLGAN code resizes to the crop size in its decay epochs; CycleGAN keeps cropping."""
    from pairless.data import unpaired
    from pairless.train.loop import train
    from tests.conftest import tiny_config

    load_sizes = []

    def recording_transform(image, cfg, generator):
        load_sizes.append(cfg.resolved_load_size)
        return original(image, cfg, generator)

    original = unpaired.train_transform
    monkeypatch.setattr(unpaired, "train_transform", recording_transform)
    cfg = tiny_config(method, unpaired_dir, **{"train.decay_fraction": 0.5})
    train(cfg, tmp_path / "run", quiet=True)
    per_step = load_sizes[::2]  # A and B of each step
    expected = [36] * 4 if full_frames_after is None else [36] * full_frames_after + [32] * (4 - full_frames_after)
    assert per_step == expected
