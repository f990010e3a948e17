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
