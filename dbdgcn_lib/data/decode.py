"""Reading and decoding image files: JPEG bytes in, RGB uint8 tensors out, on the CPU or with nvJPEG.

Every function names the file it failed on (``CorruptImageError``): nvJPEG's own errors do not.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from dbdgcn_lib.data.coco import CorruptImageError


@contextmanager
def _quiet_torchvision_io():
    """torchvision 0.29 deprecates its image codecs (in favour of TorchCodec) with a warning per call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io.*")
        warnings.filterwarnings("ignore", message=r".*(TorchCodec|decoding and encoding capabilities).*")
        yield


def read_jpeg_bytes(path: str | os.PathLike) -> torch.Tensor:
    """The file's bytes as a 1-D uint8 tensor: what ``torchvision.io.read_file`` returns.

    Read with plain Python so that it keeps working once torchvision drops its deprecated codecs.
    """
    return torch.frombuffer(bytearray(Path(path).read_bytes()), dtype=torch.uint8)


def decode_jpegs(
    data: Sequence[torch.Tensor], device: str | torch.device = "cpu", *, names: Sequence[str] | None = None
) -> list[torch.Tensor]:
    """Decode a list of JPEG byte tensors to RGB uint8 (3, H, W) tensors on ``device``.

    On CUDA the whole list goes to nvJPEG in one batched call. A batch that nvJPEG refuses (a CMYK or
    otherwise unusual file; COCO has a few) is decoded again image by image, and an image the GPU
    cannot decode is decoded on the CPU and moved. On the CPU any format torchvision reads (JPEG,
    PNG, ...) is accepted. Grayscale JPEGs (about 1% of COCO) come out as 3 identical channels. An
    image no decoder can read raises ``CorruptImageError`` naming it (``names[i]``, or its position).
    """
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    device = torch.device(device)
    data = list(data)
    if not data:
        return []

    def on_cpu(i: int, d: torch.Tensor) -> torch.Tensor:
        try:
            return decode_image(d, mode=ImageReadMode.RGB)
        except RuntimeError as err:
            name = f"image {names[i]}" if names is not None else f"image {i} of the batch"
            raise CorruptImageError(f"{name} cannot be decoded ({err}); fetch it again") from err

    with _quiet_torchvision_io():
        if device.type != "cuda":
            return [on_cpu(i, d) for i, d in enumerate(data)]
        try:
            return list(decode_jpeg(data, mode=ImageReadMode.RGB, device=device))
        except Exception:  # noqa: BLE001 - nvJPEG reports a refused file as RuntimeError, versions differ
            out = []
            for i, d in enumerate(data):
                try:
                    out.append(decode_jpeg(d, mode=ImageReadMode.RGB, device=device))
                except Exception:  # noqa: BLE001
                    out.append(on_cpu(i, d).to(device))
            return out


def read_image_file(path: str | os.PathLike, *, check_jpeg: bool = False) -> torch.Tensor:
    """``read_jpeg_bytes(path)``, or ``CorruptImageError`` naming the file when it is missing, empty or
    (``check_jpeg``) does not start with the JPEG marker: nvJPEG's own error would not say which file."""
    path = Path(path)
    try:
        data = read_jpeg_bytes(path)
    except OSError as err:
        raise CorruptImageError(f"image {path} cannot be read ({err})") from err
    if data.numel() < 4 or (check_jpeg and not (data[0] == 0xFF and data[1] == 0xD8)):
        raise CorruptImageError(f"image {path} is empty or not a JPEG file; fetch it again")
    return data


def decode_file(path: str | os.PathLike) -> torch.Tensor:
    """The image file at ``path`` as RGB uint8 (3, H, W) on the CPU; ``CorruptImageError`` naming the
    file when it cannot be decoded."""
    return decode_jpegs([read_image_file(path)], names=[str(path)])[0]
