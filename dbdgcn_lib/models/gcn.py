"""Graph convolutions over the class nodes: static, dynamic, and the dual-branch combination.

Node features are kept as (B, D, C): D channels per class node, C nodes, so a 1x1 ``Conv1d(D, D)``
is a weight matrix shared by all nodes. Adjacency convention (as ``dbdgcn_lib.graph``): row i
holds what node i aggregates, ``out[:, :, i] = sum_j A[i, j] x[:, :, j]``. LeakyReLU slope 0.2
everywhere (the paper's "-0.2" is the slope of the negative side).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dbdgcn_lib.graph import normalize_adjacency

NEGATIVE_SLOPE = 0.2
STATIC_GRAPHS = ("cooccurrence", "learned")


def aggregate(adjacency: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Message passing: A (C, C) or (B, C, C), x (B, D, C) -> (B, D, C), node i <- sum_j A[i, j] x_j."""
    if adjacency.ndim == 2:
        return torch.einsum("ij,bdj->bdi", adjacency, x)
    return torch.einsum("bij,bdj->bdi", adjacency, x)


class StaticGCN(nn.Module):
    """One static graph layer, the same graph for every image: V (B, D, C) -> H_s (B, D, C).

    - ``mode="cooccurrence"`` (the paper's main path): ``H_s = LeakyReLU(W_s (V A_s^T))`` with the
      label co-occurrence prior A_s (``graph.static_adjacency``) kept as a buffer (checkpoints carry
      it) after ``normalize_adjacency``. Until ``set_adjacency`` is called it is the identity.
    - ``mode="learned"`` (ADD-GCN): A_s is a trainable ``Conv1d(C, C)`` over the node axis, followed
      by a LeakyReLU as in ADD-GCN's code: ``H_s = LeakyReLU(W_s LeakyReLU(V A_s^T))``. ADD-GCN's
      author found the co-occurrence matrix used directly did worse than learning it.

    Parameters: ``D*D + D`` (W_s), plus ``C*C`` for ``learned``.
    """

    def __init__(self, num_nodes: int, dim: int, mode: str = "cooccurrence", adjacency=None):
        super().__init__()
        if mode not in STATIC_GRAPHS:
            raise ValueError(f"unknown static graph {mode!r}; choose from {STATIC_GRAPHS}")
        self.mode = mode
        self.num_nodes = num_nodes
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        if mode == "learned":
            if adjacency is not None:
                raise ValueError("a learned static graph takes no prior adjacency")
            self.learned_adjacency = nn.Conv1d(num_nodes, num_nodes, kernel_size=1, bias=False)
        else:
            self.register_buffer("adjacency", torch.eye(num_nodes))
            if adjacency is not None:
                self.set_adjacency(adjacency)
        self.weight = nn.Conv1d(dim, dim, kernel_size=1)

    @torch.no_grad()
    def set_adjacency(self, adjacency) -> None:
        """Replace the co-occurrence prior (C, C) (numpy or torch), stored normalised, in place."""
        if self.mode != "cooccurrence":
            raise ValueError("only the co-occurrence static graph has a prior to set")
        a = torch.as_tensor(np.asarray(adjacency) if not isinstance(adjacency, torch.Tensor) else adjacency)
        if tuple(a.shape) != (self.num_nodes, self.num_nodes):
            raise ValueError(f"adjacency must be ({self.num_nodes}, {self.num_nodes}), got {tuple(a.shape)}")
        a = a.detach().to(device="cpu", dtype=torch.float64)
        if not torch.isfinite(a).all() or (a < 0).any():
            raise ValueError("adjacency must be finite and non-negative")
        self.adjacency.copy_(normalize_adjacency(a))

    def matrix(self) -> torch.Tensor:
        """The static graph as (C, C), row i = what node i aggregates (the prior, or the learned weights)."""
        if self.mode == "learned":
            return self.learned_adjacency.weight[:, :, 0]
        return self.adjacency

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        if self.mode == "learned":
            mixed = self.act(self.learned_adjacency(v.transpose(1, 2)).transpose(1, 2))
        else:
            mixed = aggregate(self.adjacency, v)
        return self.act(self.weight(mixed))


class DynamicGCN(nn.Module):
    """Dynamic graph layer (D-GCN): a graph built from each image's own nodes. H (B, D, C) -> Z, A_d.

    ::

        g   = LeakyReLU(BN(W_g mean_nodes(H)))  (B, D, 1)   global context of the image
        H'  = [g broadcast ; H]                 (B, 2D, C)
        A_d = sigmoid(W_A H')^T                 (B, C, C)   values in (0, 1), one graph per image
        Z   = LeakyReLU(W_d LeakyReLU(H A_d^T)) (B, D, C)

    ``A_d[b, i, j]`` = ``sigmoid(w_j . H'_i)``: row i (what node i aggregates) is computed from node
    i's own features and the global vector. This is ADD-GCN's ``matmul(x, dynamic_adj)`` with its
    ``dynamic_adj`` transposed into the library's row convention. The BatchNorm needs batches of
    2+ images in training mode.

    Parameters: ``W_g`` D*D + D, BN 2D, ``W_A`` 2D*C + C, ``W_d`` D*D + D:
    ``2 D^2 + 4 D + 2 D C + C`` in all.
    """

    def __init__(self, dim: int, num_nodes: int):
        super().__init__()
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.global_conv = nn.Conv1d(dim, dim, kernel_size=1)
        self.global_bn = nn.BatchNorm1d(dim)
        self.adjacency_conv = nn.Conv1d(2 * dim, num_nodes, kernel_size=1)
        self.weight = nn.Conv1d(dim, dim, kernel_size=1)

    def build_graph(self, h: torch.Tensor) -> torch.Tensor:
        """H (B, D, C) -> A_d (B, C, C), row i = what node i aggregates."""
        g = self.act(self.global_bn(self.global_conv(h.mean(dim=2, keepdim=True))))
        h_prime = torch.cat([g.expand_as(h), h], dim=1)
        return torch.sigmoid(self.adjacency_conv(h_prime)).transpose(1, 2)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """H (B, D, C) -> Z (B, D, C), A_d (B, C, C)."""
        adjacency = self.build_graph(h)
        z = self.act(self.weight(self.act(aggregate(adjacency, h))))
        return z, adjacency


class DualBranchGCN(nn.Module):
    """The two branches of DB-DGCN on the category representations V (B, D, C).

    - main: ``H = V + StaticGCN(V)``, then ``Z_main, A_d = DynamicGCN(H)`` (the prior guides the
      dynamic graph);
    - auxiliary (``aux_branch=True``): ``Z_aux, A_d' = DynamicGCN'(V)``, V straight into its own
      dynamic graph, no prior, so rare combinations unseen in training statistics keep their
      evidence;
    - fusion: ``Z = V + Z_main + Z_aux`` (residual sum, the paper does not say more).

    With ``static_graph="learned"`` and ``aux_branch=False`` this is exactly ADD-GCN's D-GCN.
    The auxiliary branch adds ``2 D^2 + 4 D + 2 D C + C`` parameters (a ``DynamicGCN``).
    """

    def __init__(
        self,
        dim: int,
        num_nodes: int,
        *,
        static_graph: str = "cooccurrence",
        aux_branch: bool = True,
        adjacency=None,
    ):
        super().__init__()
        self.static = StaticGCN(num_nodes, dim, static_graph, adjacency)
        self.dynamic = DynamicGCN(dim, num_nodes)
        self.aux = DynamicGCN(dim, num_nodes) if aux_branch else None

    def forward(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """V (B, D, C) -> Z (B, D, C), A_d of the main branch (B, C, C), A_d' of the auxiliary or None."""
        h = v + self.static(v)
        z_main, adjacency = self.dynamic(h)
        z = v + z_main
        aux_adjacency = None
        if self.aux is not None:
            z_aux, aux_adjacency = self.aux(v)
            z = z + z_aux
        return z, adjacency, aux_adjacency
