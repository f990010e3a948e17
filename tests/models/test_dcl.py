"""DCLGAN/SimDCL specifics: the two heads are really separate, and the similarity term reaches its nets."""

import pytest
import torch

from pairless.checkpoint import build_model
from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.models.contrastive import sampled_patch_nce
from pairless.nn.patch_sampler import per_layer
from pairless.nn.similarity import SimilarityProjector, stack_patch_samples
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
    model.similarity(ab.keys, ba.queries, ba.keys, ab.queries, batch_size=1).backward()
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


@pytest.mark.parametrize("option", ["num_patches", "head_dim"])
def test_simdcl_refuses_fewer_than_three_patches_or_feature_dims_by_name(option):
    with pytest.raises(PairlessError, match=f"--{option.replace('_', '-')} 2 is too small for SimDCL.*at least 3"):
        RunConfig.defaults("simdcl").override({**TINY_MODEL["simdcl"], option: 2})
    RunConfig.defaults("dclgan").override({**TINY_MODEL["dclgan"], option: 2})  # no similarity heads


class RecordingUpdater:
    """Takes the losses a step hands to the optimisers without stepping anything."""

    def __init__(self):
        self.steps = []

    def step(self, loss, *groups):
        self.steps.append((groups, loss.detach()))


def one_step(method, size=32, **overrides):
    torch.manual_seed(0)
    cfg = RunConfig.defaults(method).override({"size": size, **TINY_MODEL[method], **overrides})
    model, updater = build_model(cfg), RecordingUpdater()
    images = {"A": torch.rand(1, 3, size, size) * 2 - 1, "B": torch.rand(1, 3, size, size) * 2 - 1}
    return model, model.train_step(images, updater), updater


def test_simdcl_weighs_its_objective_as_the_reference_code():
    """½(GAN) + ½(NCE_AB + NCE_BA) (λ_NCE not applied) + ½·idt + 10·sim."""
    model, losses, _ = one_step("simdcl")
    c = model.config
    assert (c.lambda_nce, c.lambda_sim, c.lambda_idt) == (1.0, 10.0, 1.0)
    expected = (0.5 * (losses["G_gan"] + losses["nce_AB"] + losses["nce_BA"] + losses["idt"])
                + 10 * losses["sim"])
    assert torch.allclose(losses["total_G"], expected)


@pytest.mark.parametrize("resample", [True, False])
def test_simdcl_embeds_generated_images_from_patches_drawn_anew_as_the_reference(resample):
    """The reference projects fake B with F_B and fake A with F_A once more, at fresh positions, for the
    similarity loss; --no-sim-resample reuses the PatchNCE queries. The sim term is the formula on those."""
    torch.manual_seed(0)
    cfg = RunConfig.defaults("simdcl").override({"size": 32, **TINY_MODEL["simdcl"], "sim_resample": resample})
    model = build_model(cfg)
    projected: dict = {"F_A": [], "F_B": []}
    used: dict = {}
    for head in ("F_A", "F_B"):
        project = getattr(model, head).project

        def recording(*args, project=project, head=head, **kwargs):
            projected[head].append(project(*args, **kwargs))
            return projected[head][-1]

        getattr(model, head).project = recording
    for net in ("H_real_A", "H_fake_A", "H_real_B", "H_fake_B"):
        getattr(model, net).register_forward_hook(lambda module, args, out, net=net: used.update({net: args[0]}))
    images = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
    losses = model.train_step(images, RecordingUpdater())
    assert [len(projected[h]) for h in ("F_A", "F_B")] == ([3, 3] if resample else [2, 2])  # queries, keys(, fresh)
    if resample:
        assert torch.equal(used["H_fake_B"], stack_patch_samples(per_layer(projected["F_B"][-1][0]), 1))
        assert torch.equal(used["H_fake_A"], stack_patch_samples(per_layer(projected["F_A"][-1][0]), 1))
    expected = ((model.H_real_A(used["H_real_A"]) - model.H_fake_A(used["H_fake_A"])).abs().mean()
                + (model.H_real_B(used["H_real_B"]) - model.H_fake_B(used["H_fake_B"])).abs().mean())
    assert torch.allclose(losses["sim"], expected)


def test_dclgan_and_simdcl_default_to_the_reference_code_and_keep_the_paper_text_as_a_preset():
    for method in ("dclgan", "simdcl"):
        cfg = RunConfig.defaults(method)
        assert (cfg.model.pool_size, cfg.train.lr, cfg.train.epochs) == (0, 2e-4, 400)
        assert cfg.data.full_frame_decay
    dcl_paper = RunConfig.defaults("dclgan", preset="paper-text")
    assert (dcl_paper.model.pool_size, dcl_paper.train.lr) == (50, 1e-4)
    sim_paper = RunConfig.defaults("simdcl", preset="paper-text")
    assert (sim_paper.model.pool_size, sim_paper.model.lambda_nce, sim_paper.model.lambda_sim,
            sim_paper.train.epochs) == (50, 2.0, 5.0, 200)


def test_without_a_pool_the_discriminator_sees_the_current_fakes_detached():
    model, _, updater = one_step("dclgan", pool_size=0)
    assert model.pool_A.size == 0 and model.pool_A.images == []
    assert [groups for groups, _ in updater.steps] == [("D",), ("G", "F")]
    fake = torch.rand(2, 3, 4, 4, requires_grad=True) * 1
    assert not model.pool_A.query(fake).requires_grad


def test_simdcl_at_32_px_samples_what_every_layer_has_and_warns_once():
    """At 32 px the deepest NCE layers are 8x8: 64 positions each, fewer than the default 256."""
    with pytest.warns(UserWarning, match="64 per layer") as caught:
        model, losses, _ = one_step("simdcl", num_patches=256)
        images = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "B": torch.rand(1, 3, 32, 32) * 2 - 1}
        model.train_step(images, RecordingUpdater())
    assert len([w for w in caught if "per layer" in str(w.message)]) == 1
    assert torch.isfinite(losses["sim"])
    feats = model.G_AB(torch.rand(1, 3, 32, 32), model.config.nce_layers, encode_only=True)
    assert model.patch_count(feats) == 64
