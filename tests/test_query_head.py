"""The label-query heads (``q2l``, ``ml_decoder``): shapes, the layer by hand, the weights they expose,
gradients, what each switch changes, parameter counts by hand, presets, and the CLI end to end."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil

import numpy as np
import pytest
import torch
from tiny_runs import tiny_config
from torch import nn

from dbdgcn_lib.cli import main
from dbdgcn_lib.data import make_synthetic
from dbdgcn_lib.models import PRESETS, LabelQueryHead, ModelConfig, QueryDecoderLayer, build_model
from dbdgcn_lib.training import TrainConfig, Trainer, get_preset, load_checkpoint, model_from_checkpoint
from dbdgcn_lib.training.quick import quick_train

pytestmark = pytest.mark.filterwarnings("ignore:.*no positive example:RuntimeWarning")

C, D = 12, 32  # classes and head width of the small models here


def tiny_query_model(variant="q2l", **switches):
    torch.manual_seed(0)
    switches.setdefault("embed_dim", D)
    return build_model(variant, C, "tiny", **switches).eval()


def images(n=2, size=64, seed=1):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("variant", ["q2l", "ml_decoder"])
@pytest.mark.parametrize("multiscale", [False, True])
@pytest.mark.parametrize("self_attention", [False, True])
def test_shapes_of_every_switch(variant, multiscale, self_attention):
    layers, heads = 3, 2
    model = tiny_query_model(
        variant, multiscale=multiscale, self_attention=self_attention, num_layers=layers, num_heads=heads
    )
    with torch.no_grad():
        x3, x4 = model.forward_features(images(size=96))  # layer3 6 x 6, layer4 3 x 3
        out = model.forward_head(x3, x4, return_intermediates=True)
        plain = model.forward_head(x3, x4)
    assert set(plain) == {"logits", "s_r", "s_m"}
    for key in ("logits", "s_r", "s_m"):
        assert out[key].shape == (2, C)
        assert torch.equal(out[key], out["logits"])  # one score
    assert out["cross_attention"].shape == (2, C, 3, 3)
    assert out["cross_attention_heads"].shape == (2, heads, C, 3, 3)
    assert out["category_features"].shape == (2, D, C)
    total = out["cross_attention"].sum((2, 3))
    if multiscale:
        assert out["cross_attention_layer3"].shape == (2, C, 6, 6)
        total = total + out["cross_attention_layer3"].sum((2, 3))  # one softmax over both scales
    else:
        assert out["cross_attention_layer3"] is None
    torch.testing.assert_close(total, torch.ones(2, C))
    if self_attention:
        assert out["query_attention"].shape == (2, C, C)
        assert out["query_attention_layers"].shape == (2, layers, C, C)
        torch.testing.assert_close(out["query_attention"].sum(2), torch.ones(2, C))
        assert torch.equal(out["query_attention_layers"][:, -1], out["query_attention"])
    else:
        assert out["query_attention"] is None and out["query_attention_layers"] is None
        assert model.head.layers[0].self_attn is None  # no C x C matrix and no weights for one
    assert out["activation_maps"] is None and out["dynamic_adjacency"] is None


def test_resnet101_448_shapes_on_meta():
    """The paper-size presets build, and their tokens have the sizes the docs give (shapes only)."""
    for variant, dim in (("q2l", 2048), ("ml_decoder", 768)):
        with torch.device("meta"):
            model = build_model(variant, 80, "resnet101")
            x3, x4 = torch.empty(1, 1024, 28, 28), torch.empty(1, 2048, 14, 14)
            assert model.head.tokens(x3, x4).shape == (1, 196, dim)
            out = model.forward_head(x3, x4, return_intermediates=True)
        assert out["logits"].shape == (1, 80) and out["cross_attention"].shape == (1, 80, 14, 14)


# ---------------------------------------------------------------- the layer by hand


def layer_norm(x, norm):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def attention_by_hand(attn: nn.MultiheadAttention, query, key, value):
    """nn.MultiheadAttention in plain tensor ops: -> output (B, Lq, D), weights (B, heads, Lq, Lk)."""
    heads, dim = attn.num_heads, attn.embed_dim
    w_q, w_k, w_v = attn.in_proj_weight.split(dim)
    b_q, b_k, b_v = attn.in_proj_bias.split(dim)

    def split(x):  # (B, L, D) -> (B, heads, L, D / heads)
        return x.reshape(x.shape[0], x.shape[1], heads, dim // heads).transpose(1, 2)

    q, k, v = split(query @ w_q.T + b_q), split(key @ w_k.T + b_k), split(value @ w_v.T + b_v)
    weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // heads), dim=-1)
    mixed = (weights @ v).transpose(1, 2).reshape(query.shape[0], query.shape[1], dim)
    return mixed @ attn.out_proj.weight.T + attn.out_proj.bias, weights


@pytest.mark.parametrize("self_attention", [True, False])
def test_one_layer_by_hand_equals_the_library(self_attention):
    torch.manual_seed(0)
    layer = QueryDecoderLayer(D, 4, 3 * D, self_attention=self_attention).eval()
    queries, tokens = torch.randn(2, C, D), torch.randn(2, 9, D)
    with torch.no_grad():
        out, cross, selfw = layer(queries, tokens, need_weights=True)
        x = queries
        if self_attention:
            update, by_hand_self = attention_by_hand(layer.self_attn, x, x, x)
            x = layer_norm(x + update, layer.norm1)
            torch.testing.assert_close(selfw, by_hand_self)
        update, by_hand_cross = attention_by_hand(layer.multihead_attn, x, tokens, tokens)
        x = layer_norm(x + update, layer.norm2)
        hidden = torch.clamp(x @ layer.linear1.weight.T + layer.linear1.bias, min=0)
        x = layer_norm(x + hidden @ layer.linear2.weight.T + layer.linear2.bias, layer.norm3)
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cross, by_hand_cross)
    assert selfw is None if not self_attention else selfw.shape == (2, 4, C, C)


def test_the_layer_is_torchs_transformer_decoder_layer():
    """With self-attention, the state dict loads strictly into nn.TransformerDecoderLayer and the two
    give the same outputs."""
    torch.manual_seed(0)
    ours = QueryDecoderLayer(D, 4, 3 * D, self_attention=True).eval()
    theirs = nn.TransformerDecoderLayer(D, 4, 3 * D, batch_first=True).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    queries, tokens = torch.randn(2, C, D), torch.randn(2, 9, D)
    with torch.no_grad():
        torch.testing.assert_close(ours(queries, tokens)[0], theirs(queries, tokens), rtol=1e-5, atol=1e-5)


def test_the_exposed_weights_are_the_ones_the_forward_used():
    """The last layer's cross-attention output, rebuilt from the exposed per-head weights and the
    values of the tokens it really received, is what that layer computed; the exposed self-attention
    is the softmax of the queries it really received; the logits do not depend on asking for them."""
    model = tiny_query_model("q2l", num_layers=2, encoder_layers=1)
    last = model.head.layers[-1]
    seen = {}

    def keep(name):
        def hook(module, args, output):  # the layer passes query, key, value positionally
            seen[name] = (args, output)

        return hook

    handles = [
        last.multihead_attn.register_forward_hook(keep("cross")),
        last.self_attn.register_forward_hook(keep("self")),
    ]
    with torch.no_grad():
        x3, x4 = model.forward_features(images())
        out = model.forward_head(x3, x4, return_intermediates=True)
    for handle in handles:
        handle.remove()
    (_, tokens, _), (cross_output, _) = seen["cross"]
    weights = out["cross_attention_heads"].flatten(3)  # (B, heads, C, N)
    heads, dim = last.multihead_attn.num_heads, D
    _, _, w_v = last.multihead_attn.in_proj_weight.split(dim)
    _, _, b_v = last.multihead_attn.in_proj_bias.split(dim)
    values = (tokens @ w_v.T + b_v).reshape(2, -1, heads, dim // heads).transpose(1, 2)
    rebuilt = (weights @ values).transpose(1, 2).reshape(2, C, dim) @ last.multihead_attn.out_proj.weight.T
    torch.testing.assert_close(
        rebuilt + last.multihead_attn.out_proj.bias, cross_output, rtol=1e-5, atol=1e-5
    )
    (layer_input, _, _), _ = seen["self"]  # the queries entering the last layer
    with torch.no_grad():
        _, by_hand = attention_by_hand(last.self_attn, layer_input, layer_input, layer_input)
        torch.testing.assert_close(out["query_attention"], by_hand.mean(1))
        torch.testing.assert_close(out["category_features"].transpose(1, 2), last(layer_input, tokens)[0])
        torch.testing.assert_close(model.forward_head(x3, x4)["logits"], out["logits"], rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- gradients


@pytest.mark.parametrize("variant", ["q2l", "ml_decoder"])
def test_gradients_reach_every_part(variant):
    model = tiny_query_model(variant, multiscale=True, encoder_layers=1, num_layers=2).train()
    out = model(images(4))
    target = torch.zeros(4, C)
    target[0, 1] = target[1, 3] = target[2, 5] = 1
    nn.functional.binary_cross_entropy_with_logits(out["logits"], target).backward()
    parts = set()
    for name, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, name
        parts.add(name.split(".")[1] + (f".{name.split('.')[2]}" if name.startswith("head.layers") else ""))
    expected = {
        "queries",
        "project_layer4",
        "project_layer3",
        "encoder",
        "layers.0",
        "layers.1",
        "classifier",
    }
    assert expected <= parts


# ---------------------------------------------------------------- what each switch changes


def test_without_self_attention_a_query_depends_on_no_other():
    for self_attention, others_move in ((False, False), (True, True)):
        model = tiny_query_model("q2l", self_attention=self_attention)
        x = images()
        with torch.no_grad():
            before = model(x)["logits"]
            model.head.queries.weight[3] += 1.0
            after = model(x)["logits"]
        others = [c for c in range(C) if c != 3]
        assert not torch.allclose(before[:, 3], after[:, 3])
        assert torch.allclose(before[:, others], after[:, others], atol=1e-6) != others_move


def test_both_scales_read_layer3_tokens():
    for multiscale in (False, True):
        model = tiny_query_model("ml_decoder", multiscale=multiscale)
        with torch.no_grad():
            x3, x4 = model.forward_features(images())
            assert model.head.tokens(x3, x4).shape[1] == 4 + 16 * multiscale  # layer4 2x2 (+ layer3 4x4)
            moved = model.forward_head(x3 + torch.randn_like(x3), x4)["logits"]
            same = torch.allclose(moved, model.forward_head(x3, x4)["logits"])
        assert same != multiscale


def test_first_layer_self_attention_is_one_graph_for_every_image():
    """Layer 1's queries are the learned embeddings, the same for every image: its self-attention is a
    static label graph. Layer 2's queries carry the image: one graph per image."""
    model = tiny_query_model("q2l", num_layers=2)
    with torch.no_grad():
        graphs = model(images(3), return_intermediates=True)["query_attention_layers"]
    torch.testing.assert_close(graphs[0, 0], graphs[1, 0])
    torch.testing.assert_close(graphs[0, 0], graphs[2, 0])
    assert (graphs[0, 1] - graphs[1, 1]).abs().max() > 1e-4


def test_heads_change_the_attention_not_the_parameters():
    one, four = tiny_query_model("q2l", num_heads=1), tiny_query_model("q2l", num_heads=4)
    four.load_state_dict(one.state_dict())  # the same weights, split into 4 heads
    with torch.no_grad():
        assert not torch.allclose(one(images())["logits"], four(images())["logits"])
    assert one.parameter_count() == four.parameter_count()


def head_parameters_by_hand(c3, c4, classes, dim, *, layers, ffn, encoder, self_attention, multiscale):
    attention = 4 * dim**2 + 4 * dim  # in_proj 3 D^2 + 3 D, out_proj D^2 + D
    feedforward = 2 * dim * ffn + ffn + dim
    encoder_layer = attention + feedforward + 2 * 2 * dim
    decoder_layer = attention + feedforward + 2 * 2 * dim + (attention + 2 * dim) * self_attention
    projections = c4 * dim + dim + (c3 * dim + dim) * multiscale
    return (
        projections
        + classes * dim
        + encoder * encoder_layer
        + layers * decoder_layer
        + classes * dim
        + classes
    )


@pytest.mark.parametrize(
    ("backbone", "classes", "variant", "switches"),
    [
        ("tiny", 20, "q2l", {"embed_dim": 64}),
        ("tiny", 20, "q2l", {"embed_dim": 64, "num_layers": 3, "multiscale": True}),
        ("tiny", 20, "q2l", {"embed_dim": 48, "num_heads": 6, "encoder_layers": 2, "self_attention": False}),
        ("tiny", 20, "ml_decoder", {"embed_dim": 64, "feedforward_ratio": 2.0}),
        ("resnet101", 80, "q2l", {}),
        ("resnet101", 80, "ml_decoder", {}),
        ("resnet101", 80, "ml_decoder", {"num_layers": 2, "multiscale": True}),
    ],
)
def test_parameter_counts_by_hand(backbone, classes, variant, switches):
    with torch.device("meta"):
        model = build_model(variant, classes, backbone, **switches)
    c = model.config
    c3, c4 = model.backbone.channels
    expected = head_parameters_by_hand(
        c3, c4, classes, c.embed_dim, layers=c.num_layers, ffn=c.feedforward_dim, encoder=c.encoder_layers,
        self_attention=c.self_attention, multiscale=c.multiscale,
    )  # fmt: skip
    assert model.parameter_count("head") == expected
    assert model.parameter_count("backbone") == sum(p.numel() for p in model.backbone.parameters())


# ---------------------------------------------------------------- configuration and presets


def test_presets_are_the_papers_settings():
    q2l, ml = PRESETS["q2l"], PRESETS["ml_decoder"]
    assert (q2l.embed_dim, q2l.feedforward_dim, q2l.num_heads, q2l.num_layers, q2l.encoder_layers) == (
        2048, 8192, 4, 2, 1,
    )  # fmt: skip
    assert q2l.self_attention and not ml.self_attention
    assert (ml.embed_dim, ml.feedforward_dim, ml.num_heads, ml.num_layers, ml.encoder_layers) == (
        768,
        2048,
        8,
        1,
        0,
    )
    assert q2l.score_names == ml.score_names == PRESETS["resnet"].score_names == ("s",)
    assert PRESETS["db_dgcn"].score_names == ("s", "s_r", "s_m")
    train = get_preset("q2l")
    assert (train.variant, train.optimizer, train.lr_head, train.lr_backbone, train.weight_decay) == (
        "q2l", "adamw", 1e-4, 1e-4, 1e-2,
    )  # fmt: skip
    assert (train.epochs, train.batch_size, train.image_size, train.grad_clip) == (80, 64, 448, None)
    train = get_preset("ml_decoder")
    assert (train.variant, train.optimizer, train.weight_decay, train.epochs, train.batch_size) == (
        "ml_decoder", "adamw", 1e-4, 40, 56,
    )  # fmt: skip


def test_bad_switches_are_refused_with_the_variants_own():
    tiny = {"num_classes": C, "backbone": "tiny"}
    with pytest.raises(ValueError, match=r"db_dgcn variant has no query head.*num_layers"):
        build_model("db_dgcn", **tiny, num_layers=2)
    with pytest.raises(ValueError, match=r"q2l variant has no graph head.*aux_branch"):
        build_model("q2l", **tiny, aux_branch=False)
    with pytest.raises(ValueError, match=r"resnet variant"):
        build_model("resnet", **tiny, self_attention=False)
    with pytest.raises(ValueError, match=r"bad num_heads 5: it must divide embed_dim \(32\)"):
        build_model("q2l", **tiny, embed_dim=32, num_heads=5)
    with pytest.raises(ValueError, match="num_layers"):
        ModelConfig(variant="ml_decoder", num_layers=0)
    with pytest.raises(ValueError, match="has no graph"):
        build_model("q2l", **tiny, adjacency=np.eye(C))
    with pytest.raises(ValueError, match=r"bad switches.num_layers 0: an integer in \[1, 64\]"):
        TrainConfig(switches={"num_layers": 0})
    with pytest.raises(ValueError, match=r"bad switches.feedforward_ratio"):
        TrainConfig(switches={"feedforward_ratio": -1})
    with pytest.raises(ValueError, match="bad optimizer 'adam': choose from sgd, adamw"):
        TrainConfig(optimizer="adam")


def test_checkpoints_round_trip(tmp_path):
    model = tiny_query_model("q2l", multiscale=True, encoder_layers=1)
    rebuilt = type(model)(ModelConfig(**model.config.to_dict()))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(rebuilt(images())["logits"], model(images())["logits"])
    assert isinstance(rebuilt.head, LabelQueryHead) and rebuilt.config == model.config


# ---------------------------------------------------------------- training paths


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic(tmp_path_factory.mktemp("query") / "synthetic", size="tiny")


def test_quick_train_takes_the_query_variants_unchanged(root):
    run = quick_train("ml_decoder", root=root, image_size=64, epochs=1, batch_size=8, embed_dim=16)
    assert run.adjacency is None and len(run.history) == 1 and np.isfinite(run.history[0]["loss"])
    out = run.predict("val")
    assert out["cross_attention"].shape == (len(run.tensors("val").images), 20, 2, 2)
    assert out["activation_maps"] is None


def test_the_trainer_builds_adamw_with_both_groups(root):
    trainer = Trainer(
        tiny_config(
            root, variant="q2l", optimizer="adamw", lr_head=1e-3, lr_backbone=1e-4, weight_decay=0.05
        ),
        progress=False,
        verbose=False,
    )
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    groups = trainer.optimizer.param_groups
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in groups] == [
        ("backbone", 1e-4, 0.05),
        ("head", 1e-3, 0.05),
    ]
    assert sum(p.numel() for p in groups[1]["params"]) == trainer.model.parameter_count("head")


TINY = ["--image-size", "64", "--batch-size", "8", "--set", "switches.embed_dim=16", "--no-progress"]


@pytest.fixture(scope="module")
def runs(root, tmp_path_factory):
    """One epoch of each query variant through the CLI (ml_decoder with AdamW): variant -> (run, stdout)."""
    base = tmp_path_factory.mktemp("query_runs")
    threads = torch.get_num_threads()  # the smoke preset sets the process's thread count
    result = {}
    for variant, extra in (("q2l", []), ("ml_decoder", ["--optimizer", "adamw", "--lr-head", "1e-3"])):
        out, printed = base / variant, io.StringIO()
        argv = ["train", "--preset", "smoke", "--variant", variant, "--data", str(root), "--out", str(out)]
        with contextlib.redirect_stdout(printed):
            assert main([*argv, "--epochs", "1", *TINY, *extra]) == 0
        result[variant] = out, printed.getvalue()
    torch.set_num_threads(threads)
    return result


@pytest.mark.parametrize("variant", ["q2l", "ml_decoder"])
def test_cli_trains_and_prints_one_score(runs, variant):
    out, printed = runs[variant]
    match = re.search(rf"^{variant} val mAP ([\d.]+) \(s\)  vs  random scores", printed, flags=re.M)
    assert match and "(s_r)" not in printed, printed
    row = json.loads((out / "log.jsonl").read_text())
    assert float(match.group(1)) == pytest.approx(row["val_mAP"], abs=0.005)
    assert row["val_mAP"] == row["val_mAP_r"] == row["val_mAP_m"]  # the log keeps every key


def test_cli_evaluate_predict_and_the_checkpoint(runs, root, capsys):
    out, _ = runs["q2l"]
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--workers", "0"]) == 0
    printed = capsys.readouterr().out
    assert re.findall(r"^(s|s_r|s_m)\s+[\d.]", printed, flags=re.M) == ["s", "s"]  # Table 1 and top-3 rows
    mAP = float(re.search(r"^s\s+([\d.]+)", printed, flags=re.M).group(1))
    assert mAP == pytest.approx(json.loads((out / "log.jsonl").read_text())["val_mAP"], abs=0.005)
    image = sorted((root / "val").glob("*.jpg"))[0]
    assert main(["predict", str(image), "--checkpoint", str(out / "last.pt"), "--threshold", "0"]) == 0
    assert len(re.findall(r"[a-z ]+ (?:0|1)\.\d\d", capsys.readouterr().out)) == 5
    ckpt = load_checkpoint(out / "last.pt")
    model = model_from_checkpoint(ckpt).eval()
    assert model.config.variant == "q2l" and model.config.embed_dim == 16
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt["model"][key]), key


def test_cli_adamw_state_and_resume_refuses_another_optimizer(runs, tmp_path, capsys):
    out, _ = runs["ml_decoder"]
    state = load_checkpoint(out / "last.pt")["optimizer"]["state"]
    assert {"exp_avg", "exp_avg_sq"} <= set(next(iter(state.values())))  # AdamW's moments
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    assert main(["train", "--resume", "--out", str(copy), "--epochs", "2", "--optimizer", "sgd"]) == 2
    assert "optimizer 'adamw' -> 'sgd'" in capsys.readouterr().err


def test_params_command_lists_the_query_heads(capsys):
    assert main(["params", "--backbone", "tiny", "--num-classes", "20", "--embed-dim", "64"]) == 0
    printed = capsys.readouterr().out
    rows = {line.split()[0] + (" " + line.split()[1] if "=" in line.split()[1] else ""): line for line in
            printed.splitlines()[2:]}  # fmt: skip
    assert {"q2l", "q2l self_attention=False", "q2l multiscale=True", "ml_decoder"} <= set(rows)
    with torch.device("meta"):
        q2l = build_model("q2l", 20, "tiny", embed_dim=64)
    assert f"{q2l.parameter_count():,}" in rows["q2l"]
