"""A smaller TransformerNet for CPUs: narrower, fewer residual blocks, separable convolutions.

Same shape of network as Johnson et al.'s (reflection-padded convolutions, affine instance
norm, stride-2 stages, residual blocks, nearest upsampling then convolution), with the sizes
made parameters so that variants can be measured against each other
(``benchmarks/lite_variants.py``, results in docs/BENCHMARKS.md). The shipped ``lite``
architecture is ``LITE_SPEC``: 16/32/64 channels, no full-resolution convolution (stride-2
3x3 stem, pixel-shuffle output), five separable residual blocks at 1/8 resolution; 82k
parameters and 0.73 GMAC for a 640x360 frame, against TransformerNet's 1.68M and 35 GMAC.

Why separable convolutions only in the residual blocks and the first upsampling stage: those
are where a full 3x3 convolution's cost grows with channels squared. The ends have 3 channels
on one side, where a depthwise split saves little and costs an extra pass over the tensor.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.style_norm import apply_norm, make_norm


@dataclass(frozen=True)
class LiteSpec:
    widths: tuple[int, int, int] = (16, 32, 64)  # channels at full, 1/2 and 1/4 resolution
    res_blocks: int = 3
    separable: bool = True  # depthwise + pointwise convolutions in the residual blocks
    first_kernel: int = 9
    last_kernel: int = 9
    # True: no convolution at full resolution. The first convolution has stride 2, the
    # encoder has three stride-2 stages, and the decoder ends at half resolution with 12
    # channels that a pixel shuffle turns into full-resolution RGB. Full-resolution
    # convolutions with 3 channels on one side are what the CPU is slowest at (measured in
    # benchmarks/lite_variants.py): im2col of a 9x9 kernel over a 640x360 frame is hundreds of
    # MB of memory traffic for a handful of multiply-adds per byte.
    half_res_ends: bool = False

    def to_json(self) -> dict[str, object]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


LITE_SPEC = LiteSpec((16, 32, 64), 5, True, 3, 3, True)
# Three stride-2 stages: 16 px leaves the residual blocks 2x2, the least instance norm can
# normalise (it needs more than one value per channel). Written into the exported model.
LITE_MIN_SIDE = 16

# The last convolution works in units of about one pixel standard deviation around mid-grey.
# Raw [0, 255] outputs (as in TransformerNet) make Adam, whose steps are about lr per weight
# whatever the gradient's size, spend its first thousand steps growing the output to the
# image's range; the lite network's last layer has 18x fewer inputs than TransformerNet's, so
# it would be slower still (docs/BENCHMARKS.md, "Measurements moved from the code").
OUTPUT_SCALE = 64.0
OUTPUT_OFFSET = 127.5


class _Conv(nn.Module):
    """Reflection padding then a convolution; ``separable`` makes it depthwise + pointwise."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, separable: bool = False
    ) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        if separable:
            self.depthwise = nn.Conv2d(cin, cin, kernel, stride, groups=cin)
            self.pointwise = nn.Conv2d(cin, cout, 1)
        else:
            self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.separable = separable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad(x)
        if self.separable:
            return self.pointwise(self.depthwise(x))
        return self.conv(x)


class _Residual(nn.Module):
    def __init__(self, channels: int, separable: bool, num_styles: int | None = None) -> None:
        super().__init__()
        self.conv1 = _Conv(channels, channels, 3, separable=separable)
        self.in1 = make_norm(channels, num_styles)
        self.conv2 = _Conv(channels, channels, 3, separable=separable)
        self.in2 = make_norm(channels, num_styles)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        y = F.relu(apply_norm(self.in1, self.conv1(x), style))
        return apply_norm(self.in2, self.conv2(y), style) + x


class LiteTransformerNet(nn.Module):
    """Float RGB [0, 255] NCHW in, same size out, like ``TransformerNet``; ``num_styles`` None:
    one style, N: a multi-style network whose forward takes (N, styles) mixing weights beside
    the image (``models.style_norm``). A single-style network's norms are the plain
    ``nn.InstanceNorm2d`` they always were, so its state_dict keys and shapes are unchanged."""

    def __init__(self, spec: LiteSpec = LITE_SPEC, num_styles: int | None = None) -> None:
        super().__init__()
        c1, c2, c3 = spec.widths
        self.spec = spec
        self.num_styles = num_styles
        ends_stride = 2 if spec.half_res_ends else 1
        self.conv1 = _Conv(3, c1, spec.first_kernel, stride=ends_stride)
        self.in1 = make_norm(c1, num_styles)
        self.conv2 = _Conv(c1, c2, 3, stride=2)
        self.in2 = make_norm(c2, num_styles)
        self.conv3 = _Conv(c2, c3, 3, stride=2)
        self.in3 = make_norm(c3, num_styles)
        # A Sequential (not a list of blocks) keeps the shipped checkpoints' "res.N." keys.
        self.res = nn.Sequential(
            *(_Residual(c3, spec.separable, num_styles) for _ in range(spec.res_blocks))
        )
        self.up1 = _Conv(c3, c2, 3, separable=spec.separable)
        self.in4 = make_norm(c2, num_styles)
        self.up2 = _Conv(c2, c1, 3)
        self.in5 = make_norm(c1, num_styles)
        self.out = _Conv(c1, 3 * ends_stride**2, spec.last_kernel)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        y1 = F.relu(apply_norm(self.in1, self.conv1(x), style))
        y2 = F.relu(apply_norm(self.in2, self.conv2(y1), style))
        y = F.relu(apply_norm(self.in3, self.conv3(y2), style))
        for block in self.res:
            y = block(y, style)
        # Upsampling to the encoder stages' exact sizes keeps output size == input size.
        y = self.up1(F.interpolate(y, size=y2.shape[-2:], mode="nearest"))
        y = F.relu(apply_norm(self.in4, y, style))
        y = self.up2(F.interpolate(y, size=y1.shape[-2:], mode="nearest"))
        y = F.relu(apply_norm(self.in5, y, style))
        y = self.out(y) * OUTPUT_SCALE + OUTPUT_OFFSET
        if self.spec.half_res_ends:
            # 2 * ceil(side / 2) >= side: drop the extra row/column of odd sizes.
            y = F.pixel_shuffle(y, 2)[:, :, : x.shape[-2], : x.shape[-1]]
        return y
