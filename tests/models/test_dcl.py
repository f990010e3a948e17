"""DCLGAN/SimDCL specifics: the two heads are really separate, and the similarity term reaches its nets."""

import pytest
import torch

from pairless.config import RunConfig
from pairless.models.contrastive import sampled_patch_nce
from pairless.nn.similarity import SimilarityProjector, stack_patch_samples
from pairless.train.checkpoint import build_model
from tests.conftest import TINY_MODEL


def tiny(method):
    torch.manual_seed(0)
    cfg = RunConfig.defaults(method).override({"size": 32, **TINY_MODEL[method]})
    return build_model(cfg)


def nce_terms(model, real_a, real_b, keys_need_grad=False):
    c = model.config
    fake_b, feats_a = model.G_AB(real_a, c.nce_layers)
    fake_a, feats_b = model.G_BA(real_b, c.nce_layers)
    ab = sampled_patch_nce(model.G_BA(fake_b, c.nce_layers, encode_only=True), feats_a, model.F_B, model.F_A, c,
                           keys_need_grad)
    ba = sampled_patch_nce(model.G_AB(fake_a, c.nce_layers, encode_only=True), feats_b, model.F_A, model.F_B, c,
                           keys_need_grad)
    return ab, ba


def head_gradient(head):
    return sum(float(p.grad.abs().sum()) for p in head.parameters() if p.grad is not None)


@pytest.mark.parametrize("term, silent_head, learning_head", [("ba", "F_B", "F_A"), ("ab", "F_A", "F_B")])
def test_each_nce_direction_trains_only_its_own_domain_head(term, silent_head, learning_head):
    """B->A embeds fake A with F_A (queries) and real B with F_B (keys, detached): F_B must get nothing
    from it, and symmetrically for A->B. One shared head would get gradient from both."""
    model = tiny("dclgan")
    ab, ba = nce_terms(model, torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1)
    (ba if term == "ba" else ab).loss.backward()
    assert head_gradient(getattr(model, silent_head)) == 0
    assert head_gradient(getattr(model, learning_head)) > 0
    assert model.F_A is not model.F_B and not torch.equal(model.F_A.mlps[0][0].weight, model.F_B.mlps[0][0].weight)


def test_simdcl_similarity_reaches_all_projectors_heads_and_encoders():
    model = tiny("simdcl")
    ab, ba = nce_terms(model, torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1,
                       keys_need_grad=True)
    model.similarity(ab, ba, batch_size=1).backward()
    for name in ("H_real_A", "H_fake_A", "H_real_B", "H_fake_B", "F_A", "F_B"):
        assert head_gradient(getattr(model, name)) > 0, name
    assert model.G_AB.layers[1].weight.grad is not None and model.G_AB.layers[1].weight.grad.abs().sum() > 0


def test_dclgan_has_no_similarity_nets_and_heads_have_their_own_optimiser():
    dcl, sim = tiny("dclgan"), tiny("simdcl")
    assert not hasattr(dcl, "H_real_A")
    groups = {g.name: g for g in dcl.optimizer_groups()}
    assert groups["F"].lr == 1e-3 and groups["F"].betas == (0.9, 0.999)
    assert {g.name: g.lr for g in sim.optimizer_groups()}["F"] is None
    assert set({g.name: g for g in sim.optimizer_groups()}["F"].networks) == {
        "F_A", "F_B", "H_real_A", "H_fake_A", "H_real_B", "H_fake_B"}


def test_projector_maps_a_stack_of_patch_sets_to_unit_vectors():
    samples = [torch.randn(2 * 5, 12) for _ in range(4)]
    stacked = stack_patch_samples(samples, batch_size=2)
    assert stacked.shape == (2, 4, 5, 12)
    assert torch.equal(stacked[1, 2], samples[2][5:])
    out = SimilarityProjector(4, dim=8)(stacked)
    assert out.shape == (2, 8) and torch.allclose(out.norm(dim=1), torch.ones(2))


def test_simdcl_needs_equal_patch_counts_per_layer():
    model = build_model(RunConfig.defaults("simdcl").override(
        {"size": 32, **TINY_MODEL["simdcl"], "num_patches": 200}))
    ab, ba = nce_terms(model, torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), keys_need_grad=True)
    with pytest.raises(Exception, match="--num-patches"):
        model.similarity(ab, ba, batch_size=1)
