"""Feature extractors for FID/KID, by name: the standard Inception network and pairless's own local one.

Extractors take uint8 images [N, 3, H, W] and return features [N, D].
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from pairless.errors import PairlessError

INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
INCEPTION_FILE = INCEPTION_URL.rsplit("/", 1)[1]
FEATURE_EXTRACTORS = ("inception", "local")


def cached_inception_weights() -> Path:
    """Where torch hub keeps the downloaded Inception weights (and looks for them before downloading)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


class InceptionFeatures:
    """The 2048-d pool features of the TF-ported Inception v3 that FID and KID are defined with, through
    torch-fidelity (images are resized to 299 px inside with TF-1.x-compatible bilinear interpolation)."""

    def __init__(self, device: torch.device, weights: str | Path | None = None, batch_size: int = 32):
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if weights is not None and not Path(weights).is_file():
            raise PairlessError(f"--inception-weights {weights}: file not found")
        try:
            with torch.random.fork_rng(devices=[]):  # building draws initial weights: leave a training run's stream
                self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                       feature_extractor_weights_path=weights, verbose=False)
        except Exception as exc:
            raise self._unavailable(weights, exc) from None
        self.net.to(device)
        self.device = device
        self.batch_size = batch_size

    @staticmethod
    def _unavailable(weights: str | Path | None, exc: Exception) -> Exception:
        """Why the weights could not be loaded, as the error to raise (`exc` itself if not the user's)."""
        if weights is not None:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
            return PairlessError(f"--inception-weights {weights} is not the Inception weights file FID/KID expect "
                                 f"({INCEPTION_FILE}: a PyTorch state dict from torch-fidelity's release); "
                                 f"loading it failed: {reason}")
        if isinstance(exc, OSError):  # urllib's URLError is an OSError: no network and nothing cached
            return PairlessError(
                f"the Inception weights for FID/KID are not available ({exc.__class__.__name__}): download "
                f"{INCEPTION_URL} once (to {cached_inception_weights()}, where it is found automatically) "
                f"or pass --inception-weights PATH (training: --eval-inception-weights PATH); --features local "
                f"(training: --eval-features local) needs no download"
            )
        return exc

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        chunks = [self.net(images[i:i + self.batch_size].to(self.device))[0].float().cpu()
                  for i in range(0, len(images), self.batch_size)]
        return torch.cat(chunks)
