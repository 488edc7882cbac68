"""torchvision's on-disk formats, built tiny in tmp_path byte for byte as the originals are laid out."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shlex
import struct
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nasprune.data import torchvision_formats as tvf
from nasprune.data.raw import check_raw
from nasprune.errors import DataError

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ------------------------------------------------------------------------------------- writers


class _Py2Pickler(pickle._Pickler):
    """Writes every string as Python 2's ``str`` (BINSTRING opcodes), as cPickle wrote the CIFAR files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str


def py2_pickle(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # the originals name numpy 1's module, which numpy 2 only keeps as a deprecated alias
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def write_cifar10(folder: Path, dump=py2_pickle) -> dict:
    """CIFAR-10 with 5 training batches of 2 images and a test batch of 3; returns what was written."""
    folder.mkdir(parents=True)
    train_x = cifar_images(10, 0)
    train_x[0] = 0
    train_x[0, 0] = 200  # a pure red image: the first 1024 bytes of its row are the red plane
    train_y = np.arange(10) % 10
    for i in range(5):
        rows = slice(2 * i, 2 * i + 2)
        batch = {b"batch_label": f"training batch {i + 1} of 5".encode(), b"labels": train_y[rows].tolist(),
                 b"data": train_x[rows].reshape(2, 3072), b"filenames": [b"a.png", b"b.png"]}
        (folder / f"data_batch_{i + 1}").write_bytes(dump(batch))
    test_x, test_y = cifar_images(3, 1), [3, 9, 0]
    (folder / "test_batch").write_bytes(dump({b"batch_label": b"testing batch 1 of 1", b"labels": test_y,
                                              b"data": test_x.reshape(3, 3072), b"filenames": [b"c.png"] * 3}))
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in CIFAR10_NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(dump(meta))
    return {"train": (train_x, train_y), "test": (test_x, np.array(test_y))}


def write_cifar100(folder: Path) -> dict:
    folder.mkdir(parents=True)
    fine = [f"fine{i}" for i in range(100)]
    written = {}
    for split, n, seed in (("train", 4, 2), ("test", 2, 3)):
        x, y = cifar_images(n, seed), [99, 5, 42, 0][:n]
        entry = {b"filenames": [b"f.png"] * n, b"batch_label": split.encode(), b"fine_labels": y,
                 b"coarse_labels": [19, 1, 2, 3][:n], b"data": x.reshape(n, 3072)}
        (folder / split).write_bytes(py2_pickle(entry))
        written[split] = x, np.array(y)
    meta = {b"fine_label_names": [n.encode() for n in fine], b"coarse_label_names": [b"c%d" % i for i in range(20)]}
    (folder / "meta").write_bytes(py2_pickle(meta))
    return written


def idx_bytes(arr: np.ndarray, magic: bytes | None = None) -> bytes:
    head = magic if magic is not None else bytes((0, 0, 8, arr.ndim))
    return head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def write_mnist(folder: Path, gz: bool, n_train: int = 5, n_test: int = 3) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(4)
    written = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        x, y = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
            data = idx_bytes(arr)
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        written[split] = x, y
    return written


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def assert_matches(raw, written: dict) -> None:
    assert set(raw.splits) == {"train", "test"}
    for split, (x, y) in written.items():
        got_x, got_y = raw.splits[split]
        assert got_x.dtype == np.uint8 and got_y.dtype == np.int64
        assert np.array_equal(got_x.reshape(x.shape), x) and np.array_equal(got_y, y)
    check_raw(raw)


# ------------------------------------------------------------------------------------- CIFAR


@pytest.mark.parametrize("point_at_folder", [False, True])
def test_cifar10_round_trip_keeps_pixels_channel_order_labels_and_names(tmp_path, point_at_folder):
    written = write_cifar10(tmp_path / "cifar-10-batches-py")
    root = tmp_path / "cifar-10-batches-py" if point_at_folder else str(tmp_path)
    raw = tvf.read_cifar(root, "cifar10")
    assert raw.name == "cifar10" and raw.shape == (3, 32, 32)
    assert raw.splits["train"][0].shape == (10, 3, 32, 32) and raw.splits["test"][0].shape == (3, 3, 32, 32)
    assert_matches(raw, written)
    red = raw.splits["train"][0][0]
    assert (red[0] == 200).all() and (red[1:] == 0).all()  # CHW: channel 0 is the first 1024 bytes
    assert raw.classes == tuple(CIFAR10_NAMES) and all(type(c) is str for c in raw.classes)


def test_cifar10_resaved_by_python3_also_loads(tmp_path):
    # protocol 2 from Python 3 encodes bytes through _codecs.encode and names numpy._core
    written = write_cifar10(tmp_path / "cifar-10-batches-py", dump=partial(pickle.dumps, protocol=2))
    assert_matches(tvf.read_cifar(tmp_path, "cifar10"), written)


def test_cifar100_uses_the_fine_labels_and_names(tmp_path):
    written = write_cifar100(tmp_path / "cifar-100-python")
    for root in (tmp_path, tmp_path / "cifar-100-python"):
        raw = tvf.read_torchvision("cifar100", root)
        assert_matches(raw, written)
        assert raw.splits["train"][1].tolist() == [99, 5, 42, 0]
        assert len(raw.classes) == 100 and raw.classes[99] == "fine99"


def test_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {shlex.quote(str(marker))}",)

    payload = pickle.dumps({b"data": Evil(), b"labels": [0]}, protocol=2)
    (folder / "data_batch_3").write_bytes(payload)
    with pytest.raises(DataError, match=r"data_batch_3.*objects other than arrays.*refused"):
        tvf.read_cifar(tmp_path, "cifar10")
    assert not marker.exists()
    pickle.loads(payload)  # the control: an ordinary unpickler does run it
    assert marker.exists()


def test_missing_truncated_and_malformed_cifar_files_name_the_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:500])
    with pytest.raises(DataError, match=r"test_batch: corrupt or truncated"):
        tvf.read_cifar(tmp_path, "cifar10")
    (folder / "test_batch").write_bytes(py2_pickle({b"data": np.zeros((3, 100), np.uint8), b"labels": [0, 1, 2]}))
    with pytest.raises(DataError, match=r"test_batch: 'data' must be uint8 of shape \(N, 3072\)"):
        tvf.read_cifar(tmp_path, "cifar10")
    (folder / "data_batch_2").unlink()
    with pytest.raises(DataError, match=r"data_batch_2: file missing.*--download"):
        tvf.read_cifar(tmp_path, "cifar10")


def test_missing_folder_names_where_it_looked_and_suggests_download(tmp_path):
    for name in tvf.TORCHVISION_DATASETS:
        with pytest.raises(DataError, match="--download") as info:
            tvf.read_torchvision(name, tmp_path / "empty")
        assert str(tmp_path / "empty") in str(info.value) and "\n" not in str(info.value)


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="cifar10, cifar100, mnist, fashion-mnist"):
        tvf.read_torchvision("imagenet", tmp_path)
    with pytest.raises(DataError, match="'mnist'"):
        tvf.read_cifar(tmp_path, "mnist")


# ------------------------------------------------------------------------------------- MNIST


@pytest.mark.parametrize("which, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_round_trip_plain_and_gzipped(tmp_path, which, folder, gz):
    written = write_mnist(tmp_path / folder / "raw", gz)
    for root in (tmp_path, tmp_path / folder / "raw"):
        raw = tvf.read_torchvision(which, root)
        assert raw.name == which and raw.splits["train"][0].shape == (5, 1, 28, 28)
        assert_matches(raw, written)
    expected = tuple("0123456789") if which == "mnist" else (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    assert raw.classes == expected


def test_truncated_idx_file_is_refused(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-28 * 28])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        tvf.read_mnist(tmp_path, "mnist")
    path.write_bytes(path.read_bytes()[:10])  # not even a whole header
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated"):
        tvf.read_mnist(tmp_path, "mnist")


def test_truncated_gzip_is_refused(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, gz=True)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: corrupt or truncated gzip"):
        tvf.read_mnist(tmp_path, "mnist")


def test_wrong_magic_is_refused(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, gz=False)
    # an image file where the label file belongs: three dimensions, not one
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((5, 28, 28), np.uint8)))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: wrong magic number 0x00000803"):
        tvf.read_mnist(tmp_path, "mnist")
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, np.int32), magic=b"\0\0\x0c\x01"))
    with pytest.raises(DataError, match=r"wrong magic number 0x00000c01"):
        tvf.read_mnist(tmp_path, "mnist")


def test_image_and_label_counts_must_match(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: 3 images but t10k-labels-idx1-ubyte has 2"):
        tvf.read_mnist(tmp_path, "mnist")


def test_missing_idx_file_is_named(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, gz=True)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: file missing"):
        tvf.read_mnist(tmp_path, "mnist")


# ------------------------------------------------------------------------------------- download


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A folder served over HTTP on 127.0.0.1; yields (folder, base url)."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def serve_cifar10(served: Path, base: str, monkeypatch, extra: tarfile.TarInfo | None = None) -> dict:
    written = write_cifar10(served.parent / "build" / "cifar-10-batches-py")
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(served.parent / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        if extra is not None:
            tar.addfile(extra, io.BytesIO(b"x" * extra.size) if extra.isfile() else None)
    monkeypatch.setitem(tvf.CIFAR10_FILES, "cifar-10-python.tar.gz", (base + archive.name, md5(archive)))
    return written


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob("*") if p.name.startswith(".")]


def test_download_cifar10_writes_torchvisions_layout_and_reads_back(tmp_path, server, monkeypatch):
    served, base = server
    written = serve_cifar10(served, base, monkeypatch)
    root = tmp_path / "root"
    raw = tvf.read_torchvision("cifar10", root, download=True)
    assert_matches(raw, written)
    assert sorted(p.name for p in (root / "cifar-10-batches-py").iterdir()) == sorted(
        ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)])
    assert (root / "cifar-10-python.tar.gz").is_file() and not leftovers(root)
    # already there: no second download (the url now leads nowhere)
    monkeypatch.setitem(tvf.CIFAR10_FILES, "cifar-10-python.tar.gz", (base + "gone.tar.gz", "0" * 32))
    assert tvf.download("cifar10", root) == root / "cifar-10-batches-py"


@pytest.mark.parametrize("which, files, folder", [("mnist", "MNIST_FILES", "MNIST"),
                                                   ("fashion-mnist", "FASHION_MNIST_FILES", "FashionMNIST")])
def test_download_mnist_keeps_gz_files_in_torchvisions_layout(tmp_path, server, monkeypatch, which, files, folder):
    served, base = server
    written = write_mnist(served, gz=True)
    for name in getattr(tvf, files):
        monkeypatch.setitem(getattr(tvf, files), name, (base + name, md5(served / name)))
    root = tmp_path / "root"
    assert tvf.download(which, root) == root / folder / "raw"
    assert sorted(p.name for p in (root / folder / "raw").iterdir()) == sorted(p.name for p in served.iterdir())
    assert_matches(tvf.read_torchvision(which, root), written)


def test_download_with_wrong_md5_is_refused_and_leaves_nothing(tmp_path, server, monkeypatch):
    served, base = server
    write_mnist(served, gz=True)
    for name in tvf.MNIST_FILES:
        monkeypatch.setitem(tvf.MNIST_FILES, name, (base + name, "0" * 32))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"MD5 .* expected 0{32}.*by hand into"):
        tvf.read_torchvision("mnist", root, download=True)
    assert list((root / "MNIST" / "raw").iterdir()) == []


def test_download_failure_suggests_downloading_by_hand(tmp_path, server, monkeypatch):
    _, base = server
    monkeypatch.setitem(tvf.CIFAR100_FILES, "cifar-100-python.tar.gz", (base + "missing.tar.gz", "0" * 32))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"could not download .*missing.tar.gz.*by hand into"):
        tvf.download("cifar100", root)
    assert list(root.iterdir()) == []


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.parametrize("member", [_member("../evil.txt"), _member("/tmp/nasprune-evil.txt"),
                                    _member("cifar-10-batches-py/link", tarfile.SYMTYPE, "/etc")],
                         ids=["dotdot", "absolute", "symlink"])
def test_download_refuses_an_archive_that_writes_outside_root(tmp_path, server, monkeypatch, member):
    served, base = server
    serve_cifar10(served, base, monkeypatch, extra=member)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: member .* refused"):
        tvf.download("cifar10", root)
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/nasprune-evil.txt").exists()
    assert not (root / "cifar-10-batches-py").exists() and not leftovers(root)
