import os
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from dbdgcn_lib.graph import cooccurrence, normalize_adjacency, static_adjacency
from dbdgcn_lib.models import (
    PRESETS,
    Backbone,
    DynamicGCN,
    GraphHead,
    ModelConfig,
    MultiLabelGCN,
    SemanticAttention,
    StaticGCN,
    WeightsUnavailableError,
    build_model,
    parameter_groups,
    resnet18,
    resnet50,
    resnet101,
    tiny_resnet,
)

C, D = 12, 32  # tiny head: classes, embed_dim
TINY = {"backbone": "tiny", "num_classes": C}


def tiny_model(variant="db_dgcn", **switches):
    torch.manual_seed(0)
    if variant != "resnet":
        switches.setdefault("embed_dim", D)
    return build_model(variant, C, "tiny", **switches)


def lrelu(x):
    return torch.nn.functional.leaky_relu(x, 0.2)


# ---------------------------------------------------------------- ResNets


@pytest.mark.parametrize(
    ("ours", "theirs", "size"),
    [
        (resnet18, torchvision.models.resnet18, 64),
        (resnet50, torchvision.models.resnet50, 64),
        (resnet101, torchvision.models.resnet101, 64),
    ],
)
def test_resnet_matches_torchvision_with_strict_loading(ours, theirs, size):
    torch.manual_seed(0)
    reference = theirs(weights=None).eval()
    model = ours().eval()
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    # fresh BN statistics (mean 0, var 1) would leave eval-mode activations unnormalised: vary them
    for module in reference.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_(0, 0.1)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, size, size)
    with torch.inference_mode():
        diff = (model(x) - reference(x)).abs().max().item()
    assert diff <= 1e-5


def test_tiny_resnet_strides_and_channels():
    backbone = Backbone(tiny_resnet())
    assert backbone.channels == (64, 128)
    x3, x4 = backbone(torch.randn(1, 3, 64, 96))
    assert x3.shape == (1, 64, 4, 6) and x4.shape == (1, 128, 2, 3)


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    """An empty torch hub cache and no network."""

    def no_network(url, dst, *args, **kwargs):
        raise URLError("no network in this test")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path


def test_offline_weights_raise_and_name_the_file_that_then_loads(offline_hub):
    expected_path = os.path.join(offline_hub, "checkpoints", "resnet18-f37072fd.pth")
    with pytest.raises(WeightsUnavailableError) as info:
        resnet18(weights="IMAGENET1K_V1")
    assert info.value.path == expected_path and expected_path in str(info.value)
    # placing a checkpoint at the named path makes the same call work, offline
    torch.manual_seed(0)
    reference = torchvision.models.resnet18(weights=None).eval()
    torch.save(reference.state_dict(), expected_path)
    model = resnet18(weights=torchvision.models.ResNet18_Weights.IMAGENET1K_V1).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x), atol=1e-5)


def test_build_model_pretrained_offline_never_gives_a_random_backbone(offline_hub):
    with pytest.raises(WeightsUnavailableError, match="resnet18-f37072fd.pth"):
        build_model("add_gcn", 5, "resnet18", pretrained=True)


def test_weights_names_are_checked():
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        resnet18(weights="IMAGENET_V9")
    with pytest.raises(TypeError):
        resnet18(weights=torchvision.models.ResNet50_Weights.IMAGENET1K_V1)
    with pytest.raises(TypeError):
        build_model("resnet", 5, "resnet18", pretrained=torchvision.models.ResNet50_Weights.DEFAULT)
    with pytest.raises(ValueError, match="tiny"):
        build_model("resnet", 5, "tiny", pretrained=True)


# ---------------------------------------------------------------- full size shapes


@pytest.mark.slow
def test_resnet101_448_shapes_of_every_variant():
    torch.manual_seed(0)
    models = {v: build_model(v, 80, "resnet101") for v in ("add_gcn", "db_dgcn")}
    with torch.device("meta"):  # the plain ResNet is checked for shapes only: no weights to fill
        models["resnet"] = build_model("resnet", 80, "resnet101")
    db = models["db_dgcn"]
    x = torch.randn(2, 3, 448, 448)
    # Train-mode BN (batch statistics): a random-init ResNet in eval mode has unnormalised
    # activations in the 1e4s that saturate every sigmoid; pretrained statistics would not.
    with torch.inference_mode():
        x3, x4 = db.train().forward_features(x)
        assert x3.shape == (2, 1024, 28, 28) and x4.shape == (2, 2048, 14, 14)
        assert db.backbone.channels == (1024, 2048)
        for variant, model in models.items():
            inputs = (x3.to("meta"), x4.to("meta")) if variant == "resnet" else (x3, x4)
            out = model.train().forward_head(*inputs, return_intermediates=True)
            for key in ("logits", "s_r", "s_m"):
                assert out[key].shape == (2, 80), (variant, key)
            assert out["activation_maps"].shape == (2, 80, 14, 14)
            if variant == "resnet":
                assert out["dynamic_adjacency"] is None and out["category_features"] is None
                continue
            assert out["category_features"].shape == (2, 1024, 80)
            names = ["dynamic_adjacency"] + (["dynamic_adjacency_aux"] if variant == "db_dgcn" else [])
            for name in names:
                a = out[name]
                assert a.shape == (2, 80, 80)
                if variant == "db_dgcn":
                    assert a.min() > 0 and a.max() < 1, name
                else:  # ADD-GCN's V is a sum over 196 positions: its sigmoid saturates in float32
                    assert a.min() >= 0 and a.max() <= 1 and ((a > 0) & (a < 1)).any()
                assert (a[0] - a[1]).abs().max() > 1e-3, "one graph per image"
            assert (variant == "add_gcn") == (out["dynamic_adjacency_aux"] is None)


# ---------------------------------------------------------------- building blocks


def test_sam_equals_the_textbook_formula():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 5, 7, dtype=torch.float64)
    for normalize in (False, True):
        sam = SemanticAttention(16, C, D, normalize=normalize).double()
        v, maps = sam(x)
        x_prime = sam.transform(x)  # project every position, then pool
        expected = torch.einsum("bdhw,bchw->bdc", x_prime, torch.sigmoid(sam.classifier(x)))
        if normalize:
            expected = expected / 35
        assert v.shape == (2, D, C) and maps.shape == (2, C, 5, 7)
        assert torch.allclose(v, expected, atol=1e-10)


def test_static_gcn_cooccurrence_formula_and_normalised_prior():
    torch.manual_seed(0)
    prior = torch.tensor(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]), dtype=torch.float32)
    gcn = StaticGCN(3, 4, "cooccurrence", adjacency=prior)
    assert torch.allclose(gcn.adjacency, normalize_adjacency(prior))
    v = torch.randn(2, 4, 3)
    a = gcn.adjacency
    mixed = torch.stack([sum(a[i, j] * v[:, :, j] for j in range(3)) for i in range(3)], dim=2)
    expected = lrelu(
        torch.einsum("ed,bdc->bec", gcn.weight.weight[:, :, 0], mixed) + gcn.weight.bias[:, None]
    )
    assert torch.allclose(gcn(v), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        gcn.set_adjacency(torch.eye(4))
    with pytest.raises(ValueError, match="non-negative"):
        gcn.set_adjacency(-torch.eye(3))


def test_static_gcn_node_i_gathers_from_the_j_with_high_p_j_given_i():
    """The paper's direction (SPEC section 2, ML-GCN's paper): row i of the prior holds what node i
    aggregates, the j with P(j | i) >= tau; so H_s[:, :, i] = sum_j A[i, j] V[:, :, j]. The prior must be
    asymmetric, or the transposed aggregation (ML-GCN's code direction) would give the same numbers."""
    # labels of tests/test_graph.py: P(1 | 0) = 1/2, P(0 | 1) = 2/3, P(0 | 2) = 1 but P(2 | 0) = 1/4,
    # class 3 never occurs. At tau 0.4, p 0.2: node 2 gathers from node 0, node 0 not from node 2.
    labels = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    prior = static_adjacency(*cooccurrence(labels), tau=0.4, p=0.2)
    np.testing.assert_allclose(prior, [[0.8, 0.2, 0, 0], [0.2, 0.8, 0, 0], [0.2, 0, 0.8, 0], [0, 0, 0, 1]])
    gcn = StaticGCN(4, 3, "cooccurrence", adjacency=prior).double()
    with torch.no_grad():  # W_s = identity, no bias: the layer's output is the aggregation itself
        gcn.weight.weight.copy_(torch.eye(3)[:, :, None])
        gcn.weight.bias.zero_()
    v = torch.rand(2, 3, 4, dtype=torch.float64) + 0.1  # positive: the LeakyReLU leaves it alone
    with torch.no_grad():
        out = gcn(v)
    node = [v[:, :, j] for j in range(4)]
    torch.testing.assert_close(out[:, :, 0], 0.8 * node[0] + 0.2 * node[1])
    torch.testing.assert_close(out[:, :, 1], 0.2 * node[0] + 0.8 * node[1])
    torch.testing.assert_close(out[:, :, 2], 0.2 * node[0] + 0.8 * node[2])  # not node 0 <- node 2
    torch.testing.assert_close(out[:, :, 3], node[3])


@pytest.mark.parametrize("aux_branch", [True, False])
def test_dual_branch_wiring_is_the_papers(aux_branch):
    """SPEC section 2: main branch H = V + H_s (H_s the static layer on V), Z_main = D-GCN(H); auxiliary
    branch Z_aux = D-GCN'(V), V itself (no static step); fusion Z = V + Z_main + Z_aux. Each layer
    is checked against its own formula above; here only the wiring between them."""
    from dbdgcn_lib.models import DualBranchGCN

    torch.manual_seed(0)
    labels = (np.random.default_rng(0).random((40, C)) < 0.4).astype(int)
    gcn = DualBranchGCN(D, C, aux_branch=aux_branch, adjacency=static_adjacency(*cooccurrence(labels))).eval()
    v = torch.randn(3, D, C)
    with torch.no_grad():
        z, adjacency, aux_adjacency = gcn(v)
        h = v + gcn.static(v)
        z_main, expected_adjacency = gcn.dynamic(h)
        expected = v + z_main
        assert torch.allclose(adjacency, expected_adjacency)
        if aux_branch:
            z_aux, expected_aux_adjacency = gcn.aux(v)
            expected = expected + z_aux
            assert torch.allclose(aux_adjacency, expected_aux_adjacency)
            assert not torch.allclose(gcn.aux(h)[0], z_aux, atol=1e-3)  # fed H it would differ
        else:
            assert aux_adjacency is None
        assert not torch.allclose(gcn.static(v), torch.zeros_like(v), atol=1e-3)  # H differs from V
    assert torch.allclose(z, expected, atol=1e-6)


def test_dynamic_gcn_formula_per_image():
    torch.manual_seed(0)
    layer = DynamicGCN(D, C).eval()
    with torch.no_grad():
        layer.global_bn.running_mean.normal_()
        layer.global_bn.running_var.uniform_(0.5, 2)
    h = torch.randn(3, D, C)
    z, a = layer(h)
    bn = layer.global_bn
    for b in range(3):
        g = layer.global_conv.weight[:, :, 0] @ h[b].mean(dim=1) + layer.global_conv.bias
        g = lrelu((g - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias)
        h_prime = torch.cat([g[:, None].expand(D, C), h[b]], dim=0)  # (2D, C)
        raw = torch.sigmoid(
            layer.adjacency_conv.weight[:, :, 0] @ h_prime + layer.adjacency_conv.bias[:, None]
        )
        a_b = raw.T  # row i = what node i aggregates, computed from node i's features
        for i in range(C):
            expected_row = torch.sigmoid(
                layer.adjacency_conv.weight[:, :, 0] @ h_prime[:, i] + layer.adjacency_conv.bias
            )
            assert torch.allclose(a_b[i], expected_row, atol=1e-6)
        messages = h[b] @ a_b.T  # node i <- sum_j a_b[i, j] h_j
        z_b = lrelu(layer.weight.weight[:, :, 0] @ lrelu(messages) + layer.weight.bias[:, None])
        assert torch.allclose(a[b], a_b, atol=1e-6)
        assert torch.allclose(z[b], z_b, atol=1e-5)


# ---------------------------------------------------------------- variants and switches


def test_add_gcn_has_the_add_gcn_structure():
    model = tiny_model("add_gcn")
    head = model.head
    cfg = model.config
    assert (cfg.multiscale, cfg.aux_branch, cfg.static_graph, cfg.alpha, cfg.sam_normalize) == (
        False,
        False,
        "learned",
        0.5,
        False,
    )
    assert head.sam_layer3 is None and head.gcn.aux is None and not head.sam_layer4.normalize
    learned = head.gcn.static.learned_adjacency
    assert isinstance(learned, nn.Conv1d) and learned.weight.shape == (C, C, 1) and learned.bias is None
    assert "head.gcn.static.adjacency" not in model.state_dict()
    c4 = model.backbone.channels[1]
    sam = C * c4 + D * c4 + D
    static = C * C + D * D + D
    dynamic = 2 * D * D + 4 * D + 2 * D * C + C
    classifier = C * D + C
    assert model.parameter_count("head") == sam + static + dynamic + classifier
    out = model.eval()(torch.randn(2, 3, 64, 64), return_intermediates=True)
    assert torch.allclose(out["logits"], (out["s_r"] + out["s_m"]) / 2)
    assert torch.allclose(out["s_m"], out["activation_maps"].amax(dim=(2, 3)))


def test_db_dgcn_s_m_averages_the_two_scales_and_alpha_weights():
    model = tiny_model("db_dgcn").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        x3, x4 = model.forward_features(x)
        out = model.forward_head(x3, x4, return_intermediates=True)
        maps3 = model.head.sam_layer3(x3)[1]
        assert torch.equal(model(x)["logits"], out["logits"])  # forward = forward_features + forward_head
    expected = (out["activation_maps"].amax(dim=(2, 3)) + maps3.amax(dim=(2, 3))) / 2
    assert torch.allclose(out["s_m"], expected, atol=1e-6)
    assert torch.allclose(out["logits"], 0.5 * out["s_r"] + 0.5 * out["s_m"], atol=1e-6)
    for alpha, key in ((1.0, "s_r"), (0.0, "s_m")):
        m = tiny_model("db_dgcn", alpha=alpha).eval()
        with torch.no_grad():
            o = m(x)
        assert torch.allclose(o["logits"], o[key])


def test_resnet_variant_is_gmp_plus_linear():
    model = tiny_model("resnet").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x, return_intermediates=True)
        _, x4 = model.forward_features(x)
    assert torch.allclose(out["logits"], model.head.fc(x4.amax(dim=(2, 3))))
    assert out["s_r"] is out["logits"] and out["s_m"] is out["logits"]
    assert out["activation_maps"].shape == (2, C, 2, 2)
    assert model.parameter_count("head") == 128 * C + C


@pytest.mark.parametrize("backbone", ["tiny", "resnet101"])
@pytest.mark.parametrize(
    ("switch", "value", "difference"),
    [
        ("multiscale", False, lambda c3, c, d: -(c * c3 + d * c3 + d)),
        ("aux_branch", False, lambda c3, c, d: -(2 * d * d + 4 * d + 2 * d * c + c)),
        ("static_graph", "learned", lambda c3, c, d: c * c),
        ("alpha", 0.3, lambda c3, c, d: 0),
        ("sam_normalize", False, lambda c3, c, d: 0),
    ],
)
def test_switches_change_parameter_count_as_documented(backbone, switch, value, difference):
    c, d = (C, D) if backbone == "tiny" else (80, 1024)
    with torch.device("meta"):  # shapes only: exact counts in milliseconds
        full = build_model("db_dgcn", c, backbone, embed_dim=d)
        ablated = build_model("db_dgcn", c, backbone, embed_dim=d, **{switch: value})
    c3 = full.backbone.channels[0]
    assert ablated.parameter_count() - full.parameter_count() == difference(c3, c, d)
    assert getattr(ablated.config, switch) == value


@pytest.mark.parametrize("variant", ["resnet", "add_gcn", "db_dgcn"])
def test_backward_reaches_every_parameter(variant):
    model = tiny_model(variant).train()
    if variant == "db_dgcn":
        labels = (np.random.default_rng(0).random((30, C)) < 0.5).astype(int)
        model.set_static_adjacency(static_adjacency(*cooccurrence(labels)))
    out = model(torch.randn(2, 3, 64, 64))
    target = torch.zeros(2, C)
    target[0, 1] = target[1, 3] = 1
    nn.functional.multilabel_soft_margin_loss(out["logits"], target).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name


def test_set_static_adjacency_is_kept_in_the_state_dict():
    rng = np.random.default_rng(0)
    labels = (rng.random((40, C)) < 0.4).astype(int)
    prior = static_adjacency(*cooccurrence(labels), tau=0.3)
    model = tiny_model("db_dgcn").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)["logits"]
        model.set_static_adjacency(prior)
        after = model(x)["logits"]
    assert not torch.allclose(before, after)
    assert "(prior set)" in model.summary()
    restored = tiny_model("db_dgcn").eval()
    assert "identity" in restored.summary()
    restored.load_state_dict(model.state_dict())
    assert torch.allclose(restored.head.gcn.static.adjacency, torch.from_numpy(prior), atol=1e-6)
    built = build_model("db_dgcn", C, "tiny", embed_dim=D, adjacency=prior)
    assert torch.equal(built.head.gcn.static.adjacency, restored.head.gcn.static.adjacency)
    with pytest.raises(ValueError):
        tiny_model("add_gcn").set_static_adjacency(prior)
    with pytest.raises(ValueError):
        tiny_model("resnet").set_static_adjacency(prior)


def test_build_model_rejects_bad_input():
    with pytest.raises(ValueError, match="variant"):
        build_model("vgg", **TINY)
    with pytest.raises(TypeError, match="unknown switches"):
        build_model("db_dgcn", **TINY, multi_scale=False)
    with pytest.raises(ValueError, match="resnet variant"):
        build_model("resnet", **TINY, aux_branch=False)
    with pytest.raises(ValueError, match="static_graph"):
        build_model("db_dgcn", **TINY, static_graph="random")
    with pytest.raises(ValueError, match="alpha"):
        build_model("db_dgcn", **TINY, alpha=1.5)
    with pytest.raises(ValueError, match="backbone"):
        build_model("db_dgcn", 80, "resnet152")


def test_config_presets_and_rebuild_from_config():
    assert PRESETS["db_dgcn"] == ModelConfig()
    model = tiny_model("db_dgcn", aux_branch=False)
    rebuilt = MultiLabelGCN(ModelConfig(**model.config.to_dict()))
    assert rebuilt.config == model.config
    assert rebuilt.state_dict().keys() == model.state_dict().keys()
    line = model.summary()
    assert "\n" not in line and "layer3+layer4" in line and "tiny (random init)" in line


def test_parameter_groups_split_backbone_and_head():
    model = tiny_model("db_dgcn")
    groups = parameter_groups(model, lr_backbone=0.005, lr_head=0.05, weight_decay=1e-4)
    assert [g["name"] for g in groups] == ["backbone", "head"]
    assert [g["lr"] for g in groups] == [0.005, 0.05]
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert sum(p.numel() for p in groups[0]["params"]) == model.parameter_count("backbone")
    optimizer = torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    assert optimizer.param_groups[1]["lr"] == 0.05


# ---------------------------------------------------------------- numerics and speed paths


def test_bf16_autocast_on_cpu():
    model = tiny_model("db_dgcn").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x)["logits"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x, return_intermediates=True)
    assert out["logits"].shape == (2, C) and torch.isfinite(out["logits"]).all()
    assert torch.isfinite(out["dynamic_adjacency"]).all()
    scale = reference.abs().max()
    assert (out["logits"].float() - reference).abs().max() < 0.05 * scale


@pytest.mark.parametrize("variant", ["add_gcn", "db_dgcn"])
def test_channels_last_matches_nchw(variant):
    model = tiny_model(variant).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(x, return_intermediates=True)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last), return_intermediates=True)
    for key in ("logits", "s_r", "s_m", "dynamic_adjacency"):
        assert torch.allclose(out[key], reference[key], atol=1e-4, rtol=1e-4), key


@pytest.mark.slow
def test_head_compiles_without_graph_breaks():
    model = tiny_model("db_dgcn").eval()
    x3, x4 = model.forward_features(torch.randn(2, 3, 64, 64))
    torch._dynamo.reset()
    compiled = torch.compile(model.head, fullgraph=True, backend="aot_eager")
    with torch.no_grad():
        out = compiled(x3, x4, True)
        reference = model.head(x3, x4, True)
    assert torch.allclose(out["logits"], reference["logits"], atol=1e-5)


# ---------------------------------------------------------------- the params command


def test_params_command_prints_the_variants(capsys):
    from dbdgcn_lib.cli import main

    assert main(["params"]) == 0
    out = capsys.readouterr().out
    for name in (
        "resnet",
        "add_gcn",
        "db_dgcn",
        "multiscale=False",
        "aux_branch=False",
        "static_graph=learned",
    ):
        assert name in out
    assert "51,555,632" in out  # db_dgcn, ResNet-101, 80 classes, D = 1024
    assert "-2,265,168" in out  # aux branch: 2 D^2 + 4 D + 2 D C + C


def test_params_command_through_the_cli(capsys):
    from dbdgcn_lib.cli import main

    assert main(["params", "--backbone", "tiny", "--num-classes", "20"]) == 0
    assert "db_dgcn" in capsys.readouterr().out


def test_graph_head_rejects_prior_for_learned_graph():
    with pytest.raises(ValueError):
        GraphHead(PRESETS["add_gcn"], (64, 128), adjacency=np.eye(80))
