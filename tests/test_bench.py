"""The benchmark (``dbdgcn_lib.bench``, ``python -m dbdgcn_lib bench``) and the scripts of ``benchmarks/``
on the CPU at tiny sizes: the machinery (cases, records, files, tables, targets, budgets), not the
speed, which a shared 2-core machine cannot measure.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dbdgcn_lib import bench
from dbdgcn_lib.bench import runner as bench_runner
from dbdgcn_lib.cli import build_parser, main
from dbdgcn_lib.training import PRESETS, coco_run_hours, get_preset

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
OLD_RESULTS = REPO / "docs" / "results" / "gpu_check_h200_2026-11-26.json"  # schema 1, measured on an H200

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TINY = dict(backbone="tiny", image_size=32, num_classes=10, embed_dim=32, device="cpu", warmup=1, steps=2)


def quiet(_text: str) -> None:
    pass


def tiny(**settings) -> bench.BenchConfig:
    return bench.BenchConfig(**{**TINY, **settings})


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two threads wait for each other at every small op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def script(monkeypatch):
    """Import a script of benchmarks/ as a module (its folder first on the path, as when it runs)."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


def _ok(results):
    bad = [r for r in results if r["status"] != "ok"]
    assert not bad, bad
    return results


# --------------------------------------------------------------------------------------------------
# the matrix and its runner
# --------------------------------------------------------------------------------------------------
def test_matrix_order_settings_and_results_file(tmp_path):
    out = tmp_path / "bench.json"
    config = tiny(
        variants="db_dgcn,resnet",
        modes="released,fast",
        batch=2,
        released_batch=3,
        compile=False,
        json_path=str(out),
    )
    results = _ok(bench.run_bench(config, log=quiet))
    assert [(r["variant"], r["mode"], r["phase"]) for r in results] == [
        (v, m, p) for v in ("db_dgcn", "resnet") for m in ("released", "fast") for p in ("train", "eval")
    ]
    for r in results:
        assert r["source"] == "bench" and r["steps"] == 2 and r["finite"] is True and r["img_per_s"] > 0
        assert r["batch"] == (3 if r["mode"] == "released" else 2)
        fast = r["mode"] == "fast"
        assert (r["amp"], r["channels_last"]) == (("bf16", True) if fast else ("float32", False))
        assert r["compile"] is False and r["torch"] == torch.__version__
        assert ("fused_sgd" in r) == (r["phase"] == "train")
    data = json.loads(out.read_text())
    assert data["schema"] == 2 and data["env"]["device"] == "cpu" and len(data["results"]) == 8
    table = bench.format_table(data["results"], data["env"])
    assert table.startswith("device: ") and len(table.splitlines()) == 3 + 8
    shared = bench.add_head_share(data["results"])  # db_dgcn rows get a share against resnet's
    assert [("head_share" in r) for r in shared] == [r["variant"] == "db_dgcn" for r in shared]


def test_jpeg_cases_feed_every_pipeline_through_create_loader(tmp_path, monkeypatch):
    calls = []
    real = bench_runner.create_loader

    def spy(files, **kwargs):
        calls.append((kwargs["pipeline"], kwargs["train"], kwargs["endless"], len(files.image_paths)))
        return real(files, **kwargs)

    monkeypatch.setattr(bench_runner, "create_loader", spy)
    config = tiny(
        variants="add_gcn",
        modes="fast",
        inputs="jpeg",
        pipelines="pil,uint8,nvjpeg",
        batch=2,
        compile=False,
        workers=0,
        nvjpeg_workers=0,
        jpeg_count=6,
        jpeg_dir=str(tmp_path / "jpeg"),
    )
    results = _ok(bench.run_bench(config, log=quiet))
    assert [(r["phase"], r["pipeline"]) for r in results] == [
        (p, q) for p in ("train", "eval") for q in ("pil", "uint8", "nvjpeg")
    ]
    assert all(r["input"] == "jpeg" and r["loader_img_per_s"] > 0 and r["steps"] == 2 for r in results)
    assert len(list((tmp_path / "jpeg").glob("*.jpg"))) == 6
    # training: the 6 files, endless; evaluation: one pass repeating them, long enough for every step
    train = [c for c in calls if c[1]]
    assert train == [(p, True, True, 6) for p in ("pil", "uint8", "nvjpeg")]
    assert all(c[2] is False and c[3] % 2 == 0 and c[3] > 6 for c in calls if not c[1])
    again = bench.run_bench(
        tiny(
            variants="resnet",
            modes="released",
            phases="eval",
            inputs="jpeg",
            released_batch=2,
            workers=0,
            data=str(tmp_path / "jpeg"),
            jpeg_count=4,
        ),
        log=quiet,
    )
    assert _ok(again)[0]["pipeline"] == "uint8" and calls[-1][:3] == ("uint8", False, False)


def test_runner_trains_with_the_trainers_step_and_add_gcn_recipe(monkeypatch):
    seen = {}
    real = bench_runner.train_step

    def spy(model, batch, optimizer, **kwargs):
        seen.update(kwargs)
        return real(model, batch, optimizer, **kwargs)

    monkeypatch.setattr(bench_runner, "train_step", spy)
    runner = bench.Runner(
        "db_dgcn",
        bench.mode_settings("released"),
        torch.device("cpu"),
        backbone="tiny",
        num_classes=10,
        embed_dim=16,
    )
    recipe = PRESETS["add_gcn"]
    groups = {g["name"]: g for g in runner.optimizer.param_groups}
    assert (groups["backbone"]["lr"], groups["head"]["lr"]) == (recipe.lr_backbone, recipe.lr_head)
    assert groups["head"]["weight_decay"] == recipe.weight_decay and groups["head"]["momentum"] == 0.9
    x, y = runner.synthetic_batch(2, 32)
    loss = runner.step("train", x, y)
    assert seen == {"amp": "none", "grad_clip": recipe.grad_clip} and loss.ndim == 0
    # evaluation: probabilities of s, as the model's own forward gives them
    runner.model.eval()
    with torch.no_grad():
        expected = torch.sigmoid(runner.model(x)["logits"])
    torch.testing.assert_close(runner.step("eval", x, y), expected)


def test_compile_scopes_choose_the_graphs(monkeypatch):
    compiled = []

    def fake_compile(module, **options):  # records what would be compiled, runs it eagerly
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    settings = bench.mode_settings("fast")
    for scope, train_graphs in (("parts", ["Backbone", "GraphHead"]), ("model", ["MultiLabelGCN"])):
        compiled.clear()
        runner = bench.Runner(
            "db_dgcn",
            settings,
            torch.device("cpu"),
            backbone="tiny",
            num_classes=10,
            embed_dim=16,
            compile_scope=scope,
        )
        runner.compile()
        assert compiled[:2] == ["Backbone", "GraphHead"]  # evaluation: the trainer's two parts
        assert compiled[2:] == ([] if scope == "parts" else train_graphs)
        assert (runner.train_net is runner.eval_net) == (scope == "parts")
    with pytest.raises(ValueError, match="compile scope"):
        bench.Runner("resnet", settings, torch.device("cpu"), backbone="tiny", compile_scope="everything")


def test_failed_cases_are_recorded_and_the_run_goes_on(monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(bench_runner, "run_case", oom)
    (rec,) = bench.run_bench(
        tiny(variants="resnet", modes="fast", phases="eval", batch=2, compile=False), quiet
    )
    assert rec["status"] == "oom"
    monkeypatch.undo()

    class BackendCompilerFailed(RuntimeError):  # what torch._dynamo raises when Inductor breaks
        __module__ = "torch._dynamo.exc"

    class BrokenParts:
        def __init__(self, model, **options):
            pass

        def forward_features(self, x):
            raise BackendCompilerFailed("inductor raised: a bug of this torch version")

        __call__ = forward_features

        def train(self, mode=True):
            return self

    monkeypatch.setattr(bench_runner, "CompiledParts", BrokenParts)
    (rec,) = _ok(bench.run_bench(tiny(variants="resnet", modes="fast", phases="train", batch=2), quiet))
    assert rec["compile"] is False and "BackendCompilerFailed" in rec["compile_error"]

    def broken_build(*args, **kwargs):
        raise RuntimeError("no such backbone here")

    monkeypatch.setattr(bench_runner, "build_model", broken_build)
    results = bench.run_bench(tiny(variants="resnet,db_dgcn", modes="released", phases="train"), quiet)
    assert [r["status"] for r in results] == ["error: RuntimeError: no such backbone here"] * 2


def test_bench_config_checks_and_splits_its_lists():
    config = bench.BenchConfig(variants="db_dgcn, resnet", pipelines="nvjpeg")
    assert config.variants == ("db_dgcn", "resnet") and config.pipelines == ("nvjpeg",)
    for bad, says in (
        (dict(variants="vgg"), "bad variants: vgg"),
        (dict(pipelines="gpu"), "bad pipelines: gpu"),
        (dict(batch=0), "bad batch 0"),
        (dict(batch="big"), "bad batch 'big'"),
        (dict(steps=0), "bad steps 0"),
        (dict(compile_scope="all"), "bad compile_scope"),
        (dict(threads=0), "bad threads 0"),
    ):
        with pytest.raises(ValueError, match=says):
            bench.BenchConfig(**bad)


def test_auto_batch_on_cpu_and_mode_settings():
    runner = bench.Runner(
        "resnet", bench.mode_settings("fast", compile=False), torch.device("cpu"), backbone="tiny"
    )
    assert bench.find_max_batch(runner, "train", 32, max_batch=256) == (8, [])
    assert bench.find_max_batch(runner, "train", 32, max_batch=4) == (4, [])
    assert bench.mode_settings("released") == bench.ModeSettings(False, False, False, False, False, False)
    assert bench.mode_settings("fast").compile is True
    with pytest.raises(ValueError, match="unknown mode"):
        bench.mode_settings("turbo")


# --------------------------------------------------------------------------------------------------
# results: the file, the trainer's records, the table, the estimates
# --------------------------------------------------------------------------------------------------
def test_results_are_appended_atomically_and_old_files_read(tmp_path):
    path = tmp_path / "sub" / "r.json"
    bench.append_result(path, {"variant": "a", "status": "ok"}, {"device_name": "x"})
    bench.append_result(path, {"variant": "b", "status": "ok"}, {"device_name": "other"})
    data = bench.load_results(path)
    assert [r["variant"] for r in data["results"]] == ["a", "b"] and data["env"] == {"device_name": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    assert bench.load_results(tmp_path / "missing.json")["results"] == []
    old = json.loads(OLD_RESULTS.read_text())
    loaders = [r.get("loader") for r in old["results"]]
    data = bench.load_results(OLD_RESULTS)
    assert old["schema"] == 1 and data["schema"] == 2 and data["env"] == old["env"]
    assert [r.get("pipeline") for r in data["results"]] == [
        {"cpu": "uint8", "gpu": "nvjpeg"}.get(v) for v in loaders
    ]
    assert {"uint8", "nvjpeg"} <= {r["pipeline"] for r in data["results"]}
    assert {r["source"] for r in data["results"]} == {"bench"}


def test_show_reads_old_results_and_names_files_that_are_not_results(tmp_path, capsys):
    assert main(["bench", "--show", str(OLD_RESULTS)]) == 0
    shown = capsys.readouterr().out
    assert "jpeg/uint8" in shown and "jpeg/nvjpeg" in shown and "[batch18]" in shown
    # the H200's batch-256 uint8 rates: 50 x (82,081 / 1,148.8 + 40,137 / 2,965.6) / 3600 = 1.18 h
    assert "fast batch 256 compiled jpeg/uint8" in shown and "->  1.18 h" in shown
    other = tmp_path / "trainer.json"  # the old trainer_check.py wrote a list of runs
    other.write_text('[{"name": "speed b18 eager uint8"}]')
    broken = tmp_path / "cut.json"
    broken.write_text('{"results": [')
    for path, says in (
        (other, "trainer.json: not a bench results file"),
        (broken, "cut.json: not valid JSON"),
        (tmp_path / "none.json", "no such results file"),
    ):
        assert main(["bench", "--show", str(path)]) == 2
        assert says in capsys.readouterr().err


class _Loader(SimpleNamespace):
    def __len__(self):
        return self.batches


def _fake_trainer(loss=0.7):
    """What ``trainer_records`` reads of a Trainer after a timing run of the paper preset on CUDA."""
    config = get_preset("paper", compile=True, cuda_graphs=True, eval_batch_size=256, limit_val_batches=16)
    row = {
        "steady_img_per_s": 600.0,
        "img_per_s": 300.0,
        "train_time_s": 20.0,
        "first_batch_s": 1.5,
        "train_loss": loss,
        "eval_img_per_s": 2560.0,
        "val_mAP": 4.5,
    }
    return SimpleNamespace(
        config=config,
        history=[row],
        device=torch.device("cuda"),
        cuda_graphs=True,
        class_names=["c"] * 80,
        steps_per_epoch=300,
        train_loader=SimpleNamespace(pipeline="uint8"),
        val_loader=_Loader(batch_size=256, batches=20),
        val_set=range(5000),
    )


def test_trainer_records_share_the_format_and_table():
    trainer = _fake_trainer()
    train, evaluation = bench.trainer_records(
        trainer, {"device_name": "H200", "cuda": "13.0"}, run="paper b18", mode="paper", peak_mem_gb=5.5
    )
    assert (train["source"], train["run"], train["phase"], train["mode"]) == (
        "trainer",
        "paper b18",
        "train",
        "paper",
    )
    assert train["img_per_s"] == 600.0 and train["epoch_img_per_s"] == 300.0 and train["step_ms"] == 30.0
    assert (train["amp"], train["cuda_graphs"], train["pipeline"], train["batch"]) == (
        "bf16",
        True,
        "uint8",
        18,
    )
    assert train["status"] == "ok" and train["peak_mem_gb"] == 5.5 and train["device"] == "H200"
    # evaluation: limit_val_batches=16 of 20 batches of 256
    assert (evaluation["batch"], evaluation["steps"], evaluation["images"]) == (256, 16, 4096)
    assert evaluation["img_per_s"] == 2560.0 and evaluation["step_ms"] == 100.0
    row = bench.format_table([train], header=False)
    assert row.split()[:8] == ["trainer", "db_dgcn", "train", "paper", "jpeg/uint8", "18", "g", "600"]
    (estimate,) = bench.run_estimates([train, evaluation])
    assert estimate["setting"] == "trainer paper b18"
    assert estimate["hours"] == pytest.approx(50 * (82_081 / 600 + 40_137 / 2560) / 3600)
    bad = _fake_trainer(loss=float("nan"))
    assert bench.trainer_records(bad, {}, run="r", mode="paper")[0]["status"] == "non-finite"


def test_estimates_pair_train_and_eval_rates_per_setting():
    base = {
        "status": "ok",
        "source": "bench",
        "variant": "db_dgcn",
        "image_size": 448,
        "backbone": "resnet101",
        "mode": "fast",
        "batch": 256,
        "compile": True,
        "input": "jpeg",
        "pipeline": "uint8",
    }
    records = [
        base | {"phase": "train", "img_per_s": 820.81},
        base | {"phase": "eval", "img_per_s": 401.37},
        base | {"phase": "train", "img_per_s": 500.0, "batch": 18},  # no eval at batch 18: no estimate
        base | {"phase": "eval", "img_per_s": 9e9, "backbone": "tiny"},  # another model: left out
    ]
    (row,) = bench.run_estimates(records, epochs=2)
    assert row["hours"] == pytest.approx(2 * 200 / 3600)  # 2 x (82,081 / 820.81 + 40,137 / 401.37) s
    assert "fast batch 256 compiled jpeg/uint8" in bench.format_estimates([row])
    assert "not measured" in bench.format_estimates([])


def test_head_share_is_against_resnet_at_the_same_settings():
    base = {
        "status": "ok",
        "phase": "train",
        "mode": "fast",
        "input": "synthetic",
        "batch": 128,
        "image_size": 448,
        "backbone": "resnet101",
        "compile": True,
        "device": "H200",
        "torch": "2.11",
    }
    records = [
        {**base, "variant": "resnet", "img_per_s": 1000.0},
        {**base, "variant": "db_dgcn", "img_per_s": 900.0},
        {**base, "variant": "db_dgcn", "batch": 64, "img_per_s": 800.0},  # no resnet at batch 64
        {**base, "variant": "db_dgcn", "input": "jpeg", "img_per_s": 1050.0},
    ]
    shared = bench.add_head_share(records)
    assert shared[1]["head_share"] == pytest.approx(0.1)
    assert ["head_share" in r for r in shared] == [False, True, False, False]


# --------------------------------------------------------------------------------------------------
# the command line
# --------------------------------------------------------------------------------------------------
def test_every_bench_config_field_is_a_flag_and_old_flags_still_work():
    parser = build_parser()
    bench_parser = parser._subparsers._group_actions[0].choices["bench"]
    dests = {a.dest for a in bench_parser._actions}
    assert {f"option_{name}" for name in bench.BenchConfig.names()} <= dests
    from dbdgcn_lib.cli.bench import config_from_args

    def config(*flags):
        return config_from_args(parser.parse_args(["bench", *flags]))

    assert config("--loader", "gpu,cpu").pipelines == ("nvjpeg", "uint8")
    assert config("--input", "jpeg", "--gpu-loader-workers", "2").inputs == ("jpeg",)
    assert config("--no-compile").compile is False and config("--compile", "false").compile is False
    assert config("--compile").compile is True and config("--batch", "auto").batch == "auto"
    assert config("--batch", "64", "--embed-dim", "none", "--max-seconds", "2.5").batch == 64
    assert config("--json", "x.json").json_path == "x.json"


def test_command_line_runs_appends_and_refuses_bad_input(tmp_path, capsys):
    out = tmp_path / "b.json"
    args = [
        "bench",
        "--variants",
        "resnet",
        "--modes",
        "fast",
        "--phases",
        "eval",
        "--no-compile",
        "--backbone",
        "tiny",
        "--image-size",
        "32",
        "--batch",
        "2",
        "--steps",
        "1",
        "--warmup",
        "1",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--label",
        "cli",
        "--json",
        str(out),
    ]
    assert main(args) == 0
    assert main(args) == 0  # a second run appends
    assert [r["label"] for r in json.loads(out.read_text())["results"]] == ["cli", "cli"]
    capsys.readouterr()
    for bad, says in (
        (["--variants", "vgg"], "bad variants: vgg"),
        (["--batch", "zero"], "bad batch 'zero'"),
        (["--loader", "gpu", "--pipelines", "uint8"], "old name of --pipelines"),
        (["--data", str(tmp_path / "nowhere")], "no such folder"),
    ):
        assert main(["bench", "--device", "cpu", *bad]) == 2
        assert says in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------
# benchmarks/: the targets, the trainer's speed script and one dry run of each script
# --------------------------------------------------------------------------------------------------
def test_targets_read_bench_and_trainer_records(script):
    targets = script("targets")
    base = {
        "status": "ok",
        "variant": "db_dgcn",
        "image_size": 448,
        "backbone": "resnet101",
        "device": "H200",
    }
    records = [
        base
        | {
            "source": "bench",
            "phase": "train",
            "mode": "fast",
            "input": "jpeg",
            "pipeline": "uint8",
            "batch": 144,
            "compile": True,
            "img_per_s": 1100.0,
        },
        base
        | {
            "source": "bench",
            "phase": "train",
            "mode": "released",
            "input": "synthetic",
            "batch": 18,
            "variant": "add_gcn",
            "img_per_s": 330.0,
        },
        base
        | {
            "source": "trainer",
            "run": "b18",
            "phase": "train",
            "mode": "paper",
            "input": "jpeg",
            "pipeline": "uint8",
            "batch": 18,
            "img_per_s": 560.0,
            "amp": "bf16",
            "peak_mem_gb": 5.5,
        },
        base
        | {
            "source": "trainer",
            "run": "b18",
            "phase": "eval",
            "mode": "paper",
            "input": "jpeg",
            "batch": 256,
            "images": 4096,
            "img_per_s": 2400.0,
        },
        base
        | {
            "source": "trainer",
            "run": "b144",
            "phase": "train",
            "mode": "paper_large",
            "input": "jpeg",
            "pipeline": "uint8",
            "batch": 144,
            "compile": True,
            "img_per_s": 1067.0,
        },
        base
        | {
            "source": "trainer",
            "run": "b144",
            "phase": "eval",
            "mode": "paper_large",
            "input": "jpeg",
            "batch": 256,
            "images": 4096,
            "img_per_s": 2600.0,
        },
    ]
    rows = {r["target"].strip(): r for r in targets.check_targets(records)}
    assert rows["bench: train img/s, real JPEG pipeline"]["value"] == 1100.0
    assert rows["... over add_gcn as released"]["value"] == round(1100 / 330, 2)
    assert rows["trainer: paper batch 18, steady train img/s"]["passed"] is True
    assert rows["trainer: eval img/s over >= 4,096 images"]["value"] == 2600.0
    assert rows["trainer / bench loop, same batch >= 128"]["value"] == round(1067 / 1100, 3)  # 0.97: PASS
    b18_hours = coco_run_hours(560, 2400)
    assert rows["trainer: 50 COCO epochs (h), paper batch 18"]["value"] == round(b18_hours, 2)
    assert rows["trainer: 50 COCO epochs (h), batch >= 128"]["passed"] is (coco_run_hours(1067, 2600) < 1.2)
    assert rows["train batch 18 bf16 peak GB"]["value"] == 5.5
    assert rows["bench: eval img/s (jpeg input)"]["passed"] is None
    text = targets.format_targets(list(rows.values()))
    assert "not measured" in text and "issue" not in text.lower()


def test_trainer_speed_steps_skip_what_does_not_fit_the_budget(script):
    speed = script("trainer_speed")
    ran, recorded = [], []

    def boom():
        raise RuntimeError("no GPU here")

    steps = [
        speed.Step("first", 0.0, lambda: ran.append("first")),
        speed.Step("broken", 0.0, boom),
        speed.Step("too big", 1e6, lambda: ran.append("too big")),
    ]
    lines = speed.run_steps(
        steps, speed.Budget(100.0), lambda s, status: recorded.append((s.name, status)), quiet
    )
    assert ran == ["first"]
    assert [name for name, _ in recorded] == ["broken", "too big"]
    assert recorded[0][1] == "error: RuntimeError: no GPU here" and recorded[1][1].startswith("skipped: ")
    assert lines[0].startswith("first: done in") and "needs 1000000" in lines[2]


def test_trainer_speed_runs_dry(script, tmp_path):
    """benchmarks/trainer_speed.py on the CPU at toy sizes: both trainer runs and the bench loop."""
    speed = script("trainer_speed")
    assert speed.main(["--dry", "--out", str(tmp_path / "out"), "--data-dir", str(tmp_path / "data")]) == 0
    records = bench.load_results(tmp_path / "out" / "results.json")["results"]
    assert [(r["source"], r["mode"], r["phase"], r["batch"]) for r in records] == [
        ("trainer", "paper", "train", 4),
        ("trainer", "paper", "eval", 8),
        ("trainer", "paper_large", "train", 8),
        ("trainer", "paper_large", "eval", 8),
        ("bench", "fast", "train", 8),
    ]
    assert {r["pipeline"] for r in records} == {"uint8"} and {r["status"] for r in records} == {"ok"}
    assert records[0]["cuda_graphs"] is False  # asked for, and left out on the CPU
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "targets:" in summary and summary.count(": done in") == 3
    assert summary.count("50 COCO 2014 epochs (db_dgcn, tiny, 64 px, batch") == 2


def test_gpu_selfcheck_runs_dry(script, capsys):
    assert script("gpu_selfcheck").main(["--device", "cpu", "--size", "64", "--backbone", "tiny"]) == 0
    out = capsys.readouterr().out
    assert out.count("PASS") == 10 and "selfcheck: all checks passed" in out


def test_compare_pipelines_prints_one_row_per_pipeline(script, tmp_path, capsys):
    from dbdgcn_lib.data import make_synthetic

    root = make_synthetic(tmp_path / "tiny", size="tiny")
    assert (
        script("compare_pipelines").main(["--data", str(root), "--image-size", "48", "--workers", "0"]) == 0
    )
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert list(rows) == ["pil", "uint8", "nvjpeg"]
    assert float(rows["pil"][0]) == 0.0 and all(float(r[1]) < 1.5 for r in rows.values())


def test_trainer_check_runs_dry(script, tmp_path):
    """benchmarks/trainer_check.py on the CPU: the smoke preset per pipeline, evaluate on each checkpoint."""
    assert script("trainer_check").main(["--dry", "--out", str(tmp_path)]) == 0
    records = bench.load_results(tmp_path / "trainer.json")["results"]
    assert [r["run"] for r in records if r["phase"] == "train"] == [
        "smoke pil",
        "smoke uint8",
        "smoke nvjpeg",
    ]
    assert {r["pipeline"] for r in records} == {"pil", "uint8", "nvjpeg"}


@pytest.mark.slow
def test_gpu_check_script_runs_dry(tmp_path):
    """benchmarks/gpu_check.sh in its CPU mode, toy sizes: its budget, steps and report around two of its
    parts (the scripts of the others have dry runs of their own above): every step exits 0 and the
    report holds the trainer's runs and the speed step's records."""
    env = {
        **os.environ,
        "GPU_CHECK_DRY": "1",
        "PARTS": "trainer speed",
        "OUT": str(tmp_path),
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(BENCHMARKS / "gpu_check.sh")], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    steps = (tmp_path / "steps.txt").read_text().splitlines()
    assert len(steps) == 2 and all(": exit 0 after" in line for line in steps), steps
    report = (tmp_path / "bench.txt").read_text()
    assert "targets:" in report and "(smoke nvjpeg)" in report and "(paper_large b8)" in report


@pytest.mark.slow
def test_fast_mode_compiles_on_cpu():
    """torch.compile of the tiny model on the CPU: about 30 s the first time (cached afterwards)."""
    (rec,) = _ok(
        bench.run_bench(tiny(variants="resnet", modes="fast", phases="eval", batch=2, warmup=2), quiet)
    )
    assert rec["compile"] is True and rec["compile_scope"] == "parts" and "compile_error" not in rec


@cuda
def test_cuda_bench_small(tmp_path):
    results = bench.run_bench(
        tiny(
            variants="db_dgcn,resnet",
            modes="released,fast",
            phases="train",
            batch="auto",
            max_batch=8,
            compile=False,
            device="cuda",
        ),
        quiet,
    )
    results += bench.run_bench(
        tiny(
            variants="db_dgcn",
            modes="fast",
            phases="eval",
            inputs="jpeg",
            pipelines="nvjpeg,uint8",
            batch=4,
            workers=2,
            compile=False,
            jpeg_count=16,
            jpeg_dir=str(tmp_path),
            device="cuda",
        ),
        quiet,
    )
    for r in _ok(results):
        assert r["peak_mem_gb"] > 0 and r["cuda"] and r["cudnn_benchmark"] == (r["mode"] == "fast")
    auto = [r for r in results if r["mode"] == "fast" and r["phase"] == "train"]
    assert all(r["batch"] == 8 and r["batch_auto"] and r["fused_sgd"] for r in auto) and len(auto) == 2


def test_bench_models_get_the_cooccurrence_prior_the_trainer_would_set():
    from dbdgcn_lib.data import random_targets
    from dbdgcn_lib.graph import cooccurrence, static_adjacency

    runner = bench.Runner(
        "db_dgcn",
        bench.mode_settings("released"),
        torch.device("cpu"),
        backbone="tiny",
        num_classes=10,
        embed_dim=16,
        seed=3,
    )
    expected = static_adjacency(*cooccurrence(random_targets(1024, 10, seed=3)), tau=0.4, p=0.2)
    np.testing.assert_allclose(runner.model.head.gcn.static.adjacency.numpy(), expected, rtol=1e-6)
