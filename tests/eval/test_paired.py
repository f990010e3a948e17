import math

import pytest
import torch

from pairless.data.images import save_image
from pairless.errors import PairlessError
from pairless.eval.paired import PSNR_CAP_DB, l1_error, psnr, score_folders


def test_psnr_and_l1_on_hand_made_cases():
    a = torch.zeros(3, 4, 4)
    b = torch.full((3, 4, 4), 0.1)
    assert l1_error(a, b) == pytest.approx(0.1)
    assert psnr(a, b) == pytest.approx(10 * math.log10(1 / 0.01), rel=1e-5)  # 20 dB
    assert psnr(a, a) == PSNR_CAP_DB


def test_folders_are_matched_by_name_whatever_the_extension(tmp_path):
    for i in range(3):
        save_image(torch.full((3, 8, 8), 100 / 255), tmp_path / "gt" / f"{i}.png")
        save_image(torch.full((3, 8, 8), (100 + 20 * (i == 0)) / 255), tmp_path / "pred" / f"{i}.jpg")
    scores = score_folders(tmp_path / "pred", tmp_path / "gt")
    assert scores["count"] == 3
    assert scores["l1"] == pytest.approx((20 / 255) / 3, abs=2e-3)  # JPEG of a flat image is near exact
    save_image(torch.zeros(3, 8, 8), tmp_path / "pred" / "extra.png")
    with pytest.raises(PairlessError, match="no ground-truth image for .*extra.png"):
        score_folders(tmp_path / "pred", tmp_path / "gt")


def direct_ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """SSIM with an 11x11 Gaussian window (sigma 1.5), C1=(0.01)^2, C2=(0.03)^2, averaged over every pixel
    (borders reflect-padded)."""
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-coords**2 / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(x.shape[0], 1, 11, 11)
    blur = lambda t: torch.nn.functional.conv2d(t[None].double(), window, groups=x.shape[0])[0]  # noqa: E731
    x, y = (torch.nn.functional.pad(t[None], (5, 5, 5, 5), mode="reflect")[0] for t in (x, y))
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(ssim_map.mean())


def test_ssim_hand_made_cases():
    from pairless.eval.paired import ssim

    torch.manual_seed(0)
    image = torch.rand(3, 32, 32)
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    flat_a, flat_b = torch.full((1, 24, 24), 0.2), torch.full((1, 24, 24), 0.6)
    c1 = 0.01**2  # no variance: SSIM reduces to the luminance term
    assert ssim(flat_a, flat_b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-4)
    noisy = (image + 0.1 * torch.randn_like(image)).clamp(0, 1)
    assert ssim(noisy, image) == pytest.approx(direct_ssim(noisy, image), abs=1e-6)
    assert ssim(noisy, image) < 0.95


def test_folder_scores_include_ssim(tmp_path):
    torch.manual_seed(1)
    truth = torch.rand(3, 24, 24)
    save_image(truth, tmp_path / "gt" / "a.png")
    save_image(truth, tmp_path / "pred" / "a.png")
    scores = score_folders(tmp_path / "pred", tmp_path / "gt")
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-6) and scores["l1"] == 0
