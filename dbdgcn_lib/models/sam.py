"""Semantic attention module (SAM, from ADD-GCN): a feature map -> one feature vector per class.

For one scale with features X (B, c, H, W)::

    M  = conv1x1(X)           (B, C, H, W)  class activation maps: where does class c look present?
    X' = conv1x1(X)           (B, D, H, W)  features projected to D channels
    V  = X' . sigmoid(M)^T    (B, D, C)     column c = the features pooled where class c is

V is "content-aware": each class gets a descriptor of *this image's* evidence for it, the nodes
of the label graph. ``s_m`` (the adaptive score) is the spatial max of the pre-sigmoid M.
"""

from __future__ import annotations

import torch
from torch import nn


class SemanticAttention(nn.Module):
    """SAM on one scale: (B, c, H, W) -> V (B, D, C) and activation maps M (B, C, H, W).

    ``normalize=True`` divides V by H*W (attention-weighted *mean* over positions instead of
    ADD-GCN's sum). ADD-GCN's sum grows with the map size; with two scales that would weight layer3
    (28x28) four times more than layer4 (14x14) before any learning, so the multi-scale model
    normalises both scales by their own H*W (the paper is silent; switch ``sam_normalize``).

    Parameters: ``C*c`` (maps, no bias, as ADD-GCN) + ``D*c + D`` (projection).
    """

    def __init__(self, in_channels: int, num_classes: int, embed_dim: int = 1024, normalize: bool = False):
        super().__init__()
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=1, bias=False)
        self.transform = nn.Conv2d(in_channels, embed_dim, kernel_size=1)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, c, H, W) -> V (B, D, C), M (B, C, H, W) (pre-sigmoid).

        Computed as ``W_t (X . sigmoid(M)^T) + b_t * sum_hw sigmoid(M)``: the 1x1 projection is linear,
        so pooling first and projecting C vectors gives the same V as projecting all H*W positions
        and then pooling, at a fraction of the FLOPs (ResNet-101 at 448: 0.35 instead of 1.3 GMAC).
        """
        maps = self.classifier(x)
        attention = torch.sigmoid(maps)
        pooled = torch.einsum("bkhw,bchw->bkc", x, attention)  # (B, c, C)
        weight = self.transform.weight.flatten(1)  # (D, c)
        v = torch.einsum("dk,bkc->bdc", weight, pooled)
        v = v + self.transform.bias[:, None] * attention.sum(dim=(2, 3))[:, None, :]
        if self.normalize:
            v = v / (x.shape[2] * x.shape[3])
        return v, maps


def max_score(maps: torch.Tensor) -> torch.Tensor:
    """s_m for one scale: (B, C, H, W) -> (B, C), each class's strongest response anywhere (top-1)."""
    return maps.amax(dim=(2, 3))
