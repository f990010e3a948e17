"""`pairless evaluate`: translate a test split and measure the result.

- FID / KID against the real target-domain test images, in the feature space of the standard Inception
  network (the papers' protocol) or of pairless's own domain classifier (FID-local, no download);
- the domain score: the share of translated images the domain classifier judges to be in the target domain;
- mode collapse: how varied the translations of different inputs are, relative to real target images;
- L1 / PSNR / SSIM where the data set holds the true translation of each input (e.g. testA_gt/).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor

from pairless.errors import PairlessError
from pairless.eval.distribution import diversity_ratio, fid, kid
from pairless.eval.domain import LocalFeatures, domain_classifier_for
from pairless.eval.features import FEATURE_EXTRACTORS, InceptionFeatures
from pairless.eval.imageset import folder_paths, load_image_set
from pairless.eval.paired import score_folders
from pairless.fields import Checked, bounded

COLLAPSE_THRESHOLD = 0.5
"""Outputs whose feature spread is below half that of real target images are flagged as collapsed."""
DIVERSITY_PIXELS = 64
"""Pixel diversity is measured on images downsampled to this size (it concerns layout and colour)."""


@dataclass
class EvalSettings(Checked):
    split: str = "test"
    direction: str = bounded("AtoB", choices=("AtoB", "BtoA"))
    features: str = bounded("inception", choices=tuple(FEATURE_EXTRACTORS))
    """Feature space of the headline FID/KID: 'inception' (papers' protocol) or 'local' (no download)."""
    inception_weights: str | None = None
    size: int = bounded(256, at_least=16)
    """Translated and real images are resized (bicubic, antialiased) to size x size before features."""
    limit: int | None = bounded(None, at_least=2)
    """Use at most this many test images per domain (None: all); diversity needs pairs, so at least 2."""
    classifier_steps: int | None = bounded(None, at_least=1)
    """Training iterations of the domain classifier when it is not cached yet (None: the default)."""


def distribution_scores(translated: Tensor, target: Tensor, judge: LocalFeatures, target_domain: str,
                        inception: InceptionFeatures | None = None) -> dict[str, float | bool]:
    """Everything that compares sets (uint8 [N, 3, S, S]): FID/KID, domain score, diversity."""
    return compare_sets(ImageFeatures.of(translated, judge, inception), ImageFeatures.of(target, judge, inception),
                        judge, target_domain)


@dataclass(frozen=True)
class ImageFeatures:
    """A set of images (uint8 [N, 3, S, S]) with its features in the spaces the set comparisons use, so a
    fixed set (the real test images of an evaluation during training) is run through the networks once."""

    images: Tensor
    local: Tensor | None
    inception: Tensor | None

    @classmethod
    def of(cls, images: Tensor, judge: LocalFeatures | None, inception: InceptionFeatures | None) -> ImageFeatures:
        return cls(images, judge(images) if judge is not None else None,
                   inception(images) if inception is not None else None)


def compare_sets(fake: ImageFeatures, real: ImageFeatures, judge: LocalFeatures | None = None,
                 target_domain: str | None = None) -> dict[str, float | bool]:
    """FID/KID in the Inception features where both sets have them; FID-local, KID-local, the domain score,
    diversity and the mode-collapse flag where a domain classifier (`judge`) is given; pixel diversity always."""
    scores: dict[str, float | bool] = {}
    if fake.inception is not None and real.inception is not None:
        scores["fid"] = fid(fake.inception, real.inception)
        scores["kid"], scores["kid_std"] = kid(fake.inception, real.inception)
    if judge is not None and fake.local is not None and real.local is not None and target_domain is not None:
        scores["fid_local"] = fid(fake.local, real.local)
        scores["kid_local"], scores["kid_local_std"] = kid(fake.local, real.local)
        scores["domain_score"] = judge.share_judged(fake.images, target_domain)
        scores["diversity"] = diversity_ratio(fake.local, real.local)
    scores["diversity_pixels"] = diversity_ratio(downsampled_pixels(fake.images), downsampled_pixels(real.images))
    if "diversity" in scores:
        scores["mode_collapse"] = bool(scores["diversity"] < COLLAPSE_THRESHOLD)
    return scores


def downsampled_pixels(images: Tensor) -> Tensor:
    """Images [N, C, H, W] (any value scale) as flat vectors at DIVERSITY_PIXELS px, for pixel diversity."""
    small = F.interpolate(images.float(), size=(DIVERSITY_PIXELS, DIVERSITY_PIXELS), mode="bilinear",
                          antialias=True, align_corners=False)
    return small.flatten(1)


@dataclass(frozen=True)
class SplitFolders:
    source: Path
    target: Path
    truth: Path | None
    target_domain: str
    """'A' or 'B': the data set's domain the translations should land in."""


def split_folders(data_dir: Path, split: str, direction: str, data_direction: str = "AtoB") -> SplitFolders:
    """The folders a translation is read from and compared with. A model trained with --direction BtoA
    (domains swapped) maps the data set's B images when asked for AtoB."""
    source_domain = "A" if (direction == "AtoB") == (data_direction == "AtoB") else "B"
    target_domain = "B" if source_domain == "A" else "A"
    source, target = data_dir / f"{split}{source_domain}", data_dir / f"{split}{target_domain}"
    for folder in (source, target):
        count = len(folder_paths(folder))
        if count < 2:
            raise PairlessError(f"{folder} has {'no images' if not count else 'one image'}: evaluation needs at "
                                f"least 2 {split} images of each domain (FID and diversity compare pairs)")
    truth = data_dir / f"{split}{source_domain}_gt"
    return SplitFolders(source, target, truth if truth.is_dir() else None, target_domain)


def evaluate_checkpoint(checkpoint: str | Path, data_dir: str | Path, out_dir: str | Path,
                        settings: EvalSettings, device: str = "auto", log=print, progress=None) -> dict:
    """Translate the split with the checkpoint's model into out_dir/translated, score it, write eval.json.
    `progress(done, total)` follows the translation."""
    from pairless.translator import Translator, translate_paths

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise PairlessError(f"--data {data_dir}: folder not found")
    translator = Translator.load(checkpoint, device)
    translator.model.check_direction(settings.direction)
    folders = split_folders(data_dir, settings.split, settings.direction, translator.config.data.direction)
    inception = (InceptionFeatures(translator.device, settings.inception_weights)
                 if settings.features == "inception" else None)
    judge = domain_classifier_for(data_dir, translator.device, steps=settings.classifier_steps, log=log)
    sources = folder_paths(folders.source, settings.limit)
    translated_dir = out_dir / "translated"
    log(f"translating {len(sources)} images of {folders.source} into {translated_dir}")
    written = translate_paths(translator, sources, translated_dir, settings.direction, progress=progress)
    translated = load_image_set(written, settings.size)
    target = load_image_set(folder_paths(folders.target, settings.limit), settings.size)
    source = load_image_set(sources, settings.size)
    metrics = distribution_scores(translated, target, judge, folders.target_domain, inception)
    metrics["domain_score_untranslated"] = judge.share_judged(source, folders.target_domain)
    metrics["fid_local_untranslated"] = fid(judge(source), judge(target))
    if judge.info.get("test_accuracy") is not None:
        metrics["domain_classifier_accuracy"] = judge.info["test_accuracy"]
    if folders.truth is not None:
        truth = score_folders(translated_dir, folders.truth, only=written)
        metrics |= {key: truth[key] for key in ("l1", "psnr", "ssim")}
    result = {
        "checkpoint": str(checkpoint), "method": translator.config.method, "step": translator.step,
        "data": str(data_dir), "translated_images": len(written), "target_images": len(target),
        "ground_truth": str(folders.truth) if folders.truth else None, "settings": asdict(settings),
        "domain_classifier": judge.info, "metrics": metrics,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


METRIC_LABELS = {
    "fid": "FID (Inception) ↓", "kid": "KID (Inception) ↓", "fid_local": "FID-local ↓",
    "kid_local": "KID-local ↓", "domain_score": "domain score ↑", "diversity": "diversity (features)",
    "diversity_pixels": "diversity (pixels)", "mode_collapse": "mode collapse",
    "domain_score_untranslated": "domain score of the inputs", "fid_local_untranslated": "FID-local of the inputs",
    "domain_classifier_accuracy": "domain classifier accuracy (test A vs B)",
    "l1": "L1 to ground truth ↓", "psnr": "PSNR (dB) ↑", "ssim": "SSIM ↑",
}


def format_metric(name: str, value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.startswith("kid"):
        return f"{value:.5f}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.2f}"


def metric_rows(metrics: dict) -> list[tuple[str, str]]:
    """(label, value) in a fixed reading order; KID standard deviations go next to their means."""
    rows = []
    for name, label in METRIC_LABELS.items():
        if name in metrics:
            value = format_metric(name, metrics[name])
            if f"{name}_std" in metrics:
                value += f" ± {format_metric(name, metrics[name + '_std'])}"
            rows.append((label, value))
    return rows
