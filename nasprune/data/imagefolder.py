"""Folders of images, one subfolder per class (torchvision's ImageFolder layout), decoded once.

Two layouts are understood::

    PATH/train/<class>/*.jpg   with PATH/val/<class>/ and/or PATH/test/<class>/ beside it (optional)
    PATH/<class>/*.jpg         a single folder; validation and test images are split off by the caller

Images may be grayscale or colour: if every image is grayscale the data has one channel, otherwise three
(grayscale images are repeated into RGB). All images must have one size unless ``image_size`` is given, in
which case each is resized once, here. Decoding runs in a process pool; a broken file is reported by name.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DataError
from .cache import FileRecord
from .raw import RawData, check_raw

__all__ = ["read_imagefolder", "scan_imagefolder", "IMAGE_EXTENSIONS", "SPLIT_FOLDERS"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
#: split name -> folder names that hold it
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
_MAX_NAMED = 5  # broken files named in one error message


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path, records: list[FileRecord]) -> list[Path]:
    """Image files under ``folder`` (recursively, sorted); appends each one's (path, size, mtime) to
    ``records`` from the same directory walk, one stat per file."""
    found: list[tuple[str, os.stat_result]] = []
    pending = [str(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.is_dir():
                    pending.append(e.path)
                elif e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS:
                    found.append((e.path, e.stat()))
    found.sort()
    records.extend((path, st.st_size, st.st_mtime_ns) for path, st in found)
    return [Path(path) for path, _ in found]


def scan_imagefolder(root: str | Path, records: list[FileRecord] | None = None
                     ) -> tuple[dict[str, list[tuple[Path, int]]], tuple[str, ...]]:
    """Find the splits, classes and image files under ``root`` without decoding anything.

    Returns ({split: [(file, class index), ...]}, class names); with ``records``, also appends every image's
    (path, size, mtime) to it (the cache key). Raises DataError for a missing folder, fewer than two
    classes, a class without images, or splits whose classes differ.
    """
    records = [] if records is None else records
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; --data imagefolder:PATH needs PATH/<class>/*.jpg "
                        f"or PATH/train/<class>/*.jpg")
    folders = {split: next((root / n for n in names if (root / n).is_dir()), None)
               for split, names in SPLIT_FOLDERS.items()}
    if folders["train"] is None:
        if folders["val"] or folders["test"]:
            raise DataError(f"{root}: has a val/ or test/ folder but no train/ folder beside it")
        folders = {"train": root}
    folders = {split: f for split, f in folders.items() if f is not None}
    classes = tuple(d.name for d in _class_dirs(folders["train"]))
    if len(classes) < 2:
        raise DataError(f"{folders['train']}: found {len(classes)} class folder(s); a classifier needs at least 2 "
                        f"(one subfolder of images per class)")
    files: dict[str, list[tuple[Path, int]]] = {}
    for split, folder in folders.items():
        present = tuple(d.name for d in _class_dirs(folder))
        if present != classes:
            missing, extra = sorted(set(classes) - set(present)), sorted(set(present) - set(classes))
            raise DataError(f"{folder}: its classes differ from {folders['train']}'s "
                            f"(missing: {', '.join(missing) or 'none'}; extra: {', '.join(extra) or 'none'})")
        files[split] = []
        for index, name in enumerate(classes):
            images = _images(folder / name, records)
            if not images:
                raise DataError(f"{folder / name}: class folder with no images "
                                f"({', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
            files[split].extend((path, index) for path in images)
    return files, classes


def _decode(job: tuple[str, tuple[int, int] | None]) -> np.ndarray | str:
    """One file -> uint8 (C, H, W) with C = 1 for grayscale, 3 for colour; or the error as a string."""
    path, size = job
    try:
        with Image.open(path) as im:
            gray = im.mode in _GRAY_MODES
            if im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grayscale: scale to 8 bits
                arr = np.asarray(im, dtype=np.float64)
                peak = arr.max() or 1.0
                im = Image.fromarray(np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8))
            im = im.convert("L" if gray else "RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # antialiased when shrinking
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _decode_all(paths: list[Path], size: tuple[int, int] | None, workers: int) -> list[np.ndarray | str]:
    jobs = [(str(p), size) for p in paths]
    if workers <= 1 or len(jobs) < 2000:
        return [_decode(j) for j in jobs]
    # fork: workers start at once and share the parent's imports (spawn would re-import torch in each);
    # they only run Pillow and numpy, as DataLoader workers do by default on Linux
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Python >= 3.12 warns about fork with threads
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            return list(pool.map(_decode, jobs, chunksize=max(16, len(jobs) // (workers * 8))))


def _stack(decoded: list[np.ndarray], split: str, paths: list[Path], size: tuple[int, int] | None) -> np.ndarray:
    shapes = {a.shape[1:] for a in decoded}
    if len(shapes) > 1:
        first = decoded[0].shape[1:]
        other = next(i for i, a in enumerate(decoded) if a.shape[1:] != first)
        raise DataError(f"{split} images have different sizes ({first[0]}x{first[1]} in {paths[0].name}, "
                        f"{decoded[other].shape[1]}x{decoded[other].shape[2]} in {paths[other].name}); "
                        f"pass --image-size to resize them once at load time")
    if any(a.shape[0] == 3 for a in decoded):  # colour data set: grayscale images become RGB
        decoded = [np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a for a in decoded]
    return np.stack(decoded)


def read_imagefolder(root: str | Path, image_size: tuple[int, int] | None = None, workers: int | None = None,
                     skip_broken: bool = False) -> RawData:
    """Decode every image under ``root`` (see the module docstring for the layouts).

    Args:
        root: the folder.
        image_size: (H, W) to resize every image to, once; None keeps the files' size (which must agree).
        workers: decoding processes (default: the CPU count, at most 16).
        skip_broken: leave out files that cannot be decoded (and say so) instead of failing.

    Raises:
        DataError: naming the folder or the broken files and what to do.
    """
    files, classes = scan_imagefolder(root)
    workers = workers or min(16, os.cpu_count() or 1)
    splits, skipped = {}, []
    for split, items in files.items():
        paths = [p for p, _ in items]
        decoded = _decode_all(paths, image_size, workers)
        broken = [(p, d) for p, d in zip(paths, decoded, strict=True) if isinstance(d, str)]
        if broken and not skip_broken:
            named = "; ".join(f"{p} ({why})" for p, why in broken[:_MAX_NAMED])
            more = f" and {len(broken) - _MAX_NAMED} more" if len(broken) > _MAX_NAMED else ""
            raise DataError(f"{len(broken)} image(s) cannot be read: {named}{more}; remove or replace them "
                            f"(or pass --skip-broken-images)")
        skipped += [str(p) for p, _ in broken]
        keep = [i for i, d in enumerate(decoded) if not isinstance(d, str)]
        if not keep:
            raise DataError(f"{Path(root)}: no {split} image could be decoded")
        labels = np.array([items[i][1] for i in keep], dtype=np.int64)
        splits[split] = (_stack([decoded[i] for i in keep], split, [paths[i] for i in keep], image_size), labels)
    channels = {x.shape[1] for x, _ in splits.values()}
    if channels == {1, 3}:  # one split all grayscale, another colour: make them agree
        splits = {s: (np.repeat(x, 3, axis=1) if x.shape[1] == 1 else x, y) for s, (x, y) in splits.items()}
    return check_raw(RawData("imagefolder", splits, classes, tuple(skipped)))
