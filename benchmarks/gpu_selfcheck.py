"""Correctness on the GPU before it is timed: python benchmarks/gpu_selfcheck.py [--size 448]

Checks, each printed PASS / FAIL with its numbers (exit status 1 if any fails):
1. every variant (ResNet-101, random init) runs on CUDA in bf16 autocast + channels_last, with
   finite outputs of the contracted shapes, and agrees with its own float32 NCHW forward;
2. one training step (the trainer's ``train_step``) in bf16 gives a finite loss and moves the weights;
3. ``multilabel_metrics`` / ``average_precision`` on CUDA tensors equal the numpy results;
4. nvJPEG decoding and the GPU transform agree with the CPU path on photo-like JPEGs, one of them
   grayscale and one CMYK (COCO has both).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from _checks import Checks


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def models(check: Checks, size: int, device: torch.device, backbone: str = "resnet101") -> None:
    from dbdgcn_lib.models import build_model
    from dbdgcn_lib.training import train_step

    torch.manual_seed(0)
    x = torch.randn(4, 3, size, size, device=device)
    for variant in ("resnet", "add_gcn", "db_dgcn"):
        model = build_model(variant, 80, backbone, pretrained=False).to(device).eval()
        with torch.inference_mode():
            ref = model(x)["logits"].float()
            model = model.to(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16):
                out = model(x.contiguous(memory_format=torch.channels_last), return_intermediates=True)
        logits = out["logits"].float()
        err = rel_err(logits, ref)
        map_shape = (4, 80, size // 32, size // 32)
        shapes_ok = logits.shape == (4, 80) and out["activation_maps"].shape == map_shape
        if variant != "resnet":
            shapes_ok = shapes_ok and out["dynamic_adjacency"].shape == (4, 80, 80)
        finite = all(torch.isfinite(out[k].float()).all() for k in ("logits", "s_r", "s_m"))
        detail = f"rel. error vs float32 NCHW {err:.2e} (bf16: < 5e-2)"
        check(f"{variant}: bf16 + channels_last forward", bool(finite and shapes_ok and err < 0.05), detail)

        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        y = (torch.rand(4, 80, device=device) < 0.05).float()
        before = next(model.head.parameters()).detach().clone()
        loss = train_step(model, (x.contiguous(memory_format=torch.channels_last), y), opt, amp="bf16")
        moved = not torch.equal(before, next(model.head.parameters()).detach())
        check(f"{variant}: bf16 train step", bool(torch.isfinite(loss)) and moved, f"loss {loss.item():.4f}")
        del model, opt
        if device.type == "cuda":
            torch.cuda.empty_cache()


def metrics(check: Checks, device: torch.device) -> None:
    from dbdgcn_lib.metrics import average_precision, multilabel_metrics

    rng = np.random.default_rng(0)
    scores = rng.random((2000, 80)).round(2).astype(np.float32)  # rounding makes ties
    targets = (rng.random((2000, 80)) < 0.05).astype(np.float32)
    targets[:, 7] = 0  # a class with no positives
    ap_np = average_precision(scores, targets)
    ap_gpu = average_precision(torch.from_numpy(scores).to(device), torch.from_numpy(targets).to(device))
    same_ap = np.allclose(np.asarray(ap_gpu, dtype=np.float64), ap_np, atol=1e-6, equal_nan=True)
    m_np = multilabel_metrics(scores, targets)
    m_gpu = multilabel_metrics(torch.from_numpy(scores).to(device), torch.from_numpy(targets).to(device))
    same = all(abs(float(m_np[k]) - float(m_gpu[k])) < 1e-4 for k in m_np)
    check("metrics on CUDA tensors == numpy", bool(same_ap and same), f"mAP {float(m_np['mAP']):.3f}")


def jpeg_pipeline(check: Checks, device: torch.device) -> None:
    from PIL import Image

    from dbdgcn_lib.data import GpuBatchTransform, decode_jpegs, make_jpeg_folder, read_image_file

    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpeg_folder(Path(tmp) / "j", 6)
        Image.open(paths[0]).convert("L").save(Path(tmp) / "grey.jpg", quality=90)
        Image.open(paths[1]).convert("CMYK").save(Path(tmp) / "cmyk.jpg", quality=90)
        paths += [Path(tmp) / "grey.jpg", Path(tmp) / "cmyk.jpg"]
        data = [read_image_file(p) for p in paths]
        t0 = time.perf_counter()
        on_gpu = decode_jpegs(data, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        on_cpu = decode_jpegs(data, "cpu")
        diffs = [float((a.cpu().float() - b.float()).abs().mean()) for a, b in zip(on_gpu, on_cpu)]
        shapes = all(a.shape == b.shape and a.shape[0] == 3 for a, b in zip(on_gpu, on_cpu))
        detail = f"mean |diff| per image <= {max(diffs):.2f} levels, first call {1e3 * (t1 - t0):.0f} ms"
        # nvJPEG and libjpeg-turbo differ in IDCT and chroma upsampling: 3.4 levels measured on an H200
        check("nvJPEG decode == CPU decode (grey and CMYK included)", shapes and max(diffs) < 8.0, detail)
        for train in (False, True):
            boxes = [(5, 7, 448, 448)] * len(data) if train else None
            flips = [i % 2 == 0 for i in range(len(data))] if train else None
            a = GpuBatchTransform(448, device=device)(data, boxes=boxes, flips=flips)
            b = GpuBatchTransform(448, device="cpu")(data, boxes=boxes, flips=flips)
            err = float((a.cpu() - b).abs().mean())
            layout = a.is_contiguous(memory_format=torch.channels_last)
            name = f"GPU {'train' if train else 'eval'} transform == CPU"
            check(name, err < 0.07 and layout, f"mean |diff| {err:.4f} (normalised units; 1 level ~ 0.017)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--backbone", default="resnet101", help="tiny: a quick dry run of this script")
    parser.add_argument("--device", default="cuda", help="cpu: a dry run of this script without a GPU")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to check")
        return 1
    device = torch.device(args.device)
    if device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
        print(f"{torch.cuda.get_device_name(device)} | torch {torch.__version__} | CUDA {torch.version.cuda}")
    check = Checks()
    parts = (
        lambda: models(check, args.size, device, args.backbone),
        lambda: metrics(check, device),
        lambda: jpeg_pipeline(check, device),
    )
    for part in parts:
        try:
            part()
        except Exception as err:  # noqa: BLE001 - report and go on to the next check
            traceback.print_exc()
            check("(crashed)", False, f"{type(err).__name__}: {err}")
    print(check.summary("selfcheck"))
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
