"""Residual networks written from their blocks (He et al., 2016), key-for-key like torchvision.

A residual block learns a correction ``F(x)`` to its input: ``y = relu(F(x) + shortcut(x))``. The
shortcut is the identity, or a strided 1x1 conv + BN (``downsample``) when the shape changes.
Attribute names match ``torchvision.models.resnet`` exactly (``conv1``, ``bn1``, ``layer1.0.conv2``,
``layer1.0.downsample.0`` ...), so torchvision's ImageNet ``state_dict`` loads with ``strict=True``.
Like torchvision (ResNet v1.5), a Bottleneck strides in its 3x3 conv, not its first 1x1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models as tv_models
from torchvision.models._api import WeightsEnum


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be downloaded; ``.path`` is where to put the file by hand."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34): (B, inplanes, H, W) -> (B, planes, H/stride, W/stride)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand x4 (ResNet-50/101): -> (B, 4 planes, H/stride, W/stride)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max pool), four stages of blocks, global average pool, ``fc``.

    ``layers`` = blocks per stage, ``widths`` = planes per stage (stage 2-4 stride 2). For a
    448x448 input: layer1 112x112, layer2 56, layer3 28, layer4 14 (stride 32).
    """

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        *,
        num_classes: int = 1000,
        widths: Sequence[int] = (64, 128, 256, 512),
    ):
        super().__init__()
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        stage = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        stage += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, num_classes) ImageNet logits."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resolve_weights(weights, enum_cls: type[WeightsEnum]) -> WeightsEnum | None:
    """None, an enum member, or a name ("IMAGENET1K_V1", "DEFAULT", "ResNet101_Weights.IMAGENET1K_V2")."""
    if weights is None:
        return None
    if isinstance(weights, str):
        try:
            return enum_cls.verify(weights)
        except KeyError:
            names = [w.name for w in enum_cls] + ["DEFAULT"]
            raise ValueError(
                f"unknown weights {weights!r} for {enum_cls.__name__}; choose from {names}"
            ) from None
    return enum_cls.verify(weights)  # TypeError for another model's enum


def checkpoint_path(weights: WeightsEnum) -> str:
    """Where torch hub caches (and looks for) the file of ``weights``: ``<hub dir>/checkpoints/<name>``."""
    filename = os.path.basename(urlparse(weights.url).path)
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def load_pretrained(model: ResNet, weights: WeightsEnum, progress: bool = True) -> None:
    """Load ``weights`` through torchvision's weights API (download once, then the hub cache), strictly.

    Offline with no cached file this raises ``WeightsUnavailableError`` naming the exact path to
    place the checkpoint at, rather than ever leaving the backbone silently random.
    """
    try:
        state_dict = weights.get_state_dict(progress=progress, check_hash=True)
    except OSError as err:  # urllib.error.URLError (no network), HTTPError, socket errors
        path = checkpoint_path(weights)
        raise WeightsUnavailableError(
            f"could not download {weights!r} ({err}). Offline? Download {weights.url} on a machine with "
            f"network and place the file at {path} (torch hub's cache; $TORCH_HOME moves it), then rerun.",
            path,
        ) from err
    model.load_state_dict(state_dict, strict=True)


def _resnet(block, layers, weights, enum_cls, progress: bool) -> ResNet:
    weights = resolve_weights(weights, enum_cls)
    num_classes = len(weights.meta["categories"]) if weights is not None else 1000
    model = ResNet(block, layers, num_classes=num_classes)
    if weights is not None:
        load_pretrained(model, weights, progress)
    return model


def resnet18(*, weights=None, progress: bool = True) -> ResNet:
    """ResNet-18 (BasicBlock, [2, 2, 2, 2]); ``weights``: None, a ``ResNet18_Weights`` member or name."""
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, tv_models.ResNet18_Weights, progress)


def resnet34(*, weights=None, progress: bool = True) -> ResNet:
    """ResNet-34 (BasicBlock, [3, 4, 6, 3]); ``weights``: None, a ``ResNet34_Weights`` member or name."""
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, tv_models.ResNet34_Weights, progress)


def resnet50(*, weights=None, progress: bool = True) -> ResNet:
    """ResNet-50 (Bottleneck, [3, 4, 6, 3]); ``weights``: None, a ``ResNet50_Weights`` member or name."""
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, tv_models.ResNet50_Weights, progress)


def resnet101(*, weights=None, progress: bool = True) -> ResNet:
    """ResNet-101 (Bottleneck, [3, 4, 23, 3]); ``weights``: None, a ``ResNet101_Weights`` member or name.

    ``"IMAGENET1K_V1"`` is the checkpoint ML-GCN and ADD-GCN started from (torchvision's old
    ``pretrained=True``); ``"DEFAULT"`` is currently ``IMAGENET1K_V2`` (a newer training recipe).
    """
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, tv_models.ResNet101_Weights, progress)


def tiny_resnet(*, num_classes: int = 1000) -> ResNet:
    """A narrow ResNet-10 from the same BasicBlock (widths 16/32/64/128, one block per stage).

    Same strides as ResNet-101 (layer3 at 1/16, layer4 at 1/32) with 64 / 128 channels: ~0.3 M
    parameters in the trunk, so the whole course runs on a laptop CPU. No pretrained weights exist.
    """
    return ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes, widths=(16, 32, 64, 128))
