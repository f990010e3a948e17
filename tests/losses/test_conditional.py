"""The 2C loss of ContraGAN against a sample-by-sample computation of its formula."""

import math

import pytest
import torch
import torch.nn.functional as F

from pairless.losses.conditional import conditional_contrastive_loss


def direct_2c(embeddings, proxies, labels, t, rows=None):
    """The formula over the whole batch; with `rows`, averaged over those anchors only (the l_k still range
    over the whole batch)."""
    anchors = [F.normalize(v, dim=0) for v in embeddings.double()]
    e = [F.normalize(v, dim=0) for v in proxies.double()]
    rows = range(len(anchors)) if rows is None else rows
    total = 0.0
    for i in rows:
        to_proxy = math.exp(float(anchors[i] @ e[i]) / t)
        others = [k for k in range(len(anchors)) if k != i]
        positives = sum(math.exp(float(anchors[i] @ anchors[k]) / t) for k in others if labels[k] == labels[i])
        everyone = sum(math.exp(float(anchors[i] @ anchors[k]) / t) for k in others)
        total += -math.log((to_proxy + positives) / (to_proxy + everyone))
    return total / len(rows)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.1])
def test_2c_matches_the_formula_with_several_samples_per_class(temperature):
    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 0, 2, 1, 0, 3])  # class 0 three times, class 1 twice, classes 2 and 3 alone
    embeddings, proxies = torch.randn(7, 5) * 3, torch.randn(7, 5)
    got = conditional_contrastive_loss(embeddings, proxies, labels, temperature)
    assert float(got) == pytest.approx(direct_2c(embeddings, proxies, labels, temperature), rel=1e-5)


def test_2c_is_lower_when_same_class_embeddings_agree_with_their_proxy():
    labels = torch.tensor([0, 0, 1, 1])
    proxies = torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0], [0, 1.0]])
    aligned = proxies.clone()
    crossed = proxies.flip(0)
    assert conditional_contrastive_loss(aligned, proxies, labels) < conditional_contrastive_loss(crossed, proxies,
                                                                                                  labels)


def test_2c_ignores_embedding_scale_and_reaches_both_inputs():
    torch.manual_seed(1)
    labels = torch.tensor([0, 1, 1])
    embeddings = torch.randn(3, 4, requires_grad=True)
    proxies = torch.randn(3, 4, requires_grad=True)
    loss = conditional_contrastive_loss(embeddings, proxies, labels)
    assert torch.allclose(loss, conditional_contrastive_loss(embeddings * 7, proxies * 0.1, labels))
    loss.backward()
    assert embeddings.grad.abs().sum() > 0 and proxies.grad.abs().sum() > 0


def test_2c_of_one_shard_against_the_whole_batch_matches_the_formula():
    """Multi-process training: each process's anchors meet every process's embeddings, so the shards'
    mean loss is the loss of the whole batch."""
    torch.manual_seed(2)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    embeddings, proxies = torch.randn(6, 5), torch.randn(6, 5)
    shards = []
    for offset in (0, 3):
        part = slice(offset, offset + 3)
        shard = conditional_contrastive_loss(embeddings[part], proxies[part], labels[part], 0.5,
                                             (embeddings, labels, offset))
        assert float(shard) == pytest.approx(direct_2c(embeddings, proxies, labels, 0.5, range(offset, offset + 3)),
                                             rel=1e-5)
        shards.append(shard)
    whole = conditional_contrastive_loss(embeddings, proxies, labels, 0.5)
    assert float(sum(shards) / 2) == pytest.approx(float(whole), rel=1e-5)
