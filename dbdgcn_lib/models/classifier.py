"""The per-class classifier every head ends with: one binary classifier per class on its own features."""

from __future__ import annotations

import torch
from torch import nn


class PerClassLinear(nn.Module):
    """One binary classifier per class on its own node: ``s_r[c] = w_c . Z[:, c] + b_c``.

    Z (B, D, C) -> (B, C). ADD-GCN computes all C x C products with ``Conv1d(D, C)`` and keeps the
    diagonal; this computes the diagonal only (same ``C*D + C`` parameters). Query2Label's
    ``GroupWiseLinear`` on its decoded queries is the same layer.
    """

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        self.bias = nn.Parameter(torch.empty(num_classes))
        bound = dim**-0.5  # nn.Conv1d / nn.Linear's default range
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bdc,cd->bc", z, self.weight) + self.bias
