"""The feature split of Singh et al. (CVPR 2020, "Don't Judge an Object by Its Context: Learning to
Overcome Contextual Bias"), a training option against leaning on context.

Their idea: give the network two feature subspaces, x_o and x_s. On a training image where a biased
object b appears *without* its usual context c (an *exclusive* image), x_s gets no gradient, so
whatever the network learns from that image to recognise b must go through x_o: x_o becomes a
representation of the object that does not need its context, while on every other image both halves
learn together. At test time the model uses both halves unchanged. Exclusive images are few, so the
loss of b on them is weighted up.

How it is adapted to this library's models (Singh et al. split the 2048-d pooled feature of a
ResNet-50 in front of one linear classifier; the graph heads here read two feature maps):

- the split is on the channels of both maps the head reads (layer3 and layer4 of the backbone): the
  first half of each is x_o, the second x_s;
- on an exclusive image, x_s is replaced by the mean x_s of the batch's non-exclusive images,
  detached (on all of it when every image is exclusive), so no gradient from that image reaches the
  backbone through x_s and the head sees a constant there. Their public re-implementation ([Re],
  Kim et al., 2021) uses the mean over the last ten batches; one batch keeps the step stateless;
- the loss of b on its exclusive images is weighted by sqrt(co-occur / exclusive), the counts of b's
  training images with and without c (the weight the [Re] implementation uses);
- Singh et al. also freeze the classifier weights of b that read x_s on exclusive images; here every
  head weight that reads x_s sees only the constant mean on those images, so it can learn at most an
  offset from them;
- the pairs (b, c) are chosen from the training labels by ``data.biased_pairs`` (highest P(c | b));
  Singh et al. choose them with a trained model's scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dbdgcn_lib.data.context_pairs import biased_pairs
from dbdgcn_lib.graph import cooccurrence


@dataclass(frozen=True)
class FeatureSplit:
    """The training option: ``pairs`` (object column, context column) and each object's loss ``weights``
    on its exclusive images. ``FeatureSplit.from_labels(train_labels)`` chooses both."""

    pairs: tuple[tuple[int, int], ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.pairs or len(self.weights) != len(self.pairs):
            raise ValueError(
                f"{len(self.pairs)} pairs and {len(self.weights)} weights: give one weight per pair"
            )
        if any(b == c or min(b, c) < 0 for b, c in self.pairs) or any(w <= 0 for w in self.weights):
            raise ValueError("pairs are two distinct non-negative columns, weights positive")

    @classmethod
    def from_labels(cls, labels, *, min_probability: float = 0.5, min_exclusive: int = 1) -> FeatureSplit:
        """Every pair of ``data.biased_pairs`` on the training ``labels`` (N, C) with P(c | b) >=
        ``min_probability`` and ``min_exclusive`` exclusive images; weight sqrt(co-occur / exclusive).
        On the embedded train split: 13 pairs, from traffic light / car (P = 0.81) to bird / person."""
        nums, counts = cooccurrence(np.asarray(labels))
        names = [str(k) for k in range(len(nums))]
        chosen = biased_pairs(
            nums, counts, names, top=None, min_exclusive=min_exclusive, min_probability=min_probability
        )
        if not chosen:
            raise ValueError(
                f"no (object, context) pair has P(context | object) >= {min_probability} and "
                f"{min_exclusive} exclusive images in these labels: lower the limits"
            )
        return cls(
            tuple((p.object_index, p.context_index) for p in chosen),
            tuple(float(np.sqrt(p.cooccur_images / p.exclusive_images)) for p in chosen),
        )

    def exclusive(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, P) bool: image b holds pair p's object without its context."""
        objects = targets[:, [b for b, _ in self.pairs]] > 0.5
        contexts = targets[:, [c for _, c in self.pairs]] > 0.5
        return objects & ~contexts

    def loss_weights(self, targets: torch.Tensor) -> torch.Tensor:
        """(B, C) float32: ``weights[p]`` at (image, object of p) where the image is exclusive for p, 1
        elsewhere."""
        weights = torch.ones(targets.shape, dtype=torch.float32, device=targets.device)
        exclusive = self.exclusive(targets)
        for p, ((b, _), weight) in enumerate(zip(self.pairs, self.weights)):
            weights[exclusive[:, p], b] = weight
        return weights

    def __call__(self, model, images: torch.Tensor, targets: torch.Tensor) -> dict:
        """The model's outputs on ``images`` (B, 3, H, W) in training, with x_s of the exclusive images
        replaced by the detached mean of the others' (``model`` has ``forward_features`` and
        ``forward_head``, as ``MultiLabelGCN``)."""
        rows = self.exclusive(targets).any(dim=1)
        x3, x4 = model.forward_features(images)
        return model.forward_head(split_context(x3, rows), split_context(x4, rows))


def split_context(features: torch.Tensor, exclusive: torch.Tensor) -> torch.Tensor:
    """features (B, K, H, W), exclusive (B,) bool -> the same features, except that on the exclusive
    rows the second half of the channels (x_s) is the detached mean of the other rows' x_s."""
    if not exclusive.any():
        return features
    half = features.shape[1] // 2
    context = features[:, half:]
    others = context[~exclusive] if not exclusive.all() else context
    mean = others.detach().mean(dim=0, keepdim=True).expand_as(context)
    replaced = torch.where(exclusive[:, None, None, None], mean, context)
    return torch.cat([features[:, :half], replaced], dim=1)
