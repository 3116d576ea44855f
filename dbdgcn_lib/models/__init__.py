"""Models: residual blocks -> ResNets -> backbone -> SAM -> graph layers -> DB-DGCN and its variants."""

from dbdgcn_lib.models.backbone import BACKBONES, Backbone
from dbdgcn_lib.models.gcn import DualBranchGCN, DynamicGCN, StaticGCN, aggregate
from dbdgcn_lib.models.model import (
    PRESETS,
    SWITCHES,
    VARIANTS,
    GlobalMaxPoolHead,
    GraphHead,
    ModelConfig,
    MultiLabelGCN,
    PerClassLinear,
    build_model,
    parameter_groups,
)
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
    "BACKBONES",
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
    "ModelConfig",
    "MultiLabelGCN",
    "PerClassLinear",
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
