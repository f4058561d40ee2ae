"""Checked downloads against a local HTTP server on 127.0.0.1: success, checksum mismatch,
interrupted transfers (never a partial file under the final name), mirrors, and
`prepare NAME --download` end to end; nothing else touches the network."""
from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading

import numpy as np
import pytest

from suite.data.loading import load_dataset
from suite.data.datafiles import write_idx
from suite.data.download import RemoteFile, fetch
from suite.errors import DataError
from suite.data.prepare import prepare
from suite.progress import null_progress
from suite.registry import DATASETS


class Server:
    """Serves ``files`` (path -> bytes); ``/cut/<name>`` announces the full length, sends half, closes."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                cut = self.path.startswith("/cut/")
                body = server.files.get(self.path[4:] if cut else self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if cut else body)
                self.wfile.flush()
                if cut:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def add(self, name: str, body: bytes) -> RemoteFile:
        self.files["/" + name] = body
        return RemoteFile(name, hashlib.sha256(body).hexdigest(), (f"{self.url}/{name}",), len(body))


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_success_writes_the_verified_file_and_nothing_else(server, tmp_path):
    body = np.random.default_rng(0).bytes(3 << 20)  # several chunks
    remote = server.add("a.bin", body)
    assert fetch(remote, tmp_path / "d") == tmp_path / "d" / "a.bin"
    assert (tmp_path / "d" / "a.bin").read_bytes() == body
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["a.bin"]
    # already there with the right checksum: no request at all
    n = len(server.requests)
    fetch(remote, tmp_path / "d")
    assert len(server.requests) == n


def test_checksum_mismatch_is_rejected_and_leaves_nothing(server, tmp_path):
    remote = server.add("a.bin", b"the real content")
    wrong = RemoteFile("a.bin", hashlib.sha256(b"other").hexdigest(), remote.urls)
    with pytest.raises(DataError, match=r"checksum mismatch[\s\S]*nothing was written|nothing was written[\s\S]*checksum mismatch"):
        fetch(wrong, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_leaves_no_partial_file(server, tmp_path):
    remote = server.add("big.bin", b"x" * 100_000)
    cut = RemoteFile("big.bin", remote.sha256, (f"{server.url}/cut/big.bin",))
    with pytest.raises(DataError, match=r"interrupted"):
        fetch(cut, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_by_the_user_leaves_no_partial_file(tmp_path):
    class Response:
        headers = {"Content-Length": "10"}

        def __init__(self):
            self.calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return b"12345"

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    remote = RemoteFile("f.bin", "0" * 64, ("http://example.invalid/f.bin",))
    with pytest.raises(KeyboardInterrupt):
        fetch(remote, tmp_path, opener=lambda url, timeout: Response())
    assert list(tmp_path.iterdir()) == []


def test_mirrors_are_tried_in_turn(server, tmp_path):
    remote = server.add("m.bin", b"mirrored bytes" * 100)
    urls = (f"{server.url}/missing.bin", f"{server.url}/cut/m.bin", remote.urls[0])
    assert fetch(RemoteFile("m.bin", remote.sha256, urls), tmp_path).read_bytes() == b"mirrored bytes" * 100
    with pytest.raises(DataError) as err:
        fetch(RemoteFile("m.bin", "0" * 64, urls[:2] + ("http://127.0.0.1:1/nothing-listens",)), tmp_path / "x")
    msg = str(err.value)
    assert "404" in msg and "interrupted" in msg and "cannot open" in msg
    assert not (tmp_path / "x" / "m.bin").exists()


def mnist_files(folder) -> dict[str, bytes]:
    """The four gzipped IDX files of a 6 + 4 image MNIST, written with the suite's IDX writer."""
    arrays = {"train-images-idx3-ubyte": np.full((6, 28, 28), 200, np.uint8),
              "train-labels-idx1-ubyte": np.arange(6, dtype=np.uint8),
              "t10k-images-idx3-ubyte": np.full((4, 28, 28), 100, np.uint8),
              "t10k-labels-idx1-ubyte": np.arange(4, dtype=np.uint8)}
    folder.mkdir(exist_ok=True)
    for name, arr in arrays.items():
        write_idx(folder / f"{name}.gz", arr)
    return {f"{name}.gz": (folder / f"{name}.gz").read_bytes() for name in arrays}


def test_prepare_mnist_download_end_to_end(server, tmp_path, monkeypatch):
    src = DATASETS.get("MNIST")
    assert [r.filename for r in src.remote_files] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz"]
    assert all(len(r.sha256) == 64 and r.urls[0].startswith("https://") for r in src.remote_files)
    remotes = tuple(server.add(name, body) for name, body in mnist_files(tmp_path / "fixtures").items())
    monkeypatch.setattr(src, "remote_files", remotes)
    data = tmp_path / "data"
    written = prepare("MNIST", data_dir=data, download=True, progress=null_progress, log=lambda m: None)
    assert written == [data / "MNIST" / "raw" / r.filename for r in remotes]
    ds = load_dataset("MNIST", data, tmp_path / "cache")
    assert ds.train.shape == (6, 784) and ds.val_labels.tolist() == [0, 1, 2, 3]
    # a corrupted mirror: rejected, the dataset stays unavailable, no partial file
    bad = (RemoteFile(remotes[0].filename, "f" * 64, remotes[0].urls),) + remotes[1:]
    monkeypatch.setattr(src, "remote_files", bad)
    with pytest.raises(DataError, match="checksum mismatch"):
        prepare("MNIST", data_dir=tmp_path / "other", download=True, progress=null_progress, log=lambda m: None)
    assert not src.availability(tmp_path / "other").ok
    assert not list((tmp_path / "other").rglob("*.gz"))


def test_prepare_cifar16_download_builds_the_patches(server, tmp_path, monkeypatch):
    from test_datasets_real_build import cifar_batches

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, raw in cifar_batches().items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    src = DATASETS.get("CIFAR16")
    assert src.remote_files[0].filename == "cifar-10-python.tar.gz"
    monkeypatch.setattr(src, "remote_files", (server.add("cifar-10-python.tar.gz", buf.getvalue()),))
    monkeypatch.setattr(src, "n_train", 200)
    monkeypatch.setattr(src, "n_val", 50)
    written = prepare("CIFAR16", data_dir=tmp_path, download=True, progress=null_progress, log=lambda m: None)
    assert written[0] == tmp_path / "CIFAR10" / "cifar-10-python.tar.gz"
    ds = load_dataset("CIFAR16", tmp_path, tmp_path / "cache")
    assert ds.train.shape == (200, 256) and ds.val.shape == (50, 256)


def test_bmnist_download_is_pinned_to_the_published_text_files():
    src = DATASETS.get("bMNIST")
    assert {r.filename: r.size for r in src.remote_files} == {
        "binarized_mnist_train.amat": 50_000 * 1568, "binarized_mnist_valid.amat": 10_000 * 1568,
        "binarized_mnist_test.amat": 10_000 * 1568}  # 784 digits + 783 spaces + newline per row


def test_without_download_nothing_touches_the_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    raw = tmp_path / "raw"
    mnist_files(raw)
    prepare("MNIST", data_dir=tmp_path / "data", from_dir=raw, progress=null_progress, log=lambda m: None)
    for name in ("MNIST", "bMNIST", "vH16", "CIFAR16", "MNIST-bin"):
        DATASETS.get(name).availability(tmp_path / "data")
    assert load_dataset("MNIST-bin", tmp_path / "data", tmp_path / "cache").train.shape == (6, 784)
