"""Label co-occurrence statistics and the static graph prior of ML-GCN (Chen et al., CVPR 2019).

The pipeline, for a training label matrix ``labels`` (N images, C classes, 0/1)::

    nums, counts = cooccurrence(labels)        # (C,), (C, C): how often i, and i with j
    P = conditional_probability(nums, counts)  # P[i, j] = P(j | i)
    A = static_adjacency(nums, counts)         # binarise at tau, re-weight with p

Convention used everywhere in the library: **row i of an adjacency matrix holds what node i
aggregates**, i.e. a graph layer computes ``h_i' = sum_j A[i, j] h_j``. For the co-occurrence prior,
node i (say "fork") listens to the classes that tend to be present when it is (``P(j | i)`` high): the
ML-GCN paper's direction. ML-GCN's released code propagates the transpose (node i listens to j when
i is usually present with j, ``P(i | j)`` high); ``static_adjacency(convention=...)`` builds either.
"""

from __future__ import annotations

import numpy as np
import torch

from dbdgcn_lib.checks import PROBABILITY, choice

ADJACENCY_CONVENTIONS = ("paper", "ml_gcn_code")


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def cooccurrence(labels) -> tuple[np.ndarray, np.ndarray]:
    """Count classes and pairs of classes over a label matrix.

    ``labels``: (N, C) 0/1 (numpy or torch, any dtype). Returns ``nums`` (C,) int64, the number of
    images holding class i, and ``counts`` (C, C) int64, the number holding both i and j, with a
    zero diagonal (a class trivially co-occurs with itself; the prior handles self-loops apart).
    """
    y = _as_numpy(labels)
    if y.ndim != 2:
        raise ValueError(f"labels must be (N, C), got shape {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must hold only 0 and 1")
    y = y.astype(np.float64)  # BLAS matmul; float64 counts are exact far beyond any dataset size
    nums = y.sum(axis=0).round().astype(np.int64)
    counts = (y.T @ y).round().astype(np.int64)
    np.fill_diagonal(counts, 0)
    return nums, counts


def conditional_probability(nums, counts) -> np.ndarray:
    """``P[i, j] = P(j | i) = counts[i, j] / nums[i]`` (C, C) float64.

    A class that never occurs (``nums[i] == 0``) has no evidence about its neighbours: its row is 0
    (not NaN). The matrix is not symmetric: P(person | skis) is high, P(skis | person) low.
    """
    nums = _as_numpy(nums).astype(np.float64)
    counts = _as_numpy(counts).astype(np.float64)
    if counts.shape != (nums.shape[0], nums.shape[0]):
        raise ValueError(f"counts must be (C, C) with C = len(nums) = {nums.shape[0]}, got {counts.shape}")
    denom = np.where(nums > 0, nums, 1.0)[:, None]
    return np.where(nums[:, None] > 0, counts / denom, 0.0)


def unseen_pairs(labels, counts, focus) -> np.ndarray:
    """(N,) bool: whether image n holds another label j that never appeared with its ``focus[n]`` in
    the images ``counts`` was counted on (``counts[j, focus[n]] == 0``): a pair a static prior has no
    edge for, such as a ``rare`` image's intruder with an object of its scene.

    ``labels``: (N, C) 0/1; ``counts``: (C, C) from ``cooccurrence`` (of the training split);
    ``focus``: (N,) one class index per image.
    """
    y = _as_numpy(labels).astype(bool)
    counts = _as_numpy(counts)
    focus = _as_numpy(focus).astype(np.int64)
    if y.ndim != 2 or counts.shape != (y.shape[1], y.shape[1]) or focus.shape != (y.shape[0],):
        raise ValueError(
            f"need labels (N, C), counts (C, C) and focus (N,); got {y.shape}, {counts.shape}, {focus.shape}"
        )
    if focus.size and (focus.min() < 0 or focus.max() >= y.shape[1]):
        raise ValueError(f"focus holds class indices in [0, {y.shape[1]}), got {focus.min()}..{focus.max()}")
    others = y.copy()
    others[np.arange(len(focus)), focus] = False
    never = counts[:, focus].T == 0  # [n, j]: j never seen with focus[n]
    return (others & never).any(axis=1)


def static_adjacency(
    nums, counts, tau: float = 0.4, p: float = 0.2, *, convention: str = "paper"
) -> np.ndarray:
    """ML-GCN's re-weighted binary correlation matrix (C, C) float32; row i = what node i aggregates.

    1. Binarise: ``B[i, j] = 1`` when ``P(j | i) >= tau`` (``>=``, as ML-GCN's released code does), j != i.
       Rare co-occurrences are noise, and a binary graph does not over-fit the training statistics.
    2. Re-weight (ML-GCN eq. 8): node i gives mass ``p`` to its neighbours, shared equally
       (``A[i, j] = p / sum_j B[i, j]``), and ``1 - p`` to itself. Every row sums to 1, so a graph
       layer averages instead of growing the features, and ``p`` bounds over-smoothing.

    ``convention`` is the direction of step 1:

    - ``"paper"`` (ML-GCN's equations): node i aggregates from j when ``P(j | i) >= tau``. A common
      class gathers from few others: on COCO at tau 0.4, ``person`` has no neighbour at all.
    - ``"ml_gcn_code"`` (ML-GCN's released code, which normalises column sums and transposes in
      ``gen_adj``): node i aggregates from j when ``P(i | j) >= tau``, the transpose of ``B``; on COCO
      ``person`` then gathers from 55 classes. Both graphs have the same edges, reversed. Step 2 is
      the same for both (the code's own weights, p = 0.25 and diagonal 1, are not reproduced).

    Edge cases:

    - A row with no neighbour above tau keeps only itself with weight **1** (not ``1 - p``): the
      mass ``p`` has nowhere to go, and ``1 - p`` would just shrink that node's features while
      every other row sums to 1. A class that never occurs is such a row, and its column is 0.
    - ``tau = 0``: every pair passes (``P >= 0``), the complete graph, ``p / (C - 1)`` off-diagonal.
    - ``tau = 1``: only pairs where one class is present *every* time the other is (``P = 1``).
    - ``p = 0``: the identity (no message passing); ``p = 1``: nodes ignore themselves.
    """
    PROBABILITY.check("tau", tau)
    PROBABILITY.check("p", p)
    choice(ADJACENCY_CONVENTIONS).check("convention", convention)
    prob = conditional_probability(nums, counts)
    c = prob.shape[0]
    off_diagonal = ~np.eye(c, dtype=bool)
    binary = (prob >= tau) & off_diagonal
    if convention == "ml_gcn_code":
        binary = binary.T
    degree = binary.sum(axis=1, keepdims=True)
    has_neighbour = degree[:, 0] > 0
    adjacency = np.where(binary, p / np.maximum(degree, 1), 0.0)
    np.fill_diagonal(adjacency, np.where(has_neighbour, 1.0 - p, 1.0))
    return adjacency.astype(np.float32)


def normalize_adjacency(adjacency):
    """Symmetric normalisation ``D^-1/2 A D^-1/2`` with ``D = diag(row sums of A)`` (Kipf & Welling).

    Keeps repeated graph layers from scaling features by node degree. A zero row gets
    ``D^-1/2 = 0`` (that node receives nothing) instead of a division by zero. For
    ``static_adjacency``'s output every row sums to 1, so this returns it unchanged; the static GCN
    applies it anyway so a hand-made or raw binary prior is safe too. Accepts numpy or torch and
    returns the same kind (float).
    """
    is_tensor = isinstance(adjacency, torch.Tensor)
    a = adjacency if is_tensor else torch.as_tensor(np.asarray(adjacency, dtype=np.float64))
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"adjacency must be square (C, C), got shape {tuple(a.shape)}")
    a = a if a.is_floating_point() else a.double()
    degree = a.sum(dim=1)
    inv_sqrt = torch.where(degree > 0, degree.clamp_min(torch.finfo(a.dtype).tiny).rsqrt(), 0.0)
    out = inv_sqrt[:, None] * a * inv_sqrt[None, :]
    return out if is_tensor else out.numpy()
