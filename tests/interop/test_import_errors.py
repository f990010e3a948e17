"""What `pairless import` refuses, each with one line that names the file, the key and the shape, and
nothing half-imported left behind."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from pairless.errors import PairlessError
from pairless.interop import import_checkpoints


class RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint from the internet can do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def cut_files(reference_checkpoints, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(reference_checkpoints / "cut", folder)
    return folder


def edit(path, change):
    state = torch.load(path, weights_only=True)
    change(state)
    torch.save(state, path)


def refused(paths, out, match, source_format=None):
    with pytest.raises(PairlessError, match=match):
        import_checkpoints(paths, out, source_format)
    assert not out.exists(), "a refused import left a run folder"


def test_a_truncated_file(cut_files, tmp_path):
    generator = cut_files / "latest_net_G.pth"
    generator.write_bytes(generator.read_bytes()[:5000])
    refused([generator], tmp_path / "run", "cannot read .*latest_net_G.pth: truncated or not a PyTorch checkpoint")


def test_an_unknown_format(tmp_path):
    torch.save({"encoder.weight": torch.ones(4, 3), "decoder.weight": torch.ones(3, 4)}, tmp_path / "model.pth")
    refused([tmp_path / "model.pth"], tmp_path / "run", r"cannot tell which implementation wrote .*model.pth")
    refused([tmp_path / "model.pth"], tmp_path / "run", "--from must be one of", source_format="stylegan")


def test_a_key_missing(cut_files, tmp_path):
    edit(cut_files / "latest_net_G.pth", lambda state: state.pop("model.30.bias"))
    refused([cut_files], tmp_path / "run", r"latest_net_G.pth: key model.30.bias \[3\] is missing")


def test_a_wrong_shape(cut_files, tmp_path):
    def widen(state):
        state["model.22.weight"] = torch.zeros(16, 32, 5, 5)
    edit(cut_files / "latest_net_G.pth", widen)
    refused([cut_files], tmp_path / "run",
            r"latest_net_G.pth: model.22.weight has shape \[16, 32, 5, 5\], .* needs \[16, 32, 3, 3\]")


def test_an_unexpected_key(cut_files, tmp_path):
    edit(cut_files / "latest_net_D.pth", lambda state: state.update({"model.14.scale": torch.ones(1)}))
    refused([cut_files], tmp_path / "run", r"latest_net_D.pth: unexpected key model.14.scale \[1\]")


def test_a_blur_filter_other_than_pairless_is_not_dropped(cut_files, tmp_path):
    """Filters are dropped only when they equal pairless's fixed ones; another filter changes outputs."""
    edit(cut_files / "latest_net_G.pth", lambda state: state["model.7.filt"].mul_(2))
    refused([cut_files], tmp_path / "run", "unexpected key model.7.filt")


def test_a_pickle_that_would_run_code(tmp_path):
    marker = tmp_path / "it ran"
    torch.save({"model.1.weight": torch.ones(1), "payload": RunsCode(marker)}, tmp_path / "latest_net_G.pth")
    refused([tmp_path / "latest_net_G.pth"], tmp_path / "run", r"refusing .*latest_net_G.pth: loading it would call")
    assert not marker.exists()


def test_files_that_disagree_on_the_architecture(cut_files, reference_checkpoints, tmp_path):
    shutil.copy(reference_checkpoints / "dclgan" / "latest_net_D_A.pth", tmp_path / "latest_net_D_A.pth")

    def halve(state):
        for key in [k for k in state if k.startswith("model.0.")]:
            state[key] = state[key][:4]
    edit(tmp_path / "latest_net_D_A.pth", halve)
    refused([reference_checkpoints / "cyclegan" / "latest_net_G_A.pth", tmp_path / "latest_net_D_A.pth"],
            tmp_path / "run", "latest_net_D_A.pth implies --width 4, another network 8", source_format="cyclegan")


def test_projection_heads_for_other_layers_ask_for_nce_layers(cut_files, tmp_path):
    with pytest.raises(PairlessError, match="holds 5 projection MLPs.*--nce-layers 4,8,12 has 3"):
        import_checkpoints([cut_files], tmp_path / "run", options={"nce-layers": "4,8,12"})


def test_similarity_heads_for_other_layers_ask_for_nce_layers(reference_checkpoints, tmp_path):
    folder = tmp_path / "simdcl"
    shutil.copytree(reference_checkpoints / "dclgan", folder)
    torch.save({"model.0.weight": torch.ones(16, 3, 3, 3), "model.0.bias": torch.ones(16),
                "model.4.weight": torch.ones(16, 16), "model.4.bias": torch.ones(16),
                "model.6.weight": torch.ones(16, 16), "model.6.bias": torch.ones(16)}, folder / "latest_net_F3.pth")
    refused([folder], tmp_path / "run", r"latest_net_F3.pth holds 3 input channels \(one per PatchNCE layer\), but "
                                        r"--nce-layers 4,8,12,16 has 4")


def test_a_format_that_does_not_fit_the_files(reference_checkpoints, tmp_path):
    refused([reference_checkpoints / "cut"], tmp_path / "run", "is not a UGATIT-pytorch checkpoint", "ugatit")
    refused([reference_checkpoints / "ugatit"], tmp_path / "run", "is a UGATIT-pytorch checkpoint, not cut", "cut")
    refused([reference_checkpoints / "dclgan"], tmp_path / "run", r"latest_net_D_A.pth: not a network file of a cut",
            "cut")


def test_a_folder_without_checkpoints_and_an_existing_run(reference_checkpoints, tmp_path):
    (tmp_path / "empty").mkdir()
    refused([tmp_path / "empty"], tmp_path / "run", "holds no checkpoint files of a known implementation")
    import_checkpoints([reference_checkpoints / "cut"], tmp_path / "run")
    with pytest.raises(PairlessError, match="already holds a run"):
        import_checkpoints([reference_checkpoints / "cut"], tmp_path / "run")


def test_the_command_line_says_one_error_line(tmp_path):
    (tmp_path / "latest_net_G.pth").write_bytes(b"not a checkpoint at all")
    result = subprocess.run([sys.executable, "-m", "pairless", "import", str(tmp_path / "latest_net_G.pth"),
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read") and "latest_net_G.pth" in lines[0]


def test_import_help_lists_the_formats(capsys):
    from pairless.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["import", "--help"])
    assert exit_info.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for fragment in ("CycleGAN/pix2pix", "CUT and FastCUT", "DCLGAN and SimDCL", "UGATIT-pytorch", "--from", "--out"):
        assert fragment in shown, fragment


@pytest.mark.parametrize("folder, file, key, value", [
    ("cut", "latest_net_G.pth", "model.1.weight", torch.ones(8)),
    ("ugatit", "fixture_params_latest.pt", ("genA2B", "FC.0.weight"), torch.ones(32)),
    ("ugatit", "fixture_params_latest.pt", ("genA2B", "DownBlock.1.weight"), torch.ones(0, 3, 7, 7)),
])
def test_a_weight_of_the_wrong_rank_is_named(reference_checkpoints, tmp_path, folder, file, key, value):
    shutil.copytree(reference_checkpoints / folder, tmp_path / folder)

    def damage(state):
        if isinstance(key, tuple):
            state[key[0]][key[1]] = value
        else:
            state[key] = value
    edit(tmp_path / folder / file, damage)
    name = key[1] if isinstance(key, tuple) else key
    refused([tmp_path / folder], tmp_path / "run", rf"{name} has shape .*, not that of a \d-dimensional weight")
