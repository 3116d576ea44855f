"""The benchmark (python -m dbdgcn_lib bench) at tiny sizes on the CPU: every mode the CPU supports,
both input pipelines, the JSON file, the table, the targets, and what happens when a case breaks.

CPU timings here are noise (a shared 2-core machine, 2 steps); the tests check the machinery.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dbdgcn_lib.cli import main
from dbdgcn_lib.training import bench

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TINY = {
    "backbone": "tiny",
    "image_size": 32,
    "num_classes": 10,
    "embed_dim": 32,
    "device": "cpu",
    "warmup": 1,
    "steps": 2,
    "log": lambda s: None,
}


def _ok(results):
    bad = [r for r in results if r["status"] != "ok"]
    assert not bad, bad
    return results


def test_synthetic_matrix_released_and_fast_eager(tmp_path):
    out = tmp_path / "bench.json"
    results = _ok(
        bench.run_bench(
            variants="db_dgcn,resnet",
            modes="released,fast",
            phases="train,eval",
            batch=2,
            released_batch=3,
            compile=False,
            json_path=out,
            **TINY,
        )
    )
    assert [(r["variant"], r["mode"], r["phase"]) for r in results] == [
        (v, m, p) for v in ("db_dgcn", "resnet") for m in ("released", "fast") for p in ("train", "eval")
    ]
    for r in results:
        assert r["img_per_s"] > 0 and r["steps"] == 2 and r["finite"] is True
        assert r["batch"] == (3 if r["mode"] == "released" else 2)
        assert (r["amp"], r["channels_last"]) == (
            ("bf16", True) if r["mode"] == "fast" else ("float32", False)
        )
        assert r["compile"] is False and r["device"] and r["torch"] == torch.__version__
        assert ("fused_sgd" in r) == (r["phase"] == "train")
    data = json.loads(out.read_text())
    assert data["schema"] == bench.SCHEMA and data["env"]["device"] == "cpu" and len(data["results"]) == 8
    table = bench.format_table(data["results"], data["env"])
    assert table.startswith("device: ") and len(table.splitlines()) == 3 + 8
    shared = bench.add_head_share(data["results"])  # db_dgcn rows get a share against resnet's
    assert all(("head_share" in r) == (r["variant"] == "db_dgcn") for r in shared)


def test_jpeg_inputs_both_loaders(tmp_path):
    results = _ok(
        bench.run_bench(
            variants="add_gcn",
            modes="fast",
            phases="train",
            inputs="jpeg",
            loaders="gpu,cpu",
            batch=2,
            compile=False,
            workers=1,
            gpu_loader_workers=0,
            jpeg_count=6,
            jpeg_dir=tmp_path / "jpeg",
            **TINY,
        )
    )
    assert [(r["phase"], r["loader"]) for r in results] == [("train", "gpu"), ("train", "cpu")]
    for r in results:
        assert r["input"] == "jpeg" and r["loader_img_per_s"] > 0 and r["loader_warmup_steps"] >= 1
    assert len(list((tmp_path / "jpeg").glob("*.jpg"))) == 6
    # --data: an existing folder of JPEGs (COCO's val2014 layout) instead of generated ones
    again = bench.run_bench(
        variants="resnet", modes="released", phases="eval", inputs="jpeg", loaders="gpu",
        released_batch=2, workers=0, gpu_loader_workers=0, data=tmp_path / "jpeg", jpeg_count=4, **TINY,
    )  # fmt: skip
    assert _ok(again)[0]["loader"] == "gpu" and again[0]["phase"] == "eval"


def test_command_line_json_show_and_targets(tmp_path, capsys):
    out = tmp_path / "b.json"
    args = ["bench", "--variants", "resnet", "--modes", "fast", "--phases", "eval", "--no-compile",
            "--backbone", "tiny", "--image-size", "32", "--batch", "2", "--steps", "1", "--warmup", "1",
            "--device", "cpu", "--label", "cli", "--json", str(out)]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 0  # a second run appends
    assert [r["label"] for r in json.loads(out.read_text())["results"]] == ["cli", "cli"]
    capsys.readouterr()
    assert main(["bench", "--show", str(out), "--targets"]) == 0
    shown = capsys.readouterr().out
    assert "resnet   eval  fast" in shown and "[cli]" in shown and "targets (issue 6)" in shown
    assert "not measured" in shown  # tiny CPU runs say nothing about the 448-px GPU targets
    assert main(["bench", "--variants", "vgg", "--device", "cpu"]) == 2
    assert "bad variants: vgg" in capsys.readouterr().err
    assert main(["bench", "--show", str(tmp_path / "none.json")]) == 2
    with pytest.raises(SystemExit):
        main(["bench", "--batch", "zero"])


def test_out_of_memory_and_compiler_failures_are_recorded_not_fatal(monkeypatch):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(bench, "run_case", oom)
    (rec,) = bench.run_bench(variants="resnet", modes="fast", phases="eval", batch=2, compile=False, **TINY)
    assert rec["status"] == "oom"
    monkeypatch.undo()

    class BackendCompilerFailed(RuntimeError):  # what torch._dynamo raises when Inductor breaks
        __module__ = "torch._dynamo.exc"

    def broken_compile(model, scope="parts"):
        def forward(x):
            raise BackendCompilerFailed("inductor raised: a bug of this torch version")

        return forward

    monkeypatch.setattr(bench, "compile_model", broken_compile)
    (rec,) = _ok(bench.run_bench(variants="resnet", modes="fast", phases="train", batch=2, **TINY))
    assert rec["compile"] is False and "BackendCompilerFailed" in rec["compile_error"]

    def broken_build(*args, **kwargs):
        raise RuntimeError("no such backbone here")

    monkeypatch.setattr(bench, "build_model", broken_build)
    results = bench.run_bench(variants="resnet,db_dgcn", modes="released", phases="train", **TINY)
    assert [r["status"] for r in results] == ["error: RuntimeError: no such backbone here"] * 2


def test_json_results_are_appended_atomically(tmp_path):
    path = tmp_path / "sub" / "r.json"
    bench.append_result(path, {"variant": "a", "status": "ok"}, {"device_name": "x"})
    bench.append_result(path, {"variant": "b", "status": "ok"}, {"device_name": "other"})
    data = bench.load_results(path)
    assert [r["variant"] for r in data["results"]] == ["a", "b"] and data["env"] == {"device_name": "x"}
    assert not list(path.parent.glob("*.tmp"))
    assert bench.load_results(tmp_path / "missing.json")["results"] == []


def test_show_names_a_file_that_is_not_bench_results(tmp_path, capsys):
    other = tmp_path / "trainer.json"  # trainer_check.py writes a list of runs, not bench results
    other.write_text('[{"name": "speed b18 eager uint8"}]')
    with pytest.raises(ValueError, match="trainer.json: not a bench results file"):
        bench.load_results(other)
    broken = tmp_path / "cut.json"
    broken.write_text('{"results": [')
    for path, says in ((other, "not a bench results file"), (broken, "cut.json: not valid JSON")):
        assert main(["bench", "--show", str(path)]) == 2
        assert says in capsys.readouterr().err


def test_head_share_and_targets_from_records():
    base = {"status": "ok", "phase": "train", "mode": "fast", "input": "synthetic", "batch": 128,
            "image_size": 448, "backbone": "resnet101", "compile": True, "device": "H200",
            "torch": "2.11"}  # fmt: skip
    records = [
        {**base, "variant": "resnet", "img_per_s": 1000.0},
        {**base, "variant": "db_dgcn", "img_per_s": 900.0},
        {**base, "variant": "db_dgcn", "input": "jpeg", "loader": "cpu", "img_per_s": 1050.0},
        {**base, "variant": "add_gcn", "mode": "released", "batch": 18, "img_per_s": 300.0, "compile": False},
        {**base, "variant": "db_dgcn", "phase": "eval", "img_per_s": 3000.0},
        {**base, "variant": "db_dgcn", "batch": 18, "amp": "bf16", "compile": False, "img_per_s": 500.0,
         "peak_mem_gb": 6.5},
    ]  # fmt: skip
    shared = bench.add_head_share(records)
    assert shared[1]["head_share"] == pytest.approx(0.1) and "head_share" not in shared[2]
    rows = {r["target"].strip(): r for r in bench.check_targets(records)}
    assert rows["db_dgcn train img/s, real JPEG pipeline"]["passed"] is True
    assert rows["... over add_gcn as released"]["value"] == 3.5
    assert rows["db_dgcn eval img/s (synthetic input)"]["passed"] is True
    assert rows["db_dgcn eval img/s (jpeg input)"]["passed"] is None
    assert rows["db_dgcn train batch 18 bf16 peak GB"]["value"] == 6.5
    text = bench.format_targets(bench.check_targets(records))
    assert text.count("PASS") == 4 and "not measured" in text


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
    with pytest.raises(ValueError, match="compile scope"):
        bench.compile_model(runner.model, "everything")


@pytest.mark.slow
def test_fast_mode_compiles_on_cpu():
    """torch.compile of the tiny model on the CPU: about 30 s the first time (cached afterwards)."""
    (rec,) = _ok(
        bench.run_bench(variants="resnet", modes="fast", phases="eval", batch=2, **{**TINY, "warmup": 2})
    )
    assert rec["compile"] is True and rec["compile_scope"] == "parts" and "compile_error" not in rec


@cuda
def test_cuda_bench_small(tmp_path):
    results = bench.run_bench(
        variants="db_dgcn,resnet", modes="released,fast", phases="train", batch="auto", max_batch=8,
        compile=False, **{**TINY, "device": "cuda"},
    )  # fmt: skip
    results += bench.run_bench(
        variants="db_dgcn", modes="fast", phases="eval", inputs="jpeg", loaders="gpu,cpu", batch=4,
        workers=2, compile=False, jpeg_count=16, jpeg_dir=tmp_path, **{**TINY, "device": "cuda"},
    )  # fmt: skip
    for r in _ok(results):
        assert r["peak_mem_gb"] > 0 and r["cuda"] and r["cudnn_benchmark"] == (r["mode"] == "fast")
    auto = [r for r in results if r["mode"] == "fast" and r["phase"] == "train"]
    assert all(r["batch"] == 8 and r["batch_auto"] and r["fused_sgd"] for r in auto) and len(auto) == 2


def test_paper_run_estimate_from_records():
    base = {"status": "ok", "variant": "db_dgcn", "image_size": 448, "backbone": "resnet101", "mode": "fast"}
    base |= {"batch": 256, "compile": True, "input": "jpeg", "loader": "cpu"}
    records = [
        base | {"phase": "train", "img_per_s": 820.81},
        base | {"phase": "eval", "img_per_s": 401.37},
        base | {"phase": "train", "img_per_s": 500.0, "batch": 18},  # no eval at batch 18: no estimate
    ]
    (row,) = bench.paper_run_estimates(records, epochs=2)
    # 2 epochs x (82,081 / 820.81 + 40,137 / 401.37) s = 2 x 200 s
    assert abs(row["hours"] - 400 / 3600) < 1e-9
    assert "fast batch 256 compiled jpeg/cpu" in bench.format_estimates([row])
    assert "not measured" in bench.format_estimates([])


def run_script(*command: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """A script of benchmarks/ (``name.py`` with this interpreter, ``name.sh`` with bash); it must exit 0."""
    script = str(BENCHMARKS / command[0])
    argv = ["bash", script] if script.endswith(".sh") else [sys.executable, script]
    done = subprocess.run(
        [*argv, *command[1:]], env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_trainer_check_script_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/trainer_check.py (the GPU check of the real Trainer) in its CPU mode, toy sizes."""
    done = run_script("trainer_check.py", "--dry", "--out", str(tmp_path))
    assert "all checks passed" in done.stdout
    rows = json.loads((tmp_path / "trainer.json").read_text())
    names = [r["name"] for r in rows]
    assert names == [
        "smoke pil",
        "smoke uint8",
        "smoke nvjpeg",
        "speed b4 eager uint8",
        "speed b8 eager nvjpeg",
    ]
    assert {r["pipeline"] for r in rows} == {"pil", "uint8", "nvjpeg"}
    assert all(len(r["train_img_per_s"]) == r["epochs"] for r in rows)


def test_compare_pipelines_script_prints_one_row_per_pipeline(tmp_path):
    from dbdgcn_lib.data import make_synthetic

    root = make_synthetic(tmp_path / "tiny", size="tiny")
    done = run_script("compare_pipelines.py", "--data", str(root), "--image-size", "48", "--workers", "0")
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
    assert list(rows) == ["pil", "uint8", "nvjpeg"]
    assert float(rows["pil"][0]) == 0.0 and all(float(r[1]) < 1.5 for r in rows.values())


def test_gpu_check_script_runs_dry_on_the_cpu(tmp_path):
    """benchmarks/gpu_check.sh's benchmark parts (C: the bench at the trainer's batch; A, B, D: the
    matrix) in its CPU mode, toy sizes: every step exits 0 and the report holds their rows."""
    env = {"GPU_CHECK_DRY": "1", "PARTS": "compare bench", "OUT": str(tmp_path), "PYTHON": sys.executable}
    run_script("gpu_check.sh", env=env)
    steps = (tmp_path / "steps.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in steps] == ["== C", "== A", "== B1", "== B2", "== D"]
    assert all(": exit 0 after" in line for line in steps), steps
    labels = [r["label"] for r in json.loads((tmp_path / "bench.json").read_text())["results"]]
    assert labels.count("trainer-batch") == 4  # train and eval, synthetic and jpeg/cpu
    assert {"batch18", "fast"} <= set(labels)
    assert "targets (issue 6)" in (tmp_path / "bench.txt").read_text()
