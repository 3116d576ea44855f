"""The CNN trunk of every variant: a ResNet without its pooling and ImageNet classifier.

It returns two scales: ``x3`` from layer3 (stride 16: (B, 1024, 28, 28) for ResNet-101 at 448) and
``x4`` from layer4 (stride 32: (B, 2048, 14, 14)). layer4 is coarser but more semantic; layer3
keeps more spatial detail for small objects, which is what the multi-scale SAM adds.
"""

from __future__ import annotations

import torch
from torch import nn

from dbdgcn_lib.models import resnet as resnets

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "tiny")


def _out_channels(stage: nn.Sequential) -> int:
    last = stage[-1]
    return (last.bn3 if isinstance(last, resnets.Bottleneck) else last.bn2).num_features


class Backbone(nn.Module):
    """Wraps a ``ResNet``; keeps its stem and layer1-4 under the same names (``backbone.layer4...``).

    ``.channels`` = (c3, c4), the channels of layer3 and layer4 (1024, 2048 for ResNet-50/101).
    """

    def __init__(self, net: resnets.ResNet):
        super().__init__()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        self.channels = (_out_channels(net.layer3), _out_channels(net.layer4))

    @classmethod
    def from_name(cls, name: str, weights=None, progress: bool = True) -> Backbone:
        """``name`` in ``BACKBONES``; ``weights`` as for ``resnet101`` (None for ``tiny``)."""
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; choose from {BACKBONES}")
        if name == "tiny":
            if weights is not None:
                raise ValueError("the tiny backbone has no pretrained weights; use pretrained=False")
            return cls(resnets.tiny_resnet())
        return cls(getattr(resnets, name)(weights=weights, progress=progress))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> x3 (B, c3, H/16, W/16), x4 (B, c4, H/32, W/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x3 = self.layer3(self.layer2(self.layer1(x)))
        return x3, self.layer4(x3)
