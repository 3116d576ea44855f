"""Models: residual blocks -> ResNets -> backbone -> SAM -> graph layers -> DB-DGCN and its variants;
label queries (Query2Label, ML-Decoder) beside them."""

from dbdgcn_lib.models.backbone import BACKBONES, Backbone
from dbdgcn_lib.models.classifier import PerClassLinear
from dbdgcn_lib.models.gcn import STATIC_GRAPHS, DualBranchGCN, DynamicGCN, StaticGCN, aggregate
from dbdgcn_lib.models.model import (
    ABLATION_ROWS,
    GRAPH_VARIANTS,
    PRESETS,
    QUERY_VARIANTS,
    SWITCHES,
    VARIANT_SWITCHES,
    VARIANTS,
    GlobalMaxPoolHead,
    GraphHead,
    ModelConfig,
    MultiLabelGCN,
    attach_cooccurrence_prior,
    build_model,
    parameter_groups,
    parameter_table,
    uses_cooccurrence_prior,
)
from dbdgcn_lib.models.query_head import LabelQueryHead, QueryDecoderLayer
from dbdgcn_lib.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    WeightsUnavailableError,
    checkpoint_path,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    tiny_resnet,
)
from dbdgcn_lib.models.sam import SemanticAttention, max_score

__all__ = [
    "ABLATION_ROWS",
    "BACKBONES",
    "GRAPH_VARIANTS",
    "QUERY_VARIANTS",
    "VARIANT_SWITCHES",
    "STATIC_GRAPHS",
    "attach_cooccurrence_prior",
    "parameter_table",
    "uses_cooccurrence_prior",
    "PRESETS",
    "SWITCHES",
    "VARIANTS",
    "Backbone",
    "BasicBlock",
    "Bottleneck",
    "DualBranchGCN",
    "DynamicGCN",
    "GlobalMaxPoolHead",
    "GraphHead",
    "LabelQueryHead",
    "ModelConfig",
    "MultiLabelGCN",
    "PerClassLinear",
    "QueryDecoderLayer",
    "ResNet",
    "SemanticAttention",
    "StaticGCN",
    "WeightsUnavailableError",
    "aggregate",
    "build_model",
    "checkpoint_path",
    "max_score",
    "parameter_groups",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "tiny_resnet",
]
