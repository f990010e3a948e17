"""U-GAT-IT networks (Kim et al., ICLR 2020): the attention (CAM) module, the generator with AdaLIN, and
the spectrally normalised discriminators.

Every network returns three things: its main output (image or patch logits), the CAM logits [N, 2] of its
auxiliary classifier (from the globally average- and max-pooled features), and the attention heat-map
[N, 1, h, w] (the channel sum of the attended features) that shows where the network looked.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from pairless.nn.adalin import ILN, AdaLIN
from pairless.nn.init import init_weights
from pairless.nn.padding import ReflectionPad
from pairless.nn.resnet_generator import ResnetBlock, instance_norm


class CAMOutput(NamedTuple):
    output: Tensor
    cam_logits: Tensor
    heatmap: Tensor


class ChannelAttention(nn.Module):
    """Class activation map attention.

    A 1-output classifier scores the globally average-pooled and the globally max-pooled features (two
    logits per image); its weight vector re-weights the feature channels. The two attended maps are
    concatenated and fused back to `channels` by a 1x1 convolution and an activation. With a shared
    classifier (the TensorFlow code behind the paper's results) the two attended maps coincide; the
    PyTorch code has one classifier per pooling. With `bias` (the TensorFlow code) the classifier has a
    bias, which that code also adds to every channel weight; the PyTorch code's classifiers have none.

    Under spectral norm the logits use the normalised weight; the channels are weighted by it too (the
    TensorFlow code), or with `raw_weights` by the classifier's stored, unnormalised weight (the PyTorch port).
    """

    def __init__(self, channels: int, activation: nn.Module, shared_classifier: bool = True, bias: bool = True,
                 raw_weights: bool = False):
        super().__init__()
        self.classifiers = nn.ModuleList(nn.Linear(channels, 1, bias=bias)
                                         for _ in range(1 if shared_classifier else 2))
        self.fuse = nn.Conv2d(2 * channels, channels, 1)
        self.activation = activation
        self.raw_weights = raw_weights

    def classifiers_as_linear(self) -> list[nn.Linear]:
        return [cast(nn.Linear, classifier) for classifier in self.classifiers]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(attended features, CAM logits [N, 2], heat-map [N, 1, H, W])."""
        # Each weight is read once: under spectral norm, every read runs a power iteration.
        params = [(classifier.weight, classifier.bias) for classifier in self.classifiers_as_linear()]
        (w_avg, b_avg), (w_max, b_max) = params[0], params[-1]
        logits = torch.cat([F.linear(x.mean((2, 3)), w_avg, b_avg), F.linear(x.amax((2, 3)), w_max, b_max)], dim=1)
        if self.raw_weights:
            classifiers = self.classifiers_as_linear()
            w_avg, w_max = stored_weight(classifiers[0]), stored_weight(classifiers[-1])
        attended = torch.cat([x * channel_weights(w_avg, b_avg), x * channel_weights(w_max, b_max)], dim=1)
        features = self.activation(self.fuse(attended))
        return features, logits, features.sum(1, keepdim=True)


def stored_weight(layer: nn.Linear) -> Tensor:
    """A layer's weight as stored: the original under a parametrisation (spectral norm), else the weight."""
    if parametrize.is_parametrized(layer, "weight"):
        return cast(Tensor, cast(nn.ModuleDict, layer.parametrizations)["weight"].original)
    return layer.weight


def channel_weights(weight: Tensor, bias: Tensor | None) -> Tensor:
    """A CAM classifier's weight [1, C] as per-channel factors [1, C, 1, 1], its bias added if it has one."""
    weight = weight if bias is None else weight + bias
    return weight[0, :, None, None]


class GammaBetaMLP(nn.Module):
    """γ and β of the decoder's AdaLIN from the attended features: pool to `grid` x `grid`, flatten,
    Linear, ReLU, Linear, ReLU, then one Linear head each. All five have biases in the TensorFlow code
    (`bias`); the PyTorch code has none.

    grid 1 is U-GAT-IT light (global average pooling). The full model flattens the whole map (its side is
    the training crop / 4), which ties the weights to one size; pooling to a fixed grid keeps that
    behaviour at the training size and lets other sizes through. Tiled translation passes the whole image's
    pooled map as `statistics`.
    """

    tile_statistics = "grid_means"

    def __init__(self, channels: int, grid: int, bias: bool = True):
        super().__init__()
        self.grid = grid
        self.mlp = nn.Sequential(nn.Linear(grid * grid * channels, channels, bias=bias), nn.ReLU(True),
                                 nn.Linear(channels, channels, bias=bias), nn.ReLU(True))
        self.gamma = nn.Linear(channels, channels, bias=bias)
        self.beta = nn.Linear(channels, channels, bias=bias)

    def forward(self, x: Tensor, statistics: Tensor | None = None) -> tuple[Tensor, Tensor]:
        pooled = average_pool_to_grid(x, self.grid) if statistics is None else statistics
        hidden = self.mlp(pooled.flatten(1))
        return self.gamma(hidden), self.beta(hidden)


def average_pool_to_grid(x: Tensor, grid: int) -> Tensor:
    """`F.adaptive_avg_pool2d(x, grid)` as two products with cell-averaging matrices, which export to ONNX
    for any input size (the exported adaptive pooling reads outside its input at some sizes and fixes its
    windows to the sample's at others)."""
    if grid == 1:
        return x.mean((-2, -1), keepdim=True)
    rows, cols = cell_averages(x.shape[-2], grid, x), cell_averages(x.shape[-1], grid, x)
    return rows @ x @ cols.T


def cell_averages(length: int, grid: int, like: Tensor) -> Tensor:
    """[grid, length]: row i averages the positions of adaptive pooling's cell i, [floor(i L / g),
    ceil((i + 1) L / g))."""
    cells = torch.arange(grid, device=like.device)[:, None]
    positions = torch.arange(length, device=like.device)[None]
    members = (positions >= cells * length // grid) & (positions < -((-(cells + 1) * length) // grid))
    weights = members.to(like.dtype)
    return weights / weights.sum(1, keepdim=True)


class AdaLINResnetBlock(nn.Module):
    """x + (pad, conv3x3, AdaLIN, ReLU, pad, conv3x3, AdaLIN), both AdaLINs with the same γ, β."""

    def __init__(self, channels: int, unbiased_variance: bool = False):
        super().__init__()
        self.conv1 = nn.Sequential(ReflectionPad(1), nn.Conv2d(channels, channels, 3, bias=False))
        self.norm1 = AdaLIN(channels, unbiased=unbiased_variance)
        self.conv2 = nn.Sequential(ReflectionPad(1), nn.Conv2d(channels, channels, 3, bias=False))
        self.norm2 = AdaLIN(channels, unbiased=unbiased_variance)

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
        y = F.relu(self.norm1(self.conv1(x), gamma, beta))
        return x + self.norm2(self.conv2(y), gamma, beta)


def upsample_block(c_in: int, c_out: int, unbiased_variance: bool = False) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), ReflectionPad(1),
                         nn.Conv2d(c_in, c_out, 3, bias=False), ILN(c_out, unbiased=unbiased_variance), nn.ReLU(True))


class UGATITGenerator(nn.Module):
    """Encoder (c7s1-w, two stride-2 convs to 4w, n residual blocks with IN), CAM attention, decoder
    (n AdaLIN residual blocks, two nearest-upsampling blocks with ILN, c7s1-out, tanh)."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 4,
                 mlp_grid: int = 1, shared_cam_classifier: bool = True, tf_biases: bool = True,
                 unbiased_variance: bool = False):
        """`tf_biases`: biases in the CAM classifier and the γ/β MLP, as the TensorFlow code has them;
        `unbiased_variance`: AdaLIN and ILN as the PyTorch code computes them (see pairless.nn.adalin)."""
        super().__init__()
        channels = 4 * width
        self.encoder = nn.Sequential(
            ReflectionPad(3), nn.Conv2d(in_channels, width, 7, bias=False), instance_norm(width), nn.ReLU(True),
            ReflectionPad(1), nn.Conv2d(width, 2 * width, 3, stride=2, bias=False), instance_norm(2 * width),
            nn.ReLU(True),
            ReflectionPad(1), nn.Conv2d(2 * width, channels, 3, stride=2, bias=False), instance_norm(channels),
            nn.ReLU(True),
            *[ResnetBlock(channels) for _ in range(n_blocks)],
        )
        self.cam = ChannelAttention(channels, nn.ReLU(True), shared_cam_classifier, tf_biases)
        self.gamma_beta = GammaBetaMLP(channels, mlp_grid, tf_biases)
        self.blocks = nn.ModuleList(AdaLINResnetBlock(channels, unbiased_variance) for _ in range(n_blocks))
        self.decoder = nn.Sequential(
            upsample_block(channels, 2 * width, unbiased_variance), upsample_block(2 * width, width, unbiased_variance),
            ReflectionPad(3), nn.Conv2d(width, out_channels, 7, bias=False), nn.Tanh(),
        )

    def forward(self, x: Tensor) -> CAMOutput:
        """(image, CAM logits [N, 2], heat-map [N, 1, H/4, W/4]) for x [N, C, H, W], H and W multiples of 4."""
        features, cam_logits, heatmap = self.cam(self.encoder(x))
        gamma, beta = self.gamma_beta(features)
        for block in self.blocks:
            features = block(features, gamma, beta)
        return CAMOutput(self.decoder(features), cam_logits, heatmap)


class UGATITDiscriminator(nn.Module):
    """Spectrally normalised patch discriminator with CAM attention.

    n_layers counts as in the reference: n_layers − 2 reflect-padded 4x4 stride-2 convolutions (width,
    doubling), one stride-1 4x4 convolution (doubling again), CAM attention, and a 4x4 convolution to one
    channel. The global discriminator of the paper has 7 layers (5 downsamplings), the local one 5 (3).
    All convolutions but the CAM fusion and the classifier are spectrally normalised.

    `tf_biases` gives the CAM classifier and the output convolution biases (TensorFlow code; PyTorch has
    none); `init_std` draws every weight from N(0, init_std) before spectral norm (TensorFlow: 0.02),
    None keeps torch's default initialisation (PyTorch code); `raw_cam_weights` weights the attention's
    channels by the CAM classifier's unnormalised weight (see `ChannelAttention`).
    """

    def __init__(self, in_channels: int = 3, width: int = 64, n_layers: int = 5,
                 shared_cam_classifier: bool = True, tf_biases: bool = True, init_std: float | None = 0.02,
                 raw_cam_weights: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, c_out = in_channels, width
        for _ in range(n_layers - 2):
            layers += [ReflectionPad(1), nn.Conv2d(c_in, c_out, 4, stride=2), nn.LeakyReLU(0.2, True)]
            c_in, c_out = c_out, 2 * c_out
        layers += [ReflectionPad(1), nn.Conv2d(c_in, c_out, 4), nn.LeakyReLU(0.2, True)]
        self.features = nn.Sequential(*layers)
        self.cam = ChannelAttention(c_out, nn.LeakyReLU(0.2, True), shared_cam_classifier, tf_biases, raw_cam_weights)
        self.head = nn.Sequential(ReflectionPad(1), nn.Conv2d(c_out, 1, 4, bias=tf_biases))
        if init_std is not None:
            init_weights(self, "normal", init_std)
        for module in [*self.features, *self.cam.classifiers, *self.head]:
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                spectral_norm(module)

    def forward(self, x: Tensor) -> CAMOutput:
        features, cam_logits, heatmap = self.cam(self.features(x))
        return CAMOutput(self.head(features), cam_logits, heatmap)


def min_discriminator_input(n_layers: int) -> int:
    """Smallest image side the discriminator takes: its last two reflect-padded 4x4 convolutions need a
    map of at least 3 px after the n_layers − 2 halvings."""
    return 3 * 2 ** (n_layers - 2)


def heatmap_image(heatmap: Tensor, size: tuple[int, int]) -> Tensor:
    """Heat-maps [N, 1, h, w] as images [N, 1, *size] in [0, 1]: enlarged bilinearly, then min-max
    normalised per image."""
    return normalise_per_image(enlarge_heatmap(heatmap, size))


def enlarge_heatmap(heatmap: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(heatmap.float(), size=tuple(size), mode="bilinear", align_corners=False)


def normalise_per_image(heatmap: Tensor) -> Tensor:
    """Min-max normalise each map of [N, 1, H, W] to [0, 1] (a constant map becomes 0)."""
    low = heatmap.amin((1, 2, 3), keepdim=True)
    high = heatmap.amax((1, 2, 3), keepdim=True)
    return ((heatmap - low) / (high - low).clamp_min(1e-8)).clamp(0, 1)
