"""The benchmark annex on the CPU at toy sizes: the results files (``dbdgcn_lib.bench``), the bench loop,
the records, table, targets and estimates (``benchmarks/report.py``), and one dry run of each part of
``benchmarks/gpu_check.py``. The plumbing, not the speed, which a shared 2-core machine cannot measure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dbdgcn_lib.bench import append_result, cpu_ms_per_image, forward_flops, load_results, recorded_rates
from dbdgcn_lib.models import VARIANTS
from dbdgcn_lib.training import PRESETS, coco_run_hours, get_preset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))  # the scripts import each other, as when they run

import bench_loop  # noqa: E402
import gpu_check  # noqa: E402
import report  # noqa: E402

OLD_RESULTS = REPO / "docs" / "results" / "gpu_check_h200_2026-11-26.json"  # schema 1, measured on an H200
CPU = torch.device("cpu")
TOY = dict(image_size=32, backbone="tiny", num_classes=10, embed_dim=16, warmup=1, steps=2, workers=0)
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two threads wait for each other at every small op."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def env():
    return report.environment(CPU)


@pytest.fixture
def jpegs(tmp_path):
    from dbdgcn_lib.data import ImageFiles, make_jpeg_folder

    make_jpeg_folder(tmp_path / "jpeg", 6, (96, 72), workers=1)
    return ImageFiles.from_folder(tmp_path / "jpeg", num_classes=10)


def dry(part: str, out: Path) -> tuple[list[dict], str]:
    """``gpu_check.py --dry --parts part``: its records and its summary."""
    assert gpu_check.main(["--dry", "--parts", part, "--out", str(out)]) == 0
    return load_results(out / "results.json")["results"], (out / "summary.txt").read_text()


# --------------------------------------------------------------------------------------------------
# the results files
# --------------------------------------------------------------------------------------------------
def test_results_are_appended_atomically_and_old_files_read(tmp_path):
    path = tmp_path / "sub" / "r.json"
    append_result(path, {"variant": "a", "status": "ok"}, {"device_name": "x"})
    append_result(path, {"variant": "b", "status": "ok"}, {"device_name": "other"})
    data = load_results(path)
    assert [r["variant"] for r in data["results"]] == ["a", "b"] and data["env"] == {"device_name": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    assert load_results(tmp_path / "missing.json")["results"] == []
    old = json.loads(OLD_RESULTS.read_text())
    data = load_results(OLD_RESULTS)
    assert old["schema"] == 1 and data["schema"] == 2 and data["env"] == old["env"]
    assert [r["pipeline"] for r in data["results"]] == [
        {"cpu": "uint8", "gpu": "nvjpeg"}.get(r.get("loader")) for r in old["results"]
    ]
    assert [r.get("loader") for r in data["results"]] == [r.get("loader") for r in old["results"]]
    assert {r["source"] for r in data["results"]} == {"bench"}
    (tmp_path / "list.json").write_text('[{"name": "speed b18 eager uint8"}]')
    (tmp_path / "cut.json").write_text('{"results": [')
    for name, says in (
        ("list.json", "list.json: not a results file"),
        ("cut.json", "cut.json: not valid JSON"),
    ):
        with pytest.raises(ValueError, match=says):
            load_results(tmp_path / name)


# --------------------------------------------------------------------------------------------------
# the bench loop
# --------------------------------------------------------------------------------------------------
def test_the_bench_loop_times_the_trainers_step_in_each_mode(monkeypatch, env):
    steps, scores = [], []
    real_step, real_scores = bench_loop.train_step, bench_loop.forward_scores
    monkeypatch.setattr(bench_loop, "train_step", lambda *a, **kw: steps.append(kw) or real_step(*a, **kw))
    monkeypatch.setattr(
        bench_loop, "forward_scores", lambda *a, **kw: scores.append(kw) or real_scores(*a, **kw)
    )
    records = [
        bench_loop.measure(case, env, device=CPU, label="t", **TOY)
        for mode in ("released", "fast")
        for case in (bench_loop.Case("db_dgcn", phase, mode, 2, compile=False) for phase in ("train", "eval"))
    ]
    for r in records:
        assert r["status"] == "ok" and r["steps"] == 2 and r["img_per_s"] > 0 and r["finite"] is True
        assert (r["source"], r["input"], r["pipeline"], r["label"], r["compile"]) == (
            "bench",
            "synthetic",
            None,
            "t",
            False,
        )
        fast = r["mode"] == "fast"
        assert (r["amp"], r["channels_last"]) == (("bf16", True) if fast else ("float32", False))
        assert r["cudnn_benchmark"] is False and r["tf32"] is False  # CUDA switches, off on the CPU
    assert [r.get("fused_sgd") for r in records] == [False, None, False, None]
    clip = PRESETS["add_gcn"].grad_clip  # ADD-GCN's recipe
    assert steps == [{"amp": "none", "grad_clip": clip}] * 3 + [{"amp": "bf16", "grad_clip": clip}] * 3
    assert scores == [{"amp": "none"}] * 3 + [{"amp": "bf16"}] * 3  # warm-up, then the 2 timed steps


def test_compiled_cases_compile_as_the_trainer(monkeypatch, env):
    compiled = []

    def fake_compile(module, **options):  # records what would be compiled, runs it eagerly
        compiled.append(type(module).__name__)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    for phase, graphs in (("train", ["MultiLabelGCN"]), ("eval", ["Backbone", "GraphHead"])):
        compiled.clear()
        record = bench_loop.measure(bench_loop.Case("db_dgcn", phase, "fast", 2), env, device=CPU, **TOY)
        assert record["status"] == "ok" and record["compile"] is True and compiled == graphs


def test_the_bench_loop_feeds_every_pipeline_through_create_loader(monkeypatch, env, jpegs):
    calls = []
    real = bench_loop.create_loader

    def spy(files, **kwargs):
        calls.append((kwargs["pipeline"], kwargs["train"], kwargs["endless"], len(files.image_paths)))
        return real(files, **kwargs)

    monkeypatch.setattr(bench_loop, "create_loader", spy)
    records = [
        bench_loop.measure(
            bench_loop.Case("resnet", phase, "fast", 2, p, compile=False), env, device=CPU, files=jpegs, **TOY
        )  # fmt: skip
        for phase in ("train", "eval")
        for p in ("pil", "uint8", "nvjpeg")
    ]
    assert all(r["status"] == "ok" and r["input"] == "jpeg" and r["loader_img_per_s"] > 0 for r in records)
    assert [r["pipeline"] for r in records] == ["pil", "uint8", "nvjpeg"] * 2
    # training: the 6 files, on through epochs; evaluation: one pass of them repeated, as long as the case
    assert calls[:3] == [(p, True, True, 6) for p in ("pil", "uint8", "nvjpeg")]
    assert all(not train and not endless and n > 6 for _, train, endless, n in calls[3:])
    with pytest.raises(ValueError, match="needs image files"):
        bench_loop.run_case(bench_loop.Case("resnet", "eval", "fast", 2, "uint8"), bench_loop.MODES["fast"],
                            False, device=CPU, **TOY)  # fmt: skip


def test_a_failed_case_is_recorded_as_its_status(monkeypatch, env):
    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def broken(*args, **kwargs):
        raise RuntimeError("no kernel")

    case = bench_loop.Case("resnet", "eval", "fast", 2)
    statuses = []
    for fault in (oom, broken):
        monkeypatch.setattr(bench_loop, "run_case", fault)
        statuses.append(bench_loop.measure(case, env, device=CPU, **TOY)["status"])
    assert statuses == ["oom", "error: RuntimeError: no kernel"]


@cuda
def test_the_bench_loop_on_cuda(env, jpegs):
    device = torch.device("cuda")
    cases = [bench_loop.Case("db_dgcn", "train", m, 4, compile=False) for m in ("released", "fast")]
    cases += [bench_loop.Case("db_dgcn", "eval", "fast", 4, p, compile=False) for p in ("uint8", "nvjpeg")]
    records = [
        bench_loop.measure(c, report.environment(device), device=device, files=jpegs, **TOY) for c in cases
    ]
    for r in records:
        assert r["status"] == "ok" and r["peak_mem_gb"] > 0 and r["cuda"]
        assert r["cudnn_benchmark"] == (r["mode"] == "fast")
    assert [r.get("fused_sgd") for r in records] == [False, True, None, None]


# --------------------------------------------------------------------------------------------------
# records, table, estimates, targets
# --------------------------------------------------------------------------------------------------
class _Loader(SimpleNamespace):
    def __len__(self):
        return self.batches


def _fake_trainer(loss=0.7):
    """What ``trainer_records`` reads of a Trainer after a timing run of the paper preset on CUDA."""
    config = get_preset("paper", compile=True, cuda_graphs=True, eval_batch_size=256, limit_val_batches=16)
    row = {"steady_img_per_s": 600.0, "img_per_s": 300.0, "train_time_s": 20.0, "first_batch_s": 1.5,
           "train_loss": loss, "eval_img_per_s": 2560.0, "val_mAP": 4.5}  # fmt: skip
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
    env = {"device_name": "H200", "cuda": "13.0"}
    train, evaluation = report.trainer_records(
        _fake_trainer(), env, run="paper b18", mode="paper", peak_mem_gb=5.5
    )
    assert (train["source"], train["run"], train["phase"], train["mode"], train["batch"]) == (
        "trainer", "paper b18", "train", "paper", 18,
    )  # fmt: skip
    assert (train["img_per_s"], train["epoch_img_per_s"], train["step_ms"]) == (600.0, 300.0, 30.0)
    assert (train["amp"], train["cuda_graphs"], train["pipeline"], train["status"]) == (
        "bf16",
        True,
        "uint8",
        "ok",
    )
    assert train["peak_mem_gb"] == 5.5 and train["device"] == "H200"
    # evaluation: limit_val_batches=16 of 20 batches of 256
    assert (evaluation["batch"], evaluation["steps"], evaluation["images"]) == (256, 16, 4096)
    assert evaluation["img_per_s"] == 2560.0 and evaluation["step_ms"] == 100.0
    row = report.format_table([train]).splitlines()[-1]
    assert row.split()[:8] == ["trainer", "db_dgcn", "train", "paper", "jpeg/uint8", "18", "g", "600"]
    (estimate,) = report.run_estimates([train, evaluation])
    assert estimate["setting"] == "trainer paper b18"
    assert estimate["hours"] == pytest.approx(50 * (82_081 / 600 + 40_137 / 2560) / 3600)
    assert (
        report.trainer_records(_fake_trainer(float("nan")), {}, run="r", mode="paper")[0]["status"]
        == "non-finite"
    )


BASE = {"status": "ok", "source": "bench", "variant": "db_dgcn", "image_size": 448, "backbone": "resnet101",
        "mode": "fast", "compile": True, "device": "H200", "torch": "2.11"}  # fmt: skip


def test_estimates_pair_train_and_eval_rates_per_setting():
    jpeg = BASE | {"batch": 256, "input": "jpeg", "pipeline": "uint8"}
    records = [
        jpeg | {"phase": "train", "img_per_s": 820.81},
        jpeg | {"phase": "eval", "img_per_s": 401.37},
        jpeg | {"phase": "train", "img_per_s": 500.0, "batch": 18},  # no eval at batch 18: no estimate
        jpeg | {"phase": "eval", "img_per_s": 9e9, "backbone": "tiny"},  # another model: left out
    ]
    (row,) = report.run_estimates(records, epochs=2)
    assert row["hours"] == pytest.approx(2 * 200 / 3600)  # 2 x (82,081 / 820.81 + 40,137 / 401.37) s
    assert "fast batch 256 compiled jpeg/uint8" in report.format_estimates([row])
    assert "not measured" in report.format_estimates([])


def test_recorded_rates_keep_the_best_compiled_synthetic_rate_per_variant_and_phase(tmp_path):
    fast = {"status": "ok", "mode": "fast", "input": "synthetic", "compile": True, "image_size": 448}
    records = [
        fast | {"variant": "resnet", "phase": "train", "img_per_s": 900.0},
        fast | {"variant": "resnet", "phase": "train", "img_per_s": 1000.0},  # the best is kept
        fast | {"variant": "resnet", "phase": "eval", "img_per_s": 3000.0},
        fast | {"variant": "resnet", "phase": "eval", "img_per_s": 9e9, "compile": False},
        fast | {"variant": "resnet", "phase": "eval", "img_per_s": 9e9, "input": "jpeg"},
        fast | {"variant": "resnet", "phase": "eval", "img_per_s": 9e9, "mode": "released"},
        fast | {"variant": "resnet", "phase": "eval", "img_per_s": 9e9, "status": "oom"},
        fast | {"variant": "db_dgcn", "phase": "train", "img_per_s": 9e9, "image_size": 224},
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": 2, "env": {}, "results": records}))
    assert recorded_rates(path) == {("resnet", "train"): 1000.0, ("resnet", "eval"): 3000.0}
    assert recorded_rates(path, image_size=224) == {("db_dgcn", "train"): 9e9}
    assert recorded_rates(OLD_RESULTS)["db_dgcn", "train"] > 0  # the recorded H200 file


def test_forward_flops_count_the_backbone_and_the_head_apart():
    trunk, head = forward_flops("resnet", 10, "tiny", 64)
    assert head == 2 * 10 * 128  # GMP + Linear(128, 10): one multiply-add per weight (tiny's c4 = 128)
    for variant in ("db_dgcn", "q2l", "ml_decoder"):
        assert forward_flops(variant, 10, "tiny", 64, embed_dim=16)[0] == trunk  # the same backbone
    small, large = (forward_flops("q2l", 10, "tiny", 64, embed_dim=d)[1] for d in (16, 32))
    assert large > 2 * small  # attention and feed-forward grow with D squared


def test_cpu_ms_per_image_times_every_variant():
    times = cpu_ms_per_image(["resnet", "ml_decoder"], repeats=1, batch=2, image_size=32, num_classes=4)
    assert set(times) == {"resnet", "ml_decoder"}
    assert all(forward > 0 and step > 0 for forward, step in times.values())


def test_head_share_is_against_resnet_at_the_same_settings():
    base = BASE | {"phase": "train", "input": "synthetic", "batch": 128}
    records = [
        base | {"variant": "resnet", "img_per_s": 1000.0},
        base | {"img_per_s": 900.0},
        base | {"batch": 64, "img_per_s": 800.0},  # no resnet at batch 64
        base | {"input": "jpeg", "img_per_s": 1050.0},
    ]
    shared = report.add_head_share(records)
    assert shared[1]["head_share"] == pytest.approx(0.1)
    assert ["head_share" in r for r in shared] == [False, True, False, False]


def test_targets_read_bench_and_trainer_records():
    trainer = BASE | {"source": "trainer", "input": "jpeg", "pipeline": "uint8"}
    records = [
        BASE | {"phase": "train", "input": "jpeg", "pipeline": "uint8", "batch": 144, "img_per_s": 1100.0},
        BASE | {"phase": "train", "mode": "released", "input": "synthetic", "batch": 18, "variant": "add_gcn",
                "img_per_s": 330.0},
        trainer | {"run": "b18", "phase": "train", "mode": "paper", "batch": 18, "img_per_s": 560.0,
                   "amp": "bf16", "peak_mem_gb": 5.5},
        trainer | {"run": "b18", "phase": "eval", "mode": "paper", "batch": 256, "images": 4096,
                   "img_per_s": 2400.0},
        trainer | {"run": "b144", "phase": "train", "mode": "paper_large", "batch": 144, "img_per_s": 1067.0},
        trainer | {"run": "b144", "phase": "eval", "mode": "paper_large", "batch": 256, "images": 4096,
                   "img_per_s": 2600.0},
    ]  # fmt: skip
    rows = {r["target"].strip(): r for r in report.check_targets(records)}
    assert rows["bench: train img/s, real JPEG pipeline"]["value"] == 1100.0
    assert rows["... over add_gcn as released"]["value"] == round(1100 / 330, 2)
    assert rows["trainer: paper batch 18, steady train img/s"]["passed"] is True
    assert rows["trainer: eval img/s over >= 4,096 images"]["value"] == 2600.0
    assert rows["trainer / bench loop, same batch >= 128"]["value"] == round(1067 / 1100, 3)  # 0.97: PASS
    assert rows["trainer: 50 COCO epochs (h), paper batch 18"]["value"] == round(coco_run_hours(560, 2400), 2)
    assert rows["trainer: 50 COCO epochs (h), batch >= 128"]["passed"] is (coco_run_hours(1067, 2600) < 1.2)
    assert rows["train batch 18 bf16 peak GB"]["value"] == 5.5
    assert rows["bench: eval img/s (jpeg input)"]["passed"] is None
    text = report.format_targets(list(rows.values()))
    assert "not measured" in text and "PASS" in text and "issue" not in text.lower()


# --------------------------------------------------------------------------------------------------
# gpu_check.py: its machinery, then one dry run of each part
# --------------------------------------------------------------------------------------------------
def test_show_prints_the_h200_results_again_and_refuses_other_files(tmp_path, capsys):
    assert gpu_check.main(["--show", str(OLD_RESULTS)]) == 0
    shown = capsys.readouterr().out
    assert "jpeg/uint8" in shown and "jpeg/nvjpeg" in shown and "[batch18]" in shown
    # the H200's batch-256 uint8 rates: 50 x (82,081 / 1,148.8 + 40,137 / 2,965.6) / 3600 = 1.18 h
    assert "fast batch 256 compiled jpeg/uint8" in shown and "->  1.18 h" in shown
    assert re.search(r"bench: train img/s, real JPEG pipeline +1,148.8  goal >= 1,000  PASS", shown)
    (tmp_path / "list.json").write_text("[]")
    for path, says in (
        (tmp_path / "list.json", "not a results file"),
        (tmp_path / "none.json", "no such results"),
    ):
        assert gpu_check.main(["--show", str(path)]) == 2
        assert says in capsys.readouterr().err


def test_steps_that_do_not_fit_the_budget_are_skipped_and_recorded(tmp_path):
    check = gpu_check.GpuCheck(gpu_check.DRY, tmp_path, budget=100.0, dry=True)
    ran = []

    def boom():
        raise RuntimeError("no GPU here")

    steps = [
        gpu_check.Step("first", 0.0, lambda: ran.append("first")),
        gpu_check.Step("broken check", 0.0, boom),
        gpu_check.Step("too big", 1e6, lambda: ran.append("too big"), {"source": "trainer", "batch": 144}),
    ]
    lines = gpu_check.run_steps(steps, check.budget, check.failed, lambda lines: None)
    assert ran == ["first"] and lines[0].startswith("first: done in")
    assert (
        lines[1].startswith("broken check: error: RuntimeError: no GPU here") and "needs 1000000" in lines[2]
    )
    assert check.checks.failures == ["broken check"]  # a check that crashed is a FAIL
    (skipped,) = load_results(tmp_path / "results.json")[
        "results"
    ]  # a measurement that did not run is a record
    assert (skipped["run"], skipped["source"], skipped["batch"]) == ("too big", "trainer", 144)
    assert skipped["status"].startswith("skipped: ")


def test_the_gpu_check_refuses_what_it_cannot_run(capsys):
    with pytest.raises(SystemExit):
        gpu_check.main(["--parts", "correct,turbo", "--dry"])
    assert "unknown turbo" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert gpu_check.main(["--parts", "speed"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_part_correct_runs_dry(tmp_path):
    records, summary = dry("correct", tmp_path)
    checks = [line for line in summary.splitlines() if line.startswith(("  PASS", "  FAIL"))]
    # per variant a forward and a training step; the metrics; the decoder and two transforms
    assert records == [] and len(checks) == 2 * len(VARIANTS) + 4
    assert all(line.startswith("  PASS") for line in checks)
    for name in (
        "db_dgcn: bf16 train step",
        "metrics on cpu tensors == numpy",
        "nvJPEG decode",
        "GPU train transform",
    ):
        assert name in summary


def test_part_trainer_runs_dry(tmp_path):
    """The smoke preset per pipeline: plumbing only (a toy run learns too little for any margin)."""
    records, summary = dry("trainer", tmp_path)
    # the 16 validation images are one batch: no steady evaluation rate, so no eval records
    assert [(r["run"], r["phase"], r["pipeline"]) for r in records] == [
        (f"smoke {p}", "train", p) for p in ("pil", "uint8", "nvjpeg")
    ]
    for p in ("pil", "uint8", "nvjpeg"):
        assert (
            f"PASS  smoke {p}: trains" in summary
            and f"PASS  smoke {p}: evaluate gives the trainer's mAP" in summary
        )
        assert (tmp_path / "runs" / f"smoke-{p}" / "evaluate.json").is_file()
    assert "PASS  uint8 feeds the trainer what pil does  same labels: True" in summary
    assert "PASS  nvjpeg feeds the trainer what pil does" in summary
    assert "FAIL" not in summary and "learns" not in summary


def test_part_speed_runs_dry(tmp_path, monkeypatch):
    """Both trainer timing runs and the bench loop at the large batch, on the same files."""
    monkeypatch.chdir(tmp_path)  # the photo-like JPEGs go to .bench/ here
    records, summary = dry("speed", tmp_path / "out")
    assert [(r["source"], r["mode"], r["phase"], r["batch"]) for r in records] == [
        ("trainer", "paper", "train", 2),
        ("trainer", "paper", "eval", 4),
        ("trainer", "paper_large", "train", 4),
        ("trainer", "paper_large", "eval", 4),
        ("bench", "fast", "train", 4),
    ]
    assert {r["pipeline"] for r in records} == {"uint8"} and {r["status"] for r in records} == {"ok"}
    assert records[0]["cuda_graphs"] is False  # asked for, and left out on the CPU
    assert "targets:" in summary and summary.count(": done in") == 3
    assert summary.count("50 COCO 2014 epochs (db_dgcn, tiny, 32 px, b") == 2


def test_part_bench_runs_dry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    records, summary = dry("bench", tmp_path / "out")
    assert {r["status"] for r in records} == {"ok"} and len(records) == 12 + 4 + 6 + 2
    small, query = records[:12], records[12:16]
    variants, modes, phases = ("add_gcn", "db_dgcn", "resnet"), ("released", "fast"), ("train", "eval")
    assert {(r["variant"], r["mode"], r["phase"], r["batch"], r["compile"]) for r in query} == {
        (v, "fast", p, 2, False) for v in ("q2l", "ml_decoder") for p in phases
    }
    assert {(r["variant"], r["mode"], r["phase"], r["batch"], r["compile"]) for r in small} == {
        (v, m, p, 2, False) for v in variants for m in modes for p in phases
    }
    assert [(r["phase"], r["pipeline"], r["batch"]) for r in records[16:22]] == [
        (phase, p, batch) for phase, batch in (("train", 4), ("eval", 4)) for p in (None, "uint8", "nvjpeg")
    ]
    assert [r["variant"] for r in records[22:]] == ["resnet", "resnet"]
    assert all(r["loader_img_per_s"] > 0 for r in records if r["pipeline"])
    # every variant's synthetic case has a resnet case at the same settings: the head's share
    head = [
        r for r in report.add_head_share(records) if r["variant"] != "resnet" and r["input"] == "synthetic"
    ]
    assert (
        len(head) == 14 and all("head_share" in r for r in head) and "bench: resnet fast compiled" in summary
    )


def test_bench_metrics_agrees_with_scikit_learn(capsys):
    """benchmarks/bench_metrics.py at a small size: it exits with an error if any AP differs by > 1e-9."""
    import bench_metrics

    bench_metrics.main(["--images", "400", "--classes", "6", "--repeat", "1"])
    out = capsys.readouterr().out
    assert out.count("speed-up") == 2 and out.count("max |AP difference|") == 2
