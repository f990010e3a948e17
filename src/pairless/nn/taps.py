"""Running a sequential network while keeping the outputs of chosen layers (PatchNCE's feature taps)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


def forward_with_taps(layers: nn.Sequential, x: Tensor, feature_layers: Sequence[int] = (),
                      encode_only: bool = False):
    """The output; with `feature_layers`, also those layers' outputs from the same pass.

    Returns the output, or `(output, features)`, or only `features` when `encode_only` (the pass then
    stops after the last requested layer).
    """
    if not feature_layers:
        return layers(x)
    wanted, last = set(feature_layers), max(feature_layers)
    features = []
    for index, layer in enumerate(layers):
        x = layer(x)
        if index in wanted:
            features.append(x)
        if encode_only and index == last:
            return features
    return x, features


class TappedGenerator(nn.Module):
    """A generator built as one `layers` sequence whose first `encoder_end` layers are its encoder: PatchNCE
    taps their outputs (CUT's ResNet generator, SinCUT's StyleGAN2 one)."""

    layers: nn.Sequential
    encoder_end: int
    """Layers with index below this belong to the encoder (usable as feature layers)."""

    def forward(self, x: Tensor, feature_layers: Sequence[int] = (), encode_only: bool = False):
        """See `forward_with_taps`: the image, `(image, features)` or, with `encode_only`, the features."""
        return forward_with_taps(self.layers, x, feature_layers, encode_only)

    def feature_channels(self, feature_layers: Sequence[int]) -> list[int]:
        """Channel count of each requested layer's output (for building the patch heads up front)."""
        raise NotImplementedError
