"""torchvision's on-disk data sets (CIFAR-10, CIFAR-100, MNIST, Fashion-MNIST), read without torchvision.

The readers take the folder torchvision would be given as ``root`` (``ROOT/cifar-10-batches-py``,
``ROOT/cifar-100-python``, ``ROOT/MNIST/raw``, ``ROOT/FashionMNIST/raw``) or that data folder itself, and
return a :class:`~nasprune.data.raw.RawData` with splits ``train`` and ``test``. They never touch the
network: only :func:`download` does, and only when asked, writing torchvision's layout so that torchvision
could read the same folder.

CIFAR files are pickles; they are loaded with an unpickler that builds numpy arrays, lists and strings and
refuses everything else, because unpickling an arbitrary file can run arbitrary code.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import http.client
import os
import pickle
import shutil
import struct
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from ..choices import TORCHVISION_DATASETS
from ..errors import DataError
from .raw import RawData, check_raw

__all__ = ["TORCHVISION_DATASETS", "read_cifar", "read_mnist", "read_torchvision", "download", "source_files"]


# file name -> (url, md5), exactly torchvision's (torchvision/datasets/cifar.py and mnist.py); tests point
# the urls at a local server.
CIFAR10_FILES = {"cifar-10-python.tar.gz": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                                            "c58f30108f718f92721af3b95e74349a")}
CIFAR100_FILES = {"cifar-100-python.tar.gz": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                                              "eb9058c3a382ffc7106e4002c42a8d85")}
_MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (_MNIST_MIRROR + "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte.gz": (_MNIST_MIRROR + "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte.gz": (_MNIST_MIRROR + "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte.gz": (_MNIST_MIRROR + "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
_FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"  # torchvision's only mirror
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (_FASHION_MIRROR + "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train-labels-idx1-ubyte.gz": (_FASHION_MIRROR + "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "t10k-images-idx3-ubyte.gz": (_FASHION_MIRROR + "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "t10k-labels-idx1-ubyte.gz": (_FASHION_MIRROR + "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}

# which -> (folder, train files, test file, meta file, label key, class-name key)
_CIFAR = {
    "cifar10": ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
                "batches.meta", "labels", "label_names"),
    "cifar100": ("cifar-100-python", ("train",), "test", "meta", "fine_labels", "fine_label_names"),
}
# which -> (folder under ROOT, class names)
_MNIST = {
    "mnist": ("MNIST", tuple(str(i) for i in range(10))),
    "fashion-mnist": ("FashionMNIST", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                       "Sneaker", "Bag", "Ankle boot")),
}
_MNIST_SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
                 "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _files(which: str) -> dict[str, tuple[str, str]]:
    return {"cifar10": CIFAR10_FILES, "cifar100": CIFAR100_FILES, "mnist": MNIST_FILES,
            "fashion-mnist": FASHION_MNIST_FILES}[which]


def _check_name(which: str, allowed: tuple[str, ...] = TORCHVISION_DATASETS) -> None:
    if which not in allowed:
        raise DataError(f"unknown torchvision data set {which!r}; expected one of: {', '.join(allowed)}")


def _not_found(which: str, root: Path, looked: list[Path]) -> DataError:
    where = " and ".join(str(p) for p in looked)
    return DataError(f"{which}: no data found in {root} (looked in {where}); "
                     f"run with --download to fetch it, or put torchvision's files there")


# ---------------------------------------------------------------------------------------------- CIFAR

# What numpy arrays need, and nothing else. numpy 2 renamed numpy.core to numpy._core; the originals (and
# pickles written by numpy 1) name the old module, which is mapped here rather than imported, since importing
# numpy.core warns under numpy 2. The function itself is taken from ndarray's own pickling recipe, so it is
# the right one under numpy 1 and 2.
_RECONSTRUCT = np.ndarray((0,), np.uint8).__reduce__()[0]
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 writes bytes as _codecs.encode(str, "latin1") under protocol 2: a pure conversion
    ("_codecs", "encode"): codecs.encode,
}


class _Refused(Exception):
    """A pickle asked for a global outside _ALLOWED (carried out of pickle, which would wrap nothing)."""


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def _unpickle(path: Path) -> dict:
    """The dict a CIFAR file holds, keys as str. Python 2 wrote these files, so strings load as bytes."""
    try:
        with open(path, "rb") as f:
            entry = _ArrayUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file missing; run with --download to fetch the data again, "
                        f"or copy the file there") from None
    except _Refused as e:
        raise DataError(f"{path}: holds objects other than arrays ({e}) and was refused, as unpickling them "
                        f"could run code; replace it with the official file") from None
    except Exception as e:  # any failure to parse untrusted bytes means the file is damaged
        raise DataError(f"{path}: corrupt or truncated pickle ({type(e).__name__}: {e}); "
                        f"delete it and download the data again") from None
    if not isinstance(entry, dict):
        raise DataError(f"{path}: holds a {type(entry).__name__}, not a CIFAR dict; replace it with the official file")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}


def _cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    entry = _unpickle(path)
    data, labels = entry.get("data"), entry.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' must be uint8 of shape (N, 3072), got {got}; replace it with the official file")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        y = None
    if y is None or y.shape != (len(data),):
        raise DataError(f"{path}: {label_key!r} must hold one integer label per image ({len(data)}); "
                        f"replace it with the official file")
    # rows are the red, green and blue planes of 32x32 in turn: CHW already, so no transpose
    return data.reshape(-1, 3, 32, 32), y


def _cifar_classes(path: Path, key: str) -> tuple[str, ...]:
    names = _unpickle(path).get(key)
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{path}: no list {key!r} of class names; replace it with the official file")
    return tuple(n.decode("utf-8") if isinstance(n, bytes) else n for n in names)


def _cifar_folder(which: str, root: Path) -> Path | None:
    folder, *_, meta, _, _ = _CIFAR[which]
    if (root / folder).is_dir():
        return root / folder
    if root.name == folder or (root / meta).is_file():
        return root
    return None


def read_cifar(root: str | Path, which: str) -> RawData:
    """CIFAR-10 or CIFAR-100 (``which``: ``cifar10`` / ``cifar100``) from torchvision's python version.

    ``root`` holds ``cifar-10-batches-py`` / ``cifar-100-python`` or is that folder. Images come back
    uint8 (N, 3, 32, 32) in RGB channel order; CIFAR-100 uses its 100 fine labels and their names.
    """
    _check_name(which, tuple(_CIFAR))
    root = Path(root)
    data = _cifar_folder(which, root)
    if data is None:
        raise _not_found(which, root, [root / _CIFAR[which][0], root])
    _, train_files, test_file, meta, label_key, names_key = _CIFAR[which]
    batches = [_cifar_batch(data / name, label_key) for name in train_files]
    train = np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])
    splits = {"train": train, "test": _cifar_batch(data / test_file, label_key)}
    return check_raw(RawData(which, splits, _cifar_classes(data / meta, names_key)))


# ---------------------------------------------------------------------------------------------- MNIST

def _read_maybe_gz(path: Path) -> bytearray:
    """The bytes of ``path`` or, failing that, of ``path.gz``; a bytearray so that arrays over it are writable."""
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return bytearray(path.read_bytes())
    if not gz.is_file():
        raise DataError(f"{path}: file missing (nor {gz.name}); run with --download to fetch the data again, "
                        f"or copy the file there")
    try:
        with gzip.open(gz, "rb") as f:
            return bytearray(f.read())
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{gz}: corrupt or truncated gzip file ({e}); delete it and download the data again") from None


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX file of unsigned bytes: magic 0x00 0x00 0x08 ndim, then ndim big-endian uint32 sizes, then data."""
    data = _read_maybe_gz(path)
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path}: truncated ({len(data)} bytes, shorter than its header); download the data again")
    if data[:4] != bytes((0, 0, 8, ndim)):
        raise DataError(f"{path}: wrong magic number 0x{data[:4].hex()} (expected 0x000008{ndim:02x}, unsigned bytes "
                        f"in {ndim} dimensions); the file is not this MNIST file or is corrupt, download it again")
    dims = struct.unpack(f">{ndim}I", data[4:head])
    size = int(np.prod(dims, dtype=np.int64))
    if len(data) - head != size:
        what = "truncated" if len(data) - head < size else "longer than its header says"
        raise DataError(f"{path}: {what} ({len(data) - head} data bytes for sizes {dims}, expected {size}); "
                        f"download the data again")
    return np.frombuffer(data, np.uint8, size, head).reshape(dims)


def _mnist_folder(which: str, root: Path) -> Path | None:
    for folder in (root / _MNIST[which][0] / "raw", root / "raw", root):
        if any((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in _MNIST_SPLITS["train"]):
            return folder
    return None


def read_mnist(root: str | Path, which: str) -> RawData:
    """MNIST or Fashion-MNIST (``which``: ``mnist`` / ``fashion-mnist``) from the IDX files, plain or ``.gz``.

    ``root`` holds ``MNIST/raw`` / ``FashionMNIST/raw`` or is the folder with the files. Images come back
    uint8 (N, 1, 28, 28).
    """
    _check_name(which, tuple(_MNIST))
    root = Path(root)
    data = _mnist_folder(which, root)
    if data is None:
        raise _not_found(which, root, [root / _MNIST[which][0] / "raw", root])
    splits = {}
    for split, (images, labels) in _MNIST_SPLITS.items():
        x, y = _read_idx(data / images, 3), _read_idx(data / labels, 1)
        if len(x) != len(y):
            raise DataError(f"{data / images}: {len(x)} images but {labels} has {len(y)} labels; "
                            f"the files do not belong together, download the data again")
        splits[split] = x[:, None], y.astype(np.int64)
    return check_raw(RawData(which, splits, _MNIST[which][1]))


# ---------------------------------------------------------------------------------------------- download

def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, md5: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` through a temporary name, so that ``dest`` only ever holds a checked file."""
    if dest.is_file() and _md5(dest) == md5:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, out, 1 << 20)
            except (OSError, http.client.HTTPException, ValueError) as e:
                raise DataError(f"could not download {url} ({e}); check the network, or download "
                                f"{dest.name} by hand into {dest.parent}") from None
        got = _md5(tmp)
        if got != md5:
            raise DataError(f"{url}: downloaded file has MD5 {got}, expected {md5} (corrupt or changed); "
                            f"try again, or download {dest.name} by hand into {dest.parent}")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for m in members:
        parts = Path(m.name).parts
        if os.path.isabs(m.name) or ".." in parts or not (m.isfile() or m.isdir()):
            raise DataError(f"{archive}: member {m.name!r} is a link or would be written outside the folder, "
                            f"so the archive was refused; delete it and download the data again")
    return members


def _extract(archive: Path, folder: str, root: Path) -> None:
    """Unpack ``folder`` from the archive into ``root`` via a scratch folder, so a failed run leaves no half files."""
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = _safe_members(tar, archive)
                # the data filter repeats the checks above and keeps Python 3.12+ from warning about its default
                extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                tar.extractall(scratch, members, **extra)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DataError(f"{archive}: cannot unpack ({e}); delete it and download the data again") from None
        if not (scratch / folder).is_dir():
            raise DataError(f"{archive}: holds no {folder} folder; delete it and download the data again")
        (root / folder).mkdir(exist_ok=True)
        for item in (scratch / folder).iterdir():
            item.replace(root / folder / item.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def download(which: str, root: str | Path) -> Path:
    """Download a data set into ``root`` in torchvision's layout, checking each file's MD5; return the data folder.

    CIFAR: ``ROOT/cifar-*.tar.gz`` (kept, as torchvision keeps it) unpacked to ``ROOT/cifar-10-batches-py`` or
    ``ROOT/cifar-100-python``. MNIST / Fashion-MNIST: the four ``.gz`` files in ``ROOT/MNIST/raw`` or
    ``ROOT/FashionMNIST/raw``, kept compressed. Files already there with the right MD5 are not fetched again.
    Raises DataError on a network failure or a wrong MD5, leaving no partial file behind.
    """
    _check_name(which)
    root = Path(root)
    if which in _CIFAR:
        folder = root / _CIFAR[which][0]
        if _cifar_complete(which, folder):
            return folder
        for name, (url, md5) in _files(which).items():
            _fetch(url, md5, root / name)
            _extract(root / name, folder.name, root)
        return folder
    folder = root / _MNIST[which][0] / "raw"
    for name, (url, md5) in _files(which).items():
        _fetch(url, md5, folder / name)
    return folder


_download = download  # read_torchvision's flag of the same name hides the function


def _cifar_complete(which: str, folder: Path) -> bool:
    _, train_files, test_file, meta, _, _ = _CIFAR[which]
    return all((folder / name).is_file() for name in (*train_files, test_file, meta))


def source_files(name: str, root: str | Path) -> list[Path]:
    """The files :func:`read_torchvision` reads for ``name`` under ``root`` (to key a cache on), or an empty
    list when any of them is missing. Like the readers, this never touches the network."""
    _check_name(name)
    root = Path(root)
    if name in _CIFAR:
        folder = _cifar_folder(name, root)
        _, train_files, test_file, meta, _, _ = _CIFAR[name]
        paths = [folder / n for n in (*train_files, test_file, meta)] if folder else []
    else:
        folder = _mnist_folder(name, root)
        names = [n for files in _MNIST_SPLITS.values() for n in files]
        # the reader prefers the plain file to the .gz beside it
        paths = [folder / n if (folder / n).is_file() else folder / f"{n}.gz" for n in names] if folder else []
    return paths if paths and all(p.is_file() for p in paths) else []


def read_torchvision(name: str, root: str | Path, download: bool = False) -> RawData:
    """Read ``name`` (one of :data:`TORCHVISION_DATASETS`) from ``root``, downloading it first if it is
    missing and ``download`` is true. Without ``download``, missing files raise a DataError that names the
    folder looked in."""
    _check_name(name)
    root = Path(root)
    if download and not source_files(name, root):
        _download(name, root)
    return read_cifar(root, name) if name in _CIFAR else read_mnist(root, name)
