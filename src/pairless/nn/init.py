"""Weight initialisation schemes of the CycleGAN / CUT code bases."""

from __future__ import annotations

from typing import Literal

from torch import nn

InitScheme = Literal["normal", "xavier", "kaiming", "orthogonal"]


def init_weights(module: nn.Module, scheme: InitScheme = "normal", gain: float = 0.02) -> nn.Module:
    """Conv and linear weights from the scheme (gain = std for 'normal'), biases 0; norm scales N(1, gain)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, gain)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif scheme == "orthogonal":
                nn.init.orthogonal_(m.weight, gain=gain)
            else:
                raise ValueError(f"unknown init scheme {scheme!r}")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module
