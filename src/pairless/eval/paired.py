"""Scores against ground truth, where a data set has it (e.g. testA_gt/ of the built-in tasks)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import torch
from torch import Tensor

from pairless.data.images import list_images, read_image
from pairless.errors import PairlessError

PSNR_CAP_DB = 100.0
"""PSNR of identical images is infinite; it is reported as this cap so averages stay finite."""


def l1_error(prediction: Tensor, target: Tensor) -> float:
    """Mean absolute error of images in [0, 1]."""
    return (prediction.float() - target.float()).abs().mean().item()


def psnr(prediction: Tensor, target: Tensor) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    mse = (prediction.float() - target.float()).pow(2).mean().item()
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * math.log10(1.0 / mse))


def ssim(prediction: Tensor, target: Tensor) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) of images in [0, 1],
    through torchmetrics (mean over all pixels, borders reflect-padded); [C, H, W] or [N, C, H, W]."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    batch = (prediction[None], target[None]) if prediction.ndim == 3 else (prediction, target)
    score = structural_similarity_index_measure(batch[0].double(), batch[1].double(), data_range=1.0)
    return float(cast(Tensor, score))


def paired_scores(predictions: list[Tensor], targets: list[Tensor]) -> dict[str, float]:
    """Mean L1, PSNR and SSIM over matched pairs of images in [0, 1] (each pair may have its own size)."""
    per_pair = [(l1_error(p, t), psnr(p, t), ssim(p, t)) for p, t in zip(predictions, targets, strict=True)]
    l1, peak, structure = (float(torch.tensor(column, dtype=torch.float64).mean())
                           for column in zip(*per_pair, strict=True))
    return {"l1": l1, "psnr": peak, "ssim": structure, "count": len(per_pair)}


def match_by_stem(predictions: list[Path], references: list[Path], reference_root: Path,
                  prediction_root: Path) -> list[tuple[Path, Path]]:
    """Pair files whose paths relative to their roots are equal up to the extension."""
    by_key = {p.relative_to(reference_root).with_suffix(""): p for p in references}
    pairs = []
    for prediction in predictions:
        key = prediction.relative_to(prediction_root).with_suffix("")
        if key not in by_key:
            raise PairlessError(f"no ground-truth image for {prediction} in {reference_root}")
        pairs.append((prediction, by_key[key]))
    return pairs


def score_folders(predictions: str | Path, ground_truth: str | Path,
                  only: list[Path] | None = None) -> dict[str, float]:
    """Mean L1, PSNR and SSIM over images of `predictions` (or just the files `only` in it) matched by name
    to those of `ground_truth`."""
    predictions, ground_truth = Path(predictions), Path(ground_truth)
    files = list_images(predictions) if only is None else only
    pairs = match_by_stem(files, list_images(ground_truth), ground_truth, predictions)
    if not pairs:
        raise PairlessError(f"no images to score in {predictions}")
    predictions_read, targets = [], []
    for prediction_path, target_path in pairs:
        target = read_image(target_path)
        prediction = read_image(prediction_path, channels=target.shape[0])
        if prediction.shape != target.shape:
            raise PairlessError(f"{prediction_path} is {tuple(prediction.shape[1:])} but its ground truth "
                                f"{target_path} is {tuple(target.shape[1:])}")
        predictions_read.append(prediction)
        targets.append(target)
    return paired_scores(predictions_read, targets)


def translate_and_score(translator, data_dir: str | Path, out_dir: str | Path, direction: str = "AtoB") -> dict:
    """Translate a data set's testA into `out_dir` and score it against its testA_gt."""
    from pairless.translator import translate_paths

    data_dir = Path(data_dir)
    if not (data_dir / "testA_gt").is_dir():
        raise PairlessError(f"{data_dir} has no testA_gt/ folder: ground-truth scores need the true B image "
                            f"of each testA image")
    written = translate_paths(translator, [data_dir / "testA"], out_dir, direction)
    return score_folders(out_dir, data_dir / "testA_gt", only=written)
