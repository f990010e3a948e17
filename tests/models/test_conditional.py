"""ACGAN, ProjGAN and ContraGAN: heads, backbones, and each through the shared trainer end to end
(finite losses, all weights learn, diagnostics logged, checkpoints round-trip, resume is exact)."""

import json
import math

import pytest
import torch

from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.models.conditional import ConditionalGANConfig
from pairless.nn.conditional import ConditionalDiscriminator, ConditionalGenerator
from pairless.train.checkpoint import load_model, read_weights, save_checkpoint
from pairless.train.loop import train
from tests.conftest import write_images

HEADS = ("acgan", "projgan", "contragan")
TINY = {"model.backbone": "dcgan", "model.width": 4, "model.embed_dim": 8, "model.holdout": 0.25,
        "train.batch_size": 4, "train.steps": 3, "train.log_every": 1, "train.sample_every": 3,
        "train.save_every": 100, "data.workers": 0, "train.device": "cpu"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_conditional(method, root, **overrides):
    return RunConfig.defaults(method).override({"data.root": str(root), **TINY, **overrides})


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("classes")
    for i in range(3):
        write_images(root / f"c{i}", 4, size=(20, 24), seed=i)
    return root


@pytest.fixture(scope="module", params=HEADS)
def runs(request, class_dir, tmp_path_factory):
    """The same 3 steps uninterrupted and as 1 step + resume to 3 (ContraGAN also keeps an EMA of G)."""
    method = request.param
    extra = {"model.ema": True, "model.ema_start": 1, "model.ema_decay": 0.5} if method == "contragan" else {}
    cfg = tiny_conditional(method, class_dir, **extra)
    base = tmp_path_factory.mktemp(method)
    straight = train(cfg, base / "straight", quiet=True)
    train(cfg, base / "resumed", quiet=True, stop_at=1)
    after_one, _, _ = read_weights(base / "resumed")
    resumed = train(cfg, base / "resumed", resume=True, quiet=True)
    return method, base, straight, resumed, after_one


def test_losses_are_finite_and_diagnostics_logged(runs):
    method, base, straight, _, _ = runs
    assert straight.step == 3 and all(math.isfinite(v) for v in straight.losses.values())
    assert ("D_cond" in straight.losses) == (method != "projgan")
    logged = [json.loads(line) for line in (base / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == [1, 2, 3]
    for key in ("diag/D_real_acc_train", "diag/D_real_acc_heldout", "diag/D_real_acc_gap", "diag/D_fake_acc",
                "diag/sigma/D.head.adversarial"):
        assert key in logged[-1]
    assert (base / "straight" / "samples" / "step_00000003.png").is_file()


def test_resume_continues_exactly(runs):
    _, base, _, resumed, _ = runs
    assert resumed.step == 3
    straight, _, _ = read_weights(base / "straight")
    again, _, _ = read_weights(base / "resumed")
    assert straight.keys() == again.keys()
    assert all(torch.equal(straight[k], again[k]) for k in straight)


def test_every_trainable_weight_changes(runs):
    _, base, _, _, after_one = runs
    model, _, _ = load_model(base / "resumed")
    final = model.state_dict()
    unchanged = {name for name, p in model.named_parameters()
                 if p.requires_grad and torch.equal(final[name], after_one[name])}
    # Under the hinge loss the adversarial bias gets exactly zero gradient while every output is inside the margin.
    assert not unchanged - {"D.head.adversarial.bias"}


def test_checkpoint_round_trip_and_generation_by_class(runs, tmp_path):
    method, base, _, _, _ = runs
    model, cfg, step = load_model(base / "straight")
    save_checkpoint(tmp_path, model, cfg, step, {}, keep_last=0)
    again, cfg2, _ = load_model(tmp_path)
    assert cfg2 == cfg and cfg.model.num_classes == 3 and cfg.model.image_size == 32
    labels = torch.tensor([0, 2, 1])
    one = model.generate(labels, torch.Generator().manual_seed(1))
    two = again.generate(labels, torch.Generator().manual_seed(1))
    assert one.shape == (3, 3, 32, 32) and torch.equal(one, two)
    assert hasattr(again, "G_ema") == (method == "contragan")
    with pytest.raises(PairlessError, match="pairless generate"):
        model.translate(torch.zeros(1, 3, 32, 32))


def test_ema_follows_the_generator_by_its_decay(class_dir):
    cfg = tiny_conditional("contragan", class_dir, **{"model.ema": True, "model.ema_start": 1,
                                                      "model.ema_decay": 0.25, "model.num_classes": 3,
                                                      "model.image_size": 32}).model
    from pairless.models.conditional import ContraGAN

    model = ContraGAN(cfg)
    model.after_optimizer_step("G")  # before ema_start: a copy
    with torch.no_grad():
        before = model.G_ema.linear.weight.clone()
        model.G.linear.weight.add_(1.0)
    model.after_optimizer_step("D")  # D steps leave the average alone
    assert torch.equal(model.G_ema.linear.weight, before)
    model.after_optimizer_step("G")
    assert torch.allclose(model.G_ema.linear.weight, 0.25 * before + 0.75 * model.G.linear.weight)
    assert int(model.ema_updates) == 2


def test_projection_logit_is_psi_plus_class_embedding_dot_features():
    torch.manual_seed(0)
    d = ConditionalDiscriminator("dcgan", "projgan", 32, 3, num_classes=5, width=4, embed_dim=8).eval()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 3, 3, 4])
    with torch.no_grad():
        phi = d.body(images)
        psi = phi @ d.head.adversarial.weight.T + d.head.adversarial.bias
        embed = d.head.class_embedding.weight[labels]
        expected = psi.squeeze(1) + (embed * phi).sum(1)
        got = d(images, labels)["logit"]
    assert torch.allclose(got, expected, atol=1e-5)
    # the normalised embedding has spectral norm 1 (one power iteration per training forward converges)
    assert float(torch.linalg.matrix_norm(d.head.class_embedding.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.2)


def test_heads_output_what_their_losses_need():
    images, labels = torch.randn(2, 1, 32, 32), torch.tensor([1, 0])
    ac = ConditionalDiscriminator("dcgan", "acgan", 32, 1, 3, 4, 8)(images, labels)
    contra = ConditionalDiscriminator("dcgan", "contragan", 32, 1, 3, 4, 8)(images, labels)
    assert ac["logit"].shape == (2,) and ac["class_logits"].shape == (2, 3)
    assert contra["embedding"].shape == (2, 8) and contra["proxy"].shape == (2, 8)


@pytest.mark.parametrize("backbone, size", [("dcgan", 32), ("resnet", 32), ("resnet", 64)])
def test_generators_make_images_that_depend_on_the_class(backbone, size):
    torch.manual_seed(0)
    g = ConditionalGenerator(backbone, size, 3, num_classes=4, width=4, z_dim=16).eval()
    d = ConditionalDiscriminator(backbone, "projgan", size, 3, 4, 4, 8)
    with torch.no_grad():
        for m in g.modules():  # per-class gains away from their all-ones start
            if isinstance(m, torch.nn.Embedding):
                m.weight.normal_(1, 0.5)
        z = torch.randn(1, 16).expand(2, -1)
        images = g(z, torch.tensor([0, 3]))
    assert images.shape == (2, 3, size, size) and images.abs().max() <= 1
    assert not torch.allclose(images[0], images[1])
    assert d(images, torch.tensor([0, 3]))["logit"].shape == (2,)


@pytest.mark.parametrize("overrides, message", [
    ({"backbone": "resnet", "image_size": 48}, "--size 48: the resnet backbone is built for 32 or 64 px"),
    ({"backbone": "dcgan", "image_size": 64}, "--size 64: the dcgan backbone is built for 32 px"),
    ({"temperature": 0.0}, "--temperature"),
    ({"holdout": 1.0}, "--holdout"),
])
def test_bad_options_name_the_option(overrides, message):
    with pytest.raises(PairlessError, match=message):
        ConditionalGANConfig(**overrides)


def test_too_few_classes_for_the_data_is_an_error(class_dir, tmp_path):
    with pytest.raises(PairlessError, match="--num-classes 2 is fewer than the 3 classes"):
        train(tiny_conditional("acgan", class_dir, **{"model.num_classes": 2}), tmp_path / "run", quiet=True)
