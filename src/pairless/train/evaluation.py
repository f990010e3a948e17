"""`--eval-every N`: scores of held-out images while training, and `best.safetensors` kept by one of them.

Translators are scored on their AtoB translations of the test split (`testA/` for a model trained AtoB)
against the target domain's test images, class-conditional GANs on images generated for every class in
turn against the real images of `--eval-reference`. `--eval-features inception` adds FID and KID in the
Inception features the papers report (torch-fidelity, as `pairless evaluate`) to the offline scores;
`--eval-images all` uses the whole test split and `--eval-size` the side the papers resized to, so that the
best and the last evaluation of a run are the numbers a paper's table can be read against. The real images'
features are computed once per run; each evaluation translates or generates and scores only its own.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from torch import Tensor

from pairless.config import RunConfig
from pairless.data.transforms import resize
from pairless.errors import PairlessError
from pairless.eval.conditional import generate_for_labels
from pairless.eval.domain import LocalFeatures, domain_classifier_for
from pairless.eval.evaluate import ImageFeatures, compare_sets, split_folders
from pairless.eval.features import InceptionFeatures
from pairless.eval.imageset import folder_paths, load_image_set, to_uint8
from pairless.eval.paired import paired_scores
from pairless.models.base import Method, TranslationModel
from pairless.models.conditional import ConditionalGAN
from pairless.ranking import is_better
from pairless.train.datasets import data_kind
from pairless.train_config import TrainConfig
from pairless.translator import Translator

BEST = "best.safetensors"
BATCH = 16
GENERATE_BATCH = 64
NOISE_SEED = 0
"""Every evaluation of a class-conditional run generates from the same noise, so they differ by the model only."""
LOCAL_SCORES = frozenset({"fid_local", "kid_local", "domain_score", "diversity", "diversity_pixels"})
INCEPTION_SCORES = frozenset({"fid", "kid"})
PAIRED_SCORES = ("l1", "psnr", "ssim")


def image_limit(train: TrainConfig) -> int | None:
    """Test images per domain that an evaluation uses (None: all of them)."""
    return None if train.eval_images == "all" else train.eval_images


def evaluation_size(cfg: RunConfig) -> int:
    return cfg.train.eval_size or cfg.data.size


class TranslatedTestImages:
    """The test split of a translator's data: its source images, the target domain's real images and, where
    the data set has them, the true translations (L1/PSNR/SSIM)."""

    def __init__(self, cfg: RunConfig):
        if cfg.train.eval_reference:
            raise PairlessError(f"--eval-reference is for class-conditional runs; {cfg.method} is scored against "
                                f"the test split of --data")
        self.data_dir, size, count = Path(cfg.data.root), evaluation_size(cfg), image_limit(cfg.train)
        try:
            folders = split_folders(self.data_dir, "test", "AtoB", cfg.data.direction)
        except PairlessError as exc:
            raise PairlessError(f"--eval-every needs held-out images: {exc}") from None
        sources = folder_paths(folders.source, count)
        self.source = load_image_set(sources, size)
        self.real = load_image_set(folder_paths(folders.target, count), size)
        self.truth = _matching_truth(sources, folders.truth, size) if folders.truth else None
        self.target_domain: str | None = folders.target_domain
        self.measured = LOCAL_SCORES | frozenset(PAIRED_SCORES if self.truth is not None else ())
        self.config = cfg

    def judge(self, device: torch.device, log=None) -> LocalFeatures | None:
        return domain_classifier_for(self.data_dir, device, steps=self.config.train.eval_classifier_steps, log=log)

    def make(self, model: Method) -> Tensor:
        """The source images translated AtoB as `pairless translate` does it, as uint8."""
        if not isinstance(model, TranslationModel):
            raise PairlessError(f"--eval-every scores translations; {self.config.method} translates none")
        translator = Translator(model, self.config)
        return torch.cat([to_uint8(translator.translate_tensor(self.source[i:i + BATCH].float() / 255).cpu())
                          for i in range(0, len(self.source), BATCH)])

    def paired_scores(self, made: Tensor) -> dict[str, float]:
        if self.truth is None:
            return {}
        scores = paired_scores(list(made.float() / 255), list(self.truth.float() / 255))
        return {key: scores[key] for key in PAIRED_SCORES}


def _matching_truth(sources: list[Path], truth_dir: Path, size: int) -> Tensor | None:
    truths = {p.stem: p for p in folder_paths(truth_dir)}
    if not all(p.stem in truths for p in sources):
        return None
    return load_image_set([truths[p.stem] for p in sources], size)


class GeneratedImages:
    """A class-conditional run's evaluation: as many generated images as real reference images (classes in
    turn, fixed noise) against the real images of --eval-reference, e.g. CIFAR-10's test set."""

    target_domain = None
    measured = frozenset({"diversity_pixels"})

    def __init__(self, cfg: RunConfig):
        reference = Path(cfg.train.eval_reference)
        if not cfg.train.eval_reference:
            raise PairlessError(f"--eval-every for {cfg.method} compares generated images with real ones: give "
                                f"--eval-reference FOLDER (e.g. the test set, images in any layout)")
        paths = spread(folder_paths(reference), image_limit(cfg.train))
        if len(paths) < 2:
            raise PairlessError(f"--eval-reference {reference}: needs at least 2 images, found {len(paths)}")
        self.size = evaluation_size(cfg)
        self.real = load_image_set(paths, self.size)

    def judge(self, device: torch.device, log=None) -> LocalFeatures | None:
        return None

    @torch.no_grad()
    def make(self, model: Method) -> Tensor:
        if not isinstance(model, ConditionalGAN):
            raise PairlessError(f"{type(model).__name__} generates no images from class labels")
        device = next(model.parameters()).device
        labels = torch.arange(len(self.real), device=device) % model.num_classes
        images = (generate_for_labels(model, labels, NOISE_SEED, GENERATE_BATCH, "cpu") + 1) / 2
        if images.shape[-1] != self.size or images.shape[-2] != self.size:
            images = resize(images.clamp(0, 1), self.size, self.size)
        return to_uint8(images)

    def paired_scores(self, made: Tensor) -> dict[str, float]:
        return {}


def spread(paths: list[Path], count: int | None) -> list[Path]:
    """`count` paths evenly spread over the list (all for None): class folders are listed class by class."""
    if count is None or count >= len(paths):
        return paths
    return [paths[i * len(paths) // count] for i in range(count)]


class TrainingEvaluator:
    """Scores a model's held-out output every --eval-every steps and remembers the best by --eval-metric."""

    def __init__(self, cfg: RunConfig, device: torch.device, log=None):
        self.images = (GeneratedImages(cfg) if data_kind(cfg.method) == "labelled"
                       else TranslatedTestImages(cfg))
        inception = cfg.train.eval_features == "inception"
        self.metric = cfg.train.eval_metric
        measured = self.images.measured | (INCEPTION_SCORES if inception else frozenset())
        if self.metric not in measured:
            raise PairlessError(f"--eval-metric {self.metric} is not measured during training of {cfg.method} on "
                                f"{cfg.data.root} (measured: {', '.join(sorted(measured))})")
        self.judge = self.images.judge(device, log)
        self.inception = InceptionFeatures(device, cfg.train.eval_inception_weights) if inception else None
        self.real = ImageFeatures.of(self.images.real, self.judge, self.inception)
        self.best: dict | None = None

    def __call__(self, model: Method, precision=None) -> dict[str, float]:
        """Scores of the model's output; `precision` (an autocast context) applies to translating or
        generating only, so the scores are computed in fp32 like `pairless evaluate`'s."""
        was_training = model.training
        model.eval()
        try:
            with precision or nullcontext():
                made = self.images.make(model)
        finally:
            model.train(was_training)
        fake = ImageFeatures.of(made, self.judge, self.inception)
        metrics = compare_sets(fake, self.real, self.judge, self.images.target_domain)
        metrics |= self.images.paired_scores(made)
        return {key: float(value) for key, value in metrics.items()}

    def improved(self, metrics: dict[str, float], step: int) -> bool:
        """Whether this evaluation is the best so far by the chosen metric (and remember it if so)."""
        value = metrics[self.metric]
        if not is_better(self.metric, value, self.best["value"] if self.best else None):
            return False
        self.best = {"metric": self.metric, "value": value, "step": step}
        return True
