"""Reading and decoding image files: files in, RGB uint8 tensors (or PIL images) out, on the CPU or
with nvJPEG.

One reader for every input pipeline and every command. ``read_image_file`` reads only regular files
(a named pipe, a folder or a device named as an image would block or never end: it is refused);
``open_image`` (PIL, the ``pil`` pipeline and ``predict``) and ``decode_jpegs`` (torchvision and
nvJPEG, the ``uint8`` and ``nvjpeg`` pipelines) give the same 8-bit RGB pixels for any format either
reads: 16-bit PNGs are scaled to 8 bits (their high byte, as PIL does for 16-bit colour), a PNG named
``.jpg`` is decoded as the PNG it is. Every failure raises ``CorruptImageError`` naming the file,
the cause and what to do: nvJPEG's and PIL's own errors do not.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dbdgcn_lib.data.errors import CorruptImageError

#: What a damaged or missing image's message advises by default (a dataset passes its fetch command).
REFETCH = "fetch it again"
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


@contextmanager
def _quiet_torchvision_io():
    """torchvision 0.29 deprecates its image codecs (in favour of TorchCodec) with a warning per call."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torchvision\.io.*")
        warnings.filterwarnings("ignore", message=r".*(TorchCodec|decoding and encoding capabilities).*")
        yield


def _read_regular_file(path: Path, refetch: str) -> bytes:
    """The bytes of ``path`` if it is a regular file (or a link to one); ``CorruptImageError`` otherwise.

    Opened without blocking (``O_NONBLOCK``: a named pipe with no writer would wait forever) and
    checked with ``fstat`` on the open file, so nothing can swap it between the check and the read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
                raise CorruptImageError(
                    f"image {path} is {kind}, not a file: only regular files are read as images; "
                    "put the image file there (or leave it out of the list)"
                )
            with open(fd, "rb", closefd=False) as f:
                return f.read()
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise CorruptImageError(f"image {path} is missing; {refetch}") from None
    except CorruptImageError:
        raise
    except OSError as err:
        raise CorruptImageError(f"image {path} cannot be read ({err.strerror or err}); {refetch}") from None


def read_image_file(path: str | os.PathLike, *, refetch: str = REFETCH) -> torch.Tensor:
    """The bytes of the image file at ``path`` as a 1-D uint8 tensor (what ``torchvision.io.read_file``
    returns), read with plain Python so that it keeps working once torchvision drops its codecs.

    ``CorruptImageError`` naming the file when it is missing, empty, or not a regular file (a named
    pipe, a folder, a device). ``refetch`` ends the message of a missing or empty file.
    """
    path = Path(path)
    data = _read_regular_file(path, refetch)
    if len(data) < 4:
        raise CorruptImageError(f"image {path} is empty; {refetch}")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


read_jpeg_bytes = read_image_file  # its first name (it reads any image file's bytes)


def _bomb_message(path, err: Exception) -> str:
    numbers = [int(n) for n in re.findall(r"\d+", str(err))]
    size = f" ({numbers[0]:,} pixels; PIL stops at {numbers[1]:,})" if len(numbers) >= 2 else ""
    return (
        f"image {path} is too large for PIL{size}: its guard against decompression bombs refuses it; "
        "shrink the image (the model sees every image at a few hundred pixels); train and evaluate "
        "can also read it with --pipeline uint8, which has no such limit"
    )


def _pil_rgb(image: Image.Image, path) -> Image.Image:
    """A decoded PIL image as 8-bit RGB. 16-bit greyscale (``I;16``, or ``I`` from a PNG) keeps its high
    byte, as PIL does for 16-bit colour; 32-bit integer and float pixels have no known range: refused."""
    if image.mode in _SIXTEEN_BIT_MODES or (image.mode == "I" and image.format == "PNG"):
        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8))
    elif image.mode in ("I", "F"):
        kind = "32-bit integer" if image.mode == "I" else "floating-point"
        raise CorruptImageError(
            f"image {path} has {kind} pixels, whose range is unknown; save it as an 8- or 16-bit "
            "image (PNG or JPEG)"
        )
    return image.convert("RGB")


def _open_with_pil(data: bytes, path, refetch: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _pil_rgb(image, path)
    except CorruptImageError:
        raise
    except Image.DecompressionBombError as err:
        raise CorruptImageError(_bomb_message(path, err)) from None
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for damaged and unknown files
        if "cannot identify" in str(err):
            problem = "is damaged or not an image (its bytes match no image format)"
        else:
            problem = f"cannot be decoded ({err}): it is damaged"
        raise CorruptImageError(f"image {path} {problem}; {refetch}") from None


def open_image(path: str | os.PathLike, *, refetch: str = REFETCH) -> Image.Image:
    """The image file at ``path`` as an 8-bit RGB PIL image (see the module); ``CorruptImageError``
    naming the file when it cannot be read or decoded."""
    path = Path(path)
    return _open_with_pil(read_image_file(path, refetch=refetch).numpy().tobytes(), path, refetch)


def _decode_on_cpu(data: torch.Tensor, name: str, refetch: str) -> torch.Tensor:
    """libjpeg-turbo / libpng through torchvision; PIL for the formats torchvision does not read (BMP,
    TIFF ...). 16-bit results keep their high byte. Returns (3, H, W) uint8."""
    from torchvision.io import ImageReadMode, decode_image

    try:
        image = decode_image(data, mode=ImageReadMode.RGB)
    except RuntimeError:
        rgb = _open_with_pil(data.numpy().tobytes(), name, refetch)  # names the real cause
        return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()
    if image.dtype != torch.uint8:  # 16-bit PNG
        image = (image.to(torch.int32) >> 8).to(torch.uint8)
    return image


def decode_jpegs(
    data: Sequence[torch.Tensor],
    device: str | torch.device = "cpu",
    *,
    names: Sequence[str] | None = None,
    on_error: Callable[[int, CorruptImageError], None] | None = None,
    refetch: str = REFETCH,
) -> list[torch.Tensor | None]:
    """Decode a list of image byte tensors to RGB uint8 (3, H, W) tensors on ``device``.

    On CUDA the list goes to nvJPEG in one batched call; a batch that nvJPEG refuses (a CMYK or
    otherwise unusual file, COCO has a few; a file that is not a JPEG, such as a PNG named ``.jpg``)
    is decoded again image by image, and an image the GPU cannot decode is decoded on the CPU and
    moved. On the CPU any format torchvision or PIL reads is accepted. Grayscale images (about 1% of
    COCO) come out as 3 identical channels, 16-bit ones as 8-bit. An image no decoder can read raises
    ``CorruptImageError`` naming it (``names[i]``, or its position); with ``on_error(i, error)`` it
    is reported there instead and its slot is None.
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    device = torch.device(device)
    data = list(data)
    out: list[torch.Tensor | None] = [None] * len(data)

    def on_cpu(i: int) -> None:
        name = names[i] if names is not None else f"{i} of the batch"
        try:
            out[i] = _decode_on_cpu(data[i], name, refetch).to(device)
        except CorruptImageError as err:
            if on_error is None:
                raise
            on_error(i, err)

    with _quiet_torchvision_io():
        if device.type == "cuda" and data:
            try:
                out[:] = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
            except Exception:  # noqa: BLE001 - nvJPEG reports a refused file as RuntimeError, versions differ
                for i, d in enumerate(data):
                    try:
                        out[i] = decode_jpeg(d, mode=ImageReadMode.RGB, device=device)
                    except Exception:  # noqa: BLE001 - not a JPEG, or one nvJPEG refuses: the CPU's turn
                        pass
        for i in range(len(data)):
            if out[i] is None:
                on_cpu(i)
    return out


def decode_file(path: str | os.PathLike, *, refetch: str = REFETCH) -> torch.Tensor:
    """The image file at ``path`` as RGB uint8 (3, H, W) on the CPU; ``CorruptImageError`` naming the
    file when it cannot be read or decoded."""
    return decode_jpegs([read_image_file(path, refetch=refetch)], names=[str(path)], refetch=refetch)[0]
