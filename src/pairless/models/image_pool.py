"""History of generated images for the discriminator update (Shrivastava et al.; CycleGAN's pool of 50)."""

from __future__ import annotations

import torch
from torch import Tensor

from pairless.models.randomness import host_randint, host_uniform


class ImagePool:
    """Until full, every image is stored and returned. Then each image is, with probability 1/2, swapped
    for a random stored one (which is returned and replaced), else returned as is. The choices come from
    torch's global generator, read on the host (models/randomness.py), so a restored RNG state replays them."""

    def __init__(self, size: int):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Images for the discriminator, detached from the generator's graph (also with size 0)."""
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif host_uniform() < 0.5:
                slot = host_randint(len(self.images))
                out.append(self.images[slot].clone())
                self.images[slot] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state(self) -> Tensor:
        return torch.cat(self.images).cpu() if self.images else torch.empty(0)

    def load_state(self, stored: Tensor, device: torch.device | str) -> None:
        self.images = [image.unsqueeze(0).to(device) for image in stored]
