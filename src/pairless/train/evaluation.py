"""`--eval-every N`: the offline evaluation metrics on held-out test images while training, and
`best.safetensors` kept by one of them."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import torch
from torch import Tensor

from pairless.config import RunConfig
from pairless.errors import PairlessError
from pairless.eval.domain import domain_classifier_for
from pairless.eval.evaluate import distribution_scores, split_folders
from pairless.eval.imageset import folder_paths, load_image_set, to_uint8
from pairless.eval.paired import paired_scores
from pairless.models.base import TranslationModel
from pairless.ranking import is_better
from pairless.translator import Translator

BEST = "best.safetensors"
BATCH = 16
MEASURED = frozenset({"fid_local", "kid_local", "domain_score", "diversity", "diversity_pixels"})
"""What every evaluation during training measures; L1, PSNR and SSIM too where ground truth exists."""


class TrainingEvaluator:
    """Scores the model's AtoB translations of up to `eval_images` held-out images (the test split)."""

    def __init__(self, cfg: RunConfig, device: torch.device, log=None):
        data_dir, size, count = Path(cfg.data.root), cfg.data.size, cfg.train.eval_images
        try:
            folders = split_folders(data_dir, "test", "AtoB", cfg.data.direction)
        except PairlessError as exc:
            raise PairlessError(f"--eval-every needs held-out images: {exc}") from None
        sources = folder_paths(folders.source, count)
        self.source = load_image_set(sources, size)
        self.target = load_image_set(folder_paths(folders.target, count), size)
        self.truth = self._matching_truth(sources, folders.truth, size) if folders.truth else None
        self.target_domain = folders.target_domain
        self.metric = cfg.train.eval_metric
        measured = MEASURED | ({"l1", "psnr", "ssim"} if self.truth is not None else set())
        if self.metric not in measured:
            raise PairlessError(f"--eval-metric {self.metric} is not measured during training on {data_dir} "
                                f"(measured: {', '.join(sorted(measured))})")
        self.judge = domain_classifier_for(data_dir, device, log=log)
        self.best: dict | None = None
        self.config = cfg

    @staticmethod
    def _matching_truth(sources: list[Path], truth_dir: Path, size: int) -> Tensor | None:
        truths = {p.stem: p for p in folder_paths(truth_dir)}
        if not all(p.stem in truths for p in sources):
            return None
        return load_image_set([truths[p.stem] for p in sources], size)

    def translate(self, model: TranslationModel) -> Tensor:
        """The held-out images translated AtoB as `pairless translate` does it, as uint8."""
        translator = Translator(model, self.config)
        return torch.cat([to_uint8(translator.translate_tensor(self.source[i:i + BATCH].float() / 255).cpu())
                          for i in range(0, len(self.source), BATCH)])

    def __call__(self, model: TranslationModel, precision=None) -> dict[str, float]:
        """Scores of the model's translations; `precision` (an autocast context) applies to translating
        only, so the scores are computed in fp32 like `pairless evaluate`'s."""
        was_training = model.training
        model.eval()
        try:
            with precision or nullcontext():
                translated = self.translate(model)
        finally:
            model.train(was_training)
        metrics = distribution_scores(translated, self.target, self.judge, self.target_domain)
        if self.truth is not None:
            scores = paired_scores(list(translated.float() / 255), list(self.truth.float() / 255))
            metrics |= {key: scores[key] for key in ("l1", "psnr", "ssim")}
        return {key: float(value) for key, value in metrics.items()}

    def improved(self, metrics: dict[str, float], step: int) -> bool:
        """Whether this evaluation is the best so far by the chosen metric (and remember it if so)."""
        value = metrics[self.metric]
        if not is_better(self.metric, value, self.best["value"] if self.best else None):
            return False
        self.best = {"metric": self.metric, "value": value, "step": step}
        return True
