"""Label queries: one learnable query per class cross-attends to the backbone's spatial features.

The attention heads that followed the graph heads on MS-COCO (Query2Label, Liu et al. 2021;
ML-Decoder, Ridnik et al. WACV 2023). For features X (B, c, H, W) of one or two scales::

    T  = conv1x1(X) flattened     (B, N, D)   tokens, N = H*W (+ H3*W3 with layer3)
    T  = encoder(T)               (B, N, D)   optional transformer encoder layers over the tokens
    Q  = the C learned queries    (B, C, D)   the same for every image
    Q  = decoder layers (Q, T)    (B, C, D)   per layer: [self-attention among the queries],
                                             cross-attention to T, feed-forward; post-norm
    s  = w_c . Q[:, c] + b_c      (B, C)      one linear classifier per query

How this relates to the graph heads: SAM's class activation map is one fixed 1x1 filter per class;
a query's cross-attention is the same idea, learned, softmax-normalised over positions and
multi-headed. The queries' self-attention (B, C, C) is a fully connected label graph: in the first
layer the queries are the same for every image, so its graph is one static learned matrix (like
ADD-GCN's learned static graph); from the second layer on it is computed per image (like A_d).
Without self-attention (ML-Decoder) each class's score depends on its own query only.
"""

from __future__ import annotations

import torch
from torch import nn

from dbdgcn_lib.models.classifier import PerClassLinear

#: Dropout in every attention and feed-forward block (Query2Label's and ML-Decoder's value).
DROPOUT = 0.1


class QueryDecoderLayer(nn.Module):
    """``nn.TransformerDecoderLayer`` (post-norm, batch first, ReLU) written out with the same modules
    and state-dict names, so that it can return its attention weights and run without self-attention.

    queries (B, C, D), tokens (B, N, D) -> queries (B, C, D)::

        Q = norm1(Q + self_attn(Q, Q, Q))          (only with self_attention)
        Q = norm2(Q + multihead_attn(Q, T, T))
        Q = norm3(Q + linear2(relu(linear1(Q))))

    With self-attention its state dict loads into ``nn.TransformerDecoderLayer(dim, heads, ffn,
    batch_first=True)`` and gives the same outputs (tested). Parameters: ``4 D^2 + 4 D`` per attention,
    ``2 D F + F + D`` for the feed-forward (F = ``feedforward_dim``), ``2 D`` per norm.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        feedforward_dim: int,
        *,
        self_attention: bool,
        dropout: float = DROPOUT,
    ):
        super().__init__()
        if self_attention:
            self.self_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
            self.norm1 = nn.LayerNorm(dim)
            self.dropout1 = nn.Dropout(dropout)
        else:
            self.self_attn = None
        self.multihead_attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.linear1 = nn.Linear(dim, feedforward_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(feedforward_dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.norm3 = nn.LayerNorm(dim)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.activation = nn.ReLU()

    def forward(
        self, queries: torch.Tensor, tokens: torch.Tensor, need_weights: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """-> queries (B, C, D), cross-attention (B, heads, C, N) and self-attention (B, heads, C, C)
        weights of this very computation (None unless ``need_weights``; the self-attention's also
        None without self-attention). Rows sum to 1: row c is where query c looked."""
        self_weights = None
        if self.self_attn is not None:
            update, self_weights = self.self_attn(
                queries, queries, queries, need_weights=need_weights, average_attn_weights=False
            )
            queries = self.norm1(queries + self.dropout1(update))
        update, cross_weights = self.multihead_attn(
            queries, tokens, tokens, need_weights=need_weights, average_attn_weights=False
        )
        queries = self.norm2(queries + self.dropout2(update))
        update = self.linear2(self.dropout(self.activation(self.linear1(queries))))
        queries = self.norm3(queries + self.dropout3(update))
        return queries, cross_weights, self_weights


class LabelQueryHead(nn.Module):
    """Label queries over layer4 (or layer3 + layer4) tokens -> one score per class.

    ``x3`` (B, c3, H3, W3), ``x4`` (B, c4, H4, W4) -> dict with ``logits`` (B, C); the head has one
    score, so ``s_r`` and ``s_m`` are the logits (as for the ``resnet`` variant). Parameters (C
    classes, D = ``dim``, F = ``feedforward_dim``, L = ``num_layers``, E = ``encoder_layers``):

    - token projections: ``c4 D + D`` (+ ``c3 D + D`` with ``multiscale``);
    - queries ``C D``; classifier ``C D + C``;
    - each encoder layer ``4 D^2 + 4 D + 2 D F + F + D + 4 D``;
    - each decoder layer ``4 D^2 + 4 D + 2 D F + F + D + 4 D``, plus ``4 D^2 + 4 D + 2 D`` with
      ``self_attention``.
    """

    def __init__(
        self,
        channels: tuple[int, int],
        num_classes: int,
        dim: int,
        *,
        num_layers: int,
        num_heads: int,
        feedforward_dim: int,
        encoder_layers: int = 0,
        self_attention: bool = True,
        multiscale: bool = False,
        dropout: float = DROPOUT,
    ):
        super().__init__()
        c3, c4 = channels
        self.num_heads = num_heads
        self.project_layer4 = nn.Conv2d(c4, dim, kernel_size=1)
        self.project_layer3 = nn.Conv2d(c3, dim, kernel_size=1) if multiscale else None
        self.encoder = None
        if encoder_layers:
            layer = nn.TransformerEncoderLayer(dim, num_heads, feedforward_dim, dropout, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, encoder_layers, enable_nested_tensor=False)
        self.queries = nn.Embedding(num_classes, dim)
        self.layers = nn.ModuleList(
            QueryDecoderLayer(dim, num_heads, feedforward_dim, self_attention=self_attention, dropout=dropout)
            for _ in range(num_layers)
        )
        self.classifier = PerClassLinear(dim, num_classes)

    def tokens(self, x3: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        """(B, N, D): the projected layer4 positions (row-major), then layer3's with ``multiscale``."""
        tokens = self.project_layer4(x4).flatten(2)
        if self.project_layer3 is not None:
            tokens = torch.cat([tokens, self.project_layer3(x3).flatten(2)], dim=2)
        return tokens.transpose(1, 2)

    def forward(self, x3: torch.Tensor, x4: torch.Tensor, return_intermediates: bool = False) -> dict:
        """-> ``logits`` = ``s_r`` = ``s_m`` (B, C). With ``return_intermediates`` also, from the last
        decoder layer, averaged over heads unless named ``_heads``:

        - ``cross_attention`` (B, C, H4, W4): where each query looked on layer4 (with ``multiscale``
          the softmax runs over both scales, so layer4's part sums to less than 1);
        - ``cross_attention_layer3`` (B, C, H3, W3) with ``multiscale``, else None;
        - ``cross_attention_heads`` (B, heads, C, H4, W4);
        - ``query_attention`` (B, C, C): the queries' self-attention, row i = what query i gathers
          from (None without self-attention); ``query_attention_layers`` (B, L, C, C): every layer's;
        - ``category_features`` (B, D, C): the decoded queries the classifier reads;
        - ``activation_maps``, ``dynamic_adjacency``, ``dynamic_adjacency_aux``: None (no SAM, no GCN).
        """
        tokens = self.tokens(x3, x4)
        if self.encoder is not None:
            tokens = self.encoder(tokens)
        queries = self.queries.weight.expand(x4.shape[0], -1, -1)
        query_weights = []
        for layer in self.layers:
            queries, cross_weights, self_weights = layer(queries, tokens, need_weights=return_intermediates)
            query_weights.append(self_weights)
        features = queries.transpose(1, 2)  # (B, D, C), the graph heads' layout
        logits = self.classifier(features)
        out = {"logits": logits, "s_r": logits, "s_m": logits}
        if return_intermediates:
            batch, heads, classes, _ = cross_weights.shape
            h4, w4 = x4.shape[2:]
            per_head = cross_weights[..., : h4 * w4].reshape(batch, heads, classes, h4, w4)
            layer3 = None
            if self.project_layer3 is not None:
                layer3 = cross_weights[..., h4 * w4 :].mean(1).reshape(batch, classes, *x3.shape[2:])
            has_self = query_weights[-1] is not None
            out.update(
                cross_attention=per_head.mean(1),
                cross_attention_layer3=layer3,
                cross_attention_heads=per_head,
                query_attention=query_weights[-1].mean(1) if has_self else None,
                query_attention_layers=torch.stack([w.mean(1) for w in query_weights], 1)
                if has_self
                else None,
                category_features=features,
                activation_maps=None,
                dynamic_adjacency=None,
                dynamic_adjacency_aux=None,
            )
        return out
