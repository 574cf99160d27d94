"""PyTorch transcriptions of the reference networks, written from their published specifications.

They exist to check keras_fwi against PyTorch (same weights in, same outputs out) and to benchmark
against PyTorch; their ``state_dict`` keys are the reference checkpoints' keys, so a checkpoint
trained with the reference code loads into them. Needs the ``torch`` extra
(``pip install "keras_fwi[torch]"``).

Input shape: ``(batch, shots, time, receivers)``; output ``(batch, 1, depth, width)``.
"""

from __future__ import annotations

import math

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError('keras_fwi.models.torch_reference needs PyTorch: pip install "keras_fwi[torch]"') from error

__all__ = ["FCNVMB", "InversionNet"]


class _Block(nn.Module):
    """(Transposed) conv → BatchNorm → activation, stored as ``layers`` like OpenFWI's ConvBlock."""

    def __init__(self, conv: nn.Module, channels: int, activation: nn.Module):
        super().__init__()
        self.layers = nn.Sequential(conv, nn.BatchNorm2d(channels), activation)

    def forward(self, x):
        return self.layers(x)


def _conv_block(in_ch, out_ch, kernel_size=3, stride=1, padding=1, activation=None):
    conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding)
    return _Block(conv, out_ch, activation if activation is not None else nn.LeakyReLU(0.2))


def _deconv_block(in_ch, out_ch, kernel_size, stride=1, padding=0):
    return _Block(nn.ConvTranspose2d(in_ch, out_ch, kernel_size, stride, padding), out_ch, nn.LeakyReLU(0.2))


class InversionNet(nn.Module):
    """OpenFWI's InversionNet: 5 × 1000 × 70 seismic → 1 × 70 × 70 velocity in [-1, 1] at defaults."""

    def __init__(self, shots=5, receivers=70, widths=(32, 64, 128, 256, 512), code_time=8):
        super().__init__()
        d1, d2, d3, d4, d5 = widths
        self.convblock1 = _conv_block(shots, d1, (7, 1), (2, 1), (3, 0))
        self.convblock2_1 = _conv_block(d1, d2, (3, 1), (2, 1), (1, 0))
        self.convblock2_2 = _conv_block(d2, d2, (3, 1), 1, (1, 0))
        self.convblock3_1 = _conv_block(d2, d2, (3, 1), (2, 1), (1, 0))
        self.convblock3_2 = _conv_block(d2, d2, (3, 1), 1, (1, 0))
        self.convblock4_1 = _conv_block(d2, d3, (3, 1), (2, 1), (1, 0))
        self.convblock4_2 = _conv_block(d3, d3, (3, 1), 1, (1, 0))
        self.convblock5_1 = _conv_block(d3, d3, stride=2)
        self.convblock5_2 = _conv_block(d3, d3)
        self.convblock6_1 = _conv_block(d3, d4, stride=2)
        self.convblock6_2 = _conv_block(d4, d4)
        self.convblock7_1 = _conv_block(d4, d4, stride=2)
        self.convblock7_2 = _conv_block(d4, d4)
        self.convblock8 = _conv_block(d4, d5, (code_time, math.ceil(receivers / 8)), padding=0)
        self.deconv1_1 = _deconv_block(d5, d5, 5)
        self.deconv1_2 = _conv_block(d5, d5)
        self.deconv2_1 = _deconv_block(d5, d4, 4, 2, 1)
        self.deconv2_2 = _conv_block(d4, d4)
        self.deconv3_1 = _deconv_block(d4, d3, 4, 2, 1)
        self.deconv3_2 = _conv_block(d3, d3)
        self.deconv4_1 = _deconv_block(d3, d2, 4, 2, 1)
        self.deconv4_2 = _conv_block(d2, d2)
        self.deconv5_1 = _deconv_block(d2, d1, 4, 2, 1)
        self.deconv5_2 = _conv_block(d1, d1)
        self.deconv6 = _conv_block(d1, 1, activation=nn.Tanh())

    def forward(self, x):
        for name, module in self.named_children():
            if name == "deconv6":
                x = x[:, :, 5:-5, 5:-5]  # 80×80 → 70×70
            x = module(x)
        return x


class _UNetStage(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, 1, 1), nn.BatchNorm2d(out_ch), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(out_ch, out_ch, 3, 1, 1), nn.BatchNorm2d(out_ch), nn.ReLU())

    def forward(self, x):
        return self.conv2(self.conv1(x))


class _Down(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = _UNetStage(in_ch, out_ch)
        self.down = nn.MaxPool2d(2, 2, ceil_mode=True)

    def forward(self, x):
        return self.down(self.conv(x))


class _Up(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = _UNetStage(in_ch, out_ch)
        self.up = nn.ConvTranspose2d(in_ch, out_ch, 2, 2)

    def forward(self, skip, deeper):
        upsampled = self.up(deeper)
        rows = upsampled.shape[2] - skip.shape[2]
        cols = upsampled.shape[3] - skip.shape[3]
        skip = F.pad(skip, [cols // 2, (cols + 1) // 2, rows // 2, (rows + 1) // 2])
        return self.conv(torch.cat([skip, upsampled], 1))


class FCNVMB(nn.Module):
    """FCNVMB's U-Net: 29 × 400 × 301 seismic → 1 × 201 × 301 velocity at defaults."""

    def __init__(self, shots=29, velocity_shape=(201, 301), filters=(64, 128, 256, 512, 1024)):
        super().__init__()
        self.velocity_shape = tuple(velocity_shape)
        self.down1 = _Down(shots, filters[0])
        self.down2 = _Down(filters[0], filters[1])
        self.down3 = _Down(filters[1], filters[2])
        self.down4 = _Down(filters[2], filters[3])
        self.center = _UNetStage(filters[3], filters[4])
        self.up4 = _Up(filters[4], filters[3])
        self.up3 = _Up(filters[3], filters[2])
        self.up2 = _Up(filters[2], filters[1])
        self.up1 = _Up(filters[1], filters[0])
        self.final = nn.Conv2d(filters[0], 1, 1)

    def forward(self, x):
        down1 = self.down1(x)
        down2 = self.down2(down1)
        down3 = self.down3(down2)
        down4 = self.down4(down3)
        x = self.up4(down4, self.center(down4))
        x = self.up3(down3, x)
        x = self.up2(down2, x)
        x = self.up1(down1, x)
        depth, width = self.velocity_shape
        return self.final(x[:, :, 1:1 + depth, 1:1 + width])
