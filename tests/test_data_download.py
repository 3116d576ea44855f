"""COCO download against a local HTTP server: verification, resume, truncation, no network."""

import hashlib
import io
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from dbdgcn_lib.data import (
    DownloadError,
    NetworkUnavailableError,
    RemoteFile,
    download_coco2014,
    download_file,
)
from dbdgcn_lib.data import download as download_module


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


ANNOTATIONS = _zip({"annotations/instances_val2014.json": b'{"images": []}' + b" " * 50_000})
IMAGES = _zip({"val2014/COCO_val2014_000000000042.jpg": bytes(range(256)) * 400})


class Server:
    """Serves ``files`` with Range support; can cut responses short or ignore ranges."""

    def __init__(self, files):
        self.files, self.requests = files, []
        self.cut_after: int | None = None  # bytes of body to send before dropping the connection
        self.cut_times = 0  # how many responses to cut
        self.ignore_range = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404)
                    return
                body, start = server.files[name], 0
                requested = self.headers.get("Range")
                if requested and not server.ignore_range:
                    start = int(requested.removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_times > 0:
                    server.cut_times -= 1
                    payload = payload[: server.cut_after]
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def remote(self, name, *, md5=True, size=True):
        body = self.files[name]
        return RemoteFile(
            f"http://127.0.0.1:{self.httpd.server_port}/{name}",
            len(body) if size else None,
            hashlib.md5(body).hexdigest() if md5 else None,
        )


@pytest.fixture
def server():
    s = Server({"annotations_trainval2014.zip": ANNOTATIONS, "val2014.zip": IMAGES})
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_download_verify_extract_and_skip_when_done(server, tmp_path):
    files = {
        "annotations": server.remote("annotations_trainval2014.zip"),
        "val2014": server.remote("val2014.zip"),
    }
    download_coco2014(tmp_path, files=files, annotations_only=True, progress=False)
    assert (tmp_path / "annotations" / "instances_val2014.json").is_file()
    assert not (tmp_path / "val2014").exists()
    assert not (tmp_path / "annotations_trainval2014.zip").exists()  # archive removed after unpacking
    download_coco2014(tmp_path, files=files, progress=False, keep_archives=True)
    assert (tmp_path / "val2014" / "COCO_val2014_000000000042.jpg").read_bytes() == bytes(range(256)) * 400
    assert (tmp_path / "val2014.zip").read_bytes() == IMAGES
    fetched = len(server.requests)
    download_coco2014(tmp_path, files=files, progress=False)
    assert len(server.requests) == fetched  # finished archives are not fetched again


def test_resumes_a_part_file_with_a_range_request(server, tmp_path):
    (tmp_path / "val2014.zip.part").write_bytes(IMAGES[:40_000])
    path = download_file(server.remote("val2014.zip"), tmp_path, progress=False)
    assert server.requests == [("val2014.zip", "bytes=40000-")]
    assert path.read_bytes() == IMAGES and not (tmp_path / "val2014.zip.part").exists()


def test_dropped_connection_is_resumed_within_the_call(server, tmp_path):
    server.cut_after, server.cut_times = 30_000, 1
    path = download_file(server.remote("val2014.zip"), tmp_path, progress=False, chunk_size=4096)
    assert [r for _, r in server.requests] == [None, "bytes=30000-"]
    assert path.read_bytes() == IMAGES


def test_truncated_download_is_never_used(server, tmp_path):
    server.cut_after, server.cut_times = 10_000, 2
    files = {"annotations": server.remote("annotations_trainval2014.zip")}
    with pytest.raises(DownloadError, match="resume"):
        download_file(files["annotations"], tmp_path, progress=False, attempts=2)
    assert not (tmp_path / "annotations_trainval2014.zip").exists()
    assert (tmp_path / "annotations_trainval2014.zip.part").stat().st_size == 20_000
    download_coco2014(tmp_path, files=files, annotations_only=True, progress=False)  # the next run resumes
    assert server.requests[-1] == ("annotations_trainval2014.zip", "bytes=20000-")
    assert (tmp_path / "annotations" / "instances_val2014.json").is_file()


def test_corrupt_download_is_deleted(server, tmp_path):
    server.files["val2014.zip"] = IMAGES[:-1] + b"?"  # same size, wrong content
    remote = RemoteFile(server.remote("val2014.zip").url, len(IMAGES), hashlib.md5(IMAGES).hexdigest())
    with pytest.raises(DownloadError, match="failed verification.*md5"):
        download_file(remote, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
    # without a known md5, the zip's own CRCs catch a flipped byte inside a member
    damaged = bytearray(IMAGES)
    damaged[IMAGES.index(bytes(range(256))) + 7] ^= 0xFF
    server.files["val2014.zip"] = bytes(damaged)
    with pytest.raises(DownloadError, match="CRC"):
        download_file(server.remote("val2014.zip", md5=False, size=False), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_server_ignoring_range_starts_over(server, tmp_path):
    server.ignore_range = True
    (tmp_path / "val2014.zip.part").write_bytes(b"stale bytes from another file")
    path = download_file(server.remote("val2014.zip"), tmp_path, progress=False)
    assert path.read_bytes() == IMAGES


def test_no_network_gives_one_clear_line(tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    remote = RemoteFile(f"http://127.0.0.1:{port}/annotations_trainval2014.zip", 10, None)
    with pytest.raises(NetworkUnavailableError, match="no network") as err:
        download_file(remote, tmp_path, progress=False, timeout=5)
    assert "\n" not in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert not (tmp_path / "annotations").exists()

    from dbdgcn_lib.cli import main

    monkeypatch.setattr(download_module, "COCO_2014_FILES", {"annotations": remote})
    assert main(["data", "coco", "--root", str(tmp_path), "--annotations-only"]) == 2
    message = capsys.readouterr().err
    assert message.startswith("error: ") and "no network" in message and message.count("\n") == 1


def test_too_little_disk_space_fails_before_downloading(server, tmp_path, monkeypatch):
    monkeypatch.setattr(
        download_module.shutil, "disk_usage", lambda path: SimpleNamespace(total=2000, used=1000, free=1000)
    )
    files = {"annotations": server.remote("annotations_trainval2014.zip")}
    with pytest.raises(DownloadError, match="GiB free"):
        download_coco2014(tmp_path, files=files, annotations_only=True, progress=False)
    assert server.requests == []
