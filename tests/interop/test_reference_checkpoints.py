"""Checkpoints written by the original implementations, imported: pairless computes what the originals
computed from them (../shared/fixtures/reference-checkpoints: their files and outputs), through the code
path `translate` uses."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from pairless.checkpoint import load_model, read_checkpoint
from pairless.interop import import_checkpoints
from pairless.translator import Translator

TOLERANCE = 1e-5
"""Largest absolute difference allowed, in the originals' [-1, 1] range."""
FIXTURES = {
    # folder: (format told from the files, or given with --from; pairless method; networks in the files)
    "cut": (None, "cut", {"G", "F", "D"}),
    "fastcut": ("fastcut", "fastcut", {"G", "F", "D"}),
    "dclgan": (None, "dclgan", {"G_AB", "G_BA", "F_A", "F_B", "D_A", "D_B"}),
    "cyclegan": (None, "cyclegan", {"G_AB", "G_BA", "D_A", "D_B"}),
    "cyclegan-old": (None, "cyclegan", {"G_AB", "G_BA", "D_A", "D_B"}),
    "ugatit": (None, "ugatit", {"G_AB", "G_BA", "D_global_A", "D_global_B", "D_local_A", "D_local_B"}),
    "ugatit-light": (None, "ugatit-light", {"G_AB", "G_BA", "D_global_A", "D_global_B", "D_local_A", "D_local_B"}),
}


def translated(run, images, direction):
    """`translate`'s path: Translator on [0, 1] images; returned in [-1, 1] like the originals' outputs."""
    translator = Translator.load(run, device="cpu")
    return translator.translate_tensor((images + 1) / 2, direction) * 2 - 1


def largest_error_a_to_b(run, expected):
    return (translated(run, expected["input_A"], "AtoB") - expected["output_AtoB"]).abs().max()


@pytest.mark.parametrize("folder", list(FIXTURES))
def test_imported_checkpoints_compute_what_the_originals_computed(folder, reference_checkpoints, tmp_path):
    source_format, method, networks = FIXTURES[folder]
    result = import_checkpoints([reference_checkpoints / folder], tmp_path / "run", source_format)
    assert result.method == method and set(result.networks) == networks
    expected = load_file(reference_checkpoints / folder / "expected.safetensors")
    directions = [d for d in ("AtoB", "BtoA") if f"output_{d}" in expected]
    assert set(result.directions) == set(directions)
    for direction, source in zip(directions, ("input_A", "input_B"), strict=False):
        out = translated(tmp_path / "run", expected[source], direction)
        assert (out - expected[f"output_{direction}"]).abs().max() <= TOLERANCE, direction
    checkpoint = read_checkpoint(tmp_path / "run")
    assert set(checkpoint.networks or ()) == networks and checkpoint.step == 0


@pytest.mark.parametrize("folder", ["ugatit", "ugatit-light"])
def test_imported_ugatit_gives_the_originals_attention(folder, reference_checkpoints, tmp_path):
    """CAM logits and heat-map (the generator's second and third outputs), as translate --attention uses them."""
    import_checkpoints([reference_checkpoints / folder], tmp_path / "run")
    expected = load_file(reference_checkpoints / folder / "expected.safetensors")
    model = Translator.load(tmp_path / "run", device="cpu").model
    with torch.no_grad():
        out = model.translate_with_attention(expected["input_A"], "AtoB")
    assert (out.cam_logits - expected["cam_logit_AtoB"]).abs().max() <= TOLERANCE
    assert (out.heatmap - expected["heatmap_AtoB"]).abs().max() <= TOLERANCE * expected["heatmap_AtoB"].abs().max()


def test_the_settings_come_from_the_shapes(reference_checkpoints, tmp_path):
    """Width, blocks, anti-aliasing, D layers and projection width of the CUT files; U-GAT-IT's blocks, light,
    γ/β grid (its training size) and discriminator depths, with the PyTorch port's details."""
    cut = import_checkpoints([reference_checkpoints / "cut"], tmp_path / "cut")
    cfg = Translator.load(cut.run_dir, device="cpu").config
    assert (cfg.model.width, cfg.model.n_blocks, cfg.model.antialias, cfg.model.antialias_up) == (8, 9, True, True)
    assert (cfg.model.d_layers, cfg.model.head_dim, cfg.model.nce_layers) == (3, 256, (0, 4, 8, 12, 16))
    cyclegan = Translator.load(import_checkpoints([reference_checkpoints / "cyclegan"], tmp_path / "cyc").run_dir)
    assert (cyclegan.config.model.antialias, cyclegan.config.model.antialias_up) == (False, False)
    full = Translator.load(import_checkpoints([reference_checkpoints / "ugatit"], tmp_path / "ugatit").run_dir)
    model = full.config.model
    assert (model.width, model.n_blocks, model.mlp_grid, full.config.data.size) == (8, 9, 16, 64)
    assert (model.d_layers_global, model.d_layers_local, model.reference_code) == (7, 5, "pytorch")
    assert not model.shared_cam_classifier
    light = Translator.load(import_checkpoints([reference_checkpoints / "ugatit-light"], tmp_path / "light").run_dir)
    assert light.config.method == "ugatit-light" and light.config.model.n_blocks == 4


def test_a_released_generator_alone_translates_its_one_direction(reference_checkpoints, tmp_path):
    """The CycleGAN repository releases one generator per task (horse2zebra.pth): imported as the A->B
    generator of a CycleGAN whose B->A direction is refused."""
    released = tmp_path / "horse2zebra.pth"
    shutil.copy(reference_checkpoints / "cyclegan" / "latest_net_G_A.pth", released)
    result = import_checkpoints([released], tmp_path / "run")
    assert (result.method, result.networks, result.directions) == ("cyclegan", ["G_AB"], ("AtoB",))
    assert any("G_BA" in note for note in result.notes)
    expected = load_file(reference_checkpoints / "cyclegan" / "expected.safetensors")
    assert largest_error_a_to_b(tmp_path / "run", expected) <= TOLERANCE
    with pytest.raises(Exception, match="no BtoA generator"):
        translated(tmp_path / "run", expected["input_B"], "BtoA")


def test_data_parallel_prefixes_are_read(reference_checkpoints, tmp_path):
    """The CUT repository saves `module.`-prefixed keys when trained on a CPU (its own test.py then fails)."""
    folder = tmp_path / "cpu_trained"
    folder.mkdir()
    for name in ("latest_net_G.pth", "latest_net_F.pth", "latest_net_D.pth"):
        state = torch.load(reference_checkpoints / "cut" / name, weights_only=True)
        torch.save({f"module.{key}": value for key, value in state.items()}, folder / name)
    import_checkpoints([folder], tmp_path / "run")
    expected = load_file(reference_checkpoints / "cut" / "expected.safetensors")
    assert largest_error_a_to_b(tmp_path / "run", expected) <= TOLERANCE


def test_a_generator_trained_with_dropout_translates_as_the_original_in_eval_mode(reference_checkpoints, tmp_path):
    """`use_dropout` puts dropout after each block's first ReLU (no weights): the second convolution and norm
    move one index up; in evaluation dropout is the identity, so the outputs are those without it."""
    state = torch.load(reference_checkpoints / "cyclegan-old" / "latest_net_G_A.pth", weights_only=True)
    moved = {}
    for key, value in state.items():
        parts = key.split(".")
        if len(parts) > 3 and parts[2] == "conv_block" and parts[3] in ("5", "6"):
            parts[3] = str(int(parts[3]) + 1)
        moved[".".join(parts)] = value
    torch.save(moved, tmp_path / "latest_net_G_A.pth")
    result = import_checkpoints([tmp_path / "latest_net_G_A.pth"], tmp_path / "run")
    assert any("dropout" in note for note in result.notes)
    expected = load_file(reference_checkpoints / "cyclegan-old" / "expected.safetensors")
    assert largest_error_a_to_b(tmp_path / "run", expected) <= TOLERANCE


def reference_similarity_head(state, stacked):
    """SimDCL's MappingF on one image's stacked samples [layers, patches, dims], written from its definition:
    unpadded 3x3 stride-2 conv, ReLU, average pool, Linear, ReLU, Linear, x / (|x| + 1e-7)."""
    x = torch.nn.functional.conv2d(stacked[None], state["model.0.weight"], state["model.0.bias"], stride=2)
    x = torch.nn.functional.linear(x.relu().mean(dim=(2, 3)), state["model.4.weight"], state["model.4.bias"])
    x = torch.nn.functional.linear(x.relu(), state["model.6.weight"], state["model.6.bias"])
    return x / (x.norm(dim=1, keepdim=True) + 1e-7)


def test_simdcl_files_import_with_their_similarity_heads(reference_checkpoints, tmp_path):
    """SimDCL saves DCLGAN's networks plus the similarity heads F3 (real A), F4 (fake B), F5 (real B) and
    F6 (fake A); each lands in the pairless head of that role and computes what the original's does."""
    folder = tmp_path / "simdcl"
    shutil.copytree(reference_checkpoints / "dclgan", folder)
    generator = torch.Generator().manual_seed(3)
    heads = {}
    for head in ("F3", "F4", "F5", "F6"):
        heads[head] = {key: torch.randn(*shape, generator=generator) * 0.2 for key, shape in (
            ("model.0.weight", (16, 4, 3, 3)), ("model.0.bias", (16,)), ("model.4.weight", (16, 16)),
            ("model.4.bias", (16,)), ("model.6.weight", (16, 16)), ("model.6.bias", (16,)))}
        torch.save(heads[head], folder / f"latest_net_{head}.pth")
    result = import_checkpoints([folder], tmp_path / "run")
    assert result.method == "simdcl"
    assert {"F_A", "H_real_A", "H_fake_B", "H_real_B", "H_fake_A"} <= set(result.networks)
    model, cfg, _ = load_model(tmp_path / "run")
    assert cfg.model.sim_dim == 16
    stacked = torch.randn(4, 32, 24, generator=generator)
    for head, network in (("F3", "H_real_A"), ("F4", "H_fake_B"), ("F5", "H_real_B"), ("F6", "H_fake_A")):
        ours = getattr(model, network)(stacked[None])
        assert (ours - reference_similarity_head(heads[head], stacked)).abs().max() <= TOLERANCE, head
    expected = load_file(reference_checkpoints / "dclgan" / "expected.safetensors")
    assert largest_error_a_to_b(tmp_path / "run", expected) <= TOLERANCE
