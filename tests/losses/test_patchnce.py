import math

import pytest
import torch
import torch.nn.functional as F

from pairless.losses.patchnce import SELF_SIMILARITY_FILL, multilayer_patch_nce_loss, patch_nce_loss


def direct_patch_nce(query, key, batch_size, tau, negatives):
    """Loop form of the formula: -log softmax over [q.k+, q.k- for other keys, fill for itself]."""
    n_total = query.shape[0]
    per_image = n_total // batch_size
    losses = []
    for i in range(n_total):
        image = i // per_image
        group = range(image * per_image, (image + 1) * per_image) if negatives == "image" else range(n_total)
        logits = [float(query[i] @ key[i])]
        for j in group:
            logits.append(SELF_SIMILARITY_FILL if j == i else float(query[i] @ key[j]))
        logits = [x / tau for x in logits]
        top = max(logits)
        log_sum = top + math.log(sum(math.exp(x - top) for x in logits))
        losses.append(log_sum - logits[0])
    return sum(losses) / len(losses)


@pytest.mark.parametrize("negatives", ["image", "batch"])
def test_matches_direct_computation(negatives):
    torch.manual_seed(0)
    batch, patches, dim = 2, 5, 8
    query = F.normalize(torch.randn(batch * patches, dim), dim=1)
    key = F.normalize(torch.randn(batch * patches, dim), dim=1)
    expected = direct_patch_nce(query, key, batch, 0.07, negatives)
    assert patch_nce_loss(query, key, batch, 0.07, negatives).item() == pytest.approx(expected, rel=1e-5)


def test_matching_patches_give_lower_loss_than_shuffled_ones():
    torch.manual_seed(1)
    key = F.normalize(torch.randn(16, 32), dim=1)
    aligned = patch_nce_loss(key.clone(), key, 1)
    shuffled = patch_nce_loss(key[torch.randperm(16)], key, 1)
    assert aligned < shuffled


def test_keys_get_no_gradient_and_queries_do():
    query = F.normalize(torch.randn(6, 4), dim=1).requires_grad_()
    key = F.normalize(torch.randn(6, 4), dim=1).requires_grad_()
    patch_nce_loss(query, key, 2).backward()
    assert key.grad is None
    assert query.grad is not None and query.grad.abs().sum() > 0


def test_multilayer_is_the_mean_over_layers():
    torch.manual_seed(2)
    qs = [F.normalize(torch.randn(8, 4), dim=1) for _ in range(3)]
    ks = [F.normalize(torch.randn(8, 4), dim=1) for _ in range(3)]
    expected = sum(patch_nce_loss(q, k, 2) for q, k in zip(qs, ks, strict=True)) / 3
    assert multilayer_patch_nce_loss(qs, ks, 2).item() == pytest.approx(expected.item(), rel=1e-6)
