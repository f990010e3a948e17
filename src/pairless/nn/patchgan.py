"""PatchGAN discriminator (pix2pix / CycleGAN): a fully convolutional real/fake classifier of patches."""

from __future__ import annotations

from torch import Tensor, nn

from pairless.nn.antialias import BlurDownsample
from pairless.nn.resnet_generator import instance_norm


class PatchDiscriminator(nn.Module):
    """n_layers=3 gives the 70x70 receptive field: C64-C128-C256-C512 (4x4 convs) and a 1-channel map.

    With `antialias`, each stride-2 convolution becomes a stride-1 convolution followed by a blur
    downsampling (as in CUT). Convolutions followed by instance norm carry no bias.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 3, antialias: bool = False):
        super().__init__()
        layers: list[nn.Module] = [*_down(in_channels, width, antialias, norm=False)]
        channels = width
        for i in range(1, n_layers):
            out = width * min(2 ** i, 8)
            layers += _down(channels, out, antialias, norm=True)
            channels = out
        out = width * min(2 ** n_layers, 8)
        layers += [nn.Conv2d(channels, out, 4, padding=1, bias=False), instance_norm(out),
                   nn.LeakyReLU(0.2, True), nn.Conv2d(out, 1, 4, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)

    def features(self, x: Tensor) -> list[Tensor]:
        """The activation after each LeakyReLU: the intermediate features for feature matching and MMD."""
        features = []
        for layer in self.layers[:-1]:
            x = layer(x)
            if isinstance(layer, nn.LeakyReLU):
                features.append(x)
        return features


def _down(c_in: int, c_out: int, antialias: bool, norm: bool) -> list[nn.Module]:
    stride = 1 if antialias else 2
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(instance_norm(c_out))
    layers.append(nn.LeakyReLU(0.2, True))
    if antialias:
        layers.append(BlurDownsample(c_out))
    return layers
