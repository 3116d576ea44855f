"""MS-COCO 2014 download: resumable, verified, with a progress bar.

The official archives (cocodataset.org) and their known sizes and MD5 sums (as published by
torchvision-style dataset loaders and matching the server's Content-Length and S3 ETag)::

    annotations_trainval2014.zip      252,872,794 bytes   md5 0a379cfc70b0e71301e0f377548639bd
    train2014.zip                  13,510,573,713 bytes   md5 0da8c0bd3d6becc4dcb32757491aca88
    val2014.zip                     6,645,013,297 bytes   md5 a3d79f5ed8d289b7a7554ce06a5782b3

A download goes to ``<name>.part``; an interrupted one resumes from where it stopped with an HTTP
Range request (a server that ignores the range makes it start over). Only an archive whose size and
MD5 match (or, where no MD5 is known, whose size matches the server's and whose zip CRCs check out)
is renamed to its final name; anything else is deleted and reported, so a truncated or corrupt file
is never extracted. Extraction writes each member to a temporary name and renames it, skipping
members already in place, and leaves a ``.<archive>.done`` marker so a finished archive is neither
fetched nor extracted again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tqdm.auto import tqdm


@dataclass(frozen=True)
class RemoteFile:
    """An archive to fetch: ``size`` in bytes and ``md5`` hex digest when known."""

    url: str
    size: int | None = None
    md5: str | None = None

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


COCO_2014_FILES: dict[str, RemoteFile] = {
    "annotations": RemoteFile(
        "http://images.cocodataset.org/annotations/annotations_trainval2014.zip",
        252_872_794,
        "0a379cfc70b0e71301e0f377548639bd",
    ),
    "train2014": RemoteFile(
        "http://images.cocodataset.org/zips/train2014.zip", 13_510_573_713, "0da8c0bd3d6becc4dcb32757491aca88"
    ),
    "val2014": RemoteFile(
        "http://images.cocodataset.org/zips/val2014.zip", 6_645_013_297, "a3d79f5ed8d289b7a7554ce06a5782b3"
    ),
}


class DownloadError(RuntimeError):
    """A download failed or did not verify; the message says what to do next."""


class NetworkUnavailableError(DownloadError):
    """The server cannot be reached at all (no network, DNS failure, connection refused)."""


class _StreamInterrupted(Exception):
    """The connection dropped in the middle of the body: resumable."""


def _content_total(response: http.client.HTTPResponse, offset: int) -> int | None:
    """Full size of the remote file from a 206's Content-Range or a 200's Content-Length."""
    if response.status == 206:
        match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
        return int(match.group(1)) if match else None
    length = response.headers.get("Content-Length")
    return int(length) + offset if length is not None else None


def _fetch(remote: RemoteFile, part: Path, *, timeout: float, chunk_size: int, progress: bool) -> int | None:
    """Append the missing bytes of ``remote`` to ``part``; return the file's full size if known."""
    have = part.stat().st_size if part.exists() else 0
    if remote.size is not None and have > remote.size:
        part.unlink()
        have = 0
    if remote.size is not None and have == remote.size:
        return remote.size
    headers = {"User-Agent": "dbdgcn_lib"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(remote.url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send: the part is complete (verification decides)
            return have
        raise DownloadError(f"{remote.url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        host = urlparse(remote.url).netloc
        raise NetworkUnavailableError(
            f"cannot reach {host} ({reason}): no network? Run the command again when online; "
            "a partial download resumes where it stopped"
        ) from err
    with response:
        if response.status != 206:
            have = 0  # the server ignored the range: start over
        total = _content_total(response, have)
        if remote.size is not None and total is not None and total != remote.size:
            raise DownloadError(f"{remote.url}: the server reports {total} bytes, expected {remote.size}")
        total = remote.size if remote.size is not None else total
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=remote.name,
                disable=not progress,
            ) as bar,
        ):
            while True:
                try:
                    chunk = response.read(chunk_size)
                except (OSError, http.client.HTTPException) as err:
                    raise _StreamInterrupted(str(err) or type(err).__name__) from err
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
    if total is not None and part.stat().st_size < total:
        raise _StreamInterrupted(f"connection closed after {part.stat().st_size} of {total} bytes")
    return total


def _md5(path: Path, progress: bool) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with (
        open(path, "rb") as f,
        tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=f"checking {path.name}",
            disable=not progress,
        ) as bar,
    ):
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _verification_problem(part: Path, remote: RemoteFile, total: int | None, progress: bool) -> str | None:
    """Why ``part`` is not the archive ``remote`` describes, or None when it is."""
    size = part.stat().st_size
    if total is not None and size != total:
        return f"{size} bytes instead of {total}"
    if remote.md5 is not None:
        digest = _md5(part, progress)
        return None if digest == remote.md5 else f"md5 {digest} instead of {remote.md5}"
    try:
        with zipfile.ZipFile(part) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as err:
        return f"not a readable zip archive ({err})"
    return None if bad is None else f"member {bad} fails its CRC check"


def download_file(
    remote: RemoteFile,
    dest_dir: str | os.PathLike,
    *,
    progress: bool = True,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
    attempts: int = 3,
) -> Path:
    """Fetch ``remote`` into ``dest_dir`` (resuming a ``.part`` file), verify it, return its path.

    Raises ``NetworkUnavailableError`` when the server cannot be reached (the ``.part`` is kept) and
    ``DownloadError`` when the connection keeps dropping (kept too: run again to resume) or the file
    fails verification (deleted: run again to fetch it afresh).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / remote.name
    if target.is_file() and (remote.size is None or target.stat().st_size == remote.size):
        return target  # only verified files ever get the final name
    part = target.with_name(target.name + ".part")
    attempts = max(attempts, 1)
    for attempt in range(1, attempts + 1):
        try:
            total = _fetch(remote, part, timeout=timeout, chunk_size=chunk_size, progress=progress)
            break
        except _StreamInterrupted as err:
            if attempt == attempts:
                raise DownloadError(
                    f"{remote.url}: the connection dropped {attempts} times ({err}); {part} keeps what "
                    "arrived, run the command again to resume"
                ) from err
    problem = _verification_problem(part, remote, total, progress)
    if problem is not None:
        part.unlink()
        raise DownloadError(
            f"{remote.name} failed verification ({problem}); deleted it, "
            "run the command again to fetch it afresh"
        )
    os.replace(part, target)
    return target


def extract(archive: str | os.PathLike, dest_dir: str | os.PathLike, *, progress: bool = True) -> None:
    """Unpack ``archive`` into ``dest_dir``; members already there with the right size are skipped."""
    dest_dir = Path(dest_dir).resolve()
    with zipfile.ZipFile(archive) as zf:
        for member in tqdm(
            zf.infolist(), desc=f"extracting {Path(archive).name}", unit="file", disable=not progress
        ):
            target = (dest_dir / member.filename).resolve()
            if not target.is_relative_to(dest_dir):
                raise DownloadError(f"{archive}: member {member.filename!r} would land outside {dest_dir}")
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if target.is_file() and target.stat().st_size == member.file_size:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            with zf.open(member) as source, open(tmp, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.replace(tmp, target)


def _check_free_space(root: Path, remote: RemoteFile) -> None:
    """Fail early when the disk cannot hold the rest of the archive plus its unpacked content."""
    if remote.size is None:
        return
    root.mkdir(parents=True, exist_ok=True)
    part = root / f"{remote.name}.part"
    needed = 2 * remote.size - (part.stat().st_size if part.exists() else 0)
    free = shutil.disk_usage(root).free
    if free < needed:
        raise DownloadError(
            f"{remote.name} needs about {needed / 2**30:.1f} GiB free in {root} (archive + unpacked), "
            f"only {free / 2**30:.1f} GiB left"
        )


def download_coco2014(
    root: str | os.PathLike,
    *,
    annotations_only: bool = False,
    keep_archives: bool = False,
    progress: bool = True,
    files: dict[str, RemoteFile] | None = None,
) -> Path:
    """Fetch and unpack MS-COCO 2014 into ``root`` (``annotations/``, ``train2014/``, ``val2014/``).

    ``annotations_only`` fetches just the 241 MiB annotation archive (enough for label statistics).
    Archives are deleted after extraction unless ``keep_archives``. ``files`` replaces
    ``COCO_2014_FILES`` (same keys), e.g. to use a mirror. Returns ``root``.
    """
    root = Path(root)
    files = COCO_2014_FILES if files is None else files
    for key in ["annotations"] if annotations_only else list(files):
        remote = files[key]
        marker = root / f".{remote.name}.done"
        if marker.exists():
            continue
        _check_free_space(root, remote)
        archive = download_file(remote, root, progress=progress)
        extract(archive, root, progress=progress)
        marker.touch()
        if not keep_archives:
            archive.unlink()
    return root
