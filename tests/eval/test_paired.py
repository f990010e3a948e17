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
