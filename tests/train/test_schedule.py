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
