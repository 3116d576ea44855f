"""The full models: a ResNet trunk plus a head, built from a ``ModelConfig``.

Variants (the rows of the paper's Table 1):

- ``resnet``: global max pool over layer4 + one linear layer (ML-GCN's "ResNet-101 GMP" baseline).
- ``add_gcn``: SAM on layer4, learned static graph, one dynamic graph, ``s = (s_r + s_m) / 2``.
- ``db_dgcn``: SAM on layer3 + layer4, co-occurrence static prior, main + auxiliary dynamic
  branches, ``s = alpha s_r + (1 - alpha) s_m`` with alpha = 0.5.

``add_gcn`` and ``db_dgcn`` are the same graph head with different switches, so every ablation
between them is one switch away. Beside them, the attention heads that came after (``query_head``):

- ``q2l``: label queries with self-attention among them (Query2Label's paper: one encoder layer, two
  decoder layers, 4 heads, D = 2048).
- ``ml_decoder``: label queries without self-attention (ML-Decoder: one decoder layer, 8 heads,
  D = 768).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torchvision.models._api import WeightsEnum

from dbdgcn_lib.checks import EMBED_DIM, NUM_CLASSES, PROBABILITY, boolean, choice, integer, number, text
from dbdgcn_lib.graph import cooccurrence, static_adjacency
from dbdgcn_lib.models.backbone import BACKBONES, Backbone
from dbdgcn_lib.models.classifier import PerClassLinear
from dbdgcn_lib.models.gcn import STATIC_GRAPHS, DualBranchGCN
from dbdgcn_lib.models.query_head import LabelQueryHead
from dbdgcn_lib.models.sam import SemanticAttention, max_score

GRAPH_VARIANTS = ("add_gcn", "db_dgcn")
QUERY_VARIANTS = ("q2l", "ml_decoder")
VARIANTS = ("resnet", *GRAPH_VARIANTS, *QUERY_VARIANTS)
#: What each switch may be (``dbdgcn_lib.checks``): a string such as "no" is not a switch's false.
SWITCH_RULES = {
    "multiscale": boolean(),
    "aux_branch": boolean(),
    "static_graph": choice(STATIC_GRAPHS),
    "alpha": PROBABILITY,
    "embed_dim": EMBED_DIM,
    "sam_normalize": boolean(),
    "self_attention": boolean(),
    "num_layers": integer(1, 64),
    "num_heads": integer(1, 256),
    "feedforward_ratio": number(0, 64, open_low=True),
    "encoder_layers": integer(0, 64),
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model's architecture (stored in checkpoints).

    Switches of the graph head and what turning them off costs in parameters
    (c3 = layer3 channels, C = classes, D = ``embed_dim``):

    - ``multiscale``: SAM also on layer3, V = V3 + V4 (sum), s_m = mean of the two maxima.
      Off removes one SAM: ``C*c3 + D*c3 + D`` parameters.
    - ``aux_branch``: the auxiliary dynamic branch on V. Off removes ``2 D^2 + 4 D + 2 D C + C``.
    - ``static_graph``: ``"cooccurrence"`` (a buffer, no parameters) or ``"learned"`` (``+ C*C``).
    - ``alpha``: final ``s = alpha s_r + (1 - alpha) s_m``; no parameters.
    - ``sam_normalize``: V is a mean over positions (divide by H*W) instead of ADD-GCN's sum; no
      parameters.
    - ``embed_dim``: D, the channels of V and of the graph layers.

    Switches of the query head (``q2l``, ``ml_decoder``; counts in ``LabelQueryHead``): ``embed_dim``
    (its width D), ``multiscale`` (layer3 tokens too), ``self_attention`` (among the queries),
    ``num_layers`` (decoder layers), ``num_heads`` (must divide D), ``feedforward_ratio`` (the
    feed-forward width is ``round(ratio * D)``), ``encoder_layers`` (over the tokens, 0: none).

    ``pretrained``: None (random init) or a torchvision weights name such as ``"IMAGENET1K_V1"``.
    For ``resnet`` the head fields are unused; each head ignores the other's fields.
    """

    variant: str = "db_dgcn"
    num_classes: int = 80
    backbone: str = "resnet101"
    pretrained: str | None = None
    multiscale: bool = True
    aux_branch: bool = True
    static_graph: str | None = "cooccurrence"
    alpha: float = 0.5
    embed_dim: int = 1024
    sam_normalize: bool = True
    self_attention: bool = True
    num_layers: int = 2
    num_heads: int = 4
    feedforward_ratio: float = 4.0
    encoder_layers: int = 0

    def __post_init__(self):
        choice(VARIANTS).check("variant", self.variant)
        NUM_CLASSES.check("num_classes", self.num_classes)
        choice(BACKBONES).check("backbone", self.backbone)
        text("a torchvision weights name such as IMAGENET1K_V1", optional=True).check(
            "pretrained", self.pretrained
        )
        rules = dict(SWITCH_RULES)
        if self.variant not in GRAPH_VARIANTS:  # no graph head: no graph to name
            rules["static_graph"] = rules["static_graph"].or_none()
        for name, rule in rules.items():
            rule.check(name, getattr(self, name))
        if self.variant in QUERY_VARIANTS and self.embed_dim % self.num_heads:
            raise ValueError(f"bad num_heads {self.num_heads}: it must divide embed_dim ({self.embed_dim})")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def feedforward_dim(self) -> int:
        """The query head's feed-forward width, ``round(feedforward_ratio * embed_dim)``."""
        return round(self.feedforward_ratio * self.embed_dim)

    @property
    def score_names(self) -> tuple[str, ...]:
        """The scores that differ: ``("s", "s_r", "s_m")`` for the graph heads, ``("s",)`` for the
        one-score heads (``resnet``, the query heads), whose ``s_r`` and ``s_m`` are copies of s."""
        return ("s", "s_r", "s_m") if self.variant in GRAPH_VARIANTS else ("s",)


PRESETS: dict[str, ModelConfig] = {
    "resnet": ModelConfig(
        variant="resnet", multiscale=False, aux_branch=False, static_graph=None, sam_normalize=False
    ),
    "add_gcn": ModelConfig(
        variant="add_gcn", multiscale=False, aux_branch=False, static_graph="learned", sam_normalize=False
    ),
    "db_dgcn": ModelConfig(variant="db_dgcn"),
    # Query2Label's ResNet-101 setting (its README's command): D = 2048, FFN 8192, 4 heads, one
    # encoder and two decoder layers; self-attention among the queries as its paper describes.
    "q2l": ModelConfig(
        variant="q2l", multiscale=False, aux_branch=False, static_graph=None, sam_normalize=False,
        embed_dim=2048, num_heads=4, num_layers=2, feedforward_ratio=4.0, encoder_layers=1,
    ),
    # ML-Decoder's code: D = 768, 8 heads, one decoder layer without self-attention, FFN 2048.
    "ml_decoder": ModelConfig(
        variant="ml_decoder", multiscale=False, aux_branch=False, static_graph=None, sam_normalize=False,
        embed_dim=768, num_heads=8, num_layers=1, feedforward_ratio=2048 / 768, encoder_layers=0,
        self_attention=False,
    ),
}  # fmt: skip
GRAPH_SWITCHES = ("multiscale", "aux_branch", "static_graph", "alpha", "embed_dim", "sam_normalize")
QUERY_SWITCHES = (
    "multiscale", "embed_dim", "self_attention", "num_layers", "num_heads", "feedforward_ratio",
    "encoder_layers",
)  # fmt: skip
SWITCHES = tuple(dict.fromkeys(GRAPH_SWITCHES + QUERY_SWITCHES))
#: The switches each variant takes (``resnet`` has none).
VARIANT_SWITCHES = (
    {"resnet": ()}
    | dict.fromkeys(GRAPH_VARIANTS, GRAPH_SWITCHES)
    | dict.fromkeys(QUERY_VARIANTS, QUERY_SWITCHES)
)


def check_switches(switches: dict, prefix: str = "") -> None:
    """Each switch by name and value (``SWITCH_RULES``); ``prefix`` is put before names in messages.
    Which variant takes which switch is ``build_model``'s check (``VARIANT_SWITCHES``)."""
    unknown = sorted(set(switches) - set(SWITCHES))
    if unknown:
        raise ValueError(f"unknown switch(es) {', '.join(unknown)}: known switches are {', '.join(SWITCHES)}")
    for name, value in switches.items():
        SWITCH_RULES[name].check(prefix + name, value)


class GlobalMaxPoolHead(nn.Module):
    """``resnet`` variant: logits = Linear(GMP(x4)). One score, so ``s_r`` and ``s_m`` are the logits.

    Its ``activation_maps`` are class activation maps (the linear layer applied at every position of
    x4, Zhou et al. 2016); their max is not the logit, since max and linear do not commute.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x3: torch.Tensor, x4: torch.Tensor, return_intermediates: bool = False) -> dict:
        logits = self.fc(x4.amax(dim=(2, 3)))
        out = {"logits": logits, "s_r": logits, "s_m": logits}
        if return_intermediates:
            maps = torch.einsum("bkhw,ck->bchw", x4, self.fc.weight) + self.fc.bias[:, None, None]
            out.update(
                activation_maps=maps,
                dynamic_adjacency=None,
                dynamic_adjacency_aux=None,
                category_features=None,
            )
        return out


class GraphHead(nn.Module):
    """SAM (one or two scales) -> dual-branch GCN -> per-class scores; see ``ModelConfig`` switches."""

    def __init__(self, config: ModelConfig, channels: tuple[int, int], adjacency=None):
        super().__init__()
        c3, c4 = channels
        num_classes, dim = config.num_classes, config.embed_dim
        self.alpha = config.alpha
        self.sam_layer4 = SemanticAttention(c4, num_classes, dim, normalize=config.sam_normalize)
        self.sam_layer3 = (
            SemanticAttention(c3, num_classes, dim, normalize=config.sam_normalize)
            if config.multiscale
            else None
        )
        self.gcn = DualBranchGCN(
            dim,
            num_classes,
            static_graph=config.static_graph,
            aux_branch=config.aux_branch,
            adjacency=adjacency,
        )
        self.classifier = PerClassLinear(dim, num_classes)

    def forward(self, x3: torch.Tensor, x4: torch.Tensor, return_intermediates: bool = False) -> dict:
        v, maps = self.sam_layer4(x4)
        s_m = max_score(maps)
        if self.sam_layer3 is not None:
            v3, maps3 = self.sam_layer3(x3)
            v = v + v3
            s_m = (s_m + max_score(maps3)) / 2
        z, adjacency, aux_adjacency = self.gcn(v)
        s_r = self.classifier(z)
        out = {"logits": self.alpha * s_r + (1.0 - self.alpha) * s_m, "s_r": s_r, "s_m": s_m}
        if return_intermediates:
            out.update(
                activation_maps=maps,
                dynamic_adjacency=adjacency,
                dynamic_adjacency_aux=aux_adjacency,
                category_features=v,
            )
        return out


class MultiLabelGCN(nn.Module):
    """Backbone + head. ``model(x)`` -> dict (see ``forward``); ``model.config`` records the build."""

    def __init__(self, config: ModelConfig, *, adjacency=None):
        super().__init__()
        self.config = config
        self.backbone = Backbone.from_name(config.backbone, weights=config.pretrained)
        if config.variant not in GRAPH_VARIANTS and adjacency is not None:
            raise ValueError(f"the {config.variant} variant has no graph; adjacency must be None")
        if config.variant == "resnet":
            self.head = GlobalMaxPoolHead(self.backbone.channels[1], config.num_classes)
        elif config.variant in QUERY_VARIANTS:
            self.head = LabelQueryHead(
                self.backbone.channels,
                config.num_classes,
                config.embed_dim,
                num_layers=config.num_layers,
                num_heads=config.num_heads,
                feedforward_dim=config.feedforward_dim,
                encoder_layers=config.encoder_layers,
                self_attention=config.self_attention,
                multiscale=config.multiscale,
            )
        else:
            self.head = GraphHead(config, self.backbone.channels, adjacency)

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> x3 (B, c3, H/16, W/16), x4 (B, c4, H/32, W/32)."""
        return self.backbone(x)

    def forward_head(self, x3: torch.Tensor, x4: torch.Tensor, return_intermediates: bool = False) -> dict:
        return self.head(x3, x4, return_intermediates)

    def forward(self, x: torch.Tensor, return_intermediates: bool = False) -> dict:
        """(B, 3, H, W) -> dict: ``logits`` (B, C) = s (apply sigmoid for probabilities), ``s_r``, ``s_m``.

        With ``return_intermediates=True`` also:

        - ``activation_maps`` (B, C, H/32, W/32): pre-sigmoid class maps M of the layer4 scale (the
          one both variants have; sigmoid gives SAM's attention);
        - ``dynamic_adjacency`` (B, C, C): A_d of the main branch, row i = what node i aggregates
          (None for ``resnet``); ``dynamic_adjacency_aux``: the auxiliary branch's, or None;
        - ``category_features`` (B, D, C): V, fused over scales (None for ``resnet``).

        The query heads return their own intermediates instead (``LabelQueryHead.forward``):
        cross-attention maps, the queries' self-attention and the decoded queries.
        """
        x3, x4 = self.forward_features(x)
        return self.forward_head(x3, x4, return_intermediates)

    @torch.no_grad()
    def set_static_adjacency(self, adjacency) -> None:
        """Replace the co-occurrence prior (C, C): ``static_adjacency(*cooccurrence(train_labels))``."""
        if not isinstance(self.head, GraphHead):
            raise ValueError(f"the {self.config.variant} variant has no graph")
        self.head.gcn.static.set_adjacency(adjacency)

    def parameter_count(self, part: str = "all") -> int:
        """Number of parameters of ``"all"``, ``"backbone"`` or ``"head"`` (buffers excluded)."""
        modules = {"all": self, "backbone": self.backbone, "head": self.head}
        if part not in modules:
            raise ValueError(f"part must be one of {tuple(modules)}")
        return sum(p.numel() for p in modules[part].parameters())

    def summary(self) -> str:
        """One line describing the architecture, e.g. for logs and notebook output."""
        c = self.config
        init = f"ImageNet {c.pretrained}" if c.pretrained else "random init"
        parts = [f"{c.variant}: {c.backbone} ({init})"]
        if c.variant == "resnet":
            parts.append("GMP + linear")
        elif c.variant in QUERY_VARIANTS:
            scales = "layer3+layer4" if c.multiscale else "layer4"
            encoder = f"encoder layers {c.encoder_layers}, " if c.encoder_layers else ""
            attention = "on" if c.self_attention else "off"
            parts += [
                f"{c.num_classes} label queries on {scales} tokens, D={c.embed_dim}",
                f"{encoder}decoder layers {c.num_layers}, query self-attention {attention}, "
                f"{c.num_heads} heads, FFN {c.feedforward_dim}",
            ]
        else:
            prior = ""
            if c.static_graph == "cooccurrence":
                eye = torch.eye(c.num_classes, device=self.head.gcn.static.adjacency.device)
                is_eye = self.head.gcn.static.adjacency.is_meta or torch.equal(
                    self.head.gcn.static.adjacency, eye
                )
                prior = " (prior not set: identity)" if is_eye else " (prior set)"
            scales = "layer3+layer4" if c.multiscale else "layer4"
            pooling = "mean" if c.sam_normalize else "sum"
            branches = "main + aux" if c.aux_branch else "main"
            parts += [
                f"SAM {scales} -> D={c.embed_dim} ({pooling} over positions)",
                f"static graph {c.static_graph}{prior}",
                f"dynamic GCN {branches}",
                f"s = {c.alpha:g} s_r + {1 - c.alpha:g} s_m",
            ]
        parts += [f"{c.num_classes} classes", f"{self.parameter_count() / 1e6:.2f}M parameters"]
        return " | ".join(parts)


def _weights_name(pretrained, backbone: str) -> str | None:
    """``pretrained`` (False/None, True, a name or a weights enum) -> the name stored in the config."""
    if pretrained is None or pretrained is False:
        return None
    if backbone == "tiny":
        raise ValueError("the tiny backbone has no pretrained weights; use pretrained=False")
    if pretrained is True:
        return "IMAGENET1K_V1"  # what torchvision's old pretrained=True gave ML-GCN and ADD-GCN
    if isinstance(pretrained, WeightsEnum):
        expected = f"ResNet{backbone.removeprefix('resnet')}_Weights"
        if type(pretrained).__name__ != expected:
            raise TypeError(f"{pretrained!r} are not weights for {backbone} (expected {expected})")
        return pretrained.name
    if isinstance(pretrained, str):
        return pretrained
    raise TypeError(f"pretrained must be a bool, a weights name or enum, got {type(pretrained).__name__}")


def build_model(
    variant: str = "db_dgcn",
    num_classes: int = 80,
    backbone: str = "resnet101",
    pretrained=False,
    *,
    adjacency=None,
    embed_dim: int | None = None,
    **switches,
) -> MultiLabelGCN:
    """Build a variant, optionally changing its switches (``SWITCHES``; see ``ModelConfig``).

    ``pretrained``: False (random init: say so), True (``"IMAGENET1K_V1"``, the checkpoint ML-GCN
    and ADD-GCN used), or a torchvision weights name / enum (``"DEFAULT"`` = ``IMAGENET1K_V2``).
    Offline without the file raises ``WeightsUnavailableError``. ``adjacency``: the (C, C) static
    prior for ``static_graph="cooccurrence"`` (or set it later with ``set_static_adjacency``).
    ``embed_dim``: D, the head's width; the ``resnet`` variant has no such head and ignores it. A
    switch the variant does not have is an error (``VARIANT_SWITCHES``).

    >>> build_model("db_dgcn", 20, "tiny", aux_branch=False).config.aux_branch
    False
    """
    if variant not in PRESETS:
        raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
    unknown = sorted(set(switches) - set(SWITCHES))
    if unknown:
        raise TypeError(f"unknown switches {unknown}; choose from {SWITCHES}")
    if embed_dim is None:
        embed_dim = switches.pop("embed_dim", None)
    elif "embed_dim" in switches:
        raise TypeError("embed_dim given twice")
    foreign = sorted(set(switches) - set(VARIANT_SWITCHES[variant]))
    if foreign:
        lacks = "query head" if variant in GRAPH_VARIANTS else "graph head"
        head = "graph or query head" if variant == "resnet" else lacks
        raise ValueError(
            f"the {variant} variant has no {head}; switches {foreign} do not apply "
            f"(its switches: {', '.join(VARIANT_SWITCHES[variant]) or 'none'})"
        )
    if variant != "resnet" and embed_dim is not None:
        switches["embed_dim"] = embed_dim
    config = dataclasses.replace(
        PRESETS[variant],
        num_classes=num_classes,
        backbone=backbone,
        pretrained=_weights_name(pretrained, backbone),
        **switches,
    )
    return MultiLabelGCN(config, adjacency=adjacency)


def uses_cooccurrence_prior(model: MultiLabelGCN) -> bool:
    """True when the model's static graph is the label co-occurrence prior (set from training labels)."""
    return model.config.variant in GRAPH_VARIANTS and model.config.static_graph == "cooccurrence"


def attach_cooccurrence_prior(
    model: MultiLabelGCN, labels, *, tau: float = 0.4, p: float = 0.2, convention: str = "paper"
) -> np.ndarray | None:
    """Set ``static_adjacency(*cooccurrence(labels), tau, p, convention)`` as the model's prior when it
    uses one; return it (None for models without a co-occurrence prior). ``labels``: (N, C) 0/1."""
    if not uses_cooccurrence_prior(model):
        return None
    adjacency = static_adjacency(*cooccurrence(labels), tau=tau, p=p, convention=convention)
    model.set_static_adjacency(adjacency)
    return adjacency


def parameter_groups(model: MultiLabelGCN, lr_backbone: float, lr_head: float, weight_decay: float) -> list:
    """Two optimizer groups: the pretrained trunk at ``lr_backbone`` and everything new at ``lr_head``.

    Weight decay applies to all parameters, as ADD-GCN does. Each group carries a ``name``
    (``"backbone"`` / ``"head"``) for logging; torch optimizers keep extra keys.
    """
    return [
        {
            "name": "backbone",
            "params": list(model.backbone.parameters()),
            "lr": lr_backbone,
            "weight_decay": weight_decay,
        },
        {
            "name": "head",
            "params": list(model.head.parameters()),
            "lr": lr_head,
            "weight_decay": weight_decay,
        },
    ]


#: The default rows of ``parameter_table``: the three variants and db_dgcn with one switch changed.
ABLATION_ROWS = (
    ("resnet", {}),
    ("add_gcn", {}),
    ("db_dgcn", {}),
    ("db_dgcn", {"multiscale": False}),
    ("db_dgcn", {"aux_branch": False}),
    ("db_dgcn", {"static_graph": "learned"}),
)
#: The query heads' rows (the ``params`` command prints both): q2l with one switch changed, ml_decoder.
QUERY_ROWS = (
    ("q2l", {}),
    ("q2l", {"self_attention": False}),
    ("q2l", {"multiscale": True}),
    ("ml_decoder", {}),
)


def parameter_table(
    backbone: str = "resnet101", num_classes: int = 80, embed_dim: int | None = None, rows=ABLATION_ROWS
) -> list[dict]:
    """One dict per row of ``rows`` ((variant, switches) pairs; ``ABLATION_ROWS + QUERY_ROWS`` for every
    head): name, D (the head's width, None for ``resnet``), total, backbone and head parameters, and
    ``vs`` (the total minus the variant's unchanged row, for rows with a switch changed).
    ``embed_dim``: D for every head (None: each variant's own).

    Models are built on the ``meta`` device: shapes without memory or initialisation, so the
    ResNet-101 rows take milliseconds.
    """
    table = []
    for variant, switches in rows:
        with torch.device("meta"):
            model = build_model(variant, num_classes, backbone, embed_dim=embed_dim, **switches)
        name = " ".join([variant, *(f"{k}={v}" for k, v in switches.items())])
        total = model.parameter_count()
        base = next((r["total"] for r in table if r["name"] == variant), None)
        table.append(
            {
                "name": name,
                "D": None if variant == "resnet" else model.config.embed_dim,
                "total": total,
                "backbone": model.parameter_count("backbone"),
                "head": model.parameter_count("head"),
                "vs": total - base if switches and base is not None else None,
            }
        )
    return table
